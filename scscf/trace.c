/* The S-CSCF's part of the UE test controls: every request and reply into the timeline
 * with the hint that explains it, challenges nobody answered, and the fault rules. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sofia-sip/msg.h>
#include <sofia-sip/su.h>

#include "ims/log.h"
#include "ims/sip.h"
#include "ims/ue_sip.h"
#include "ims/util.h"
#include "register.h"

/* Challenges waiting for an answer, oldest first; bounded (diagnostics only: an overflow
 * forgets the oldest, it never blocks or grows). */
#define MAX_WATCH 4096
/* A dropped request stays unanswered this long (the UE's transaction timeout, 64*T1)
 * before its transaction is released: releasing it at once would make nta answer 500. */
#define DROP_HOLD_MS 32000

typedef struct watch {
    char nonce[64], impi[256], impu[512];
    uint64_t due_ms;
} watch_t;

/* A request or reply held by a delay rule. */
typedef struct deferred {
    struct deferred *next;
    scscf_t *s;
    su_timer_t *timer;
    scscf_req_t rq;
    bool is_reply, is_drop;
    int status;
    char *phrase, *headers, *detail;
    scscf_why_t why;
} deferred_t;

struct scscf_trace {
    watch_t *ring;
    size_t head, n;
    deferred_t *held;
    char host[64];
    uint16_t port;
};

static struct scscf_trace *state(scscf_t *s)
{
    if (!s->trace && (s->trace = calloc(1, sizeof(*s->trace)))) {
        s->trace->ring = calloc(MAX_WATCH, sizeof(watch_t));
        if (ims_parse_hostport(s->cfg.sip ? s->cfg.sip : "", s->trace->host, sizeof(s->trace->host),
                               &s->trace->port, 6060))
            snprintf(s->trace->host, sizeof(s->trace->host), "127.0.0.1");
    }
    return s->trace;
}

void scscf_trace_ids(const scscf_t *s, sip_t const *sip, char *impi, size_t impilen, char *impu,
                     size_t impulen)
{
    ims_ue_sip_ids(sip, s->cfg.domain, impi, impilen, impu, impulen);
}

/* "udp:1.2.3.4:5060" / "tcp:[::1]:5060" -> ip, port, "UDP"/"TCP". */
static void split_src(const char *src, char *ip, size_t iplen, uint16_t *port, const char **tr)
{
    *tr = strncmp(src, "tcp:", 4) == 0 ? "TCP" : "UDP";
    const char *h = strchr(src, ':');
    h = h ? h + 1 : src;
    char tmp[80];
    snprintf(tmp, sizeof(tmp), "%s", h);
    if (ims_parse_hostport(tmp, ip, iplen, port, 0)) {
        ip[0] = '\0';
        *port = 0;
    }
}

void scscf_trace_request(scscf_t *s, msg_t *msg, sip_t const *sip)
{
    struct scscf_trace *tr;
    if (!s->ue.tl || !sip || !sip->sip_request || !(tr = state(s)))
        return;
    char impi[256], impu[512], ip[64];
    uint16_t port;
    bool tcp;
    scscf_trace_ids(s, sip, impi, sizeof(impi), impu, sizeof(impu));
    ims_sip_source(msg, ip, sizeof(ip), &port, &tcp);
    size_t len;
    char *text = ims_ue_sip_text(msg, &len);
    ims_tl_record_t r = {.impi = impi,
                         .impu = impu,
                         .kind = "request",
                         .direction = "in",
                         .method = sip->sip_request->rq_method_name,
                         .call_id = sip->sip_call_id ? sip->sip_call_id->i_id : NULL,
                         .cseq = sip->sip_cseq ? sip->sip_cseq->cs_seq : 0,
                         .src = ip,
                         .src_port = port,
                         .dst = tr->host,
                         .dst_port = tr->port,
                         .transport = tcp ? "TCP" : "UDP",
                         .sip = text,
                         .sip_len = len};
    ims_timeline_record(s->ue.tl, &r);
    if (text)
        su_free(msg_home(msg), text);
}

/* The hint a reply status implies when the caller gave none: only a REGISTER is
 * challenged or registered (a 200 to the P-CSCF's SUBSCRIBE registers nothing). */
static ims_hint_t status_hint(sip_t const *rq, int status)
{
    if (!rq || !rq->sip_request || rq->sip_request->rq_method != sip_method_register)
        return IMS_HINT_NONE;
    return status == 401   ? IMS_HINT_CHALLENGED
           : status == 200 ? IMS_HINT_REGISTERED
                           : IMS_HINT_NONE;
}

void scscf_trace_reply(const scscf_req_t *rq, int status, const char *phrase, msg_t *sent,
                       const scscf_why_t *why)
{
    scscf_t *s = rq->s;
    struct scscf_trace *tr;
    if (!s->ue.tl || !(tr = state(s)))
        return;
    char ip[64];
    uint16_t port;
    const char *transport;
    split_src(rq->src, ip, sizeof(ip), &port, &transport);
    sip_t const *sip = sent ? sip_object(sent) : NULL;
    size_t len;
    char *text = ims_ue_sip_text(sent, &len);
    ims_hint_t hint = why && why->hint ? why->hint : status_hint(rq->sip, status);
    const char *action = why && why->action ? why->action
                         : status == 401    ? "challenge"
                         : status < 300     ? "accepted"
                                            : "rejected";
    ims_tl_record_t r = {.impi = rq->impi,
                         .impu = rq->impu,
                         .kind = "response",
                         .direction = "out",
                         .method = sip && sip->sip_cseq ? sip->sip_cseq->cs_method_name : NULL,
                         .call_id = sip && sip->sip_call_id ? sip->sip_call_id->i_id : NULL,
                         .cseq = sip && sip->sip_cseq ? sip->sip_cseq->cs_seq : 0,
                         .status = status,
                         .reason = phrase,
                         .src = tr->host,
                         .src_port = tr->port,
                         .dst = ip,
                         .dst_port = port,
                         .transport = transport,
                         .action = action,
                         .hint = hint,
                         .hint_detail = why ? why->detail : NULL,
                         .sip = text,
                         .sip_len = len};
    if (rq->fault.kind)
        r.details = json_pack("{s:i, s:s}", "fault_rule", (int)rq->fault.rule_id, "fault",
                              rq->fault.summary);
    ims_timeline_record(s->ue.tl, &r);
    if (text)
        su_free(msg_home(sent), text);
}

void scscf_trace_decision(const scscf_req_t *rq, const char *action, ims_hint_t hint,
                          const char *detail)
{
    if (!rq->s->ue.tl)
        return;
    ims_tl_record_t r = {.impi = rq->impi,
                         .impu = rq->impu,
                         .kind = "decision",
                         .method = "REGISTER",
                         .action = action,
                         .hint = hint,
                         .hint_detail = detail};
    ims_timeline_record(rq->s->ue.tl, &r);
}

void scscf_trace_challenged(const scscf_req_t *rq, const char *nonce)
{
    struct scscf_trace *tr;
    if (!rq->s->ue.tl || !nonce || !(tr = state(rq->s)) || !tr->ring)
        return;
    if (tr->n == MAX_WATCH) { /* full: the oldest is forgotten */
        tr->head = (tr->head + 1) % MAX_WATCH;
        tr->n--;
    }
    watch_t *w = &tr->ring[(tr->head + tr->n++) % MAX_WATCH];
    snprintf(w->nonce, sizeof(w->nonce), "%s", nonce);
    snprintf(w->impi, sizeof(w->impi), "%s", rq->impi);
    snprintf(w->impu, sizeof(w->impu), "%s", rq->impu);
    w->due_ms = ims_now_ms() + (uint64_t)rq->s->no_answer_ms;
}

void scscf_trace_tick(scscf_t *s, uint64_t now_ms)
{
    struct scscf_trace *tr = s->trace;
    while (tr && tr->n && tr->ring[tr->head].due_ms <= now_ms) {
        watch_t *w = &tr->ring[tr->head];
        if (scscf_auth_unanswered(s->auth, w->nonce)) {
            scscf_req_t rq = {.s = s};
            snprintf(rq.impi, sizeof(rq.impi), "%s", w->impi);
            snprintf(rq.impu, sizeof(rq.impu), "%s", w->impu);
            char detail[64];
            snprintf(detail, sizeof(detail), "no credentials within %ld s", s->no_answer_ms / 1000);
            scscf_trace_decision(&rq, "no_answer", IMS_HINT_NO_ANSWER_401, detail);
        }
        tr->head = (tr->head + 1) % MAX_WATCH;
        tr->n--;
    }
}

/* ---- fault rules ---- */

static void deferred_unlink(scscf_t *s, deferred_t *d)
{
    for (deferred_t **pp = &s->trace->held; *pp; pp = &(*pp)->next)
        if (*pp == d) {
            *pp = d->next;
            break;
        }
}

static void deferred_free(deferred_t *d)
{
    su_timer_destroy(d->timer);
    free(d->phrase);
    free(d->headers);
    free(d->detail);
    free(d);
}

/* The held request or reply goes on; the rule is not consulted again for it. */
static void deferred_run(deferred_t *d)
{
    if (d->is_drop) {
        msg_t *m = d->rq.rsp.reply(d->rq.rsp.ctx, 0, NULL, NULL, NULL);
        if (m)
            msg_destroy(m);
        return;
    }
    d->rq.fault.on_answer = false;
    d->rq.fault.kind = IMS_FAULT_DELAY;
    if (d->is_reply)
        scscf_reply_send_why(&d->rq, d->status, d->phrase, d->headers, &d->why);
    else
        scscf_register_handle(&d->rq);
}

static void on_deferred(su_root_magic_t *magic, su_timer_t *t, su_timer_arg_t *arg)
{
    deferred_t *d = arg;
    (void)magic;
    (void)t;
    deferred_unlink(d->s, d);
    deferred_run(d);
    deferred_free(d);
}

static bool defer(const scscf_req_t *rq, bool is_reply, int status, const char *phrase,
                  const char *headers, const scscf_why_t *why)
{
    bool drop = rq->fault.kind == IMS_FAULT_DROP;
    struct scscf_trace *tr = state(rq->s);
    deferred_t *d = tr ? calloc(1, sizeof(*d)) : NULL;
    if (!d)
        return false;
    *d = (deferred_t){
        .s = rq->s, .rq = *rq, .is_reply = is_reply, .is_drop = drop, .status = status};
    d->phrase = phrase ? strdup(phrase) : NULL;
    d->headers = headers ? strdup(headers) : NULL;
    if (why) {
        d->why = *why;
        d->detail = why->detail ? strdup(why->detail) : NULL;
        d->why.detail = d->detail;
    }
    d->timer = su_timer_create(su_root_task(rq->s->root),
                               drop ? DROP_HOLD_MS : (su_duration_t)rq->fault.delay_ms);
    if (!d->timer || su_timer_set(d->timer, on_deferred, d) != 0) {
        if (d->timer)
            su_timer_destroy(d->timer);
        free(d->phrase);
        free(d->headers);
        free(d->detail);
        free(d);
        return false;
    }
    d->next = tr->held;
    tr->held = d;
    return true;
}

/* The reply a reply rule makes: its code and reason, Retry-After, and a Warning naming
 * the rule so nobody mistakes it for a real failure. */
static void fault_reply(scscf_req_t *rq)
{
    const ims_fault_action_t *a = &rq->fault;
    char hdr[512], retry[40] = "";
    if (a->retry_after >= 0)
        snprintf(retry, sizeof(retry), "Retry-After: %d\r\n", a->retry_after);
    snprintf(hdr, sizeof(hdr), "Warning: 399 %s \"Fault injection: %s\"\r\n%s", rq->s->cfg.host,
             a->summary, retry);
    scscf_why_t why = {IMS_HINT_FAULT_FIRED, a->summary, "fault"};
    scscf_reply_send_why(rq, a->code, a->reason, hdr, &why);
}

bool scscf_fault_check(scscf_req_t *rq, ims_fault_stage_t stage, unsigned kinds)
{
    scscf_t *s = rq->s;
    if (rq->fault.kind || !ims_faults_count(s->ue.faults))
        return false;
    ims_fault_query_t q = {
        .impi = rq->impi, .impu = rq->impu, .method = "REGISTER", .stage = stage};
    if (!ims_faults_match(s->ue.faults, &q, kinds, (int64_t)ims_now_ms(), &rq->fault))
        return false;
    IMS_INFO("%s for %s (stage %s)", rq->fault.summary, rq->impu, ims_fault_stage_name(stage));
    scscf_trace_decision(rq, "fault", IMS_HINT_FAULT_FIRED, rq->fault.summary);
    switch (rq->fault.kind) {
    case IMS_FAULT_REPLY:
        fault_reply(rq);
        return true;
    case IMS_FAULT_DROP:
        if (rq->fault.on_answer)
            return false;
        if (defer(rq, false, 0, NULL, NULL, NULL)) /* held unanswered, then released */
            return true;
        rq->fault.kind = 0;
        return false;
    case IMS_FAULT_DELAY:
        if (rq->fault.on_answer)
            return false;
        if (defer(rq, false, 0, NULL, NULL, NULL))
            return true;
        rq->fault.kind = 0; /* out of memory: go on undelayed */
        return false;
    default:
        return false; /* acted on further down (stale nonce, SQN, expires) */
    }
}

bool scscf_fault_hold_reply(const scscf_req_t *rq, int status, const char *phrase,
                            const char *headers, const scscf_why_t *why)
{
    const ims_fault_action_t *a = &rq->fault;
    if (!a->on_answer || (a->kind != IMS_FAULT_DROP && a->kind != IMS_FAULT_DELAY))
        return false;
    if (a->kind == IMS_FAULT_DELAY)
        return defer(rq, true, status, phrase, headers, why);
    char detail[400];
    snprintf(detail, sizeof(detail), "%s: %d %s not sent", a->summary, status, phrase);
    scscf_trace_decision(rq, "fault", IMS_HINT_FAULT_FIRED, detail);
    if (defer(rq, true, status, phrase, headers, why))
        return true;
    msg_t *m = rq->rsp.reply(rq->rsp.ctx, 0, NULL, NULL, NULL);
    if (m)
        msg_destroy(m);
    return true;
}

void scscf_trace_free(scscf_t *s)
{
    struct scscf_trace *tr = s->trace;
    if (!tr)
        return;
    /* Held requests and replies are answered now: the transactions must not outlive the
     * agent. */
    while (tr->held) {
        deferred_t *d = tr->held;
        tr->held = d->next;
        deferred_run(d);
        deferred_free(d);
    }
    free(tr->ring);
    free(tr);
    s->trace = NULL;
}
