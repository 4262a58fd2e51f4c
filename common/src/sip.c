/* SIP plumbing both CSCFs need on top of Sofia (see ims/sip.h): URI ports, packet
 * sources, bad header names, nta's UDP sockets and Sofia's log output. */
#include "ims/sip.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include <sofia-sip/msg_addr.h>
#include <sofia-sip/sip_header.h>
#include <sofia-sip/su_log.h>

#include "ims/log.h"

/* Sofia's own loggers are exported by the library but not declared in its headers. */
extern su_log_t nta_log[];
extern su_log_t tport_log[];

bool ims_sip_url_port_ok(const url_t *url)
{
    unsigned long v = 0;
    if (!url->url_port || !*url->url_port)
        return true;
    for (const char *c = url->url_port; *c; c++) {
        if (*c < '0' || *c > '9')
            return false;
        v = v * 10 + (unsigned long)(*c - '0');
        if (v > 65535)
            return false;
    }
    return v > 0;
}

void ims_sip_source(msg_t *msg, char *ip, size_t iplen, uint16_t *port, bool *tcp)
{
    su_addrinfo_t *ai = msg ? msg_addrinfo(msg) : NULL;
    *port = 0;
    *tcp = false;
    snprintf(ip, iplen, "?");
    if (!ai || !ai->ai_addr)
        return;
    *tcp = ai->ai_protocol == IPPROTO_TCP;
    if (ai->ai_addr->sa_family == AF_INET6) {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ai->ai_addr;
        if (inet_ntop(AF_INET6, &s6->sin6_addr, ip, (socklen_t)iplen))
            *port = ntohs(s6->sin6_port);
    } else if (ai->ai_addr->sa_family == AF_INET) {
        struct sockaddr_in *s4 = (struct sockaddr_in *)ai->ai_addr;
        if (inet_ntop(AF_INET, &s4->sin_addr, ip, (socklen_t)iplen))
            *port = ntohs(s4->sin_port);
    }
    if (!*port)
        snprintf(ip, iplen, "?");
}

const char *ims_sip_error_name(const sip_header_t *h)
{
    if (h->sh_class == sip_error_class)
        return h->sh_error->er_name;
    return h->sh_class ? h->sh_class->hc_name : NULL;
}

const char *ims_sip_bad_header(const sip_t *sip)
{
    const sip_header_t *h = (const sip_header_t *)sip->sip_error;
    if (!h)
        return NULL;
    const char *n = ims_sip_error_name(h);
    return n ? n : "?";
}

bool ims_sip_header_error(const sip_t *sip, const char *name)
{
    for (const sip_header_t *h = (const sip_header_t *)sip->sip_error; h; h = h->sh_next) {
        const char *n = ims_sip_error_name(h);
        if (n && strcasecmp(n, name) == 0)
            return true;
    }
    return false;
}

bool ims_sip_duplicate_header(const sip_t *sip)
{
    for (const sip_header_t *h = (const sip_header_t *)sip->sip_error; h; h = h->sh_next)
        if (h->sh_class != sip_error_class)
            return true;
    return false;
}

/* The bound UDP port of fd and its family (0 IPv4, 1 IPv6); false for anything else. */
static bool udp_port_of(int fd, uint16_t *port, int *fam)
{
    int type = 0, proto = 0;
    socklen_t len = sizeof type;
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0 || type != SOCK_DGRAM)
        return false;
    len = sizeof proto;
    if (getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &proto, &len) != 0 || proto != IPPROTO_UDP)
        return false;
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) != 0)
        return false;
    if (ss.ss_family == AF_INET) {
        *fam = 0;
        *port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
    } else if (ss.ss_family == AF_INET6) {
        *fam = 1;
        *port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    } else {
        return false;
    }
    return true;
}

/* 4096 descriptors: nta opens its sockets first, long before a daemon has that many. */
size_t ims_sip_udp_sockets(uint16_t port, int *fds, int *fam, size_t cap)
{
    size_t n = 0;
    for (int fd = 3; fd < 4096 && port; fd++) {
        uint16_t bound;
        int f;
        if (!udp_port_of(fd, &bound, &f) || bound != port)
            continue;
        if (n < cap) {
            fds[n] = fd;
            if (fam)
                fam[n] = f;
        }
        n++;
    }
    return n;
}

void ims_sip_udp_sockets_by_family(uint16_t port, int fd_out[2])
{
    int fds[8], fam[8], count[2] = {0, 0}, found[2] = {-1, -1};
    size_t n = ims_sip_udp_sockets(port, fds, fam, 8);
    for (size_t i = 0; i < n && i < 8; i++) {
        found[fam[i]] = fds[i];
        count[fam[i]]++;
    }
    for (int i = 0; i < 2; i++)
        fd_out[i] = count[i] == 1 && n <= 8 ? found[i] : -1;
}

/* Sofia writes diagnostics in fragments ("...\n\treported by..."); gather them into one
 * line. The loop thread is the only writer, so a static buffer is enough. */
static void sofia_logger(void *stream, char const *fmt, va_list ap)
{
    static char line[1024];
    static size_t len;
    int n = vsnprintf(line + len, sizeof line - len, fmt, ap);
    if (n < 0)
        return;
    len += (size_t)n;
    if (len >= sizeof line - 1)
        len = sizeof line - 1;
    if (len && line[len - 1] == '\n') {
        line[len - 1] = '\0';
        for (char *c = line; *c; c++)
            if (*c == '\n' || *c == '\t' || *c == '\r')
                *c = ' ';
        IMS_DEBUG("sofia: %s", line);
        len = 0;
    }
}

void ims_sip_log_redirect(void)
{
    su_log_redirect(su_log_default, sofia_logger, NULL);
    su_log_redirect(nta_log, sofia_logger, NULL);
    su_log_redirect(tport_log, sofia_logger, NULL);
}
