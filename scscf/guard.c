/* The S-CSCF's brake on online password guessing: failed authentications counted per
 * (UE address, IMPI) and per UE address across IMPIs, with a cooldown once a limit is hit. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scscf.h"

/* A UE address alone ("*" as IMPI) or a UE address and one IMPI. */
typedef struct entry {
    struct entry *hnext;         /* hash chain */
    struct entry *lprev, *lnext; /* least recently touched first: the eviction order */
    unsigned fails;
    uint64_t last_fail_ms, blocked_until_ms;
    char key[]; /* "ADDRESS IMPI" */
} entry_t;

struct scscf_guard {
    entry_t **slots;
    size_t nslots, count, cap;
    entry_t *head, *tail;
    unsigned limit;
    uint64_t cooldown_ms;
};

static uint64_t hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

int scscf_guard_create(long limit, long cooldown_s, size_t cap, scscf_guard_t **out)
{
    scscf_guard_t *g = calloc(1, sizeof(*g));
    if (!g)
        return ENOMEM;
    g->nslots = 1;
    while (g->nslots < cap)
        g->nslots <<= 1;
    g->slots = calloc(g->nslots, sizeof(*g->slots));
    if (!g->slots) {
        free(g);
        return ENOMEM;
    }
    g->cap = cap < 2 ? 2 : cap; /* room for both entries one failure touches */
    g->limit = limit > 0 ? (unsigned)limit : 1;
    g->cooldown_ms = (uint64_t)(cooldown_s > 0 ? cooldown_s : 1) * 1000;
    *out = g;
    return 0;
}

static void unlink_list(scscf_guard_t *g, entry_t *e)
{
    if (e->lprev)
        e->lprev->lnext = e->lnext;
    else
        g->head = e->lnext;
    if (e->lnext)
        e->lnext->lprev = e->lprev;
    else
        g->tail = e->lprev;
    e->lprev = e->lnext = NULL;
}

static void push_tail(scscf_guard_t *g, entry_t *e)
{
    e->lprev = g->tail;
    e->lnext = NULL;
    if (g->tail)
        g->tail->lnext = e;
    else
        g->head = e;
    g->tail = e;
}

static void drop(scscf_guard_t *g, entry_t *e)
{
    entry_t **pp = &g->slots[hash(e->key) & (g->nslots - 1)];
    while (*pp && *pp != e)
        pp = &(*pp)->hnext;
    if (*pp)
        *pp = e->hnext;
    unlink_list(g, e);
    g->count--;
    free(e);
}

void scscf_guard_free(scscf_guard_t *g)
{
    if (!g)
        return;
    while (g->head)
        drop(g, g->head);
    free(g->slots);
    free(g);
}

static entry_t *find(scscf_guard_t *g, const char *addr, const char *impi, bool create)
{
    char key[600];
    int n = snprintf(key, sizeof(key), "%s %s", addr, impi ? impi : "*");
    if (n < 0 || (size_t)n >= sizeof(key))
        key[sizeof(key) - 1] = 0; /* an absurdly long IMPI: its prefix is key enough */
    size_t j = hash(key) & (g->nslots - 1);
    for (entry_t *e = g->slots[j]; e; e = e->hnext)
        if (strcmp(e->key, key) == 0)
            return e;
    if (!create)
        return NULL;
    /* Full: forget the entry touched longest ago, so memory stays bounded whatever the
     * number of addresses and IMPIs an attacker cycles through. */
    if (g->count >= g->cap && g->head)
        drop(g, g->head);
    size_t len = strlen(key);
    entry_t *e = calloc(1, sizeof(*e) + len + 1);
    if (!e)
        return NULL;
    memcpy(e->key, key, len + 1);
    e->hnext = g->slots[j];
    g->slots[j] = e;
    push_tail(g, e);
    g->count++;
    return e;
}

/* Remaining cooldown of one entry in ms, 0 when it is not blocked. */
static uint64_t remaining(const entry_t *e, uint64_t now_ms)
{
    return e && e->blocked_until_ms > now_ms ? e->blocked_until_ms - now_ms : 0;
}

long scscf_guard_blocked(scscf_guard_t *g, const char *addr, const char *impi, uint64_t now_ms)
{
    uint64_t left = remaining(find(g, addr, NULL, false), now_ms);
    if (impi) {
        uint64_t l2 = remaining(find(g, addr, impi, false), now_ms);
        if (l2 > left)
            left = l2;
    }
    return left ? (long)((left + 999) / 1000) : 0;
}

static void count_failure(scscf_guard_t *g, entry_t *e, uint64_t now_ms)
{
    if (!e)
        return;
    /* Failures older than a cooldown are forgiven: a UE that mistypes now and then is
     * never locked out, only a burst of guesses is. */
    if (e->last_fail_ms && now_ms - e->last_fail_ms > g->cooldown_ms)
        e->fails = 0;
    e->last_fail_ms = now_ms;
    if (++e->fails >= g->limit) {
        e->blocked_until_ms = now_ms + g->cooldown_ms;
        e->fails = 0;
    }
    unlink_list(g, e);
    push_tail(g, e);
}

bool scscf_guard_failed(scscf_guard_t *g, const char *addr, const char *impi, uint64_t now_ms)
{
    entry_t *one = find(g, addr, impi, true);
    count_failure(g, one, now_ms);
    entry_t *all = find(g, addr, NULL, true);
    count_failure(g, all, now_ms);
    /* With cap >= 2, making room for `all` never evicts `one` (it was just touched). */
    return remaining(all, now_ms) || remaining(one, now_ms);
}

void scscf_guard_succeeded(scscf_guard_t *g, const char *addr, const char *impi, uint64_t now_ms)
{
    /* The per-IMPI count starts over; the address-wide one does not, or an attacker
     * could clear it by registering its own account between guesses. */
    entry_t *e = find(g, addr, impi, false);
    if (e && e->blocked_until_ms <= now_ms)
        drop(g, e);
}

/* The list is in order of last failure (every failure moves its entry to the tail), and
 * a cooldown never outlasts the failure that started it by more than cooldown_ms: so the
 * entries to forget are a prefix of the list, and the purge stops at the first one kept
 * instead of walking every entry each tick. */
void scscf_guard_purge(scscf_guard_t *g, uint64_t now_ms)
{
    while (g->head && g->head->blocked_until_ms <= now_ms &&
           now_ms - g->head->last_fail_ms > g->cooldown_ms)
        drop(g, g->head);
}

size_t scscf_guard_count(scscf_guard_t *g)
{
    return g ? g->count : 0;
}
