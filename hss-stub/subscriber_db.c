/* The subscriber store on SQLite: WAL + synchronous=NORMAL (survives kill -9), schema
 * version in PRAGMA user_version, cached prepared statements, one connection + mutex. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <sqlite3.h>

#include "hss.h"
#include "ims/db.h"
#include "ims/log.h"
#include "ims/util.h"

/* Why one connection behind a mutex rather than one per MHD thread: SQLite serialises
 * writers anyway, ":memory:" databases are per connection, and every request is a few
 * indexed look-ups (microseconds), so the lock is never the bottleneck on 2 cores. */
struct hss_db {
    sqlite3 *db;
    pthread_mutex_t lock;
    sqlite3_stmt *st[32];
};

enum {
    ST_BEGIN,
    ST_COMMIT,
    ST_ROLLBACK,
    ST_INSERT_SUB,
    ST_INSERT_IMPU,
    ST_GET_SUB,
    ST_GET_IMPUS,
    ST_EXISTS_IMSI,
    ST_OWNER_IMPI,
    ST_OWNER_IMPU,
    ST_UPDATE_SUB,
    ST_DELETE_IMPUS,
    ST_DELETE_SUB,
    ST_LIST,
    ST_COUNT,
    ST_BY_USER,
    ST_GET_SQN,
    ST_SET_SQN,
    ST_SET_REG,
    ST__COUNT
};

#define SUB_COLUMNS                                                                                \
    "imsi, msisdn, impi, scheme, password, k, opc, amf, sqn, algorithm, reg_state, reg_scscf, "    \
    "reg_updated"

static const char *const sql[ST__COUNT] = {
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    [ST_INSERT_SUB] = "INSERT INTO subscribers (imsi, msisdn, impi, impi_user, scheme, password, "
                      "k, opc, amf, sqn, algorithm) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
    [ST_INSERT_IMPU] = "INSERT INTO impus (uri, imsi, pos, barred) VALUES (?,?,?,?)",
    [ST_GET_SUB] = "SELECT " SUB_COLUMNS " FROM subscribers WHERE imsi = ?",
    [ST_GET_IMPUS] = "SELECT uri, barred FROM impus WHERE imsi = ? ORDER BY pos",
    [ST_EXISTS_IMSI] = "SELECT 1 FROM subscribers WHERE imsi = ?",
    [ST_OWNER_IMPI] = "SELECT imsi FROM subscribers WHERE impi = ?",
    [ST_OWNER_IMPU] = "SELECT imsi FROM impus WHERE uri = ?",
    [ST_UPDATE_SUB] = "UPDATE subscribers SET msisdn = ?, impi = ?, impi_user = ?, scheme = ?, "
                      "password = ?, k = ?, opc = ?, amf = ?, sqn = ?, algorithm = ? "
                      "WHERE imsi = ?",
    [ST_DELETE_IMPUS] = "DELETE FROM impus WHERE imsi = ?",
    [ST_DELETE_SUB] = "DELETE FROM subscribers WHERE imsi = ?",
    [ST_LIST] = "SELECT imsi FROM subscribers ORDER BY imsi LIMIT ? OFFSET ?",
    [ST_COUNT] = "SELECT count(*) FROM subscribers",
    [ST_BY_USER] = "SELECT imsi FROM subscribers WHERE impi = ?1 OR imsi = ?1 OR impi_user = ?1 "
                   "ORDER BY (impi = ?1) DESC, (imsi = ?1) DESC, imsi LIMIT 1",
    [ST_GET_SQN] = "SELECT sqn FROM subscribers WHERE imsi = ?",
    [ST_SET_SQN] = "UPDATE subscribers SET sqn = ? WHERE imsi = ?",
    [ST_SET_REG] = "UPDATE subscribers SET reg_state = ?, reg_scscf = ?, reg_updated = ? "
                   "WHERE imsi = ?",
};

/* Migrations by target version: migrations[i] moves user_version i -> i+1. */
static const char *const migrations[] = {
    "CREATE TABLE subscribers ("
    " imsi TEXT PRIMARY KEY, msisdn TEXT, impi TEXT NOT NULL UNIQUE, impi_user TEXT NOT NULL,"
    " scheme TEXT NOT NULL, password TEXT, k TEXT, opc TEXT, amf TEXT,"
    " sqn INTEGER NOT NULL DEFAULT 0, algorithm TEXT,"
    " reg_state TEXT NOT NULL DEFAULT 'unregistered', reg_scscf TEXT, reg_updated INTEGER)"
    " WITHOUT ROWID;"
    "CREATE INDEX subscribers_impi_user ON subscribers (impi_user);"
    "CREATE TABLE impus (uri TEXT PRIMARY KEY, imsi TEXT NOT NULL, pos INTEGER NOT NULL,"
    " barred INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE INDEX impus_imsi ON impus (imsi, pos);",
};
#define SCHEMA_VERSION (sizeof(migrations) / sizeof(migrations[0]))

/* PRAGMA application_id of our files ("HSSB"): a --db pointing at a P-CSCF or S-CSCF file
 * is refused. Files made before the id (tables, no id) are ours and get stamped. */
#define APP_ID 0x48535342

/* EXCLUSIVE locking: no shared-memory wal-index and no fcntl() lock round trips per
 * transaction (they were a fifth of the CPU of a MAR), and a second daemon on the same
 * file is refused instead of silently sharing it. NOMUTEX: our own mutex serialises
 * access. */
static const ims_db_spec_t db_spec = {
    .label = "database",
    .foreign = "not an hss-stub database (it holds other data; give the HSS its own --db file)",
    .app_id = APP_ID,
    .adopt_unstamped = true,
    .migrations = migrations,
    .nmigrations = SCHEMA_VERSION,
    .busy_ms = 5000,
    .exclusive = true,
    .uri = true,
    .nomutex = true,
};

int hss_db_open(const char *path, hss_db_t **out, char *err, size_t errlen)
{
    hss_db_t *h = calloc(1, sizeof(*h));
    if (!h)
        return ENOMEM;
    pthread_mutex_init(&h->lock, NULL);
    int rc = ims_db_open(path, &db_spec, &h->db, err, errlen);
    if (rc == EBUSY)
        snprintf(err, errlen,
                 "database %s is locked: another hss-stub (or a sqlite3 shell) has it open", path);
    if (rc)
        goto fail;
    for (int i = 0; i < ST__COUNT; i++) {
        if (sqlite3_prepare_v3(h->db, sql[i], -1, SQLITE_PREPARE_PERSISTENT, &h->st[i], NULL) !=
            SQLITE_OK) {
            snprintf(err, errlen, "database %s: %s", path, sqlite3_errmsg(h->db));
            goto fail;
        }
    }
    *out = h;
    return 0;
fail:
    hss_db_close(h);
    return EIO;
}

void hss_db_close(hss_db_t *h)
{
    if (!h)
        return;
    for (int i = 0; i < ST__COUNT; i++)
        sqlite3_finalize(h->st[i]);
    sqlite3_close(h->db);
    pthread_mutex_destroy(&h->lock);
    free(h);
}

/* Resets a cached statement so the next use starts clean (and wipes bound secrets). */
static sqlite3_stmt *stmt(hss_db_t *h, int which)
{
    sqlite3_stmt *s = h->st[which];
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return s;
}

static void done(sqlite3_stmt *s)
{
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
}

static int run(hss_db_t *h, int which)
{
    sqlite3_stmt *s = stmt(h, which);
    int rc = sqlite3_step(s);
    done(s);
    if (rc != SQLITE_DONE) {
        IMS_ERROR("database: %s failed: %s", sql[which], sqlite3_errmsg(h->db));
        return EIO;
    }
    return 0;
}

/* Returns 1 and the IMSI when the single-text-parameter query finds a row. */
static int lookup(hss_db_t *h, int which, const char *arg, char imsi[HSS_IMSI_MAX + 1])
{
    sqlite3_stmt *s = stmt(h, which);
    sqlite3_bind_text(s, 1, arg, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    int found = 0;
    if (rc == SQLITE_ROW) {
        found = 1;
        if (imsi)
            snprintf(imsi, HSS_IMSI_MAX + 1, "%s", (const char *)sqlite3_column_text(s, 0));
    } else if (rc != SQLITE_DONE) {
        IMS_ERROR("database: look-up failed: %s", sqlite3_errmsg(h->db));
        found = -1;
    }
    done(s);
    return found;
}

static void hex_text(sqlite3_stmt *s, int col, const uint8_t *b, size_t n, char *tmp)
{
    ims_hex_encode(b, n, tmp);
    sqlite3_bind_text(s, col, tmp, -1, SQLITE_TRANSIENT);
}

/* Binds the columns shared by INSERT and UPDATE starting at `col`:
 * msisdn, impi, impi_user, scheme, password, k, opc, amf, sqn, algorithm. */
static void bind_record(sqlite3_stmt *s, int col, const hss_sub_t *r)
{
    char user[HSS_URI_MAX + 1], tmp[33];
    hss_user_part(r->impi, user, sizeof(user));
    if (r->msisdn[0])
        sqlite3_bind_text(s, col, r->msisdn, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, col + 1, r->impi, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, col + 2, user, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, col + 3, r->scheme == HSS_AKA ? "aka" : "digest", -1, SQLITE_STATIC);
    if (r->scheme == HSS_DIGEST) {
        sqlite3_bind_text(s, col + 4, r->password, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(s, col + 8, 0);
    } else {
        hex_text(s, col + 5, r->k, 16, tmp);
        hex_text(s, col + 6, r->opc, 16, tmp);
        hex_text(s, col + 7, r->amf, 2, tmp);
        sqlite3_bind_int64(s, col + 8, (sqlite3_int64)r->sqn);
        sqlite3_bind_text(s, col + 9, ims_aka_version_name(r->algorithm), -1, SQLITE_STATIC);
        memset(tmp, 0, sizeof(tmp));
    }
}

/* Returns the sqlite3_step code of the first failing insert, or SQLITE_DONE. */
static int insert_impus(hss_db_t *h, const hss_sub_t *r)
{
    for (size_t i = 0; i < r->nimpus; i++) {
        sqlite3_stmt *s = stmt(h, ST_INSERT_IMPU);
        sqlite3_bind_text(s, 1, r->impus[i].uri, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 2, r->imsi, -1, SQLITE_STATIC);
        sqlite3_bind_int(s, 3, (int)i);
        sqlite3_bind_int(s, 4, r->impus[i].barred);
        int rc = sqlite3_step(s);
        done(s);
        if (rc != SQLITE_DONE)
            return rc;
    }
    return SQLITE_DONE;
}

static int conflict(hss_err_t *err, const char *prefix, const char *what, const char *value,
                    const char *owner)
{
    err->status = 409;
    snprintf(err->code, sizeof(err->code), "conflict");
    snprintf(err->message, sizeof(err->message), "%s%s %s already belongs to subscriber %s", prefix,
             what, value, owner);
    return 409;
}

/* Checks the IMPI and IMPUs of r against the other subscribers (self = r->imsi allowed
 * when replacing). */
static int check_identities(hss_db_t *h, const hss_sub_t *r, bool replacing, const char *prefix,
                            hss_err_t *err)
{
    char owner[HSS_IMSI_MAX + 1];
    if (!replacing && lookup(h, ST_EXISTS_IMSI, r->imsi, NULL) == 1)
        return conflict(err, prefix, "IMSI", r->imsi, r->imsi);
    if (lookup(h, ST_OWNER_IMPI, r->impi, owner) == 1 &&
        (!replacing || strcmp(owner, r->imsi) != 0))
        return conflict(err, prefix, "IMPI", r->impi, owner);
    for (size_t i = 0; i < r->nimpus; i++)
        if (lookup(h, ST_OWNER_IMPU, r->impus[i].uri, owner) == 1 &&
            (!replacing || strcmp(owner, r->imsi) != 0))
            return conflict(err, prefix, "IMPU", r->impus[i].uri, owner);
    return 0;
}

static int internal(hss_db_t *h, hss_err_t *err)
{
    err->status = 500;
    snprintf(err->code, sizeof(err->code), "storage_error");
    snprintf(err->message, sizeof(err->message), "the database refused the write: %s",
             sqlite3_errmsg(h->db));
    return 500;
}

/* Commits when everything before went well, rolls back otherwise; a failed commit
 * becomes an internal error (EIO for callers without an error report). */
static int end_tx(hss_db_t *h, int rc, hss_err_t *err)
{
    if (!rc && run(h, ST_COMMIT))
        rc = err ? internal(h, err) : EIO;
    if (rc)
        run(h, ST_ROLLBACK);
    return rc;
}

int hss_db_insert(hss_db_t *h, size_t n, hss_sub_next_cb next, void *arg, bool bulk, hss_err_t *err)
{
    int rc = 0;
    hss_sub_t *r = malloc(sizeof(*r));
    if (!r)
        return internal(h, err);
    pthread_mutex_lock(&h->lock);
    if (run(h, ST_BEGIN)) {
        rc = internal(h, err);
        goto out;
    }
    for (size_t i = 0; i < n && !rc; i++) {
        char prefix[40] = "";
        if ((rc = next(arg, i, r, err)))
            break;
        if (bulk)
            snprintf(prefix, sizeof(prefix), "item %zu: ", i);
        /* The UNIQUE constraints detect conflicts (also with earlier items of the same
         * batch, already inserted in this transaction); only a failure pays for the
         * look-ups that name the identity and its owner. */
        sqlite3_stmt *s = stmt(h, ST_INSERT_SUB);
        sqlite3_bind_text(s, 1, r->imsi, -1, SQLITE_STATIC);
        bind_record(s, 2, r);
        int st = sqlite3_step(s);
        done(s);
        bool row_in = st == SQLITE_DONE;
        if (row_in)
            st = insert_impus(h, r);
        if (st == SQLITE_CONSTRAINT)
            /* With the row in, the IMSI and IMPI are its own: only IMPUs can clash. */
            rc = check_identities(h, r, row_in, prefix, err);
        if (st != SQLITE_DONE && !rc)
            rc = internal(h, err);
    }
    rc = end_tx(h, rc, err);
out:
    pthread_mutex_unlock(&h->lock);
    hss_sub_clear(r);
    free(r);
    return rc;
}

int hss_db_replace(hss_db_t *h, const hss_sub_t *r, hss_err_t *err)
{
    int rc = 0;
    pthread_mutex_lock(&h->lock);
    if (run(h, ST_BEGIN)) {
        rc = internal(h, err);
        goto out;
    }
    if (lookup(h, ST_EXISTS_IMSI, r->imsi, NULL) != 1) {
        err->status = 404;
        snprintf(err->code, sizeof(err->code), "not_found");
        snprintf(err->message, sizeof(err->message), "no subscriber with IMSI %s", r->imsi);
        rc = 404;
    } else if ((rc = check_identities(h, r, true, "", err)) == 0) {
        sqlite3_stmt *s = stmt(h, ST_UPDATE_SUB);
        bind_record(s, 1, r);
        sqlite3_bind_text(s, 11, r->imsi, -1, SQLITE_STATIC);
        int st = sqlite3_step(s);
        done(s);
        sqlite3_stmt *d = stmt(h, ST_DELETE_IMPUS);
        sqlite3_bind_text(d, 1, r->imsi, -1, SQLITE_STATIC);
        int dt = sqlite3_step(d);
        done(d);
        if (st != SQLITE_DONE || dt != SQLITE_DONE || insert_impus(h, r) != SQLITE_DONE)
            rc = internal(h, err);
    }
    rc = end_tx(h, rc, err);
out:
    pthread_mutex_unlock(&h->lock);
    return rc;
}

static void col_text(sqlite3_stmt *s, int col, char *out, size_t outlen)
{
    const unsigned char *t = sqlite3_column_text(s, col);
    snprintf(out, outlen, "%s", t ? (const char *)t : "");
}

static void col_hex(sqlite3_stmt *s, int col, uint8_t *out, size_t n)
{
    const unsigned char *t = sqlite3_column_text(s, col);
    if (!t || ims_hex_decode((const char *)t, out, n) != 0)
        memset(out, 0, n);
}

/* Caller holds the lock. */
static int load(hss_db_t *h, const char *imsi, hss_sub_t *r)
{
    memset(r, 0, sizeof(*r));
    sqlite3_stmt *s = stmt(h, ST_GET_SUB);
    sqlite3_bind_text(s, 1, imsi, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(s);
    if (rc != SQLITE_ROW) {
        done(s);
        return rc == SQLITE_DONE ? ENOENT : EIO;
    }
    char scheme[16], alg[16], state[16];
    col_text(s, 0, r->imsi, sizeof(r->imsi));
    col_text(s, 1, r->msisdn, sizeof(r->msisdn));
    col_text(s, 2, r->impi, sizeof(r->impi));
    col_text(s, 3, scheme, sizeof(scheme));
    r->scheme = strcmp(scheme, "aka") == 0 ? HSS_AKA : HSS_DIGEST;
    if (r->scheme == HSS_DIGEST) {
        col_text(s, 4, r->password, sizeof(r->password));
    } else {
        col_hex(s, 5, r->k, 16);
        col_hex(s, 6, r->opc, 16);
        col_hex(s, 7, r->amf, 2);
        r->sqn = (uint64_t)sqlite3_column_int64(s, 8);
        col_text(s, 9, alg, sizeof(alg));
        if (ims_aka_version_parse(alg, &r->algorithm) != 0)
            r->algorithm = IMS_AKA_V1;
    }
    col_text(s, 10, state, sizeof(state));
    r->registered = strcmp(state, "registered") == 0;
    col_text(s, 11, r->scscf, sizeof(r->scscf));
    r->reg_updated = sqlite3_column_int64(s, 12);
    done(s);
    s = stmt(h, ST_GET_IMPUS);
    sqlite3_bind_text(s, 1, imsi, -1, SQLITE_TRANSIENT);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW && r->nimpus < HSS_IMPUS_MAX) {
        col_text(s, 0, r->impus[r->nimpus].uri, sizeof(r->impus[0].uri));
        r->impus[r->nimpus].barred = sqlite3_column_int(s, 1) != 0;
        r->nimpus++;
    }
    done(s);
    return 0;
}

int hss_db_get(hss_db_t *h, const char *imsi, hss_sub_t *out)
{
    pthread_mutex_lock(&h->lock);
    int rc = load(h, imsi, out);
    pthread_mutex_unlock(&h->lock);
    return rc;
}

int hss_db_delete(hss_db_t *h, const char *imsi)
{
    int rc = 0;
    pthread_mutex_lock(&h->lock);
    if (run(h, ST_BEGIN)) {
        rc = EIO;
        goto out;
    }
    if (lookup(h, ST_EXISTS_IMSI, imsi, NULL) != 1) {
        rc = ENOENT;
    } else {
        sqlite3_stmt *s = stmt(h, ST_DELETE_IMPUS);
        sqlite3_bind_text(s, 1, imsi, -1, SQLITE_STATIC);
        int a = sqlite3_step(s);
        done(s);
        s = stmt(h, ST_DELETE_SUB);
        sqlite3_bind_text(s, 1, imsi, -1, SQLITE_STATIC);
        int b = sqlite3_step(s);
        done(s);
        if (a != SQLITE_DONE || b != SQLITE_DONE)
            rc = EIO;
    }
    rc = end_tx(h, rc, NULL);
out:
    pthread_mutex_unlock(&h->lock);
    return rc;
}

int hss_db_list(hss_db_t *h, long limit, long offset, hss_sub_each_cb each, void *arg, long *total)
{
    /* IMSIs first, then records: the list statement and load() share no statement.
     * One record buffer is reused so a page costs one record of memory. */
    char(*imsis)[HSS_IMSI_MAX + 1] = limit > 0 ? calloc((size_t)limit, sizeof(*imsis)) : NULL;
    hss_sub_t *r = malloc(sizeof(*r));
    size_t cnt = 0;
    int rc = 0;
    if ((limit > 0 && !imsis) || !r) {
        free(imsis);
        free(r);
        return ENOMEM;
    }
    pthread_mutex_lock(&h->lock);
    sqlite3_stmt *s = stmt(h, ST_COUNT);
    *total = sqlite3_step(s) == SQLITE_ROW ? (long)sqlite3_column_int64(s, 0) : 0;
    done(s);
    if (limit > 0) {
        s = stmt(h, ST_LIST);
        sqlite3_bind_int64(s, 1, limit);
        sqlite3_bind_int64(s, 2, offset);
        while (cnt < (size_t)limit && sqlite3_step(s) == SQLITE_ROW)
            col_text(s, 0, imsis[cnt++], HSS_IMSI_MAX + 1);
        done(s);
        for (size_t i = 0; i < cnt && !rc; i++)
            if ((rc = load(h, imsis[i], r)) == 0)
                each(arg, r);
    }
    pthread_mutex_unlock(&h->lock);
    hss_sub_clear(r);
    free(r);
    free(imsis);
    return rc ? EIO : 0;
}

int hss_db_find_impu(hss_db_t *h, const char *uri, char imsi[HSS_IMSI_MAX + 1])
{
    pthread_mutex_lock(&h->lock);
    int found = lookup(h, ST_OWNER_IMPU, uri, imsi);
    pthread_mutex_unlock(&h->lock);
    return found == 1 ? 0 : found == 0 ? ENOENT : EIO;
}

int hss_db_find_user(hss_db_t *h, const char *username, char imsi[HSS_IMSI_MAX + 1])
{
    pthread_mutex_lock(&h->lock);
    int found = lookup(h, ST_BY_USER, username, imsi);
    pthread_mutex_unlock(&h->lock);
    return found == 1 ? 0 : found == 0 ? ENOENT : EIO;
}

int hss_db_advance_sqn(hss_db_t *h, const char *imsi, const uint64_t *resync_sqn, uint64_t *sqn)
{
    int rc = 0;
    pthread_mutex_lock(&h->lock);
    if (run(h, ST_BEGIN)) {
        rc = EIO;
        goto out;
    }
    sqlite3_stmt *s = stmt(h, ST_GET_SQN);
    sqlite3_bind_text(s, 1, imsi, -1, SQLITE_STATIC);
    int st = sqlite3_step(s);
    uint64_t cur = st == SQLITE_ROW ? (uint64_t)sqlite3_column_int64(s, 0) : 0;
    done(s);
    if (st != SQLITE_ROW) {
        rc = st == SQLITE_DONE ? ENOENT : EIO;
    } else {
        uint64_t next = ims_sqn_next(resync_sqn ? *resync_sqn : cur);
        s = stmt(h, ST_SET_SQN);
        sqlite3_bind_int64(s, 1, (sqlite3_int64)next);
        sqlite3_bind_text(s, 2, imsi, -1, SQLITE_STATIC);
        if (sqlite3_step(s) != SQLITE_DONE)
            rc = EIO;
        done(s);
        *sqn = next;
    }
    rc = end_tx(h, rc, NULL);
out:
    pthread_mutex_unlock(&h->lock);
    return rc;
}

int hss_db_set_registration(hss_db_t *h, const char *imsi, bool registered, const char *scscf)
{
    pthread_mutex_lock(&h->lock);
    sqlite3_stmt *s = stmt(h, ST_SET_REG);
    sqlite3_bind_text(s, 1, registered ? "registered" : "unregistered", -1, SQLITE_STATIC);
    if (scscf && registered)
        sqlite3_bind_text(s, 2, scscf, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 3, ims_wall_s());
    sqlite3_bind_text(s, 4, imsi, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    int changed = sqlite3_changes(h->db);
    done(s);
    pthread_mutex_unlock(&h->lock);
    if (rc != SQLITE_DONE)
        return EIO;
    return changed ? 0 : ENOENT;
}
