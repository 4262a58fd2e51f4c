/* Unit tests for the P-CSCF registration cache's expiry order (pcscf/reg_cache.c): many
 * registrations with random expiries, refreshes, removals, checked against a model. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ims/log.h"
#include "ims/util.h"
#include "pcscf.h"

static uint64_t rng = 0x2545f4914f6cdd1dULL;

static uint32_t rnd(uint32_t n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng % n);
}

#define NREG 1200
#define SPAN 600 /* seconds */

/* Per IMPU: two possible contacts, each with its expiry (ms, monotonic) or 0 when absent. */
typedef struct model {
    uint64_t exp[2];
} model_t;

static model_t model[NREG];

static void names(int i, int k, char *impu, char *contact, size_t len)
{
    snprintf(impu, len, "sip:ue%d@ims.test", i);
    snprintf(contact, len, "sip:ue%d@127.0.0.%d:%d", i, 1 + k, 5060 + i);
}

static bool live(int i)
{
    return model[i].exp[0] || model[i].exp[1];
}

/* One 200 OK for impu i: contacts with expires[k] > 0 are (re)registered, those with 0
 * are gone. Repeated until the clock did not tick during the call, so the cache's expiry
 * (now + expires) is known to the millisecond. */
static void apply(pcscf_cache_t *c, int i, const long expires[2])
{
    char impu[64], contact[2][64];
    names(i, 0, impu, contact[0], sizeof(impu));
    names(i, 1, impu, contact[1], sizeof(impu));
    pcscf_binding_in_t mine[2];
    const char *uris[2];
    long exps[2];
    size_t nmine = 0, nlive = 0;
    for (int k = 0; k < 2; k++) {
        if (expires[k] <= 0)
            continue;
        mine[nmine++] = (pcscf_binding_in_t){.contact = contact[k],
                                             .expires = expires[k],
                                             .received = "127.0.0.1:5060",
                                             .transport = "udp"};
        uris[nlive] = contact[k];
        exps[nlive++] = expires[k];
    }
    const char *sr[] = {"sip:orig@scscf.ims.test;lr"};
    uint64_t before, after;
    do {
        before = ims_now_ms();
        pcscf_cache_update(c, impu, "ue@ims.test", NULL, 0, sr, 1, NULL, mine, nmine, uris, exps,
                           nlive);
        after = ims_now_ms();
    } while (before != after);
    for (int k = 0; k < 2; k++)
        model[i].exp[k] = expires[k] > 0 ? before + (uint64_t)expires[k] * 1000 : 0;
}

static size_t model_count(size_t *nbindings)
{
    size_t regs = 0, b = 0;
    for (int i = 0; i < NREG; i++) {
        regs += live(i);
        b += (model[i].exp[0] != 0) + (model[i].exp[1] != 0);
    }
    *nbindings = b;
    return regs;
}

/* The model's sweep at now: how many bindings go. */
static size_t model_expire(uint64_t now)
{
    size_t gone = 0;
    for (int i = 0; i < NREG; i++)
        for (int k = 0; k < 2; k++)
            if (model[i].exp[k] && model[i].exp[k] <= now) {
                model[i].exp[k] = 0;
                gone++;
            }
    return gone;
}

/* The status view computes expires_in from the real clock, whatever the sweep time. */
static void check_cache(pcscf_cache_t *c)
{
    size_t nb = 0, wantb;
    assert_int_equal(pcscf_cache_count(c, &nb), model_count(&wantb));
    assert_int_equal(nb, wantb);
    for (int i = 0; i < NREG; i++) {
        char impu[64], contact[64];
        names(i, 0, impu, contact, sizeof(impu));
        uint64_t now, after;
        json_t *j = NULL;
        do {
            json_decref(j);
            now = ims_now_ms();
            j = pcscf_cache_json(c, impu);
            after = ims_now_ms();
        } while (now != after);
        if (!live(i)) {
            assert_null(j);
            continue;
        }
        assert_non_null(j);
        json_t *contacts = json_object_get(j, "contacts");
        size_t want = (model[i].exp[0] != 0) + (model[i].exp[1] != 0);
        assert_int_equal(json_array_size(contacts), want);
        for (size_t n = 0; n < want; n++) {
            json_t *ct = json_array_get(contacts, n);
            const char *uri = json_string_value(json_object_get(ct, "uri"));
            int k = strstr(uri, "@127.0.0.2:") ? 1 : 0;
            assert_true(model[i].exp[k] != 0);
            long left = (long)json_integer_value(json_object_get(ct, "expires_in"));
            long want_left =
                model[i].exp[k] > now ? (long)((model[i].exp[k] - now + 999) / 1000) : 0;
            assert_int_equal(left, want_left);
        }
        json_decref(j);
    }
    json_t *all = pcscf_cache_json(c, NULL);
    size_t wb;
    assert_int_equal(json_integer_value(json_object_get(all, "total")), model_count(&wb));
    json_decref(all);
}

/* Random registrations, refreshes moving expiries both ways, contacts and whole
 * registrations removed, then sweeps at times walking through the span: each removes
 * exactly the bindings the model says are due, never one that is not. */
static void test_cache_random_model(void **state)
{
    (void)state;
    pcscf_cache_t *c;
    assert_int_equal(pcscf_cache_create(&c), 0);
    memset(model, 0, sizeof(model));
    for (int i = 0; i < NREG; i++) {
        long e[2] = {1 + (long)rnd(SPAN), rnd(2) ? 1 + (long)rnd(SPAN) : 0};
        apply(c, i, e);
    }
    uint64_t now = ims_now_ms();
    check_cache(c);
    uint64_t end = now + (SPAN + 5) * 1000;
    while (now < end) {
        for (int n = 0; n < 30; n++) {
            int i = (int)rnd(NREG);
            char impu[64], contact[64];
            names(i, 0, impu, contact, sizeof(impu));
            switch (rnd(4)) {
            case 0: /* refresh one or both contacts (shorter or longer than before) */
            case 1: {
                long e[2] = {1 + (long)rnd(SPAN), rnd(2) ? 1 + (long)rnd(SPAN) : 0};
                apply(c, i, e);
                break;
            }
            case 2: /* the second contact deregistered, the first refreshed */
                if (model[i].exp[0] && model[i].exp[1]) {
                    long e[2] = {1 + (long)rnd(SPAN), 0};
                    apply(c, i, e);
                }
                break;
            default:
                if (live(i)) {
                    assert_true(pcscf_cache_remove(c, impu));
                    model[i].exp[0] = model[i].exp[1] = 0;
                } else {
                    assert_false(pcscf_cache_remove(c, impu));
                }
                break;
            }
        }
        /* The sweep clock runs ahead of the real one the cache stamps refreshes with;
         * model and cache see the same expiries, so they must agree at any sweep time
         * (never going back). */
        uint64_t real = ims_now_ms();
        if (now < real)
            now = real;
        now += 1 + rnd(7000);
        size_t want = model_expire(now);
        assert_int_equal(pcscf_cache_expire_at(c, now), want);
        if (rnd(10) == 0)
            check_cache(c);
    }
    check_cache(c);
    now = (now > ims_now_ms() ? now : ims_now_ms()) + (SPAN + 1) * 1000;
    assert_int_equal(pcscf_cache_expire_at(c, now), model_expire(now));
    size_t nb;
    assert_int_equal(pcscf_cache_count(c, &nb), 0);
    assert_int_equal(nb, 0);
    pcscf_cache_destroy(c);
}

/* A sweep at one time removes exactly the registrations due then, the earliest ones;
 * the others are untouched and their count right. */
static void test_cache_sweep_exact(void **state)
{
    (void)state;
    pcscf_cache_t *c;
    assert_int_equal(pcscf_cache_create(&c), 0);
    memset(model, 0, sizeof(model));
    for (int i = 0; i < NREG; i++) {
        long e[2] = {1 + (long)rnd(SPAN), 0};
        apply(c, i, e);
    }
    uint64_t base = ims_now_ms();
    uint64_t steps[] = {base,
                        base + 100 * 1000,
                        base + 100 * 1000 + 1,
                        base + 300 * 1000,
                        base + 301 * 1000,
                        base + (SPAN + 1) * 1000};
    for (size_t s = 0; s < sizeof(steps) / sizeof(steps[0]); s++) {
        size_t want = model_expire(steps[s]);
        assert_int_equal(pcscf_cache_expire_at(c, steps[s]), want);
        check_cache(c);
    }
    size_t nb;
    assert_int_equal(pcscf_cache_count(c, &nb), 0);
    assert_int_equal(nb, 0);
    pcscf_cache_destroy(c);
}

/* Registrations restored from state documents (and adopted into the live cache, as at
 * start) expire like the others; a row found expired is not restored. */
static void test_cache_restore_and_adopt(void **state)
{
    (void)state;
    pcscf_cache_t *staging, *live_c;
    assert_int_equal(pcscf_cache_create(&staging), 0);
    assert_int_equal(pcscf_cache_create(&live_c), 0);
    int64_t wall = 1700000000000LL;
    for (int i = 0; i < 100; i++) {
        char impu[64], contact[64];
        names(i, 0, impu, contact, sizeof(impu));
        json_t *doc = json_pack("{s:s, s:[{s:s, s:I}]}", "impu", impu, "bindings", "contact",
                                contact, "expires_at_ms", (json_int_t)(wall - 50000 + i * 1000));
        int rc = pcscf_cache_load_doc(staging, doc, wall);
        assert_int_equal(rc, i <= 50 ? ENOENT : 0);
        json_decref(doc);
    }
    size_t nb;
    assert_int_equal(pcscf_cache_count(staging, &nb), 49);
    assert_int_equal(nb, 49);
    /* one registration already live: the live one wins */
    memset(model, 0, sizeof(model));
    long e[2] = {600, 0};
    apply(live_c, 99, e);
    pcscf_cache_adopt(live_c, staging);
    pcscf_cache_destroy(staging);
    assert_int_equal(pcscf_cache_count(live_c, &nb), 49);
    assert_int_equal(nb, 49);
    uint64_t now = ims_now_ms();
    /* restored ones expire within 49 s of load (51..98 s after `wall` minus 50 s) */
    size_t gone = pcscf_cache_expire_at(live_c, now + 60000);
    assert_int_equal(gone, 48);
    assert_int_equal(pcscf_cache_count(live_c, &nb), 1);
    char impu[64], contact[64];
    names(99, 0, impu, contact, sizeof(impu));
    json_t *j = pcscf_cache_json(live_c, impu);
    assert_non_null(j);
    json_decref(j);
    assert_int_equal(pcscf_cache_expire_at(live_c, now + 601000), 1);
    assert_int_equal(pcscf_cache_count(live_c, &nb), 0);
    pcscf_cache_destroy(live_c);
}

int main(void)
{
    ims_log_init("test_pcscf_cache", IMS_LOG_WARN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cache_random_model),
        cmocka_unit_test(test_cache_sweep_exact),
        cmocka_unit_test(test_cache_restore_and_adopt),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
