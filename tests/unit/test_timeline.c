/* Unit tests for common/src/timeline.c and hint.c: identities that find a subscriber,
 * the per-subscriber, total and byte bounds, the JSON shape, redaction, the listener. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ims/timeline.h"

#define IMPI "432011123456791@ims.mnc011.mcc432.3gppnetwork.org"
#define IMPU "sip:98098765432100@ims.mnc011.mcc432.3gppnetwork.org"

static ims_timeline_t *make(size_t per_sub, size_t total, size_t max_bytes, size_t sip_max)
{
    ims_timeline_opts_t o = {.daemon = "scscf",
                             .per_subscriber = per_sub,
                             .total = total,
                             .max_bytes = max_bytes,
                             .sip_max = sip_max};
    ims_timeline_t *tl = NULL;
    assert_int_equal(ims_timeline_new(&o, &tl), 0);
    return tl;
}

static json_t *query(ims_timeline_t *tl, const char *ident, size_t limit)
{
    char *text = NULL;
    size_t len = 0;
    int rc = ims_timeline_query(tl, ident, limit, &text, &len);
    if (rc == ENOENT)
        return NULL;
    assert_int_equal(rc, 0);
    json_error_t e;
    json_t *j = json_loadb(text, len, 0, &e);
    if (!j)
        fail_msg("not JSON (%s): %s", e.text, text);
    free(text);
    return j;
}

static uint64_t rec_simple(ims_timeline_t *tl, const char *impi, const char *impu, int cseq)
{
    ims_tl_record_t r = {.impi = impi,
                         .impu = impu,
                         .kind = "decision",
                         .method = "REGISTER",
                         .cseq = (uint32_t)cseq,
                         .action = "challenge",
                         .hint = IMS_HINT_CHALLENGED};
    return ims_timeline_record(tl, &r);
}

static void test_entry_shape(void **state)
{
    ims_timeline_t *tl = make(0, 0, 0, 0);
    const char sip[] = "SIP/2.0 401 Unauthorized\r\nWWW-Authenticate: Digest nonce=\"n1\", "
                       "ck=\"00112233445566778899aabbccddeeff\", ik=\"ffee\"\r\n\r\n";
    ims_tl_record_t r = {.impi = IMPI,
                         .impu = IMPU,
                         .kind = "response",
                         .direction = "out",
                         .method = "REGISTER",
                         .call_id = "abc@h",
                         .cseq = 2,
                         .status = 401,
                         .reason = "Unauthorized",
                         .src = "127.0.0.1",
                         .src_port = 6060,
                         .dst = "::1",
                         .dst_port = 5060,
                         .transport = "UDP",
                         .action = "challenge",
                         .details = json_pack("{s:s}", "scheme", "aka"),
                         .hint = IMS_HINT_AKA_RESYNC,
                         .hint_detail = "SQN 000000000020 -> 000000000040",
                         .sip = sip,
                         .sip_len = sizeof(sip) - 1};
    assert_int_equal(ims_timeline_record(tl, &r), 1);
    /* The IMPI, the IMPU and the IMSI derived from the IMPI all find it. */
    const char *idents[] = {IMPI, IMPU, "432011123456791"};
    for (int i = 0; i < 3; i++) {
        json_t *j = query(tl, idents[i], 0);
        assert_non_null(j);
        assert_int_equal(json_integer_value(json_object_get(j, "total")), 1);
        assert_int_equal(json_array_size(json_object_get(j, "identities")), 3);
        json_t *e = json_array_get(json_object_get(j, "items"), 0);
        assert_int_equal(json_integer_value(json_object_get(e, "seq")), 1);
        assert_string_equal(json_string_value(json_object_get(e, "daemon")), "scscf");
        assert_string_equal(json_string_value(json_object_get(e, "imsi")), "432011123456791");
        assert_string_equal(json_string_value(json_object_get(e, "call_id")), "abc@h");
        assert_int_equal(json_integer_value(json_object_get(e, "status")), 401);
        assert_string_equal(json_string_value(json_object_get(json_object_get(e, "dst"), "addr")),
                            "::1");
        assert_int_equal(json_integer_value(json_object_get(json_object_get(e, "src"), "port")),
                         6060);
        assert_false(json_boolean_value(json_object_get(e, "protected")));
        assert_string_equal(
            json_string_value(json_object_get(json_object_get(e, "details"), "scheme")), "aka");
        assert_string_equal(json_string_value(json_object_get(e, "hint_id")), "aka_resync");
        const char *hint = json_string_value(json_object_get(e, "hint"));
        assert_non_null(strstr(hint, "AUTS"));
        assert_non_null(strstr(hint, ": SQN 000000000020 -> 000000000040"));
        const char *s = json_string_value(json_object_get(e, "sip"));
        assert_non_null(strstr(s, "nonce=\"n1\""));
        assert_null(strstr(s, "00112233445566778899aabbccddeeff"));
        assert_null(strstr(s, "ffee\""));
        assert_non_null(strstr(json_string_value(json_object_get(e, "time")), "Z"));
        assert_true(json_integer_value(json_object_get(e, "ts_us")) > 1700000000000000LL);
        json_decref(j);
    }
    assert_null(query(tl, "sip:nobody@x", 0));
    /* No identity at all: nothing stored. */
    ims_tl_record_t none = {.kind = "decision"};
    assert_int_equal(ims_timeline_record(tl, &none), 0);
    ims_timeline_free(tl);
}

static void test_per_subscriber_bound(void **state)
{
    ims_timeline_t *tl = make(3, 100, 0, 0);
    for (int i = 1; i <= 10; i++)
        assert_int_equal(rec_simple(tl, IMPI, IMPU, i), (uint64_t)i);
    rec_simple(tl, "other@x", "sip:other@x", 1);
    json_t *j = query(tl, IMPU, 0);
    json_t *items = json_object_get(j, "items");
    assert_int_equal(json_array_size(items), 3);
    for (int i = 0; i < 3; i++) /* the newest, oldest first */
        assert_int_equal(json_integer_value(json_object_get(json_array_get(items, i), "seq")),
                         8 + i);
    json_decref(j);
    j = query(tl, IMPI, 2); /* limit: the newest two */
    items = json_object_get(j, "items");
    assert_int_equal(json_array_size(items), 2);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(items, 0), "seq")), 9);
    json_decref(j);
    ims_timeline_stats_t st;
    ims_timeline_stats(tl, &st);
    assert_int_equal(st.entries, 4);
    assert_int_equal(st.subscribers, 2);
    assert_int_equal(st.evicted, 7);
    ims_timeline_free(tl);
}

static void test_total_bound(void **state)
{
    ims_timeline_t *tl = make(50, 50, 0, 0);
    char impi[64], impu[64];
    for (int i = 0; i < 5000; i++) {
        snprintf(impi, sizeof(impi), "%015d@x", i % 500);
        snprintf(impu, sizeof(impu), "sip:%d@x", i % 500);
        assert_true(rec_simple(tl, impi, impu, i) > 0);
        ims_timeline_stats_t st;
        ims_timeline_stats(tl, &st);
        assert_true(st.entries <= 50);
        assert_true(st.subscribers <= 50);
    }
    /* Subscribers whose entries all fell out are forgotten, with all their identities. */
    assert_null(query(tl, "000000000000000@x", 0));
    assert_null(query(tl, "sip:0@x", 0));
    assert_null(query(tl, "000000000000000", 0));
    assert_null(ims_timeline_find(tl, "sip:0@x"));
    /* The newest 50 (i = 4950..4999 -> subscribers 450..499) are all there. */
    for (int s = 450; s < 500; s++) {
        snprintf(impu, sizeof(impu), "sip:%d@x", s);
        json_t *j = query(tl, impu, 0);
        assert_non_null(j);
        assert_int_equal(json_integer_value(json_object_get(j, "total")), 1);
        json_decref(j);
    }
    ims_timeline_free(tl);
}

static void test_byte_bound(void **state)
{
    size_t max_bytes = 64 * 1024;
    ims_timeline_t *tl = make(1000, 10000, max_bytes, 1000);
    char sip[5000];
    memset(sip, 'v', sizeof(sip));
    memcpy(sip, "OPTIONS sip:x SIP/2.0\r\n", 23);
    for (int i = 0; i < 500; i++) {
        ims_tl_record_t r = {.impu = i % 2 ? "sip:a@x" : "sip:b@x",
                             .kind = "request",
                             .sip = sip,
                             .sip_len = sizeof(sip)};
        assert_true(ims_timeline_record(tl, &r) > 0);
        ims_timeline_stats_t st;
        ims_timeline_stats(tl, &st);
        assert_true(st.bytes <= max_bytes);
    }
    json_t *j = query(tl, "sip:a@x", 1);
    const char *s =
        json_string_value(json_object_get(json_array_get(json_object_get(j, "items"), 0), "sip"));
    assert_true(strlen(s) <= 1000 + 48); /* cut to sip_max, with the note */
    assert_non_null(strstr(s, "more bytes not kept"));
    json_decref(j);
    ims_timeline_free(tl);
}

typedef struct heard {
    int calls;
    const void *sub;
    uint64_t seq;
    char json[4096];
} heard_t;

static void listener(void *arg, const void *sub, uint64_t seq, const char *json, size_t len)
{
    heard_t *h = arg;
    h->calls++;
    h->sub = sub;
    h->seq = seq;
    snprintf(h->json, sizeof(h->json), "%.*s", (int)len, json);
}

static void test_listener_and_aliases(void **state)
{
    ims_timeline_t *tl = make(0, 0, 0, 0);
    heard_t h = {0};
    ims_timeline_set_listener(tl, listener, &h);
    /* The P-CSCF first knows only the IMPU, then the IMPI too: one subscriber. */
    ims_tl_record_t r = {.impu = IMPU, .kind = "request", .method = "REGISTER"};
    assert_int_equal(ims_timeline_record(tl, &r), 1);
    assert_int_equal(h.calls, 1);
    assert_ptr_equal(h.sub, ims_timeline_find(tl, IMPU));
    r.impi = IMPI;
    assert_int_equal(ims_timeline_record(tl, &r), 2);
    assert_int_equal(h.seq, 2);
    assert_ptr_equal(ims_timeline_find(tl, IMPI), ims_timeline_find(tl, IMPU));
    assert_ptr_equal(ims_timeline_find(tl, "432011123456791"), h.sub);
    json_t *j = json_loads(h.json, 0, NULL);
    assert_non_null(j);
    assert_int_equal(json_integer_value(json_object_get(j, "seq")), 2);
    json_decref(j);
    /* At most 8 identities per subscriber; the rest do not find it. */
    char impu[64];
    for (int i = 0; i < 20; i++) {
        snprintf(impu, sizeof(impu), "sip:alias%d@x", i);
        r.impu = impu;
        ims_timeline_record(tl, &r);
    }
    assert_ptr_equal(ims_timeline_find(tl, "sip:alias0@x"), h.sub);
    assert_null(ims_timeline_find(tl, "sip:alias19@x"));
    ims_timeline_set_listener(tl, NULL, NULL);
    rec_simple(tl, IMPI, NULL, 1);
    assert_int_equal(h.calls, 22);
    json_t *arr = ims_timeline_entries(tl, IMPI, 3);
    assert_int_equal(json_array_size(arr), 3);
    json_decref(arr);
    ims_timeline_free(tl);
}

static void test_options(void **state)
{
    ims_timeline_t *tl = NULL;
    ims_timeline_opts_t o = {.per_subscriber = 10, .total = 5};
    assert_int_equal(ims_timeline_new(&o, &tl), EINVAL);
    o = (ims_timeline_opts_t){.disabled = true};
    assert_int_equal(ims_timeline_new(&o, &tl), 0);
    ims_tl_record_t r = {.impu = IMPU, .details = json_object()}; /* details freed anyway */
    assert_int_equal(ims_timeline_record(tl, &r), 0);
    assert_null(ims_timeline_find(tl, IMPU));
    ims_timeline_free(tl);
}

static void test_hint_table(void **state)
{
    for (int h = 1; h < IMS_HINT_COUNT; h++) {
        const ims_hint_row_t *row = ims_hint_row((ims_hint_t)h);
        assert_non_null(row);
        assert_int_equal(row->hint, h);
        assert_true(strlen(row->id) > 2);
        assert_true(strlen(row->text) > 10);
        assert_int_equal(ims_hint_by_id(row->id), h);
        for (int k = 1; k < h; k++)
            assert_string_not_equal(ims_hint_row((ims_hint_t)k)->id, row->id);
    }
    assert_null(ims_hint_row(IMS_HINT_NONE));
    assert_null(ims_hint_row(IMS_HINT_COUNT));
    assert_int_equal(ims_hint_by_id("nope"), IMS_HINT_NONE);
    char out[32];
    size_t n = ims_hint_format(IMS_HINT_RES_MISMATCH, "x", out, sizeof(out));
    assert_int_equal(n, strlen(out));
    assert_int_equal(strlen(out), sizeof(out) - 1); /* cut to fit */
    ims_hint_format(IMS_HINT_NONE, "only detail", out, sizeof(out));
    assert_string_equal(out, "only detail");
    /* The causes the issue names each have a row. */
    const char *ids[] = {"res_mismatch",       "aka_resync",          "digest_password",
                         "digest_uri",         "digest_realm",        "stale_nonce",
                         "nc_replay",          "no_answer_401",       "foreign_domain",
                         "expires_too_brief",  "barred_impu",         "hss_unreachable",
                         "sec_verify_missing", "sec_verify_mismatch", "esp_unknown_spi",
                         "esp_icv_failed",     "fault_fired"};
    for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++)
        assert_int_not_equal(ims_hint_by_id(ids[i]), IMS_HINT_NONE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_entry_shape),          cmocka_unit_test(test_per_subscriber_bound),
        cmocka_unit_test(test_total_bound),          cmocka_unit_test(test_byte_bound),
        cmocka_unit_test(test_listener_and_aliases), cmocka_unit_test(test_options),
        cmocka_unit_test(test_hint_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
