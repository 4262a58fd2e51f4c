/* The one SQLite opener of the daemons (see ims/db.h): ownership by application_id,
 * PRAGMA quick_check, WAL + synchronous=NORMAL, migrations by PRAGMA user_version. */
#include "ims/db.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "ims/daemon.h"
#include "ims/log.h"

typedef struct opening {
    const char *path;
    const ims_db_spec_t *spec;
    sqlite3 *db;
    char *err;
    size_t errlen;
} opening_t;

int ims_db_exec(sqlite3 *db, const char *sql, const char *what, char *err, size_t errlen)
{
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) == SQLITE_OK)
        return 0;
    if (err)
        snprintf(err, errlen, "%s: %s", what, msg ? msg : sqlite3_errmsg(db));
    sqlite3_free(msg);
    return EIO;
}

int ims_db_int(sqlite3 *db, const char *sql, int *out)
{
    sqlite3_stmt *s = NULL;
    int rc = EIO;
    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW) {
        *out = sqlite3_column_int(s, 0);
        rc = 0;
    }
    sqlite3_finalize(s);
    return rc;
}

/* "<label> <path>: <what>: <SQLite's words> (<hint>)"; the code for the caller. */
static int fail(opening_t *o, const char *what, int code)
{
    const char *hint = o->spec->hint;
    int busy = o->db && sqlite3_errcode(o->db) == SQLITE_BUSY;
    snprintf(o->err, o->errlen, "%s %s: %s: %s%s%s%s", o->spec->label, o->path, what,
             o->db ? sqlite3_errmsg(o->db) : "out of memory", hint ? " (" : "", hint ? hint : "",
             hint ? ")" : "");
    return busy ? EBUSY : code;
}

/* A corrupt page stops the start: silently dropping what the operator expected to survive
 * would be worse than saying so. quick_check(1) stops at the first problem. */
static int integrity(opening_t *o)
{
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(o->db, "PRAGMA quick_check(1)", -1, &s, NULL) != SQLITE_OK ||
        sqlite3_step(s) != SQLITE_ROW) {
        sqlite3_finalize(s);
        return fail(o, "cannot check", EIO);
    }
    const char *res = (const char *)sqlite3_column_text(s, 0);
    int rc = 0;
    if (!res || strcmp(res, "ok") != 0) {
        const char *hint = o->spec->hint;
        snprintf(o->err, o->errlen, "%s %s: corrupt (%s%s%s)", o->spec->label, o->path,
                 res ? res : "no answer", hint ? "; " : "", hint ? hint : "");
        rc = EINVAL;
    }
    sqlite3_finalize(s);
    return rc;
}

/* Ownership and version before any write: nothing is written into a file that is not
 * ours or that a newer program made. *stamp says the application id is still to write. */
static int check_owner(opening_t *o, int *version, bool *stamp)
{
    int app = 0, tables = 0;
    if (ims_db_int(o->db, "PRAGMA application_id", &app) ||
        ims_db_int(o->db, "SELECT count(*) FROM sqlite_master", &tables) ||
        ims_db_int(o->db, "PRAGMA user_version", version))
        return fail(o, "cannot read", EIO);
    *stamp = app == 0;
    if (app != o->spec->app_id && (app != 0 || (tables > 0 && !o->spec->adopt_unstamped))) {
        snprintf(o->err, o->errlen, "%s %s: %s", o->spec->label, o->path, o->spec->foreign);
        return EINVAL;
    }
    if (*version < 0 || (size_t)*version > o->spec->nmigrations) {
        snprintf(o->err, o->errlen, "%s %s has schema version %d; this program knows up to %zu",
                 o->spec->label, o->path, *version, o->spec->nmigrations);
        return EINVAL;
    }
    return 0;
}

/* Each step in its own transaction with the version bump, so a crash leaves a file at a
 * known version; the application id goes in with the first write. */
static int migrate(opening_t *o, int v, bool stamp)
{
    char q[64];
    size_t n = o->spec->nmigrations;
    if (stamp && (size_t)v == n) {
        snprintf(q, sizeof q, "PRAGMA application_id = %d", (int)o->spec->app_id);
        return sqlite3_exec(o->db, q, NULL, NULL, NULL) == SQLITE_OK
                   ? 0
                   : fail(o, "cannot initialise", EIO);
    }
    for (; (size_t)v < n; v++) {
        if (sqlite3_exec(o->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
            return fail(o, "cannot initialise", EIO);
        snprintf(q, sizeof q, "PRAGMA application_id = %d", (int)o->spec->app_id);
        bool ok = (!stamp || sqlite3_exec(o->db, q, NULL, NULL, NULL) == SQLITE_OK) &&
                  sqlite3_exec(o->db, o->spec->migrations[v], NULL, NULL, NULL) == SQLITE_OK;
        snprintf(q, sizeof q, "PRAGMA user_version = %d", v + 1);
        if (!ok || sqlite3_exec(o->db, q, NULL, NULL, NULL) != SQLITE_OK ||
            sqlite3_exec(o->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
            int rc = fail(o, "cannot initialise", EIO);
            sqlite3_exec(o->db, "ROLLBACK", NULL, NULL, NULL);
            return rc;
        }
        stamp = false;
        /* A fresh file is not news; an upgrade of an existing one is. */
        if (v == 0)
            IMS_DEBUG("%s %s created with schema version %d", o->spec->label, o->path, v + 1);
        else
            IMS_INFO("%s %s migrated to schema version %d", o->spec->label, o->path, v + 1);
    }
    return 0;
}

static int open_file(opening_t *o)
{
    /* no folders for an in-memory database or a URI (SQLite parses those) */
    bool no_folders = strcmp(o->path, ":memory:") == 0 || strncmp(o->path, "file:", 5) == 0;
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
    if (o->spec->uri)
        flags |= SQLITE_OPEN_URI;
    if (o->spec->nomutex)
        flags |= SQLITE_OPEN_NOMUTEX;
    if (!no_folders) {
        char e[512];
        int rc = ims_mkdir_parents(o->path, e, sizeof e);
        if (rc) {
            snprintf(o->err, o->errlen, "%s %s: %s", o->spec->label, o->path, e);
            return rc;
        }
    }
    mode_t old = o->spec->private_file ? umask(077) : 0;
    int orc = sqlite3_open_v2(o->path, &o->db, flags, NULL);
    if (o->spec->private_file)
        umask(old);
    if (orc != SQLITE_OK)
        return fail(o, "cannot open", EIO);
    sqlite3_busy_timeout(o->db, o->spec->busy_ms > 0 ? o->spec->busy_ms : 2000);
    /* EXCLUSIVE before WAL: no shared-memory wal-index and no fcntl() lock round trips
     * per transaction, and a second daemon on the same file is refused instead of
     * silently sharing it. */
    if (o->spec->exclusive && strcmp(o->path, ":memory:") != 0 &&
        sqlite3_exec(o->db, "PRAGMA locking_mode = EXCLUSIVE", NULL, NULL, NULL) != SQLITE_OK)
        return fail(o, "cannot open", EIO);
    return 0;
}

int ims_db_open(const char *path, const ims_db_spec_t *spec, sqlite3 **out, char *err,
                size_t errlen)
{
    opening_t o = {.path = path, .spec = spec, .err = err, .errlen = errlen};
    int version = 0, rc;
    bool stamp = false;
    if ((rc = open_file(&o)) || (rc = integrity(&o)) || (rc = check_owner(&o, &version, &stamp)))
        goto fail;
    /* WAL + NORMAL: a committed transaction is in the WAL file before COMMIT returns, so
     * it survives the process being killed (power loss may drop the last commits). */
    if (sqlite3_exec(o.db, "PRAGMA journal_mode = WAL", NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_exec(o.db, "PRAGMA synchronous = NORMAL", NULL, NULL, NULL) != SQLITE_OK) {
        rc = fail(&o, "cannot open", EIO);
        goto fail;
    }
    if ((rc = migrate(&o, version, stamp)))
        goto fail;
    *out = o.db;
    return 0;
fail:
    sqlite3_close(o.db);
    return rc;
}
