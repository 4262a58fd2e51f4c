/* What the registrar's changes tell reg event subscribers: the full state of a registration
 * as reginfo (RFC 3680), one NOTIFY per subscription per change, and the subscriptions'
 * status view, metrics and persistence. */
#include "regevent.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sofia-sip/su_alloc.h>

#include "ims/log.h"
#include "ims/util.h"

/* One contact as it changed, copied: a removed binding is gone by the time of the NOTIFY. */
typedef struct change {
    char *contact, *params, *key, *call_id;
    uint32_t cseq;
    int64_t expires_at;
    scscf_reg_event_t ev;
} change_t;

struct scscf_regevent_batch {
    su_home_t home[1]; /* everything below */
    char **impus;
    bool *barred;
    size_t nimpus;
    change_t *ch;
    size_t n, cap;
};

/* What identifies a binding in NOTIFYs: its instance and reg-id (RFC 5626), else its URI. */
static char *binding_key(su_home_t *home, const scscf_binding_t *b)
{
    if (!b->instance)
        return su_strdup(home, b->contact);
    return su_sprintf(home, "%s;%ld", b->instance, b->reg_id);
}

static bool watched(scscf_t *s, const char *const *impus, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (scscf_subs_count_impu(s->re->subs, impus[i]))
            return true;
    return false;
}

scscf_regevent_batch_t *scscf_regevent_begin(scscf_t *s, const scscf_record_t *rec)
{
    const char *const *impus;
    const bool *barred;
    size_t n = rec ? scscf_record_impus(rec, &impus, &barred) : 0;
    if (!s->re || !watched(s, impus, n))
        return NULL;
    scscf_regevent_batch_t *bt = su_home_new(sizeof(*bt));
    if (!bt)
        return NULL;
    bt->impus = su_zalloc(bt->home, (n + 1) * sizeof(char *));
    bt->barred = su_zalloc(bt->home, (n + 1) * sizeof(bool));
    for (size_t i = 0; bt->impus && bt->barred && i < n; i++) {
        bt->impus[i] = su_strdup(bt->home, impus[i]);
        bt->barred[i] = barred[i];
    }
    bt->nimpus = bt->impus && bt->barred ? n : 0;
    return bt;
}

void scscf_regevent_note(scscf_regevent_batch_t *bt, const scscf_binding_t *b, scscf_reg_event_t ev)
{
    if (!bt)
        return;
    if (bt->n == bt->cap) {
        size_t cap = bt->cap ? 2 * bt->cap : 4;
        change_t *ch = su_realloc(bt->home, bt->ch, cap * sizeof(*ch));
        if (!ch)
            return;
        bt->ch = ch;
        bt->cap = cap;
    }
    bt->ch[bt->n++] = (change_t){
        .contact = su_strdup(bt->home, b->contact),
        .params = su_strdup(bt->home, b->params),
        .key = binding_key(bt->home, b),
        .call_id = su_strdup(bt->home, b->call_id),
        .cseq = b->cseq,
        .expires_at = b->expires_at,
        .ev = ev,
    };
}

/* ---- one NOTIFY ---- */

static const change_t *change_of(const scscf_regevent_batch_t *bt, const char *key)
{
    for (size_t i = 0; bt && i < bt->n; i++)
        if (bt->ch[i].key && strcmp(bt->ch[i].key, key) == 0)
            return &bt->ch[i];
    return NULL;
}

/* The contacts of the NOTIFY: every live binding (with its change, else "registered": we
 * keep no history of older events), then the bindings the change removed. */
static size_t contacts_of(su_home_t *home, const scscf_record_t *rec,
                          const scscf_regevent_batch_t *bt, int64_t now,
                          scscf_reginfo_contact_t **out)
{
    size_t n = (rec ? scscf_record_binding_count(rec) : 0) + (bt ? bt->n : 0), k = 0;
    scscf_reginfo_contact_t *v = su_zalloc(home, (n + 1) * sizeof(*v));
    for (const scscf_binding_t *b = rec ? scscf_record_bindings(rec) : NULL; v && b; b = b->next) {
        char *key = binding_key(home, b);
        const change_t *c = key ? change_of(bt, key) : NULL;
        v[k++] = (scscf_reginfo_contact_t){
            .uri = b->contact,
            .params = b->params,
            .id_key = key,
            .call_id = b->call_id,
            .cseq = b->cseq,
            .event = c && !scscf_reg_event_terminates(c->ev) ? c->ev : SCSCF_EV_REGISTERED,
            .expires = b->expires_at > now ? (long)(b->expires_at - now) : 0,
            .retry_after = -1,
        };
    }
    for (size_t i = 0; v && bt && i < bt->n; i++) {
        const change_t *c = &bt->ch[i];
        if (!scscf_reg_event_terminates(c->ev) || !c->contact)
            continue;
        v[k++] = (scscf_reginfo_contact_t){
            .uri = c->contact,
            .params = c->params,
            .id_key = c->key,
            .call_id = c->call_id,
            .cseq = c->cseq,
            .event = c->ev,
            .expires = 0,
            .retry_after = -1,
        };
    }
    *out = v;
    return v ? k : 0;
}

/* Sends sub the state of the set (impus/barred) with these contacts. A UE is not told of
 * barred IMPUs (TS 24.229 §5.4.2.1.2 allows leaving them out); its P-CSCF is. */
static int send_state(scscf_t *s, scscf_sub_t *sub, const char *const *impus, const bool *barred,
                      size_t nimpus, const scscf_reginfo_contact_t *cs, size_t ncs,
                      scscf_notify_end_t end)
{
    scscf_reginfo_reg_t regs[64];
    size_t n = 0;
    bool active = false;
    for (size_t i = 0; i < ncs; i++)
        active |= !scscf_reg_event_terminates(cs[i].event);
    for (size_t i = 0; i < nimpus && n < sizeof(regs) / sizeof(regs[0]); i++) {
        if (barred[i] && sub->kind == SCSCF_SUB_UE)
            continue;
        regs[n++] = (scscf_reginfo_reg_t){
            .aor = impus[i],
            .state = active ? SCSCF_REG_ACTIVE : SCSCF_REG_TERMINATED,
            .contacts = cs,
            .ncontacts = ncs,
        };
    }
    if (!s->re->notifier) { /* no SIP side (the fuzzer): only the store's bookkeeping */
        if (end != SCSCF_NOTIFY_ACTIVE)
            scscf_subs_remove(s->re->subs, sub);
        return 0;
    }
    return scscf_notifier_send(s->re->notifier, sub, regs, n, end, ims_wall_s());
}

int scscf_regevent_notify_one(scscf_t *s, scscf_sub_t *sub, const scscf_record_t *rec,
                              scscf_notify_end_t end)
{
    su_home_t home[1] = {SU_HOME_INIT(home)};
    const char *const *impus = NULL;
    const bool *barred = NULL;
    size_t nimpus = rec ? scscf_record_impus(rec, &impus, &barred) : 0;
    const char *one[1] = {sub->impu};
    const bool unbarred[1] = {false};
    if (!nimpus) { /* the registration is gone: its IMPU alone, terminated */
        impus = one;
        barred = unbarred;
        nimpus = 1;
    }
    scscf_reginfo_contact_t *cs = NULL;
    size_t ncs = contacts_of(home, rec, NULL, ims_wall_s(), &cs);
    int rc = send_state(s, sub, impus, barred, nimpus, cs, ncs, end);
    su_home_deinit(home);
    return rc;
}

/* ---- every subscriber of a set ---- */

typedef struct fanout {
    scscf_t *s;
    const scscf_regevent_batch_t *bt;
    const scscf_reginfo_contact_t *cs;
    size_t ncs;
    scscf_notify_end_t end;
} fanout_t;

static void notify_sub(void *ctx, scscf_sub_t *sub)
{
    fanout_t *f = ctx;
    send_state(f->s, sub, (const char *const *)f->bt->impus, f->bt->barred, f->bt->nimpus, f->cs,
               f->ncs, f->end);
}

void scscf_regevent_commit(scscf_t *s, scscf_regevent_batch_t *bt, const scscf_record_t *rec)
{
    if (!bt)
        return;
    fanout_t f = {.s = s, .bt = bt, .end = SCSCF_NOTIFY_ACTIVE};
    scscf_reginfo_contact_t *cs = NULL;
    f.ncs = contacts_of(bt->home, rec, bt, ims_wall_s(), &cs);
    f.cs = cs;
    if (!rec || !scscf_record_bindings(rec)) {
        /* RFC 6665 §4.1.3: rejected tells the watcher not to come back; otherwise the
         * resource (the registration) no longer exists */
        f.end = SCSCF_NOTIFY_NORESOURCE;
        for (size_t i = 0; i < bt->n; i++)
            if (bt->ch[i].ev == SCSCF_EV_REJECTED)
                f.end = SCSCF_NOTIFY_REJECTED;
    }
    for (size_t i = 0; i < bt->nimpus; i++)
        scscf_subs_for_impu(s->re->subs, bt->impus[i], notify_sub, &f);
    su_home_unref(bt->home);
}

void scscf_regevent_ended(scscf_t *s, const scscf_record_t *rec, scscf_reg_event_t ev)
{
    scscf_regevent_batch_t *bt = scscf_regevent_begin(s, rec);
    for (const scscf_binding_t *b = scscf_record_bindings(rec); bt && b; b = b->next)
        scscf_regevent_note(bt, b, ev);
    scscf_regevent_commit(s, bt, NULL);
}

/* ---- status, metrics, persistence ---- */

json_t *scscf_regevent_json(scscf_t *s, const scscf_record_t *rec)
{
    json_t *all = json_array();
    const char *const *impus;
    const bool *barred;
    size_t n = s->re ? scscf_record_impus(rec, &impus, &barred) : 0;
    int64_t now = ims_wall_s();
    for (size_t i = 0; i < n; i++) {
        json_t *one = scscf_subs_json_impu(s->re->subs, impus[i], now);
        json_array_extend(all, one);
        json_decref(one);
    }
    return all;
}

void scscf_regevent_metrics(scscf_t *s, FILE *f)
{
    scscf_regevent_t *re = s->re;
    if (!re)
        return;
    static const scscf_notifier_stats_t none;
    const scscf_notifier_stats_t *st = re->notifier ? scscf_notifier_stats(re->notifier) : &none;
    fprintf(f,
            "# HELP scscf_reg_subscriptions Live reg event subscriptions.\n"
            "# TYPE scscf_reg_subscriptions gauge\nscscf_reg_subscriptions %zu\n"
            "# HELP scscf_reg_subscribe_total SUBSCRIBEs to the reg event by outcome.\n"
            "# TYPE scscf_reg_subscribe_total counter\n"
            "scscf_reg_subscribe_total{result=\"created\"} %lu\n"
            "scscf_reg_subscribe_total{result=\"refreshed\"} %lu\n"
            "scscf_reg_subscribe_total{result=\"unsubscribed\"} %lu\n"
            "scscf_reg_subscribe_total{result=\"refused\"} %lu\n"
            "# HELP scscf_reg_subscriptions_expired_total Subscriptions that ran out.\n"
            "# TYPE scscf_reg_subscriptions_expired_total counter\n"
            "scscf_reg_subscriptions_expired_total %lu\n"
            "# HELP scscf_reg_notify_total reg event NOTIFYs: sent, and how they ended.\n"
            "# TYPE scscf_reg_notify_total counter\n"
            "scscf_reg_notify_total{result=\"sent\"} %lu\n"
            "scscf_reg_notify_total{result=\"answered\"} %lu\n"
            "scscf_reg_notify_total{result=\"failed\"} %lu\n"
            "scscf_reg_notify_total{result=\"timed_out\"} %lu\n"
            "# HELP scscf_reg_subscriptions_lost_total Subscriptions ended by a failed NOTIFY "
            "(481, 408, no answer).\n"
            "# TYPE scscf_reg_subscriptions_lost_total counter\n"
            "scscf_reg_subscriptions_lost_total %lu\n",
            scscf_subs_count(re->subs), re->subscribes, re->refreshes, re->unsubscribes,
            re->refused, re->expired, st->sent, st->answered, st->failed, st->timed_out, st->ended);
}

static void restore(void *ctx, const char *doc)
{
    scscf_t *s = ctx;
    int rc = scscf_subs_restore(s->re->subs, doc, ims_wall_s());
    if (rc && rc != ESRCH)
        IMS_WARN("state file: a stored subscription could not be restored (%s)", strerror(rc));
}

/* A subscription whose registration did not survive the restart (it expired meanwhile)
 * learns so now. */
static void end_orphan(void *ctx, scscf_sub_t *sub)
{
    scscf_t *s = ctx;
    if (!scscf_location_find_impu(s->loc, sub->impu))
        scscf_regevent_notify_one(s, sub, NULL, SCSCF_NOTIFY_NORESOURCE);
}

void scscf_regevent_load(scscf_t *s)
{
    scscf_location_docs_load(s->loc, restore, s);
    size_t n = scscf_subs_count(s->re->subs);
    scscf_subs_for_each(s->re->subs, end_orphan, s);
    if (n)
        IMS_INFO("state: %zu reg event subscriptions restored, %zu with a live registration", n,
                 scscf_subs_count(s->re->subs));
}

static void persist(void *ctx, const char *key, const char *doc)
{
    scscf_location_docs_put(ctx, key, doc);
}

void scscf_regevent_flush(scscf_t *s)
{
    if (!s->re || !scscf_subs_dirty(s->re->subs))
        return;
    scscf_subs_flush(s->re->subs, persist, s->loc);
    scscf_location_docs_commit(s->loc);
}
