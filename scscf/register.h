/* How the rooms of the S-CSCF REGISTER path call each other: one request context, the header
 * buffer, replies, request checks, the challenge (MAR), the binding save and SAR reports. */
#ifndef SCSCF_REGISTER_H
#define SCSCF_REGISTER_H

#include "ims/digest.h"
#include "ims/fault.h"
#include "ims/hint.h"
#include "scscf.h"

/* One request on its way to its reply. Copied whole into a MAR in flight, so it holds its
 * strings itself; sip stays valid until the reply (the responder's contract). */
typedef struct scscf_req {
    scscf_t *s;
    scscf_responder_t rsp;
    sip_t const *sip;
    char src[80];   /* transport source as stored in bindings, "udp:127.0.0.1:5060" */
    char peer[64];  /* the bare source host the failed-authentication limits count */
    char impu[512]; /* the To AOR once known, "" before */
    char impi[256]; /* the IMPI it is about (Authorization username, else from To), "" before */
    ims_fault_action_t fault; /* the fault rule that fired for it; kind 0: none (trace.c) */
} scscf_req_t;

/* What the timeline says about a reply: why it was sent (trace.c). */
typedef struct scscf_why {
    ims_hint_t hint;
    const char *detail; /* appended to the hint, may be NULL */
    const char *action; /* "challenge", "registered", ... (NULL: from the status) */
} scscf_why_t;

/* ---- hbuf.c: reply header lines ---- */

/* Reply header lines are built in a stack buffer that moves to the heap only when a long
 * answer (many contacts or Path entries) needs it, by plain copies: open_memstream and
 * stdio cost ~8% of the S-CSCF's CPU. An allocation failure sticks, so callers check
 * once at the end (failed). A secret buffer (a 401 with CK/IK for the P-CSCF) is never
 * realloc'ed and is wiped when freed. */
typedef struct scscf_hbuf {
    char *p;
    size_t len, cap;
    bool heap, failed, secret;
    char stack[2048];
} scscf_hbuf_t;

void scscf_hb_init(scscf_hbuf_t *b, bool secret);
void scscf_hb_put(scscf_hbuf_t *b, const char *s);
void scscf_hb_free(scscf_hbuf_t *b);
/* One Path entry as text, allocated from home; NULL on failure. */
char *scscf_path_string(su_home_t *home, sip_path_t const *p);
/* Appends the Path of the request, one "Path: ..." line each. */
void scscf_hb_put_path(scscf_hbuf_t *b, sip_t const *sip, su_home_t *home);

/* ---- reply.c: replies below every handler ---- */

/* Sends a final reply with Server and the given header lines through the responder, which
 * releases the request: the log line comes first, as sip may go with it. The timeline
 * records it with why (NULL: the hint the status implies); a fault rule of the request
 * may hold or swallow it. */
void scscf_reply_send(const scscf_req_t *rq, int status, const char *phrase, const char *headers);
void scscf_reply_send_why(const scscf_req_t *rq, int status, const char *phrase,
                          const char *headers, const scscf_why_t *why);
/* The reply of an error-table entry: phrase, Warning, the entry's Retry-After, then extra
 * lines (or NULL); counted in the error metrics. */
void scscf_reply_error(const scscf_req_t *rq, scscf_err_t e, const char *extra);
/* The same with a more precise reason for the timeline than the table's. */
void scscf_reply_error_why(const scscf_req_t *rq, scscf_err_t e, const scscf_why_t *why);
/* The same for an entry whose Retry-After is known only now (SCSCF_RETRY_COOLDOWN). */
void scscf_reply_error_after(const scscf_req_t *rq, scscf_err_t e, long retry_after_s);
/* 400 naming the header Sofia could not parse. */
void scscf_reply_bad_header(const scscf_req_t *rq);

/* ---- checks.c: what a REGISTER must be before any state is touched ---- */

/* Fills rq->impu from To and checks the Request-URI, the Contacts' ports, control
 * characters and count. Returns SCSCF_E_COUNT when the request may go on, else the error
 * to answer with. */
scscf_err_t scscf_check_register(scscf_req_t *rq);
/* The address the failed-authentication limits count against (see checks.c). */
void scscf_ue_address(const char *peer, sip_t const *sip, char *out, size_t len);
/* What scscf_check_credentials found. */
typedef enum {
    SCSCF_CREDS_NONE,        /* no Authorization: challenge */
    SCSCF_CREDS_OTHER_REALM, /* credentials for another realm, not ours to judge: challenge */
    SCSCF_CREDS_OURS,        /* dp is usable */
} scscf_creds_t;
/* The credentials of the request meant for our realm, parsed into dp. Returns
 * SCSCF_E_COUNT and what it found, or the error to answer with (unparsable, incomplete). */
scscf_err_t scscf_check_credentials(const scscf_req_t *rq, ims_digest_params_t *dp,
                                    scscf_creds_t *kind);
/* The bindings one IMPI may hold (--max-contacts). */
size_t scscf_max_contacts(const scscf_t *s);

/* ---- challenge.c: MAR and the 401 ---- */

/* Starts a MAR for rq (copied) and answers it from the HSS reply: 401 with a fresh nonce,
 * or the error the answer calls for. username may be NULL; with rand and auts the MAR asks
 * for resynchronisation. why: the timeline's reason for the challenge. warning (a static
 * sentence, or NULL for a first challenge) says in a Warning why the credentials sent were
 * not usable (SPEC §4). */
void scscf_challenge(const scscf_req_t *rq, const char *username, bool stale, const uint8_t *rand,
                     const char *auts, ims_hint_t why, const char *warning);

/* ---- methods.c: every request but REGISTER and ACK, and Require ---- */

#define SCSCF_ALLOW "REGISTER, OPTIONS, SUBSCRIBE"
/* True when u addresses the S-CSCF itself: no user part, and DOMAIN, scscf.DOMAIN or the
 * --sip address. */
bool scscf_is_me(const scscf_t *s, const url_t *u);
/* Answers 420 with Unsupported and returns false when Require names a tag we lack. */
bool scscf_require_ok(const scscf_req_t *rq);
/* OPTIONS, SUBSCRIBE, CANCEL and every other method but REGISTER and ACK. */
void scscf_methods_process(const scscf_req_t *rq);

/* ---- save.c: the bindings of an authenticated REGISTER ---- */

/* Applies the contacts (all-or-nothing), answers 200 (or the error), then reports to the
 * HSS. m is the authenticated subscriber's material. */
void scscf_save(const scscf_req_t *rq, const scscf_auth_material_t *m);

/* ---- trace.c: the timeline and the fault rules on the REGISTER path ---- */

/* The IMPI and IMPU a request is about: To's AOR; the Authorization username (with
 * "@domain" added to a bare user part), else To's user@host. */
void scscf_trace_ids(const scscf_t *s, sip_t const *sip, char *impi, size_t impilen, char *impu,
                     size_t impulen);
/* Records a request as it arrived (msg: its text), before any processing. */
void scscf_trace_request(scscf_t *s, msg_t *msg, sip_t const *sip);
/* Records the reply to rq (sent: the message as it left, may be NULL). */
void scscf_trace_reply(const scscf_req_t *rq, int status, const char *phrase, msg_t *sent,
                       const scscf_why_t *why);
/* Records a decision without a message of its own. */
void scscf_trace_decision(const scscf_req_t *rq, const char *action, ims_hint_t hint,
                          const char *detail);
/* A 401 with this nonce left for rq: if no credentials for it come within
 * --timeline-401-timeout, the timeline says the UE never answered. */
void scscf_trace_challenged(const scscf_req_t *rq, const char *nonce);
/* Once a second: the unanswered challenges. */
void scscf_trace_tick(scscf_t *s, uint64_t now_ms);
void scscf_trace_free(scscf_t *s);
/* Matches the fault rules for rq at stage (kinds: what the caller can carry out) and
 * files the rule in rq->fault. Returns true when the fault took the request over (a
 * reply, a drop, or a delay after which the registrar is entered again). */
bool scscf_fault_check(scscf_req_t *rq, ims_fault_stage_t stage, unsigned kinds);
/* A reply held by a fault rule on the answer: true when the reply was taken over. */
bool scscf_fault_hold_reply(const scscf_req_t *rq, int status, const char *phrase,
                            const char *headers, const scscf_why_t *why);

/* ---- registrar.c ---- */

/* The REGISTER path of rq from the checks on (again after a fault rule delayed it). */
void scscf_register_handle(scscf_req_t *rq);

/* ---- sar.c: reports to the HSS ---- */

void scscf_sar_send(scscf_t *s, const char *impi, const char *impu, bool registered);

#endif
