/* One chained hash table for every keyed store of the daemons (nonces, guard entries,
 * registrations): type callbacks for hash/compare/copy/free, and a single IMPU key rule. */
#ifndef IMS_MAP_H
#define IMS_MAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What the map does with keys and values. hash and compare are required; the rest may be
 * NULL. key_dup copies a key on insert (NULL: the map keeps the caller's pointer, which
 * must then stay valid while the entry exists, e.g. a string inside the value). key_free
 * and val_free run when an entry leaves the map by ims_map_del, a replacing ims_map_put,
 * ims_map_clear or ims_map_free (never by ims_map_take, which hands the value back). */
typedef struct ims_map_type {
    uint64_t (*hash)(const void *key);
    int (*compare)(const void *a, const void *b); /* 0 when the keys are the same */
    void *(*key_dup)(const void *key);            /* NULL result means out of memory */
    void (*key_free)(void *key);
    void (*val_free)(void *val);
} ims_map_type_t;

/* Ready-made types. Keys are copied (strdup) and freed by the map; values are the
 * caller's (not freed). ims_map_str: byte-exact strings. ims_map_impu: IMPUs under the
 * rule of ims_impu_compare below. ims_map_str_ref: byte-exact strings the map neither
 * copies nor frees (a key that lives inside its value). */
extern const ims_map_type_t ims_map_str;
extern const ims_map_type_t ims_map_impu;
extern const ims_map_type_t ims_map_str_ref;

typedef struct ims_map ims_map_t;
typedef struct ims_map_entry ims_map_entry_t;

/* hint: entries expected (0: start small). The table doubles whenever it holds more
 * entries than buckets, so memory follows the count. Returns 0 or ENOMEM. */
int ims_map_create(const ims_map_type_t *type, size_t hint, ims_map_t **out);
/* Frees every entry (through the callbacks) and the map. NULL is fine. */
void ims_map_free(ims_map_t *m);
/* Removes every entry (through the callbacks); the map stays usable. */
void ims_map_clear(ims_map_t *m);

/* The value stored under key, or NULL. */
void *ims_map_get(const ims_map_t *m, const void *key);
/* The entry of key, or NULL: lets a caller storing NULL values tell "absent" apart. */
ims_map_entry_t *ims_map_find(const ims_map_t *m, const void *key);
/* Adds key → val; EEXIST (nothing changed) when key is present, ENOMEM on failure. */
int ims_map_add(ims_map_t *m, const void *key, void *val);
/* Adds or replaces. A replaced value goes through val_free and the entry keeps its place
 * in the order. Returns 0 or ENOMEM (nothing changed). */
int ims_map_put(ims_map_t *m, const void *key, void *val);
/* Removes key (key_free and val_free run); false when absent. */
bool ims_map_del(ims_map_t *m, const void *key);
/* Removes key without val_free and returns its value (NULL when absent). */
void *ims_map_take(ims_map_t *m, const void *key);
size_t ims_map_count(const ims_map_t *m);

/* Order: entries are kept in insertion order; ims_map_touch moves one to the newest end,
 * so the same map serves a creation-order purge (nonces) and an LRU (guard). */
void ims_map_touch(ims_map_t *m, ims_map_entry_t *e);
/* The oldest entry, or NULL when empty. */
ims_map_entry_t *ims_map_oldest(const ims_map_t *m);
const void *ims_map_entry_key(const ims_map_entry_t *e);
void *ims_map_entry_val(const ims_map_entry_t *e);
/* Removes one entry found before (callbacks run), without hashing its key again. */
void ims_map_del_entry(ims_map_t *m, ims_map_entry_t *e);

/* Iteration, oldest first. Deleting the entry last returned (by key or entry) is safe;
 * entries added during the walk are visited too (they go to the newest end); deleting
 * any other entry during the walk is not allowed.
 *     ims_map_iter_t it;
 *     ims_map_iter_init(m, &it);
 *     for (ims_map_entry_t *e; (e = ims_map_iter_next(&it));) ...              */
typedef struct ims_map_iter {
    ims_map_entry_t *next;
} ims_map_iter_t;
void ims_map_iter_init(const ims_map_t *m, ims_map_iter_t *it);
ims_map_entry_t *ims_map_iter_next(ims_map_iter_t *it);

/* Byte-exact string keys: FNV-1a. */
uint64_t ims_str_hash(const void *key);
int ims_str_compare(const void *a, const void *b);

/* The IMPU key rule, the same in every store of both CSCFs (after RFC 3261 §19.1.4):
 * the scheme ("sip", "sips", "tel", ...) and, in sip/sips URIs, the host and port (from
 * after the last '@', or after the scheme without one, up to the first ';', '?' or end)
 * compare case-insensitively; everything else (user part, telephone number, parameters)
 * compares byte for byte. So "SIP:alice@IMS.Example.Net" is "sip:alice@ims.example.net",
 * but "sip:Alice@ims.example.net" is another user. No other normalisation is made
 * (escapes, default ports and parameter order count as written). ims_impu_hash is
 * consistent with it: equal IMPUs hash the same. */
uint64_t ims_impu_hash(const void *key);
int ims_impu_compare(const void *a, const void *b);
bool ims_impu_equal(const char *a, const char *b);

#endif
