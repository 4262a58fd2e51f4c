/* The P-CSCF's memory of who registered through it: IMPU, contacts with the address
 * each REGISTER came from, Service-Route, P-Associated-URI and expiry (loop thread only). */
#include "reg_cache_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sofia-sip/su_alloc.h>
#include <sofia-sip/url.h>

#include "ims/log.h"
#include "ims/util.h"

/* Registrations by IMPU under the one IMPU rule of both CSCFs; the key is the reg's own
 * impu string, and the regs are freed by the cache, not the map. */
static const ims_map_type_t reg_type = {
    .hash = ims_impu_hash,
    .compare = ims_impu_compare,
};

char *pcscf_cache_xstrdup(const char *s)
{
    return s ? strdup(s) : NULL;
}

void *pcscf_cache_key_dup(const void *key)
{
    return strdup(key);
}

void pcscf_cache_strv_free(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static char **strv_dup(const char *const *v, size_t n)
{
    char **out = calloc(n ? n : 1, sizeof *out);
    if (!out)
        return NULL;
    for (size_t i = 0; i < n; i++)
        out[i] = pcscf_cache_xstrdup(v[i]);
    return out;
}

static void binding_free(binding_t *b)
{
    free(b->contact);
    free(b->received);
    free(b->transport);
    free(b->user_agent);
    free(b);
}

/* Takes a binding of a filed registration out of the source index and frees it. */
static void binding_drop(pcscf_cache_t *c, binding_t *b)
{
    pcscf_cache_index_del(c, b);
    binding_free(b);
    c->nbindings--;
}

void pcscf_cache_reg_free(reg_t *r)
{
    binding_t *b, *nb;
    for (b = r->bindings; b; b = nb) {
        nb = b->next;
        binding_free(b);
    }
    free(r->impu);
    free(r->impi);
    free(r->path);
    pcscf_cache_strv_free(r->assoc, r->nassoc);
    pcscf_cache_strv_free(r->sr, r->nsr);
    free(r);
}

/* ---- expiry heap ---- */

static reg_t *reg_of(const ims_heap_node_t *n)
{
    return (reg_t *)((char *)n - offsetof(reg_t, expiry));
}

static uint64_t reg_due(const reg_t *r)
{
    uint64_t due = UINT64_MAX;
    for (const binding_t *b = r->bindings; b; b = b->next)
        if (b->expires_at_ms < due)
            due = b->expires_at_ms;
    return r->bindings ? due : 0;
}

/* Re-files a registration whose bindings changed. */
static void heap_refile(pcscf_cache_t *c, reg_t *r)
{
    ims_heap_set_due(&c->heap, &r->expiry, (int64_t)reg_due(r));
}

/* ---- registrations ---- */

int pcscf_cache_create(pcscf_cache_t **out)
{
    pcscf_cache_t *c = calloc(1, sizeof *c);
    if (!c)
        return ENOMEM;
    if (ims_map_create(&reg_type, 0, &c->regs) != 0 || pcscf_cache_index_create(c) != 0 ||
        pcscf_cache_keys_create(c) != 0) {
        pcscf_cache_destroy(c);
        return ENOMEM;
    }
    *out = c;
    return 0;
}

void pcscf_cache_destroy(pcscf_cache_t *c)
{
    if (!c)
        return;
    ims_map_iter_t it;
    ims_map_iter_init(c->regs, &it);
    for (ims_map_entry_t *e; (e = ims_map_iter_next(&it));)
        pcscf_cache_reg_free(ims_map_entry_val(e));
    ims_map_free(c->regs);
    for (int i = 0; i < IDX_COUNT; i++)
        ims_map_free(c->index[i]);
    ims_map_free(c->keys);
    for (size_t i = 0; i < c->ndirty; i++)
        free(c->dirty[i]);
    free(c->dirty);
    ims_heap_free(&c->heap);
    free(c);
}

reg_t *pcscf_cache_reg_find(pcscf_cache_t *c, const char *impu)
{
    return ims_map_get(c->regs, impu);
}

int pcscf_cache_reg_insert(pcscf_cache_t *c, reg_t *r)
{
    if (ims_map_add(c->regs, r->impu, r) != 0)
        return ENOMEM;
    r->expiry.due = (int64_t)reg_due(r);
    ims_heap_push(&c->heap, &r->expiry);
    for (binding_t *b = r->bindings; b; b = b->next) {
        b->reg = r;
        pcscf_cache_index_add(c, b);
        c->nbindings++;
    }
    return 0;
}

void pcscf_cache_reg_drop(pcscf_cache_t *c, reg_t *r)
{
    for (binding_t *b = r->bindings, *nb; b; b = nb) {
        nb = b->next;
        binding_drop(c, b);
    }
    r->bindings = NULL;
    ims_map_del(c->regs, r->impu);
    ims_heap_remove(&c->heap, &r->expiry);
    pcscf_cache_reg_free(r);
}

/* SIP URI equivalence (user, host, port, transport) rather than string equality, as
 * the S-CSCF may re-encode the Contact it echoes. */
static bool uri_same(su_home_t *home, const char *a, const char *b)
{
    url_t *ua = url_make(home, a), *ub = url_make(home, b);
    if (!ua || !ub)
        return strcmp(a, b) == 0;
    return url_cmp(ua, ub) == 0;
}

static long live_expires(su_home_t *home, const char *uri, const char *const *live_uris,
                         const long *live_expires, size_t nlive)
{
    for (size_t i = 0; i < nlive; i++)
        if (uri_same(home, uri, live_uris[i]))
            return live_expires[i];
    return 0;
}

/* The registration of impu, created empty (filed as due at once until it has bindings). */
static reg_t *reg_get(pcscf_cache_t *c, const char *impu)
{
    reg_t *r = pcscf_cache_reg_find(c, impu);
    if (r)
        return r;
    r = ims_heap_reserve(&c->heap, 1) ? NULL : calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->impu = pcscf_cache_xstrdup(impu);
    if (!r->impu || pcscf_cache_reg_insert(c, r) != 0) {
        pcscf_cache_reg_free(r);
        return NULL;
    }
    return r;
}

/* The latest 200 OK is the truth about the implicit set, the route and the IMPI. */
static void reg_set_route(reg_t *r, const char *impi, const char *const *assoc, size_t nassoc,
                          const char *const *service_route, size_t nsr, const char *path)
{
    if (impi) {
        free(r->impi);
        r->impi = pcscf_cache_xstrdup(impi);
    }
    if (nassoc) {
        pcscf_cache_strv_free(r->assoc, r->nassoc);
        r->assoc = strv_dup(assoc, nassoc);
        r->nassoc = r->assoc ? nassoc : 0;
    }
    if (nsr) {
        pcscf_cache_strv_free(r->sr, r->nsr);
        r->sr = strv_dup(service_route, nsr);
        r->nsr = r->sr ? nsr : 0;
    }
    if (path) {
        free(r->path);
        r->path = pcscf_cache_xstrdup(path);
    }
}

/* Creates or refreshes the binding of one contact this REGISTER carried. */
static void binding_set(pcscf_cache_t *c, reg_t *r, su_home_t *home, const pcscf_binding_in_t *in,
                        long e, uint64_t now)
{
    binding_t *b;
    for (b = r->bindings; b; b = b->next)
        if (uri_same(home, b->contact, in->contact))
            break;
    if (!b) {
        b = calloc(1, sizeof *b);
        if (!b)
            return;
        b->contact = pcscf_cache_xstrdup(in->contact);
        b->reg = r;
        b->next = r->bindings;
        r->bindings = b;
        c->nbindings++;
    }
    /* Re-indexed only when the address changed: a refresh from the same address (the
     * usual case) costs no index work. */
    bool moved = !b->received || !in->received || strcmp(b->received, in->received) != 0;
    if (moved) {
        pcscf_cache_index_del(c, b);
        free(b->received);
        b->received = pcscf_cache_xstrdup(in->received);
        pcscf_cache_index_add(c, b);
    }
    free(b->transport);
    free(b->user_agent);
    b->transport = pcscf_cache_xstrdup(in->transport);
    b->user_agent = pcscf_cache_xstrdup(in->user_agent);
    b->expires_at_ms = now + (uint64_t)e * 1000;
}

void pcscf_cache_update(pcscf_cache_t *c, const char *impu, const char *impi,
                        const char *const *assoc, size_t nassoc, const char *const *service_route,
                        size_t nsr, const char *path, const pcscf_binding_in_t *mine, size_t nmine,
                        const char *const *live_uris, const long *live_expires_v, size_t nlive)
{
    su_home_t home[1] = {SU_HOME_INIT(home)};
    uint64_t now = ims_now_ms();
    reg_t *r = reg_get(c, impu);
    if (!r)
        goto out;
    reg_set_route(r, impi, assoc, nassoc, service_route, nsr, path);
    /* Existing bindings the S-CSCF no longer lists are gone (Expires 0, Contact: *). */
    for (binding_t **bp = &r->bindings; *bp;) {
        binding_t *b = *bp;
        long e = live_expires(home, b->contact, live_uris, live_expires_v, nlive);
        if (e <= 0) {
            *bp = b->next;
            binding_drop(c, b);
            continue;
        }
        b->expires_at_ms = now + (uint64_t)e * 1000;
        bp = &b->next;
    }
    for (size_t i = 0; i < nmine; i++) {
        long e = live_expires(home, mine[i].contact, live_uris, live_expires_v, nlive);
        if (e > 0)
            binding_set(c, r, home, &mine[i], e, now);
    }
    heap_refile(c, r);
    pcscf_cache_mark_dirty(c, r);
    if (!r->bindings)
        pcscf_cache_reg_drop(c, r);
out:
    su_home_deinit(home);
}

size_t pcscf_cache_expire(pcscf_cache_t *c)
{
    return pcscf_cache_expire_at(c, ims_now_ms());
}

size_t pcscf_cache_expire_at(pcscf_cache_t *c, uint64_t now)
{
    size_t gone = 0;

    /* Only registrations with a binding due are visited; each visit leaves the
     * registration due after now or removes it, so the loop ends. */
    for (ims_heap_node_t *top; (top = ims_heap_top(&c->heap)) && top->due <= (int64_t)now;) {
        reg_t *r = reg_of(top);
        for (binding_t **bp = &r->bindings; *bp;) {
            if ((*bp)->expires_at_ms <= now) {
                binding_t *b = *bp;
                *bp = b->next;
                binding_drop(c, b);
                gone++;
                pcscf_cache_mark_dirty(c, r);
            } else {
                bp = &(*bp)->next;
            }
        }
        if (!r->bindings)
            pcscf_cache_reg_drop(c, r);
        else
            heap_refile(c, r);
    }
    pcscf_cache_keys_expire(c, now);
    return gone;
}

bool pcscf_cache_remove(pcscf_cache_t *c, const char *impu)
{
    reg_t *r = pcscf_cache_reg_find(c, impu);
    if (!r)
        return false;
    pcscf_cache_mark_dirty(c, r);
    pcscf_cache_reg_drop(c, r);
    return true;
}

size_t pcscf_cache_count(pcscf_cache_t *c, size_t *nbindings)
{
    /* kept up to date by every change: a /metrics scrape no longer walks the cache */
    if (nbindings)
        *nbindings = c->nbindings;
    return c->heap.n;
}
