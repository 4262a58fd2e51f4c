/* The S-CSCF location store's API: registration records (one per IMPI, found by any IMPU of
 * its implicit set) and their bindings. Only location.c and location_db.c change them. */
#ifndef SCSCF_LOCATION_H
#define SCSCF_LOCATION_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ims/map.h"

/* One binding as the store keeps it. Read-only outside the store: callers get const
 * pointers and change bindings with scscf_location_bind / _unbind. */
typedef struct scscf_binding {
    struct scscf_binding *next;
    char *contact;  /* the Contact URI as received, without angle brackets */
    char *params;   /* Contact header parameters other than expires/q, ";a=b;c" or "" */
    char *instance; /* +sip.instance value or NULL */
    long reg_id;    /* reg-id or -1 */
    char **path;    /* Path header entries, each "<uri;lr>" */
    size_t npath;
    char *user_agent;
    char *received; /* "udp:127.0.0.1:5060" */
    char *call_id;
    uint32_t cseq;
    int64_t expires_at; /* wall clock seconds */
} scscf_binding_t;

/* What a REGISTER asks the store to keep for one contact; strings are copied. */
typedef struct scscf_binding_in {
    const char *contact, *params, *instance; /* params and instance may be NULL */
    long reg_id;                             /* -1: none */
    const char *const *path;
    size_t npath;
    const char *user_agent, *received, *call_id; /* each may be NULL */
    uint32_t cseq;
    int64_t expires_at;
} scscf_binding_in_t;

/* A registration record: opaque, read through the accessors below. */
typedef struct scscf_record scscf_record_t;
typedef struct scscf_location scscf_location_t;

int scscf_location_create(scscf_location_t **out);
/* Flushes what is dirty, then frees every record. NULL is fine. */
void scscf_location_free(scscf_location_t *loc);
/* Finds the record holding impu (any IMPU of the set; IMPUs compare by the rule of
 * ims/map.h), or by IMPI (byte for byte). */
scscf_record_t *scscf_location_find_impu(scscf_location_t *loc, const char *impu);
scscf_record_t *scscf_location_find_impi(scscf_location_t *loc, const char *impi);
/* Creates or updates the record of impi: impu (if given) becomes the registered IMPU, and
 * a non-empty implicit set replaces the old one. NULL when out of memory. A new record
 * without bindings goes at the next expiry run unless bindings are added. */
scscf_record_t *scscf_location_upsert(scscf_location_t *loc, const char *impi, const char *impu,
                                      const char *const *impus, const bool *barred, size_t nimpus);
/* Removes a record and its bindings (index entries too); rec is gone after the call. */
void scscf_location_remove(scscf_location_t *loc, scscf_record_t *rec);

/* The binding of rec a contact matches: by +sip.instance and reg-id when both sides have
 * an instance (RFC 5626), else by the Contact URI (case-insensitively). NULL if none. */
const scscf_binding_t *scscf_location_match(const scscf_record_t *rec, const char *instance,
                                            long reg_id, const char *contact);
/* Adds a binding, or updates the one `in` matches (a binding that has an instance keeps
 * it). Re-files the record in the expiry order and queues it for the next flush.
 * Returns 0 or ENOMEM (nothing added). */
int scscf_location_bind(scscf_location_t *loc, scscf_record_t *rec, const scscf_binding_in_t *in);
/* Removes binding b of rec (found by scscf_location_match or the record's list). The
 * record stays, even empty: removing it is the caller's decision (a SAR to send first). */
void scscf_location_unbind(scscf_location_t *loc, scscf_record_t *rec, const scscf_binding_t *b);

const char *scscf_record_impi(const scscf_record_t *rec);
/* The IMPU registered (the To of the REGISTER), or NULL (a record loaded without one). */
const char *scscf_record_impu(const scscf_record_t *rec);
/* The bindings in the order they were added (follow ->next); NULL when none. */
const scscf_binding_t *scscf_record_bindings(const scscf_record_t *rec);
size_t scscf_record_binding_count(const scscf_record_t *rec);

/* Iteration over records, oldest first. The current record may be removed. */
typedef ims_map_iter_t scscf_location_iter_t;
scscf_record_t *scscf_location_first(scscf_location_t *loc, scscf_location_iter_t *it);
scscf_record_t *scscf_location_next(scscf_location_t *loc, scscf_location_iter_t *it);
size_t scscf_location_count(scscf_location_t *loc);
size_t scscf_location_binding_count(scscf_location_t *loc);

/* Removes bindings with expires_at <= now; records left empty are passed to cb and then
 * removed. Costs O(log n) per record with a binding due, nothing for the others. */
typedef void (*scscf_expired_cb)(void *ctx, scscf_record_t *rec);
void scscf_location_expire(scscf_location_t *loc, int64_t now, scscf_expired_cb cb, void *ctx);
/* The earliest expires_at of any binding (INT64_MIN for a record without bindings),
 * INT64_MAX when the store is empty. */
int64_t scscf_location_next_due(scscf_location_t *loc);

/* Persistence (location_db.c): write-behind of changed records, load at start.
 * path ":memory:" (or empty) disables it. */
int scscf_location_open_db(scscf_location_t *loc, const char *path, char *err, size_t errlen);
int scscf_location_flush(scscf_location_t *loc);

/* JSON view of a record (the status API shape); impu NULL: the registered one. */
json_t *scscf_record_json(const scscf_record_t *rec, const char *impu, int64_t now);

#endif
