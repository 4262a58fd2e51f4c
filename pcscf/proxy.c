/* Requests arriving at the P-CSCF: the checks every request passes, overload shedding,
 * keep-alive OPTIONS answered here, and the choice of pipeline (REGISTER, originating,
 * terminating). */
#include "core.h"

#include <stdio.h>
#include <string.h>

#include <sofia-sip/sip_header.h>
#include <sofia-sip/sip_status.h>
#include <sofia-sip/sip_tag.h>

#include "ims/log.h"
#include "ims/sip.h"
#include "ims/util.h"

/* To must name a SIP user (or a tel: number for requests other than REGISTER). */
static bool to_ok(const url_t *u)
{
    return (u->url_type == url_sip || u->url_type == url_sips) ? u->url_host != NULL
                                                               : u->url_type == url_tel;
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

/* The first failed check names what the sender hears; PCSCF_ERR_COUNT when all pass. */
static pcscf_err_t check_request(const sip_t *sip)
{
    /* A singleton header (To, CSeq, Max-Forwards...) given twice: which one counts is
     * ambiguous, so the request is refused rather than forwarded with either. */
    if (ims_sip_duplicate_header(sip))
        return PCSCF_ERR_DUPLICATE_HEADER;
    if (ims_sip_header_error(sip, "Contact"))
        return PCSCF_ERR_BAD_CONTACT;
    if (!ports_ok(sip))
        return PCSCF_ERR_BAD_PORT;
    if (!sip->sip_to || !to_ok(sip->sip_to->a_url) || ims_sip_header_error(sip, "To"))
        return PCSCF_ERR_BAD_TO;
    if (ims_sip_header_error(sip, "From") || ims_sip_header_error(sip, "Route") ||
        ims_sip_header_error(sip, "Max-Forwards") || ims_sip_header_error(sip, "Expires"))
        return PCSCF_ERR_BAD_REQUEST;
    return PCSCF_ERR_COUNT;
}

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
    nta_incoming_treply(t->irq, SIP_200_OK,
                        SIPTAG_ALLOW_STR("REGISTER, OPTIONS, INVITE, ACK, BYE, CANCEL, "
                                         "MESSAGE, SUBSCRIBE, NOTIFY"),
                        SIPTAG_SUPPORTED_STR("path"), SIPTAG_ACCEPT_STR("application/sdp"),
                        TAG_END());
    pcscf_txn_log(t, 200, "OK");
    pcscf_txn_free(t);
}

void pcscf_dispatch(pcscf_t *p, pcscf_txn_t *t, const sip_t *sip, msg_t *orig)
{
    bool invite = sip->sip_request->rq_method == sip_method_invite;
    if (sip->sip_request->rq_method == sip_method_register) {
        send_trying(p, t, sip, orig, t->tcp);
        pcscf_forward(t, sip, orig, &pcscf_pipe_register);
    } else if (is_keepalive(p, sip)) {
        answer_keepalive(p, t);
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

int pcscf_on_request(pcscf_t *p, nta_leg_t *leg, nta_incoming_t *irq, const sip_t *sip)
{
    char src_ip[INET6_ADDRSTRLEN];
    uint16_t src_port;
    bool tcp;
    pcscf_txn_t *t = NULL;

    p->stats.requests++;
    if (!sip || !sip->sip_request) {
        refuse(p, irq, PCSCF_ERR_BAD_REQUEST);
        return 0;
    }
    if (sip->sip_request->rq_method == sip_method_ack)
        return 0; /* ACKs of our own errors are absorbed by nta; nothing else to do */
    if (sip->sip_request->rq_method == sip_method_cancel) {
        refuse(p, irq, PCSCF_ERR_NO_TRANSACTION);
        return 0;
    }
    /* Checked before any copy or allocation, so shedding stays cheap. */
    if (sip->sip_request->rq_method == sip_method_register && overloaded(p, sip)) {
        shed(p, irq);
        return 0;
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
        return 0;
    }
    pcscf_trace_request(t, orig, sip);
    pcscf_err_t e = check_request(sip);
    if (e != PCSCF_ERR_COUNT)
        pcscf_txn_fail(t, e);
    else if (!pcscf_fault_request(t, sip))
        pcscf_dispatch(p, t, sip, orig);
    msg_destroy(orig);
    return 0;
}
