/* String-keyed chained hash map (FNV-1a, power-of-two slots, doubling at load 1), so a
 * lookup costs the same with ten or a hundred thousand identities. */
#include "ims/strmap.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define FIRST_SLOTS 64

struct ims_strmap_entry {
    ims_strmap_entry_t *next;
    void *value;
    char key[];
};

static uint64_t hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

static int grow(ims_strmap_t *m)
{
    size_t n = m->nslots ? m->nslots * 2 : FIRST_SLOTS;
    ims_strmap_entry_t **s = calloc(n, sizeof(*s));
    if (!s)
        return ENOMEM;
    for (size_t i = 0; i < m->nslots; i++) {
        for (ims_strmap_entry_t *e = m->slots[i], *nx; e; e = nx) {
            nx = e->next;
            size_t j = hash(e->key) & (n - 1);
            e->next = s[j];
            s[j] = e;
        }
    }
    free(m->slots);
    m->slots = s;
    m->nslots = n;
    return 0;
}

void *ims_strmap_get(const ims_strmap_t *m, const char *key)
{
    if (!m->nslots)
        return NULL;
    for (ims_strmap_entry_t *e = m->slots[hash(key) & (m->nslots - 1)]; e; e = e->next)
        if (strcmp(e->key, key) == 0)
            return e->value;
    return NULL;
}

int ims_strmap_put(ims_strmap_t *m, const char *key, void *value)
{
    if (m->count + 1 > m->nslots && grow(m) != 0 && !m->nslots)
        return ENOMEM; /* a failed grow with slots still works, with longer chains */
    size_t j = hash(key) & (m->nslots - 1);
    for (ims_strmap_entry_t *e = m->slots[j]; e; e = e->next) {
        if (strcmp(e->key, key) == 0) {
            e->value = value;
            return 0;
        }
    }
    size_t len = strlen(key);
    ims_strmap_entry_t *e = malloc(sizeof(*e) + len + 1);
    if (!e)
        return ENOMEM;
    memcpy(e->key, key, len + 1);
    e->value = value;
    e->next = m->slots[j];
    m->slots[j] = e;
    m->count++;
    return 0;
}

int ims_strmap_del(ims_strmap_t *m, const char *key, const void *value)
{
    if (!m->nslots)
        return 0;
    for (ims_strmap_entry_t **pp = &m->slots[hash(key) & (m->nslots - 1)]; *pp; pp = &(*pp)->next) {
        ims_strmap_entry_t *e = *pp;
        if (strcmp(e->key, key) == 0) {
            if (value && e->value != value)
                return 0;
            *pp = e->next;
            free(e);
            m->count--;
            return 1;
        }
    }
    return 0;
}

void ims_strmap_free(ims_strmap_t *m)
{
    for (size_t i = 0; i < m->nslots; i++) {
        for (ims_strmap_entry_t *e = m->slots[i], *nx; e; e = nx) {
            nx = e->next;
            free(e);
        }
    }
    free(m->slots);
    *m = (ims_strmap_t){0};
}
