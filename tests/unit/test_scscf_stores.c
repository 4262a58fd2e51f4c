/* Unit tests for the S-CSCF's timed stores (scscf/location*.c, auth.c, guard.c): the expiry
 * heap against a model, persistence (old and foreign files too), the nonce cap, the purges. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "ims/log.h"
#include "ims/util.h"
#include "scscf.h"

/* Deterministic pseudo-random numbers, so a failure replays. */
static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static uint32_t rnd(uint32_t n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng % n);
}

/* ---- location: the model ---- */

#define NREC 1500
#define MAXB 4
#define T0   1000000
#define SPAN 600

typedef struct model {
    bool live;
    int nb;
    int64_t exp[MAXB];
    int seq[MAXB]; /* contact names, unique within a record */
} model_t;

static model_t model[NREC];
static int next_seq;

static void impi_of(int i, char *buf, size_t len)
{
    snprintf(buf, len, "user%d@ims.test", i);
}

static scscf_record_t *find(scscf_location_t *l, int i)
{
    char impi[64];
    impi_of(i, impi, sizeof(impi));
    return scscf_location_find_impi(l, impi);
}

/* A binding (or a new expiry for the one with this contact), through the store's API. */
static void bind_contact(scscf_location_t *l, scscf_record_t *r, const char *contact, int64_t exp)
{
    scscf_binding_in_t in = {.contact = contact, .reg_id = -1, .expires_at = exp};
    assert_int_equal(scscf_location_bind(l, r, &in), 0);
}

static void add_binding(scscf_location_t *l, scscf_record_t *r, int i, int64_t exp)
{
    model_t *m = &model[i];
    char contact[96];
    m->seq[m->nb] = next_seq++;
    snprintf(contact, sizeof(contact), "sip:c%d@127.0.0.1:5060", m->seq[m->nb]);
    bind_contact(l, r, contact, exp);
    m->exp[m->nb++] = exp;
}

static void create_record(scscf_location_t *l, int i, int nb)
{
    char impi[64], impu[64];
    impi_of(i, impi, sizeof(impi));
    snprintf(impu, sizeof(impu), "sip:user%d@ims.test", i);
    const char *set[] = {impu};
    scscf_record_t *r = scscf_location_upsert(l, impi, impu, set, NULL, 1);
    assert_non_null(r);
    model[i].live = true;
    model[i].nb = 0;
    for (int k = 0; k < nb; k++)
        add_binding(l, r, i, T0 + 1 + rnd(SPAN));
}

static int64_t model_next_due(void)
{
    int64_t due = INT64_MAX;
    for (int i = 0; i < NREC; i++)
        for (int k = 0; model[i].live && k < model[i].nb; k++)
            if (model[i].exp[k] < due)
                due = model[i].exp[k];
    return due;
}

/* The model's expiry at now; returns the number of records emptied. */
static int model_expire(int64_t now, size_t *nbindings)
{
    int gone = 0;
    *nbindings = 0;
    for (int i = 0; i < NREC; i++) {
        model_t *m = &model[i];
        if (!m->live)
            continue;
        for (int k = 0; k < m->nb;) {
            if (m->exp[k] <= now) {
                m->exp[k] = m->exp[m->nb - 1];
                m->seq[k] = m->seq[m->nb - 1];
                m->nb--;
            } else {
                k++;
            }
        }
        if (!m->nb) {
            m->live = false;
            gone++;
        }
        *nbindings += (size_t)m->nb;
    }
    return gone;
}

typedef struct seen {
    int count;
    bool bad; /* a record reported with a binding left, or one the model keeps */
} seen_t;

static void on_expired(void *ctx, scscf_record_t *rec)
{
    seen_t *s = ctx;
    int i = atoi(scscf_record_impi(rec) + 4);
    if (scscf_record_bindings(rec) || model[i].live)
        s->bad = true;
    s->count++;
}

/* Compares every record and binding of the store with the model. */
static void check_store(scscf_location_t *l)
{
    size_t records = 0, bindings = 0;
    for (int i = 0; i < NREC; i++) {
        scscf_record_t *r = find(l, i);
        if (!model[i].live) {
            assert_null(r);
            continue;
        }
        assert_non_null(r);
        records++;
        int n = 0;
        for (const scscf_binding_t *b = scscf_record_bindings(r); b; b = b->next) {
            bool match = false;
            for (int k = 0; k < model[i].nb; k++) {
                char contact[96];
                snprintf(contact, sizeof(contact), "sip:c%d@127.0.0.1:5060", model[i].seq[k]);
                match |= strcmp(contact, b->contact) == 0 && b->expires_at == model[i].exp[k];
            }
            assert_true(match);
            n++;
        }
        assert_int_equal(n, model[i].nb);
        bindings += (size_t)n;
    }
    assert_int_equal(scscf_location_count(l), records);
    assert_int_equal(scscf_location_binding_count(l), bindings);
}

/* Random records, refreshes that move bindings both ways, bindings and records removed,
 * then the clock walks through the span: each expire() removes exactly what the model
 * says is due, and the heap's next due is always the model's earliest expiry. */
static void test_location_random_model(void **state)
{
    (void)state;
    scscf_location_t *l;
    assert_int_equal(scscf_location_create(&l), 0);
    memset(model, 0, sizeof(model));
    for (int i = 0; i < NREC; i++)
        create_record(l, i, 1 + (int)rnd(MAXB - 1));
    assert_int_equal(scscf_location_next_due(l), model_next_due());

    int64_t now = T0;
    while (now < T0 + SPAN + 2) {
        /* changes between two ticks, as REGISTERs would make them */
        for (int c = 0; c < 40; c++) {
            int i = (int)rnd(NREC);
            scscf_record_t *r = find(l, i);
            model_t *m = &model[i];
            switch (rnd(5)) {
            case 0: /* refresh: move one binding later or earlier (never into the past) */
            case 1:
                if (r && m->nb) {
                    int k = (int)rnd((uint32_t)m->nb);
                    char contact[96];
                    snprintf(contact, sizeof(contact), "sip:c%d@127.0.0.1:5060", m->seq[k]);
                    assert_non_null(scscf_location_match(r, NULL, -1, contact));
                    m->exp[k] = now + 1 + rnd(SPAN);
                    bind_contact(l, r, contact, m->exp[k]);
                }
                break;
            case 2: /* a binding added */
                if (r && m->nb < MAXB)
                    add_binding(l, r, i, now + 1 + rnd(SPAN));
                break;
            case 3: /* one binding removed (Expires: 0), not the last */
                if (r && m->nb > 1) {
                    int k = (int)rnd((uint32_t)m->nb);
                    char contact[96];
                    snprintf(contact, sizeof(contact), "sip:c%d@127.0.0.1:5060", m->seq[k]);
                    const scscf_binding_t *b = scscf_location_match(r, NULL, -1, contact);
                    assert_non_null(b);
                    scscf_location_unbind(l, r, b);
                    m->exp[k] = m->exp[m->nb - 1];
                    m->seq[k] = m->seq[m->nb - 1];
                    m->nb--;
                }
                break;
            default: /* the whole record removed, or registered again */
                if (r) {
                    scscf_location_remove(l, r);
                    m->live = false;
                } else {
                    create_record(l, i, 1 + (int)rnd(MAXB - 1));
                    r = find(l, i);
                    for (int k = 0; k < m->nb; k++) {
                        if (m->exp[k] <= now) {
                            char contact[96];
                            snprintf(contact, sizeof(contact), "sip:c%d@127.0.0.1:5060", m->seq[k]);
                            m->exp[k] = now + 1;
                            bind_contact(l, r, contact, now + 1);
                        }
                    }
                }
                break;
            }
        }
        assert_int_equal(scscf_location_next_due(l), model_next_due());
        now += 1 + (int64_t)rnd(7);
        size_t want_bindings;
        int want = model_expire(now, &want_bindings);
        seen_t seen = {0};
        scscf_location_expire(l, now, on_expired, &seen);
        assert_false(seen.bad);
        assert_int_equal(seen.count, want);
        assert_int_equal(scscf_location_binding_count(l), want_bindings);
        assert_true(scscf_location_next_due(l) > now);
        if (rnd(20) == 0)
            check_store(l);
    }
    check_store(l);
    scscf_location_free(l);
}

/* Single-binding records expire in the order of their expiry, and an expire() removes
 * exactly those due, however far the clock jumps. */
typedef struct order {
    int64_t last;
    int count;
    bool out_of_order;
    int64_t limit;
    bool late;
} order_t;

static void on_expired_order(void *ctx, scscf_record_t *rec)
{
    order_t *o = ctx;
    (void)rec;
    /* the binding is already gone: its expiry is encoded in the IMPI */
    int64_t exp = atoll(strchr(scscf_record_impi(rec), '-') + 1);
    if (exp < o->last)
        o->out_of_order = true;
    if (exp > o->limit)
        o->late = true;
    o->last = exp;
    o->count++;
}

static void test_location_expire_in_order(void **state)
{
    (void)state;
    scscf_location_t *l;
    assert_int_equal(scscf_location_create(&l), 0);
    int64_t exps[3000];
    for (int i = 0; i < 3000; i++) {
        char impi[64];
        exps[i] = T0 + 1 + rnd(1000);
        snprintf(impi, sizeof(impi), "u%d-%lld", i, (long long)exps[i]);
        scscf_record_t *r = scscf_location_upsert(l, impi, NULL, NULL, NULL, 0);
        assert_non_null(r);
        bind_contact(l, r, "sip:x@127.0.0.1", exps[i]);
    }
    int64_t steps[] = {T0, T0 + 1, T0 + 250, T0 + 251, T0 + 700, T0 + 2000};
    size_t left = 3000;
    for (size_t s = 0; s < sizeof(steps) / sizeof(steps[0]); s++) {
        size_t want = 0;
        for (int i = 0; i < 3000; i++)
            want += exps[i] <= steps[s] && (s == 0 || exps[i] > steps[s - 1]);
        order_t o = {.last = INT64_MIN, .limit = steps[s]};
        scscf_location_expire(l, steps[s], on_expired_order, &o);
        assert_false(o.out_of_order);
        assert_false(o.late);
        assert_int_equal(o.count, want);
        left -= want;
        assert_int_equal(scscf_location_count(l), left);
    }
    assert_int_equal(left, 0);
    assert_int_equal(scscf_location_next_due(l), INT64_MAX);
    scscf_location_free(l);
}

/* A record without bindings (left so by an upsert) goes at the next tick, as before; a
 * binding refreshed in place is not removed early. */
static void test_location_empty_and_stale(void **state)
{
    (void)state;
    scscf_location_t *l;
    assert_int_equal(scscf_location_create(&l), 0);
    assert_non_null(scscf_location_upsert(l, "empty@d", "sip:empty@d", NULL, NULL, 0));
    scscf_record_t *r = scscf_location_upsert(l, "full@d", "sip:full@d", NULL, NULL, 0);
    bind_contact(l, r, "sip:full@127.0.0.1", T0 + 10);
    assert_int_equal(scscf_location_next_due(l), INT64_MIN);

    bind_contact(l, r, "sip:full@127.0.0.1", T0 + 100); /* refreshed in place */
    assert_int_equal(scscf_record_binding_count(r), 1);
    seen_t seen = {0};
    memset(model, 0, sizeof(model));
    scscf_location_expire(l, T0 + 50, on_expired, &seen);
    assert_int_equal(seen.count, 1); /* the empty one */
    assert_null(scscf_location_find_impi(l, "empty@d"));
    assert_non_null(scscf_location_find_impi(l, "full@d"));
    assert_int_equal(scscf_location_next_due(l), T0 + 100);
    scscf_location_expire(l, T0 + 100, on_expired, &seen);
    assert_int_equal(seen.count, 2);
    assert_int_equal(scscf_location_count(l), 0);
    assert_int_equal(scscf_location_binding_count(l), 0);
    scscf_location_free(l);
}

/* Removes a test's SQLite file and its WAL companions. */
static void remove_db(const char *path)
{
    char aux[512];
    unlink(path);
    snprintf(aux, sizeof(aux), "%s-wal", path);
    unlink(aux);
    snprintf(aux, sizeof(aux), "%s-shm", path);
    unlink(aux);
}

/* Expired records leave the SQLite file too, and a restart rebuilds the expiry order. */
static void test_location_persistence(void **state)
{
    (void)state;
    char path[] = "/tmp/test_scscf_storesXXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    char err[256];
    int64_t wall = ims_wall_s();
    scscf_location_t *l;
    assert_int_equal(scscf_location_create(&l), 0);
    assert_int_equal(scscf_location_open_db(l, path, err, sizeof(err)), 0);
    for (int i = 0; i < 200; i++) {
        char impi[64];
        snprintf(impi, sizeof(impi), "p%d@d", i);
        scscf_record_t *r = scscf_location_upsert(l, impi, NULL, NULL, NULL, 0);
        bind_contact(l, r, "sip:p@127.0.0.1", wall + 1000 + i); /* all live at reload */
    }
    assert_int_equal(scscf_location_flush(l), 0);
    seen_t seen = {0};
    memset(model, 0, sizeof(model));
    scscf_location_expire(l, wall + 1099, on_expired, &seen); /* p0..p99 go */
    assert_int_equal(seen.count, 100);
    assert_int_equal(scscf_location_flush(l), 0);
    scscf_location_free(l);

    assert_int_equal(scscf_location_create(&l), 0);
    assert_int_equal(scscf_location_open_db(l, path, err, sizeof(err)), 0);
    assert_int_equal(scscf_location_count(l), 100);
    assert_null(scscf_location_find_impi(l, "p99@d"));
    assert_non_null(scscf_location_find_impi(l, "p100@d"));
    assert_int_equal(scscf_location_next_due(l), wall + 1100);
    scscf_location_expire(l, wall + 1149, on_expired, &seen);
    assert_int_equal(scscf_location_count(l), 50);
    assert_null(scscf_location_find_impi(l, "p149@d"));
    assert_non_null(scscf_location_find_impi(l, "p150@d"));
    scscf_location_free(l); /* flushes */

    assert_int_equal(scscf_location_create(&l), 0);
    assert_int_equal(scscf_location_open_db(l, path, err, sizeof(err)), 0);
    assert_int_equal(scscf_location_count(l), 50);
    scscf_location_free(l);
    remove_db(path);
}

/* A state file written before the files had an application id (the same table, version 0)
 * is adopted: its registrations load and the file is stamped; a file of another daemon is
 * refused and left as it was. */
static void test_location_old_and_foreign_files(void **state)
{
    (void)state;
    char path[] = "/tmp/test_scscf_storesXXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    int64_t exp = ims_wall_s() + 1000;
    char doc[512], sql[1024], err[256];
    snprintf(doc, sizeof(doc),
             "{\"impi\":\"old@d\",\"impu\":\"sip:old@d\",\"impus\":[{\"uri\":\"sip:old@d\","
             "\"barred\":false}],\"bindings\":[{\"contact\":\"sip:old@127.0.0.1\",\"params\":\"\","
             "\"reg_id\":-1,\"path\":[],\"cseq\":1,\"expires_at\":%lld}]}",
             (long long)exp);
    snprintf(sql, sizeof(sql),
             "CREATE TABLE registrations(impi TEXT PRIMARY KEY, doc TEXT NOT NULL);"
             "INSERT INTO registrations VALUES('old@d', '%s');",
             doc);
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);

    scscf_location_t *l;
    assert_int_equal(scscf_location_create(&l), 0);
    assert_int_equal(scscf_location_open_db(l, path, err, sizeof(err)), 0);
    scscf_record_t *r = scscf_location_find_impu(l, "SIP:old@D");
    assert_non_null(r);
    assert_int_equal(scscf_record_binding_count(r), 1);
    assert_int_equal(scscf_record_bindings(r)->expires_at, exp);
    scscf_location_free(l);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA application_id", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_not_equal(sqlite3_column_int(st, 0), 0);
    sqlite3_finalize(st);
    /* now someone else's: another application id */
    assert_int_equal(sqlite3_exec(db, "PRAGMA application_id = 12345", NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);

    assert_int_equal(scscf_location_create(&l), 0);
    assert_int_not_equal(scscf_location_open_db(l, path, err, sizeof(err)), 0);
    assert_non_null(strstr(err, "not an S-CSCF state file"));
    assert_int_equal(scscf_location_count(l), 0);
    scscf_location_free(l);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT count(*) FROM registrations", -1, &st, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(st, 0), 1); /* left as it was */
    sqlite3_finalize(st);
    sqlite3_close(db);
    remove_db(path);
}

/* ---- nonce store ---- */

static void digest_material(scscf_auth_material_t *m, int i)
{
    memset(m, 0, sizeof(*m));
    m->scheme = SCSCF_SCHEME_DIGEST;
    snprintf(m->impi, sizeof(m->impi), "n%d@ims.test", i);
    memset(m->ha1_impi, 'a', 32);
    memset(m->ha1_user, 'b', 32);
}

static void nonce_of(const char *hdr, char *out, size_t len)
{
    const char *p = strstr(hdr, "nonce=\"");
    assert_non_null(p);
    p += 7;
    size_t n = strcspn(p, "\"");
    assert_true(n < len);
    memcpy(out, p, n);
    out[n] = 0;
}

/* Is the nonce still held? A username of another subscriber answers MISMATCH for a known
 * nonce (and leaves it in place), UNKNOWN_NONCE otherwise. */
static bool nonce_held(scscf_auth_t *a, const char *nonce, int i)
{
    char impu[64];
    snprintf(impu, sizeof(impu), "sip:n%d@ims.test", i);
    uint8_t rand[16];
    scscf_auth_result_t r =
        scscf_auth_check(a, "REGISTER", impu, "nobody", nonce, "sip:ims.test", "00000001", "abc",
                         "auth", "00000000000000000000000000000000", NULL, NULL, rand);
    assert_true(r == SCSCF_AUTH_MISMATCH || r == SCSCF_AUTH_UNKNOWN_NONCE);
    return r == SCSCF_AUTH_MISMATCH;
}

/* The cap is a setting: past it the oldest nonces go, the newest stay; well past the old
 * fixed 64k table size every nonce is still found (the table grows). */
static void test_nonce_cap_and_growth(void **state)
{
    (void)state;
    scscf_auth_t *a;
    assert_int_equal(scscf_auth_create("ims.test", 300, &a), 0);
    scscf_auth_set_max(a, 1000);
    static char nonces[70000][64];
    for (int i = 0; i < 1500; i++) {
        scscf_auth_material_t m;
        char hdr[512], impu[64];
        digest_material(&m, i);
        snprintf(impu, sizeof(impu), "sip:n%d@ims.test", i);
        assert_int_equal(scscf_auth_challenge(a, "ims.test", impu, &m, false, hdr, sizeof(hdr)), 0);
        nonce_of(hdr, nonces[i], sizeof(nonces[i]));
    }
    assert_int_equal(scscf_auth_count(a), 1000);
    assert_false(nonce_held(a, nonces[0], 0));
    assert_false(nonce_held(a, nonces[499], 499));
    assert_true(nonce_held(a, nonces[500], 500));
    assert_true(nonce_held(a, nonces[1499], 1499));
    scscf_auth_free(a);

    /* the default cap holds more than 65,536 */
    assert_int_equal(scscf_auth_create("ims.test", 300, &a), 0);
    for (int i = 0; i < 70000; i++) {
        scscf_auth_material_t m;
        char hdr[512], impu[64];
        digest_material(&m, i);
        snprintf(impu, sizeof(impu), "sip:n%d@ims.test", i);
        assert_int_equal(scscf_auth_challenge(a, "ims.test", impu, &m, false, hdr, sizeof(hdr)), 0);
        nonce_of(hdr, nonces[i], sizeof(nonces[i]));
    }
    assert_int_equal(scscf_auth_count(a), 70000);
    for (int i = 0; i < 70000; i += 997)
        assert_true(nonce_held(a, nonces[i], i));
    assert_true(nonce_held(a, nonces[0], 0));
    assert_true(nonce_held(a, nonces[69999], 69999));
    /* the purge keeps nonces for twice their lifetime, then drops them all */
    int64_t now = (int64_t)ims_now_ms();
    scscf_auth_purge(a, now);
    assert_int_equal(scscf_auth_count(a), 70000);
    scscf_auth_purge(a, now + 2 * 300 * 1000 + 60000);
    assert_int_equal(scscf_auth_count(a), 0);
    assert_false(nonce_held(a, nonces[69999], 69999));
    scscf_auth_free(a);
}

/* ---- failed-authentication guard ---- */

/* The purge stops at the first entry it keeps: check it forgets exactly the entries the
 * old full scan did (neither blocked nor failed within a cooldown). */
static void test_guard_purge(void **state)
{
    (void)state;
    scscf_guard_t *g;
    assert_int_equal(scscf_guard_create(3, 10, 10000, &g), 0);
    uint64_t t = 1000000;
    /* 100 addresses failing once each, one a second apart; address 50 fails 3 times and is
     * blocked from its third failure for 10 s */
    for (int i = 0; i < 100; i++, t += 1000) {
        char addr[32];
        snprintf(addr, sizeof(addr), "10.0.0.%d", i);
        scscf_guard_failed(g, addr, "x@d", t);
        if (i == 50) {
            scscf_guard_failed(g, addr, "x@d", t);
            assert_true(scscf_guard_failed(g, addr, "x@d", t));
        }
    }
    /* every failure makes two entries: (addr, impi) and (addr, *) */
    assert_int_equal(scscf_guard_count(g), 200);
    uint64_t first = 1000000;
    /* at first + 30.5 s: entries with last failure before first + 20.5 s are forgotten */
    scscf_guard_purge(g, first + 30500);
    assert_int_equal(scscf_guard_count(g), 200 - 2 * 21);
    assert_int_equal(scscf_guard_blocked(g, "10.0.0.50", "x@d", first + 55000), 5);
    /* address 50 blocked until first + 60 s: kept until then, with the later ones */
    scscf_guard_purge(g, first + 60500);
    assert_int_equal(scscf_guard_count(g), 200 - 2 * 51);
    assert_int_equal(scscf_guard_blocked(g, "10.0.0.50", "x@d", first + 60500), 0);
    scscf_guard_purge(g, first + 200000);
    assert_int_equal(scscf_guard_count(g), 0);
    scscf_guard_free(g);
}

int main(void)
{
    ims_log_init("test_scscf_stores", IMS_LOG_WARN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_location_random_model),
        cmocka_unit_test(test_location_expire_in_order),
        cmocka_unit_test(test_location_empty_and_stale),
        cmocka_unit_test(test_location_persistence),
        cmocka_unit_test(test_location_old_and_foreign_files),
        cmocka_unit_test(test_nonce_cap_and_growth),
        cmocka_unit_test(test_guard_purge),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
