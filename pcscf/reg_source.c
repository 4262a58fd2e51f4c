/* The registration cache's source index: which bindings were registered from an address,
 * so a request other than REGISTER finds its registration without a scan of every binding. */
#include "reg_cache_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ims/util.h"

/* A map value: the head of one address's binding list (kept at a stable address, as the
 * first binding's prevp points into it). */
typedef struct slot {
    binding_t *head;
} slot_t;

static const ims_map_type_t slot_type = {
    .hash = ims_str_hash,
    .compare = ims_str_compare,
    .key_dup = pcscf_cache_key_dup,
    .key_free = free,
    .val_free = free,
};

int pcscf_cache_index_create(pcscf_cache_t *c)
{
    for (int i = 0; i < IDX_COUNT; i++)
        if (ims_map_create(&slot_type, 0, &c->index[i]) != 0)
            return ENOMEM;
    return 0;
}

/* The index keys of a received "ip:port" / "[v6]:port": "host|port" and "host". */
static bool index_keys(const char *received, char keys[IDX_COUNT][80])
{
    char host[64];
    uint16_t port = 0;
    if (!received || ims_parse_hostport(received, host, sizeof host, &port, 0) != 0)
        return false;
    snprintf(keys[IDX_ADDR], sizeof keys[IDX_ADDR], "%s|%u", host, port);
    snprintf(keys[IDX_HOST], sizeof keys[IDX_HOST], "%s", host);
    return true;
}

void pcscf_cache_index_add(pcscf_cache_t *c, binding_t *b)
{
    char keys[IDX_COUNT][80];
    if (!index_keys(b->received, keys))
        return;
    for (int i = 0; i < IDX_COUNT; i++) {
        slot_t *s = ims_map_get(c->index[i], keys[i]);
        if (!s) {
            s = calloc(1, sizeof *s);
            if (!s || ims_map_add(c->index[i], keys[i], s) != 0) {
                free(s);
                continue; /* out of memory: lookups miss this binding, nothing breaks */
            }
        }
        b->idx[i].next = s->head;
        if (s->head)
            s->head->idx[i].prevp = &b->idx[i].next;
        b->idx[i].prevp = &s->head;
        s->head = b;
    }
}

void pcscf_cache_index_del(pcscf_cache_t *c, binding_t *b)
{
    char keys[IDX_COUNT][80];
    bool keyed = index_keys(b->received, keys);
    for (int i = 0; i < IDX_COUNT; i++) {
        if (!b->idx[i].prevp)
            continue;
        *b->idx[i].prevp = b->idx[i].next;
        if (b->idx[i].next)
            b->idx[i].next->idx[i].prevp = b->idx[i].prevp;
        b->idx[i].next = NULL;
        b->idx[i].prevp = NULL;
        /* An address with no binding left leaves the map. */
        slot_t *s = keyed ? ims_map_get(c->index[i], keys[i]) : NULL;
        if (s && !s->head)
            ims_map_del(c->index[i], keys[i]);
    }
}

/* True when identity is the registration's IMPU or one of its associated URIs. */
static bool reg_names(const reg_t *r, const char *identity)
{
    if (!identity)
        return false;
    if (ims_impu_equal(r->impu, identity))
        return true;
    for (size_t i = 0; i < r->nassoc; i++)
        if (ims_impu_equal(r->assoc[i], identity))
            return true;
    return false;
}

/* The first live binding on key's list whose registration fits; NULL when none. */
static const reg_t *first_fit(pcscf_cache_t *c, int which, const char *key, const char *identity,
                              bool any_identity, uint64_t now)
{
    const slot_t *s = ims_map_get(c->index[which], key);
    for (const binding_t *b = s ? s->head : NULL; b; b = b->idx[which].next)
        if (b->expires_at_ms > now && ((any_identity && !identity) || reg_names(b->reg, identity)))
            return b->reg;
    return NULL;
}

bool pcscf_cache_lookup(pcscf_cache_t *c, const char *src_ip, uint16_t src_port,
                        const char *identity, const char *const **service_route, size_t *nsr,
                        const char **impu)
{
    uint64_t now = ims_now_ms();
    char key[80];

    /* A binding registered from this very address wins; else one from the same host
     * (the UE's port changed, e.g. a new NAT mapping) of a registration naming the
     * identity. Costs the bindings of that address or host, not of the whole cache. */
    snprintf(key, sizeof key, "%s|%u", src_ip, src_port);
    const reg_t *r = first_fit(c, IDX_ADDR, key, identity, true, now);
    if (!r)
        r = first_fit(c, IDX_HOST, src_ip, identity, false, now);
    if (!r)
        return false;
    *service_route = (const char *const *)r->sr;
    *nsr = r->nsr;
    if (impu)
        *impu = r->impu;
    return true;
}
