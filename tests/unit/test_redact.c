/* Unit tests for common/src/redact.c: no key, password or credential survives in any
 * spelling the SIP grammar allows, and everything else is kept as it was. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "ims/redact.h"

static char *red(const char *in)
{
    size_t n = 0;
    char *out = ims_redact_sip(in, strlen(in), 0, &n);
    assert_non_null(out);
    assert_int_equal(n, strlen(out));
    return out;
}

static void assert_gone(const char *in, const char *secret)
{
    char *out = red(in);
    if (strstr(out, secret))
        fail_msg("secret '%s' survived in:\n%s", secret, out);
    assert_non_null(strstr(out, IMS_REDACTED));
    free(out);
}

/* The 401 the S-CSCF sends to the P-CSCF for an AKA subscriber. */
static const char aka401[] =
    "SIP/2.0 401 Unauthorized - Challenging the UE\r\n"
    "Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK1\r\n"
    "To: <sip:001010000000001@ims.example>;tag=x\r\n"
    "WWW-Authenticate: Digest realm=\"ims.example\", "
    "nonce=\"3q2+7wABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhscHR4f\", algorithm=AKAv1-MD5, "
    "qop=\"auth\", ck=\"00112233445566778899aabbccddeeff\", "
    "ik=\"ffeeddccbbaa99887766554433221100\"\r\n"
    "Content-Length: 0\r\n\r\n";

static void test_aka_challenge(void **state)
{
    char *out = red(aka401);
    assert_null(strstr(out, "00112233445566778899aabbccddeeff"));
    assert_null(strstr(out, "ffeeddccbbaa99887766554433221100"));
    assert_non_null(strstr(out, "ck=\"" IMS_REDACTED "\""));
    assert_non_null(strstr(out, "ik=\"" IMS_REDACTED "\""));
    /* What a tester needs stays. */
    assert_non_null(strstr(out, "nonce=\"3q2+7wABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhscHR4f\""));
    assert_non_null(strstr(out, "realm=\"ims.example\""));
    assert_non_null(strstr(out, "algorithm=AKAv1-MD5"));
    assert_non_null(strstr(out, "SIP/2.0 401 Unauthorized - Challenging the UE\r\n"));
    assert_non_null(strstr(out, "\r\nContent-Length: 0\r\n\r\n"));
    free(out);
}

static void test_spellings(void **state)
{
    /* Case, spaces around '=', tokens, line folding, other delimiters, other headers. */
    assert_gone("X: Digest CK=S3CR3T1\r\n", "S3CR3T1");
    assert_gone("X: Digest ck = \"S3CR3T2\"\r\n", "S3CR3T2");
    assert_gone("X: Digest a=b,\r\n ck=\r\n\t\"S3CR3T3\"\r\n", "S3CR3T3");
    assert_gone("X: a=1;ik=S3CR3T4;b=2\r\n", "S3CR3T4");
    assert_gone("X: a=1,ik=S3CR3T5,b=2\r\n", "S3CR3T5");
    assert_gone("Proxy-Authenticate: Digest ck=S3CR3T6\r\n", "S3CR3T6");
    assert_gone("REGISTER sip:ims.example;ck=S3CR3T7 SIP/2.0\r\n", "S3CR3T7");
    assert_gone("X: ck=S3CR3T8", "S3CR3T8");           /* at the very end, no line break */
    assert_gone("X: y\n ik=\"S3CR3T9\"\n", "S3CR3T9"); /* bare LF line ends */
    static const char *const names[] = {"res", "xres", "password", "passwd", "secret",
                                        "k",   "op",   "opc",      "key",    "RES"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        char in[128];
        snprintf(in, sizeof(in), "X: Digest u=1, %s=\"V4LUE%zu\"\r\n", names[i], i);
        char secret[16];
        snprintf(secret, sizeof(secret), "V4LUE%zu", i);
        assert_gone(in, secret);
    }
}

static void test_quoting(void **state)
{
    /* An escaped quote does not end the value early. */
    char *out = red("X: ck=\"ab\\\"TAILSECRET\", qop=auth\r\n");
    assert_null(strstr(out, "TAILSECRET"));
    assert_non_null(strstr(out, "qop=auth"));
    free(out);
    /* Many quoted secrets on one long line: each value ends at its own quote. */
    size_t big = 40000 * 9 + 16;
    char *many = malloc(big);
    size_t k = (size_t)sprintf(many, "X: ");
    for (int i = 0; i < 40000; i++)
        k += (size_t)sprintf(many + k, "ck=\"SQ\", ");
    size_t n = 0;
    char *copy = ims_redact_sip(many, k, 0, &n);
    assert_non_null(copy);
    assert_int_equal(n, strlen(copy));
    assert_null(strstr(copy, "SQ"));
    free(copy);
    free(many);
    /* An unterminated quote is redacted to the end of its header, the next one stays. */
    out = red("X: ck=\"NOEND secret more\r\nVia: SIP/2.0/UDP h\r\n\r\n");
    assert_null(strstr(out, "NOEND"));
    assert_null(strstr(out, "more"));
    assert_non_null(strstr(out, "\r\nVia: SIP/2.0/UDP h\r\n\r\n"));
    free(out);
}

static void test_digest_kept(void **state)
{
    const char *in = "Authorization: Digest username=\"001010000000001@ims.example\", "
                     "realm=\"ims.example\", nonce=\"abc\", uri=\"sip:ims.example\", "
                     "response=\"6629fae49393a05397450978507c4ef1\", algorithm=AKAv1-MD5, "
                     "cnonce=\"0a4f113b\", nc=00000001, qop=auth, auts=\"AAECAwQFBgcICQoLDA0=\", "
                     "opaque=\"5ccc069c\"\r\n";
    char *out = red(in);
    assert_string_equal(out, in); /* nothing here is a secret */
    free(out);
    /* Names that merely start like a secret are not secrets. */
    const char *in2 = "X: opaque=1;response=2;keep=3;kx=4;cknonce=5;nextnonce=6;secretary=7\r\n";
    out = red(in2);
    assert_string_equal(out, in2);
    free(out);
    const char *sec = "Security-Client: ipsec-3gpp;alg=hmac-sha-1-96;ealg=aes-cbc;spi-c=1111;"
                      "spi-s=2222;port-c=5062;port-s=5064\r\n";
    out = red(sec);
    assert_string_equal(out, sec);
    free(out);
}

static void test_credentials(void **state)
{
    assert_gone("Authorization: Basic dXNlcjpodW50ZXIy\r\n\r\n", "dXNlcjpodW50ZXIy");
    assert_gone("proxy-authorization:Bearer eyJhbGciOi.TOKEN\r\n", "eyJhbGciOi");
    assert_gone("Authorization: Basic\r\n  dXNlcjpGT0xERUQ=\r\nVia: x\r\n", "dXNlcjpGT0xERUQ");
    char *out = red("Authorization: Basic dXNlcjpodW50ZXIy\r\nVia: x\r\n");
    assert_string_equal(out, "Authorization: Basic " IMS_REDACTED "\r\nVia: x\r\n");
    free(out);
}

static void test_body_keys(void **state)
{
    const char *in = "INVITE sip:b@ims.example SIP/2.0\r\nContent-Type: application/sdp\r\n\r\n"
                     "v=0\r\nk=clear:SDPKEYSECRET\r\n"
                     "a=crypto:1 AES_CM_128_HMAC_SHA1_80 "
                     "inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVzcyAoc2|2^20|1:32\r\n"
                     "a=key-mgmt:mikey AQAFgM0XflABAAAAAAAAAAAAAAsAyO3jm7DoLrw\r\n"
                     "m=audio 4000 RTP/AVP 0\r\n";
    char *out = red(in);
    assert_null(strstr(out, "SDPKEYSECRET"));
    assert_null(strstr(out, "WVNfX19zZW1jdGwg"));
    assert_null(strstr(out, "AQAFgM0XflABAAAA"));
    assert_non_null(strstr(out, "|2^20|1:32")); /* lifetime and MKI are not the key */
    assert_non_null(strstr(out, "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:" IMS_REDACTED));
    assert_non_null(strstr(out, "m=audio 4000 RTP/AVP 0\r\n"));
    free(out);
}

static void test_text_safety(void **state)
{
    const char in[] = "X: caf\xc3\xa9 \x01\x7f \xff\xfe \xc0\xaf \xed\xa0\x80 \xf0\x9f\x98\x80\r\n";
    size_t n;
    char *out = ims_redact_sip(in, sizeof(in) - 1, 0, &n);
    assert_non_null(out);
    assert_string_equal(out, "X: caf\xc3\xa9 ?? ?? ?? ??? \xf0\x9f\x98\x80\r\n");
    json_t *j = json_stringn(out, n);
    assert_non_null(j); /* always a valid JSON string */
    json_decref(j);
    free(out);
    /* Embedded NUL bytes do not end the copy. */
    const char nul[] = "A\0ck=NULSECRET\r\n";
    out = ims_redact_sip(nul, sizeof(nul) - 1, 0, &n);
    assert_int_equal(n, strlen("A?ck=" IMS_REDACTED "\r\n"));
    assert_null(memmem(out, n, "NULSECRET", 9));
    free(out);
    /* A NUL byte between '=' and the value does not end the value (found by fuzz_redact). */
    const char nul2[] = "X: ck=\0\"NULSECRET2\", qop=auth\r\n";
    out = ims_redact_sip(nul2, sizeof(nul2) - 1, 0, &n);
    assert_null(memmem(out, n, "NULSECRET2", 10));
    assert_non_null(strstr(out, "qop=auth"));
    free(out);
    out = ims_redact_sip("", 0, 0, &n);
    assert_string_equal(out, "");
    assert_int_equal(n, 0);
    free(out);
}

static void test_truncation(void **state)
{
    char in[600];
    memset(in, 'a', sizeof(in));
    memcpy(in, "X: ", 3);
    /* The secret straddles the cut: it is redacted before the cut is made. */
    memcpy(in + 90, " ck=CUTSECRETCUTSECRET\r\n", 24);
    size_t n;
    char *out = ims_redact_sip(in, sizeof(in), 100, &n);
    assert_null(strstr(out, "CUTSECRET"));
    assert_true(n <= 100 + 48);
    assert_non_null(strstr(out, "more bytes not kept]"));
    free(out);
    /* A cut never splits a UTF-8 character. */
    char u[64] = "ab";
    for (int i = 0; i < 20; i++)
        strcat(u, "\xc3\xa9");
    out = ims_redact_sip(u, strlen(u), 9, &n);
    json_t *j = json_string(out);
    assert_non_null(j);
    json_decref(j);
    assert_int_equal(strncmp(out, "ab\xc3\xa9\xc3\xa9\xc3\xa9\r\n", 10), 0);
    free(out);
    /* Short enough: untouched, no note. */
    out = ims_redact_sip("X: y\r\n", 6, 6, &n);
    assert_string_equal(out, "X: y\r\n");
    free(out);
}

/* Random messages built from the pieces the grammar allows around a secret parameter:
 * the secret never survives, and the copy is always valid JSON text. */
static void test_random(void **state)
{
    static const char *const seps[] = {" ", ", ", ";", ",", "\r\n ", "\r\n\t", ": ", "\n "};
    static const char *const lws[] = {"", " ", "\t", "\r\n ", "  "};
    static const char *const names[] = {"ck", "IK", "Res", "xres", "password", "k", "opc"};
    static const char *const noise[] = {"nonce=\"q\"", "x", "algorithm=MD5", "\"", "=", ";"};
    srand(12345);
    for (int iter = 0; iter < 20000; iter++) {
        char msg[1024] = "", secret[32];
        snprintf(secret, sizeof(secret), "Z%08xQ", (unsigned)rand());
        strcat(msg, "WWW-Authenticate: Digest");
        for (int k = rand() % 4; k > 0; k--) {
            strcat(msg, seps[rand() % 8]);
            strcat(msg, noise[rand() % 5]); /* never an unbalanced quote before the secret */
        }
        strcat(msg, seps[rand() % 8]);
        strcat(msg, names[rand() % 7]);
        strcat(msg, lws[rand() % 5]);
        strcat(msg, "=");
        strcat(msg, lws[rand() % 5]);
        bool q = rand() % 2;
        strcat(msg, q ? "\"" : "");
        strcat(msg, secret);
        strcat(msg, q ? "\"" : "");
        for (int k = rand() % 3; k > 0; k--) {
            strcat(msg, seps[rand() % 8]);
            strcat(msg, noise[rand() % 6]);
        }
        strcat(msg, "\r\n\r\n");
        size_t n;
        char *out = ims_redact_sip(msg, strlen(msg), rand() % 2 ? 0 : (size_t)(rand() % 200), &n);
        assert_non_null(out);
        if (strstr(out, secret + 1))
            fail_msg("iteration %d leaked:\n%s\nfrom:\n%s", iter, out, msg);
        free(out);
    }
    /* Random bytes: no crash, always valid text. */
    for (int iter = 0; iter < 3000; iter++) {
        char b[256];
        size_t len = (size_t)(rand() % 256);
        for (size_t i = 0; i < len; i++)
            b[i] = (char)(rand() % 4 == 0 ? "ck=\"\\\r\n ;,"[rand() % 11] : rand());
        size_t n;
        char *out = ims_redact_sip(b, len, (size_t)(rand() % 300), &n);
        assert_non_null(out);
        json_t *j = json_stringn(out, n);
        assert_non_null(j);
        json_decref(j);
        free(out);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_aka_challenge), cmocka_unit_test(test_spellings),
        cmocka_unit_test(test_quoting),       cmocka_unit_test(test_digest_kept),
        cmocka_unit_test(test_credentials),   cmocka_unit_test(test_body_keys),
        cmocka_unit_test(test_text_safety),   cmocka_unit_test(test_truncation),
        cmocka_unit_test(test_random),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
