/* The S-CSCF's brake on online password guessing: failed authentications counted per
 * (UE address, IMPI) and per UE address across IMPIs, with a cooldown once a limit is hit. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ims/map.h"
#include "scscf.h"

/* A UE address alone ("*" as IMPI) or a UE address and one IMPI. */
typedef struct entry {
    unsigned fails;
    uint64_t last_fail_ms, blocked_until_ms;
    char key[]; /* "ADDRESS IMPI": the map's key */
} entry_t;

/* Entries by key, least recently failed first (the map's order, moved on each failure):
 * the eviction order, and the purge order. */
struct scscf_guard {
    ims_map_t *entries;
    size_t cap;
    unsigned limit;
    uint64_t cooldown_ms;
};

static const ims_map_type_t entry_type = {ims_str_hash, ims_str_compare, NULL, NULL, free};

int scscf_guard_create(long limit, long cooldown_s, size_t cap, scscf_guard_t **out)
{
    scscf_guard_t *g = calloc(1, sizeof(*g));
    if (!g)
        return ENOMEM;
    if (ims_map_create(&entry_type, cap, &g->entries)) {
        free(g);
        return ENOMEM;
    }
    g->cap = cap < 2 ? 2 : cap; /* room for both entries one failure touches */
    g->limit = limit > 0 ? (unsigned)limit : 1;
    g->cooldown_ms = (uint64_t)(cooldown_s > 0 ? cooldown_s : 1) * 1000;
    *out = g;
    return 0;
}

void scscf_guard_free(scscf_guard_t *g)
{
    if (!g)
        return;
    ims_map_free(g->entries);
    free(g);
}

static entry_t *oldest(const scscf_guard_t *g)
{
    ims_map_entry_t *e = ims_map_oldest(g->entries);
    return e ? ims_map_entry_val(e) : NULL;
}

static ims_map_entry_t *find(scscf_guard_t *g, const char *addr, const char *impi, bool create)
{
    char key[600];
    int n = snprintf(key, sizeof(key), "%s %s", addr, impi ? impi : "*");
    if (n < 0 || (size_t)n >= sizeof(key))
        key[sizeof(key) - 1] = 0; /* an absurdly long IMPI: its prefix is key enough */
    ims_map_entry_t *me = ims_map_find(g->entries, key);
    if (me || !create)
        return me;
    /* Full: forget the entry touched longest ago, so memory stays bounded whatever the
     * number of addresses and IMPIs an attacker cycles through. */
    if (ims_map_count(g->entries) >= g->cap && ims_map_oldest(g->entries))
        ims_map_del_entry(g->entries, ims_map_oldest(g->entries));
    size_t len = strlen(key);
    entry_t *e = calloc(1, sizeof(*e) + len + 1);
    if (!e)
        return NULL;
    memcpy(e->key, key, len + 1);
    if (ims_map_add(g->entries, e->key, e)) {
        free(e);
        return NULL;
    }
    return ims_map_find(g->entries, e->key);
}

static entry_t *val(ims_map_entry_t *me)
{
    return me ? ims_map_entry_val(me) : NULL;
}

/* Remaining cooldown of one entry in ms, 0 when it is not blocked. */
static uint64_t remaining(const entry_t *e, uint64_t now_ms)
{
    return e && e->blocked_until_ms > now_ms ? e->blocked_until_ms - now_ms : 0;
}

long scscf_guard_blocked(scscf_guard_t *g, const char *addr, const char *impi, uint64_t now_ms)
{
    uint64_t left = remaining(val(find(g, addr, NULL, false)), now_ms);
    if (impi) {
        uint64_t l2 = remaining(val(find(g, addr, impi, false)), now_ms);
        if (l2 > left)
            left = l2;
    }
    return left ? (long)((left + 999) / 1000) : 0;
}

static void count_failure(scscf_guard_t *g, ims_map_entry_t *me, uint64_t now_ms)
{
    entry_t *e = val(me);
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
    ims_map_touch(g->entries, me);
}

bool scscf_guard_failed(scscf_guard_t *g, const char *addr, const char *impi, uint64_t now_ms)
{
    ims_map_entry_t *one = find(g, addr, impi, true);
    count_failure(g, one, now_ms);
    ims_map_entry_t *all = find(g, addr, NULL, true);
    count_failure(g, all, now_ms);
    /* With cap >= 2, making room for `all` never evicts `one` (it was just touched). */
    return remaining(val(all), now_ms) || remaining(val(one), now_ms);
}

void scscf_guard_succeeded(scscf_guard_t *g, const char *addr, const char *impi, uint64_t now_ms)
{
    /* The per-IMPI count starts over; the address-wide one does not, or an attacker
     * could clear it by registering its own account between guesses. */
    ims_map_entry_t *me = find(g, addr, impi, false);
    if (me && val(me)->blocked_until_ms <= now_ms)
        ims_map_del_entry(g->entries, me);
}

/* The list is in order of last failure (every failure moves its entry to the tail), and
 * a cooldown never outlasts the failure that started it by more than cooldown_ms: so the
 * entries to forget are a prefix of the list, and the purge stops at the first one kept
 * instead of walking every entry each tick. */
void scscf_guard_purge(scscf_guard_t *g, uint64_t now_ms)
{
    for (entry_t *e; (e = oldest(g)) && e->blocked_until_ms <= now_ms &&
                     now_ms - e->last_fail_ms > g->cooldown_ms;)
        ims_map_del(g->entries, e->key);
}

size_t scscf_guard_count(scscf_guard_t *g)
{
    return g ? ims_map_count(g->entries) : 0;
}
