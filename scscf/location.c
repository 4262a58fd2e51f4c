/* The S-CSCF location store: registration records (one per IMPI, indexed by every IMPU of
 * the implicit set) with their bindings and expiry order. Persistence is in location_db.c. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ims/log.h"
#include "location_int.h"

static scscf_record_t *record_of_node(const ims_heap_node_t *n)
{
    return (scscf_record_t *)((char *)n - offsetof(scscf_record_t, expiry));
}

/* Re-files a record after its bindings changed (a handful per record: cheap). */
static void heap_refile(scscf_location_t *l, scscf_record_t *r)
{
    int64_t due = r->bindings ? INT64_MAX : INT64_MIN;
    for (const scscf_binding_t *b = r->bindings; b; b = b->next)
        if (b->expires_at < due)
            due = b->expires_at;
    ims_heap_set_due(&l->heap, &r->expiry, due);
}

int scscf_location_create(scscf_location_t **out)
{
    scscf_location_t *l = calloc(1, sizeof(*l));
    if (!l)
        return ENOMEM;
    if (ims_map_create(&ims_map_str_ref, 0, &l->by_impi) ||
        ims_map_create(&ims_map_impu, 0, &l->by_impu)) {
        ims_map_free(l->by_impi);
        free(l);
        return ENOMEM;
    }
    *out = l;
    return 0;
}

static void binding_free(scscf_binding_t *b)
{
    if (!b)
        return;
    free(b->contact);
    free(b->params);
    free(b->instance);
    for (size_t i = 0; i < b->npath; i++)
        free(b->path[i]);
    free(b->path);
    free(b->user_agent);
    free(b->received);
    free(b->call_id);
    free(b);
}

static void record_free_set(scscf_record_t *r)
{
    for (size_t i = 0; i < r->nimpus; i++)
        free(r->impus[i]);
    free(r->impus);
    free(r->barred);
    r->impus = NULL;
    r->barred = NULL;
    r->nimpus = 0;
}

static void record_free(scscf_record_t *r)
{
    for (scscf_binding_t *b = r->bindings, *nx; b; b = nx) {
        nx = b->next;
        binding_free(b);
    }
    record_free_set(r);
    free(r->impi);
    free(r->impu);
    free(r);
}

void scscf_location_free(scscf_location_t *l)
{
    if (!l)
        return;
    scscf_location_flush(l);
    ims_map_iter_t it;
    ims_map_iter_init(l->by_impi, &it);
    for (ims_map_entry_t *e; (e = ims_map_iter_next(&it));)
        record_free(ims_map_entry_val(e));
    ims_map_free(l->by_impi);
    ims_map_free(l->by_impu);
    for (size_t i = 0; i < l->ndirty; i++)
        free(l->dirty[i]);
    free(l->dirty);
    ims_heap_free(&l->heap);
    scscf_location_db_close(l);
    free(l);
}

scscf_record_t *scscf_location_find_impu(scscf_location_t *l, const char *impu)
{
    return ims_map_get(l->by_impu, impu);
}

scscf_record_t *scscf_location_find_impi(scscf_location_t *l, const char *impi)
{
    return ims_map_get(l->by_impi, impi);
}

void scscf_location_touched(scscf_location_t *l, scscf_record_t *rec)
{
    heap_refile(l, rec);
    if (!l->db || rec->dirty)
        return;
    if (l->ndirty == l->capdirty) {
        size_t n = l->capdirty ? l->capdirty * 2 : 256;
        char **d = realloc(l->dirty, n * sizeof(*d));
        if (!d)
            return; /* persistence is best effort; the live store stays right */
        l->dirty = d;
        l->capdirty = n;
    }
    char *k = strdup(rec->impi);
    if (!k)
        return;
    l->dirty[l->ndirty++] = k;
    rec->dirty = true;
}

/* Deletes an IMPU index entry only when it still points at rec (the IMPU may have moved
 * to another set since). */
static void impu_unindex(scscf_location_t *l, const char *impu, const scscf_record_t *rec)
{
    ims_map_entry_t *e = ims_map_find(l->by_impu, impu);
    if (e && ims_map_entry_val(e) == rec)
        ims_map_del_entry(l->by_impu, e);
}

static scscf_record_t *record_new(scscf_location_t *l, const char *impi)
{
    scscf_record_t *r = ims_heap_reserve(&l->heap, 1) ? NULL : calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    if (!(r->impi = strdup(impi)) || ims_map_add(l->by_impi, r->impi, r)) {
        free(r->impi);
        free(r);
        return NULL;
    }
    r->expiry.due = INT64_MIN; /* no binding yet: due at once unless the caller adds some */
    ims_heap_push(&l->heap, &r->expiry);
    return r;
}

/* Replaces the implicit set of r and its index entries. */
static void record_set_impus(scscf_location_t *l, scscf_record_t *r, const char *const *impus,
                             const bool *barred, size_t nimpus)
{
    for (size_t i = 0; i < r->nimpus; i++)
        impu_unindex(l, r->impus[i], r);
    record_free_set(r);
    r->impus = calloc(nimpus, sizeof(char *));
    r->barred = calloc(nimpus, sizeof(bool));
    if (!r->impus || !r->barred)
        return;
    for (size_t i = 0; i < nimpus; i++) {
        r->impus[i] = strdup(impus[i]);
        r->barred[i] = barred ? barred[i] : false;
        if (!r->impus[i])
            break;
        r->nimpus = i + 1;
        ims_map_put(l->by_impu, impus[i], r);
    }
}

scscf_record_t *scscf_location_upsert(scscf_location_t *l, const char *impi, const char *impu,
                                      const char *const *impus, const bool *barred, size_t nimpus)
{
    scscf_record_t *r = ims_map_get(l->by_impi, impi);
    if (!r && !(r = record_new(l, impi)))
        return NULL;
    if (impu && (!r->impu || strcmp(r->impu, impu) != 0)) {
        char *c = strdup(impu);
        if (c) {
            free(r->impu);
            r->impu = c;
        }
    }
    if (nimpus)
        record_set_impus(l, r, impus, barred, nimpus);
    if (r->impu && !ims_map_get(l->by_impu, r->impu))
        ims_map_put(l->by_impu, r->impu, r);
    scscf_location_touched(l, r);
    return r;
}

void scscf_location_remove(scscf_location_t *l, scscf_record_t *r)
{
    scscf_location_touched(l, r);
    ims_heap_remove(&l->heap, &r->expiry);
    for (size_t i = 0; i < r->nimpus; i++)
        impu_unindex(l, r->impus[i], r);
    if (r->impu)
        impu_unindex(l, r->impu, r);
    ims_map_del(l->by_impi, r->impi);
    l->nbindings -= r->nbindings;
    record_free(r);
}

const scscf_binding_t *scscf_location_match(const scscf_record_t *r, const char *instance,
                                            long reg_id, const char *contact)
{
    for (const scscf_binding_t *b = r->bindings; b; b = b->next) {
        if (instance && b->instance) {
            if (strcmp(instance, b->instance) == 0 && reg_id == b->reg_id)
                return b;
        } else if (contact && strcasecmp(b->contact, contact) == 0) {
            return b;
        }
    }
    return NULL;
}

static char *xstrdup(const char *s)
{
    return s ? strdup(s) : NULL;
}

static void replace(char **field, const char *value)
{
    free(*field);
    *field = xstrdup(value);
}

/* Writes in over b; a matched binding that has an instance keeps it. */
static void binding_fill(scscf_binding_t *b, const scscf_binding_in_t *in)
{
    replace(&b->params, in->params);
    replace(&b->contact, in->contact); /* matched by instance: the new address replaces */
    if (!b->instance)
        b->instance = xstrdup(in->instance);
    b->reg_id = in->reg_id;
    for (size_t i = 0; i < b->npath; i++)
        free(b->path[i]);
    free(b->path);
    b->npath = 0;
    b->path = calloc(in->npath + 1, sizeof(char *));
    for (size_t i = 0; b->path && i < in->npath; i++)
        if (in->path[i] && (b->path[b->npath] = strdup(in->path[i])))
            b->npath++;
    replace(&b->user_agent, in->user_agent);
    replace(&b->received, in->received);
    replace(&b->call_id, in->call_id);
    b->cseq = in->cseq;
    b->expires_at = in->expires_at;
}

static scscf_binding_t *binding_append(scscf_location_t *l, scscf_record_t *r)
{
    scscf_binding_t *b = calloc(1, sizeof(*b));
    if (!b)
        return NULL;
    b->reg_id = -1;
    scscf_binding_t **pp = &r->bindings;
    while (*pp)
        pp = &(*pp)->next;
    *pp = b;
    r->nbindings++;
    l->nbindings++;
    return b;
}

int scscf_location_bind(scscf_location_t *l, scscf_record_t *r, const scscf_binding_in_t *in)
{
    scscf_binding_t *b =
        (scscf_binding_t *)scscf_location_match(r, in->instance, in->reg_id, in->contact);
    if (!b && !(b = binding_append(l, r)))
        return ENOMEM;
    binding_fill(b, in);
    scscf_location_touched(l, r);
    return 0;
}

int scscf_location_append(scscf_location_t *l, scscf_record_t *r, const scscf_binding_in_t *in)
{
    scscf_binding_t *b = binding_append(l, r);
    if (!b)
        return ENOMEM;
    binding_fill(b, in);
    scscf_location_touched(l, r);
    return 0;
}

void scscf_location_unbind(scscf_location_t *l, scscf_record_t *r, const scscf_binding_t *b)
{
    for (scscf_binding_t **pp = &r->bindings; *pp; pp = &(*pp)->next) {
        if (*pp == b) {
            *pp = b->next;
            binding_free((scscf_binding_t *)b);
            r->nbindings--;
            l->nbindings--;
            scscf_location_touched(l, r);
            return;
        }
    }
}

const char *scscf_record_impi(const scscf_record_t *r)
{
    return r->impi;
}

const char *scscf_record_impu(const scscf_record_t *r)
{
    return r->impu;
}

const scscf_binding_t *scscf_record_bindings(const scscf_record_t *r)
{
    return r->bindings;
}

size_t scscf_record_binding_count(const scscf_record_t *r)
{
    return r->nbindings;
}

scscf_record_t *scscf_location_first(scscf_location_t *l, scscf_location_iter_t *it)
{
    ims_map_iter_init(l->by_impi, it);
    return scscf_location_next(l, it);
}

scscf_record_t *scscf_location_next(scscf_location_t *l, scscf_location_iter_t *it)
{
    (void)l;
    ims_map_entry_t *e = ims_map_iter_next(it);
    return e ? ims_map_entry_val(e) : NULL;
}

size_t scscf_location_count(scscf_location_t *l)
{
    return ims_map_count(l->by_impi);
}

size_t scscf_location_binding_count(scscf_location_t *l)
{
    return l->nbindings;
}

int64_t scscf_location_next_due(scscf_location_t *l)
{
    const ims_heap_node_t *top = ims_heap_top(&l->heap);
    return top ? top->due : INT64_MAX;
}

/* Drops the bindings of r due at now; true when any went. */
static bool expire_bindings(scscf_location_t *l, scscf_record_t *r, int64_t now)
{
    bool changed = false;
    for (scscf_binding_t **pp = &r->bindings; *pp;) {
        if ((*pp)->expires_at <= now) {
            scscf_binding_t *b = *pp;
            *pp = b->next;
            IMS_INFO("binding expired: %s contact %s", r->impu ? r->impu : r->impi, b->contact);
            binding_free(b);
            r->nbindings--;
            l->nbindings--;
            changed = true;
        } else {
            pp = &(*pp)->next;
        }
    }
    return changed;
}

void scscf_location_expire(scscf_location_t *l, int64_t now, scscf_expired_cb cb, void *ctx)
{
    /* Only records with a binding due are visited. Each visit leaves the record due
     * after now or removes it, so the loop ends. */
    for (ims_heap_node_t *top; (top = ims_heap_top(&l->heap)) && top->due <= now;) {
        scscf_record_t *r = record_of_node(top);
        if (expire_bindings(l, r, now))
            scscf_location_touched(l, r);
        else
            heap_refile(l, r); /* filed too early: a binding was refreshed in place */
        if (!r->bindings) {
            if (cb)
                cb(ctx, r);
            scscf_location_remove(l, r);
        }
    }
}

json_t *scscf_record_json(const scscf_record_t *r, const char *impu, int64_t now)
{
    json_t *assoc = json_array(), *contacts = json_array();
    for (size_t i = 0; i < r->nimpus; i++)
        if (!r->barred[i])
            json_array_append_new(assoc, json_string(r->impus[i]));
    for (const scscf_binding_t *b = r->bindings; b; b = b->next) {
        json_t *path = json_array();
        for (size_t i = 0; i < b->npath; i++)
            json_array_append_new(path, json_string(b->path[i]));
        int64_t left = b->expires_at - now;
        json_t *c = json_pack("{s:s, s:I, s:o}", "uri", b->contact, "expires_in",
                              (json_int_t)(left > 0 ? left : 0), "path", path);
        json_object_set_new(c, "user_agent",
                            b->user_agent ? json_string(b->user_agent) : json_null());
        json_object_set_new(c, "received", b->received ? json_string(b->received) : json_null());
        if (b->instance)
            json_object_set_new(c, "instance", json_string(b->instance));
        if (b->reg_id >= 0)
            json_object_set_new(c, "reg_id", json_integer(b->reg_id));
        json_array_append_new(contacts, c);
    }
    return json_pack("{s:s, s:s, s:o, s:o}", "impu", impu ? impu : (r->impu ? r->impu : ""), "impi",
                     r->impi, "associated_uris", assoc, "contacts", contacts);
}
