/* Unit tests for common/src/digest.c: RFC 2617 / RFC 7616 / reference-capture vectors and
 * the Digest parameter parser on real headers (MicroSIP, SIPp, Asterisk) and hostile input. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ims/digest.h"

static void check_response(const char *user, const char *realm, const char *pass,
                           const char *method, const char *uri, const char *nonce, const char *nc,
                           const char *cnonce, const char *qop, const char *want)
{
    char ha1[33], ha2[33], resp[33];
    ims_digest_ha1(user, realm, pass, ha1);
    ims_digest_ha2(method, uri, ha2);
    ims_digest_response(ha1, nonce, nc, cnonce, qop, ha2, resp);
    assert_string_equal(resp, want);
}

/* RFC 2617 §3.5. */
static void test_rfc2617_vector(void **state)
{
    char ha1[33], ha2[33];
    ims_digest_ha1("Mufasa", "testrealm@host.com", "Circle Of Life", ha1);
    ims_digest_ha2("GET", "/dir/index.html", ha2);
    assert_string_equal(ha1, "939e7578ed9e3c518a452acee763bce9");
    assert_string_equal(ha2, "39aff3a2bab6126f332b942af96d3366");
    check_response("Mufasa", "testrealm@host.com", "Circle Of Life", "GET", "/dir/index.html",
                   "dcd98b7102dd2f0e8b11d0f600bfb0c093", "00000001", "0a4f113b", "auth",
                   "6629fae49393a05397450978507c4ef1");
}

/* RFC 7616 §3.9.1, the MD5 variant. */
static void test_rfc7616_vector(void **state)
{
    check_response("Mufasa", "http-auth@example.org", "Circle of Life", "GET", "/dir/index.html",
                   "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", "00000001",
                   "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ", "auth",
                   "8ca523f5e9506fed4657c9700eebdbec");
}

/* The MicroSIP -> Kamailio capture in /work/shared/reference (password 1234). */
static void test_capture_vector(void **state)
{
    check_response("432011123456791", "ims.mnc011.mcc432.3gppnetwork.org", "1234", "REGISTER",
                   "sip:ims.mnc011.mcc432.3gppnetwork.org", "9141ed3a3de48a878ba1467f9cfa0a88",
                   "00000001", "47d4310d6e964d93b723b70941dd05a2", "auth",
                   "1038f0a088f300476ffffef5474a2c96");
}

/* No qop (RFC 2069 compatibility): MD5(HA1:nonce:HA2). Expected values computed with
 *   printf '%s' 'HA1:nonce:HA2' | md5sum   (and Python hashlib, same result). */
static void test_no_qop(void **state)
{
    check_response("Mufasa", "testrealm@host.com", "Circle Of Life", "GET", "/dir/index.html",
                   "dcd98b7102dd2f0e8b11d0f600bfb0c093", NULL, NULL, NULL,
                   "670fd8c2df070c60b045671b8b24ff02");
    check_response("432011123456791", "ims.mnc011.mcc432.3gppnetwork.org", "1234", "REGISTER",
                   "sip:ims.mnc011.mcc432.3gppnetwork.org", "9141ed3a3de48a878ba1467f9cfa0a88",
                   "00000001", "47d4310d6e964d93b723b70941dd05a2", "",
                   "04567177fe87b87deab7ce118febe961");
}

/* HA1 from a binary password equals HA1 from the same bytes as a string, and embedded
 * zero bytes are hashed, not treated as a terminator. */
static void test_ha1_bin(void **state)
{
    char a[33], b[33];
    ims_digest_ha1("Mufasa", "testrealm@host.com", "Circle Of Life", a);
    ims_digest_ha1_bin("Mufasa", "testrealm@host.com", (const uint8_t *)"Circle Of Life", 14, b);
    assert_string_equal(a, b);
    const uint8_t res[8] = {0xa5, 0x42, 0x00, 0xd5, 0xe3, 0xba, 0x50, 0xbf};
    char c[33], d[33];
    ims_digest_ha1_bin("u", "r", res, 8, c);
    ims_digest_ha1_bin("u", "r", res, 2, d);
    assert_int_equal(strlen(c), 32);
    assert_string_not_equal(c, d);
}

/* The capture's Authorization header. Wireshark truncated the text line; the fields it
 * decoded below it (algorithm, cnonce, qop, nc) are restored in PJSIP's order. */
static const char capture_auth[] =
    "Digest username=\"432011123456791\", realm=\"ims.mnc011.mcc432.3gppnetwork.org\", "
    "nonce=\"9141ed3a3de48a878ba1467f9cfa0a88\", uri=\"sip:ims.mnc011.mcc432.3gppnetwork.org\", "
    "response=\"1038f0a088f300476ffffef5474a2c96\", algorithm=MD5, "
    "cnonce=\"47d4310d6e964d93b723b70941dd05a2\", qop=auth, nc=00000001";

static void test_parse_capture(void **state)
{
    ims_digest_params_t p;
    assert_int_equal(ims_digest_parse(capture_auth, &p), 0);
    assert_string_equal(p.username, "432011123456791");
    assert_string_equal(p.realm, "ims.mnc011.mcc432.3gppnetwork.org");
    assert_string_equal(p.nonce, "9141ed3a3de48a878ba1467f9cfa0a88");
    assert_string_equal(p.uri, "sip:ims.mnc011.mcc432.3gppnetwork.org");
    assert_string_equal(p.response, "1038f0a088f300476ffffef5474a2c96");
    assert_string_equal(p.algorithm, "MD5");
    assert_string_equal(p.cnonce, "47d4310d6e964d93b723b70941dd05a2");
    assert_string_equal(p.qop, "auth");
    assert_string_equal(p.nc, "00000001");
    assert_null(p.opaque);
    assert_null(p.auts);
    assert_null(p.stale);
    assert_null(p.domain);

    /* End to end: the parsed fields reproduce the response. */
    char ha1[33], ha2[33], resp[33];
    ims_digest_ha1(p.username, p.realm, "1234", ha1);
    ims_digest_ha2("REGISTER", p.uri, ha2);
    ims_digest_response(ha1, p.nonce, p.nc, p.cnonce, p.qop, ha2, resp);
    assert_string_equal(resp, p.response);

    /* And the capture's challenge. */
    assert_int_equal(ims_digest_parse("Digest realm=\"ims.mnc011.mcc432.3gppnetwork.org\", "
                                      "nonce=\"9141ed3a3de48a878ba1467f9cfa0a88\", "
                                      "algorithm=MD5, qop=\"auth\"",
                                      &p),
                     0);
    assert_string_equal(p.realm, "ims.mnc011.mcc432.3gppnetwork.org");
    assert_string_equal(p.qop, "auth");
    assert_null(p.username);
    assert_null(p.response);
}

/* SIPp's [authentication] writes no spaces after commas and leaves qop/nc unquoted. */
static void test_parse_sipp(void **state)
{
    ims_digest_params_t p;
    const char *v = "Digest username=\"432011123456791\",realm=\"ims.example.org\","
                    "cnonce=\"6b8b4567\",nc=00000001,qop=auth,uri=\"sip:127.0.0.1:6060\","
                    "nonce=\"abc\",response=\"0123456789abcdef0123456789abcdef\",algorithm=MD5";
    assert_int_equal(ims_digest_parse(v, &p), 0);
    assert_string_equal(p.username, "432011123456791");
    assert_string_equal(p.realm, "ims.example.org");
    assert_string_equal(p.cnonce, "6b8b4567");
    assert_string_equal(p.nc, "00000001");
    assert_string_equal(p.qop, "auth");
    assert_string_equal(p.uri, "sip:127.0.0.1:6060");
    assert_string_equal(p.nonce, "abc");
    assert_string_equal(p.response, "0123456789abcdef0123456789abcdef");
    assert_string_equal(p.algorithm, "MD5");

    /* AKA resync: auts plus an AKA algorithm, as SIPp sends them. */
    assert_int_equal(ims_digest_parse("Digest username=\"u@d\",realm=\"d\",nonce=\"n=\","
                                      "uri=\"sip:d\",response=\"\",algorithm=AKAv1-MD5,"
                                      "auts=\"RR/7Xc3a9+Xa0A==\"",
                                      &p),
                     0);
    assert_string_equal(p.algorithm, "AKAv1-MD5");
    assert_string_equal(p.auts, "RR/7Xc3a9+Xa0A==");
    assert_string_equal(p.response, "");
    assert_string_equal(p.nonce, "n=");
}

/* Captured verbatim from sipp 3.6.1 (`[authentication]`, -au user1 -ap secret -auth_uri
 * ims.example.org) answering `Digest realm="ims.example.org", nonce="abcdef0123",
 * algorithm=MD5, qop="auth"` on this machine; the response must reproduce. */
static void test_parse_sipp_real(void **state)
{
    ims_digest_params_t p;
    const char *v = "Digest username=\"user1\",realm=\"ims.example.org\",cnonce=\"6b8b4567\","
                    "nc=00000001,qop=auth,uri=\"sip:ims.example.org\",nonce=\"abcdef0123\","
                    "response=\"ab59b942e873b5727a8bef229d7619db\",algorithm=MD5";
    char ha1[33], ha2[33], resp[33];
    assert_int_equal(ims_digest_parse(v, &p), 0);
    ims_digest_ha1(p.username, p.realm, "secret", ha1);
    ims_digest_ha2("REGISTER", p.uri, ha2);
    ims_digest_response(ha1, p.nonce, p.nc, p.cnonce, p.qop, ha2, resp);
    assert_string_equal(resp, p.response);
    ims_digest_ha1(p.username, p.realm, "Secret", ha1);
    ims_digest_response(ha1, p.nonce, p.nc, p.cnonce, p.qop, ha2, resp);
    assert_string_not_equal(resp, p.response);
}

/* The Asterisk textbook flow: `reponse=` is merely an unknown parameter, so the caller
 * sees response == NULL and answers 400; `realm='asterisk"` is refused (EINVAL): an
 * unquoted token may contain an apostrophe, but the stray `"` after it is bad syntax. */
static void test_parse_asterisk_flaws(void **state)
{
    ims_digest_params_t p;
    assert_int_equal(ims_digest_parse("Digest uri=\"sip:192.168.172.254;transport=udp\","
                                      "realm=\"asterisk\",username=\"441\",nonce=\"60f6cdd2\","
                                      "algorithm=MD5,reponse=\"2f151a5627fc61af00eb47edf20a7257\"",
                                      &p),
                     0);
    assert_null(p.response);
    assert_string_equal(p.username, "441");
    assert_string_equal(p.uri, "sip:192.168.172.254;transport=udp");
    assert_string_equal(p.realm, "asterisk");

    assert_int_equal(
        ims_digest_parse("Digest realm='asterisk\",nonce=\"60f6cdd2\",algorithm=MD5", &p), EINVAL);
    /* Apostrophes alone are legal token characters. */
    assert_int_equal(ims_digest_parse("Digest realm='asterisk',nonce=\"60f6cdd2\"", &p), 0);
    assert_string_equal(p.realm, "'asterisk'");
}

static void test_parse_scheme(void **state)
{
    ims_digest_params_t p;
    assert_int_equal(ims_digest_parse("digest realm=\"r\"", &p), 0);
    assert_string_equal(p.realm, "r");
    assert_int_equal(ims_digest_parse("  DIGEST\trealm=r", &p), 0);
    assert_string_equal(p.realm, "r");
    assert_int_equal(ims_digest_parse("Digest", &p), 0);
    assert_null(p.realm);
    assert_int_equal(ims_digest_parse("Basic dXNlcjpwYXNz", &p), EINVAL);
    assert_int_equal(ims_digest_parse("Digestrealm=\"r\"", &p), EINVAL);
    assert_int_equal(ims_digest_parse("Digest,realm=\"r\"", &p), EINVAL);
    assert_int_equal(ims_digest_parse("Dig", &p), EINVAL);
    assert_int_equal(ims_digest_parse("", &p), EINVAL);
    assert_int_equal(ims_digest_parse(NULL, &p), EINVAL);
    assert_int_equal(ims_digest_parse("Digest realm=r", NULL), EINVAL);
}

static void test_parse_whitespace_and_case(void **state)
{
    ims_digest_params_t p;
    assert_int_equal(ims_digest_parse("Digest  USERNAME = \"a\" ,Realm=\"b\",,  , NONCE=c , ", &p),
                     0);
    assert_string_equal(p.username, "a");
    assert_string_equal(p.realm, "b");
    assert_string_equal(p.nonce, "c");
    /* Folded header with CRLF + space, as an unfolding-less caller would pass it. */
    assert_int_equal(ims_digest_parse("Digest username=\"a\",\r\n realm=\"b\"", &p), 0);
    assert_string_equal(p.realm, "b");
}

static void test_parse_quoting(void **state)
{
    ims_digest_params_t p;
    /* Backslash escapes are removed; an escaped quote does not end the string. */
    assert_int_equal(ims_digest_parse("Digest username=\"a\\\"b\\\\c\\d\", realm=\"r,s\"", &p), 0);
    assert_string_equal(p.username, "a\"b\\cd");
    assert_string_equal(p.realm, "r,s");
    /* Empty quoted value is present and empty, unlike an absent one. */
    assert_int_equal(ims_digest_parse("Digest response=\"\", realm=\"\"", &p), 0);
    assert_non_null(p.response);
    assert_string_equal(p.response, "");
    assert_string_equal(p.realm, "");
    /* UTF-8 in a quoted string is kept byte for byte. */
    assert_int_equal(ims_digest_parse("Digest username=\"J\xc3\xbcrgen\"", &p), 0);
    assert_string_equal(p.username, "J\xc3\xbcrgen");
}

static void test_parse_rejects(void **state)
{
    ims_digest_params_t p;
    static const char *const bad[] = {
        "Digest username=\"unterminated",
        "Digest username=\"ends with backslash\\",
        "Digest username=\"a\", realm=\"b",
        "Digest username=\"a\" realm=\"b\"",    /* missing comma */
        "Digest username",                      /* no '=' */
        "Digest username=",                     /* no value */
        "Digest username=, realm=\"r\"",        /* empty unquoted value */
        "Digest =\"x\"",                        /* empty name */
        "Digest realm=\"a\"\"b\"",              /* junk after quoted value */
        "Digest realm=a\"b\"",                  /* quote inside a token */
        "Digest realm=a\\b",                    /* backslash outside quotes */
        "Digest realm=\"a\rb\"",                /* control character in a quoted string */
        "Digest realm=\"a\x01\"",               /* control character in a quoted string */
        "Digest realm=a\x7f",                   /* DEL in a token */
        "Digest realm=\xc3\xbc",                /* non-ASCII in a token */
        "Digest re(alm=\"r\"",                  /* separator in a name */
        "Digest username=\"a\",username=\"a\"", /* duplicate, even identical */
        "Digest nc=00000001, NC=00000002",      /* duplicate, differing case */
        "Digest response=\"\",response=\"x\"",  /* duplicate after an empty value */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int rc = ims_digest_parse(bad[i], &p);
        if (rc != EINVAL)
            fail_msg("input %zu `%s`: got %d, want EINVAL", i, bad[i], rc);
    }
    /* Duplicated unknown parameters are skipped like any unknown parameter. */
    assert_int_equal(ims_digest_parse("Digest x-foo=1, x-foo=2, realm=r", &p), 0);
    assert_string_equal(p.realm, "r");
}

/* Odd but legal token characters in unquoted values (base64, URIs, apostrophes). */
static void test_parse_odd_tokens(void **state)
{
    ims_digest_params_t p;
    assert_int_equal(ims_digest_parse("Digest nonce=7ypf/xlj9X+wf==,uri=sip:a@b;x=y,"
                                      "opaque=!#$%&'*+-.^_`|~,stale=TRUE,domain=<sip:a>",
                                      &p),
                     0);
    assert_string_equal(p.nonce, "7ypf/xlj9X+wf==");
    assert_string_equal(p.uri, "sip:a@b;x=y");
    assert_string_equal(p.opaque, "!#$%&'*+-.^_`|~");
    assert_string_equal(p.stale, "TRUE");
    assert_string_equal(p.domain, "<sip:a>");
}

static void test_parse_sizes(void **state)
{
    ims_digest_params_t p;
    const size_t prefix = strlen("Digest realm=\"\"");
    char *v = malloc(IMS_DIGEST_MAX + 64);
    assert_non_null(v);

    /* Exactly IMS_DIGEST_MAX bytes: accepted, and the value survives intact. */
    size_t vlen = IMS_DIGEST_MAX - prefix;
    memcpy(v, "Digest realm=\"", 14);
    memset(v + 14, 'x', vlen);
    strcpy(v + 14 + vlen, "\"");
    assert_int_equal(strlen(v), IMS_DIGEST_MAX);
    assert_int_equal(ims_digest_parse(v, &p), 0);
    assert_int_equal(strlen(p.realm), vlen);

    /* One byte more: E2BIG. */
    memset(v + 14, 'x', vlen + 1);
    strcpy(v + 14 + vlen + 1, "\"");
    assert_int_equal(ims_digest_parse(v, &p), E2BIG);
    free(v);

    /* Many short known parameters fill buf with values and terminators; the longest
     * header of them must still fit. */
    char many[IMS_DIGEST_MAX + 1];
    size_t n = (size_t)snprintf(many, sizeof(many), "Digest ");
    static const char *const names[] = {"username",  "realm",  "nonce",  "uri", "response",
                                        "algorithm", "cnonce", "opaque", "qop", "nc",
                                        "auts",      "stale",  "domain"};
    for (size_t i = 0; i < 13; i++)
        n += (size_t)snprintf(many + n, sizeof(many) - n, "%s=\"%0*d\",", names[i], 290, 0);
    assert_true(n <= IMS_DIGEST_MAX);
    assert_int_equal(ims_digest_parse(many, &p), 0);
    assert_int_equal(strlen(p.domain), 290);
    assert_int_equal(strlen(p.username), 290);
}

/* A huge input is rejected after at most IMS_DIGEST_MAX + 1 reads; the input here is an
 * exactly sized heap block with no terminator beyond that bound, so ASan proves it. */
static void test_parse_bounded_read(void **state)
{
    ims_digest_params_t p;
    size_t len = IMS_DIGEST_MAX + 1;
    char *v = malloc(len);
    assert_non_null(v);
    memcpy(v, "Digest realm=\"", 14);
    memset(v + 14, 'y', len - 14);
    assert_int_equal(ims_digest_parse(v, &p), E2BIG);
    free(v);
}

static void test_nc_parse(void **state)
{
    uint32_t v = 0;
    assert_int_equal(ims_digest_nc_parse("00000001", &v), 0);
    assert_int_equal(v, 1);
    assert_int_equal(ims_digest_nc_parse("0000000a", &v), 0);
    assert_int_equal(v, 10);
    assert_int_equal(ims_digest_nc_parse("FFFFFFFF", &v), 0);
    assert_int_equal(v, 0xffffffffu);
    v = 77;
    assert_int_equal(ims_digest_nc_parse("0000001", &v), EINVAL);
    assert_int_equal(ims_digest_nc_parse("000000001", &v), EINVAL);
    assert_int_equal(ims_digest_nc_parse("0000000g", &v), EINVAL);
    assert_int_equal(ims_digest_nc_parse(" 0000001", &v), EINVAL);
    assert_int_equal(ims_digest_nc_parse("", &v), EINVAL);
    assert_int_equal(ims_digest_nc_parse(NULL, &v), EINVAL);
    assert_int_equal(v, 77);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc2617_vector),
        cmocka_unit_test(test_rfc7616_vector),
        cmocka_unit_test(test_capture_vector),
        cmocka_unit_test(test_no_qop),
        cmocka_unit_test(test_ha1_bin),
        cmocka_unit_test(test_parse_capture),
        cmocka_unit_test(test_parse_sipp),
        cmocka_unit_test(test_parse_sipp_real),
        cmocka_unit_test(test_parse_asterisk_flaws),
        cmocka_unit_test(test_parse_scheme),
        cmocka_unit_test(test_parse_whitespace_and_case),
        cmocka_unit_test(test_parse_quoting),
        cmocka_unit_test(test_parse_rejects),
        cmocka_unit_test(test_parse_odd_tokens),
        cmocka_unit_test(test_parse_sizes),
        cmocka_unit_test(test_parse_bounded_read),
        cmocka_unit_test(test_nc_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
