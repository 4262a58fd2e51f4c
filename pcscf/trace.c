/* The P-CSCF's part of the UE test controls: what it received from and sent to each UE in
 * the timeline, and the transport faults (drop, delay of a request or its answer). */
#include "core.h"
#include "ipsec_sip.h"

#include <stdio.h>
#include <string.h>

#include <sofia-sip/msg.h>
#include <sofia-sip/sip_header.h>
#include <sofia-sip/su_alloc.h>

#include "ims/log.h"
#include "ims/ue_sip.h"
#include "ims/util.h"

/* A dropped request or answer stays unanswered this long (the UE's transaction timeout,
 * 64*T1) before its transaction is released: releasing it at once would answer it. */
#define DROP_HOLD_MS 32000

static void record(pcscf_txn_t *t, msg_t *msg, const ims_tl_record_t *base)
{
    size_t len = 0;
    char *text = ims_ue_sip_text(msg, &len);
    ims_tl_record_t r = *base;
    r.impi = t->tl_impi;
    r.impu = t->tl_impu;
    r.transport = t->tcp ? "TCP" : "UDP";
    r.sip = text;
    r.sip_len = len;
    ims_timeline_record(t->p->ue->tl, &r);
    if (text)
        su_free(msg_home(msg), text);
}

void pcscf_trace_request(pcscf_txn_t *t, msg_t *orig, const sip_t *sip)
{
    pcscf_t *p = t->p;
    if (!p->ue || (!p->ue->tl && !ims_faults_count(p->ue->faults)))
        return;
    ims_ue_sip_ids(sip, p->domain, t->tl_impi, sizeof(t->tl_impi), t->tl_impu, sizeof(t->tl_impu));
    if (!p->ue->tl)
        return;
    ims_tl_record_t r = {.kind = "request",
                         .direction = "in",
                         .method = t->method,
                         .call_id = t->call_id,
                         .cseq = sip->sip_cseq ? sip->sip_cseq->cs_seq : 0,
                         .src = t->src_ip,
                         .src_port = t->src_port,
                         .dst = p->local_ip,
                         .dst_port = p->local_port,
                         /* over the UE's SAs: the text is the decrypted one */
                         .protected_ = pcscf_ipsec_sip_arrived_protected(p, t)};
    record(t, orig, &r);
}

void pcscf_trace_answer(pcscf_txn_t *t, msg_t *msg, int status, const char *phrase,
                        const char *detail)
{
    pcscf_t *p = t->p;
    if (!p->ue || !p->ue->tl || !t->irq)
        return;
    msg_t *own = msg ? NULL : nta_incoming_getresponse(t->irq);
    msg_t *m = msg ? msg : own;
    sip_t const *sip = m ? sip_object(m) : NULL;
    ims_tl_record_t r = {.kind = "response",
                         .direction = "out",
                         .method = t->method,
                         .call_id = t->call_id,
                         .cseq = sip && sip->sip_cseq ? sip->sip_cseq->cs_seq : 0,
                         .status = status,
                         .reason = phrase,
                         .src = p->local_ip,
                         .src_port = p->local_port,
                         .dst = t->src_ip,
                         .dst_port = t->src_port,
                         .action = detail ? "rejected" : "relayed",
                         .hint_detail = detail,
                         .protected_ = pcscf_ipsec_sip_arrived_protected(p, t)};
    if (t->fault.kind) {
        r.hint = IMS_HINT_FAULT_FIRED;
        r.hint_detail = t->fault.summary;
    } else if (!detail) {
        r.hint = IMS_HINT_FORWARDED;
        r.hint_detail = "the answer of the S-CSCF, relayed";
    }
    record(t, m, &r);
    if (own)
        msg_destroy(own);
}

static void decision(pcscf_txn_t *t, const char *detail)
{
    if (!t->p->ue->tl)
        return;
    ims_tl_record_t r = {.impi = t->tl_impi,
                         .impu = t->tl_impu,
                         .kind = "decision",
                         .method = t->method,
                         .call_id = t->call_id,
                         .action = "fault",
                         .hint = IMS_HINT_FAULT_FIRED,
                         .hint_detail = detail};
    ims_timeline_record(t->p->ue->tl, &r);
}

static ims_fault_stage_t stage_of(pcscf_txn_t *t, const sip_t *sip)
{
    if (sip->sip_request->rq_method != sip_method_register)
        return IMS_STAGE_NONE;
    json_t *live = pcscf_cache_json(t->p->cache, t->tl_impu);
    json_decref(live);
    if (live)
        return IMS_STAGE_REREGISTER;
    return sip->sip_authorization ? IMS_STAGE_AUTH : IMS_STAGE_INITIAL;
}

static void release(pcscf_txn_t *t)
{
    pcscf_txn_log(t, 0, "dropped by a fault rule");
    pcscf_txn_free(t);
}

static void redispatch(pcscf_txn_t *t)
{
    msg_t *orig = nta_incoming_getrequest(t->irq);
    if (!orig) {
        pcscf_txn_fail(t, PCSCF_ERR_INTERNAL);
        return;
    }
    pcscf_dispatch(t->p, t, sip_object(orig), orig);
    msg_destroy(orig);
}

static void send_held(pcscf_txn_t *t)
{
    msg_t *msg = t->held;
    sip_t const *rs = sip_object(msg);
    int status = rs->sip_status ? rs->sip_status->st_status : 0;
    const char *phrase = rs->sip_status ? rs->sip_status->st_phrase : "";
    t->held = NULL;
    pcscf_txn_log(t, status, phrase);
    pcscf_trace_answer(t, msg, status, phrase, NULL);
    t->p->stats.responses_relayed++;
    nta_incoming_mreply(t->irq, msg);
    pcscf_txn_free(t);
}

bool pcscf_fault_request(pcscf_txn_t *t, const sip_t *sip)
{
    ims_faults_t *f = t->p->ue ? t->p->ue->faults : NULL;
    if (t->fault.kind || !ims_faults_count(f))
        return false;
    ims_fault_query_t q = {
        .impi = t->tl_impi, .impu = t->tl_impu, .method = t->method, .stage = stage_of(t, sip)};
    if (!ims_faults_match(f, &q, IMS_FAULT_DROP | IMS_FAULT_DELAY, (int64_t)ims_now_ms(),
                          &t->fault))
        return false;
    IMS_INFO("%s for %s %s call-id %s", t->fault.summary, t->method, t->tl_impu, t->call_id);
    decision(t, t->fault.summary);
    if (t->fault.on_answer)
        return false; /* acted on when the answer comes */
    if (t->fault.kind == IMS_FAULT_DROP)
        pcscf_txn_hold(t, DROP_HOLD_MS, release);
    else
        pcscf_txn_hold(t, t->fault.delay_ms, redispatch);
    return true;
}

bool pcscf_fault_answer(pcscf_txn_t *t, msg_t *msg)
{
    if (!t->fault.on_answer || t->held)
        return false;
    char detail[400];
    sip_t const *rs = sip_object(msg);
    snprintf(detail, sizeof(detail), "%s: %d %s", t->fault.summary,
             rs->sip_status ? rs->sip_status->st_status : 0,
             rs->sip_status ? rs->sip_status->st_phrase : "");
    t->held = msg;
    if (t->fault.kind == IMS_FAULT_DROP) {
        decision(t, detail);
        pcscf_txn_hold(t, DROP_HOLD_MS, release);
    } else {
        t->fault.on_answer = false; /* sent as it is when the delay ends */
        pcscf_txn_hold(t, t->fault.delay_ms, send_held);
    }
    return true;
}
