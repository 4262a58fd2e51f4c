/* Unit tests for the P-CSCF registration cache (pcscf/reg_cache*.c, reg_source.c): expiry
 * order and the source-address index, under random changes, each checked against a model. */
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

/* ---- the source index of pcscf_cache_lookup, against a brute-force model ---- */

#define LREG   300
#define LHOSTS 6
#define LPORTS 4

/* Per IMPU: two contacts, each registered from one of a few addresses (so addresses are
 * shared between registrations), with its expiry (0: absent). */
typedef struct lmodel {
    uint64_t exp[2];
    int host[2], port[2];
} lmodel_t;

static lmodel_t lm[LREG];

static void lnames(int i, char *impu, char *assoc, size_t len)
{
    snprintf(impu, len, "sip:lu%d@ims.test", i);
    snprintf(assoc, len, "tel:+1555%04d", i);
}

static void lapply(pcscf_cache_t *c, int i, const long expires[2], const int host[2],
                   const int port[2])
{
    char impu[64], assoc[64], contact[2][64], rcv[2][64];
    lnames(i, impu, assoc, sizeof impu);
    const char *assocv[] = {impu, assoc}, *sr[] = {"sip:orig@scscf.ims.test;lr"}, *uris[2];
    pcscf_binding_in_t mine[2];
    long exps[2];
    size_t nmine = 0, nlive = 0;
    for (int k = 0; k < 2; k++) {
        snprintf(contact[k], sizeof contact[k], "sip:lu%d@10.9.%d.%d:5060", i, k, i % 250);
        snprintf(rcv[k], sizeof rcv[k], "127.0.1.%d:%d", 1 + host[k], 6000 + port[k]);
        if (expires[k] <= 0)
            continue;
        mine[nmine++] = (pcscf_binding_in_t){
            .contact = contact[k], .expires = expires[k], .received = rcv[k], .transport = "udp"};
        uris[nlive] = contact[k];
        exps[nlive++] = expires[k];
    }
    uint64_t before, after;
    do {
        before = ims_now_ms();
        pcscf_cache_update(c, impu, NULL, assocv, 2, sr, 1, NULL, mine, nmine, uris, exps, nlive);
        after = ims_now_ms();
    } while (before != after);
    for (int k = 0; k < 2; k++) {
        /* a contact listed again keeps its binding and takes the new address */
        lm[i].exp[k] = expires[k] > 0 ? before + (uint64_t)expires[k] * 1000 : 0;
        if (expires[k] > 0) {
            lm[i].host[k] = host[k];
            lm[i].port[k] = port[k];
        }
    }
}

/* Which registrations the old full scan could have answered with: those with a live
 * binding from host:port (and naming identity when given); failing that, those naming
 * identity with a live binding from host. */
static int lmodel_candidates(int host, int port, int ident, uint64_t now, bool cand[LREG])
{
    int n = 0;
    for (int pass = 0; pass < 2 && !n; pass++)
        for (int i = 0; i < LREG; i++) {
            cand[i] = false;
            if (pass == 1 && ident < 0)
                continue;
            if (ident >= 0 && ident != i)
                continue;
            for (int k = 0; k < 2; k++)
                if (lm[i].exp[k] > now && lm[i].host[k] == host &&
                    (pass == 1 || lm[i].port[k] == port))
                    cand[i] = true;
            n += cand[i];
        }
    return n;
}

static void lcheck(pcscf_cache_t *c, int host, int port, int ident, int form)
{
    char ip[32], impu[64], assoc[64], upper[64];
    bool cand[LREG];
    snprintf(ip, sizeof ip, "127.0.1.%d", 1 + host);
    const char *identity = NULL;
    if (ident >= 0) {
        lnames(ident, impu, assoc, sizeof impu);
        /* the IMPU, an associated URI, or the IMPU with its scheme and host in capitals
         * (the same IMPU under the one IMPU rule) */
        snprintf(upper, sizeof upper, "SIP:lu%d@IMS.TEST", ident);
        identity = form == 0 ? impu : form == 1 ? assoc : upper;
    }
    const char *const *sr = NULL;
    size_t nsr = 0;
    const char *got = NULL;
    uint64_t before, after;
    bool found;
    int want;
    do {
        before = ims_now_ms();
        found = pcscf_cache_lookup(c, ip, (uint16_t)(6000 + port), identity, &sr, &nsr, &got);
        after = ims_now_ms();
        want = lmodel_candidates(host, port, ident, before, cand);
    } while (before != after);
    assert_int_equal(found, want > 0);
    if (!found)
        return;
    int i = -1;
    assert_int_equal(sscanf(got, "sip:lu%d@ims.test", &i), 1);
    assert_true(i >= 0 && i < LREG && cand[i]);
    assert_int_equal(nsr, 1);
    assert_string_equal(sr[0], "sip:orig@scscf.ims.test;lr");
}

/* Registrations move between a few shared addresses, lose contacts, are removed and
 * expire; every lookup by source address (with and without an identity) answers what the
 * full scan would have answered. */
static void test_cache_source_index(void **state)
{
    (void)state;
    pcscf_cache_t *c;
    assert_int_equal(pcscf_cache_create(&c), 0);
    memset(lm, 0, sizeof lm);
    for (int round = 0; round < 40; round++) {
        for (int n = 0; n < 60; n++) {
            int i = (int)rnd(LREG);
            int host[2] = {(int)rnd(LHOSTS), (int)rnd(LHOSTS)};
            int port[2] = {(int)rnd(LPORTS), (int)rnd(LPORTS)};
            if (rnd(5) == 0) {
                char impu[64], assoc[64];
                lnames(i, impu, assoc, sizeof impu);
                pcscf_cache_remove(c, impu);
                lm[i].exp[0] = lm[i].exp[1] = 0;
                continue;
            }
            long e[2] = {rnd(8) ? 1 + (long)rnd(600) : 0, rnd(2) ? 1 + (long)rnd(600) : 0};
            lapply(c, i, e, host, port);
        }
        for (int q = 0; q < 200; q++) {
            int ident = rnd(3) == 0 ? -1 : (int)rnd(LREG);
            lcheck(c, (int)rnd(LHOSTS + 1), (int)rnd(LPORTS), ident, (int)rnd(3));
        }
    }
    /* everything expired: nothing is found and the index is empty again */
    uint64_t end = ims_now_ms() + 601 * 1000;
    pcscf_cache_expire_at(c, end);
    for (int i = 0; i < LREG; i++)
        lm[i].exp[0] = lm[i].exp[1] = 0;
    for (int h = 0; h < LHOSTS; h++)
        for (int p = 0; p < LPORTS; p++)
            lcheck(c, h, p, -1, 0);
    size_t nb;
    assert_int_equal(pcscf_cache_count(c, &nb), 0);
    pcscf_cache_destroy(c);
}

/* A restored and adopted registration is found by its source address too. */
static void test_cache_source_after_restore(void **state)
{
    (void)state;
    pcscf_cache_t *staging, *live_c;
    assert_int_equal(pcscf_cache_create(&staging), 0);
    assert_int_equal(pcscf_cache_create(&live_c), 0);
    int64_t wall = 1700000000000LL;
    json_t *doc =
        json_pack("{s:s, s:[s], s:[{s:s, s:s, s:I}]}", "impu", "sip:r@ims.test", "service_route",
                  "sip:orig@scscf.ims.test;lr", "bindings", "contact", "sip:r@10.0.0.1:5060",
                  "received", "[::1]:7000", "expires_at_ms", (json_int_t)(wall + 60000));
    assert_int_equal(pcscf_cache_load_doc(staging, doc, wall), 0);
    json_decref(doc);
    pcscf_cache_adopt(live_c, staging);
    pcscf_cache_destroy(staging);
    const char *const *sr = NULL;
    size_t nsr = 0;
    const char *impu = NULL;
    assert_true(pcscf_cache_lookup(live_c, "::1", 7000, NULL, &sr, &nsr, &impu));
    assert_string_equal(impu, "sip:r@ims.test");
    assert_true(pcscf_cache_lookup(live_c, "::1", 7001, "sip:r@ims.test", &sr, &nsr, &impu));
    assert_false(pcscf_cache_lookup(live_c, "::1", 7001, "sip:other@ims.test", &sr, &nsr, &impu));
    assert_false(pcscf_cache_lookup(live_c, "::2", 7000, NULL, &sr, &nsr, &impu));
    assert_true(pcscf_cache_remove(live_c, "sip:r@ims.test"));
    assert_false(pcscf_cache_lookup(live_c, "::1", 7000, NULL, &sr, &nsr, &impu));
    pcscf_cache_destroy(live_c);
}

int main(void)
{
    ims_log_init("test_pcscf_cache", IMS_LOG_WARN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cache_random_model),
        cmocka_unit_test(test_cache_sweep_exact),
        cmocka_unit_test(test_cache_restore_and_adopt),
        cmocka_unit_test(test_cache_source_index),
        cmocka_unit_test(test_cache_source_after_restore),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
