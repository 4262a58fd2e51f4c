/* The P-CSCF proxy core on Sofia nta: edits UE requests (Route, Max-Forwards, Path, NAT
 * alias, charging) and forwards them statefully to the S-CSCF, S-CSCF requests to the UE. */
#include "pcscf.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sofia-sip/msg_addr.h>
#include <sofia-sip/msg_header.h>
#include <sofia-sip/nta_tag.h>
#include <sofia-sip/tport_tag.h>
#include <sofia-sip/sip_header.h>
#include <sofia-sip/sip_protos.h>
#include <sofia-sip/sip_status.h>
#include <sofia-sip/sip_tag.h>
#include <sofia-sip/sip_util.h>
#include <sofia-sip/su_alloc.h>
#include <sofia-sip/su_string.h>

#include "ims/log.h"
#include "ims/loop.h"
#include "ims/sip.h"
#include "ims/util.h"

typedef struct pcscf_txn {
    su_home_t home[1];
    pcscf_t *p;
    nta_incoming_t *irq;
    nta_outgoing_t *orq;
    su_timer_t *timer;
    bool is_register;
    pcscf_err_t err_unreachable, err_timeout; /* what the sender hears when the hop fails */
    char *method, *call_id, *src, *transport, *user_agent, *impi, *ruri;
    char **contacts; /* forwarded Contact URIs (REGISTER) */
    size_t ncontacts;
    uint64_t start_ms;
    struct pcscf_txn *next, **prevp;
} pcscf_txn_t;

struct pcscf {
    su_home_t home[1];
    su_root_t *root;
    nta_agent_t *agent;
    nta_leg_t *leg;
    pcscf_self_t *self;
    pcscf_cache_t *cache;
    su_timer_t *sweep;
    char *scscf_conf; /* as configured */
    char *scscf_hop;  /* IP literal with port (and transport when configured) */
    uint64_t hop_resolved_ms;
    char *path;      /* Path URI */
    char *path_user; /* its user part ("term"): a Route with it is terminating traffic */
    char hop_ip[INET6_ADDRSTRLEN];
    uint16_t hop_port;
    char *domain;
    char *visited; /* P-Visited-Network-ID value */
    /* Path and P-Visited-Network-ID parsed once: each REGISTER gets a copy, not a
     * printf and a parse of the same text. */
    msg_header_t *path_hdr, *visited_hdr;
    char *warn_host; /* host named in Warning: 399 */
    char *icid_host; /* icid-generated-at */
    long timeout_ms;
    uint64_t max_pending;                   /* overload limit (0: none) */
    uint64_t shed_logged_ms, shed_unlogged; /* one overload warning a second at most */
    int udp_fd[2];    /* our UDP sockets (IPv4, IPv6) for the raw 100 Trying; -1: unknown */
    uint8_t rnd[512]; /* getrandom() once per 32 charging vectors, not once each */
    size_t rnd_used;
    pcscf_stats_t stats;
    pcscf_txn_t *txns;
};

/* ---------------------------------------------------------------- next hop */

/* nta's resolver ignores /etc/hosts, so the S-CSCF name is resolved here with
 * getaddrinfo and nta only ever sees an IP literal with an explicit port. */
static int resolve_hop(pcscf_t *p, char *err, size_t errlen)
{
    su_home_t home[1] = {SU_HOME_INIT(home)};
    url_t *u = url_make(home, p->scscf_conf);
    struct addrinfo hints = {.ai_socktype = SOCK_DGRAM}, *ai = NULL;
    char ip[INET6_ADDRSTRLEN], host[300], tpbuf[32] = "";
    int rc = 0;

    if (!u || (u->url_type != url_sip && u->url_type != url_sips) || !u->url_host) {
        snprintf(err, errlen, "--scscf %s is not a sip: URI", p->scscf_conf);
        rc = EINVAL;
        goto out;
    }
    snprintf(host, sizeof host, "%s", u->url_host);
    if (host[0] == '[') {
        memmove(host, host + 1, strlen(host));
        host[strcspn(host, "]")] = '\0';
    }
    int gai = getaddrinfo(host, NULL, &hints, &ai);
    if (gai != 0 || !ai) {
        snprintf(err, errlen, "cannot resolve S-CSCF host %s: %s", host, gai_strerror(gai));
        rc = ENOENT;
        goto out;
    }
    /* "localhost" in /etc/hosts yields ::1 first while labs bind 127.0.0.1: prefer IPv4. */
    struct addrinfo *pick = ai;
    for (struct addrinfo *i = ai; i; i = i->ai_next)
        if (i->ai_family == AF_INET) {
            pick = i;
            break;
        }
    if (pick->ai_family == AF_INET6)
        inet_ntop(AF_INET6, &((struct sockaddr_in6 *)pick->ai_addr)->sin6_addr, ip, sizeof ip);
    else
        inet_ntop(AF_INET, &((struct sockaddr_in *)pick->ai_addr)->sin_addr, ip, sizeof ip);
    if (url_param(u->url_params, "transport", tpbuf, sizeof tpbuf) <= 0)
        tpbuf[0] = '\0';
    char *hop = su_sprintf(p->home, "%s:%s%s%s:%s%s%s", u->url_type == url_sips ? "sips" : "sip",
                           pick->ai_family == AF_INET6 ? "[" : "", ip,
                           pick->ai_family == AF_INET6 ? "]" : "",
                           u->url_port && *u->url_port ? u->url_port
                           : u->url_type == url_sips   ? "5061"
                                                       : "5060",
                           tpbuf[0] ? ";transport=" : "", tpbuf);
    if (!hop) {
        rc = ENOMEM;
        goto out;
    }
    if (p->scscf_hop && strcmp(p->scscf_hop, hop) != 0)
        IMS_INFO("S-CSCF %s now resolves to %s", p->scscf_conf, hop);
    su_free(p->home, p->scscf_hop);
    p->scscf_hop = hop;
    snprintf(p->hop_ip, sizeof p->hop_ip, "%s", ip);
    p->hop_port = (uint16_t)atoi(u->url_port && *u->url_port ? u->url_port
                                 : u->url_type == url_sips   ? "5061"
                                                             : "5060");
    p->hop_resolved_ms = ims_now_ms();
out:
    if (ai)
        freeaddrinfo(ai);
    su_home_deinit(home);
    return rc;
}

/* After a failure the name may point elsewhere now (container restarted); re-resolve,
 * at most once a second so a dead S-CSCF does not turn into a lookup storm. */
static void re_resolve(pcscf_t *p)
{
    char err[256];
    if (ims_now_ms() - p->hop_resolved_ms < 1000)
        return;
    if (resolve_hop(p, err, sizeof err) != 0)
        IMS_WARN("%s (keeping %s)", err, p->scscf_hop ? p->scscf_hop : "no address");
}

/* ---------------------------------------------------------------- helpers */

/* To must name a SIP user (or a tel: number for requests other than REGISTER). */
static bool to_ok(const url_t *u)
{
    return (u->url_type == url_sip || u->url_type == url_sips) ? u->url_host != NULL
                                                               : u->url_type == url_tel;
}

static void charging_vector(pcscf_t *p, msg_t *msg, sip_t *sip)
{
    enum { ICID_BYTES = 16 };
    char hex[2 * ICID_BYTES + 1];

    /* The UE does not get to choose the charging identifier. */
    pcscf_unknown_remove(msg, sip, "P-Charging-Vector");
    if (p->rnd_used + ICID_BYTES > sizeof p->rnd) {
        if (ims_random_bytes(p->rnd, sizeof p->rnd) != 0)
            for (size_t i = 0; i < sizeof p->rnd; i++)
                p->rnd[i] = (uint8_t)(rand() & 0xff);
        p->rnd_used = 0;
    }
    ims_hex_encode(p->rnd + p->rnd_used, ICID_BYTES, hex);
    p->rnd_used += ICID_BYTES; /* each identifier is taken once */
    msg_header_add_format(msg, (msg_pub_t *)sip, sip_unknown_class,
                          "P-Charging-Vector: icid-value=%s;icid-generated-at=%s", hex,
                          p->icid_host);
}

/* Max-Forwards: returns false when it is exhausted (caller answers 483). */
static bool max_forwards_step(msg_t *msg, sip_t *sip)
{
    if (!sip->sip_max_forwards) {
        /* A parsed header (not msg_header_add_str, whose text lands after the blank
         * line ending the headers and corrupts a TCP stream). */
        msg_header_add_make(msg, (msg_pub_t *)sip, sip_max_forwards_class, "70");
        return true;
    }
    if (sip->sip_max_forwards->mf_count == 0)
        return false;
    sip->sip_max_forwards->mf_count--;
    msg_fragment_clear(sip->sip_max_forwards->mf_common);
    return true;
}

/* Every Contact and Route port must be a real one (1..65535). */
static bool ports_ok(const sip_t *sip)
{
    for (const sip_contact_t *m = sip->sip_contact; m; m = m->m_next)
        if (!ims_sip_url_port_ok(m->m_url))
            return false;
    for (const sip_route_t *r = sip->sip_route; r; r = r->r_next)
        if (!ims_sip_url_port_ok(r->r_url))
            return false;
    return true;
}

static bool supported_has(const sip_t *sip, const char *tag)
{
    for (sip_supported_t *s = sip->sip_supported; s; s = s->k_next)
        for (size_t i = 0; s->k_items && s->k_items[i]; i++)
            if (su_casematch(s->k_items[i], tag))
                return true;
    return false;
}

/* The 100 Trying SPEC §4 asks for, sent at once: written straight onto our UDP socket
 * when possible (reply.c says why), else by nta. */
static void send_trying(pcscf_t *p, nta_incoming_t *irq, const sip_t *sip, msg_t *orig, bool tcp)
{
    if (tcp || !pcscf_trying_send_raw(p->udp_fd, sip, orig))
        nta_incoming_treply(irq, SIP_100_TRYING, TAG_END());
}

/* ---------------------------------------------------------------- transactions */

static void txn_free(pcscf_txn_t *t)
{
    pcscf_t *p = t->p;
    if (t->timer)
        su_timer_destroy(t->timer);
    if (t->orq)
        nta_outgoing_destroy(t->orq);
    if (t->irq)
        nta_incoming_destroy(t->irq);
    if (t->prevp) {
        *t->prevp = t->next;
        if (t->next)
            t->next->prevp = t->prevp;
        p->stats.pending--;
    }
    su_home_deinit(t->home);
    free(t);
}

static void txn_log(pcscf_txn_t *t, int status, const char *phrase)
{
    IMS_INFO("%s %s from %s/%s call-id %s -> %d %s (%llu ms)", t->method, t->ruri, t->src,
             t->transport, t->call_id, status, phrase ? phrase : "",
             (unsigned long long)(ims_now_ms() - t->start_ms));
}

static void txn_fail(pcscf_txn_t *t, pcscf_err_t e)
{
    const pcscf_reply_t *r = pcscf_reply_get(e);
    t->p->stats.local_errors++;
    pcscf_reply_send(t->irq, t->p->warn_host, e);
    txn_log(t, r->status, r->phrase);
    txn_free(t);
}

static void on_timeout(su_root_magic_t *magic, su_timer_t *timer, su_timer_arg_t *arg)
{
    pcscf_txn_t *t = arg;
    IMS_WARN("%s did not answer %s call-id %s within %ld ms",
             t->err_timeout == PCSCF_ERR_SCSCF_TIMEOUT ? "the S-CSCF" : "the UE", t->method,
             t->call_id, t->p->timeout_ms);
    t->p->stats.scscf_timeouts++;
    if (t->err_timeout == PCSCF_ERR_SCSCF_TIMEOUT)
        re_resolve(t->p);
    txn_fail(t, t->err_timeout);
}

/* P-Associated-URI: "<a>, <b>" possibly over several headers -> bare URIs. */
static size_t split_assoc(su_home_t *home, const sip_t *sip, char ***out)
{
    size_t n = 0, cap = 8;
    char **v = su_zalloc(home, cap * sizeof *v);
    for (sip_unknown_t *un = sip->sip_unknown; un && v; un = un->un_next) {
        if (!un->un_name || strcasecmp(un->un_name, "P-Associated-URI") != 0 || !un->un_value)
            continue;
        const char *s = un->un_value;
        while (*s) {
            while (*s == ' ' || *s == ',' || *s == '\t')
                s++;
            if (!*s)
                break;
            const char *start, *end;
            if (*s == '<') {
                start = s + 1;
                end = strchr(start, '>');
                if (!end)
                    break;
                s = end + 1;
                while (*s && *s != ',')
                    s++; /* skip header parameters */
            } else {
                start = s;
                end = s + strcspn(s, ",;");
                s = end;
                while (*s && *s != ',')
                    s++;
            }
            if (n + 1 >= cap) {
                char **nv = su_zalloc(home, cap * 2 * sizeof *nv);
                if (!nv)
                    break;
                memcpy(nv, v, n * sizeof *v);
                v = nv;
                cap *= 2;
            }
            v[n++] = su_strndup(home, start, (size_t)(end - start));
        }
    }
    *out = v;
    return v ? n : 0;
}

static void remember_registration(pcscf_txn_t *t, const sip_t *rs)
{
    su_home_t *home = t->home;
    char **assoc = NULL, **sr = NULL, **live = NULL;
    long *live_exp = NULL;
    size_t nassoc, nsr = 0, nlive = 0;
    pcscf_binding_in_t *mine = NULL;

    if (!rs->sip_to || !rs->sip_to->a_url->url_host)
        return;
    char *impu = url_as_string(home, rs->sip_to->a_url);
    nassoc = split_assoc(home, rs, &assoc);

    for (sip_service_route_t *r = rs->sip_service_route; r; r = r->r_next)
        nsr++;
    sr = su_zalloc(home, (nsr + 1) * sizeof *sr);
    nsr = 0;
    for (sip_service_route_t *r = rs->sip_service_route; r && sr; r = r->r_next)
        sr[nsr++] = url_as_string(home, r->r_url);

    for (sip_contact_t *m = rs->sip_contact; m; m = m->m_next)
        nlive++;
    live = su_zalloc(home, (nlive + 1) * sizeof *live);
    live_exp = su_zalloc(home, (nlive + 1) * sizeof *live_exp);
    nlive = 0;
    for (sip_contact_t *m = rs->sip_contact; m && live && live_exp; m = m->m_next) {
        long e = rs->sip_expires ? (long)rs->sip_expires->ex_delta : 3600;
        if (m->m_expires)
            e = strtol(m->m_expires, NULL, 10);
        if (!m->m_url->url_host)
            continue;
        live[nlive] = url_as_string(home, m->m_url);
        live_exp[nlive++] = e;
    }
    mine = su_zalloc(home, (t->ncontacts + 1) * sizeof *mine);
    for (size_t i = 0; mine && i < t->ncontacts; i++) {
        mine[i].contact = t->contacts[i];
        mine[i].received = t->src;
        mine[i].transport = t->transport;
        mine[i].user_agent = t->user_agent;
    }
    pcscf_cache_update(t->p->cache, impu, t->impi, (const char *const *)assoc, nassoc,
                       (const char *const *)sr, nsr, t->p->path, mine, mine ? t->ncontacts : 0,
                       (const char *const *)live, live_exp, nlive);
}

static int on_response(pcscf_txn_t *t, nta_outgoing_t *orq, const sip_t *sip)
{
    pcscf_t *p = t->p;
    int status = sip && sip->sip_status ? sip->sip_status->st_status : nta_outgoing_status(orq);

    if (status < 200) {
        msg_t *msg;
        /* Our own 100 went out already; other provisional answers are relayed. */
        if (status == 100 || !sip || nta_sip_is_internal(sip))
            return 0;
        msg = nta_outgoing_getresponse(orq);
        if (msg) {
            sip_via_remove(msg, sip_object(msg));
            nta_incoming_mreply(t->irq, msg);
        }
        return 0;
    }
    if (!sip || nta_sip_is_internal(sip)) {
        IMS_WARN("next hop unreachable for %s call-id %s: %d %s", t->method, t->call_id, status,
                 sip && sip->sip_status ? sip->sip_status->st_phrase : "");
        p->stats.scscf_unreachable++;
        if (t->err_unreachable == PCSCF_ERR_SCSCF_UNREACHABLE)
            re_resolve(p);
        t->orq = NULL; /* destroyed here, so txn_free must not touch it */
        nta_outgoing_destroy(orq);
        txn_fail(t, status == 408 ? t->err_timeout : t->err_unreachable);
        return 0;
    }

    msg_t *msg = nta_outgoing_getresponse(orq);
    if (!msg) {
        t->orq = NULL;
        nta_outgoing_destroy(orq);
        txn_fail(t, PCSCF_ERR_INTERNAL);
        return 0;
    }
    sip_t *rs = sip_object(msg);
    sip_via_remove(msg, rs);
    if (t->is_register && status == 401) {
        char ck[64] = "", ik[64] = "";
        if (pcscf_strip_ck_ik(msg, rs, ck, ik, sizeof ck) > 0) {
            pcscf_cache_keys_set(p->cache, t->call_id, ck, ik);
            p->stats.aka_keys_stripped++;
            IMS_DEBUG("kept AKA keys of call-id %s for IPsec", t->call_id);
        }
        ims_secure_zero(ck, sizeof ck);
        ims_secure_zero(ik, sizeof ik);
    }
    if (t->is_register && status >= 200 && status < 300)
        remember_registration(t, rs);
    txn_log(t, status, rs->sip_status ? rs->sip_status->st_phrase : "");
    p->stats.responses_relayed++;
    nta_incoming_mreply(t->irq, msg);
    t->orq = NULL;
    nta_outgoing_destroy(orq);
    txn_free(t);
    return 0;
}

static pcscf_txn_t *txn_new(pcscf_t *p, nta_incoming_t *irq, const sip_t *sip, const char *src_ip,
                            uint16_t src_port, bool tcp)
{
    pcscf_txn_t *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    su_home_init(t->home);
    /* One 1 KiB block instead of a malloc per string: a REGISTER's call-id, source,
     * contacts and the 200's bookkeeping fit in it; larger ones spill over to malloc. */
    su_home_preload(t->home, 1, 1024);
    t->p = p;
    t->irq = irq;
    t->start_ms = ims_now_ms();
    t->method = su_strdup(t->home, sip->sip_request->rq_method_name);
    t->ruri = url_as_string(t->home, sip->sip_request->rq_url);
    t->call_id = su_strdup(t->home, sip->sip_call_id ? sip->sip_call_id->i_id : "-");
    t->src = strchr(src_ip, ':') ? su_sprintf(t->home, "[%s]:%u", src_ip, src_port)
                                 : su_sprintf(t->home, "%s:%u", src_ip, src_port);
    t->transport = su_strdup(t->home, tcp ? "tcp" : "udp");
    t->err_unreachable = PCSCF_ERR_SCSCF_UNREACHABLE;
    t->err_timeout = PCSCF_ERR_SCSCF_TIMEOUT;
    return t;
}

static void txn_link(pcscf_t *p, pcscf_txn_t *t)
{
    t->next = p->txns;
    if (p->txns)
        p->txns->prevp = &t->next;
    t->prevp = &p->txns;
    p->txns = t;
    p->stats.pending++;
}

/* Sends the edited copy to hop (NULL: the Request-URI) and arms the silence timer;
 * takes msg. */
static void forward_to(pcscf_t *p, pcscf_txn_t *t, msg_t *msg, const char *hop)
{
    t->orq = nta_outgoing_mcreate(p->agent, on_response, t, hop ? URL_STRING_MAKE(hop) : NULL, msg,
                                  TAG_END());
    if (!t->orq) {
        msg_destroy(msg); /* mcreate leaves it to us on failure */
        p->stats.scscf_unreachable++;
        txn_fail(t, t->err_unreachable);
        return;
    }
    txn_link(p, t);
    t->timer = su_timer_create(su_root_task(p->root), p->timeout_ms);
    if (t->timer)
        su_timer_set(t->timer, on_timeout, t);
}

/* Toward the S-CSCF, whose name is resolved here rather than by nta. */
static void forward(pcscf_t *p, pcscf_txn_t *t, msg_t *msg)
{
    if (!p->scscf_hop)
        re_resolve(p);
    if (!p->scscf_hop) {
        msg_destroy(msg);
        p->stats.scscf_unreachable++;
        txn_fail(t, PCSCF_ERR_SCSCF_UNREACHABLE);
        return;
    }
    forward_to(p, t, msg, p->scscf_hop);
}

/* Terminating traffic comes from the S-CSCF: from its address, or from its host through
 * the Path we inserted. */
static bool is_terminating(pcscf_t *p, const sip_t *sip, const char *src_ip, uint16_t src_port)
{
    bool from_scscf_host = p->hop_port && strcmp(src_ip, p->hop_ip) == 0;
    if (from_scscf_host && src_port == p->hop_port)
        return true;
    /* Over TCP the S-CSCF's source port is ephemeral: our Path route from its host. */
    for (sip_route_t *r = sip->sip_route; r && pcscf_self_is_me(p->self, r->r_url); r = r->r_next)
        if (from_scscf_host && p->path_user && r->r_url->url_user &&
            strcmp(r->r_url->url_user, p->path_user) == 0)
            return true;
    return false;
}

/* Forwards a request from the S-CSCF to the UE. A Request-URI carrying our NAT alias
 * (IP~PORT~T) goes to that address and transport, i.e. back through the UE's NAT
 * binding or TCP connection; the alias itself is removed. */
static void handle_terminating(pcscf_t *p, pcscf_txn_t *t, msg_t *orig)
{
    msg_t *msg = msg_copy(orig);
    sip_t *fs;
    char alias[128], *hop = NULL;

    t->err_unreachable = PCSCF_ERR_UE_UNREACHABLE;
    t->err_timeout = PCSCF_ERR_UE_TIMEOUT;
    if (!msg) {
        txn_fail(t, PCSCF_ERR_INTERNAL);
        return;
    }
    fs = sip_object(msg);
    pcscf_route_consume(p->self, msg, fs);
    if (!max_forwards_step(msg, fs)) {
        msg_destroy(msg);
        txn_fail(t, PCSCF_ERR_TOO_MANY_HOPS);
        return;
    }
    url_t *ruri = fs->sip_request->rq_url;
    if (ruri->url_params && url_param(ruri->url_params, "alias", alias, sizeof alias) > 0) {
        char *port = strchr(alias, '~'), *tp = port ? strchr(port + 1, '~') : NULL;
        if (port && tp) {
            *port++ = '\0';
            *tp++ = '\0';
            hop = su_sprintf(t->home, "sip:%s%s%s:%s;transport=%s", strchr(alias, ':') ? "[" : "",
                             alias, strchr(alias, ':') ? "]" : "", port,
                             strcmp(tp, "2") == 0 ? "tcp" : "udp");
            char *params = su_strdup(msg_home(msg), ruri->url_params);
            ruri->url_params = url_strip_param_string(params, "alias");
            if (ruri->url_params && !*ruri->url_params)
                ruri->url_params = NULL;
            msg_fragment_clear(fs->sip_request->rq_common);
        }
    }
    charging_vector(p, msg, fs);
    p->stats.terminating_forwarded++;
    forward_to(p, t, msg, hop);
}

static int handle_register(pcscf_t *p, nta_incoming_t *irq, const sip_t *sip, pcscf_txn_t *t,
                           msg_t *orig, const char *src_ip, uint16_t src_port, bool tcp)
{
    msg_t *msg = msg_copy(orig);
    sip_t *fs;

    if (!msg) {
        txn_fail(t, PCSCF_ERR_INTERNAL);
        return 0;
    }
    fs = sip_object(msg);
    t->is_register = true;
    if (sip->sip_user_agent && sip->sip_user_agent->g_string)
        t->user_agent = su_strdup(t->home, sip->sip_user_agent->g_string);
    if (sip->sip_authorization) {
        const char *user = msg_params_find(sip->sip_authorization->au_params, "username=");
        if (user) {
            char *u = su_strdup(t->home, user);
            size_t n = u ? strlen(u) : 0;
            if (n >= 2 && u[0] == '"' && u[n - 1] == '"') {
                u[n - 1] = '\0';
                u++;
            }
            if (u && *u)
                t->impi = strchr(u, '@') ? u : su_sprintf(t->home, "%s@%s", u, p->domain);
        }
    }

    pcscf_route_consume(p->self, msg, fs);
    if (!max_forwards_step(msg, fs)) {
        msg_destroy(msg);
        txn_fail(t, PCSCF_ERR_TOO_MANY_HOPS);
        return 0;
    }
    if (pcscf_contact_alias(msg, fs, src_ip, src_port, tcp) < 0) {
        msg_destroy(msg);
        txn_fail(t, PCSCF_ERR_INTERNAL);
        return 0;
    }
    size_t n = 0;
    for (sip_contact_t *m = fs->sip_contact; m; m = m->m_next)
        n++;
    t->contacts = su_zalloc(t->home, (n + 1) * sizeof *t->contacts);
    for (sip_contact_t *m = fs->sip_contact; m && t->contacts; m = m->m_next)
        if (m->m_url->url_host && strcmp(m->m_url->url_host, "*") != 0)
            t->contacts[t->ncontacts++] = url_as_string(t->home, m->m_url);

    msg_header_add_dup(msg, (msg_pub_t *)fs, p->path_hdr);
    if (!supported_has(fs, "path"))
        msg_header_add_make(msg, (msg_pub_t *)fs, sip_supported_class, "path");
    pcscf_unknown_remove(msg, fs, "P-Visited-Network-ID");
    msg_header_add_dup(msg, (msg_pub_t *)fs, p->visited_hdr);
    charging_vector(p, msg, fs);
    p->stats.register_forwarded++;
    forward(p, t, msg);
    return 0;
}

static int handle_other(pcscf_t *p, nta_incoming_t *irq, const sip_t *sip, pcscf_txn_t *t,
                        msg_t *orig, const char *src_ip, uint16_t src_port)
{
    const char *const *sr = NULL;
    size_t nsr = 0;
    const char *impu = NULL;
    char *identity = NULL;
    msg_t *msg;
    sip_t *fs;

    if (sip->sip_from && sip->sip_from->a_url->url_host)
        identity = url_as_string(t->home, sip->sip_from->a_url);
    if (!pcscf_cache_lookup(p->cache, src_ip, src_port, identity, &sr, &nsr, &impu)) {
        txn_fail(t, PCSCF_ERR_NOT_REGISTERED);
        return 0;
    }
    msg = msg_copy(orig);
    if (!msg) {
        txn_fail(t, PCSCF_ERR_INTERNAL);
        return 0;
    }
    fs = sip_object(msg);
    pcscf_route_consume(p->self, msg, fs);
    if (!max_forwards_step(msg, fs)) {
        msg_destroy(msg);
        txn_fail(t, PCSCF_ERR_TOO_MANY_HOPS);
        return 0;
    }
    /* Originating requests follow the Service-Route learned at registration: its
     * entries go in front of whatever Route the UE left. */
    for (size_t i = nsr; i-- > 0;) {
        sip_route_t *r = sip_route_format(msg_home(msg), "<%s>", sr[i]);
        if (r)
            msg_header_insert(msg, (msg_pub_t *)fs, (msg_header_t *)r);
    }
    pcscf_unknown_remove(msg, fs, "P-Preferred-Identity");
    pcscf_unknown_remove(msg, fs, "P-Asserted-Identity");
    msg_header_add_format(msg, (msg_pub_t *)fs, sip_unknown_class, "P-Asserted-Identity: <%s>",
                          impu);
    charging_vector(p, msg, fs);
    p->stats.other_forwarded++;
    forward(p, t, msg);
    return 0;
}

/* Overload control. Every forwarded request stays pending until its answer has been
 * relayed, so the count grows with both a slow S-CSCF and our own backlog (answers queued
 * behind new requests on our socket). Past --max-pending, a new request is answered 503
 * at once: a cheap local answer instead of a forward that would only come back after the
 * UE retransmitted. The second leg of a registration (it carries credentials) finishes
 * work already done for the first, so it gets a quarter more room. */
static bool overloaded(pcscf_t *p, const sip_t *sip)
{
    uint64_t limit = p->max_pending;
    if (!limit)
        return false;
    if (sip->sip_authorization)
        limit += limit / 4;
    return p->stats.pending >= limit;
}

static void shed(pcscf_t *p, nta_incoming_t *irq)
{
    uint64_t now = ims_now_ms();
    p->stats.overload_rejected++;
    p->stats.local_errors++;
    pcscf_reply_send(irq, p->warn_host, PCSCF_ERR_OVERLOADED);
    nta_incoming_destroy(irq);
    /* One line a second, not one per request: logging must not add to the overload. */
    p->shed_unlogged++;
    if (now - p->shed_logged_ms >= 1000) {
        IMS_WARN("overloaded: %llu requests pending (--max-pending %llu); answered %llu "
                 "with 503 since the last warning",
                 (unsigned long long)p->stats.pending, (unsigned long long)p->max_pending,
                 (unsigned long long)p->shed_unlogged);
        p->shed_logged_ms = now;
        p->shed_unlogged = 0;
    }
}

static int on_request(pcscf_t *p, nta_leg_t *leg, nta_incoming_t *irq, const sip_t *sip)
{
    char src_ip[INET6_ADDRSTRLEN];
    uint16_t src_port;
    bool tcp;
    msg_t *orig;
    pcscf_txn_t *t = NULL;

    p->stats.requests++;
    if (!sip || !sip->sip_request) {
        pcscf_reply_send(irq, p->warn_host, PCSCF_ERR_BAD_REQUEST);
        nta_incoming_destroy(irq);
        return 0;
    }
    if (sip->sip_request->rq_method == sip_method_ack)
        return 0; /* ACKs of our own errors are absorbed by nta; nothing else to do */
    if (sip->sip_request->rq_method == sip_method_cancel) {
        pcscf_reply_send(irq, p->warn_host, PCSCF_ERR_NO_TRANSACTION);
        nta_incoming_destroy(irq);
        return 0;
    }
    /* Checked before any copy or allocation, so shedding stays cheap. */
    if (sip->sip_request->rq_method == sip_method_register && overloaded(p, sip)) {
        shed(p, irq);
        return 0;
    }

    orig = nta_incoming_getrequest(irq);
    if (orig) {
        ims_sip_source(orig, src_ip, sizeof src_ip, &src_port, &tcp);
        t = txn_new(p, irq, sip, src_ip, src_port, tcp);
    }
    if (!orig || !t) {
        msg_destroy(orig);
        p->stats.local_errors++;
        pcscf_reply_send(irq, p->warn_host, PCSCF_ERR_INTERNAL);
        nta_incoming_destroy(irq);
        return 0;
    }

    /* A singleton header (To, CSeq, Max-Forwards...) given twice: which one counts is
     * ambiguous, so the request is refused rather than forwarded with either. */
    if (ims_sip_duplicate_header(sip)) {
        txn_fail(t, PCSCF_ERR_DUPLICATE_HEADER);
    } else if (ims_sip_header_error(sip, "Contact")) {
        txn_fail(t, PCSCF_ERR_BAD_CONTACT);
    } else if (!ports_ok(sip)) {
        txn_fail(t, PCSCF_ERR_BAD_PORT);
    } else if (!sip->sip_to || !to_ok(sip->sip_to->a_url) || ims_sip_header_error(sip, "To")) {
        txn_fail(t, PCSCF_ERR_BAD_TO);
    } else if (ims_sip_header_error(sip, "From") || ims_sip_header_error(sip, "Route") ||
               ims_sip_header_error(sip, "Max-Forwards") || ims_sip_header_error(sip, "Expires")) {
        txn_fail(t, PCSCF_ERR_BAD_REQUEST);
    } else if (sip->sip_request->rq_method == sip_method_register) {
        send_trying(p, irq, sip, orig, tcp);
        handle_register(p, irq, sip, t, orig, src_ip, src_port, tcp);
    } else {
        /* OPTIONS to the P-CSCF itself is a keep-alive: answer here. */
        bool routed_elsewhere = false;
        for (sip_route_t *r = sip->sip_route; r; r = r->r_next)
            if (!pcscf_self_is_me(p->self, r->r_url))
                routed_elsewhere = true;
        if (sip->sip_request->rq_method == sip_method_options && !routed_elsewhere &&
            pcscf_self_is_me(p->self, sip->sip_request->rq_url)) {
            p->stats.options_answered++;
            nta_incoming_treply(irq, SIP_200_OK,
                                SIPTAG_ALLOW_STR("REGISTER, OPTIONS, INVITE, ACK, BYE, CANCEL, "
                                                 "MESSAGE, SUBSCRIBE, NOTIFY"),
                                SIPTAG_SUPPORTED_STR("path"), SIPTAG_ACCEPT_STR("application/sdp"),
                                TAG_END());
            txn_log(t, 200, "OK");
            txn_free(t);
        } else if (sip->sip_max_forwards && sip->sip_max_forwards->mf_count == 0) {
            txn_fail(t, PCSCF_ERR_TOO_MANY_HOPS);
        } else if (is_terminating(p, sip, src_ip, src_port)) {
            if (sip->sip_request->rq_method == sip_method_invite)
                nta_incoming_treply(irq, SIP_100_TRYING, TAG_END());
            handle_terminating(p, t, orig);
        } else if (overloaded(p, sip)) {
            p->stats.overload_rejected++;
            txn_fail(t, PCSCF_ERR_OVERLOADED);
        } else {
            if (sip->sip_request->rq_method == sip_method_invite)
                nta_incoming_treply(irq, SIP_100_TRYING, TAG_END());
            handle_other(p, irq, sip, t, orig, src_ip, src_port);
        }
    }
    msg_destroy(orig);
    return 0;
}

static void on_sweep(su_root_magic_t *magic, su_timer_t *timer, su_timer_arg_t *arg)
{
    pcscf_t *p = arg;
    size_t gone = pcscf_cache_expire(p->cache);
    if (gone)
        IMS_INFO("%zu binding(s) expired", gone);
}

/* ---------------------------------------------------------------- lifecycle */

/* nta reports a failed bind without a usable errno; try the port ourselves first so the
 * one-line reason names the real cause (in use, not a local address, permission). */
static int bind_probe(const char *host, uint16_t port)
{
    struct addrinfo hints = {.ai_flags = AI_NUMERICHOST | AI_PASSIVE}, *ai = NULL;
    char sport[8];
    int err = 0;

    snprintf(sport, sizeof sport, "%u", port);
    if (getaddrinfo(*host ? host : NULL, sport, &hints, &ai) != 0 || !ai)
        return EADDRNOTAVAIL;
    for (int type = 0; type < 2 && !err; type++) {
        int fd = socket(ai->ai_family, type ? SOCK_STREAM : SOCK_DGRAM, 0);
        int one = 1;
        if (fd < 0) {
            err = errno;
            break;
        }
        if (type)
            setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0)
            err = errno;
        close(fd);
    }
    freeaddrinfo(ai);
    return err;
}

int pcscf_create(su_root_t *root, const pcscf_conf_t *conf, pcscf_t **out, char *err, size_t errlen)
{
    pcscf_t *p = su_home_new(sizeof *p);
    char host[256];
    uint16_t port = 0;
    int rc;

    if (!p) {
        snprintf(err, errlen, "out of memory");
        return ENOMEM;
    }
    p->root = root;
    p->timeout_ms = conf->timeout_ms > 0 ? conf->timeout_ms : 5000;
    p->max_pending = conf->max_pending > 0 ? (uint64_t)conf->max_pending : 0;
    p->rnd_used = sizeof p->rnd; /* empty: filled on first use */
    p->udp_fd[0] = p->udp_fd[1] = -1;
    if (ims_parse_hostport(conf->sip, host, sizeof host, &port, 5060) != 0) {
        snprintf(err, errlen, "--sip %s is not HOST:PORT", conf->sip);
        rc = EINVAL;
        goto fail;
    }
    if ((rc = pcscf_cache_create(&p->cache)) != 0) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    p->scscf_conf = su_strdup(p->home, conf->scscf);
    if ((rc = resolve_hop(p, err, errlen)) == ENOENT) {
        /* In docker the S-CSCF's name may appear after us: keep trying per request. */
        IMS_WARN("%s; will retry when a request arrives", err);
        rc = 0;
    } else if (rc != 0) {
        goto fail;
    }

    bool wildcard = strcmp(host, "0.0.0.0") == 0 || strcmp(host, "::") == 0 || !*host;
    const char *adv = conf->advertise && *conf->advertise ? conf->advertise : NULL;
    p->domain = su_strdup(p->home, conf->domain);
    p->visited =
        su_strdup(p->home, conf->visited_network && *conf->visited_network ? conf->visited_network
                                                                           : conf->domain);
    p->path = conf->path && *conf->path ? su_strdup(p->home, conf->path)
                                        : su_sprintf(p->home, "sip:term@pcscf.%s;lr", conf->domain);
    if (p->path && p->path[0] == '<') { /* accept "<uri>" too */
        p->path++;
        p->path[strcspn(p->path, ">")] = '\0';
    }
    url_t *pu = p->path ? url_make(p->home, p->path) : NULL;
    if (!pu || !pu->url_host) {
        snprintf(err, errlen, "--path %s is not a SIP URI", p->path ? p->path : "");
        rc = EINVAL;
        goto fail;
    }
    p->path_user = pu->url_user && *pu->url_user ? su_strdup(p->home, pu->url_user) : NULL;
    p->path_hdr = (msg_header_t *)sip_path_format(p->home, "<%s>", p->path);
    p->visited_hdr =
        msg_header_format(p->home, sip_unknown_class, "P-Visited-Network-ID: %s", p->visited);
    if (!p->path_hdr || !p->visited_hdr) {
        snprintf(err, errlen, "--path %s or --visited-network %s is not a valid header value",
                 p->path, p->visited);
        rc = EINVAL;
        goto fail;
    }
    p->warn_host = adv                 ? su_strdup(p->home, adv)
                   : wildcard          ? su_sprintf(p->home, "pcscf.%s", conf->domain)
                   : strchr(host, ':') ? su_sprintf(p->home, "[%s]", host)
                                       : su_strdup(p->home, host);
    p->icid_host = p->warn_host;

    if ((rc = pcscf_self_create(p->home, conf->domain, host, port, adv, conf->aliases,
                                conf->naliases, &p->self)) != 0) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }

    /* With a wildcard bind and --advertise, maddr binds while the Via names the
     * advertised host. */
    const char *h6 = strchr(host, ':') ? "[" : "", *h6e = strchr(host, ':') ? "]" : "";
    char *contact = wildcard && adv ? su_sprintf(p->home, "sip:%s:%u;maddr=%s%s%s", adv, port, h6,
                                                 *host ? host : "0.0.0.0", h6e)
                                    : su_sprintf(p->home, "sip:%s%s%s:%u", h6,
                                                 *host ? host : "0.0.0.0", h6e, port);
    if (port != 0 && (rc = bind_probe(host, port)) != 0) {
        snprintf(err, errlen, "cannot bind SIP %s (UDP+TCP): %s", conf->sip, strerror(rc));
        goto fail;
    }
    /* 64*T1 is both Timer F (an unanswered client transaction) and Timer J (how long a
     * completed server transaction is kept to absorb retransmissions). The 32 s default
     * held every REGISTER and its answer for half a minute: most of the P-CSCF's memory
     * under load. Our own --timeout-ms timer answers a silent S-CSCF first, so 64*T1 only
     * needs to outlast it; 4 s still covers a UE's retransmissions (T2 = 4 s), and a
     * --timeout-ms of 31 s or more keeps the default, as before. A 4 MiB UDP receive
     * buffer (the kernel default is ~200 KiB) absorbs bursts instead of dropping them
     * into retransmissions; the kernel caps it at net.core.rmem_max. */
    long t1x64 = p->timeout_ms + 1000;
    if (t1x64 < 4000)
        t1x64 = 4000;
    if (t1x64 > 32000)
        t1x64 = 32000;
    p->agent = nta_agent_create(
        root, URL_STRING_MAKE(contact), NULL, NULL, NTATAG_SERVER_RPORT(2), NTATAG_CLIENT_RPORT(1),
        NTATAG_USE_NAPTR(0), NTATAG_USE_SRV(0), NTATAG_UA(0), NTATAG_BAD_REQ_MASK(0),
        NTATAG_SIP_T1X64((unsigned)t1x64), NTATAG_SIP_T4(1000), TPTAG_UDP_RMEM(4 << 20), TAG_END());
    if (!p->agent) {
        snprintf(err, errlen, "cannot bind SIP %s (UDP+TCP): %s", conf->sip, strerror(errno));
        rc = errno ? errno : EADDRINUSE;
        goto fail;
    }
    ims_sip_udp_sockets_by_family(port, p->udp_fd);
    if (ims_loop_tcp_idle(p->agent, conf->tcp_idle_s) != 0)
        IMS_WARN("could not set the TCP idle timeout (--tcp-idle)");
    p->leg = nta_leg_tcreate(p->agent, on_request, p, NTATAG_NO_DIALOG(1), TAG_END());
    if (!p->leg) {
        snprintf(err, errlen, "cannot create the SIP default leg");
        rc = ENOMEM;
        goto fail;
    }
    p->sweep = su_timer_create(su_root_task(root), 1000);
    if (!p->sweep || su_timer_set_for_ever(p->sweep, on_sweep, p) != 0) {
        snprintf(err, errlen, "cannot create the expiry timer");
        rc = ENOMEM;
        goto fail;
    }
    IMS_INFO("SIP on %s (UDP+TCP), S-CSCF %s -> %s, Path <%s>, timeout %ld ms, max pending %llu",
             conf->sip, conf->scscf, p->scscf_hop ? p->scscf_hop : "(unresolved)", p->path,
             p->timeout_ms, (unsigned long long)p->max_pending);
    *out = p;
    return 0;
fail:
    pcscf_destroy(p);
    return rc;
}

void pcscf_destroy(pcscf_t *p)
{
    if (!p)
        return;
    while (p->txns) {
        pcscf_txn_t *t = p->txns;
        /* Shutting down: tell the UE rather than leaving it waiting. */
        pcscf_reply_send(t->irq, p->warn_host, PCSCF_ERR_SHUTDOWN);
        txn_free(t);
    }
    if (p->sweep)
        su_timer_destroy(p->sweep);
    if (p->leg)
        nta_leg_destroy(p->leg);
    if (p->agent)
        nta_agent_destroy(p->agent);
    pcscf_cache_destroy(p->cache);
    su_home_unref(p->home);
}

pcscf_cache_t *pcscf_cache(pcscf_t *p)
{
    return p->cache;
}

const pcscf_stats_t *pcscf_stats(pcscf_t *p)
{
    return &p->stats;
}
