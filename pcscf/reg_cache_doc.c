/* The registration cache seen from outside: the status API's JSON, the AKA keys kept for
 * IPsec, and the state file's hooks (change queue, documents, restoring, adopting). */
#include "reg_cache_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ims/log.h"
#include "ims/util.h"

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
        reg_t *r = pcscf_cache_reg_find(c, impu);
        return r ? reg_json(r, now) : NULL;
    }
    /* Sorted by IMPU so the listing is stable whatever the hashing. */
    size_t n = pcscf_cache_count(c, NULL), k = 0;
    const reg_t **all = calloc(n ? n : 1, sizeof *all);
    if (!all)
        return NULL;
    json_t *items = json_array();
    ims_map_iter_t it;
    ims_map_iter_init(c->regs, &it);
    for (ims_map_entry_t *e; k < n && (e = ims_map_iter_next(&it));)
        all[k++] = ims_map_entry_val(e);
    qsort(all, k, sizeof *all, reg_cmp);
    for (size_t i = 0; i < k; i++)
        json_array_append_new(items, reg_json(all[i], now));
    free(all);
    return json_pack("{s:o, s:I}", "items", items, "total", (json_int_t)k);
}

/* ---- AKA keys of pending registrations ---- */

#define KEYS_TTL_MS (5 * 60 * 1000)
/* A UE answers its challenge within seconds; under an AKA load test the map must not
 * grow without bound, so past KEYS_MAX the older half is dropped at once. */
#define KEYS_MAX 2048

typedef struct keys {
    char ck[64], ik[64];
    uint64_t created_ms;
} keys_t;

static void keys_free(void *v)
{
    keys_t *k = v;
    ims_secure_zero(k, sizeof *k);
    free(k);
}

/* Call-ID -> keys, oldest first (a refresh moves an entry to the newest end). */
static const ims_map_type_t keys_type = {
    .hash = ims_str_hash,
    .compare = ims_str_compare,
    .key_dup = pcscf_cache_key_dup,
    .key_free = free,
    .val_free = keys_free,
};

int pcscf_cache_keys_create(pcscf_cache_t *c)
{
    return ims_map_create(&keys_type, 0, &c->keys);
}

void pcscf_cache_keys_set(pcscf_cache_t *c, const char *call_id, const char *ck, const char *ik)
{
    ims_map_entry_t *e = ims_map_find(c->keys, call_id);
    keys_t *k = e ? ims_map_entry_val(e) : calloc(1, sizeof *k);
    if (!k)
        return;
    if (e) {
        ims_map_touch(c->keys, e);
    } else if (ims_map_add(c->keys, call_id, k) != 0) {
        free(k);
        return;
    } else if (ims_map_count(c->keys) > KEYS_MAX) {
        while (ims_map_count(c->keys) > KEYS_MAX / 2)
            ims_map_del_entry(c->keys, ims_map_oldest(c->keys));
    }
    snprintf(k->ck, sizeof k->ck, "%s", ck ? ck : "");
    snprintf(k->ik, sizeof k->ik, "%s", ik ? ik : "");
    k->created_ms = ims_now_ms();
}

void pcscf_cache_keys_expire(pcscf_cache_t *c, uint64_t now)
{
    for (ims_map_entry_t *e; (e = ims_map_oldest(c->keys));) {
        const keys_t *k = ims_map_entry_val(e);
        if (now - k->created_ms <= KEYS_TTL_MS)
            break;
        ims_map_del_entry(c->keys, e);
    }
}

/* ---- change queue for the state file ---- */

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
void pcscf_cache_mark_dirty(pcscf_cache_t *c, reg_t *r)
{
    if (!r->dirty)
        r->dirty = dirty_push(c, r->impu);
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
    size_t n = pcscf_cache_count(src, NULL);
    /* Room in dst's heap first; without it the restored registrations could never
     * expire, so they are dropped instead (their UEs register again). */
    bool room = ims_heap_reserve(&dst->heap, n) == 0;
    if (!room)
        IMS_WARN("out of memory: %zu restored registrations dropped", n);
    ims_map_iter_t it;
    ims_map_iter_init(src->regs, &it);
    for (ims_map_entry_t *e; (e = ims_map_iter_next(&it));) {
        reg_t *r = ims_map_entry_val(e);
        /* out of src, bindings included, without freeing them */
        for (binding_t *b = r->bindings; b; b = b->next) {
            pcscf_cache_index_del(src, b);
            src->nbindings--;
        }
        ims_map_del_entry(src->regs, e);
        ims_heap_remove(&src->heap, &r->expiry);
        if (!room || pcscf_cache_reg_find(dst, r->impu) || pcscf_cache_reg_insert(dst, r) != 0)
            pcscf_cache_reg_free(r);
    }
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
        reg_t *r = pcscf_cache_reg_find(c, c->dirty[i]);
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
    reg_t *r = pcscf_cache_reg_find(c, impu);
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
    json_array_foreach(a, i, v)(*out)[i] = pcscf_cache_xstrdup(json_string_value(v));
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
    r->impu = pcscf_cache_xstrdup(impu);
    r->impi = pcscf_cache_xstrdup(impi);
    r->path = pcscf_cache_xstrdup(path);
    if (!r->impu || !strv_load(json_object_get(doc, "associated_uris"), &r->assoc, &r->nassoc) ||
        !strv_load(json_object_get(doc, "service_route"), &r->sr, &r->nsr)) {
        pcscf_cache_reg_free(r);
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
        b->contact = pcscf_cache_xstrdup(json_string_value(json_object_get(it, "contact")));
        b->received = pcscf_cache_xstrdup(json_string_value(json_object_get(it, "received")));
        b->transport = pcscf_cache_xstrdup(json_string_value(json_object_get(it, "transport")));
        b->user_agent = pcscf_cache_xstrdup(json_string_value(json_object_get(it, "user_agent")));
        b->expires_at_ms = now + (uint64_t)(at - wall_ms);
        *tail = b; /* keep the stored order */
        tail = &b->next;
    }
    if (!r->bindings) {
        pcscf_cache_reg_free(r);
        return ENOENT;
    }
    if (ims_heap_reserve(&c->heap, 1)) {
        pcscf_cache_reg_free(r);
        return ENOMEM;
    }
    reg_t *old = pcscf_cache_reg_find(c, impu);
    if (old) /* two rows for one IMPU (spelt differently): keep the last */
        pcscf_cache_reg_drop(c, old);
    if (pcscf_cache_reg_insert(c, r) != 0) {
        pcscf_cache_reg_free(r);
        return ENOMEM;
    }
    return 0;
}
