/* The S-CSCF's SIP side on Sofia nta: the agent with its timer and buffer choices, the
 * message callback that answers malformed requests statelessly and hands the others to
 * scscf_registrar_process on a server transaction, and the once-a-second tick. */
#include <stdio.h>
#include <string.h>

#include <sys/socket.h>
#include <netinet/in.h>

#include <sofia-sip/su.h>
#include <sofia-sip/tport_tag.h>

#include "ims/log.h"
#include "ims/sip.h"
#include "ims/sip_conform.h"
#include "ims/util.h"
#include "regevent.h"
#include "register.h"

/* nta exposes no socket handle, and the kernel's default UDP receive buffer (~200 KiB)
 * overflows within milliseconds at thousands of REGISTERs per second whenever the loop is
 * briefly descheduled: find our UDP sockets by their bound port and enlarge them. */
static void enlarge_udp_buffers(uint16_t port)
{
    int fds[8];
    size_t n = ims_sip_udp_sockets(port, fds, NULL, 8);
    for (size_t i = 0; i < n && i < 8; i++) {
        /* ~1000-2000 queued requests (the kernel doubles the value): enough to ride out
         * a scheduling hiccup, small enough that a queued request is answered well
         * before the UE's first retransmission (T1 = 500 ms) instead of feeding a
         * retransmission storm under overload */
        int size = 1024 * 1024;
        setsockopt(fds[i], SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
        setsockopt(fds[i], SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
    }
}

static int intake(scscf_t *s, nta_agent_t *agent, msg_t *msg, sip_t *sip);

int scscf_sip_start(scscf_t *s, const char *sip_url, uint16_t port)
{
    s->agent = nta_agent_create(s->root, URL_STRING_MAKE(sip_url), intake, s, NTATAG_UDP_MTU(65535),
                                /* no default leg: intake() sees every new request before nta
                                   keeps any state; let requests with a bad non-critical header
                                   reach it, to be answered 400 with a Warning naming it */
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

/* The nta side of a responder: ctx is the server transaction. Hands back the reply as
 * sent for the timeline (only when it is on: a reference costs nothing, but why take it). */
static msg_t *nta_reply(void *ctx, int status, const char *phrase, const char *server,
                        const char *headers)
{
    nta_incoming_t *irq = ctx;
    msg_t *sent = NULL;
    if (status) {
        nta_incoming_treply(irq, status, phrase, SIPTAG_SERVER_STR(server),
                            TAG_IF(headers && *headers, SIPTAG_HEADER_STR(headers)), TAG_END());
        sent = nta_incoming_getresponse(irq);
    }
    nta_incoming_destroy(irq);
    return sent;
}

static void nta_tag(void *ctx, const char *tag)
{
    nta_incoming_tag(ctx, tag);
}

/* The packet's source as "udp:host:port" ("?" if unknown) and its bare host (no
 * brackets, "?" if unknown). */
static void packet_source(msg_t *msg, char *src, size_t slen, char *host, size_t hlen)
{
    uint16_t port;
    bool tcp, v6;
    ims_sip_source(msg, host, hlen, &port, &tcp);
    v6 = strchr(host, ':') != NULL;
    if (strcmp(host, "?") == 0)
        snprintf(src, slen, "?");
    else
        snprintf(src, slen, "%s:%s%s%s:%u", tcp ? "tcp" : "udp", v6 ? "[" : "", host, v6 ? "]" : "",
                 (unsigned)port);
}

/* A malformed request gets its 400 without a transaction: a server transaction keeps the
 * request (up to 64 KB) for Timer J, which is what made a flood of malformed datagrams
 * grow the S-CSCF by ~100 MiB (docs/troubleshooting.md). */
static void reject(scscf_t *s, nta_agent_t *agent, msg_t *msg, sip_t *sip, scscf_err_t e)
{
    const scscf_reply_entry_t *r = scscf_reply_get(e);
    char warning[160];
    if (e == SCSCF_E_BAD_HEADER)
        snprintf(warning, sizeof warning, "Cannot parse the %s header", ims_sip_bad_header(sip));
    else
        snprintf(warning, sizeof warning, "%s", r->warning);
    s->m.auth_failures[e]++;
    if (s->ue.tl) { /* the timeline shows the stateless answer too (no message kept) */
        scscf_req_t rq = {.s = s, .sip = sip};
        char peer[64];
        packet_source(msg, rq.src, sizeof(rq.src), peer, sizeof(peer));
        scscf_trace_ids(s, sip, rq.impi, sizeof(rq.impi), rq.impu, sizeof(rq.impu));
        scscf_why_t why = {r->hint, warning, "rejected"};
        scscf_trace_reply(&rq, r->status, r->phrase, NULL, &why);
    }
    IMS_INFO("%s - from %s -> %d %s (stateless: %s)", sip->sip_request->rq_method_name,
             sip->sip_via && sip->sip_via->v_host ? sip->sip_via->v_host : "?", r->status,
             r->phrase, warning);
    ims_sip_reply_stateless(agent, msg, r->status, r->phrase, s->cfg.host, warning, NULL);
}

/* nta's message callback: every request that matches no transaction, before any state. */
static int intake(scscf_t *s, nta_agent_t *agent, msg_t *msg, sip_t *sip)
{
    if (!sip || !sip->sip_request || sip->sip_request->rq_method == sip_method_ack) {
        /* A stray response, or an ACK no transaction of ours waits for: nothing to do. */
        msg_destroy(msg);
        return 0;
    }
    scscf_trace_request(s, msg, sip);
    if (sip->sip_error || ims_sip_body_short(sip)) {
        reject(s, agent, msg, sip, sip->sip_error ? SCSCF_E_BAD_HEADER : SCSCF_E_BODY_SHORT);
        return 0;
    }
    nta_incoming_t *irq = nta_incoming_create(agent, NULL, msg, sip, TAG_END());
    if (!irq)
        return 0;
    char src[80], peer[64];
    packet_source(msg, src, sizeof(src), peer, sizeof(peer));
    scscf_registrar_process(s, sip, src, peer,
                            (scscf_responder_t){.reply = nta_reply, .ctx = irq, .tag = nta_tag});
    return 0;
}

static void on_tick(su_root_magic_t *magic, su_timer_t *t, su_timer_arg_t *arg)
{
    scscf_t *s = arg;
    scscf_registrar_expire(s, ims_wall_s());
    scscf_regevent_expire(s, ims_wall_s());
    scscf_auth_purge(s->auth, (int64_t)ims_now_ms());
    scscf_guard_purge(s->guard, ims_now_ms());
    scscf_trace_tick(s, ims_now_ms());
    scscf_location_flush(s->loc);
    scscf_regevent_flush(s);
    ims_loop_trim_tick(&s->trim, s->agent);
}

int scscf_registrar_init(scscf_t *s)
{
    scscf_subs_limits_t lim = {
        .default_expires = s->cfg.sub_default_expires,
        .min_expires = s->cfg.sub_min_expires,
        .max_expires = s->cfg.sub_max_expires,
        .max_per_impu = (size_t)s->cfg.sub_max_per_impu,
        .max_total = (size_t)s->cfg.sub_max,
    };
    if (scscf_regevent_create(s, &lim))
        return EIO;
    scscf_regevent_load(s);
    s->tick = su_timer_create(su_root_task(s->root), 1000);
    if (!s->tick || su_timer_run(s->tick, on_tick, s) < 0)
        return EIO;
    return 0;
}

void scscf_registrar_deinit(scscf_t *s)
{
    scscf_regevent_flush(s);
    scscf_regevent_free(s); /* its NOTIFYs in flight go before the agent */
    if (s->tick)
        su_timer_destroy(s->tick);
    s->tick = NULL;
    if (s->leg)
        nta_leg_destroy(s->leg);
    s->leg = NULL;
}
