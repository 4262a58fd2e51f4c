/* The S-CSCF's SIP side on Sofia nta: the agent with its timer and buffer choices, the leg
 * that hands each request to scscf_registrar_process, and the once-a-second tick. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <sys/socket.h>
#include <netinet/in.h>

#include <sofia-sip/msg_addr.h>
#include <sofia-sip/su.h>
#include <sofia-sip/su_log.h>
#include <sofia-sip/tport_tag.h>

#include "ims/log.h"
#include "ims/util.h"
#include "scscf.h"

/* Sofia's own diagnostics (e.g. an ICMP port unreachable after a UE went away) go to our
 * log at debug, one line each, instead of raw multi-line text on stderr. */
extern su_log_t tport_log[], nta_log[];

static void sofia_log(void *stream, char const *fmt, va_list ap)
{
    char line[512];
    vsnprintf(line, sizeof(line), fmt, ap);
    for (char *p = line; *p; p++)
        if (*p == '\n' || *p == '\t' || *p == '\r')
            *p = ' ';
    size_t n = strlen(line);
    while (n && line[n - 1] == ' ')
        line[--n] = 0;
    if (n)
        IMS_DEBUG("sofia: %s", line);
}

void scscf_sip_redirect_logs(void)
{
    su_log_redirect(su_log_default, sofia_log, NULL);
    su_log_redirect(tport_log, sofia_log, NULL);
    su_log_redirect(nta_log, sofia_log, NULL);
}

/* nta exposes no socket handle, and the kernel's default UDP receive buffer (~200 KiB)
 * overflows within milliseconds at thousands of REGISTERs per second whenever the loop is
 * briefly descheduled: find our UDP sockets by their bound port and enlarge them. */
static void enlarge_udp_buffers(uint16_t port)
{
    for (int fd = 3; fd < 4096; fd++) {
        int type = 0;
        socklen_t tl = sizeof(type);
        struct sockaddr_storage ss;
        socklen_t sl = sizeof(ss);
        if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) || type != SOCK_DGRAM ||
            getsockname(fd, (struct sockaddr *)&ss, &sl))
            continue;
        uint16_t p = ss.ss_family == AF_INET    ? ntohs(((struct sockaddr_in *)&ss)->sin_port)
                     : ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
                                                : 0;
        if (p != port)
            continue;
        /* ~1000-2000 queued requests (the kernel doubles the value): enough to ride out
         * a scheduling hiccup, small enough that a queued request is answered well
         * before the UE's first retransmission (T1 = 500 ms) instead of feeding a
         * retransmission storm under overload */
        int size = 1024 * 1024;
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
    }
}

int scscf_sip_start(scscf_t *s, const char *sip_url, uint16_t port)
{
    s->agent =
        nta_agent_create(s->root, URL_STRING_MAKE(sip_url), NULL, NULL, NTATAG_UDP_MTU(65535),
                         /* let requests with a bad non-critical header reach the
                            registrar, which answers 400 with a Warning naming it */
                         NTATAG_BAD_REQ_MASK(0),
                         /* Timer J (how long a completed UDP transaction is kept to
                            answer retransmissions) is 64*T1 = 32 s by default; at
                            thousands of REGISTERs/s that holds gigabytes. 4 s still
                            covers a UE's retransmissions (T2 = 4 s). */
                         NTATAG_SIP_T1X64(4000),
                         /* answer a retransmission of a REGISTER still waiting for the
                            HSS with 100 Trying, so the UE backs off to T2 */
                         NTATAG_EXTRA_100(1),
                         /* a 4 MiB UDP receive buffer (kernel default ~200 KiB,
                            capped at net.core.rmem_max) absorbs bursts instead of
                            dropping them into retransmissions */
                         TPTAG_UDP_RMEM(4 << 20), TAG_END());
    if (!s->agent)
        return EADDRNOTAVAIL;
    enlarge_udp_buffers(port);
    if (ims_loop_tcp_idle(s->agent, s->cfg.tcp_idle_s) != 0)
        IMS_WARN("could not set the TCP idle timeout (--tcp-idle)");
    return 0;
}

/* The nta side of a responder: ctx is the server transaction. */
static void nta_reply(void *ctx, int status, const char *phrase, const char *server,
                      const char *headers)
{
    nta_incoming_t *irq = ctx;
    if (status)
        nta_incoming_treply(irq, status, phrase, SIPTAG_SERVER_STR(server),
                            TAG_IF(headers && *headers, SIPTAG_HEADER_STR(headers)), TAG_END());
    nta_incoming_destroy(irq);
}

/* The packet's source as "udp:host:port" ("?" if unknown) and its bare host (no
 * brackets, "?" if unknown). */
static void packet_source(nta_incoming_t *irq, char *src, size_t slen, char *host, size_t hlen)
{
    msg_t *msg = nta_incoming_getrequest(irq);
    su_addrinfo_t *ai = msg ? msg_addrinfo(msg) : NULL;
    snprintf(src, slen, "?");
    snprintf(host, hlen, "?");
    if (ai && ai->ai_addr) {
        su_sockaddr_t *su = (su_sockaddr_t *)ai->ai_addr;
        if (su_inet_ntop(su->su_family, SU_ADDR(su), host, hlen)) {
            bool v6 = su->su_family == AF_INET6;
            snprintf(src, slen, "%s:%s%s%s:%u", ai->ai_protocol == IPPROTO_TCP ? "tcp" : "udp",
                     v6 ? "[" : "", host, v6 ? "]" : "", (unsigned)ntohs(su->su_port));
        } else {
            snprintf(host, hlen, "?");
        }
    }
    msg_destroy(msg);
}

static int on_request(scscf_t *s, nta_leg_t *leg, nta_incoming_t *irq, sip_t const *sip)
{
    if (!sip || !sip->sip_request)
        return 400;
    char src[80], peer[64];
    packet_source(irq, src, sizeof(src), peer, sizeof(peer));
    scscf_registrar_process(s, sip, src, peer, (scscf_responder_t){.reply = nta_reply, .ctx = irq});
    return 0;
}

static void on_tick(su_root_magic_t *magic, su_timer_t *t, su_timer_arg_t *arg)
{
    scscf_t *s = arg;
    scscf_registrar_expire(s, ims_wall_s());
    scscf_auth_purge(s->auth, (int64_t)ims_now_ms());
    scscf_guard_purge(s->guard, ims_now_ms());
    scscf_location_flush(s->loc);
}

int scscf_registrar_init(scscf_t *s)
{
    s->leg = nta_leg_tcreate(s->agent, on_request, s, NTATAG_NO_DIALOG(1), TAG_END());
    if (!s->leg)
        return EIO;
    s->tick = su_timer_create(su_root_task(s->root), 1000);
    if (!s->tick || su_timer_run(s->tick, on_tick, s) < 0)
        return EIO;
    return 0;
}

void scscf_registrar_deinit(scscf_t *s)
{
    if (s->tick)
        su_timer_destroy(s->tick);
    s->tick = NULL;
    if (s->leg)
        nta_leg_destroy(s->leg);
    s->leg = NULL;
}
