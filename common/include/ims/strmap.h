/* A chained hash map from strings (copied) to pointers (borrowed): the one map shape the
 * daemons need for identities (IMPI, IMPU, IMSI -> their record). Not thread-safe. */
#ifndef IMS_STRMAP_H
#define IMS_STRMAP_H

#include <stddef.h>

typedef struct ims_strmap_entry ims_strmap_entry_t;

typedef struct ims_strmap {
    ims_strmap_entry_t **slots;
    size_t nslots, count;
} ims_strmap_t; /* zero-initialised = empty */

/* The value of key, or NULL. */
void *ims_strmap_get(const ims_strmap_t *m, const char *key);
/* Sets key to value (replacing an older value). Returns 0 or ENOMEM (map unchanged). */
int ims_strmap_put(ims_strmap_t *m, const char *key, void *value);
/* Removes key when it maps to value (or to anything when value is NULL); returns 1 when
 * removed, 0 otherwise. */
int ims_strmap_del(ims_strmap_t *m, const char *key, const void *value);
/* Frees the map's own memory (keys, slots); values are the caller's. */
void ims_strmap_free(ims_strmap_t *m);

#endif
