/* The S-CSCF location store: registration records (one per IMPI, indexed by every IMPU of
 * the implicit set) with their bindings, expiry, and write-behind SQLite persistence. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>
#include <sys/stat.h>

#include "ims/heap.h"
#include "ims/log.h"
#include "ims/util.h"
#include "scscf.h"

typedef struct entry {
    struct entry *next;
    char *key;
    scscf_record_t *rec;
} entry_t;

typedef struct map {
    entry_t **slots;
    size_t nslots, count;
} map_t;

typedef struct node {
    struct node *prev, *next;
    scscf_record_t *rec;
} node_t;

typedef struct holder holder_t;

struct scscf_location {
    map_t by_impi, by_impu;
    node_t *head, *tail; /* insertion order, for listing */
    /* Binary min-heap of every record by its earliest binding expiry, so the once-a-second
     * expiry costs O(log n) per record due instead of a walk over all of them (40 ms per
     * tick with 100,000 bindings on the loop thread). */
    ims_heap_t heap;
    size_t nrecords, nbindings;
    sqlite3 *db;
    char **dirty; /* IMPIs to write or delete at the next flush */
    size_t ndirty, capdirty;
};

/* The record's list node and heap slot hide in front of it so removal is O(1). */
struct holder {
    node_t node;
    ims_heap_node_t expiry; /* due: earliest expires_at of its bindings; INT64_MIN without any */
    scscf_record_t rec;
};

static holder_t *holder_of(const scscf_record_t *r)
{
    return (holder_t *)((char *)r - offsetof(holder_t, rec));
}

/* ---- expiry heap ---- */

/* Re-files a record after its bindings changed (a handful per record: cheap). */
static void heap_refile(scscf_location_t *l, scscf_record_t *r)
{
    int64_t due = r->bindings ? INT64_MAX : INT64_MIN;
    for (const scscf_binding_t *b = r->bindings; b; b = b->next)
        if (b->expires_at < due)
            due = b->expires_at;
    ims_heap_set_due(&l->heap, &holder_of(r)->expiry, due);
}

static holder_t *holder_of_node(const ims_heap_node_t *n)
{
    return (holder_t *)((char *)n - offsetof(holder_t, expiry));
}

static uint64_t hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

static int map_grow(map_t *m)
{
    size_t n = m->nslots ? m->nslots * 2 : 1024;
    entry_t **s = calloc(n, sizeof(*s));
    if (!s)
        return ENOMEM;
    for (size_t i = 0; i < m->nslots; i++) {
        for (entry_t *e = m->slots[i], *nx; e; e = nx) {
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

static scscf_record_t *map_get(const map_t *m, const char *key)
{
    if (!m->nslots)
        return NULL;
    for (entry_t *e = m->slots[hash(key) & (m->nslots - 1)]; e; e = e->next)
        if (strcmp(e->key, key) == 0)
            return e->rec;
    return NULL;
}

static int map_put(map_t *m, const char *key, scscf_record_t *rec)
{
    if (m->count + 1 > m->nslots && map_grow(m))
        return ENOMEM;
    size_t j = hash(key) & (m->nslots - 1);
    for (entry_t *e = m->slots[j]; e; e = e->next) {
        if (strcmp(e->key, key) == 0) {
            e->rec = rec;
            return 0;
        }
    }
    entry_t *e = malloc(sizeof(*e));
    if (!e || !(e->key = strdup(key))) {
        free(e);
        return ENOMEM;
    }
    e->rec = rec;
    e->next = m->slots[j];
    m->slots[j] = e;
    m->count++;
    return 0;
}

/* Deletes key only when it still points at rec (an IMPU may have moved to another set). */
static void map_del(map_t *m, const char *key, const scscf_record_t *rec)
{
    if (!m->nslots)
        return;
    entry_t **pp = &m->slots[hash(key) & (m->nslots - 1)];
    for (; *pp; pp = &(*pp)->next) {
        if (strcmp((*pp)->key, key) == 0) {
            if ((*pp)->rec != rec)
                return;
            entry_t *e = *pp;
            *pp = e->next;
            free(e->key);
            free(e);
            m->count--;
            return;
        }
    }
}

static void map_free(map_t *m)
{
    for (size_t i = 0; i < m->nslots; i++) {
        for (entry_t *e = m->slots[i], *nx; e; e = nx) {
            nx = e->next;
            free(e->key);
            free(e);
        }
    }
    free(m->slots);
}

int scscf_location_create(scscf_location_t **out)
{
    scscf_location_t *l = calloc(1, sizeof(*l));
    if (!l)
        return ENOMEM;
    *out = l;
    return 0;
}

scscf_binding_t *scscf_binding_new(void)
{
    scscf_binding_t *b = calloc(1, sizeof(*b));
    if (b)
        b->reg_id = -1;
    return b;
}

void scscf_binding_free(scscf_binding_t *b)
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
        scscf_binding_free(b);
    }
    record_free_set(r);
    free(r->impi);
    free(r->impu);
    free(holder_of(r));
}

void scscf_location_free(scscf_location_t *l)
{
    if (!l)
        return;
    scscf_location_flush(l);
    for (node_t *n = l->head, *nx; n; n = nx) {
        nx = n->next;
        record_free(n->rec);
    }
    map_free(&l->by_impi);
    map_free(&l->by_impu);
    for (size_t i = 0; i < l->ndirty; i++)
        free(l->dirty[i]);
    free(l->dirty);
    ims_heap_free(&l->heap);
    if (l->db)
        sqlite3_close(l->db);
    free(l);
}

scscf_record_t *scscf_location_find_impu(scscf_location_t *l, const char *impu)
{
    return map_get(&l->by_impu, impu);
}

scscf_record_t *scscf_location_find_impi(scscf_location_t *l, const char *impi)
{
    return map_get(&l->by_impi, impi);
}

void scscf_location_mark_dirty(scscf_location_t *l, scscf_record_t *rec)
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

scscf_record_t *scscf_location_upsert(scscf_location_t *l, const char *impi, const char *impu,
                                      const char *const *impus, const bool *barred, size_t nimpus)
{
    scscf_record_t *r = map_get(&l->by_impi, impi);
    if (!r) {
        holder_t *h = ims_heap_reserve(&l->heap, 1) ? NULL : calloc(1, sizeof(*h));
        if (!h)
            return NULL;
        r = &h->rec;
        h->node.rec = r;
        if (!(r->impi = strdup(impi)) || map_put(&l->by_impi, impi, r)) {
            free(r->impi);
            free(h);
            return NULL;
        }
        h->expiry.due = INT64_MIN; /* no binding yet: due at once unless the caller adds some */
        ims_heap_push(&l->heap, &h->expiry);
        h->node.prev = l->tail;
        if (l->tail)
            l->tail->next = &h->node;
        else
            l->head = &h->node;
        l->tail = &h->node;
        l->nrecords++;
    }
    if (impu && (!r->impu || strcmp(r->impu, impu) != 0)) {
        char *c = strdup(impu);
        if (c) {
            free(r->impu);
            r->impu = c;
        }
    }
    if (nimpus) {
        for (size_t i = 0; i < r->nimpus; i++)
            map_del(&l->by_impu, r->impus[i], r);
        record_free_set(r);
        r->impus = calloc(nimpus, sizeof(char *));
        r->barred = calloc(nimpus, sizeof(bool));
        if (r->impus && r->barred) {
            for (size_t i = 0; i < nimpus; i++) {
                r->impus[i] = strdup(impus[i]);
                r->barred[i] = barred ? barred[i] : false;
                if (!r->impus[i])
                    break;
                r->nimpus = i + 1;
                map_put(&l->by_impu, impus[i], r);
            }
        }
    }
    if (r->impu && !map_get(&l->by_impu, r->impu))
        map_put(&l->by_impu, r->impu, r);
    scscf_location_mark_dirty(l, r);
    return r;
}

void scscf_location_remove(scscf_location_t *l, scscf_record_t *r)
{
    holder_t *h = holder_of(r);
    scscf_location_mark_dirty(l, r);
    ims_heap_remove(&l->heap, &h->expiry);
    for (size_t i = 0; i < r->nimpus; i++)
        map_del(&l->by_impu, r->impus[i], r);
    if (r->impu)
        map_del(&l->by_impu, r->impu, r);
    map_del(&l->by_impi, r->impi, r);
    if (h->node.prev)
        h->node.prev->next = h->node.next;
    else
        l->head = h->node.next;
    if (h->node.next)
        h->node.next->prev = h->node.prev;
    else
        l->tail = h->node.prev;
    for (scscf_binding_t *b = r->bindings; b; b = b->next)
        l->nbindings--;
    l->nrecords--;
    record_free(r);
}

scscf_record_t *scscf_location_first(scscf_location_t *l, void **iter)
{
    *iter = l->head;
    return l->head ? l->head->rec : NULL;
}

scscf_record_t *scscf_location_next(scscf_location_t *l, void **iter)
{
    node_t *n = *iter;
    n = n ? n->next : NULL;
    *iter = n;
    return n ? n->rec : NULL;
}

size_t scscf_location_count(scscf_location_t *l)
{
    return l->nrecords;
}

size_t scscf_location_binding_count(scscf_location_t *l)
{
    return l->nbindings;
}

void scscf_location_bump_bindings(scscf_location_t *l, long delta)
{
    l->nbindings += delta;
}

int64_t scscf_location_next_due(scscf_location_t *l)
{
    const ims_heap_node_t *top = ims_heap_top(&l->heap);
    return top ? top->due : INT64_MAX;
}

void scscf_location_expire(scscf_location_t *l, int64_t now, scscf_expired_cb cb, void *ctx)
{
    /* Only records with a binding due are visited. Each visit leaves the record due
     * after now or removes it, so the loop ends. */
    for (ims_heap_node_t *top; (top = ims_heap_top(&l->heap)) && top->due <= now;) {
        scscf_record_t *r = &holder_of_node(top)->rec;
        bool changed = false;
        for (scscf_binding_t **pp = &r->bindings; *pp;) {
            if ((*pp)->expires_at <= now) {
                scscf_binding_t *b = *pp;
                *pp = b->next;
                IMS_INFO("binding expired: %s contact %s", r->impu ? r->impu : r->impi, b->contact);
                scscf_binding_free(b);
                l->nbindings--;
                changed = true;
            } else {
                pp = &(*pp)->next;
            }
        }
        if (changed)
            scscf_location_mark_dirty(l, r);
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

/* ---- persistence ---- */

static json_t *record_doc(const scscf_record_t *r)
{
    json_t *set = json_array(), *bs = json_array();
    for (size_t i = 0; i < r->nimpus; i++)
        json_array_append_new(set,
                              json_pack("{s:s, s:b}", "uri", r->impus[i], "barred", r->barred[i]));
    for (const scscf_binding_t *b = r->bindings; b; b = b->next) {
        json_t *path = json_array();
        for (size_t i = 0; i < b->npath; i++)
            json_array_append_new(path, json_string(b->path[i]));
        json_array_append_new(
            bs, json_pack("{s:s, s:s, s:s?, s:I, s:o, s:s?, s:s?, s:s?, s:I, s:I}", "contact",
                          b->contact, "params", b->params ? b->params : "", "instance", b->instance,
                          "reg_id", (json_int_t)b->reg_id, "path", path, "user_agent",
                          b->user_agent, "received", b->received, "call_id", b->call_id, "cseq",
                          (json_int_t)b->cseq, "expires_at", (json_int_t)b->expires_at));
    }
    return json_pack("{s:s, s:s?, s:o, s:o}", "impi", r->impi, "impu", r->impu, "impus", set,
                     "bindings", bs);
}

static char *dup_opt(json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? strdup(s) : NULL;
}

static void load_doc(scscf_location_t *l, json_t *doc, int64_t now)
{
    const char *impi = json_string_value(json_object_get(doc, "impi"));
    json_t *set = json_object_get(doc, "impus"), *bs = json_object_get(doc, "bindings");
    if (!impi || !json_is_array(set) || !json_is_array(bs))
        return;
    size_t n = json_array_size(set);
    const char **uris = calloc(n + 1, sizeof(char *));
    bool *barred = calloc(n + 1, sizeof(bool));
    if (!uris || !barred)
        goto out;
    for (size_t i = 0; i < n; i++) {
        json_t *it = json_array_get(set, i);
        uris[i] = json_string_value(json_object_get(it, "uri"));
        barred[i] = json_is_true(json_object_get(it, "barred"));
        if (!uris[i])
            goto out;
    }
    scscf_record_t *r = scscf_location_upsert(
        l, impi, json_string_value(json_object_get(doc, "impu")), uris, barred, n);
    if (!r)
        goto out;
    scscf_binding_t **tail = &r->bindings;
    size_t i;
    json_t *it;
    json_array_foreach(bs, i, it)
    {
        json_int_t exp = json_integer_value(json_object_get(it, "expires_at"));
        const char *contact = json_string_value(json_object_get(it, "contact"));
        if (exp <= now || !contact)
            continue;
        scscf_binding_t *b = scscf_binding_new();
        if (!b)
            break;
        b->contact = strdup(contact);
        b->params = dup_opt(it, "params");
        b->instance = dup_opt(it, "instance");
        b->reg_id = json_integer_value(json_object_get(it, "reg_id"));
        b->user_agent = dup_opt(it, "user_agent");
        b->received = dup_opt(it, "received");
        b->call_id = dup_opt(it, "call_id");
        b->cseq = json_integer_value(json_object_get(it, "cseq"));
        b->expires_at = exp;
        json_t *p = json_object_get(it, "path");
        b->npath = json_array_size(p);
        b->path = calloc(b->npath + 1, sizeof(char *));
        for (size_t k = 0; b->path && k < b->npath; k++)
            b->path[k] = strdup(json_string_value(json_array_get(p, k)) ?: "");
        *tail = b;
        tail = &b->next;
        l->nbindings++;
    }
    heap_refile(l, r);
    if (!r->bindings)
        scscf_location_remove(l, r);
out:
    free(uris);
    free(barred);
}

int scscf_location_open_db(scscf_location_t *l, const char *path, char *err, size_t errlen)
{
    if (!path || strcmp(path, ":memory:") == 0 || !*path)
        return 0;
    /* the default var/scscf.db should work from a fresh clone: create its folder */
    char dir[1024];
    snprintf(dir, sizeof(dir), "%s", path);
    for (char *p = dir + 1; *p; p++) {
        if (*p == '/') {
            *p = 0;
            mkdir(dir, 0755); /* an existing folder is fine; sqlite reports real errors */
            *p = '/';
        }
    }
    if (sqlite3_open(path, &l->db) != SQLITE_OK) {
        snprintf(err, errlen, "cannot open state database %s: %s", path,
                 l->db ? sqlite3_errmsg(l->db) : "out of memory");
        sqlite3_close(l->db);
        l->db = NULL;
        return EIO;
    }
    char *msg = NULL;
    if (sqlite3_exec(l->db,
                     "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
                     "CREATE TABLE IF NOT EXISTS registrations(impi TEXT PRIMARY KEY, doc TEXT "
                     "NOT NULL);",
                     NULL, NULL, &msg) != SQLITE_OK) {
        snprintf(err, errlen, "cannot initialise state database %s: %s", path, msg ? msg : "error");
        sqlite3_free(msg);
        sqlite3_close(l->db);
        l->db = NULL;
        return EIO;
    }
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(l->db, "SELECT doc FROM registrations", -1, &st, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "cannot read state database %s: %s", path, sqlite3_errmsg(l->db));
        return EIO;
    }
    int64_t now = ims_wall_s();
    size_t loaded = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        json_t *doc = json_loads((const char *)sqlite3_column_text(st, 0), 0, NULL);
        if (doc) {
            load_doc(l, doc, now);
            json_decref(doc);
            loaded++;
        }
    }
    sqlite3_finalize(st);
    /* Loading marked everything dirty; the rows are already what we loaded, but expired
     * ones must go, so the first flush rewrites them: cheap and simple. */
    IMS_INFO("state %s: %zu stored registrations, %zu live with %zu bindings", path, loaded,
             l->nrecords, l->nbindings);
    return 0;
}

int scscf_location_flush(scscf_location_t *l)
{
    if (!l->db || !l->ndirty)
        return 0;
    sqlite3_stmt *put = NULL, *del = NULL;
    int rc = EIO;
    if (sqlite3_exec(l->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(l->db, "INSERT OR REPLACE INTO registrations(impi, doc) VALUES(?,?)", -1,
                           &put, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(l->db, "DELETE FROM registrations WHERE impi = ?", -1, &del, NULL) !=
            SQLITE_OK)
        goto out;
    for (size_t i = 0; i < l->ndirty; i++) {
        scscf_record_t *r = map_get(&l->by_impi, l->dirty[i]);
        if (r && r->bindings) {
            r->dirty = false;
            json_t *doc = record_doc(r);
            char *text = json_dumps(doc, JSON_COMPACT);
            json_decref(doc);
            sqlite3_bind_text(put, 1, r->impi, -1, SQLITE_STATIC);
            sqlite3_bind_text(put, 2, text ? text : "{}", -1, SQLITE_TRANSIENT);
            sqlite3_step(put);
            sqlite3_reset(put);
            free(text);
        } else {
            if (r)
                r->dirty = false;
            sqlite3_bind_text(del, 1, l->dirty[i], -1, SQLITE_STATIC);
            sqlite3_step(del);
            sqlite3_reset(del);
        }
    }
    rc = sqlite3_exec(l->db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK ? 0 : EIO;
out:
    if (rc) {
        IMS_WARN("state database write failed: %s", sqlite3_errmsg(l->db));
        sqlite3_exec(l->db, "ROLLBACK", NULL, NULL, NULL);
    }
    sqlite3_finalize(put);
    sqlite3_finalize(del);
    for (size_t i = 0; i < l->ndirty; i++) {
        /* also after a failed write: the next change queues the record again */
        scscf_record_t *r = map_get(&l->by_impi, l->dirty[i]);
        if (r)
            r->dirty = false;
        free(l->dirty[i]);
    }
    l->ndirty = 0;
    return rc;
}
