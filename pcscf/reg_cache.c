/* The P-CSCF's memory of who registered through it: IMPU, contacts with the address
 * each REGISTER came from, Service-Route, P-Associated-URI and expiry (loop thread only). */
#include "pcscf.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sofia-sip/su_alloc.h>
#include <sofia-sip/url.h>

#include "ims/heap.h"
#include "ims/log.h"
#include "ims/util.h"

typedef struct binding {
    char *contact, *received, *transport, *user_agent;
    uint64_t expires_at_ms; /* monotonic */
    struct binding *next;
} binding_t;

typedef struct reg {
    char *impu, *impi, *path;
    char **assoc;
    size_t nassoc;
    char **sr;
    size_t nsr;
    binding_t *bindings;
    bool dirty; /* queued for the state file */
    struct reg *next;
    ims_heap_node_t expiry; /* due: earliest expires_at_ms of its bindings (0: none) */
} reg_t;

typedef struct keys {
    char *call_id;
    char ck[64], ik[64];
    uint64_t created_ms;
    struct keys *next;
} keys_t;

/* IMPUs hash into buckets so a REGISTER costs the same with 10 or 100k registrations. */
#define NBUCKETS 4096

struct pcscf_cache {
    reg_t *buckets[NBUCKETS];
    keys_t *keys; /* newest first */
    size_t nkeys;
    /* IMPUs changed since the last write-behind flush (only while tracking) */
    bool track;
    char **dirty;
    size_t ndirty, capdirty;
    pcscf_state_stats_t sstats;
    /* Binary min-heap of every registration by its earliest binding expiry: the sweep
     * visits only what is due instead of every binding each second. Holds exactly the
     * registrations in the buckets, so its size is also the registration count. */
    ims_heap_t heap;
    size_t nbindings;
};

#define KEYS_TTL_MS (5 * 60 * 1000)
/* A UE answers its challenge within seconds; under an AKA load test the list must not
 * grow without bound, so past KEYS_MAX the older half is dropped at once. */
#define KEYS_MAX 2048

static char *xstrdup(const char *s)
{
    return s ? strdup(s) : NULL;
}

static void strv_free(char **v, size_t n)
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
        out[i] = xstrdup(v[i]);
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

static void reg_free(reg_t *r)
{
    binding_t *b, *nb;
    for (b = r->bindings; b; b = nb) {
        nb = b->next;
        binding_free(b);
    }
    free(r->impu);
    free(r->impi);
    free(r->path);
    strv_free(r->assoc, r->nassoc);
    strv_free(r->sr, r->nsr);
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

static size_t reg_nbindings(const reg_t *r)
{
    size_t n = 0;
    for (const binding_t *b = r->bindings; b; b = b->next)
        n++;
    return n;
}

/* Files a new registration (room reserved) with its bindings counted. */
static void heap_push(pcscf_cache_t *c, reg_t *r)
{
    r->expiry.due = (int64_t)reg_due(r);
    ims_heap_push(&c->heap, &r->expiry);
    c->nbindings += reg_nbindings(r);
}

/* Re-files a registration whose bindings changed. */
static void heap_refile(pcscf_cache_t *c, reg_t *r)
{
    ims_heap_set_due(&c->heap, &r->expiry, (int64_t)reg_due(r));
}

/* Takes a registration out of the heap and the binding count (not out of its bucket). */
static void heap_remove(pcscf_cache_t *c, reg_t *r)
{
    c->nbindings -= reg_nbindings(r);
    ims_heap_remove(&c->heap, &r->expiry);
}

static void keys_free(keys_t *k)
{
    ims_secure_zero(k->ck, sizeof k->ck);
    ims_secure_zero(k->ik, sizeof k->ik);
    free(k->call_id);
    free(k);
}

int pcscf_cache_create(pcscf_cache_t **out)
{
    pcscf_cache_t *c = calloc(1, sizeof *c);
    if (!c)
        return ENOMEM;
    *out = c;
    return 0;
}

void pcscf_cache_destroy(pcscf_cache_t *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < NBUCKETS; i++)
        for (reg_t *r = c->buckets[i], *n; r; r = n) {
            n = r->next;
            reg_free(r);
        }
    for (keys_t *k = c->keys, *n; k; k = n) {
        n = k->next;
        keys_free(k);
    }
    for (size_t i = 0; i < c->ndirty; i++)
        free(c->dirty[i]);
    free(c->dirty);
    ims_heap_free(&c->heap);
    free(c);
}

static bool dirty_push(pcscf_cache_t *c, const char *impu)
{
    if (!c->track)
        return false;
    if (c->ndirty == c->capdirty) {
        size_t n = c->capdirty ? c->capdirty * 2 : 256;
        char **d = realloc(c->dirty, n * sizeof *d);
        if (!d)
            return false; /* persistence is best effort; the live cache stays right */
        c->dirty = d;
        c->capdirty = n;
    }
    char *k = strdup(impu);
    if (!k)
        return false;
    c->dirty[c->ndirty++] = k;
    return true;
}

void pcscf_cache_dirty_add(pcscf_cache_t *c, const char *impu)
{
    dirty_push(c, impu);
}

/* A registration already queued is not queued twice: the flush writes its state as it is
 * then, whatever happened in between. */
static void mark_dirty(pcscf_cache_t *c, reg_t *r)
{
    if (!r->dirty)
        r->dirty = dirty_push(c, r->impu);
}

/* FNV-1a over the lower-cased IMPU (IMPUs compare case-insensitively). */
static reg_t **bucket(pcscf_cache_t *c, const char *impu)
{
    uint32_t h = 2166136261u;
    for (const char *s = impu; *s; s++) {
        char ch = *s >= 'A' && *s <= 'Z' ? (char)(*s + 32) : *s;
        h = (h ^ (uint8_t)ch) * 16777619u;
    }
    return &c->buckets[h % NBUCKETS];
}

static reg_t *reg_find(pcscf_cache_t *c, const char *impu, reg_t ***prevp)
{
    reg_t **pp = bucket(c, impu);
    for (; *pp; pp = &(*pp)->next)
        if (strcasecmp((*pp)->impu, impu) == 0) {
            if (prevp)
                *prevp = pp;
            return *pp;
        }
    return NULL;
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

void pcscf_cache_update(pcscf_cache_t *c, const char *impu, const char *impi,
                        const char *const *assoc, size_t nassoc, const char *const *service_route,
                        size_t nsr, const char *path, const pcscf_binding_in_t *mine, size_t nmine,
                        const char *const *live_uris, const long *live_expires_v, size_t nlive)
{
    su_home_t home[1] = {SU_HOME_INIT(home)};
    reg_t **pp = NULL, *r = reg_find(c, impu, &pp);
    uint64_t now = ims_now_ms();

    if (!r) {
        r = ims_heap_reserve(&c->heap, 1) ? NULL : calloc(1, sizeof *r);
        if (!r)
            goto out;
        r->impu = xstrdup(impu);
        pp = bucket(c, impu);
        r->next = *pp;
        *pp = r;
        heap_push(c, r); /* no bindings yet: filed as due at once until they are added */
    }
    c->nbindings -= reg_nbindings(r);
    /* The latest 200 OK is the truth about the implicit set and the route. */
    if (impi) {
        free(r->impi);
        r->impi = xstrdup(impi);
    }
    if (nassoc) {
        strv_free(r->assoc, r->nassoc);
        r->assoc = strv_dup(assoc, nassoc);
        r->nassoc = r->assoc ? nassoc : 0;
    }
    if (nsr) {
        strv_free(r->sr, r->nsr);
        r->sr = strv_dup(service_route, nsr);
        r->nsr = r->sr ? nsr : 0;
    }
    if (path) {
        free(r->path);
        r->path = xstrdup(path);
    }
    /* Existing bindings the S-CSCF no longer lists are gone (Expires 0, Contact: *). */
    for (binding_t **bp = &r->bindings; *bp;) {
        binding_t *b = *bp;
        long e = live_expires(home, b->contact, live_uris, live_expires_v, nlive);
        if (e <= 0) {
            *bp = b->next;
            binding_free(b);
            continue;
        }
        b->expires_at_ms = now + (uint64_t)e * 1000;
        bp = &b->next;
    }
    for (size_t i = 0; i < nmine; i++) {
        long e = live_expires(home, mine[i].contact, live_uris, live_expires_v, nlive);
        binding_t *b;
        if (e <= 0)
            continue;
        for (b = r->bindings; b; b = b->next)
            if (uri_same(home, b->contact, mine[i].contact))
                break;
        if (!b) {
            b = calloc(1, sizeof *b);
            if (!b)
                continue;
            b->contact = xstrdup(mine[i].contact);
            b->next = r->bindings;
            r->bindings = b;
        }
        free(b->received);
        free(b->transport);
        free(b->user_agent);
        b->received = xstrdup(mine[i].received);
        b->transport = xstrdup(mine[i].transport);
        b->user_agent = xstrdup(mine[i].user_agent);
        b->expires_at_ms = now + (uint64_t)e * 1000;
    }
    c->nbindings += reg_nbindings(r);
    heap_refile(c, r);
    mark_dirty(c, r);
    if (!r->bindings) {
        for (pp = bucket(c, impu); *pp != r; pp = &(*pp)->next)
            ;
        *pp = r->next;
        heap_remove(c, r);
        reg_free(r);
    }
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
                binding_free(b);
                gone++;
                c->nbindings--;
                mark_dirty(c, r);
            } else {
                bp = &(*bp)->next;
            }
        }
        if (!r->bindings) {
            reg_t **rp = bucket(c, r->impu);
            while (*rp != r)
                rp = &(*rp)->next;
            *rp = r->next;
            heap_remove(c, r);
            reg_free(r);
        } else {
            heap_refile(c, r);
        }
    }
    for (keys_t **kp = &c->keys; *kp;) {
        if (now - (*kp)->created_ms > KEYS_TTL_MS) {
            keys_t *k = *kp;
            *kp = k->next;
            keys_free(k);
            c->nkeys--;
        } else {
            kp = &(*kp)->next;
        }
    }
    return gone;
}

bool pcscf_cache_remove(pcscf_cache_t *c, const char *impu)
{
    reg_t **pp = NULL, *r = reg_find(c, impu, &pp);
    if (!r)
        return false;
    mark_dirty(c, r);
    *pp = r->next;
    heap_remove(c, r);
    reg_free(r);
    return true;
}

/* "ip:port" or "[v6]:port" -> host and port */
static bool split_received(const char *rcv, char *host, size_t cap, uint16_t *port)
{
    return rcv && ims_parse_hostport(rcv, host, cap, port, 0) == 0;
}

static bool reg_names(const reg_t *r, const char *identity)
{
    if (!identity)
        return false;
    if (strcasecmp(r->impu, identity) == 0)
        return true;
    for (size_t i = 0; i < r->nassoc; i++)
        if (strcasecmp(r->assoc[i], identity) == 0)
            return true;
    return false;
}

bool pcscf_cache_lookup(pcscf_cache_t *c, const char *src_ip, uint16_t src_port,
                        const char *identity, const char *const **service_route, size_t *nsr,
                        const char **impu)
{
    uint64_t now = ims_now_ms();
    const reg_t *by_ip = NULL, *exact = NULL;

    for (size_t i = 0; i < NBUCKETS && !exact; i++)
        for (const reg_t *r = c->buckets[i]; r && !exact; r = r->next) {
            for (const binding_t *b = r->bindings; b; b = b->next) {
                char host[64];
                uint16_t port = 0;
                if (b->expires_at_ms <= now ||
                    !split_received(b->received, host, sizeof host, &port))
                    continue;
                if (strcmp(host, src_ip) != 0)
                    continue;
                if (port == src_port && (!identity || reg_names(r, identity))) {
                    exact = r;
                    break;
                }
                if (!by_ip && reg_names(r, identity))
                    by_ip = r;
            }
        }
    if (!exact)
        exact = by_ip;
    if (!exact)
        return false;
    *service_route = (const char *const *)exact->sr;
    *nsr = exact->nsr;
    if (impu)
        *impu = exact->impu;
    return true;
}

size_t pcscf_cache_count(pcscf_cache_t *c, size_t *nbindings)
{
    /* kept up to date by every change: a /metrics scrape no longer walks the cache */
    if (nbindings)
        *nbindings = c->nbindings;
    return c->heap.n;
}

static json_t *strv_json(char *const *v, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_string(v[i]));
    return a;
}

static json_t *reg_json(const reg_t *r, uint64_t now)
{
    json_t *o = json_object(), *contacts = json_array();
    json_object_set_new(o, "impu", json_string(r->impu));
    json_object_set_new(o, "impi", r->impi ? json_string(r->impi) : json_null());
    json_object_set_new(o, "associated_uris", strv_json(r->assoc, r->nassoc));
    json_object_set_new(o, "service_route", strv_json(r->sr, r->nsr));
    for (const binding_t *b = r->bindings; b; b = b->next) {
        json_t *cj = json_object(), *path = json_array();
        long left = b->expires_at_ms > now ? (long)((b->expires_at_ms - now + 999) / 1000) : 0;
        /* Header form, as the S-CSCF's status API shows it. */
        if (r->path)
            json_array_append_new(path, json_sprintf("<%s>", r->path));
        json_object_set_new(cj, "uri", json_string(b->contact));
        json_object_set_new(cj, "expires_in", json_integer(left));
        json_object_set_new(cj, "path", path);
        json_object_set_new(cj, "user_agent",
                            b->user_agent ? json_string(b->user_agent) : json_null());
        json_object_set_new(cj, "received", b->received ? json_string(b->received) : json_null());
        json_object_set_new(cj, "transport",
                            b->transport ? json_string(b->transport) : json_null());
        json_array_append_new(contacts, cj);
    }
    json_object_set_new(o, "contacts", contacts);
    return o;
}

static int reg_cmp(const void *a, const void *b)
{
    return strcasecmp((*(const reg_t *const *)a)->impu, (*(const reg_t *const *)b)->impu);
}

json_t *pcscf_cache_json(pcscf_cache_t *c, const char *impu)
{
    uint64_t now = ims_now_ms();
    if (impu) {
        reg_t *r = reg_find(c, impu, NULL);
        return r ? reg_json(r, now) : NULL;
    }
    /* Sorted by IMPU so the listing is stable whatever the hashing. */
    size_t n = pcscf_cache_count(c, NULL), k = 0;
    const reg_t **all = calloc(n ? n : 1, sizeof *all);
    if (!all)
        return NULL;
    json_t *items = json_array();
    for (size_t i = 0; i < NBUCKETS; i++)
        for (const reg_t *r = c->buckets[i]; r && k < n; r = r->next)
            all[k++] = r;
    qsort(all, k, sizeof *all, reg_cmp);
    for (size_t i = 0; i < k; i++)
        json_array_append_new(items, reg_json(all[i], now));
    free(all);
    return json_pack("{s:o, s:I}", "items", items, "total", (json_int_t)k);
}

void pcscf_cache_keys_set(pcscf_cache_t *c, const char *call_id, const char *ck, const char *ik)
{
    keys_t *k;
    for (k = c->keys; k; k = k->next)
        if (strcmp(k->call_id, call_id) == 0)
            break;
    if (!k) {
        k = calloc(1, sizeof *k);
        if (!k)
            return;
        k->call_id = strdup(call_id);
        if (!k->call_id) {
            free(k);
            return;
        }
        k->next = c->keys;
        c->keys = k;
        if (++c->nkeys > KEYS_MAX) {
            keys_t *cut = c->keys;
            for (size_t i = 1; i < KEYS_MAX / 2 && cut->next; i++)
                cut = cut->next;
            for (keys_t *o = cut->next, *n; o; o = n) {
                n = o->next;
                keys_free(o);
                c->nkeys--;
            }
            cut->next = NULL;
        }
    }
    snprintf(k->ck, sizeof k->ck, "%s", ck ? ck : "");
    snprintf(k->ik, sizeof k->ik, "%s", ik ? ik : "");
    k->created_ms = ims_now_ms();
}

/* ---- persistence hooks (state.c) ---- */

void pcscf_cache_track(pcscf_cache_t *c, bool on)
{
    c->track = on;
}

pcscf_state_stats_t *pcscf_cache_state_stats(pcscf_cache_t *c)
{
    return &c->sstats;
}

void pcscf_cache_adopt(pcscf_cache_t *dst, pcscf_cache_t *src)
{
    /* Room in dst's heap first; without it the restored registrations could never
     * expire, so they are dropped instead (their UEs register again). */
    bool room = ims_heap_reserve(&dst->heap, src->heap.n) == 0;
    if (!room)
        IMS_WARN("out of memory: %zu restored registrations dropped", src->heap.n);
    /* Same bucket count and hash on both sides: each chain moves as it is. */
    for (size_t i = 0; i < NBUCKETS; i++)
        for (reg_t *r = src->buckets[i], *n; r; r = n) {
            n = r->next;
            if (!room || reg_find(dst, r->impu, NULL)) {
                reg_free(r);
                continue;
            }
            r->next = dst->buckets[i];
            dst->buckets[i] = r;
            heap_push(dst, r);
        }
    memset(src->buckets, 0, sizeof src->buckets);
    src->heap.n = 0;
    src->nbindings = 0;
    bool track = dst->track;
    dst->track = true;
    for (size_t i = 0; i < src->ndirty; i++) {
        pcscf_cache_dirty_add(dst, src->dirty[i]);
        free(src->dirty[i]);
    }
    dst->track = track;
    src->ndirty = 0;
    dst->sstats = src->sstats;
}

size_t pcscf_cache_dirty_take(pcscf_cache_t *c, char ***impus)
{
    size_t n = c->ndirty;
    for (size_t i = 0; i < n; i++) {
        reg_t *r = reg_find(c, c->dirty[i], NULL);
        if (r)
            r->dirty = false;
    }
    *impus = c->dirty;
    c->dirty = NULL;
    c->ndirty = c->capdirty = 0;
    return n;
}

json_t *pcscf_cache_doc(pcscf_cache_t *c, const char *impu, int64_t wall_ms)
{
    uint64_t now = ims_now_ms();
    reg_t *r = reg_find(c, impu, NULL);
    if (!r)
        return NULL;
    json_t *bs = json_array();
    for (const binding_t *b = r->bindings; b; b = b->next) {
        if (b->expires_at_ms <= now)
            continue;
        /* Monotonic time means nothing after a restart: store the wall-clock deadline. */
        json_int_t at = (json_int_t)(wall_ms + (int64_t)(b->expires_at_ms - now));
        json_array_append_new(bs, json_pack("{s:s, s:s?, s:s?, s:s?, s:I}", "contact", b->contact,
                                            "received", b->received, "transport", b->transport,
                                            "user_agent", b->user_agent, "expires_at_ms", at));
    }
    if (!json_array_size(bs)) {
        json_decref(bs);
        return NULL;
    }
    return json_pack("{s:s, s:s?, s:s?, s:o, s:o, s:o}", "impu", r->impu, "impi", r->impi, "path",
                     r->path, "associated_uris", strv_json(r->assoc, r->nassoc), "service_route",
                     strv_json(r->sr, r->nsr), "bindings", bs);
}

/* A missing or null key is NULL; anything but a string there is malformed. */
static bool opt_str(const json_t *o, const char *key, const char **out)
{
    const json_t *v = json_object_get(o, key);
    *out = json_string_value(v);
    return !v || json_is_null(v) || json_is_string(v);
}

static bool strv_load(const json_t *a, char ***out, size_t *n)
{
    size_t i;
    const json_t *v;
    if (!a) {
        *out = NULL;
        *n = 0;
        return true;
    }
    if (!json_is_array(a))
        return false;
    json_array_foreach(a, i, v) if (!json_is_string(v)) return false;
    *n = json_array_size(a);
    *out = calloc(*n ? *n : 1, sizeof **out);
    if (!*out)
        return false;
    json_array_foreach(a, i, v)(*out)[i] = xstrdup(json_string_value(v));
    return true;
}

int pcscf_cache_load_doc(pcscf_cache_t *c, const json_t *doc, int64_t wall_ms)
{
    uint64_t now = ims_now_ms();
    const char *impu = json_string_value(json_object_get(doc, "impu")), *impi, *path;
    const json_t *bs = json_object_get(doc, "bindings");
    size_t i;
    const json_t *it;

    if (!json_is_object(doc) || !impu || !*impu || !opt_str(doc, "impi", &impi) ||
        !opt_str(doc, "path", &path) || !json_is_array(bs))
        return EINVAL;
    json_array_foreach(bs, i, it)
    {
        const char *s;
        if (!json_string_value(json_object_get(it, "contact")) ||
            !json_is_integer(json_object_get(it, "expires_at_ms")) ||
            !opt_str(it, "received", &s) || !opt_str(it, "transport", &s) ||
            !opt_str(it, "user_agent", &s))
            return EINVAL;
    }
    reg_t *r = calloc(1, sizeof *r);
    if (!r)
        return ENOMEM;
    r->impu = xstrdup(impu);
    r->impi = xstrdup(impi);
    r->path = xstrdup(path);
    if (!r->impu || !strv_load(json_object_get(doc, "associated_uris"), &r->assoc, &r->nassoc) ||
        !strv_load(json_object_get(doc, "service_route"), &r->sr, &r->nsr)) {
        reg_free(r);
        return EINVAL;
    }
    binding_t **tail = &r->bindings;
    json_array_foreach(bs, i, it)
    {
        json_int_t at = json_integer_value(json_object_get(it, "expires_at_ms"));
        if (at <= wall_ms)
            continue; /* expired while the P-CSCF was down */
        binding_t *b = calloc(1, sizeof *b);
        if (!b)
            break;
        b->contact = xstrdup(json_string_value(json_object_get(it, "contact")));
        b->received = xstrdup(json_string_value(json_object_get(it, "received")));
        b->transport = xstrdup(json_string_value(json_object_get(it, "transport")));
        b->user_agent = xstrdup(json_string_value(json_object_get(it, "user_agent")));
        b->expires_at_ms = now + (uint64_t)(at - wall_ms);
        *tail = b; /* keep the stored order */
        tail = &b->next;
    }
    if (!r->bindings) {
        reg_free(r);
        return ENOENT;
    }
    if (ims_heap_reserve(&c->heap, 1)) {
        reg_free(r);
        return ENOMEM;
    }
    reg_t **pp = NULL, *old = reg_find(c, impu, &pp);
    if (old) { /* two rows for one IMPU cannot happen with COLLATE NOCASE; keep the last */
        *pp = old->next;
        heap_remove(c, old);
        reg_free(old);
    }
    pp = bucket(c, impu);
    r->next = *pp;
    *pp = r;
    heap_push(c, r);
    return 0;
}
