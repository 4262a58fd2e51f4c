/* The chained hash table of ims/map.h: power-of-two buckets, one list in insertion order
 * through every entry, and the string and IMPU key types. */
#include "ims/map.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAP_MIN_BUCKETS 16

struct ims_map_entry {
    ims_map_entry_t *hnext;       /* bucket chain */
    ims_map_entry_t *prev, *next; /* insertion order */
    uint64_t hash;                /* kept so growing and chain walks never call the hash again */
    void *key;
    void *val;
};

struct ims_map {
    const ims_map_type_t *type;
    ims_map_entry_t **buckets;
    size_t nbuckets, count;
    ims_map_entry_t *head, *tail;
};

int ims_map_create(const ims_map_type_t *type, size_t hint, ims_map_t **out)
{
    ims_map_t *m = calloc(1, sizeof(*m));
    if (!m)
        return ENOMEM;
    m->type = type;
    m->nbuckets = MAP_MIN_BUCKETS;
    while (m->nbuckets < hint && m->nbuckets < ((size_t)1 << 30))
        m->nbuckets <<= 1;
    m->buckets = calloc(m->nbuckets, sizeof(*m->buckets));
    if (!m->buckets) {
        free(m);
        return ENOMEM;
    }
    *out = m;
    return 0;
}

static void entry_release(const ims_map_t *m, ims_map_entry_t *e, bool free_val)
{
    if (m->type->key_free)
        m->type->key_free(e->key);
    if (free_val && m->type->val_free)
        m->type->val_free(e->val);
    free(e);
}

void ims_map_clear(ims_map_t *m)
{
    /* Unlinked first, freed after: a val_free that looks into the map sees it empty. */
    ims_map_entry_t *e = m->head;
    memset(m->buckets, 0, m->nbuckets * sizeof(*m->buckets));
    m->head = m->tail = NULL;
    m->count = 0;
    while (e) {
        ims_map_entry_t *nx = e->next;
        entry_release(m, e, true);
        e = nx;
    }
}

void ims_map_free(ims_map_t *m)
{
    if (!m)
        return;
    ims_map_clear(m);
    free(m->buckets);
    free(m);
}

/* Doubles the buckets. Done in one step rather than incrementally as in Redis: the
 * largest map here (100,000 registrations) rehashes in about a millisecond, once per
 * doubling. On failure the chains just get longer, which is slower but still right. */
static void grow(ims_map_t *m)
{
    size_t n = m->nbuckets * 2;
    ims_map_entry_t **b = calloc(n, sizeof(*b));
    if (!b)
        return;
    for (ims_map_entry_t *e = m->head; e; e = e->next) {
        size_t j = e->hash & (n - 1);
        e->hnext = b[j];
        b[j] = e;
    }
    free(m->buckets);
    m->buckets = b;
    m->nbuckets = n;
}

static ims_map_entry_t **slot_of(const ims_map_t *m, const void *key, uint64_t h)
{
    ims_map_entry_t **pp = &m->buckets[h & (m->nbuckets - 1)];
    for (; *pp; pp = &(*pp)->hnext)
        if ((*pp)->hash == h && m->type->compare((*pp)->key, key) == 0)
            break;
    return pp;
}

ims_map_entry_t *ims_map_find(const ims_map_t *m, const void *key)
{
    return *slot_of(m, key, m->type->hash(key));
}

void *ims_map_get(const ims_map_t *m, const void *key)
{
    ims_map_entry_t *e = ims_map_find(m, key);
    return e ? e->val : NULL;
}

static void order_unlink(ims_map_t *m, ims_map_entry_t *e)
{
    if (e->prev)
        e->prev->next = e->next;
    else
        m->head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        m->tail = e->prev;
}

static void order_append(ims_map_t *m, ims_map_entry_t *e)
{
    e->next = NULL;
    e->prev = m->tail;
    if (m->tail)
        m->tail->next = e;
    else
        m->head = e;
    m->tail = e;
}

static int insert(ims_map_t *m, const void *key, void *val, uint64_t h)
{
    ims_map_entry_t *e = malloc(sizeof(*e));
    if (!e)
        return ENOMEM;
    e->key = m->type->key_dup ? m->type->key_dup(key) : (void *)key;
    if (!e->key) {
        free(e);
        return ENOMEM;
    }
    e->hash = h;
    e->val = val;
    if (m->count >= m->nbuckets)
        grow(m);
    size_t j = h & (m->nbuckets - 1);
    e->hnext = m->buckets[j];
    m->buckets[j] = e;
    order_append(m, e);
    m->count++;
    return 0;
}

int ims_map_add(ims_map_t *m, const void *key, void *val)
{
    uint64_t h = m->type->hash(key);
    if (*slot_of(m, key, h))
        return EEXIST;
    return insert(m, key, val, h);
}

int ims_map_put(ims_map_t *m, const void *key, void *val)
{
    uint64_t h = m->type->hash(key);
    ims_map_entry_t *e = *slot_of(m, key, h);
    if (!e)
        return insert(m, key, val, h);
    if (e->val != val && m->type->val_free)
        m->type->val_free(e->val);
    e->val = val;
    return 0;
}

/* Unhooks e from its chain (pp: the link pointing at it) and the order list. */
static void unhook(ims_map_t *m, ims_map_entry_t **pp, ims_map_entry_t *e)
{
    *pp = e->hnext;
    order_unlink(m, e);
    m->count--;
}

bool ims_map_del(ims_map_t *m, const void *key)
{
    ims_map_entry_t **pp = slot_of(m, key, m->type->hash(key)), *e = *pp;
    if (!e)
        return false;
    unhook(m, pp, e);
    entry_release(m, e, true);
    return true;
}

void *ims_map_take(ims_map_t *m, const void *key)
{
    ims_map_entry_t **pp = slot_of(m, key, m->type->hash(key)), *e = *pp;
    if (!e)
        return NULL;
    void *val = e->val;
    unhook(m, pp, e);
    entry_release(m, e, false);
    return val;
}

void ims_map_del_entry(ims_map_t *m, ims_map_entry_t *e)
{
    ims_map_entry_t **pp = &m->buckets[e->hash & (m->nbuckets - 1)];
    while (*pp != e)
        pp = &(*pp)->hnext;
    unhook(m, pp, e);
    entry_release(m, e, true);
}

size_t ims_map_count(const ims_map_t *m)
{
    return m->count;
}

void ims_map_touch(ims_map_t *m, ims_map_entry_t *e)
{
    if (m->tail == e)
        return;
    order_unlink(m, e);
    order_append(m, e);
}

ims_map_entry_t *ims_map_oldest(const ims_map_t *m)
{
    return m->head;
}

const void *ims_map_entry_key(const ims_map_entry_t *e)
{
    return e->key;
}

void *ims_map_entry_val(const ims_map_entry_t *e)
{
    return e->val;
}

void ims_map_iter_init(const ims_map_t *m, ims_map_iter_t *it)
{
    it->next = m->head;
}

ims_map_entry_t *ims_map_iter_next(ims_map_iter_t *it)
{
    ims_map_entry_t *e = it->next;
    /* The successor is taken now, so the caller may delete e before asking again. */
    if (e)
        it->next = e->next;
    return e;
}

/* ---- key types ---- */

#define FNV_OFFSET 1469598103934665603ULL
#define FNV_PRIME  1099511628211ULL

uint64_t ims_str_hash(const void *key)
{
    uint64_t h = FNV_OFFSET;
    for (const unsigned char *s = key; *s; s++)
        h = (h ^ *s) * FNV_PRIME;
    return h;
}

int ims_str_compare(const void *a, const void *b)
{
    return strcmp(a, b);
}

/* Where the case-insensitive parts of an IMPU are: [0, scheme_end) and, for sip/sips,
 * [host, host_end). Outside both, bytes count as written. */
typedef struct impu_parts {
    size_t scheme_end, host, host_end;
} impu_parts_t;

static char lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c + ('a' - 'A')) : c;
}

static impu_parts_t impu_parts(const char *s)
{
    impu_parts_t p = {0, 0, 0};
    const char *colon = strchr(s, ':');
    if (!colon)
        return p; /* not a URI: compared byte for byte */
    p.scheme_end = (size_t)(colon - s) + 1;
    size_t n = p.scheme_end - 1;
    bool sip =
        (n == 3 && strncasecmp(s, "sip", 3) == 0) || (n == 4 && strncasecmp(s, "sips", 4) == 0);
    if (!sip)
        return p;
    size_t end = p.scheme_end + strcspn(s + p.scheme_end, "?");
    const char *at = NULL;
    for (const char *q = s + p.scheme_end; q < s + end; q++)
        if (*q == '@')
            at = q;
    p.host = at ? (size_t)(at - s) + 1 : p.scheme_end;
    p.host_end = p.host + strcspn(s + p.host, ";?");
    return p;
}

static bool folded(const impu_parts_t *p, size_t i)
{
    return i < p->scheme_end || (i >= p->host && i < p->host_end);
}

uint64_t ims_impu_hash(const void *key)
{
    const char *s = key;
    impu_parts_t p = impu_parts(s);
    uint64_t h = FNV_OFFSET;
    for (size_t i = 0; s[i]; i++)
        h = (h ^ (unsigned char)(folded(&p, i) ? lower(s[i]) : s[i])) * FNV_PRIME;
    return h;
}

int ims_impu_compare(const void *a, const void *b)
{
    const char *x = a, *y = b;
    impu_parts_t px = impu_parts(x), py = impu_parts(y);
    /* The parts are bounded by ':', '@', ';' and '?', which case does not change: IMPUs
     * whose parts sit at other offsets differ, and so do the strings. */
    if (px.scheme_end != py.scheme_end || px.host != py.host || px.host_end != py.host_end)
        return strcmp(x, y);
    for (size_t i = 0;; i++) {
        char cx = folded(&px, i) ? lower(x[i]) : x[i];
        char cy = folded(&py, i) ? lower(y[i]) : y[i];
        if (cx != cy)
            return (unsigned char)cx < (unsigned char)cy ? -1 : 1;
        if (!cx)
            return 0;
    }
}

bool ims_impu_equal(const char *a, const char *b)
{
    return ims_impu_compare(a, b) == 0;
}

static void *str_dup(const void *key)
{
    return strdup(key);
}

const ims_map_type_t ims_map_str = {ims_str_hash, ims_str_compare, str_dup, free, NULL};
const ims_map_type_t ims_map_impu = {ims_impu_hash, ims_impu_compare, str_dup, free, NULL};
const ims_map_type_t ims_map_str_ref = {ims_str_hash, ims_str_compare, NULL, NULL, NULL};
