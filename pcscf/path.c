/* Header surgery of the P-CSCF: which Route names us, the NAT alias on Contacts, the
 * removal of AKA keys from challenges, and access to headers Sofia does not parse. */
#include "pcscf.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sofia-sip/msg_header.h>
#include <sofia-sip/sip_header.h>
#include <sofia-sip/sip_util.h>
#include <sofia-sip/su_alloc.h>
#include <sofia-sip/su_string.h>

#define SELF_MAX 64

struct pcscf_self {
    char *hosts[SELF_MAX];
    size_t nhosts;
    uint16_t port;
};

/* Hosts compare without IPv6 brackets and without case. */
static void host_norm(const char *in, char *out, size_t cap)
{
    size_t n = strlen(in);
    if (n >= 2 && in[0] == '[' && in[n - 1] == ']') {
        in++;
        n -= 2;
    }
    if (n >= cap)
        n = cap - 1;
    for (size_t i = 0; i < n; i++)
        out[i] = (char)(in[i] >= 'A' && in[i] <= 'Z' ? in[i] + 32 : in[i]);
    out[n] = '\0';
}

static void self_add(su_home_t *home, pcscf_self_t *s, const char *host)
{
    char norm[256];
    if (!host || !*host || s->nhosts >= SELF_MAX)
        return;
    host_norm(host, norm, sizeof norm);
    for (size_t i = 0; i < s->nhosts; i++)
        if (strcmp(s->hosts[i], norm) == 0)
            return;
    s->hosts[s->nhosts++] = su_strdup(home, norm);
}

static bool is_wildcard(const char *h)
{
    return !h || !*h || strcmp(h, "0.0.0.0") == 0 || strcmp(h, "::") == 0 || strcmp(h, "*") == 0;
}

int pcscf_self_create(su_home_t *home, const char *domain, const char *bind_host, uint16_t port,
                      const char *advertise, const char *const *aliases, size_t naliases,
                      pcscf_self_t **out)
{
    pcscf_self_t *s = su_zalloc(home, sizeof *s);
    char name[300];

    if (!s)
        return ENOMEM;
    s->port = port;
    snprintf(name, sizeof name, "pcscf.%s", domain);
    self_add(home, s, name);
    self_add(home, s, advertise);
    for (size_t i = 0; i < naliases; i++)
        self_add(home, s, aliases[i]);
    if (!is_wildcard(bind_host)) {
        self_add(home, s, bind_host);
    } else {
        /* Bound to every interface: every local address names us. */
        struct ifaddrs *ifa = NULL;
        if (getifaddrs(&ifa) == 0) {
            for (struct ifaddrs *i = ifa; i; i = i->ifa_next) {
                char buf[INET6_ADDRSTRLEN];
                if (!i->ifa_addr)
                    continue;
                if (i->ifa_addr->sa_family == AF_INET)
                    inet_ntop(AF_INET, &((struct sockaddr_in *)i->ifa_addr)->sin_addr, buf,
                              sizeof buf);
                else if (i->ifa_addr->sa_family == AF_INET6)
                    inet_ntop(AF_INET6, &((struct sockaddr_in6 *)i->ifa_addr)->sin6_addr, buf,
                              sizeof buf);
                else
                    continue;
                self_add(home, s, buf);
            }
            freeifaddrs(ifa);
        }
    }
    *out = s;
    return 0;
}

/* Parses a URI port strictly: 1..65535, digits only. atoi() into a uint16_t would turn
 * 70596 into 5060 and make an impossible address look like a real one. */
static bool port_parse(const char *s, uint16_t *out)
{
    unsigned long v = 0;
    if (!s || !*s)
        return false;
    for (const char *c = s; *c; c++) {
        if (*c < '0' || *c > '9')
            return false;
        v = v * 10 + (unsigned long)(*c - '0');
        if (v > 65535)
            return false;
    }
    if (v == 0)
        return false;
    *out = (uint16_t)v;
    return true;
}

bool pcscf_self_is_me(const pcscf_self_t *self, const url_t *url)
{
    char norm[256];
    uint16_t port;

    if (!url || !url->url_host)
        return false;
    if (url->url_port && *url->url_port &&
        (!port_parse(url->url_port, &port) || port != self->port))
        return false;
    host_norm(url->url_host, norm, sizeof norm);
    for (size_t i = 0; i < self->nhosts; i++)
        if (strcmp(self->hosts[i], norm) == 0)
            return true;
    return false;
}

int pcscf_route_consume(const pcscf_self_t *self, msg_t *msg, sip_t *sip)
{
    int n = 0;
    while (sip->sip_route && pcscf_self_is_me(self, sip->sip_route->r_url)) {
        sip_route_remove(msg, sip);
        n++;
    }
    return n;
}

static uint16_t url_port_or_default(const url_t *u)
{
    uint16_t port;
    if (u->url_port && *u->url_port)
        return port_parse(u->url_port, &port) ? port : 0;
    return u->url_type == url_sips ? 5061 : 5060;
}

int pcscf_contact_alias(msg_t *msg, sip_t *sip, const char *src_ip, uint16_t src_port, bool tcp)
{
    su_home_t *home = msg_home(msg);
    char src_norm[INET6_ADDRSTRLEN + 2], host_norm_buf[256];
    int changed = 0;

    host_norm(src_ip, src_norm, sizeof src_norm);
    for (sip_contact_t *m = sip->sip_contact; m; m = m->m_next) {
        url_t *u = m->m_url;
        if (!u->url_host || strcmp(u->url_host, "*") == 0)
            continue;
        if (u->url_params && url_has_param(u, "alias"))
            continue;
        host_norm(u->url_host, host_norm_buf, sizeof host_norm_buf);
        if (strcmp(host_norm_buf, src_norm) == 0 && url_port_or_default(u) == src_port)
            continue;
        char *params = su_sprintf(home, "alias=%s~%u~%d%s%s", src_norm, src_port, tcp ? 2 : 1,
                                  u->url_params ? ";" : "", u->url_params ? u->url_params : "");
        if (!params)
            return -1;
        u->url_params = params;
        changed++;
    }
    if (changed)
        for (sip_contact_t *m = sip->sip_contact; m; m = m->m_next)
            msg_fragment_clear(m->m_common);
    return changed;
}

/* Copies the value of "name=value" (quotes removed) into out. */
static void param_value(const char *param, char *out, size_t cap)
{
    const char *v = strchr(param, '=');
    size_t n;
    if (!out || cap == 0 || !v)
        return;
    v++;
    n = strlen(v);
    if (n >= 2 && v[0] == '"' && v[n - 1] == '"') {
        v++;
        n -= 2;
    }
    if (n >= cap)
        n = cap - 1;
    memcpy(out, v, n);
    out[n] = '\0';
}

int pcscf_strip_ck_ik(msg_t *msg, sip_t *sip, char *ck, char *ik, size_t cap)
{
    su_home_t *home = msg_home(msg);
    int rewritten = 0;

    for (sip_www_authenticate_t *au = sip->sip_www_authenticate; au; au = au->au_next) {
        size_t n = 0, keep = 0;
        bool has = false;
        if (!au->au_params)
            continue;
        for (n = 0; au->au_params[n]; n++)
            if (su_casenmatch(au->au_params[n], "ck=", 3) ||
                su_casenmatch(au->au_params[n], "ik=", 3))
                has = true;
        if (!has)
            continue;
        msg_param_t *np = su_zalloc(home, (n + 1) * sizeof *np);
        if (!np)
            continue;
        for (size_t i = 0; i < n; i++) {
            const char *p = au->au_params[i];
            if (su_casenmatch(p, "ck=", 3)) {
                if (ck && !*ck)
                    param_value(p, ck, cap);
            } else if (su_casenmatch(p, "ik=", 3)) {
                if (ik && !*ik)
                    param_value(p, ik, cap);
            } else {
                np[keep++] = p;
            }
        }
        np[keep] = NULL;
        au->au_params = np;
        msg_fragment_clear(au->au_common);
        rewritten++;
    }
    return rewritten;
}

void pcscf_unknown_remove(msg_t *msg, sip_t *sip, const char *name)
{
    sip_unknown_t *un = sip->sip_unknown, *next;
    for (; un; un = next) {
        next = un->un_next;
        if (un->un_name && strcasecmp(un->un_name, name) == 0)
            msg_header_remove(msg, (msg_pub_t *)sip, (msg_header_t *)un);
    }
}

const char *pcscf_unknown_get(const sip_t *sip, const char *name)
{
    for (sip_unknown_t *un = sip->sip_unknown; un; un = un->un_next)
        if (un->un_name && strcasecmp(un->un_name, name) == 0)
            return un->un_value;
    return NULL;
}
