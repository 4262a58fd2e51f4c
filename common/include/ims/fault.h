/* Fault injection for UE testing: rules that make a CSCF misbehave on purpose for chosen
 * identities and stages, each bounded by a count and a lifetime. Loop thread only. */
#ifndef IMS_FAULT_H
#define IMS_FAULT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Where a request is in a registration. NONE: not a REGISTER (only stage "any" rules
 * match it). */
typedef enum ims_fault_stage {
    IMS_STAGE_ANY = 0,
    IMS_STAGE_INITIAL,    /* REGISTER without credentials (gets the challenge) */
    IMS_STAGE_AUTH,       /* REGISTER answering a challenge */
    IMS_STAGE_REREGISTER, /* REGISTER refreshing a live registration */
    IMS_STAGE_NONE,
} ims_fault_stage_t;

/* Action kinds, as bits so a call site can say which it can carry out. */
typedef enum ims_fault_kind {
    IMS_FAULT_REPLY = 1 << 0,           /* answer with code/reason/Retry-After */
    IMS_FAULT_DROP = 1 << 1,            /* drop the request (or its answer) silently */
    IMS_FAULT_DELAY = 1 << 2,           /* hold the request (or its answer) delay_ms */
    IMS_FAULT_STALE_NONCE = 1 << 3,     /* treat the credentials' nonce as expired */
    IMS_FAULT_SQN_OUT_OF_SYNC = 1 << 4, /* challenge with an SQN the UE must refuse */
    IMS_FAULT_EXPIRES = 1 << 5,         /* grant this expiry instead */
    IMS_FAULT_DEREGISTER = 1 << 6,      /* network-initiated deregistration after N s */
    IMS_FAULT_ALL = (1 << 7) - 1,
} ims_fault_kind_t;

typedef struct ims_fault_action {
    unsigned rule_id;
    ims_fault_kind_t kind;
    int code;          /* REPLY */
    char reason[128];  /* REPLY: reason phrase; DEREGISTER: "deactivated"|"rejected" */
    int retry_after;   /* REPLY: seconds, -1 = none */
    unsigned delay_ms; /* DELAY */
    unsigned expires;  /* EXPIRES */
    unsigned after_s;  /* DEREGISTER */
    bool on_answer;    /* DROP/DELAY: the answer rather than the request */
    char summary[200]; /* one line for the timeline: "rule 3: reply 503 ..." */
} ims_fault_action_t;

typedef struct ims_fault_query {
    const char *impi, *impu, *imsi; /* any may be NULL; the IMSI is derived from an IMPI
                                       "digits@..." when not given */
    const char *method;
    ims_fault_stage_t stage;
} ims_fault_query_t;

typedef struct ims_faults_opts {
    const char *daemon; /* for messages and metric names: "scscf", "pcscf" */
    unsigned allowed;   /* ims_fault_kind_t bits this daemon carries out */
    /* Why a kind outside `allowed` is refused, per bit index (NULL = a generic sentence). */
    const char *why_not[7];
    size_t max_rules; /* 0 = 64 */
} ims_faults_opts_t;

typedef struct ims_faults ims_faults_t;

int ims_faults_new(const ims_faults_opts_t *opts, ims_faults_t **out);
void ims_faults_free(ims_faults_t *f);

/* Validates body (the POST document) and stores the rule. Returns 0 with *rule (a new
 * JSON view of the stored rule, caller decrefs), or EINVAL (invalid: the exact field and
 * reason in err) or ENOSPC (the rule table is full: err says so), storing nothing. */
int ims_faults_add(ims_faults_t *f, const json_t *body, int64_t now_ms, json_t **rule, char *err,
                   size_t errlen);
/* {"items":[...], "total":N} of the live rules (expired ones are dropped first). */
json_t *ims_faults_list(ims_faults_t *f, int64_t now_ms);
/* 0, or ENOENT when no live rule has that id. */
int ims_faults_delete(ims_faults_t *f, unsigned id, int64_t now_ms);

/* The first live rule (oldest first) that matches q and whose action kind is in `kinds`
 * (what the caller can carry out at this point): consumes one of its count (removing
 * the rule at zero), fills *out and returns true. Returns false when nothing fires. */
bool ims_faults_match(ims_faults_t *f, const ims_fault_query_t *q, unsigned kinds, int64_t now_ms,
                      ims_fault_action_t *out);

/* Removes every rule; returns how many there were. */
size_t ims_faults_clear(ims_faults_t *f);
/* Number of live rules (0 lets call sites skip building a query). */
size_t ims_faults_count(const ims_faults_t *f);

/* Prometheus lines: <daemon>_faults_fired_total{action=...}, _faults_rules, ... */
void ims_faults_metrics(const ims_faults_t *f, FILE *out);

/* "initial" -> IMS_STAGE_INITIAL ...; -1 when unknown. And back. */
int ims_fault_stage_parse(const char *s);
const char *ims_fault_stage_name(ims_fault_stage_t s);

#endif
