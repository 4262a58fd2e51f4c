/* The S-CSCF's reg event subscriptions (RFC 6665 dialogs in which it is the notifier):
 * dialog state, negotiated expiry, per-subscription version, caps, and persistence hooks. */
#ifndef SCSCF_SUBSCRIPTION_H
#define SCSCF_SUBSCRIPTION_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Who subscribed (TS 24.229 §5.4.2.1.1 step 1): the UE for an IMPU of its own implicit set,
 * or a P-CSCF found in the registration's Path. */
typedef enum { SCSCF_SUB_UE = 1, SCSCF_SUB_PCSCF = 2 } scscf_sub_kind_t;

const char *scscf_sub_kind_name(scscf_sub_kind_t k);

/* One subscription. Owned by the store and read-only outside subscription.c: every change
 * goes through the functions below, which keep the indexes, the expiry order and the
 * write-behind queue right. */
typedef struct scscf_sub {
    char *key;     /* the dialog id "Call-ID\nremote tag\nlocal tag": the store's key */
    char *impu;    /* the IMPU subscribed to (the SUBSCRIBE's Request-URI, as an AOR) */
    char *watcher; /* who subscribed: its asserted identity (P-Asserted-Identity or From) */
    scscf_sub_kind_t kind;
    /* The dialog. The S-CSCF answered the SUBSCRIBE: local is its To side, remote its
     * From side; our NOTIFYs go From local To remote. */
    char *call_id, *local_tag, *remote_tag;
    char *local_uri, *remote_uri; /* the To and From URIs, without tags */
    char *remote_target;          /* the SUBSCRIBE's Contact URI: our NOTIFY's Request-URI */
    char **route;                 /* route set, "<uri;lr>" each, first hop first */
    size_t nroute;
    char *next_hop;       /* where NOTIFYs are sent ("sip:IP:PORT;transport=udp"), or NULL:
                             the first route, else the remote target */
    uint32_t remote_cseq; /* CSeq of the last SUBSCRIBE accepted in this dialog */
    uint32_t local_cseq;  /* CSeq of the last NOTIFY sent (0: none yet) */
    uint32_t version;     /* reginfo version of the next NOTIFY: 0 first, +1 each NOTIFY */
    int64_t expires_at;   /* wall clock seconds */
    int64_t created_at;
} scscf_sub_t;

/* What a new subscription starts from: the strings are copied, route[] too. */
typedef struct scscf_sub_init {
    const char *impu, *watcher;
    scscf_sub_kind_t kind;
    const char *call_id, *local_tag, *remote_tag, *local_uri, *remote_uri, *remote_target;
    const char *const *route;
    size_t nroute;
    const char *next_hop;
    uint32_t remote_cseq;
} scscf_sub_init_t;

typedef struct scscf_subs_limits {
    long default_expires; /* granted when the SUBSCRIBE has no Expires */
    long min_expires;     /* shorter (but not 0) is refused: 423 with Min-Expires */
    long max_expires;     /* longer is cut to it */
    size_t max_per_impu;  /* subscriptions watching one IMPU */
    size_t max_total;
} scscf_subs_limits_t;

/* Defaults: TS 24.229 UEs and P-CSCFs ask for 600000 s, which the maximum grants. A UE
 * and its P-CSCF make two subscriptions per registration; 8 per IMPU leaves room for
 * re-subscriptions racing the old dialog's end and a few test tools. */
#define SCSCF_SUB_DEFAULT_EXPIRES 3600
#define SCSCF_SUB_MIN_EXPIRES     60
#define SCSCF_SUB_MAX_EXPIRES     600000
#define SCSCF_SUB_MAX_PER_IMPU    8
#define SCSCF_SUB_MAX_TOTAL       262144

typedef struct scscf_subs scscf_subs_t;

/* lim NULL: the defaults above. Returns 0, EINVAL (min > max, a zero cap) or ENOMEM. */
int scscf_subs_create(const scscf_subs_limits_t *lim, scscf_subs_t **out);
void scscf_subs_free(scscf_subs_t *subs);
const scscf_subs_limits_t *scscf_subs_limits(const scscf_subs_t *subs);

/* Expires negotiation (RFC 6665 §4.2.1.1): requested < 0 (no Expires header) gets the
 * default, 0 stays 0 (unsubscribe), over the maximum gets the maximum. Returns 0 with
 * *granted set, or ERANGE when 0 < requested < min (the caller answers 423). */
int scscf_subs_negotiate(const scscf_subs_t *subs, long requested, long *granted);

/* Adds a subscription lasting expires (> 0) seconds from now. Returns 0 with *out set,
 * EEXIST (that dialog exists), EDQUOT (the IMPU's cap), ENOSPC (the total cap), EINVAL (a
 * required string is missing: impu, call_id, both tags, local_uri, remote_uri,
 * remote_target) or ENOMEM. Nothing changes on failure. */
int scscf_subs_add(scscf_subs_t *subs, const scscf_sub_init_t *in, long expires, int64_t now,
                   scscf_sub_t **out);

/* The subscription of an in-dialog request: its Call-ID, From tag (remote) and To tag
 * (local). NULL when unknown (the caller answers 481). */
scscf_sub_t *scscf_subs_find(scscf_subs_t *subs, const char *call_id, const char *remote_tag,
                             const char *local_tag);

/* A refreshing SUBSCRIBE with CSeq cseq: sets the new expiry (expires > 0). Returns 0, or
 * ERANGE when cseq is not above the last one accepted (RFC 3261 §12.2.2: the caller
 * answers 500), with nothing changed. */
int scscf_subs_refresh(scscf_subs_t *subs, scscf_sub_t *sub, uint32_t cseq, long expires,
                       int64_t now);

/* Accepts a SUBSCRIBE CSeq without a refresh (an unsubscribe): ERANGE as above. */
int scscf_subs_take_cseq(scscf_subs_t *subs, scscf_sub_t *sub, uint32_t cseq);

/* Reserves the version and CSeq of the next NOTIFY of sub (both count up by one). */
void scscf_subs_next_notify(scscf_subs_t *subs, scscf_sub_t *sub, uint32_t *version,
                            uint32_t *cseq);

/* Seconds left of sub at now (0 when due). */
long scscf_sub_expires_in(const scscf_sub_t *sub, int64_t now);

/* Removes and frees sub. */
void scscf_subs_remove(scscf_subs_t *subs, scscf_sub_t *sub);

/* Calls cb for each subscription watching impu, oldest first. cb may remove the
 * subscription it is given, and no other. */
typedef void (*scscf_sub_cb)(void *ctx, scscf_sub_t *sub);
void scscf_subs_for_impu(scscf_subs_t *subs, const char *impu, scscf_sub_cb cb, void *ctx);
/* Every subscription, oldest first; same rule for cb. */
void scscf_subs_for_each(scscf_subs_t *subs, scscf_sub_cb cb, void *ctx);

/* Passes each subscription due at now (expires_at <= now) to cb, then removes it. Costs
 * O(log n) per subscription due, nothing for the others. */
void scscf_subs_expire(scscf_subs_t *subs, int64_t now, scscf_sub_cb cb, void *ctx);
/* The subscription due first if it is due at now, else NULL: for a caller that ends each
 * one itself (a terminating NOTIFY removes it). */
scscf_sub_t *scscf_subs_first_due(scscf_subs_t *subs, int64_t now);
/* The earliest expires_at, INT64_MAX when the store is empty. */
int64_t scscf_subs_next_due(const scscf_subs_t *subs);

size_t scscf_subs_count(const scscf_subs_t *subs);
size_t scscf_subs_count_impu(const scscf_subs_t *subs, const char *impu);

/* The status API view of one subscription, and of all that watch impu (an array). */
json_t *scscf_sub_json(const scscf_sub_t *sub, int64_t now);
json_t *scscf_subs_json_impu(scscf_subs_t *subs, const char *impu, int64_t now);

/* Persistence, for the state database (which owns the file and its table): every change
 * queues the subscription's key; flush hands each queued key to cb with the document to
 * store under it (a JSON text, valid during the call), or NULL when the subscription is
 * gone and its row must be deleted, then empties the queue. Returns how many keys went. */
typedef void (*scscf_subs_persist_cb)(void *ctx, const char *key, const char *doc);
size_t scscf_subs_flush(scscf_subs_t *subs, scscf_subs_persist_cb cb, void *ctx);
bool scscf_subs_dirty(const scscf_subs_t *subs);
/* Re-creates a subscription from a stored document: 0, ESRCH (it expired by now: the
 * caller deletes the row; it is also queued as gone), EINVAL (not a document of ours),
 * or the codes of scscf_subs_add. The version and CSeqs continue where they were. */
int scscf_subs_restore(scscf_subs_t *subs, const char *doc, int64_t now);

#endif
