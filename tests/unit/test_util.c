/* Unit tests for common/src/util.c: hex and base64 codecs (RFC 4648 vectors, padding,
 * bad input), randomness, constant-time compare, host:port parsing and the clocks. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "ims/util.h"

static void test_hex_encode(void **state)
{
    const uint8_t in[] = {0x00, 0x01, 0xab, 0xcd, 0xef, 0xff};
    char out[13];
    memset(out, 'Z', sizeof(out));
    ims_hex_encode(in, sizeof(in), out);
    assert_string_equal(out, "0001abcdefff");
    ims_hex_encode(in, 0, out);
    assert_string_equal(out, "");
}

static void test_hex_decode(void **state)
{
    uint8_t out[6];
    assert_int_equal(ims_hex_decode("0001ABcdEFff", out, 6), 0);
    const uint8_t want[] = {0x00, 0x01, 0xab, 0xcd, 0xef, 0xff};
    assert_memory_equal(out, want, 6);
    assert_int_equal(ims_hex_decode("", out, 0), 0);

    /* A failed decode leaves the output untouched. */
    memset(out, 0x5a, sizeof(out));
    static const char *const bad[] = {
        "0001abcdeff",                    /* too short */
        "0001abcdefff0",                  /* too long */
        "0001abcdefff00", "0001abcdefgf", /* not hex */
        "0001abcd efff",  "0x01abcdefff", "",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(ims_hex_decode(bad[i], out, 6), EINVAL);
    for (int i = 0; i < 6; i++)
        assert_int_equal(out[i], 0x5a);
    assert_int_equal(ims_hex_decode(NULL, out, 6), EINVAL);

    /* Round trip over every byte value. */
    uint8_t all[256], back[256];
    char text[513];
    for (int i = 0; i < 256; i++)
        all[i] = (uint8_t)i;
    ims_hex_encode(all, 256, text);
    assert_int_equal(ims_hex_decode(text, back, 256), 0);
    assert_memory_equal(all, back, 256);
}

/* RFC 4648 §10 test vectors cover 0, 1 and 2 padding characters. */
static const struct {
    const char *raw, *b64;
} rfc4648[] = {
    {"", ""},
    {"f", "Zg=="},
    {"fo", "Zm8="},
    {"foo", "Zm9v"},
    {"foob", "Zm9vYg=="},
    {"fooba", "Zm9vYmE="},
    {"foobar", "Zm9vYmFy"},
};

static void test_base64_vectors(void **state)
{
    for (size_t i = 0; i < sizeof(rfc4648) / sizeof(rfc4648[0]); i++) {
        char enc[16];
        uint8_t dec[16];
        size_t n = 99;
        size_t len = strlen(rfc4648[i].raw);
        assert_int_equal(ims_base64_encode((const uint8_t *)rfc4648[i].raw, len, enc),
                         strlen(rfc4648[i].b64));
        assert_string_equal(enc, rfc4648[i].b64);
        assert_int_equal(ims_base64_decode(rfc4648[i].b64, dec, sizeof(dec), &n), 0);
        assert_int_equal(n, len);
        assert_memory_equal(dec, rfc4648[i].raw, len);
    }
    /* Both alphabet ends: 0xfb 0xff 0xbf -> "+/+/". */
    const uint8_t hi[] = {0xfb, 0xef, 0xbe, 0xff, 0xff, 0xff};
    char enc[9];
    uint8_t dec[6];
    size_t n;
    ims_base64_encode(hi, 6, enc);
    assert_string_equal(enc, "++++////");
    assert_int_equal(ims_base64_decode(enc, dec, sizeof(dec), &n), 0);
    assert_int_equal(n, 6);
    assert_memory_equal(dec, hi, 6);
}

static void test_base64_rejects(void **state)
{
    uint8_t out[32];
    size_t n;
    static const char *const bad[] = {
        "Zg",               /* padding missing */
        "Zg=",              /* padding short */
        "Zm8",              /* padding missing */
        "Zm9vY",            /* length not a multiple of 4 */
        "Zg==Zg==",         /* data after padding */
        "Zm8=Zm9v",         /* data after padding */
        "Z===",             /* too much padding */
        "====",             /* only padding */
        "Zg=a",             /* padding in the middle */
        "Zm9v\n",           /* whitespace */
        "Zm 9v",    "Zm9-", /* URL-safe alphabet is not standard base64 */
        "Zm9_",     "Zh==", /* non-zero bits under the padding: non-canonical */
        "Zm9=",     "Zm\x80v",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int rc = ims_base64_decode(bad[i], out, sizeof(out), &n);
        if (rc != EINVAL)
            fail_msg("input %zu `%s`: got %d, want EINVAL", i, bad[i], rc);
    }
    assert_int_equal(ims_base64_decode(NULL, out, sizeof(out), &n), EINVAL);
}

static void test_base64_capacity(void **state)
{
    uint8_t out[6];
    size_t n = 0;
    assert_int_equal(ims_base64_decode("Zm9vYmFy", out, 6, &n), 0);
    assert_int_equal(n, 6);
    assert_int_equal(ims_base64_decode("Zm9vYmFy", out, 5, &n), E2BIG);
    assert_int_equal(ims_base64_decode("Zm9vYmE=", out, 4, &n), E2BIG);
    assert_int_equal(ims_base64_decode("Zm9vYmE=", out, 5, &n), 0);
    assert_int_equal(n, 5);
    assert_int_equal(ims_base64_decode("", out, 0, &n), 0);
    assert_int_equal(n, 0);

    /* Random round trips of every length up to 100 bytes. */
    for (size_t len = 0; len <= 100; len++) {
        uint8_t raw[100], back[100];
        char text[140];
        assert_int_equal(ims_random_bytes(raw, len), 0);
        size_t tl = ims_base64_encode(raw, len, text);
        assert_int_equal(tl, 4 * ((len + 2) / 3));
        assert_int_equal(strlen(text), tl);
        assert_int_equal(ims_base64_decode(text, back, len, &n), 0);
        assert_int_equal(n, len);
        assert_memory_equal(raw, back, len);
    }
}

static void test_random_bytes(void **state)
{
    uint8_t a[32], b[32], zero[32] = {0};
    assert_int_equal(ims_random_bytes(a, sizeof(a)), 0);
    assert_int_equal(ims_random_bytes(b, sizeof(b)), 0);
    /* 2^-256 chance of a false failure. */
    assert_memory_not_equal(a, b, sizeof(a));
    assert_memory_not_equal(a, zero, sizeof(a));
    assert_int_equal(ims_random_bytes(a, 0), 0);
}

static void test_secure_zero(void **state)
{
    uint8_t key[32];
    memset(key, 0xa5, sizeof key);
    ims_secure_zero(key + 1, 30);
    assert_int_equal(key[0], 0xa5);
    assert_int_equal(key[31], 0xa5);
    for (size_t i = 1; i < 31; i++)
        assert_int_equal(key[i], 0);
    ims_secure_zero(NULL, 0); /* nothing to wipe is fine */
}

static void test_ct_streq(void **state)
{
    assert_true(
        ims_ct_streq("1038f0a088f300476ffffef5474a2c96", "1038f0a088f300476ffffef5474a2c96"));
    assert_false(
        ims_ct_streq("1038f0a088f300476ffffef5474a2c96", "1038f0a088f300476ffffef5474a2c97"));
    assert_false(ims_ct_streq("abc", "abcd"));
    assert_false(ims_ct_streq("abcd", "abc"));
    assert_false(ims_ct_streq("abc", "ABC"));
    assert_true(ims_ct_streq("", ""));
    assert_false(ims_ct_streq("", "a"));
    assert_false(ims_ct_streq(NULL, "a"));
    assert_false(ims_ct_streq("a", NULL));
    assert_false(ims_ct_streq(NULL, NULL));
}

static void check_hp(const char *text, uint16_t defport, const char *host, uint16_t port)
{
    char h[64];
    uint16_t p = 0;
    int rc = ims_parse_hostport(text, h, sizeof(h), &p, defport);
    if (rc != 0)
        fail_msg("`%s`: got %d, want 0", text, rc);
    assert_string_equal(h, host);
    assert_int_equal(p, port);
}

static void test_hostport_good(void **state)
{
    check_hp("127.0.0.1:6060", 5060, "127.0.0.1", 6060);
    check_hp("127.0.0.1", 5060, "127.0.0.1", 5060);
    check_hp("[::1]:5070", 5060, "::1", 5070);
    check_hp("[::1]", 5060, "::1", 5060);
    check_hp("[fe80::1%lo]:1", 5060, "fe80::1%lo", 1);
    check_hp("[::ffff:127.0.0.1]:65535", 5060, "::ffff:127.0.0.1", 65535);
    check_hp("::1", 8080, "::1", 8080); /* bare IPv6: no port possible */
    check_hp("pcscf.ims.mnc011.mcc432.3gppnetwork.org:5060", 1,
             "pcscf.ims.mnc011.mcc432.3gppnetwork.org", 5060);
    check_hp("localhost", 8080, "localhost", 8080);
    check_hp("my_host-1:00080", 1, "my_host-1", 80);
}

static void test_hostport_bad(void **state)
{
    static const char *const bad[] = {
        "",
        "127.0.0.1:",
        "127.0.0.1:0",
        "127.0.0.1:65536",
        "127.0.0.1:99999",
        "127.0.0.1:-1",
        "127.0.0.1:+80",
        "127.0.0.1:8a",
        "127.0.0.1: 80",
        "127.0.0.1:123456",
        ":5060",
        "[::1",
        "[::1]:",
        "[::1]x",
        "[::1]:0",
        "[]:5060",
        "[127.0.0.1]:80",
        "[::1]]:80",
        "host name:80",
        "host/x:80",
        "[::g]:80",
        "a:b:c:d:80x]",
        "foo:bar:baz",
        "[::1%]:80",
        "[%lo]:80",
    };
    char h[64];
    uint16_t p = 4242;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int rc = ims_parse_hostport(bad[i], h, sizeof(h), &p, 5060);
        if (rc != EINVAL)
            fail_msg("`%s`: got %d, want EINVAL", bad[i], rc);
    }
    assert_int_equal(p, 4242);
    assert_int_equal(ims_parse_hostport(NULL, h, sizeof(h), &p, 5060), EINVAL);
    /* Host longer than the buffer. */
    char small[4];
    assert_int_equal(ims_parse_hostport("abcd:80", small, sizeof(small), &p, 5060), EINVAL);
    assert_int_equal(ims_parse_hostport("abc:80", small, sizeof(small), &p, 5060), 0);
    assert_string_equal(small, "abc");
}

static void test_clocks(void **state)
{
    uint64_t a = ims_now_ms();
    struct timespec ts = {0, 20 * 1000 * 1000};
    nanosleep(&ts, NULL);
    uint64_t b = ims_now_ms();
    /* Monotonic and in milliseconds: a 20 ms sleep advances it by at least 20. */
    assert_true(b >= a + 20);
    int64_t w = ims_wall_s();
    int64_t t = (int64_t)time(NULL);
    assert_true(w >= t - 1 && w <= t + 1);
}

static void test_url_decode(void **state)
{
    (void)state;
    char out[32];
    assert_int_equal(ims_url_decode("sip%3A98098765432100%40ims.example", out, sizeof(out)), 0);
    assert_string_equal(out, "sip:98098765432100@ims.example");
    assert_int_equal(ims_url_decode("tel:+4930%2f1", out, sizeof(out)), 0);
    assert_string_equal(out, "tel:+4930/1"); /* '+' stays, lower-case hex decodes */
    assert_int_equal(ims_url_decode("", out, sizeof(out)), 0);
    assert_string_equal(out, "");
    const char *bad[] = {"%", "%4", "%4g", "a%zz", "x%00y"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(ims_url_decode(bad[i], out, sizeof(out)), EINVAL);
    assert_int_equal(ims_url_decode("abcd", out, 4), E2BIG);
    assert_int_equal(ims_url_decode("abc", out, 4), 0);
    assert_int_equal(ims_url_decode("a", out, 0), E2BIG);
}

static void test_imsi_from_impi(void **state)
{
    char out[16];
    assert_true(ims_imsi_from_impi("432011123456791@ims.mnc011.mcc432.3gppnetwork.org", out));
    assert_string_equal(out, "432011123456791");
    assert_true(ims_imsi_from_impi("12345@x", out));
    assert_string_equal(out, "12345");
    assert_false(ims_imsi_from_impi("1234@x", out));             /* too short */
    assert_false(ims_imsi_from_impi("1234567890123456@x", out)); /* too long */
    assert_false(ims_imsi_from_impi("alice@x", out));
    assert_false(ims_imsi_from_impi("43201112345679a@x", out));
    assert_false(ims_imsi_from_impi("432011123456791", out)); /* no realm */
    assert_false(ims_imsi_from_impi(NULL, out));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hex_encode),      cmocka_unit_test(test_hex_decode),
        cmocka_unit_test(test_base64_vectors),  cmocka_unit_test(test_base64_rejects),
        cmocka_unit_test(test_base64_capacity), cmocka_unit_test(test_random_bytes),
        cmocka_unit_test(test_secure_zero),     cmocka_unit_test(test_ct_streq),
        cmocka_unit_test(test_hostport_good),   cmocka_unit_test(test_hostport_bad),
        cmocka_unit_test(test_clocks),          cmocka_unit_test(test_url_decode),
        cmocka_unit_test(test_imsi_from_impi),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
