/* The location store's insides, shared by its two files only: location.c (records, indexes,
 * expiry) and location_db.c (SQLite write-behind). Nothing else includes this. */
#ifndef SCSCF_LOCATION_INT_H
#define SCSCF_LOCATION_INT_H

#include "ims/heap.h"
#include "ims/map.h"
#include "location.h"

struct scscf_record {
    char *impi;
    char *impu;   /* the IMPU registered (To) */
    char **impus; /* every IMPU of the implicit set, in order */
    bool *barred;
    size_t nimpus;
    scscf_binding_t *bindings;
    size_t nbindings;
    bool dirty;             /* queued for the next write-behind flush */
    ims_heap_node_t expiry; /* due: earliest expires_at of its bindings; INT64_MIN without any */
};

typedef struct scscf_location_db scscf_location_db_t;

struct scscf_location {
    ims_map_t *by_impi; /* key: the record's own impi string */
    ims_map_t *by_impu; /* every IMPU of every set, by the IMPU rule */
    /* Binary min-heap of every record by its earliest binding expiry, so the once-a-second
     * expiry costs O(log n) per record due instead of a walk over all of them (40 ms per
     * tick with 100,000 bindings on the loop thread). */
    ims_heap_t heap;
    size_t nbindings;
    scscf_location_db_t *db; /* NULL: no persistence */
    char **dirty;            /* IMPIs to write or delete at the next flush */
    size_t ndirty, capdirty;
};

/* Queues rec for the next flush and re-files it in the expiry order. */
void scscf_location_touched(scscf_location_t *l, scscf_record_t *rec);
/* Adds a binding as stored, without matching it against the others (loading). */
int scscf_location_append(scscf_location_t *l, scscf_record_t *rec, const scscf_binding_in_t *in);
/* Closes the database (location_db.c). */
void scscf_location_db_close(scscf_location_t *l);

#endif
