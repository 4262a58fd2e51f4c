/* The per-UE registration timeline shared by both CSCFs: bounded rings of entries
 * (messages seen and decisions taken, each with a hint), found by IMPI, IMPU or IMSI. */
#ifndef IMS_TIMELINE_H
#define IMS_TIMELINE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ims/hint.h"

typedef struct ims_timeline ims_timeline_t;

typedef struct ims_timeline_opts {
    const char *daemon;    /* "scscf" or "pcscf", written into every entry */
    size_t per_subscriber; /* entries kept per subscriber (oldest dropped first); 0 = 200 */
    size_t total;          /* entries kept in all; 0 = 20000 */
    size_t max_bytes;      /* bytes of all entries kept; 0 = 16 MiB */
    size_t sip_max;        /* bytes of one SIP message kept (after redaction); 0 = 4096 */
    bool disabled;         /* record nothing (ims_timeline_record returns at once) */
} ims_timeline_opts_t;

/* What a CSCF records. Every pointer is borrowed for the call only, except details. */
typedef struct ims_tl_record {
    const char *impi, *impu, *imsi; /* any may be NULL, one is needed; the IMSI is derived
                                       from an IMPI "digits@..." when not given */
    const char *kind;               /* "request", "response" or "decision" */
    const char *direction;          /* "in" or "out" for messages; NULL for decisions */
    const char *method;             /* the transaction's method */
    const char *call_id;
    uint32_t cseq;
    int status;         /* responses and decisions that answered: the code; else 0 */
    const char *reason; /* its reason phrase */
    const char *src;    /* numeric addresses as seen on the wire, may be NULL */
    uint16_t src_port;
    const char *dst;
    uint16_t dst_port;
    const char *transport; /* "UDP", "TCP", "TLS" */
    bool protected_;       /* arrived or left over an IPsec SA (the text is decrypted) */
    const char *action;    /* decisions: "challenge", "auth_ok", "auth_failed", "reply",
                              "bindings", "sar", "notify", "fault", "forward", ... */
    json_t *details;       /* decision fields (scheme, bindings, ...); stolen, may be NULL */
    ims_hint_t hint;
    const char *hint_detail; /* appended to the hint text, e.g. "SQN 000000000020 -> ..." */
    const char *sip;         /* the raw message; redacted and cut to sip_max before kept */
    size_t sip_len;
} ims_tl_record_t;

/* Called after each entry is stored: json is the entry as one line of compact JSON (valid
 * for the call only), sub identifies its subscriber for ims_timeline_same_sub. */
typedef void (*ims_timeline_listener_cb)(void *arg, const void *sub, uint64_t seq, const char *json,
                                         size_t len);

/* Returns 0 or ENOMEM/EINVAL (per_subscriber > total). */
int ims_timeline_new(const ims_timeline_opts_t *opts, ims_timeline_t **out);
void ims_timeline_free(ims_timeline_t *tl);

/* Stores one entry (dropping the oldest of the subscriber or of all as the limits say)
 * and tells the listener. Returns the entry's sequence number (> 0), or 0 when nothing
 * was stored (disabled, no identity, out of memory). Never blocks. */
uint64_t ims_timeline_record(ims_timeline_t *tl, const ims_tl_record_t *rec);

/* One listener (the event stream); NULL removes it. */
void ims_timeline_set_listener(ims_timeline_t *tl, ims_timeline_listener_cb cb, void *arg);

/* The subscriber an identity (IMPI, IMPU or IMSI) belongs to, or NULL. */
const void *ims_timeline_find(const ims_timeline_t *tl, const char *ident);

/* The newest `limit` entries (0 = all kept) of the subscriber of ident, oldest first, as
 * a JSON document {"items":[...], "total":N, "identities":[...]} written into a new
 * string (*out, malloc'd). Returns 0, ENOENT (identity never seen) or ENOMEM. */
int ims_timeline_query(const ims_timeline_t *tl, const char *ident, size_t limit, char **out,
                       size_t *outlen);

/* Same selection as parsed JSON entries (a new array, caller decrefs); NULL when the
 * identity is unknown. Used by the pcap export. */
json_t *ims_timeline_entries(const ims_timeline_t *tl, const char *ident, size_t limit);

/* Counters for /metrics. */
typedef struct ims_timeline_stats {
    size_t entries, subscribers, bytes;
    uint64_t recorded, evicted;
} ims_timeline_stats_t;
void ims_timeline_stats(const ims_timeline_t *tl, ims_timeline_stats_t *st);

#endif
