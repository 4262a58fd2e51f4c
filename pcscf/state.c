/* The P-CSCF state file (--state): a write-behind SQLite copy of the registration cache,
 * flushed at most one second after a change and at shutdown, reloaded at start. */
#include "pcscf.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <sqlite3.h>
#include <sofia-sip/su_wait.h>

#include "ims/db.h"
#include "ims/log.h"

/* PRAGMA application_id of our files ("PCSC"), so a --state pointing at the HSS or S-CSCF
 * database is refused instead of being written into. */
#define APP_ID 0x50435343

/* The write-behind period: a registration answered 200 reaches the disk within this. */
#define FLUSH_MS 1000

struct pcscf_state {
    sqlite3 *db;
    sqlite3_stmt *put, *del;
    pcscf_cache_t *cache; /* a staging cache of our own until attached */
    bool attached;
    su_timer_t *timer;
    char *path;
};

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* microseconds, monotonic: only to report how long a flush took */
static int64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void on_flush(su_root_magic_t *magic, su_timer_t *t, su_timer_arg_t *arg)
{
    (void)magic;
    (void)t;
    pcscf_state_flush(arg);
}

int pcscf_state_flush(pcscf_state_t *st)
{
    if (!st)
        return 0;
    pcscf_state_stats_t *ss = pcscf_cache_state_stats(st->cache);
    char **impus = NULL;
    size_t n = pcscf_cache_dirty_take(st->cache, &impus);
    int64_t now = wall_ms(), t0 = mono_us();
    int rc = 0;

    if (!n) {
        free(impus);
        return 0;
    }
    if (sqlite3_exec(st->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
        rc = EIO;
    for (size_t i = 0; i < n && !rc; i++) {
        json_t *doc = pcscf_cache_doc(st->cache, impus[i], now);
        sqlite3_stmt *s = doc ? st->put : st->del;
        char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
        json_decref(doc);
        if (doc && !text) {
            rc = ENOMEM;
            break;
        }
        sqlite3_bind_text(s, 1, impus[i], -1, SQLITE_STATIC);
        if (text)
            sqlite3_bind_text(s, 2, text, -1, free);
        if (sqlite3_step(s) != SQLITE_DONE)
            rc = EIO;
        sqlite3_reset(s);
        sqlite3_clear_bindings(s);
    }
    if (!rc && sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
        rc = EIO;
    if (rc) {
        IMS_WARN("state %s: write failed (%s); retrying at the next tick", st->path,
                 sqlite3_errmsg(st->db));
        sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
        ss->write_errors++;
        /* nothing is lost: the same IMPUs are queued again */
        for (size_t i = 0; i < n; i++)
            pcscf_cache_dirty_add(st->cache, impus[i]);
    } else {
        ss->flushes++;
        ss->rows += n;
        /* the loop thread pays for this: worth seeing when tuning for load */
        IMS_DEBUG("state %s: %zu row(s) written in %.2f ms", st->path, n,
                  (double)(mono_us() - t0) / 1000.0);
    }
    for (size_t i = 0; i < n; i++)
        free(impus[i]);
    free(impus);
    return rc ? EIO : 0;
}

/* One-line reason for err: what failed and SQLite's own words. */
static int fail(pcscf_state_t *st, char *err, size_t errlen, const char *what)
{
    snprintf(err, errlen, "state file %s: %s: %s (move it away or pass --state :memory:)", st->path,
             what, st->db ? sqlite3_errmsg(st->db) : "out of memory");
    return EIO;
}

static int load(pcscf_state_t *st, char *err, size_t errlen)
{
    pcscf_state_stats_t *ss = pcscf_cache_state_stats(st->cache);
    sqlite3_stmt *s = NULL;
    int64_t now = wall_ms();
    int rc = 0;

    if (sqlite3_prepare_v2(st->db, "SELECT impu, doc FROM registrations", -1, &s, NULL) !=
        SQLITE_OK)
        return fail(st, err, errlen, "cannot read");
    int step;
    while ((step = sqlite3_step(s)) == SQLITE_ROW) {
        const char *impu = (const char *)sqlite3_column_text(s, 0);
        const char *text = (const char *)sqlite3_column_text(s, 1);
        json_t *doc = text ? json_loads(text, 0, NULL) : NULL;
        int r = doc ? pcscf_cache_load_doc(st->cache, doc, now) : EINVAL;
        json_decref(doc);
        if (r == ENOENT) {
            ss->dropped++;
            pcscf_cache_dirty_add(st->cache, impu); /* deleted at the first flush */
        } else if (r == ENOMEM) {
            snprintf(err, errlen, "state file %s: out of memory while loading", st->path);
            rc = ENOMEM;
            break;
        } else if (r) {
            snprintf(err, errlen,
                     "state file %s: corrupt row for %s (move the file away or pass --state "
                     ":memory:)",
                     st->path, impu ? impu : "(no IMPU)");
            rc = EINVAL;
            break;
        } else {
            ss->restored++;
        }
    }
    if (!rc && step != SQLITE_DONE)
        rc = fail(st, err, errlen, "cannot read");
    sqlite3_finalize(s);
    return rc;
}

static void state_free(pcscf_state_t *st)
{
    if (!st)
        return;
    if (st->timer)
        su_timer_destroy(st->timer);
    sqlite3_finalize(st->put);
    sqlite3_finalize(st->del);
    if (st->db)
        sqlite3_close(st->db);
    if (st->cache && !st->attached)
        pcscf_cache_destroy(st->cache);
    free(st->path);
    free(st);
}

/* migrations[i] moves the file from user_version i to i+1. Files written before the
 * version existed hold the first table at version 0, hence IF NOT EXISTS. Version 2: rows
 * are keyed by the cache's own spelling of each IMPU (the cache compares IMPUs by the
 * ims_impu rule, where the user part is case-sensitive), so the key is no longer NOCASE:
 * sip:Alice@ and sip:alice@ are two registrations and must be two rows. */
static const char *const migrations[] = {
    "CREATE TABLE IF NOT EXISTS registrations(impu TEXT PRIMARY KEY COLLATE NOCASE, "
    "doc TEXT NOT NULL)",
    "CREATE TABLE registrations_v2(impu TEXT PRIMARY KEY, doc TEXT NOT NULL);"
    "INSERT INTO registrations_v2(impu, doc) SELECT impu, doc FROM registrations;"
    "DROP TABLE registrations;"
    "ALTER TABLE registrations_v2 RENAME TO registrations",
};

/* The default var/pcscf.db works from a fresh clone (its folders are created); the file is
 * 0600 as it names subscribers and their addresses; a file that is not ours is refused
 * before anything is written into it. */
static const ims_db_spec_t db_spec = {
    .label = "state file",
    .hint = "move it away or pass --state :memory:",
    .foreign = "not a P-CSCF state file (it holds other data; give the P-CSCF its own --state "
               "file)",
    .app_id = APP_ID,
    .migrations = migrations,
    .nmigrations = sizeof migrations / sizeof migrations[0],
    .busy_ms = 2000,
    .private_file = true,
};

/* Opens, checks and loads st->path into st->cache; 0 or an errno code with err set. */
static int db_open(pcscf_state_t *st, char *err, size_t errlen)
{
    int rc = ims_db_open(st->path, &db_spec, &st->db, err, errlen);
    if (rc)
        return rc == EBUSY ? EIO : rc;
    pcscf_cache_track(st->cache, true); /* queues the rows found expired, to delete them */
    if ((rc = load(st, err, errlen)))
        return rc;
    if (sqlite3_prepare_v2(st->db, "INSERT OR REPLACE INTO registrations(impu, doc) VALUES(?, ?)",
                           -1, &st->put, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(st->db, "DELETE FROM registrations WHERE impu = ?", -1, &st->del,
                           NULL) != SQLITE_OK)
        return fail(st, err, errlen, "cannot prepare");
    return 0;
}

int pcscf_state_open(const char *path, pcscf_state_t **out, char *err, size_t errlen)
{
    *out = NULL;
    if (!path || !*path || strcmp(path, ":memory:") == 0)
        return 0;
    pcscf_state_t *st = calloc(1, sizeof *st);
    if (!st || !(st->path = strdup(path)) || pcscf_cache_create(&st->cache) != 0) {
        state_free(st);
        snprintf(err, errlen, "out of memory");
        return ENOMEM;
    }
    /* A missing file is created only once the daemon has started (attach): a start that
     * fails on a busy port or a bad flag leaves no file behind. */
    struct stat sb;
    if (stat(path, &sb) != 0 && errno == ENOENT) {
        *out = st;
        return 0;
    }
    int rc = db_open(st, err, errlen);
    if (rc) {
        state_free(st);
        return rc;
    }
    *out = st;
    return 0;
}

int pcscf_state_attach(pcscf_state_t *st, su_root_t *root, pcscf_cache_t *c, char *err,
                       size_t errlen)
{
    if (!st)
        return 0;
    int rc;
    if (!st->db && (rc = db_open(st, err, errlen)) != 0)
        return rc;
    st->timer = su_timer_create(su_root_task(root), FLUSH_MS);
    if (!st->timer || su_timer_set_for_ever(st->timer, on_flush, st) != 0) {
        snprintf(err, errlen, "state file %s: cannot create the write-behind timer", st->path);
        return ENOMEM;
    }
    pcscf_cache_adopt(c, st->cache);
    pcscf_cache_destroy(st->cache);
    st->cache = c;
    st->attached = true;
    pcscf_cache_track(c, true);
    pcscf_state_stats_t *ss = pcscf_cache_state_stats(c);
    ss->enabled = true;
    IMS_INFO("state %s: restored %llu registration(s), dropped %llu expired", st->path,
             (unsigned long long)ss->restored, (unsigned long long)ss->dropped);
    return 0;
}

void pcscf_state_close(pcscf_state_t *st)
{
    if (!st)
        return;
    if (!st->attached) { /* the start failed before the proxy existed */
        state_free(st);
        return;
    }
    if (st->timer) {
        su_timer_destroy(st->timer);
        st->timer = NULL;
    }
    if (pcscf_state_flush(st) == 0)
        IMS_INFO("state %s: flushed", st->path);
    pcscf_cache_track(st->cache, false);
    pcscf_cache_state_stats(st->cache)->enabled = false;
    state_free(st);
}
