/* Requests arriving at the P-CSCF: nta's message callback (malformed requests and
 * unsupported option tags answered statelessly, RFC 3581 received), overload shedding,
 * keep-alive OPTIONS answered here, and the choice of pipeline. */
#include "core.h"
#include "regsub.h"

#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <sofia-sip/sip_header.h>
#include <sofia-sip/sip_status.h>
#include <sofia-sip/sip_tag.h>

#include "ims/log.h"
#include "ims/sip.h"
#include "ims/sip_conform.h"
#include "ims/util.h"

/* The 100 Trying SPEC §4 asks for, sent at once: written straight onto our UDP socket
 * when possible (reply.c says why), else by nta. */
static void send_trying(pcscf_t *p, pcscf_txn_t *t, const sip_t *sip, msg_t *orig, bool tcp)
{
    nta_incoming_t *irq = t->irq;
    /* Not over IPsec: that answer must leave through the protected port's socket. */
    if (tcp || pcscf_ipsec_sip_arrived_protected(p, t) ||
        !pcscf_trying_send_raw(p->udp_fd, sip, orig))
        nta_incoming_treply(irq, SIP_100_TRYING, TAG_END());
}

/* How long the oldest datagram waiting on our UDP socket has waited (ms): the kernel's
 * arrival timestamp of the queue's head, peeked without taking it (one system call, ~1 us;
 * a cached reading would shed requests behind a queue that has already drained). 0 when
 * the queue is empty or the time is unknown. (The kernel's byte count of the queue is no
 * help: UDP gives read memory back in batches of a quarter of the buffer.) */
static uint64_t udp_queue_ms(pcscf_t *p)
{
    p->queue_ms = 0;
    for (int i = 0; i < 2; i++) {
        int fd = p->udp_fd[i];
        if (fd < 0)
            continue;
        char byte, ctl[CMSG_SPACE(sizeof(struct timespec))];
        struct iovec iov = {&byte, 1};
        struct msghdr mh = {
            .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl, .msg_controllen = sizeof ctl};
        if (recvmsg(fd, &mh, MSG_PEEK | MSG_DONTWAIT | MSG_TRUNC) < 0)
            continue;
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
            if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_TIMESTAMPNS)
                continue;
            struct timespec ts, rt;
            memcpy(&ts, CMSG_DATA(c), sizeof ts);
            clock_gettime(CLOCK_REALTIME, &rt);
            int64_t waited = ((int64_t)rt.tv_sec - ts.tv_sec) * 1000 +
                             ((int64_t)rt.tv_nsec - ts.tv_nsec) / 1000000;
            if (waited > 0 && (uint64_t)waited > p->queue_ms)
                p->queue_ms = (uint64_t)waited;
        }
    }
    return p->queue_ms;
}

/* Overload control, two signals. (1) The UDP receive queue: when we cannot keep up,
 * datagrams wait there before any of our code sees them, the S-CSCF's answers among
 * them; once the oldest has waited --max-queue-ms, the UE would soon retransmit (T1 =
 * 500 ms) and each retransmission adds work, so a new REGISTER is answered 503 at once,
 * which costs a fraction of a forward and stops that UE from retransmitting. (2) Every
 * forwarded request stays pending until its answer has been relayed, so the count grows
 * with a slow S-CSCF too; past --max-pending the same 503. The second leg of a
 * registration (it carries credentials) finishes work already done for the first, so it
 * gets more room: a quarter more pending, and the queue rule never sheds it (shedding
 * it would throw away the first leg's work and complete nothing). */
/* REGISTERs in a row that find an old queue, within a window, before any is shed */
#define PCSCF_QUEUE_OLD_MIN       32
#define PCSCF_QUEUE_OLD_WINDOW_MS 100
#define PCSCF_QUEUE_MIN_PENDING   128 /* forwarded and unanswered, for the queue rule */
static bool overloaded(pcscf_t *p, const sip_t *sip)
{
    bool second_leg = sip->sip_authorization != NULL;
    uint64_t limit = p->max_pending;
    if (limit && p->stats.pending >= limit + (second_leg ? limit / 4 : 0))
        return true;
    limit = p->max_queue_ms;
    if (!limit || p->stats.pending < PCSCF_QUEUE_MIN_PENDING)
        return false;
    /* Only a queue that stays old under many REGISTERs, with many of them in flight, is
     * overload. After the process was merely paused (a busy host), or while something
     * else fills the queue (a flood of junk), the few REGISTERs among it look old too,
     * and are served. */
    if (udp_queue_ms(p) < limit) {
        p->queue_old = 0;
        return false;
    }
    uint64_t now = ims_now_ms();
    if (p->queue_old < PCSCF_QUEUE_OLD_MIN) {
        if (!p->queue_old || now - p->queue_old_ms > PCSCF_QUEUE_OLD_WINDOW_MS) {
            p->queue_old = 0;
            p->queue_old_ms = now;
        }
        p->queue_old++;
        return false;
    }
    return !second_leg;
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
        IMS_WARN("overloaded: %llu requests pending (--max-pending %llu), the oldest datagram "
                 "on the UDP socket waited %llu ms (--max-queue-ms %llu); answered %llu with 503 "
                 "since the last warning",
                 (unsigned long long)p->stats.pending, (unsigned long long)p->max_pending,
                 (unsigned long long)p->queue_ms, (unsigned long long)p->max_queue_ms,
                 (unsigned long long)p->shed_unlogged);
        p->shed_logged_ms = now;
        p->shed_unlogged = 0;
    }
}

/* What the chain (this P-CSCF and the S-CSCF behind it) handles; docs/troubleshooting.md. */
#define PCSCF_ALLOW "REGISTER, OPTIONS, SUBSCRIBE"

/* OPTIONS to the P-CSCF itself (no Route elsewhere) is a keep-alive: answered here. */
static bool is_keepalive(pcscf_t *p, const sip_t *sip)
{
    if (sip->sip_request->rq_method != sip_method_options)
        return false;
    for (sip_route_t *r = sip->sip_route; r; r = r->r_next)
        if (!pcscf_self_is_me(p->self, r->r_url))
            return false;
    return pcscf_self_is_me(p->self, sip->sip_request->rq_url);
}

static void answer_keepalive(pcscf_t *p, pcscf_txn_t *t)
{
    p->stats.options_answered++;
    nta_incoming_treply(t->irq, SIP_200_OK, SIPTAG_ALLOW_STR(PCSCF_ALLOW),
                        SIPTAG_SUPPORTED_STR("path"), SIPTAG_ACCEPT_STR("application/sdp"),
                        TAG_END());
    pcscf_txn_log(t, 200, "OK");
    pcscf_txn_free(t);
}

void pcscf_dispatch(pcscf_t *p, pcscf_txn_t *t, const sip_t *sip, msg_t *orig)
{
    bool invite = sip->sip_request->rq_method == sip_method_invite;
    int status;
    if (sip->sip_request->rq_method == sip_method_register) {
        send_trying(p, t, sip, orig, t->tcp);
        pcscf_forward(t, sip, orig, &pcscf_pipe_register);
    } else if (is_keepalive(p, sip)) {
        answer_keepalive(p, t);
    } else if ((status = pcscf_regsub_notify(p->regsub, t->irq, sip)) != 0) {
        pcscf_txn_log(t, status, "reg event NOTIFY");
        pcscf_txn_free(t);
    } else if (pcscf_ipsec_sip_refuse(p, t)) {
        pcscf_txn_fail(t, PCSCF_ERR_NOT_PROTECTED);
    } else if (sip->sip_max_forwards && sip->sip_max_forwards->mf_count == 0) {
        pcscf_txn_fail(t, PCSCF_ERR_TOO_MANY_HOPS);
    } else if (pcscf_hop_is_scscf(p, sip, t->src_ip, t->src_port)) {
        if (invite)
            nta_incoming_treply(t->irq, SIP_100_TRYING, TAG_END());
        pcscf_forward(t, sip, orig, &pcscf_pipe_terminating);
    } else if (overloaded(p, sip)) {
        p->stats.overload_rejected++;
        pcscf_txn_fail(t, PCSCF_ERR_OVERLOADED);
    } else {
        if (invite)
            nta_incoming_treply(t->irq, SIP_100_TRYING, TAG_END());
        pcscf_forward(t, sip, orig, &pcscf_pipe_originating);
    }
}

/* Answers irq from the reply table without a transaction record (nothing to log yet). */
static void refuse(pcscf_t *p, nta_incoming_t *irq, pcscf_err_t e)
{
    pcscf_reply_send(irq, p->warn_host, e);
    nta_incoming_destroy(irq);
}

/* A request on its new server transaction (the checks of pcscf_intake passed). */
static void on_request(pcscf_t *p, nta_incoming_t *irq, const sip_t *sip)
{
    char src_ip[INET6_ADDRSTRLEN];
    uint16_t src_port;
    bool tcp;
    pcscf_txn_t *t = NULL;

    if (sip->sip_request->rq_method == sip_method_cancel) {
        /* A CANCEL matching a pending request is answered by nta and reaches the txn. */
        refuse(p, irq, PCSCF_ERR_NO_TRANSACTION);
        return;
    }
    /* Checked before any copy or allocation, so shedding stays cheap. */
    if (sip->sip_request->rq_method == sip_method_register && overloaded(p, sip)) {
        shed(p, irq);
        return;
    }
    msg_t *orig = nta_incoming_getrequest(irq);
    if (orig) {
        ims_sip_source(orig, src_ip, sizeof src_ip, &src_port, &tcp);
        t = pcscf_txn_new(p, irq, sip, src_ip, src_port, tcp);
    }
    if (!orig || !t) {
        msg_destroy(orig);
        p->stats.local_errors++;
        refuse(p, irq, PCSCF_ERR_INTERNAL);
        return;
    }
    pcscf_trace_request(t, orig, sip);
    if (!pcscf_fault_request(t, sip))
        pcscf_dispatch(p, t, sip, orig);
    msg_destroy(orig);
}

/* What a request is refused with before any transaction exists (PCSCF_ERR_COUNT: none);
 * extra gets the Unsupported line of a 420. */
static pcscf_err_t refusal(pcscf_t *p, const sip_t *sip, char *extra, size_t len)
{
    char tags[256];
    pcscf_err_t e = pcscf_precheck(sip);
    extra[0] = '\0';
    if (e == PCSCF_ERR_COUNT && sip->sip_request->rq_method != sip_method_cancel &&
        (e = pcscf_option_tags(sip, tags, sizeof tags)) != PCSCF_ERR_COUNT)
        snprintf(extra, len, "Unsupported: %s\r\n", tags);
    return e;
}

int pcscf_intake(pcscf_t *p, nta_agent_t *agent, msg_t *msg, sip_t *sip)
{
    char src_ip[INET6_ADDRSTRLEN], extra[300];
    uint16_t src_port;
    bool tcp;

    if (!sip || !sip->sip_request) {
        msg_destroy(msg); /* a response no client transaction of ours expects */
        return 0;
    }
    p->stats.requests++;
    ims_sip_source(msg, src_ip, sizeof src_ip, &src_port, &tcp);
    if (ims_sip_via_received(msg, sip->sip_via, src_ip) < 0) {
        msg_destroy(msg);
        return 0;
    }
    if (sip->sip_request->rq_method == sip_method_ack) {
        pcscf_forward_ack(p, msg, sip);
        return 0;
    }
    pcscf_err_t e = refusal(p, sip, extra, sizeof extra);
    if (e != PCSCF_ERR_COUNT) {
        const pcscf_reply_t *r = pcscf_reply_get(e);
        p->stats.local_errors++;
        IMS_INFO("%s from %s -> %d %s (stateless)", sip->sip_request->rq_method_name, src_ip,
                 r->status, r->phrase);
        ims_sip_reply_stateless(agent, msg, r->status, r->phrase, p->warn_host, r->warning, extra);
        return 0;
    }
    nta_incoming_t *irq = nta_incoming_create(agent, NULL, msg, sip, TAG_END());
    if (irq)
        on_request(p, irq, sip);
    return 0;
}
