/* The reg event package in the S-CSCF (RFC 3680, TS 24.229 §5.4.2.1): SUBSCRIBE handling,
 * the NOTIFYs the registrar's changes trigger, and their persistence and metrics. */
#ifndef SCSCF_REGEVENT_H
#define SCSCF_REGEVENT_H

#include "notifier.h"
#include "reginfo.h"
#include "register.h"
#include "subscription.h"

struct scscf_regevent {
    scscf_subs_t *subs;
    scscf_notifier_t *notifier; /* NULL without an nta agent (the fuzzer): nothing is sent */
    unsigned long subscribes, refreshes, unsubscribes, expired, refused;
};

/* Creates the store and, when s->agent exists, the notifier. 0 or an errno. */
int scscf_regevent_create(scscf_t *s, const scscf_subs_limits_t *lim);
/* Destroys NOTIFYs in flight and every subscription (they stay in the state file). */
void scscf_regevent_free(scscf_t *s);

/* ---- regevent.c: SUBSCRIBE ---- */

/* Answers a SUBSCRIBE (initial, refresh or unsubscribe) and sends the NOTIFY it calls for. */
void scscf_regevent_subscribe(const scscf_req_t *rq);
/* Ends the subscriptions due at now with a terminated NOTIFY (reason=timeout). */
void scscf_regevent_expire(scscf_t *s, int64_t now);

/* ---- regevent_notify.c: what the registrar's changes tell the subscribers ---- */

/* The contact changes of one registration, collected while the store changes and told to
 * every subscriber of the set once, in one full-state NOTIFY each. */
typedef struct scscf_regevent_batch scscf_regevent_batch_t;

/* NULL when nobody watches rec's implicit set (then note and commit do nothing: the
 * REGISTER path pays one lookup per IMPU) or when out of memory. */
scscf_regevent_batch_t *scscf_regevent_begin(scscf_t *s, const scscf_record_t *rec);
/* Notes that binding b changed by ev; call before b is removed (its text is copied). */
void scscf_regevent_note(scscf_regevent_batch_t *bt, const scscf_binding_t *b,
                         scscf_reg_event_t ev);
/* Notifies the subscribers with rec's bindings now (rec NULL or without bindings: the
 * registration ended, every subscription of the set is terminated), then frees bt. */
void scscf_regevent_commit(scscf_t *s, scscf_regevent_batch_t *bt, const scscf_record_t *rec);
/* The registration of rec ends by ev (unregistered, expired, deactivated, rejected): every
 * binding terminated with ev, every subscription terminated. Call before removing rec. */
void scscf_regevent_ended(scscf_t *s, const scscf_record_t *rec, scscf_reg_event_t ev);

/* Sends the full state of rec to one subscription (the NOTIFY after a SUBSCRIBE). */
int scscf_regevent_notify_one(scscf_t *s, scscf_sub_t *sub, const scscf_record_t *rec,
                              scscf_notify_end_t end);

/* The subscriptions watching any IMPU of rec's set (status API). */
json_t *scscf_regevent_json(scscf_t *s, const scscf_record_t *rec);
/* Prometheus lines. */
void scscf_regevent_metrics(scscf_t *s, FILE *f);

/* Persistence in the state file: load at start (after the location store), write-behind
 * of what changed at each tick. */
void scscf_regevent_load(scscf_t *s);
void scscf_regevent_flush(scscf_t *s);

#endif
