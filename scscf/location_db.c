/* The location store's persistence: changed records written behind to SQLite (one JSON
 * document per IMPI) at each tick, and loaded back at start with the expired bindings left out. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>
#include <sys/stat.h>

#include "ims/log.h"
#include "ims/util.h"
#include "location_int.h"

struct scscf_location_db {
    sqlite3 *db;
};

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

static const char *str_of(json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

/* One stored binding back into r, unless it has expired by now. */
static void load_binding(scscf_location_t *l, scscf_record_t *r, json_t *it, int64_t now)
{
    json_int_t exp = json_integer_value(json_object_get(it, "expires_at"));
    const char *contact = str_of(it, "contact");
    if (exp <= now || !contact)
        return;
    json_t *p = json_object_get(it, "path");
    size_t npath = json_array_size(p);
    const char **path = calloc(npath + 1, sizeof(char *));
    for (size_t k = 0; path && k < npath; k++)
        path[k] = json_string_value(json_array_get(p, k)) ?: "";
    scscf_binding_in_t in = {
        .contact = contact,
        .params = str_of(it, "params"),
        .instance = str_of(it, "instance"),
        .reg_id = (long)json_integer_value(json_object_get(it, "reg_id")),
        .path = path,
        .npath = path ? npath : 0,
        .user_agent = str_of(it, "user_agent"),
        .received = str_of(it, "received"),
        .call_id = str_of(it, "call_id"),
        .cseq = (uint32_t)json_integer_value(json_object_get(it, "cseq")),
        .expires_at = exp,
    };
    scscf_location_append(l, r, &in);
    free(path);
}

static void load_doc(scscf_location_t *l, json_t *doc, int64_t now)
{
    const char *impi = str_of(doc, "impi");
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
        uris[i] = str_of(it, "uri");
        barred[i] = json_is_true(json_object_get(it, "barred"));
        if (!uris[i])
            goto out;
    }
    scscf_record_t *r = scscf_location_upsert(l, impi, str_of(doc, "impu"), uris, barred, n);
    if (!r)
        goto out;
    size_t i;
    json_t *it;
    json_array_foreach(bs, i, it) load_binding(l, r, it, now);
    if (!r->bindings)
        scscf_location_remove(l, r);
out:
    free(uris);
    free(barred);
}

void scscf_location_db_close(scscf_location_t *l)
{
    if (!l->db)
        return;
    sqlite3_close(l->db->db);
    free(l->db);
    l->db = NULL;
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
    if (!(l->db = calloc(1, sizeof(*l->db)))) {
        snprintf(err, errlen, "cannot open state database %s: out of memory", path);
        return ENOMEM;
    }
    sqlite3 *db = NULL;
    if (sqlite3_open(path, &db) != SQLITE_OK) {
        snprintf(err, errlen, "cannot open state database %s: %s", path,
                 db ? sqlite3_errmsg(db) : "out of memory");
        sqlite3_close(db);
        free(l->db);
        l->db = NULL;
        return EIO;
    }
    l->db->db = db;
    char *msg = NULL;
    if (sqlite3_exec(db,
                     "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
                     "CREATE TABLE IF NOT EXISTS registrations(impi TEXT PRIMARY KEY, doc TEXT "
                     "NOT NULL);",
                     NULL, NULL, &msg) != SQLITE_OK) {
        snprintf(err, errlen, "cannot initialise state database %s: %s", path, msg ? msg : "error");
        sqlite3_free(msg);
        scscf_location_db_close(l);
        return EIO;
    }
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "SELECT doc FROM registrations", -1, &st, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "cannot read state database %s: %s", path, sqlite3_errmsg(db));
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
             scscf_location_count(l), l->nbindings);
    return 0;
}

int scscf_location_flush(scscf_location_t *l)
{
    if (!l->db || !l->ndirty)
        return 0;
    sqlite3 *db = l->db->db;
    sqlite3_stmt *put = NULL, *del = NULL;
    int rc = EIO;
    if (sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "INSERT OR REPLACE INTO registrations(impi, doc) VALUES(?,?)", -1,
                           &put, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "DELETE FROM registrations WHERE impi = ?", -1, &del, NULL) !=
            SQLITE_OK)
        goto out;
    for (size_t i = 0; i < l->ndirty; i++) {
        scscf_record_t *r = scscf_location_find_impi(l, l->dirty[i]);
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
    rc = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK ? 0 : EIO;
out:
    if (rc) {
        IMS_WARN("state database write failed: %s", sqlite3_errmsg(db));
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    }
    sqlite3_finalize(put);
    sqlite3_finalize(del);
    for (size_t i = 0; i < l->ndirty; i++) {
        /* also after a failed write: the next change queues the record again */
        scscf_record_t *r = scscf_location_find_impi(l, l->dirty[i]);
        if (r)
            r->dirty = false;
        free(l->dirty[i]);
    }
    l->ndirty = 0;
    return rc;
}
