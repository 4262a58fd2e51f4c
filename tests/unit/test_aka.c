/* Unit tests for common/src/aka.c: AUTN and nonce from TS 35.208 set 1, AKAv1/AKAv2
 * passwords, AUTS verification and SQN recovery, tampering, and SQN arithmetic. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "ims/aka.h"
#include "ims/digest.h"
#include "ims/milenage.h"
#include "ims/util.h"

/* TS 35.208 test set 1. */
#define S1_K    "465b5ce8b199b49faa5f0a2ee238a6bc"
#define S1_RAND "23553cbe9637a89d218ae64dae47bf35"
#define S1_SQN  "ff9bb4d0b607"
#define S1_AMF  "b9b9"
#define S1_OPC  "cd63cb71954a9f4e48a5994e37a02baf"
#define S1_RES  "a54211d5e3ba50bf"
#define S1_CK   "b40ba9a3c58b2a05bbf0d987b21bf8cb"
#define S1_IK   "f769bcd751044604127672711c6d3441"
/* AUTN = (SQN ff9bb4d0b607 xor AK aa689c648370) || AMF b9b9 || MAC-A 4a9ffac354dfafb3,
 * i.e. computed by hand from the set's published outputs. */
#define S1_AUTN "55f328b43577b9b94a9ffac354dfafb3"
/* base64(RAND || AUTN), from `xxd -r -p | base64` over S1_RAND S1_AUTN. */
#define S1_NONCE "I1U8vpY3qJ0hiuZNrke/NVXzKLQ1d7m5Sp/6w1Tfr7M="

struct s1 {
    uint8_t k[16], rand[16], sqn[6], amf[2], opc[16], res[8], ck[16], ik[16], autn[16];
};

static void load_s1(struct s1 *s)
{
    assert_int_equal(ims_hex_decode(S1_K, s->k, 16), 0);
    assert_int_equal(ims_hex_decode(S1_RAND, s->rand, 16), 0);
    assert_int_equal(ims_hex_decode(S1_SQN, s->sqn, 6), 0);
    assert_int_equal(ims_hex_decode(S1_AMF, s->amf, 2), 0);
    assert_int_equal(ims_hex_decode(S1_OPC, s->opc, 16), 0);
    assert_int_equal(ims_hex_decode(S1_RES, s->res, 8), 0);
    assert_int_equal(ims_hex_decode(S1_CK, s->ck, 16), 0);
    assert_int_equal(ims_hex_decode(S1_IK, s->ik, 16), 0);
    assert_int_equal(ims_hex_decode(S1_AUTN, s->autn, 16), 0);
}

static void test_vector_set1(void **state)
{
    struct s1 s;
    ims_aka_vector_t v;
    load_s1(&s);
    memset(&v, 0xee, sizeof(v));
    assert_int_equal(ims_aka_vector(s.k, s.opc, s.sqn, s.amf, s.rand, &v), 0);
    assert_memory_equal(v.rand, s.rand, 16);
    assert_memory_equal(v.autn, s.autn, 16);
    assert_memory_equal(v.xres, s.res, 8);
    assert_memory_equal(v.ck, s.ck, 16);
    assert_memory_equal(v.ik, s.ik, 16);
}

static void test_nonce_roundtrip(void **state)
{
    struct s1 s;
    char nonce[45];
    uint8_t rand[16], autn[16];
    load_s1(&s);
    ims_aka_nonce(s.rand, s.autn, nonce);
    assert_string_equal(nonce, S1_NONCE);
    assert_int_equal(strlen(nonce), 44);

    assert_int_equal(ims_aka_nonce_parse(nonce, rand, autn), 0);
    assert_memory_equal(rand, s.rand, 16);
    assert_memory_equal(autn, s.autn, 16);

    /* Server data appended after RAND||AUTN (RFC 3310 §3.2) is allowed and ignored:
     * base64(RAND||AUTN||"srv") = base64 of 35 bytes. */
    uint8_t raw[35];
    char longer[64];
    memcpy(raw, s.rand, 16);
    memcpy(raw + 16, s.autn, 16);
    memcpy(raw + 32, "srv", 3);
    ims_base64_encode(raw, sizeof(raw), longer);
    memset(rand, 0, 16);
    assert_int_equal(ims_aka_nonce_parse(longer, rand, autn), 0);
    assert_memory_equal(rand, s.rand, 16);
    assert_memory_equal(autn, s.autn, 16);
}

static void test_nonce_parse_rejects(void **state)
{
    uint8_t rand[16], autn[16];
    assert_int_equal(ims_aka_nonce_parse(NULL, rand, autn), EINVAL);
    assert_int_equal(ims_aka_nonce_parse("", rand, autn), EINVAL);
    /* An MD5-digest style hex nonce is valid base64 but decodes to only 24 bytes. */
    assert_int_equal(ims_aka_nonce_parse("9141ed3a3de48a878ba1467f9cfa0a88", rand, autn), EINVAL);
    /* 31 bytes: one short. */
    char short_nonce[64];
    uint8_t raw[31] = {0};
    ims_base64_encode(raw, sizeof(raw), short_nonce);
    assert_int_equal(ims_aka_nonce_parse(short_nonce, rand, autn), EINVAL);
    /* Bad characters and missing padding. */
    assert_int_equal(ims_aka_nonce_parse("I1U8vpY3qJ0hiuZNrke/NVXzKLQ1d7m5Sp/6w1Tfr7M", rand, autn),
                     EINVAL);
    assert_int_equal(
        ims_aka_nonce_parse("I1U8vpY3qJ0hiuZNrke*NVXzKLQ1d7m5Sp/6w1Tfr7M=", rand, autn), EINVAL);
    /* Longer than any Digest header could carry. */
    static char huge[IMS_DIGEST_MAX + 9];
    memset(huge, 'A', sizeof(huge) - 1);
    huge[sizeof(huge) - 1] = '\0';
    assert_int_equal(ims_aka_nonce_parse(huge, rand, autn), EINVAL);
}

static void test_password_v1(void **state)
{
    struct s1 s;
    uint8_t out[32];
    size_t n = 0;
    load_s1(&s);
    assert_int_equal(ims_aka_password(IMS_AKA_V1, s.res, s.ik, s.ck, out, &n), 0);
    assert_int_equal(n, 8);
    assert_memory_equal(out, s.res, 8);
}

/* Expected AKAv2 password computed independently with the openssl CLI:
 *   printf %s http-digest-akav2-password | openssl dgst -md5 -mac HMAC \
 *     -macopt hexkey:a54211d5e3ba50bf f769bcd751044604127672711c6d3441 \
 *                    b40ba9a3c58b2a05bbf0d987b21bf8cb (RES||IK||CK, no spaces) -binary | base64
 * and cross-checked with Python's hmac module; both give the value below. */
static void test_password_v2(void **state)
{
    struct s1 s;
    uint8_t out[32];
    size_t n = 0;
    load_s1(&s);
    assert_int_equal(ims_aka_password(IMS_AKA_V2, s.res, s.ik, s.ck, out, &n), 0);
    assert_int_equal(n, 24);
    assert_memory_equal(out, "shzt3q8CWaZnCAWqs3WmEQ==", 24);

    /* The order RES||IK||CK matters: swapping IK and CK must give another password. */
    uint8_t other[32];
    size_t m = 0;
    assert_int_equal(ims_aka_password(IMS_AKA_V2, s.res, s.ck, s.ik, other, &m), 0);
    assert_int_equal(m, 24);
    assert_memory_not_equal(out, other, 24);

    assert_int_equal(ims_aka_password((ims_aka_version_t)3, s.res, s.ik, s.ck, out, &n), EINVAL);
    assert_int_equal(ims_aka_password(IMS_AKA_V2, s.res, NULL, s.ck, out, &n), EINVAL);
}

/* The AKAv2 password feeds HA1 as bytes and must equal the ASCII string form. */
static void test_password_feeds_digest(void **state)
{
    struct s1 s;
    uint8_t pw[32];
    size_t n = 0;
    char ha1_bin[33], ha1_str[33];
    load_s1(&s);
    assert_int_equal(ims_aka_password(IMS_AKA_V2, s.res, s.ik, s.ck, pw, &n), 0);
    ims_digest_ha1_bin("u@r", "r", pw, n, ha1_bin);
    ims_digest_ha1("u@r", "r", "shzt3q8CWaZnCAWqs3WmEQ==", ha1_str);
    assert_string_equal(ha1_bin, ha1_str);
}

static void test_version_names(void **state)
{
    ims_aka_version_t v = 0;
    assert_int_equal(ims_aka_version_parse("AKAv1-MD5", &v), 0);
    assert_int_equal(v, IMS_AKA_V1);
    assert_int_equal(ims_aka_version_parse("akav2-md5", &v), 0);
    assert_int_equal(v, IMS_AKA_V2);
    assert_int_equal(ims_aka_version_parse("MD5", &v), EINVAL);
    assert_int_equal(ims_aka_version_parse("AKAv1-MD5x", &v), EINVAL);
    assert_int_equal(ims_aka_version_parse("", &v), EINVAL);
    assert_int_equal(ims_aka_version_parse(NULL, &v), EINVAL);
    assert_string_equal(ims_aka_version_name(IMS_AKA_V1), "AKAv1-MD5");
    assert_string_equal(ims_aka_version_name(IMS_AKA_V2), "AKAv2-MD5");
    assert_non_null(ims_aka_version_name((ims_aka_version_t)0));
}

/* AUTS for set 1 with SQN_MS = 000000001020, computed independently (AES blocks from
 * `openssl enc -aes-128-ecb -nopad`, Milenage glue in a throwaway Python script):
 *   AK* = 451e8beca43b (the set's published f5*), MAC-S with AMF 0000 = e03c378333211fb3
 *   AUTS = (000000001020 xor 451e8beca43b) || e03c378333211fb3. */
#define S1_AUTS "451e8becb41be03c378333211fb3"

static void test_auts_verify_and_recover(void **state)
{
    struct s1 s;
    uint8_t auts[14], sqn_ms[6];
    load_s1(&s);
    assert_int_equal(ims_hex_decode(S1_AUTS, auts, 14), 0);
    memset(sqn_ms, 0xee, 6);
    assert_int_equal(ims_aka_auts_verify(s.k, s.opc, s.rand, auts, sqn_ms), 0);
    assert_int_equal(ims_sqn_from_bytes(sqn_ms), 0x1020);
}

/* A UE-side AUTS built from the library's own f1* and f5* for a fresh SQN_MS must verify. */
static void test_auts_roundtrip(void **state)
{
    struct s1 s;
    uint8_t ak_star[6], mac_s[8], auts[14], sqn_ms[6], got[6];
    static const uint8_t amf0[2] = {0, 0};
    load_s1(&s);
    ims_sqn_to_bytes(UINT64_C(0x123456789ab0), sqn_ms);
    assert_int_equal(ims_milenage_f2345(s.k, s.opc, s.rand, NULL, NULL, NULL, NULL, ak_star), 0);
    assert_int_equal(ims_milenage_f1(s.k, s.opc, s.rand, sqn_ms, amf0, NULL, mac_s), 0);
    for (int i = 0; i < 6; i++)
        auts[i] = sqn_ms[i] ^ ak_star[i];
    memcpy(auts + 6, mac_s, 8);
    assert_int_equal(ims_aka_auts_verify(s.k, s.opc, s.rand, auts, got), 0);
    assert_memory_equal(got, sqn_ms, 6);
}

static void test_auts_tampered(void **state)
{
    struct s1 s;
    uint8_t auts[14], good[14], sqn_ms[6];
    load_s1(&s);
    assert_int_equal(ims_hex_decode(S1_AUTS, good, 14), 0);
    /* Flip each bit of AUTS in turn: every one must be caught, and sqn_ms left alone. */
    for (int bit = 0; bit < 14 * 8; bit++) {
        memcpy(auts, good, 14);
        auts[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        memset(sqn_ms, 0xaa, 6);
        assert_int_equal(ims_aka_auts_verify(s.k, s.opc, s.rand, auts, sqn_ms), EBADMSG);
        for (int i = 0; i < 6; i++)
            assert_int_equal(sqn_ms[i], 0xaa);
    }
    /* Right AUTS, wrong RAND or wrong key. */
    s.rand[0] ^= 1;
    assert_int_equal(ims_aka_auts_verify(s.k, s.opc, s.rand, good, sqn_ms), EBADMSG);
    s.rand[0] ^= 1;
    s.k[15] ^= 1;
    assert_int_equal(ims_aka_auts_verify(s.k, s.opc, s.rand, good, sqn_ms), EBADMSG);
    /* The MAC-S from the test set was made with AMF b9b9, not the resync AMF 0000, so an
     * AUTS carrying it must be refused. */
    uint8_t ak_star[6], mac_s[8];
    s.k[15] ^= 1;
    assert_int_equal(ims_hex_decode("451e8beca43b", ak_star, 6), 0);
    assert_int_equal(ims_hex_decode("01cfaf9ec4e871e9", mac_s, 8), 0);
    for (int i = 0; i < 6; i++)
        auts[i] = s.sqn[i] ^ ak_star[i];
    memcpy(auts + 6, mac_s, 8);
    assert_int_equal(ims_aka_auts_verify(s.k, s.opc, s.rand, auts, sqn_ms), EBADMSG);
}

/* Interop with an independent AKA client. SIPp 3.6.1 took K, OP and AMF as raw bytes
 * (`[authentication username=user1@ims.example.org aka_K=0123456789abcdef
 * aka_OP=fedcba9876543210 aka_AMF=8000]`, so AMF is the ASCII "80" = 3830), checked the
 * MAC-A in the nonce below (it refuses to answer otherwise) and sent this Authorization
 * for a REGISTER challenged with that nonce and algorithm=AKAv1-MD5, qop="auth". */
static void test_sipp_akav1_interop(void **state)
{
    const uint8_t *k = (const uint8_t *)"0123456789abcdef";
    const uint8_t *op = (const uint8_t *)"fedcba9876543210";
    uint8_t opc[16], rand[16], sqn[6], pw[32];
    const uint8_t amf[2] = {'8', '0'};
    ims_aka_vector_t v;
    char nonce[45], ha1[33], ha2[33], resp[33];
    size_t pwlen = 0;
    for (int i = 0; i < 16; i++)
        rand[i] = (uint8_t)i;
    ims_sqn_to_bytes(32, sqn);
    assert_int_equal(ims_milenage_opc(k, op, opc), 0);
    assert_int_equal(ims_aka_vector(k, opc, sqn, amf, rand, &v), 0);
    ims_aka_nonce(v.rand, v.autn, nonce);
    assert_string_equal(nonce, "AAECAwQFBgcICQoLDA0OD5m9w2AsNjgwpAtQjYTc3Xc=");

    ims_digest_params_t p;
    assert_int_equal(
        ims_digest_parse("Digest username=\"user1@ims.example.org\",realm=\"ims.example.org\","
                         "cnonce=\"6b8b4567\",nc=00000001,qop=auth,uri=\"sip:ims.example.org\","
                         "nonce=\"AAECAwQFBgcICQoLDA0OD5m9w2AsNjgwpAtQjYTc3Xc=\","
                         "response=\"77e8e602af10a20b5cdc6b6cc26f7fa6\",algorithm=AKAv1-MD5",
                         &p),
        0);
    ims_aka_version_t ver;
    assert_int_equal(ims_aka_version_parse(p.algorithm, &ver), 0);
    assert_int_equal(ver, IMS_AKA_V1);
    assert_int_equal(ims_aka_password(ver, v.xres, v.ik, v.ck, pw, &pwlen), 0);
    ims_digest_ha1_bin(p.username, p.realm, pw, pwlen, ha1);
    ims_digest_ha2("REGISTER", p.uri, ha2);
    ims_digest_response(ha1, p.nonce, p.nc, p.cnonce, p.qop, ha2, resp);
    assert_string_equal(resp, p.response);
}

static void test_sqn(void **state)
{
    uint8_t b[6];
    assert_int_equal(ims_sqn_next(0), 32);
    assert_int_equal(ims_sqn_next(32), 64);
    /* IND bits are cleared: next of SEQ 1, IND 7 is SEQ 2, IND 0. */
    assert_int_equal(ims_sqn_next(32 + 7), 64);
    assert_int_equal(ims_sqn_next(31), 32);
    /* Wraps within 48 bits. */
    assert_int_equal(ims_sqn_next(UINT64_C(0xffffffffffe0)), 0);
    assert_int_equal(ims_sqn_next(UINT64_C(0xffffffffffff)), 0);
    assert_int_equal(ims_sqn_next(UINT64_C(0xffffffffffc5)), UINT64_C(0xffffffffffe0));

    ims_sqn_to_bytes(UINT64_C(0xff9bb4d0b607), b);
    char h[13];
    ims_hex_encode(b, 6, h);
    assert_string_equal(h, "ff9bb4d0b607");
    assert_int_equal(ims_sqn_from_bytes(b), UINT64_C(0xff9bb4d0b607));
    ims_sqn_to_bytes(0, b);
    assert_int_equal(ims_sqn_from_bytes(b), 0);
    /* Bits above 48 are dropped by the byte form. */
    ims_sqn_to_bytes(UINT64_C(0x1000000000001), b);
    assert_int_equal(ims_sqn_from_bytes(b), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vector_set1),         cmocka_unit_test(test_nonce_roundtrip),
        cmocka_unit_test(test_nonce_parse_rejects), cmocka_unit_test(test_password_v1),
        cmocka_unit_test(test_password_v2),         cmocka_unit_test(test_password_feeds_digest),
        cmocka_unit_test(test_version_names),       cmocka_unit_test(test_auts_verify_and_recover),
        cmocka_unit_test(test_auts_roundtrip),      cmocka_unit_test(test_auts_tampered),
        cmocka_unit_test(test_sipp_akav1_interop),  cmocka_unit_test(test_sqn),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
