/* The reg event subscription store: dialogs indexed by dialog id and by IMPU (ims_map, the
 * IMPU under the common key rule), ordered for expiry by the common heap, write-behind. */
#include "subscription.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ims/heap.h"
#include "ims/map.h"

/* The subscription with its links: list of all (insertion order), list of its IMPU, heap
 * slot. The public part comes first so a scscf_sub_t * is a holder_t *. */
typedef struct holder {
    scscf_sub_t sub;
    struct holder *prev, *next;   /* all subscriptions */
    struct holder *iprev, *inext; /* those of the same IMPU */
    struct impu_entry *ie;
    ims_heap_node_t expiry;
    bool dirty;
} holder_t;

typedef struct impu_entry {
    holder_t *head, *tail;
    size_t n;
} impu_entry_t;

struct scscf_subs {
    scscf_subs_limits_t lim;
    ims_map_t *by_key;  /* sub.key -> holder_t (the key lives in the holder); oldest first */
    ims_map_t *by_impu; /* impu -> impu_entry_t */
    ims_heap_t heap;
    char **queue; /* keys to write or delete at the next flush */
    size_t nqueue, capqueue;
};

static const scscf_subs_limits_t defaults = {
    .default_expires = SCSCF_SUB_DEFAULT_EXPIRES,
    .min_expires = SCSCF_SUB_MIN_EXPIRES,
    .max_expires = SCSCF_SUB_MAX_EXPIRES,
    .max_per_impu = SCSCF_SUB_MAX_PER_IMPU,
    .max_total = SCSCF_SUB_MAX_TOTAL,
};

const char *scscf_sub_kind_name(scscf_sub_kind_t k)
{
    return k == SCSCF_SUB_PCSCF ? "pcscf" : "ue";
}

static holder_t *holder_of(const scscf_sub_t *s)
{
    return (holder_t *)s;
}

int scscf_subs_create(const scscf_subs_limits_t *lim, scscf_subs_t **out)
{
    if (!lim)
        lim = &defaults;
    if (lim->min_expires < 1 || lim->min_expires > lim->max_expires ||
        lim->default_expires < lim->min_expires || lim->default_expires > lim->max_expires ||
        !lim->max_per_impu || !lim->max_total)
        return EINVAL;
    scscf_subs_t *s = calloc(1, sizeof(*s));
    if (!s || ims_map_create(&ims_map_str_ref, 0, &s->by_key) ||
        ims_map_create(&ims_map_impu, 0, &s->by_impu)) {
        if (s) {
            ims_map_free(s->by_key);
            free(s);
        }
        return ENOMEM;
    }
    s->lim = *lim;
    *out = s;
    return 0;
}

const scscf_subs_limits_t *scscf_subs_limits(const scscf_subs_t *subs)
{
    return &subs->lim;
}

int scscf_subs_negotiate(const scscf_subs_t *subs, long requested, long *granted)
{
    if (requested > 0 && requested < subs->lim.min_expires)
        return ERANGE;
    *granted = requested < 0                       ? subs->lim.default_expires
               : requested > subs->lim.max_expires ? subs->lim.max_expires
                                                   : requested;
    return 0;
}

/* ---- the write-behind queue ---- */

/* Queues key; a failed allocation only loses this write (the next change queues it again,
 * and a lost delete leaves a row that restore drops as expired). */
static void enqueue(scscf_subs_t *s, const char *key)
{
    if (s->nqueue == s->capqueue) {
        size_t cap = s->capqueue ? 2 * s->capqueue : 64;
        char **q = realloc(s->queue, cap * sizeof(*q));
        if (!q)
            return;
        s->queue = q;
        s->capqueue = cap;
    }
    char *k = strdup(key);
    if (k)
        s->queue[s->nqueue++] = k;
}

static void mark(scscf_subs_t *s, holder_t *h)
{
    if (!h->dirty) {
        h->dirty = true;
        enqueue(s, h->sub.key);
    }
}

bool scscf_subs_dirty(const scscf_subs_t *subs)
{
    return subs->nqueue > 0;
}

/* ---- life cycle of one subscription ---- */

static void sub_strings_free(scscf_sub_t *u)
{
    free(u->key);
    free(u->impu);
    free(u->watcher);
    free(u->call_id);
    free(u->local_tag);
    free(u->remote_tag);
    free(u->local_uri);
    free(u->remote_uri);
    free(u->remote_target);
    free(u->next_hop);
    for (size_t i = 0; i < u->nroute; i++)
        free(u->route[i]);
    free(u->route);
}

static char *dup(const char *v, bool *ok)
{
    if (!v)
        return NULL;
    char *d = strdup(v);
    if (!d)
        *ok = false;
    return d;
}

static char *make_key(const char *call_id, const char *remote_tag, const char *local_tag)
{
    size_t n = strlen(call_id) + strlen(remote_tag) + strlen(local_tag) + 3;
    char *k = malloc(n);
    if (k)
        snprintf(k, n, "%s\n%s\n%s", call_id, remote_tag, local_tag);
    return k;
}

/* Copies in into a fresh holder; NULL on ENOMEM. */
static holder_t *holder_new(const scscf_sub_init_t *in)
{
    holder_t *h = calloc(1, sizeof(*h));
    if (!h)
        return NULL;
    scscf_sub_t *u = &h->sub;
    bool ok = true;
    u->key = make_key(in->call_id, in->remote_tag, in->local_tag);
    u->impu = dup(in->impu, &ok);
    u->watcher = dup(in->watcher, &ok);
    u->kind = in->kind == SCSCF_SUB_PCSCF ? SCSCF_SUB_PCSCF : SCSCF_SUB_UE;
    u->call_id = dup(in->call_id, &ok);
    u->local_tag = dup(in->local_tag, &ok);
    u->remote_tag = dup(in->remote_tag, &ok);
    u->local_uri = dup(in->local_uri, &ok);
    u->remote_uri = dup(in->remote_uri, &ok);
    u->remote_target = dup(in->remote_target, &ok);
    u->next_hop = dup(in->next_hop, &ok);
    u->remote_cseq = in->remote_cseq;
    if (in->nroute) {
        u->route = calloc(in->nroute, sizeof(char *));
        for (size_t i = 0; u->route && i < in->nroute; i++, u->nroute++)
            u->route[i] = dup(in->route[i] ? in->route[i] : "", &ok);
        ok = ok && u->route;
    }
    if (!ok || !u->key) {
        sub_strings_free(u);
        free(h);
        return NULL;
    }
    return h;
}

static bool init_ok(const scscf_sub_init_t *in)
{
    return in && in->impu && *in->impu && in->call_id && in->local_tag && in->remote_tag &&
           in->local_uri && in->remote_uri && in->remote_target;
}

/* The IMPU's entry, created when create is set (NULL on ENOMEM or when absent). */
static impu_entry_t *impu_get(const scscf_subs_t *s, const char *impu, bool create)
{
    impu_entry_t *e = ims_map_get(s->by_impu, impu);
    if (e || !create)
        return e;
    e = calloc(1, sizeof(*e));
    if (!e || ims_map_add(s->by_impu, impu, e)) {
        free(e);
        return NULL;
    }
    return e;
}

static void impu_drop_if_empty(scscf_subs_t *s, impu_entry_t *e, const char *impu)
{
    if (e->n)
        return;
    ims_map_del(s->by_impu, impu);
    free(e);
}

int scscf_subs_add(scscf_subs_t *s, const scscf_sub_init_t *in, long expires, int64_t now,
                   scscf_sub_t **out)
{
    if (!init_ok(in) || expires <= 0)
        return EINVAL;
    if (ims_map_count(s->by_key) >= s->lim.max_total)
        return ENOSPC;
    if (scscf_subs_find(s, in->call_id, in->remote_tag, in->local_tag))
        return EEXIST;
    impu_entry_t *existing = impu_get(s, in->impu, false);
    if (existing && existing->n >= s->lim.max_per_impu)
        return EDQUOT;
    if (ims_heap_reserve(&s->heap, 1))
        return ENOMEM;
    holder_t *h = holder_new(in);
    if (!h)
        return ENOMEM;
    impu_entry_t *e = existing ? existing : impu_get(s, in->impu, true);
    if (!e || ims_map_add(s->by_key, h->sub.key, h)) {
        if (e)
            impu_drop_if_empty(s, e, in->impu);
        sub_strings_free(&h->sub);
        free(h);
        return ENOMEM;
    }
    h->sub.created_at = now;
    h->sub.expires_at = now + expires;
    h->ie = e;
    h->iprev = e->tail;
    if (e->tail)
        e->tail->inext = h;
    else
        e->head = h;
    e->tail = h;
    e->n++;
    h->expiry.due = h->sub.expires_at;
    ims_heap_push(&s->heap, &h->expiry);
    mark(s, h);
    *out = &h->sub;
    return 0;
}

scscf_sub_t *scscf_subs_find(scscf_subs_t *s, const char *call_id, const char *remote_tag,
                             const char *local_tag)
{
    if (!call_id || !remote_tag || !local_tag)
        return NULL;
    char *key = make_key(call_id, remote_tag, local_tag);
    holder_t *h = key ? ims_map_get(s->by_key, key) : NULL;
    free(key);
    return h ? &h->sub : NULL;
}

int scscf_subs_take_cseq(scscf_subs_t *s, scscf_sub_t *sub, uint32_t cseq)
{
    if (cseq <= sub->remote_cseq)
        return ERANGE;
    sub->remote_cseq = cseq;
    mark(s, holder_of(sub));
    return 0;
}

int scscf_subs_refresh(scscf_subs_t *s, scscf_sub_t *sub, uint32_t cseq, long expires, int64_t now)
{
    if (expires <= 0)
        return EINVAL;
    int rc = scscf_subs_take_cseq(s, sub, cseq);
    if (rc)
        return rc;
    holder_t *h = holder_of(sub);
    sub->expires_at = now + expires;
    ims_heap_set_due(&s->heap, &h->expiry, sub->expires_at);
    return 0;
}

void scscf_subs_next_notify(scscf_subs_t *s, scscf_sub_t *sub, uint32_t *version, uint32_t *cseq)
{
    *version = sub->version++;
    *cseq = ++sub->local_cseq;
    mark(s, holder_of(sub));
}

long scscf_sub_expires_in(const scscf_sub_t *sub, int64_t now)
{
    return sub->expires_at > now ? (long)(sub->expires_at - now) : 0;
}

void scscf_subs_remove(scscf_subs_t *s, scscf_sub_t *sub)
{
    holder_t *h = holder_of(sub);
    if (!h->dirty)
        enqueue(s, sub->key); /* the row goes at the next flush */
    ims_map_del(s->by_key, sub->key);
    ims_heap_remove(&s->heap, &h->expiry);
    impu_entry_t *e = h->ie;
    if (h->iprev)
        h->iprev->inext = h->inext;
    else
        e->head = h->inext;
    if (h->inext)
        h->inext->iprev = h->iprev;
    else
        e->tail = h->iprev;
    e->n--;
    impu_drop_if_empty(s, e, sub->impu);
    sub_strings_free(sub);
    free(h);
}

void scscf_subs_for_impu(scscf_subs_t *s, const char *impu, scscf_sub_cb cb, void *ctx)
{
    impu_entry_t *e = impu_get(s, impu, false);
    if (!e)
        return;
    /* the entry goes with its last subscription: count instead of reading it after */
    size_t left = e->n;
    for (holder_t *h = e->head, *nx; h && left; h = nx, left--) {
        nx = h->inext;
        cb(ctx, &h->sub);
    }
}

void scscf_subs_for_each(scscf_subs_t *s, scscf_sub_cb cb, void *ctx)
{
    ims_map_iter_t it;
    ims_map_iter_init(s->by_key, &it);
    for (ims_map_entry_t *e; (e = ims_map_iter_next(&it));)
        cb(ctx, &((holder_t *)ims_map_entry_val(e))->sub);
}

scscf_sub_t *scscf_subs_first_due(scscf_subs_t *s, int64_t now)
{
    ims_heap_node_t *top = ims_heap_top(&s->heap);
    if (!top || top->due > now)
        return NULL;
    return &((holder_t *)((char *)top - offsetof(holder_t, expiry)))->sub;
}

void scscf_subs_expire(scscf_subs_t *s, int64_t now, scscf_sub_cb cb, void *ctx)
{
    scscf_sub_t *sub;
    while ((sub = scscf_subs_first_due(s, now))) {
        if (cb)
            cb(ctx, sub);
        scscf_subs_remove(s, sub);
    }
}

int64_t scscf_subs_next_due(const scscf_subs_t *s)
{
    ims_heap_node_t *top = ims_heap_top(&s->heap);
    return top ? top->due : INT64_MAX;
}

size_t scscf_subs_count(const scscf_subs_t *s)
{
    return ims_map_count(s->by_key);
}

size_t scscf_subs_count_impu(const scscf_subs_t *s, const char *impu)
{
    impu_entry_t *e = impu_get(s, impu, false);
    return e ? e->n : 0;
}

void scscf_subs_free(scscf_subs_t *s)
{
    if (!s)
        return;
    ims_map_entry_t *e;
    while ((e = ims_map_oldest(s->by_key)))
        scscf_subs_remove(s, &((holder_t *)ims_map_entry_val(e))->sub);
    ims_map_free(s->by_key);
    ims_map_free(s->by_impu);
    for (size_t i = 0; i < s->nqueue; i++)
        free(s->queue[i]);
    free(s->queue);
    ims_heap_free(&s->heap);
    free(s);
}

/* ---- JSON: the status API and the stored document ---- */

json_t *scscf_sub_json(const scscf_sub_t *u, int64_t now)
{
    json_t *route = json_array();
    for (size_t i = 0; i < u->nroute; i++)
        json_array_append_new(route, json_string(u->route[i]));
    return json_pack("{s:s, s:s, s:s?, s:s, s:s, s:s, s:s, s:I, s:I, s:o}", "impu", u->impu,
                     "subscriber", scscf_sub_kind_name(u->kind), "watcher", u->watcher, "call_id",
                     u->call_id, "from_tag", u->remote_tag, "to_tag", u->local_tag, "remote_target",
                     u->remote_target, "expires_in", (json_int_t)scscf_sub_expires_in(u, now),
                     "version", (json_int_t)u->version, "route", route);
}

static void add_json(void *ctx, scscf_sub_t *sub)
{
    json_t **arr = ctx;
    json_array_append_new(arr[0], scscf_sub_json(sub, json_integer_value(arr[1])));
}

json_t *scscf_subs_json_impu(scscf_subs_t *s, const char *impu, int64_t now)
{
    json_t *ctx[2] = {json_array(), json_integer(now)};
    scscf_subs_for_impu(s, impu, add_json, ctx);
    json_decref(ctx[1]);
    return ctx[0];
}

static json_t *sub_doc(const scscf_sub_t *u)
{
    json_t *route = json_array();
    for (size_t i = 0; i < u->nroute; i++)
        json_array_append_new(route, json_string(u->route[i]));
    return json_pack("{s:i, s:s, s:s?, s:i, s:s, s:s, s:s, s:s, s:s, s:s, s:o, s:s?, s:I, s:I, "
                     "s:I, s:I, s:I}",
                     "v", 1, "impu", u->impu, "watcher", u->watcher, "kind", (int)u->kind,
                     "call_id", u->call_id, "local_tag", u->local_tag, "remote_tag", u->remote_tag,
                     "local_uri", u->local_uri, "remote_uri", u->remote_uri, "remote_target",
                     u->remote_target, "route", route, "next_hop", u->next_hop, "remote_cseq",
                     (json_int_t)u->remote_cseq, "local_cseq", (json_int_t)u->local_cseq, "version",
                     (json_int_t)u->version, "expires_at", (json_int_t)u->expires_at, "created_at",
                     (json_int_t)u->created_at);
}

size_t scscf_subs_flush(scscf_subs_t *s, scscf_subs_persist_cb cb, void *ctx)
{
    size_t n = s->nqueue;
    for (size_t i = 0; i < n; i++) {
        char *key = s->queue[i];
        holder_t *h = ims_map_get(s->by_key, key);
        char *text = NULL;
        if (h) {
            h->dirty = false;
            json_t *doc = sub_doc(&h->sub);
            text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
            json_decref(doc);
        }
        if (!h || text)
            cb(ctx, key, text);
        free(text);
        free(key);
    }
    s->nqueue = 0;
    return n;
}

static const char *str(json_t *doc, const char *k)
{
    return json_string_value(json_object_get(doc, k));
}

static uint32_t u32(json_t *doc, const char *k)
{
    json_int_t v = json_integer_value(json_object_get(doc, k));
    return v < 0 || v > UINT32_MAX ? 0 : (uint32_t)v;
}

int scscf_subs_restore(scscf_subs_t *s, const char *text, int64_t now)
{
    json_t *doc = text ? json_loads(text, 0, NULL) : NULL;
    json_t *route = json_object_get(doc, "route");
    int rc = EINVAL;
    size_t nroute = json_array_size(route);
    const char **rs = calloc(nroute + 1, sizeof(char *));
    if (!doc || json_integer_value(json_object_get(doc, "v")) != 1 || !json_is_array(route) || !rs)
        goto out;
    for (size_t i = 0; i < nroute; i++)
        if (!(rs[i] = json_string_value(json_array_get(route, i))))
            goto out;
    scscf_sub_init_t in = {
        .impu = str(doc, "impu"),
        .watcher = str(doc, "watcher"),
        .kind = (scscf_sub_kind_t)json_integer_value(json_object_get(doc, "kind")),
        .call_id = str(doc, "call_id"),
        .local_tag = str(doc, "local_tag"),
        .remote_tag = str(doc, "remote_tag"),
        .local_uri = str(doc, "local_uri"),
        .remote_uri = str(doc, "remote_uri"),
        .remote_target = str(doc, "remote_target"),
        .route = rs,
        .nroute = nroute,
        .next_hop = str(doc, "next_hop"),
        .remote_cseq = u32(doc, "remote_cseq"),
    };
    json_int_t exp = json_integer_value(json_object_get(doc, "expires_at"));
    if (!init_ok(&in))
        goto out;
    if (exp <= now) {
        char *key = make_key(in.call_id, in.remote_tag, in.local_tag);
        if (key && !scscf_subs_find(s, in.call_id, in.remote_tag, in.local_tag))
            enqueue(s, key);
        free(key);
        rc = ESRCH;
        goto out;
    }
    scscf_sub_t *u;
    rc = scscf_subs_add(s, &in, (long)(exp - now), now, &u);
    if (rc == 0) {
        u->local_cseq = u32(doc, "local_cseq");
        u->version = u32(doc, "version");
        u->created_at = json_integer_value(json_object_get(doc, "created_at"));
        /* the row is what was just read: no need to write it back */
        if (s->nqueue && strcmp(s->queue[s->nqueue - 1], u->key) == 0) {
            holder_of(u)->dirty = false;
            free(s->queue[--s->nqueue]);
        }
    }
out:
    free(rs);
    json_decref(doc);
    return rc;
}
