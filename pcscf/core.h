/* Private to the proxy core (proxy.c, lifecycle.c, hop.c, txn.c, forward.c, register.c):
 * the proxy and transaction structs and the functions those files share. */
#ifndef PCSCF_CORE_H
#define PCSCF_CORE_H

#include "pcscf.h"

#include "ipsec.h"
#include "ipsec_sip.h"

#include <netinet/in.h>

#include "ims/loop.h"
#include "ims/fault.h"
#include "ims/ue_api.h"

/* Which side a forwarded request went to: whose failure or silence the sender hears
 * about, and which counters count it. */
typedef enum { PCSCF_TOWARD_SCSCF, PCSCF_TOWARD_UE } pcscf_toward_t;

/* One request being proxied: from its arrival to the relayed final answer (or our own). */
typedef struct pcscf_txn {
    su_home_t home[1];
    pcscf_t *p;
    nta_incoming_t *irq;
    nta_outgoing_t *orq;
    su_timer_t *timer;
    bool is_register;
    pcscf_toward_t toward;
    char *method, *call_id, *src, *transport, *user_agent, *impi, *ruri;
    char src_ip[INET6_ADDRSTRLEN];
    uint16_t src_port;
    bool tcp;
    char **contacts; /* forwarded Contact URIs (REGISTER) */
    size_t ncontacts;
    uint64_t start_ms;
    pcscf_sec_txn_t sec; /* sec-agree / IPsec of a REGISTER (ipsec_sip.c) */
    char *why;           /* Warning text replacing the reply table's, when set */
    struct pcscf_txn *next, **prevp;
    /* UE test controls (trace.c) */
    char tl_impi[256], tl_impu[512]; /* the identities of the timeline and fault rules */
    ims_fault_action_t fault;        /* the rule that fired for it; kind 0: none */
    msg_t *held;                     /* an answer a delay rule holds */
    void (*hold_done)(struct pcscf_txn *t);
} pcscf_txn_t;

struct pcscf {
    su_home_t home[1];
    su_root_t *root;
    nta_agent_t *agent;
    nta_leg_t *leg;
    pcscf_self_t *self;
    pcscf_cache_t *cache;
    su_timer_t *sweep;
    char *scscf_conf; /* as configured */
    char *scscf_hop;  /* IP literal with port (and transport when configured) */
    uint64_t hop_resolved_ms;
    char *path;      /* Path URI */
    char *path_user; /* its user part ("term"): a Route with it is terminating traffic */
    char hop_ip[INET6_ADDRSTRLEN];
    uint16_t hop_port;
    char *domain;
    char *visited; /* P-Visited-Network-ID value */
    /* Path and P-Visited-Network-ID parsed once: each REGISTER gets a copy, not a
     * printf and a parse of the same text. */
    msg_header_t *path_hdr, *visited_hdr;
    char *warn_host; /* host named in Warning: 399 */
    char *rr_uri;    /* our Record-Route URI: where the far end reaches us in a dialog */
    pcscf_sec_agree_t sec_agree;
    char *icid_host; /* icid-generated-at */
    long timeout_ms;
    uint64_t max_pending;                   /* overload limit (0: none) */
    uint64_t max_queue_ms;                  /* oldest queued UDP datagram's wait (0: none) */
    uint64_t queue_ms;                      /* its last reading (for the warning) */
    uint64_t queue_old, queue_old_ms;       /* REGISTERs in a row that found it that old,
                                               and when the first of them came */
    uint64_t shed_logged_ms, shed_unlogged; /* one overload warning a second at most */
    int udp_fd[2];    /* our UDP sockets (IPv4, IPv6) for the raw 100 Trying; -1: unknown */
    uint8_t rnd[512]; /* getrandom() once per 32 charging vectors, not once each */
    size_t rnd_used;
    pcscf_stats_t stats;
    pcscf_txn_t *txns;               /* forwarded and waiting for an answer */
    struct pcscf_regsub *regsub;     /* our reg event subscriptions (NULL: --reg-subscribe off) */
    struct pcscf_ipsec_sip *sec;     /* sec-agree and IPsec (ipsec_sip.c) */
    ims_loop_trim_t trim;            /* gives a burst's heap back (ims_loop_trim_tick) */
    ims_ue_api_t *ue;                /* timeline and fault rules (the daemon's), NULL: none */
    char local_ip[INET6_ADDRSTRLEN]; /* our address as the UE sees it, for the timeline */
    uint16_t local_port;
};

/* ---- next hop (hop.c) ---- */

/* Resolves --scscf into p->scscf_hop / hop_ip / hop_port. 0, EINVAL (not a sip: URI) or
 * ENOENT (does not resolve) with a one-line reason. */
int pcscf_hop_resolve(pcscf_t *p, char *err, size_t errlen);
/* After a failure toward the S-CSCF: resolves again, at most once a second. */
void pcscf_hop_retry(pcscf_t *p);
/* True when the request comes from the S-CSCF (terminating traffic toward a UE). */
bool pcscf_hop_is_scscf(pcscf_t *p, const sip_t *sip, const char *src_ip, uint16_t src_port);

/* ---- transactions (txn.c) ---- */

/* A transaction for a request from src; NULL when out of memory. Not yet pending. */
pcscf_txn_t *pcscf_txn_new(pcscf_t *p, nta_incoming_t *irq, const sip_t *sip, const char *src_ip,
                           uint16_t src_port, bool tcp);
/* Releases t, its nta handles and timer; a pending t stops being pending. */
void pcscf_txn_free(pcscf_txn_t *t);
/* One INFO line: method, URI, source, Call-ID, outcome and duration. */
void pcscf_txn_log(pcscf_txn_t *t, int status, const char *phrase);
/* Answers the sender from the reply table, logs and frees t. */
void pcscf_txn_fail(pcscf_txn_t *t, pcscf_err_t e);
/* Sends msg (taken) to hop (NULL: by the Request-URI) statefully, makes t pending and arms
 * the --timeout-ms timer; on failure answers the sender and frees t. */
void pcscf_txn_send(pcscf_txn_t *t, msg_t *msg, const char *hop);

/* Keeps t pending without a next hop for ms, then calls done(t) (which owns t). Used by
 * the fault rules to hold a request or an answer. */
void pcscf_txn_hold(pcscf_txn_t *t, uint64_t ms, void (*done)(pcscf_txn_t *t));

/* ---- UE test controls (trace.c) ---- */

/* Records the request as it came from the UE. */
void pcscf_trace_request(pcscf_txn_t *t, msg_t *orig, const sip_t *sip);
/* Records the answer sent to the UE (msg: as sent, NULL: read it back from t->irq);
 * detail explains a local error. */
void pcscf_trace_answer(pcscf_txn_t *t, msg_t *msg, int status, const char *phrase,
                        const char *detail);
/* The fault rules on a request from a UE: true when a rule took it over (dropped or
 * delayed; a delayed one goes to pcscf_dispatch later). */
bool pcscf_fault_request(pcscf_txn_t *t, const sip_t *sip);
/* On the final answer msg (taken when true is returned: dropped or held). */
bool pcscf_fault_answer(pcscf_txn_t *t, msg_t *msg);

/* ---- the forwarding pipeline (forward.c) ---- */

/* What differs between REGISTER, originating and terminating forwarding. */
typedef struct pcscf_pipe {
    pcscf_toward_t toward;
    /* Edits the copy after Route and Max-Forwards: returns 0, or the error to answer.
     * *hop may name where to send (NULL: the S-CSCF, or the Request-URI toward a UE). */
    int (*edit)(pcscf_txn_t *t, const sip_t *orig, msg_t *msg, sip_t *fs, const char **hop,
                pcscf_err_t *err);
    size_t counter; /* offsetof(pcscf_stats_t, ...) counted when forwarded */
} pcscf_pipe_t;

/* copy -> consume our Route -> Max-Forwards -> pipe's edit -> charging vector -> count ->
 * send. Answers the sender and frees t on any failure; orig stays the caller's. */
void pcscf_forward(pcscf_txn_t *t, const sip_t *sip, msg_t *orig, const pcscf_pipe_t *pipe);

extern const pcscf_pipe_t pcscf_pipe_register, pcscf_pipe_originating, pcscf_pipe_terminating;

/* An ACK for a 2xx (RFC 3261 §13.2.2.4: a request of its own) forwarded statelessly along
 * its route set; takes msg. */
void pcscf_forward_ack(pcscf_t *p, msg_t *msg, sip_t *sip);

/* ---- REGISTER (register.c) ---- */

/* Remembers a 2xx to a REGISTER of t in the cache. */
void pcscf_register_remember(pcscf_txn_t *t, const sip_t *rs);

/* ---- IPsec status resources (ipsec_api.c) ---- */

struct ims_http_req;
struct ims_http_resp;
/* Serves /api/v1/ipsec/...; false when the path is not one of them. */
bool pcscf_ipsec_api_handle(pcscf_t *p, const char *token, const struct ims_http_req *req,
                            struct ims_http_resp *resp);

/* ---- requests (proxy.c) ---- */

/* nta's message callback (no default leg): every request that matches no transaction,
 * before any server transaction exists. */
int pcscf_intake(pcscf_t *p, nta_agent_t *agent, msg_t *msg, sip_t *sip);
/* A request that passed the checks goes down one of the three pipelines. */
void pcscf_dispatch(pcscf_t *p, pcscf_txn_t *t, const sip_t *sip, msg_t *orig);

#endif
