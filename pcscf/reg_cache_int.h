/* Private to the registration cache (reg_cache.c, reg_source.c, reg_cache_doc.c): its structs, its
 * two indexes and the helpers both files use to change them consistently. */
#ifndef PCSCF_REG_CACHE_INT_H
#define PCSCF_REG_CACHE_INT_H

#include "pcscf.h"

#include "ims/heap.h"
#include "ims/map.h"

/* Source index: every binding is on the list of its received "host|port" (IDX_ADDR) and
 * on the list of its received host (IDX_HOST); on none while received does not parse. */
enum { IDX_ADDR, IDX_HOST, IDX_COUNT };

typedef struct binding {
    char *contact, *received, *transport, *user_agent;
    uint64_t expires_at_ms; /* monotonic */
    struct binding *next;   /* in its registration */
    struct reg *reg;
    struct {
        struct binding *next, **prevp; /* prevp NULL: not on that list */
    } idx[IDX_COUNT];
} binding_t;

typedef struct reg {
    char *impu, *impi, *path;
    char **assoc;
    size_t nassoc;
    char **sr;
    size_t nsr;
    binding_t *bindings;
    bool dirty;             /* queued for the state file */
    ims_heap_node_t expiry; /* due: earliest expires_at_ms of its bindings (0: none) */
} reg_t;

struct pcscf_cache {
    /* IMPU (the ims_impu rule) -> reg_t; the key is the reg's own impu. */
    ims_map_t *regs;
    /* The source index of pcscf_cache_lookup: "host|port" and "host" -> the head of a
     * binding list, so a request finds its registration by its source address without
     * visiting the bindings of other addresses. */
    ims_map_t *index[IDX_COUNT];
    ims_map_t *keys; /* Call-ID -> AKA CK/IK, oldest first */
    /* IMPUs changed since the last write-behind flush (only while tracking) */
    bool track;
    char **dirty;
    size_t ndirty, capdirty;
    pcscf_state_stats_t sstats;
    /* Binary min-heap of every registration by its earliest binding expiry: the sweep
     * visits only what is due instead of every binding each second. Holds exactly the
     * registrations in regs, so its size is also the registration count. */
    ims_heap_t heap;
    size_t nbindings;
};

char *pcscf_cache_xstrdup(const char *s);
/* key_dup of the cache's string-keyed maps (source index, AKA keys). */
void *pcscf_cache_key_dup(const void *key);
void pcscf_cache_strv_free(char **v, size_t n);
reg_t *pcscf_cache_reg_find(pcscf_cache_t *c, const char *impu);
/* Files r (bindings attached, room in the heap reserved) in regs, the heap and the
 * source index. 0 or ENOMEM (r untouched, still the caller's). */
int pcscf_cache_reg_insert(pcscf_cache_t *c, reg_t *r);
/* Takes r out of regs, the heap and the source index, and frees it. */
void pcscf_cache_reg_drop(pcscf_cache_t *c, reg_t *r);
/* Frees a registration that is in no cache. */
void pcscf_cache_reg_free(reg_t *r);
/* Puts b on, or takes it off, the source index lists of its received address (reg_source.c).
 * b->received must not change while b is on them. */
void pcscf_cache_index_add(pcscf_cache_t *c, binding_t *b);
void pcscf_cache_index_del(pcscf_cache_t *c, binding_t *b);
/* Creates the index maps; 0 or ENOMEM. */
int pcscf_cache_index_create(pcscf_cache_t *c);
/* The AKA keys by Call-ID (reg_cache_doc.c): the map, and dropping those past their TTL. */
int pcscf_cache_keys_create(pcscf_cache_t *c);
void pcscf_cache_keys_expire(pcscf_cache_t *c, uint64_t now);
/* Queues r's IMPU for the state file (once until the next flush). */
void pcscf_cache_mark_dirty(pcscf_cache_t *c, reg_t *r);

#endif
