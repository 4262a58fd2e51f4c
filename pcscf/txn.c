/* Transaction bookkeeping of the P-CSCF: one record per proxied request, the pending list
 * and its count, the --timeout-ms silence timer, and relaying the next hop's answers. */
#include "core.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sofia-sip/sip_header.h>
#include <sofia-sip/sip_status.h>
#include <sofia-sip/sip_util.h>
#include <sofia-sip/su_alloc.h>

#include "ims/log.h"
#include "ims/util.h"

/* nta answered a CANCEL of this pending request 200 itself; it goes downstream too, and the
 * final answer that comes back (487) is relayed like any other (RFC 3261 §16.10). */
static int on_cancel(pcscf_txn_t *t, nta_incoming_t *irq, const sip_t *sip)
{
    if (sip && sip->sip_request && sip->sip_request->rq_method == sip_method_cancel && t->orq)
        nta_outgoing_tcancel(t->orq, NULL, NULL, TAG_END());
    return 0;
}

pcscf_txn_t *pcscf_txn_new(pcscf_t *p, nta_incoming_t *irq, const sip_t *sip, const char *src_ip,
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
    snprintf(t->src_ip, sizeof t->src_ip, "%s", src_ip);
    t->src_port = src_port;
    t->tcp = tcp;
    t->toward = PCSCF_TOWARD_SCSCF;
    nta_incoming_bind(irq, on_cancel, t);
    return t;
}

void pcscf_txn_free(pcscf_txn_t *t)
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
    if (t->held)
        msg_destroy(t->held);
    su_home_deinit(t->home);
    free(t);
}

void pcscf_txn_log(pcscf_txn_t *t, int status, const char *phrase)
{
    IMS_INFO("%s %s from %s/%s call-id %s -> %d %s (%llu ms)", t->method, t->ruri, t->src,
             t->transport, t->call_id, status, phrase ? phrase : "",
             (unsigned long long)(ims_now_ms() - t->start_ms));
}

void pcscf_txn_fail(pcscf_txn_t *t, pcscf_err_t e)
{
    const pcscf_reply_t *r = pcscf_reply_get(e);
    t->p->stats.local_errors++;
    pcscf_reply_send_why(t->irq, t->p->warn_host, e, t->why);
    pcscf_trace_answer(t, NULL, r->status, r->phrase, t->why ? t->why : r->warning);
    pcscf_txn_log(t, r->status, r->phrase);
    pcscf_txn_free(t);
}

/* Counted per side: a silent UE is not a silent S-CSCF. */
static void count_failure(pcscf_txn_t *t, bool timeout)
{
    pcscf_stats_t *st = &t->p->stats;
    if (t->toward == PCSCF_TOWARD_UE)
        (*(timeout ? &st->ue_timeouts : &st->ue_unreachable))++;
    else
        (*(timeout ? &st->scscf_timeouts : &st->scscf_unreachable))++;
}

static pcscf_err_t failure_reply(const pcscf_txn_t *t, bool timeout)
{
    if (t->toward == PCSCF_TOWARD_UE)
        return timeout ? PCSCF_ERR_UE_TIMEOUT : PCSCF_ERR_UE_UNREACHABLE;
    return timeout ? PCSCF_ERR_SCSCF_TIMEOUT : PCSCF_ERR_SCSCF_UNREACHABLE;
}

/* The next hop did not answer, or could not be reached. A failure toward the S-CSCF may
 * mean its name points elsewhere now (container restarted): resolve it again. */
static void hop_failed(pcscf_txn_t *t, bool timeout)
{
    count_failure(t, timeout);
    if (t->toward == PCSCF_TOWARD_SCSCF)
        pcscf_hop_retry(t->p);
    pcscf_txn_fail(t, failure_reply(t, timeout));
}

static void on_timeout(su_root_magic_t *magic, su_timer_t *timer, su_timer_arg_t *arg)
{
    pcscf_txn_t *t = arg;
    IMS_WARN("%s did not answer %s call-id %s within %ld ms",
             t->toward == PCSCF_TOWARD_SCSCF ? "the S-CSCF" : "the UE", t->method, t->call_id,
             t->p->timeout_ms);
    hop_failed(t, true);
}

/* Our own 100 went out already; other provisional answers are relayed. */
static void relay_provisional(pcscf_txn_t *t, nta_outgoing_t *orq, const sip_t *sip, int status)
{
    if (status == 100 || !sip || nta_sip_is_internal(sip))
        return;
    msg_t *msg = nta_outgoing_getresponse(orq);
    if (msg) {
        sip_via_remove(msg, sip_object(msg));
        nta_incoming_mreply(t->irq, msg);
    }
}

/* A 401 to a REGISTER carries the AKA CK/IK for the P-CSCF only: kept (for IPsec) and
 * removed before the UE sees the answer. */
static void keep_aka_keys(pcscf_txn_t *t, msg_t *msg, sip_t *rs, char *ck, char *ik, size_t cap)
{
    if (pcscf_strip_ck_ik(msg, rs, ck, ik, cap) > 0) {
        pcscf_cache_keys_set(t->p->cache, t->call_id, ck, ik);
        t->p->stats.aka_keys_stripped++;
        IMS_DEBUG("kept AKA keys of call-id %s for IPsec", t->call_id);
    }
}

/* A final answer to a REGISTER: AKA keys out, IPsec in (or an error instead: 0 then). */
static bool register_answer(pcscf_txn_t *t, msg_t *msg, sip_t *rs, int status)
{
    char ck[64] = "", ik[64] = "";
    pcscf_err_t e;
    if (status == 401)
        keep_aka_keys(t, msg, rs, ck, ik, sizeof ck);
    int rc = pcscf_ipsec_sip_answer(t, msg, rs, ck, ik, &e);
    ims_secure_zero(ck, sizeof ck);
    ims_secure_zero(ik, sizeof ik);
    if (rc) {
        msg_destroy(msg);
        pcscf_txn_fail(t, e);
        return false;
    }
    if (status >= 200 && status < 300)
        pcscf_register_remember(t, rs);
    return true;
}

static int on_response(pcscf_txn_t *t, nta_outgoing_t *orq, const sip_t *sip)
{
    pcscf_t *p = t->p;
    int status = sip && sip->sip_status ? sip->sip_status->st_status : nta_outgoing_status(orq);

    if (status < 200) {
        relay_provisional(t, orq, sip, status);
        return 0;
    }
    if (!sip || nta_sip_is_internal(sip)) {
        IMS_WARN("next hop unreachable for %s call-id %s: %d %s", t->method, t->call_id, status,
                 sip && sip->sip_status ? sip->sip_status->st_phrase : "");
        t->orq = NULL; /* destroyed here, so pcscf_txn_free must not touch it */
        nta_outgoing_destroy(orq);
        hop_failed(t, status == 408);
        return 0;
    }
    msg_t *msg = nta_outgoing_getresponse(orq);
    if (!msg) {
        pcscf_txn_fail(t, PCSCF_ERR_INTERNAL);
        return 0;
    }
    sip_t *rs = sip_object(msg);
    sip_via_remove(msg, rs);
    if (t->is_register && !register_answer(t, msg, rs, status))
        return 0;
    if (pcscf_fault_answer(t, msg))
        return 0; /* dropped or held by a fault rule */
    const char *phrase = rs->sip_status ? rs->sip_status->st_phrase : "";
    pcscf_txn_log(t, status, phrase);
    pcscf_trace_answer(t, msg, status, phrase, NULL);
    p->stats.responses_relayed++;
    nta_incoming_mreply(t->irq, msg);
    pcscf_txn_free(t);
    return 0;
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

static void txn_unlink(pcscf_txn_t *t)
{
    if (!t->prevp)
        return;
    *t->prevp = t->next;
    if (t->next)
        t->next->prevp = t->prevp;
    t->prevp = NULL;
    t->next = NULL;
    t->p->stats.pending--;
}

static void on_hold_end(su_root_magic_t *magic, su_timer_t *timer, su_timer_arg_t *arg)
{
    pcscf_txn_t *t = arg;
    su_timer_destroy(t->timer);
    t->timer = NULL;
    txn_unlink(t); /* done may send it on, which files it again */
    t->hold_done(t);
}

void pcscf_txn_hold(pcscf_txn_t *t, uint64_t ms, void (*done)(pcscf_txn_t *t))
{
    if (t->timer)
        su_timer_destroy(t->timer);
    if (!t->prevp)
        txn_link(t->p, t); /* pending: answered at shutdown like any other */
    t->hold_done = done;
    t->timer = su_timer_create(su_root_task(t->p->root), (su_duration_t)ms);
    if (!t->timer || su_timer_set(t->timer, on_hold_end, t) != 0) {
        if (t->timer)
            su_timer_destroy(t->timer);
        t->timer = NULL;
        txn_unlink(t);
        done(t); /* cannot hold: go on at once */
    }
}

void pcscf_txn_send(pcscf_txn_t *t, msg_t *msg, const char *hop)
{
    pcscf_t *p = t->p;
    t->orq = nta_outgoing_mcreate(p->agent, on_response, t, hop ? URL_STRING_MAKE(hop) : NULL, msg,
                                  TAG_END());
    if (!t->orq) {
        msg_destroy(msg); /* mcreate leaves it to us on failure */
        count_failure(t, false);
        pcscf_txn_fail(t, failure_reply(t, false));
        return;
    }
    txn_link(p, t);
    t->timer = su_timer_create(su_root_task(p->root), p->timeout_ms);
    if (t->timer)
        su_timer_set(t->timer, on_timeout, t);
}
