/* Unit tests for the reg event subscription store (scscf/subscription.c): Expires
 * negotiation, caps, versions, refresh, unsubscribe, expiry order and persistence. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "test_rng.h"

#include "subscription.h"

#define T0 1700000000

static scscf_sub_init_t init_of(const char *impu, int n, char *callid, size_t len)
{
    snprintf(callid, len, "call-%d@ue", n);
    static const char *const route[] = {"<sip:term@pcscf.ims.test;lr>", "<sip:x@y;lr>"};
    return (scscf_sub_init_t){
        .impu = impu,
        .watcher = impu,
        .kind = SCSCF_SUB_UE,
        .call_id = callid,
        .local_tag = "lt",
        .remote_tag = "rt",
        .local_uri = impu,
        .remote_uri = impu,
        .remote_target = "sip:ue@10.0.0.5:5060",
        .route = route,
        .nroute = 2,
        .next_hop = "sip:127.0.0.1:5060;transport=udp",
        .remote_cseq = 1,
    };
}

static scscf_sub_t *add(scscf_subs_t *s, const char *impu, int n, long expires, int64_t now)
{
    char cid[64];
    scscf_sub_init_t in = init_of(impu, n, cid, sizeof(cid));
    scscf_sub_t *sub = NULL;
    assert_int_equal(scscf_subs_add(s, &in, expires, now, &sub), 0);
    assert_non_null(sub);
    return sub;
}

static void test_negotiate(void **st)
{
    scscf_subs_t *s;
    assert_int_equal(scscf_subs_create(NULL, &s), 0);
    long g = -5;
    assert_int_equal(scscf_subs_negotiate(s, -1, &g), 0);
    assert_int_equal(g, SCSCF_SUB_DEFAULT_EXPIRES);
    assert_int_equal(scscf_subs_negotiate(s, 0, &g), 0);
    assert_int_equal(g, 0);
    assert_int_equal(scscf_subs_negotiate(s, 600000, &g), 0);
    assert_int_equal(g, 600000);
    assert_int_equal(scscf_subs_negotiate(s, 4000000, &g), 0);
    assert_int_equal(g, SCSCF_SUB_MAX_EXPIRES);
    g = 77;
    assert_int_equal(scscf_subs_negotiate(s, 59, &g), ERANGE);
    assert_int_equal(g, 77);
    assert_int_equal(scscf_subs_negotiate(s, 60, &g), 0);
    assert_int_equal(g, 60);
    scscf_subs_free(s);
    scscf_subs_limits_t bad = {.default_expires = 10,
                               .min_expires = 60,
                               .max_expires = 100,
                               .max_per_impu = 1,
                               .max_total = 1};
    assert_int_equal(scscf_subs_create(&bad, &s), EINVAL);
    bad.default_expires = 60;
    bad.max_total = 0;
    assert_int_equal(scscf_subs_create(&bad, &s), EINVAL);
    (void)st;
}

static void test_add_find_remove(void **st)
{
    scscf_subs_t *s;
    assert_int_equal(scscf_subs_create(NULL, &s), 0);
    scscf_sub_t *a = add(s, "sip:a@ims.test", 1, 600, T0);
    assert_string_equal(a->impu, "sip:a@ims.test");
    assert_int_equal(a->nroute, 2);
    assert_string_equal(a->route[0], "<sip:term@pcscf.ims.test;lr>");
    assert_int_equal(a->expires_at, T0 + 600);
    assert_int_equal(scscf_sub_expires_in(a, T0 + 100), 500);
    assert_int_equal(scscf_sub_expires_in(a, T0 + 1000), 0);
    assert_ptr_equal(scscf_subs_find(s, "call-1@ue", "rt", "lt"), a);
    assert_null(scscf_subs_find(s, "call-1@ue", "lt", "rt"));
    assert_null(scscf_subs_find(s, "call-2@ue", "rt", "lt"));
    assert_null(scscf_subs_find(s, NULL, "rt", "lt"));
    /* the same dialog twice, a missing field, a zero expiry: refused, nothing changes */
    char cid[64];
    scscf_sub_init_t in = init_of("sip:a@ims.test", 1, cid, sizeof(cid));
    scscf_sub_t *out = NULL;
    assert_int_equal(scscf_subs_add(s, &in, 600, T0, &out), EEXIST);
    in = init_of("sip:a@ims.test", 2, cid, sizeof(cid));
    in.remote_target = NULL;
    assert_int_equal(scscf_subs_add(s, &in, 600, T0, &out), EINVAL);
    in = init_of("sip:a@ims.test", 2, cid, sizeof(cid));
    assert_int_equal(scscf_subs_add(s, &in, 0, T0, &out), EINVAL);
    assert_null(out);
    assert_int_equal(scscf_subs_count(s), 1);
    scscf_subs_remove(s, a);
    assert_int_equal(scscf_subs_count(s), 0);
    assert_int_equal(scscf_subs_count_impu(s, "sip:a@ims.test"), 0);
    assert_null(scscf_subs_find(s, "call-1@ue", "rt", "lt"));
    assert_int_equal(scscf_subs_next_due(s), INT64_MAX);
    scscf_subs_free(s);
    (void)st;
}

static void test_caps(void **st)
{
    scscf_subs_limits_t lim = {.default_expires = 600,
                               .min_expires = 60,
                               .max_expires = 3600,
                               .max_per_impu = 3,
                               .max_total = 5};
    scscf_subs_t *s;
    assert_int_equal(scscf_subs_create(&lim, &s), 0);
    scscf_sub_t *a[3];
    for (int i = 0; i < 3; i++)
        a[i] = add(s, "sip:a@ims.test", i, 600, T0);
    char cid[64];
    scscf_sub_init_t in = init_of("sip:a@ims.test", 3, cid, sizeof(cid));
    scscf_sub_t *out;
    assert_int_equal(scscf_subs_add(s, &in, 600, T0, &out), EDQUOT);
    assert_int_equal(scscf_subs_count_impu(s, "sip:a@ims.test"), 3);
    add(s, "sip:b@ims.test", 10, 600, T0);
    add(s, "sip:b@ims.test", 11, 600, T0);
    in = init_of("sip:c@ims.test", 12, cid, sizeof(cid));
    assert_int_equal(scscf_subs_add(s, &in, 600, T0, &out), ENOSPC);
    assert_int_equal(scscf_subs_count(s), 5);
    /* room again after an unsubscribe */
    scscf_subs_remove(s, a[1]);
    assert_int_equal(scscf_subs_add(s, &in, 600, T0, &out), 0);
    in = init_of("sip:a@ims.test", 3, cid, sizeof(cid));
    assert_int_equal(scscf_subs_add(s, &in, 600, T0, &out), ENOSPC);
    scscf_subs_free(s);
    (void)st;
}

static void test_versions_and_refresh(void **st)
{
    scscf_subs_t *s;
    assert_int_equal(scscf_subs_create(NULL, &s), 0);
    scscf_sub_t *a = add(s, "sip:a@ims.test", 1, 600, T0);
    uint32_t v, c;
    for (uint32_t i = 0; i < 5; i++) {
        scscf_subs_next_notify(s, a, &v, &c);
        assert_int_equal(v, i);
        assert_int_equal(c, i + 1);
    }
    assert_int_equal(a->version, 5);
    /* a refresh must carry a higher CSeq; the expiry moves with it */
    assert_int_equal(scscf_subs_refresh(s, a, 1, 900, T0 + 10), ERANGE);
    assert_int_equal(a->expires_at, T0 + 600);
    assert_int_equal(scscf_subs_refresh(s, a, 2, 900, T0 + 10), 0);
    assert_int_equal(a->expires_at, T0 + 910);
    assert_int_equal(scscf_subs_next_due(s), T0 + 910);
    assert_int_equal(scscf_subs_refresh(s, a, 3, 0, T0 + 10), EINVAL);
    /* an unsubscribe takes its CSeq too */
    assert_int_equal(scscf_subs_take_cseq(s, a, 3), 0);
    assert_int_equal(scscf_subs_take_cseq(s, a, 3), ERANGE);
    assert_int_equal(a->version, 5); /* refreshes do not count as NOTIFYs */
    scscf_subs_free(s);
    (void)st;
}

static test_rng_t rng = {0x9e3779b97f4a7c15ULL};

static uint32_t rnd(uint32_t n)
{
    return test_rnd(&rng, n);
}

#define NSUB 400

typedef struct expiry_ctx {
    int64_t now, last;
    int count;
} expiry_ctx_t;

static void on_expired(void *ctx, scscf_sub_t *sub)
{
    expiry_ctx_t *e = ctx;
    assert_true(sub->expires_at <= e->now);
    assert_true(sub->expires_at >= e->last); /* earliest first */
    e->last = sub->expires_at;
    e->count++;
}

/* Random adds, refreshes and removals against a brute-force model of who is due. */
static void test_expiry_order(void **st)
{
    scscf_subs_limits_t lim = {.default_expires = 600,
                               .min_expires = 1,
                               .max_expires = 3600,
                               .max_per_impu = NSUB,
                               .max_total = NSUB};
    scscf_subs_t *s;
    assert_int_equal(scscf_subs_create(&lim, &s), 0);
    scscf_sub_t *live[NSUB] = {0};
    int64_t exp[NSUB];
    uint32_t cseq[NSUB];
    int64_t now = T0;
    for (int round = 0; round < 40; round++) {
        for (int k = 0; k < 60; k++) {
            int i = (int)rnd(NSUB);
            if (!live[i]) {
                long e = 1 + (long)rnd(200);
                live[i] = add(s, rnd(2) ? "sip:a@ims.test" : "sip:b@ims.test", i, e, now);
                exp[i] = now + e;
                cseq[i] = 1;
            } else if (rnd(3)) {
                long e = 1 + (long)rnd(200);
                assert_int_equal(scscf_subs_refresh(s, live[i], ++cseq[i], e, now), 0);
                exp[i] = now + e;
            } else {
                scscf_subs_remove(s, live[i]);
                live[i] = NULL;
            }
        }
        now += 1 + rnd(20);
        int due = 0;
        for (int i = 0; i < NSUB; i++)
            if (live[i] && exp[i] <= now)
                due++, live[i] = NULL;
        expiry_ctx_t e = {.now = now, .last = INT64_MIN};
        scscf_subs_expire(s, now, on_expired, &e);
        assert_int_equal(e.count, due);
        size_t n = 0;
        int64_t min = INT64_MAX;
        for (int i = 0; i < NSUB; i++) {
            if (live[i]) {
                n++;
                min = exp[i] < min ? exp[i] : min;
                assert_int_equal(live[i]->expires_at, exp[i]);
            }
        }
        assert_int_equal(scscf_subs_count(s), n);
        assert_int_equal(scscf_subs_next_due(s), min);
        assert_int_equal(scscf_subs_count_impu(s, "sip:a@ims.test") +
                             scscf_subs_count_impu(s, "sip:b@ims.test"),
                         n);
    }
    scscf_subs_free(s);
    (void)st;
}

typedef struct walk {
    scscf_subs_t *s;
    int seen;
} walk_t;

static void remove_each(void *ctx, scscf_sub_t *sub)
{
    walk_t *w = ctx;
    w->seen++;
    scscf_subs_remove(w->s, sub);
}

static void test_for_impu(void **st)
{
    scscf_subs_t *s;
    assert_int_equal(scscf_subs_create(NULL, &s), 0);
    for (int i = 0; i < 4; i++)
        add(s, "sip:a@ims.test", i, 600, T0);
    add(s, "sip:b@ims.test", 9, 600, T0);
    /* IMPUs compare by the common rule: scheme and host case-insensitively, user exactly */
    assert_int_equal(scscf_subs_count_impu(s, "SIP:a@IMS.Test"), 4);
    assert_int_equal(scscf_subs_count_impu(s, "sip:A@ims.test"), 0);
    json_t *arr = scscf_subs_json_impu(s, "sip:a@IMS.TEST", T0 + 1);
    assert_int_equal(json_array_size(arr), 4);
    json_t *one = json_array_get(arr, 0);
    assert_string_equal(json_string_value(json_object_get(one, "impu")), "sip:a@ims.test");
    assert_string_equal(json_string_value(json_object_get(one, "subscriber")), "ue");
    assert_string_equal(json_string_value(json_object_get(one, "call_id")), "call-0@ue");
    assert_int_equal(json_integer_value(json_object_get(one, "expires_in")), 599);
    assert_int_equal(json_array_size(json_object_get(one, "route")), 2);
    json_decref(arr);
    /* removing each one as it is visited visits all of them, once */
    walk_t w = {.s = s};
    scscf_subs_for_impu(s, "sip:a@ims.test", remove_each, &w);
    assert_int_equal(w.seen, 4);
    assert_int_equal(scscf_subs_count(s), 1);
    w.seen = 0;
    scscf_subs_for_impu(s, "sip:a@ims.test", remove_each, &w);
    assert_int_equal(w.seen, 0);
    arr = scscf_subs_json_impu(s, "sip:a@ims.test", T0);
    assert_int_equal(json_array_size(arr), 0);
    json_decref(arr);
    scscf_subs_for_each(s, remove_each, &w);
    assert_int_equal(w.seen, 1);
    scscf_subs_free(s);
    (void)st;
}

/* ---- persistence: a table of rows kept by the test ---- */

#define NROWS 16

typedef struct table {
    char *key[NROWS], *doc[NROWS];
    int puts, dels;
} table_t;

static void persist(void *ctx, const char *key, const char *doc)
{
    table_t *t = ctx;
    int slot = -1;
    for (int i = 0; i < NROWS; i++)
        if (t->key[i] && strcmp(t->key[i], key) == 0)
            slot = i;
    if (!doc) {
        t->dels++;
        if (slot >= 0) {
            free(t->key[slot]);
            free(t->doc[slot]);
            t->key[slot] = t->doc[slot] = NULL;
        }
        return;
    }
    t->puts++;
    for (int i = 0; slot < 0 && i < NROWS; i++)
        if (!t->key[i])
            slot = i;
    assert_true(slot >= 0);
    free(t->key[slot]);
    free(t->doc[slot]);
    t->key[slot] = strdup(key);
    t->doc[slot] = strdup(doc);
}

static int rows(const table_t *t)
{
    int n = 0;
    for (int i = 0; i < NROWS; i++)
        n += t->key[i] != NULL;
    return n;
}

static void test_persistence(void **st)
{
    table_t t = {0};
    scscf_subs_t *s;
    assert_int_equal(scscf_subs_create(NULL, &s), 0);
    scscf_sub_t *a = add(s, "sip:a@ims.test", 1, 600, T0);
    scscf_sub_t *b = add(s, "tel:+123", 2, 100, T0);
    scscf_sub_t *c = add(s, "sip:a@ims.test", 3, 600, T0);
    uint32_t v, cs;
    for (int i = 0; i < 3; i++)
        scscf_subs_next_notify(s, a, &v, &cs);
    assert_true(scscf_subs_dirty(s));
    assert_int_equal(scscf_subs_flush(s, persist, &t), 3); /* one row each, not per change */
    assert_false(scscf_subs_dirty(s));
    assert_int_equal(scscf_subs_flush(s, persist, &t), 0);
    assert_int_equal(rows(&t), 3);
    scscf_subs_remove(s, c);
    scscf_subs_next_notify(s, b, &v, &cs);
    assert_int_equal(scscf_subs_flush(s, persist, &t), 2);
    assert_int_equal(t.dels, 1);
    assert_int_equal(rows(&t), 2);
    scscf_subs_free(s);

    /* a restart: the version and CSeqs continue, the dialog is found again */
    assert_int_equal(scscf_subs_create(NULL, &s), 0);
    int ok = 0, gone = 0;
    for (int i = 0; i < NROWS; i++) {
        if (!t.doc[i])
            continue;
        int rc = scscf_subs_restore(s, t.doc[i], T0 + 200);
        ok += rc == 0;
        gone += rc == ESRCH;
    }
    assert_int_equal(ok, 1);   /* a */
    assert_int_equal(gone, 1); /* b expired at T0 + 100 */
    a = scscf_subs_find(s, "call-1@ue", "rt", "lt");
    assert_non_null(a);
    assert_int_equal(a->version, 3);
    assert_int_equal(a->local_cseq, 3);
    assert_int_equal(a->expires_at, T0 + 600);
    assert_int_equal(a->created_at, T0);
    assert_int_equal(a->nroute, 2);
    assert_string_equal(a->next_hop, "sip:127.0.0.1:5060;transport=udp");
    scscf_subs_next_notify(s, a, &v, &cs);
    assert_int_equal(v, 3);
    assert_int_equal(cs, 4);
    /* the expired row is queued for deletion; the restored one only for its new NOTIFY */
    t.dels = 0;
    assert_int_equal(scscf_subs_flush(s, persist, &t), 2);
    assert_int_equal(t.dels, 1);
    assert_int_equal(rows(&t), 1);
    /* documents that are not ours */
    assert_int_equal(scscf_subs_restore(s, "{", T0), EINVAL);
    assert_int_equal(scscf_subs_restore(s, "{\"v\":2}", T0), EINVAL);
    assert_int_equal(scscf_subs_restore(s, "{\"v\":1,\"route\":[1]}", T0), EINVAL);
    assert_int_equal(scscf_subs_restore(s, NULL, T0), EINVAL);
    /* restoring a live dialog twice is refused like a second add */
    for (int i = 0; i < NROWS; i++)
        if (t.doc[i])
            assert_int_equal(scscf_subs_restore(s, t.doc[i], T0 + 200), EEXIST);
    assert_int_equal(scscf_subs_count(s), 1);
    scscf_subs_free(s);
    for (int i = 0; i < NROWS; i++) {
        free(t.key[i]);
        free(t.doc[i]);
    }
    (void)st;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_negotiate),    cmocka_unit_test(test_add_find_remove),
        cmocka_unit_test(test_caps),         cmocka_unit_test(test_versions_and_refresh),
        cmocka_unit_test(test_expiry_order), cmocka_unit_test(test_for_impu),
        cmocka_unit_test(test_persistence),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
