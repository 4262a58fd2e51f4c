/* The location store's persistence: changed records written behind to SQLite (one JSON
 * document per IMPI, file opened by ims_db) at each tick, loaded back at start. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "ims/db.h"
#include "ims/log.h"
#include "ims/util.h"
#include "location_int.h"

/* PRAGMA application_id of an S-CSCF state file ("SCSC"). */
#define APP_ID 0x53435343

/* migrations[i] takes user_version i to i+1. Files from before the opener have the table
 * at version 0 (unstamped): IF NOT EXISTS lets them through unchanged. */
static const char *const migrations[] = {
    "CREATE TABLE IF NOT EXISTS registrations(impi TEXT PRIMARY KEY, doc TEXT NOT NULL)",
};

static const ims_db_spec_t db_spec = {
    .label = "state file",
    .hint = "move it away or pass --state :memory:",
    .foreign = "not an S-CSCF state file (it holds other data; give the S-CSCF its own --state "
               "file)",
    .app_id = APP_ID,
    .adopt_unstamped = true,
    .migrations = migrations,
    .nmigrations = sizeof migrations / sizeof migrations[0],
    .busy_ms = 2000,
    .private_file = true,
};

struct scscf_location_db {
    sqlite3 *db;
    sqlite3_stmt *put, *del; /* prepared once at open */
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
    sqlite3_finalize(l->db->put);
    sqlite3_finalize(l->db->del);
    sqlite3_close(l->db->db);
    free(l->db);
    l->db = NULL;
}

/* Loads every stored record; 0, or EIO with err set when a row cannot be read. */
static int load_all(scscf_location_t *l, const char *path, char *err, size_t errlen)
{
    sqlite3 *db = l->db->db;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "SELECT doc FROM registrations", -1, &st, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "cannot read state file %s: %s", path, sqlite3_errmsg(db));
        return EIO;
    }
    int64_t now = ims_wall_s();
    size_t loaded = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        json_t *doc = json_loads((const char *)sqlite3_column_text(st, 0), 0, NULL);
        if (doc) {
            load_doc(l, doc, now);
            json_decref(doc);
            loaded++;
        }
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        snprintf(err, errlen, "cannot read state file %s: %s", path, sqlite3_errmsg(db));
        return EIO;
    }
    /* Loading marked everything dirty; the rows are already what we loaded, but expired
     * ones must go, so the first flush rewrites them: cheap and simple. */
    IMS_INFO("state %s: %zu stored registrations, %zu live with %zu bindings", path, loaded,
             scscf_location_count(l), l->nbindings);
    return 0;
}

int scscf_location_open_db(scscf_location_t *l, const char *path, char *err, size_t errlen)
{
    if (!path || strcmp(path, ":memory:") == 0 || !*path)
        return 0;
    if (!(l->db = calloc(1, sizeof(*l->db)))) {
        snprintf(err, errlen, "cannot open state file %s: out of memory", path);
        return ENOMEM;
    }
    int rc = ims_db_open(path, &db_spec, &l->db->db, err, errlen);
    if (rc) {
        free(l->db);
        l->db = NULL;
        return rc;
    }
    if ((rc = load_all(l, path, err, errlen)))
        goto fail;
    if (sqlite3_prepare_v2(l->db->db, "INSERT OR REPLACE INTO registrations(impi, doc) VALUES(?,?)",
                           -1, &l->db->put, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(l->db->db, "DELETE FROM registrations WHERE impi = ?", -1, &l->db->del,
                           NULL) != SQLITE_OK) {
        snprintf(err, errlen, "cannot prepare state file %s: %s", path, sqlite3_errmsg(l->db->db));
        rc = EIO;
        goto fail;
    }
    return 0;
fail:
    scscf_location_db_close(l);
    return rc;
}

/* Writes (or deletes) the row of one dirty IMPI; 0 or EIO. */
static int write_one(scscf_location_t *l, const char *impi)
{
    scscf_record_t *r = scscf_location_find_impi(l, impi);
    sqlite3_stmt *st = r && r->bindings ? l->db->put : l->db->del;
    char *text = NULL;
    if (r)
        r->dirty = false;
    sqlite3_bind_text(st, 1, impi, -1, SQLITE_STATIC);
    if (st == l->db->put) {
        json_t *doc = record_doc(r);
        text = json_dumps(doc, JSON_COMPACT);
        json_decref(doc);
        if (!text)
            return EIO;
        sqlite3_bind_text(st, 2, text, -1, SQLITE_STATIC);
    }
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    free(text);
    return rc == SQLITE_DONE ? 0 : EIO;
}

int scscf_location_flush(scscf_location_t *l)
{
    if (!l->db || !l->ndirty)
        return 0;
    sqlite3 *db = l->db->db;
    int rc = sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) == SQLITE_OK ? 0 : EIO;
    for (size_t i = 0; !rc && i < l->ndirty; i++)
        rc = write_one(l, l->dirty[i]);
    if (!rc && sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
        rc = EIO;
    if (rc) {
        IMS_WARN("state database write failed: %s", sqlite3_errmsg(db));
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    }
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
