/* Creating and destroying the P-CSCF: names and headers derived from the settings, the
 * nta agent and its sockets, the default leg and the cache's expiry sweep. */
#include "core.h"
#include "regsub.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sofia-sip/msg_header.h>
#include <sofia-sip/nta_tag.h>
#include <sofia-sip/sip_header.h>
#include <sofia-sip/su_alloc.h>
#include <sofia-sip/tport_tag.h>

#include "ims/log.h"
#include "ims/loop.h"
#include "ims/sip.h"
#include "ims/util.h"

static void on_sweep(su_root_magic_t *magic, su_timer_t *timer, su_timer_arg_t *arg)
{
    pcscf_t *p = arg;
    size_t gone = pcscf_cache_expire(p->cache);
    if (gone)
        IMS_INFO("%zu binding(s) expired", gone);
    pcscf_regsub_tick(p->regsub);
    pcscf_ipsec_sip_sweep(p);
    ims_loop_trim_tick(&p->trim, p->agent);
}

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

/* Path, P-Visited-Network-ID and the host named in Warning and icid-generated-at. */
static int derive_names(pcscf_t *p, const pcscf_conf_t *conf, const char *host, bool wildcard,
                        const char *adv, char *err, size_t errlen)
{
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
        return EINVAL;
    }
    p->path_user = pu->url_user && *pu->url_user ? su_strdup(p->home, pu->url_user) : NULL;
    p->path_hdr = (msg_header_t *)sip_path_format(p->home, "<%s>", p->path);
    p->visited_hdr =
        msg_header_format(p->home, sip_unknown_class, "P-Visited-Network-ID: %s", p->visited);
    if (!p->path_hdr || !p->visited_hdr) {
        snprintf(err, errlen, "--path %s or --visited-network %s is not a valid header value",
                 p->path, p->visited);
        return EINVAL;
    }
    p->warn_host = adv                 ? su_strdup(p->home, adv)
                   : wildcard          ? su_sprintf(p->home, "pcscf.%s", conf->domain)
                   : strchr(host, ':') ? su_sprintf(p->home, "[%s]", host)
                                       : su_strdup(p->home, host);
    p->icid_host = p->warn_host;
    return 0;
}

/* The nta agent bound to --sip (UDP and TCP) with our timers and buffers. */
static int create_agent(pcscf_t *p, const pcscf_conf_t *conf, const char *host, uint16_t port,
                        bool wildcard, const char *adv, char *err, size_t errlen)
{
    int rc;
    /* With a wildcard bind and --advertise, maddr binds while the Via names the
     * advertised host. */
    const char *h6 = strchr(host, ':') ? "[" : "", *h6e = strchr(host, ':') ? "]" : "";
    char *contact = wildcard && adv ? su_sprintf(p->home, "sip:%s:%u;maddr=%s%s%s", adv, port, h6,
                                                 *host ? host : "0.0.0.0", h6e)
                                    : su_sprintf(p->home, "sip:%s%s%s:%u", h6,
                                                 *host ? host : "0.0.0.0", h6e, port);
    if (port != 0 && (rc = bind_probe(host, port)) != 0) {
        snprintf(err, errlen, "cannot bind SIP %s (UDP+TCP): %s", conf->sip, strerror(rc));
        return rc;
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
    p->agent =
        /* No default leg: pcscf_intake sees every new request before nta keeps any state.
         * CANCEL_487(0): the 487 of a cancelled INVITE comes from downstream. */
        nta_agent_create(p->root, URL_STRING_MAKE(contact), pcscf_intake, p, NTATAG_SERVER_RPORT(2),
                         NTATAG_CLIENT_RPORT(1), NTATAG_USE_NAPTR(0), NTATAG_USE_SRV(0),
                         NTATAG_UA(0), NTATAG_BAD_REQ_MASK(0), NTATAG_CANCEL_487(0),
                         NTATAG_SIP_T1X64((unsigned)t1x64), NTATAG_SIP_T4(1000),
                         TPTAG_UDP_RMEM(4 << 20), TAG_END());
    if (!p->agent) {
        snprintf(err, errlen, "cannot bind SIP %s (UDP+TCP): %s", conf->sip, strerror(errno));
        return errno ? errno : EADDRINUSE;
    }
    ims_sip_udp_sockets_by_family(port, p->udp_fd);
    /* Arrival times on every datagram, for overload control's look at how long the head
     * of the queue has waited (proxy.c); from the start, as a datagram queued before
     * this is switched on would look brand new. */
    for (int i = 0; i < 2; i++) {
        int on = 1;
        if (p->udp_fd[i] >= 0)
            setsockopt(p->udp_fd[i], SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof on);
    }
    p->rr_uri = su_sprintf(p->home, "sip:%s:%u;lr", p->warn_host, port);
    if (pcscf_sec_agree_parse(conf->sec_agree ? conf->sec_agree : "optional", &p->sec_agree))
        p->sec_agree = PCSCF_SEC_AGREE_OPTIONAL; /* settings.c refused it already */
    if (ims_loop_tcp_idle(p->agent, conf->tcp_idle_s) != 0)
        IMS_WARN("could not set the TCP idle timeout (--tcp-idle)");
    return 0;
}

/* The sweep expires cached bindings each second (requests reach pcscf_intake through the
 * agent's message callback). */
static int start_serving(pcscf_t *p, char *err, size_t errlen)
{
    p->sweep = su_timer_create(su_root_task(p->root), 1000);
    if (!p->sweep || su_timer_set_for_ever(p->sweep, on_sweep, p) != 0) {
        snprintf(err, errlen, "cannot create the expiry timer");
        return ENOMEM;
    }
    return 0;
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
    p->max_queue_ms = conf->max_queue_ms > 0 ? (uint64_t)conf->max_queue_ms : 0;
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
    if ((rc = pcscf_hop_resolve(p, err, errlen)) == ENOENT) {
        /* In docker the S-CSCF's name may appear after us: keep trying per request. */
        IMS_WARN("%s; will retry when a request arrives", err);
        rc = 0;
    } else if (rc != 0) {
        goto fail;
    }
    bool wildcard = strcmp(host, "0.0.0.0") == 0 || strcmp(host, "::") == 0 || !*host;
    const char *adv = conf->advertise && *conf->advertise ? conf->advertise : NULL;
    if ((rc = derive_names(p, conf, host, wildcard, adv, err, errlen)))
        goto fail;
    /* The timeline's "our side" of each message: the bound address, or what we advertise
     * (loopback when neither names one). */
    p->ue = conf->ue;
    const char *me = !wildcard                                                       ? host
                     : adv && strspn(adv, "0123456789.:abcdefABCDEF") == strlen(adv) ? adv
                                                                                     : "127.0.0.1";
    snprintf(p->local_ip, sizeof p->local_ip, "%.45s", me);
    p->local_port = port;
    if ((rc = pcscf_self_create(p->home, conf->domain, host, port, adv, conf->aliases,
                                conf->naliases, &p->self)) != 0) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    if ((rc = create_agent(p, conf, host, port, wildcard, adv, err, errlen)) ||
        (rc = pcscf_ipsec_sip_start(p, conf, host, adv, err, errlen)) ||
        (rc = start_serving(p, err, errlen)))
        goto fail;
    if (conf->reg_subscribe && (rc = pcscf_regsub_create(p, &p->regsub)) != 0) {
        snprintf(err, errlen, "out of memory");
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
        pcscf_txn_free(t);
    }
    if (p->sweep)
        su_timer_destroy(p->sweep);
    pcscf_regsub_destroy(p->regsub); /* its SUBSCRIBEs in flight go before the agent */
    if (p->leg)
        nta_leg_destroy(p->leg);
    if (p->agent)
        nta_agent_destroy(p->agent);
    pcscf_ipsec_sip_stop(p); /* after the agent: its sockets were bound to our TUN */
    pcscf_cache_destroy(p->cache);
    su_home_unref(p->home);
}

pcscf_cache_t *pcscf_cache(pcscf_t *p)
{
    return p->cache;
}

ims_ue_api_t *pcscf_ue(pcscf_t *p)
{
    return p->ue;
}

const pcscf_stats_t *pcscf_stats(pcscf_t *p)
{
    return &p->stats;
}

struct pcscf_regsub *pcscf_regsub(pcscf_t *p)
{
    return p->regsub;
}
