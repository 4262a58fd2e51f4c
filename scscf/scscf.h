/* Internal interfaces of the scscf daemon: the location store, the nonce store, the HSS
 * client, the reply table, the registrar and the status API, all driven by one su_root. */
#ifndef SCSCF_H
#define SCSCF_H

#define SU_ROOT_MAGIC_T      struct scscf
#define NTA_AGENT_MAGIC_T    struct scscf
#define NTA_LEG_MAGIC_T      struct scscf
#define NTA_INCOMING_MAGIC_T struct scscf_pending
#define SU_TIMER_ARG_T       void
#define SU_WAKEUP_ARG_T      void

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <sofia-sip/nta.h>
#include <sofia-sip/sip.h>
#include <sofia-sip/sip_header.h>
#include <sofia-sip/sip_status.h>
#include <sofia-sip/su_wait.h>

#include "ims/cfg.h"
#include "ims/hint.h"
#include "ims/http_server.h"
#include "ims/log.h"
#include "ims/loop.h"
#include "ims/ue_api.h"
#include "location.h"
#include "reginfo.h"

typedef struct scscf scscf_t;
typedef struct scscf_regevent scscf_regevent_t;

/* ---- reply.c: every error the S-CSCF answers with, in one table ---- */
typedef enum {
    SCSCF_E_BAD_REQUEST = 0, /* generic unparsable request */
    SCSCF_E_MISSING_HEADER,  /* To/From/Call-ID/CSeq/Via missing */
    SCSCF_E_BAD_HEADER,      /* a header that Sofia could not parse */
    SCSCF_E_BAD_AUTH,        /* Authorization unparsable or without response */
    SCSCF_E_BAD_CONTACT,     /* Contact invalid (or * mixed with others, or * without Expires: 0) */
    SCSCF_E_BAD_EXPIRES,     /* Expires not a number */
    SCSCF_E_NOT_HOME_DOMAIN, /* Request-URI outside the home domain */
    SCSCF_E_USER_UNKNOWN,    /* HSS 404 */
    SCSCF_E_IDENTITY_MISMATCH, /* username and IMPU of different subscribers */
    SCSCF_E_IMPU_BARRED,       /* barred To IMPU */
    SCSCF_E_AUTH_FAILED,       /* wrong digest response */
    SCSCF_E_RESYNC_FAILED,     /* HSS refused AUTS */
    SCSCF_E_INTERVAL_TOO_BRIEF,
    SCSCF_E_OUT_OF_ORDER,           /* same Call-ID, CSeq not above the binding's (RFC 3261 10.3) */
    SCSCF_E_HSS_UNAVAILABLE,        /* HSS unreachable or too slow */
    SCSCF_E_HSS_ERROR,              /* HSS answered something unusable */
    SCSCF_E_INTERNAL,               /* out of memory and similar */
    SCSCF_E_NOT_IMPLEMENTED,        /* a method the S-CSCF has never heard of */
    SCSCF_E_TOO_MANY_FAILURES,      /* the UE address is in its failed-authentication cooldown */
    SCSCF_E_BAD_CONTACT_PORT,       /* a Contact port outside 1..65535 */
    SCSCF_E_CONTACT_CONTROL_CHARS,  /* control characters in a Contact */
    SCSCF_E_TOO_MANY_CONTACTS,      /* more than --max-contacts bindings for one IMPI */
    SCSCF_E_METHOD_NOT_ALLOWED,     /* a SIP method the S-CSCF knows but does not handle */
    SCSCF_E_BAD_EVENT,              /* SUBSCRIBE for an event package it does not serve */
    SCSCF_E_OPTIONS_NOT_ME,         /* OPTIONS addressed to someone else */
    SCSCF_E_BAD_EXTENSION,          /* Require names an option tag it does not support */
    SCSCF_E_DIGEST_URI_MISMATCH,    /* Authorization uri is not the Request-URI */
    SCSCF_E_NO_TRANSACTION,         /* CANCEL matching no transaction */
    SCSCF_E_BODY_SHORT,             /* Content-Length above the body received */
    SCSCF_E_NO_EVENT,               /* SUBSCRIBE without Event */
    SCSCF_E_NOT_ACCEPTABLE,         /* Accept without application/reginfo+xml */
    SCSCF_E_NOT_REGISTERED,         /* SUBSCRIBE to an IMPU without a binding (TS 24.229: 480) */
    SCSCF_E_SUBSCRIBE_FORBIDDEN,    /* neither the UE of the set nor a P-CSCF on its Path */
    SCSCF_E_NO_SUBSCRIPTION,        /* in-dialog SUBSCRIBE for a dialog we do not have */
    SCSCF_E_TOO_MANY_SUBSCRIPTIONS, /* the cap per IMPU or overall */
    SCSCF_E_COUNT
} scscf_err_t;

/* Bindings one registration (IMPI) may hold: bounds every 200 OK and the store. */
#define SCSCF_MAX_CONTACTS 20 /* default of --max-contacts */

/* retry_after of an entry whose Retry-After is the cooldown left, known per request. */
#define SCSCF_RETRY_COOLDOWN (-1)

typedef struct scscf_reply_entry {
    int status;
    const char *phrase;  /* full reason phrase */
    const char *warning; /* human explanation for the Warning header */
    const char *metric;  /* short label for metrics and logs */
    int retry_after;     /* Retry-After seconds sent with it; 0: none */
    ims_hint_t hint;     /* what the timeline tells a UE tester about it */
} scscf_reply_entry_t;

const scscf_reply_entry_t *scscf_reply_get(scscf_err_t e);

/* ---- auth.c: nonce store and credential checks ---- */
typedef enum { SCSCF_SCHEME_DIGEST = 1, SCSCF_SCHEME_AKA = 2 } scscf_scheme_t;

/* Authentication material from a MAR answer. */
typedef struct scscf_auth_material {
    scscf_scheme_t scheme;
    char imsi[32];
    char impi[256];
    char ha1_impi[33], ha1_user[33];                     /* digest */
    int aka_version;                                     /* 1 or 2 */
    uint8_t rand[16], autn[16], xres[8], ck[16], ik[16]; /* AKA (secrets: never logged) */
    char **impus;
    bool *barred;
    size_t nimpus;
} scscf_auth_material_t;

void scscf_auth_material_clear(scscf_auth_material_t *m);
/* Parses the MAR JSON answer; returns 0 or EINVAL. */
int scscf_auth_material_parse(json_t *body, scscf_auth_material_t *out);

typedef struct scscf_nonce scscf_nonce_t;
typedef struct scscf_auth scscf_auth_t;

/* Nonces kept at most by default (--max-nonces). A nonce is kept twice its lifetime, so
 * 100,000 UEs challenged once per 300 s leave ~200,000: they fit, with room to spare. */
#define SCSCF_NONCE_MAX_DEFAULT 262144

int scscf_auth_create(const char *realm, long ttl_s, scscf_auth_t **out);
/* Changes the cap (SCSCF_NONCE_MAX_DEFAULT after create): past it the oldest nonce goes. */
void scscf_auth_set_max(scscf_auth_t *a, size_t max);
void scscf_auth_free(scscf_auth_t *a);
/* Creates a nonce from material (takes ownership of its impus) and builds the
 * WWW-Authenticate value into hdr. */
int scscf_auth_challenge(scscf_auth_t *a, const char *realm, const char *impu,
                         scscf_auth_material_t *m, bool stale, char *hdr, size_t hdrlen);

typedef enum {
    SCSCF_AUTH_OK = 0,
    SCSCF_AUTH_UNKNOWN_NONCE, /* new challenge needed */
    SCSCF_AUTH_STALE,         /* correct response but expired nonce */
    SCSCF_AUTH_REPLAY,        /* nc not increasing */
    SCSCF_AUTH_FAILED,        /* wrong response */
    SCSCF_AUTH_MISMATCH,      /* username/IMPU not those of the nonce */
    SCSCF_AUTH_RESYNC,        /* auts present: rand filled */
} scscf_auth_result_t;

/* Checks credentials. On OK, *m_out (if non-NULL) points to the nonce's material,
 * valid until the next call into the store. For RESYNC, rand is filled. */
scscf_auth_result_t scscf_auth_check(scscf_auth_t *a, const char *method, const char *impu,
                                     const char *username, const char *nonce, const char *uri,
                                     const char *nc, const char *cnonce, const char *qop,
                                     const char *response, const char *auts,
                                     const scscf_auth_material_t **m_out, uint8_t rand[16]);
void scscf_auth_purge(scscf_auth_t *a, int64_t now_ms);
/* True when nonce is still held and no credentials have come for it yet. */
bool scscf_auth_unanswered(const scscf_auth_t *a, const char *nonce);
/* Why the last check answered SCSCF_AUTH_FAILED, for the timeline: the scheme of the
 * nonce, and for digest whether the response would match with uri "sip:<realm>" (the
 * Request-URI of a REGISTER) instead of the uri the UE sent. */
typedef struct scscf_auth_diag {
    scscf_scheme_t scheme;
    bool uri_mismatch;
} scscf_auth_diag_t;
const scscf_auth_diag_t *scscf_auth_last_failure(const scscf_auth_t *a);
size_t scscf_auth_count(scscf_auth_t *a);

/* ---- guard.c: failed-authentication limits per UE address ---- */
typedef struct scscf_guard scscf_guard_t;

/* limit failures start a cooldown of cooldown_s; at most cap entries are kept. */
int scscf_guard_create(long limit, long cooldown_s, size_t cap, scscf_guard_t **out);
void scscf_guard_free(scscf_guard_t *g);
/* Seconds left of the cooldown of addr (or of addr with impi, when impi is given), or 0. */
long scscf_guard_blocked(scscf_guard_t *g, const char *addr, const char *impi, uint64_t now_ms);
/* Counts a failed authentication; true when it started a cooldown. */
bool scscf_guard_failed(scscf_guard_t *g, const char *addr, const char *impi, uint64_t now_ms);
/* A successful authentication resets the (addr, impi) count. */
void scscf_guard_succeeded(scscf_guard_t *g, const char *addr, const char *impi, uint64_t now_ms);
/* Forgets entries neither blocked nor failed within the last cooldown. */
void scscf_guard_purge(scscf_guard_t *g, uint64_t now_ms);
size_t scscf_guard_count(scscf_guard_t *g);

/* ---- hss_client.c: Cx over HTTP with libcurl multi on su_root ---- */
typedef struct scscf_hss scscf_hss_t;
/* status: HTTP status, or 0 when the HSS was unreachable / timed out. body may be NULL. */
typedef void (*scscf_hss_cb)(void *ctx, long status, json_t *body);

int scscf_hss_create(su_root_t *root, const char *base_url, const char *token, long timeout_ms,
                     long max_connections, scscf_hss_t **out);
void scscf_hss_free(scscf_hss_t *h);
/* POSTs a JSON body (stolen) to path; cb is always called exactly once, later. */
int scscf_hss_post(scscf_hss_t *h, const char *path, json_t *body, scscf_hss_cb cb, void *ctx);
/* scscf_hss_post with hss as a void pointer: the daemon's scscf_t.hss_post. */
int scscf_hss_post_ctx(void *hss, const char *path, json_t *body, scscf_hss_cb cb, void *ctx);
/* Latency histogram for /metrics. */
void scscf_hss_metrics(scscf_hss_t *h, FILE *f);

/* ---- registrar.c (dispatch), challenge.c, save.c, sar.c: the REGISTER path ---- */
typedef struct scscf_metrics {
    unsigned long registers, challenges, registrations_ok, deregistrations, options,
        not_implemented, expired, sar_sent, sar_failed, auth_failures[SCSCF_E_COUNT];
} scscf_metrics_t;

typedef struct scscf_config {
    const char *sip, *domain, *service_route, *server_header, *host;
    long min_expires, max_expires, nonce_ttl;
    long max_contacts; /* bindings per IMPI (0: SCSCF_MAX_CONTACTS) */
    long tcp_idle_s;   /* idle SIP TCP connections closed after this (0: never) */
    long auth_fail_limit, auth_cooldown;
    /* reg event subscriptions: Expires granted without one, shortest, longest; caps */
    long sub_default_expires, sub_min_expires, sub_max_expires, sub_max_per_impu, sub_max;
    char scscf_uri[256];
    char scscf_contact[300]; /* our Contact in dialogs (reg event): "sip:host:port" */
} scscf_config_t;

/* How the registrar reaches the HSS: scscf_hss_post with the scscf_hss_t in the daemon,
 * a canned fake in the fuzzer. Same contract as scscf_hss_post: body is stolen, and on 0
 * cb is called exactly once (later, or before returning for a synchronous fake). */
typedef int (*scscf_hss_post_fn)(void *hss, const char *path, json_t *body, scscf_hss_cb cb,
                                 void *ctx);

struct scscf {
    su_root_t *root;
    nta_agent_t *agent;
    nta_leg_t *leg;
    scscf_config_t cfg;
    scscf_location_t *loc;
    scscf_auth_t *auth;
    scscf_hss_t *hss;
    scscf_hss_post_fn hss_post; /* every Cx request goes through this */
    void *hss_ctx;              /* its first argument */
    scscf_guard_t *guard;
    su_timer_t *tick;
    scscf_metrics_t m;
    unsigned pending;
    struct scscf_regevent *re; /* the reg event package (regevent.h) */
    ims_loop_trim_t trim;      /* gives a burst's heap back (ims_loop_trim_tick) */
    ims_ue_api_t ue;           /* timeline, event stream, fault rules */
    long no_answer_ms;         /* --timeline-401-timeout */
    struct scscf_trace *trace; /* trace.c's own state (challenges awaiting an answer) */
};

/* Where the final reply to one request goes: over nta in the daemon, to a buffer in the
 * fuzzer. reply is called exactly once per request, possibly after
 * scscf_registrar_process returned (a MAR in flight), and releases the request; status 0
 * means "send nothing" (an ACK). headers are "Name: value\r\n" lines, or NULL. */
typedef struct scscf_responder {
    /* Returns the reply as sent (a reference the caller destroys), or NULL. */
    msg_t *(*reply)(void *ctx, int status, const char *phrase, const char *server,
                    const char *headers);
    void *ctx;
    /* Optional: the To tag the reply must carry (a dialog the handler keeps, e.g. a
     * subscription); called before reply. NULL: the transport picks one. */
    void (*tag)(void *ctx, const char *tag);
} scscf_responder_t;

/* Handles one parsed request (sip->sip_request set; sip must stay valid until rsp's reply):
 * REGISTER, OPTIONS, ACK, anything else 501. src is the transport source as stored in
 * bindings ("udp:127.0.0.1:5060", or "?"), peer the bare source host the failed-
 * authentication limits count against ("127.0.0.1", or "?"). No socket is needed. */
void scscf_registrar_process(scscf_t *s, sip_t const *sip, const char *src, const char *peer,
                             scscf_responder_t rsp);
/* Removes the bindings expired at now (wall clock seconds) and reports them with SAR. */
void scscf_registrar_expire(scscf_t *s, int64_t now);
/* Deregistration of a whole set (the UE's, or network-initiated): tells the reg event
 * subscribers (every contact terminated with ev), removes the record and reports it. */
void scscf_registrar_deregister(scscf_t *s, scscf_record_t *rec, const char *why,
                                scscf_reg_event_t ev);
/* Network-initiated shortening (network.c): every binding of rec expiring later than
 * now + secs is made to expire then, and the subscribers hear "shortened". Returns how
 * many bindings changed. */
size_t scscf_registrar_shorten(scscf_t *s, scscf_record_t *rec, long secs);

/* ---- sip_agent.c: the SIP side on nta ---- */
/* Creates the nta agent listening on sip_url (UDP and TCP), with its UDP buffers grown and
 * the TCP idle limit set. Returns 0 or EADDRNOTAVAIL (port in use, address not local). */
int scscf_sip_start(scscf_t *s, const char *sip_url, uint16_t port);
/* The once-a-second tick (expiry, purges, write-behind flush). Requests reach
 * scscf_registrar_process through nta's message callback (sip_agent.c), which answers
 * malformed ones statelessly first. */
int scscf_registrar_init(scscf_t *s);
void scscf_registrar_deinit(scscf_t *s);

/* ---- settings.c: options into scscf_config_t ---- */
typedef struct scscf_settings {
    ims_cfg_t *cfg; /* every option; the strings of scscf_config_t point into it */
    ims_log_level_t log_level;
    char sip_host[256], sip_url[300], warn_host[300], service_route[512];
    uint16_t sip_port;
} scscf_settings_t;

/* Reads the command line and environment. *run false: exit with the returned code (0
 * after --help/--version, 2 after an error, already printed). */
int scscf_settings_load(scscf_settings_t *st, int argc, char **argv, bool *run);
/* Copies the settings into c and checks them together; 0, or 1 after printing why not. */
int scscf_settings_apply(scscf_settings_t *st, scscf_config_t *c);
void scscf_settings_free(scscf_settings_t *st);

/* ---- status_api.c ---- */
void scscf_status_handler(void *ctx, const ims_http_req_t *req, ims_http_resp_t *resp);

#endif
