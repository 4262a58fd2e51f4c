/* Unit tests for the P-CSCF's ESP (pcscf/esp.c, esp_table.c) against published vectors
 * (RFC 2202 HMAC, RFC 3602 AES-CBC), TS 33.203 key expansion, replay window and SA table. */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "esp.h"
#include "ims/util.h"

static void unhex(const char *h, uint8_t *out, size_t len)
{
    assert_int_equal(ims_hex_decode(h, out, len), 0);
}

static void check_icv(pcscf_esp_auth_t a, const uint8_t *key, size_t klen, const void *data,
                      size_t len, const char *digest_hex)
{
    uint8_t icv[PCSCF_ESP_ICV_LEN], want[20];
    /* HMAC-*-96 is the leftmost 96 bits of the full HMAC (RFC 2403 §2, RFC 2404 §2). */
    unhex(digest_hex, want, strlen(digest_hex) / 2);
    assert_int_equal(pcscf_esp_icv(a, key, klen, data, len, icv), 0);
    assert_memory_equal(icv, want, sizeof icv);
}

/* RFC 2202 test cases 1-3 for HMAC-SHA-1 and HMAC-MD5. */
static void test_rfc2202(void **state)
{
    uint8_t k0b[20], kaa[20], ddd[50];
    memset(k0b, 0x0b, sizeof k0b);
    memset(kaa, 0xaa, sizeof kaa);
    memset(ddd, 0xdd, sizeof ddd);
    check_icv(PCSCF_ESP_AUTH_HMAC_SHA1_96, k0b, 20, "Hi There", 8,
              "b617318655057264e28bc0b6fb378c8ef146be00");
    check_icv(PCSCF_ESP_AUTH_HMAC_SHA1_96, (const uint8_t *)"Jefe", 4,
              "what do ya want for nothing?", 28, "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79");
    check_icv(PCSCF_ESP_AUTH_HMAC_SHA1_96, kaa, 20, ddd, 50,
              "125d7342b9ac11cd91a39af48aa17b4f63f175d3");
    check_icv(PCSCF_ESP_AUTH_HMAC_MD5_96, k0b, 16, "Hi There", 8,
              "9294727a3638bb1c13f48ef8158bfc9d");
    check_icv(PCSCF_ESP_AUTH_HMAC_MD5_96, (const uint8_t *)"Jefe", 4,
              "what do ya want for nothing?", 28, "750c783e6ab0b503eaa86e310a5db738");
    check_icv(PCSCF_ESP_AUTH_HMAC_MD5_96, kaa, 16, ddd, 50, "56be34521d144c88dbb8c733f0e8b3f6");
}

static const uint8_t CK[16] = {0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77,
                               0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff};
static const uint8_t IK[16] = {0xf0, 0xe1, 0xd2, 0xc3, 0xb4, 0xa5, 0x96, 0x87,
                               0x78, 0x69, 0x5a, 0x4b, 0x3c, 0x2d, 0x1e, 0x0f};

/* TS 33.203 Annex I. */
static void test_key_expansion(void **state)
{
    pcscf_esp_keys_t k;
    uint8_t zero[4] = {0};
    assert_int_equal(
        pcscf_esp_keys_derive(PCSCF_ESP_AUTH_HMAC_SHA1_96, PCSCF_ESP_ENC_NULL, CK, IK, &k), 0);
    assert_int_equal(k.auth_len, 20);
    assert_memory_equal(k.auth, IK, 16);
    assert_memory_equal(k.auth + 16, zero, 4);
    assert_int_equal(k.enc_len, 0);
    assert_int_equal(
        pcscf_esp_keys_derive(PCSCF_ESP_AUTH_HMAC_MD5_96, PCSCF_ESP_ENC_AES_CBC, CK, IK, &k), 0);
    assert_int_equal(k.auth_len, 16);
    assert_memory_equal(k.auth, IK, 16);
    assert_int_equal(k.enc_len, 16);
    assert_memory_equal(k.enc, CK, 16);
    assert_int_equal(
        pcscf_esp_keys_derive(PCSCF_ESP_AUTH_HMAC_MD5_96, PCSCF_ESP_ENC_DES_EDE3_CBC, CK, IK, &k),
        0);
    assert_int_equal(k.enc_len, 24);
    assert_memory_equal(k.enc, CK, 16);
    assert_memory_equal(k.enc + 16, CK, 8); /* CK1 || CK2 || CK1 */
    assert_int_equal(pcscf_esp_keys_derive(PCSCF_ESP_AUTH_COUNT, PCSCF_ESP_ENC_NULL, CK, IK, &k),
                     EINVAL);
}

static pcscf_esp_sa_t *sa_new(pcscf_esp_dir_t dir, uint32_t spi, pcscf_esp_auth_t a,
                              pcscf_esp_enc_t e, const uint8_t *ck)
{
    pcscf_esp_sa_params_t p = {.dir = dir, .spi = spi, .auth = a, .enc = e, .family = AF_INET};
    memcpy(p.ck, ck, 16);
    memcpy(p.ik, IK, 16);
    pcscf_esp_sa_t *sa = NULL;
    assert_int_equal(pcscf_esp_sa_create(&p, &sa), 0);
    return sa;
}

/* RFC 3602 §4 cases 1 and 2: the first cipher blocks of an ESP packet are plain AES-CBC of
 * the payload with the packet's IV, so the published ciphertext must appear after the IV. */
static void test_rfc3602(void **state)
{
    static const struct {
        const char *key, *iv, *plain, *cipher;
        size_t len;
    } v[] = {
        {"06a9214036b8a15b512e03d534120006", "3dafba429d9eb430b422da802c9fac41",
         "53696e676c6520626c6f636b206d7367", "e353779c1079aeb82708942dbe77181a", 16},
        {"c286696d887c9aa0611bbb3e2025a45a", "562e17996d093d28ddb3ba695a2e6f58",
         "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
         "d296cd94c2cccf8a3a863028b5e1dc0a7586602d253cfff91b8266bea6d61ab1", 32},
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        uint8_t key[16], iv[16], plain[32], cipher[32], out[128];
        size_t n = 0;
        unhex(v[i].key, key, 16);
        unhex(v[i].iv, iv, 16);
        unhex(v[i].plain, plain, v[i].len);
        unhex(v[i].cipher, cipher, v[i].len);
        pcscf_esp_sa_t *sa =
            sa_new(PCSCF_ESP_OUT, 0x1000, PCSCF_ESP_AUTH_HMAC_SHA1_96, PCSCF_ESP_ENC_AES_CBC, key);
        assert_int_equal(pcscf_esp_protect_iv(sa, 17, plain, v[i].len, iv, out, sizeof out, &n), 0);
        /* SPI, seq 1, IV, ciphertext of payload + 14 pad + 2 trailer, 12 ICV */
        assert_int_equal(n, 8 + 16 + v[i].len + 16 + 12);
        assert_int_equal(pcscf_esp_spi_of(out, n), 0x1000);
        assert_memory_equal(out + 4, "\0\0\0\1", 4);
        assert_memory_equal(out + 8, iv, 16);
        assert_memory_equal(out + 24, cipher, v[i].len);
        pcscf_esp_sa_free(sa);
    }
}

/* Every algorithm pair: out SA protects, in SA with the same keys gives back the payload. */
static void test_roundtrip(void **state)
{
    for (int a = 0; a < PCSCF_ESP_AUTH_COUNT; a++)
        for (int e = 0; e < PCSCF_ESP_ENC_COUNT; e++) {
            pcscf_esp_sa_t *out = sa_new(PCSCF_ESP_OUT, 4000, a, e, CK);
            pcscf_esp_sa_t *in = sa_new(PCSCF_ESP_IN, 4000, a, e, CK);
            for (size_t len = 0; len < 70; len += 7) {
                uint8_t pay[80], pkt[200], back[200], nh = 0;
                size_t n = 0, m = 0;
                for (size_t i = 0; i < len; i++)
                    pay[i] = (uint8_t)(i * 31 + len);
                assert_int_equal(pcscf_esp_protect(out, 6, pay, len, pkt, sizeof pkt, &n), 0);
                /* header and ICV are 20 bytes; IV and ciphertext fill whole blocks */
                assert_int_equal((n - 20) % (e == PCSCF_ESP_ENC_NULL ? 4 : 8), 0);
                assert_int_equal(pcscf_esp_unprotect(in, pkt, n, back, sizeof back, &m, &nh), 0);
                assert_int_equal(m, len);
                assert_int_equal(nh, 6);
                assert_memory_equal(back, pay, len);
            }
            assert_int_equal(pcscf_esp_sa_counters(in)->packets, 10);
            assert_int_equal(pcscf_esp_sa_counters(out)->packets, 10);
            assert_int_equal(pcscf_esp_sa_seq(out), 10);
            /* the wrong direction is refused */
            uint8_t b[64];
            size_t n;
            assert_int_equal(pcscf_esp_protect(in, 17, b, 4, b, sizeof b, &n), PCSCF_ESP_E_DIR);
            pcscf_esp_sa_free(out);
            pcscf_esp_sa_free(in);
        }
}

static size_t make(pcscf_esp_sa_t *out, uint8_t *pkt, size_t cap)
{
    size_t n = 0;
    assert_int_equal(
        pcscf_esp_protect(out, 17, (const uint8_t *)"REGISTER sip:x", 14, pkt, cap, &n), 0);
    return n;
}

static void test_icv_and_malformed(void **state)
{
    pcscf_esp_sa_t *out =
        sa_new(PCSCF_ESP_OUT, 777, PCSCF_ESP_AUTH_HMAC_SHA1_96, PCSCF_ESP_ENC_AES_CBC, CK);
    pcscf_esp_sa_t *in =
        sa_new(PCSCF_ESP_IN, 777, PCSCF_ESP_AUTH_HMAC_SHA1_96, PCSCF_ESP_ENC_AES_CBC, CK);
    uint8_t pkt[128], back[128], nh;
    size_t n = make(out, pkt, sizeof pkt), m;
    size_t flips[] = {n - 1, 20, 30, 4};
    for (size_t i = 0; i < 4; i++) {
        pkt[flips[i]] ^= 0x40;
        assert_int_equal(pcscf_esp_unprotect(in, pkt, n, back, sizeof back, &m, &nh),
                         PCSCF_ESP_E_AUTH);
        pkt[flips[i]] ^= 0x40;
    }
    assert_int_equal(pcscf_esp_sa_counters(in)->auth_failures, 4);
    assert_int_equal(pcscf_esp_unprotect(in, pkt, 20, back, sizeof back, &m, &nh),
                     PCSCF_ESP_E_MALFORMED);
    assert_int_equal(pcscf_esp_unprotect(in, pkt, n - 3, back, sizeof back, &m, &nh),
                     PCSCF_ESP_E_MALFORMED);
    assert_int_equal(pcscf_esp_sa_counters(in)->malformed, 2);
    /* the genuine packet still passes: failures did not move the window */
    assert_int_equal(pcscf_esp_unprotect(in, pkt, n, back, sizeof back, &m, &nh), 0);
    assert_int_equal(m, 14);
    assert_int_equal(pcscf_esp_sa_counters(in)->packets, 1);
    pcscf_esp_sa_free(out);
    pcscf_esp_sa_free(in);
}

/* 64-packet window: replays and too-old packets dropped, reordering inside it accepted. */
static void test_replay_window(void **state)
{
    pcscf_esp_sa_t *out =
        sa_new(PCSCF_ESP_OUT, 999, PCSCF_ESP_AUTH_HMAC_MD5_96, PCSCF_ESP_ENC_NULL, CK);
    pcscf_esp_sa_t *in =
        sa_new(PCSCF_ESP_IN, 999, PCSCF_ESP_AUTH_HMAC_MD5_96, PCSCF_ESP_ENC_NULL, CK);
    static uint8_t pkts[100][64];
    size_t lens[100], m;
    uint8_t back[64], nh;
    for (int i = 0; i < 100; i++)
        lens[i] = make(out, pkts[i], sizeof pkts[i]); /* seq i + 1 */
    assert_int_equal(pcscf_esp_unprotect(in, pkts[0], lens[0], back, 64, &m, &nh), 0);
    assert_int_equal(pcscf_esp_unprotect(in, pkts[0], lens[0], back, 64, &m, &nh),
                     PCSCF_ESP_E_REPLAY);
    assert_int_equal(pcscf_esp_unprotect(in, pkts[79], lens[79], back, 64, &m, &nh), 0);
    /* seq 17 is 63 behind 80: inside the window, once */
    assert_int_equal(pcscf_esp_unprotect(in, pkts[16], lens[16], back, 64, &m, &nh), 0);
    assert_int_equal(pcscf_esp_unprotect(in, pkts[16], lens[16], back, 64, &m, &nh),
                     PCSCF_ESP_E_REPLAY);
    /* seq 16 is 64 behind: too old */
    assert_int_equal(pcscf_esp_unprotect(in, pkts[15], lens[15], back, 64, &m, &nh),
                     PCSCF_ESP_E_REPLAY);
    assert_int_equal(pcscf_esp_unprotect(in, pkts[99], lens[99], back, 64, &m, &nh), 0);
    assert_int_equal(pcscf_esp_unprotect(in, pkts[80], lens[80], back, 64, &m, &nh), 0);
    assert_int_equal(pcscf_esp_sa_seq(in), 100);
    assert_int_equal(pcscf_esp_sa_counters(in)->replays, 3);
    assert_int_equal(pcscf_esp_sa_counters(in)->packets, 5);
    pcscf_esp_sa_free(out);
    pcscf_esp_sa_free(in);
}

static void test_reserved_spi(void **state)
{
    pcscf_esp_sa_params_t p = {.dir = PCSCF_ESP_IN, .spi = 255, .family = AF_INET};
    pcscf_esp_sa_t *sa = NULL;
    assert_int_equal(pcscf_esp_sa_create(&p, &sa), EINVAL);
    p.spi = 0;
    assert_int_equal(pcscf_esp_sa_create(&p, &sa), EINVAL);
    assert_null(sa);
}

static void visit(void *arg, uint64_t id, const pcscf_esp_sa_params_t *p,
                  const pcscf_esp_counters_t *c, const pcscf_esp_keys_t *k)
{
    char line[256];
    pcscf_esp_wireshark_line(p, k, line, sizeof line);
    strcat((char *)arg, line);
    strcat((char *)arg, "\n");
}

static void add(pcscf_esp_table_t *t, pcscf_esp_dir_t dir, uint32_t spi, const char *ue,
                uint16_t ue_port, uint16_t our_port, const char *owner, int want)
{
    pcscf_esp_sa_params_t p = {.dir = dir,
                               .spi = spi,
                               .auth = PCSCF_ESP_AUTH_HMAC_SHA1_96,
                               .enc = PCSCF_ESP_ENC_AES_CBC,
                               .family = AF_INET};
    memcpy(p.ck, CK, 16);
    memcpy(p.ik, IK, 16);
    uint8_t *ue_addr = dir == PCSCF_ESP_IN ? p.src : p.dst;
    uint8_t *our_addr = dir == PCSCF_ESP_IN ? p.dst : p.src;
    inet_pton(AF_INET, ue, ue_addr);
    inet_pton(AF_INET, "10.0.0.1", our_addr);
    p.sport = dir == PCSCF_ESP_IN ? ue_port : our_port;
    p.dport = dir == PCSCF_ESP_IN ? our_port : ue_port;
    snprintf(p.owner, sizeof p.owner, "%s", owner);
    uint64_t id;
    assert_int_equal(t->ops->add(t->be, &p, &id), want);
}

static void test_table(void **state)
{
    pcscf_esp_table_t t;
    assert_int_equal(pcscf_esp_user_create(&t), 0);
    add(&t, PCSCF_ESP_IN, 1001, "10.0.0.2", 5080, 5064, "ue1", 0);
    add(&t, PCSCF_ESP_IN, 1002, "10.0.0.2", 5081, 5066, "ue1", 0);
    add(&t, PCSCF_ESP_OUT, 3001, "10.0.0.2", 5080, 5064, "ue1", 0);
    add(&t, PCSCF_ESP_OUT, 3002, "10.0.0.2", 5081, 5066, "ue1", 0);
    add(&t, PCSCF_ESP_IN, 1001, "10.0.0.3", 5080, 5064, "ue2", EEXIST); /* SPI taken */
    add(&t, PCSCF_ESP_OUT, 3001, "10.0.0.3", 5080, 5064, "ue2", 0);     /* UE SPIs may repeat */
    assert_int_equal(t.ops->count(t.be), 5);
    /* re-authentication: a newer outbound SA with the same selector shadows the older */
    uint8_t ue1[4];
    inet_pton(AF_INET, "10.0.0.2", ue1);
    add(&t, PCSCF_ESP_OUT, 3009, "10.0.0.2", 5081, 5066, "ue1-new", 0);
    assert_int_equal(pcscf_esp_sa_params(pcscf_esp_user_lookup_out(&t, ue1, 5081, 5066))->spi,
                     3009);
    assert_int_equal(t.ops->del_owner(t.be, "ue1-new"), 1);
    assert_int_equal(pcscf_esp_sa_params(pcscf_esp_user_lookup_out(&t, ue1, 5081, 5066))->spi,
                     3002);
    assert_true(t.ops->spi_in_use(t.be, 1002));
    assert_false(t.ops->spi_in_use(t.be, 3002));
    assert_non_null(pcscf_esp_user_lookup_in(&t, 1002));
    assert_null(pcscf_esp_user_lookup_in(&t, 3002));
    uint8_t ue2[4];
    inet_pton(AF_INET, "10.0.0.3", ue2);
    pcscf_esp_sa_t *o = pcscf_esp_user_lookup_out(&t, ue2, 5080, 5064);
    assert_non_null(o);
    assert_string_equal(pcscf_esp_sa_params(o)->owner, "ue2");
    assert_null(pcscf_esp_user_lookup_out(&t, ue2, 5081, 5066));
    char all[2048] = "";
    assert_int_equal(t.ops->list(t.be, visit, all), 5);
    assert_non_null(strstr(all, "\"IPv4\",\"10.0.0.2\",\"10.0.0.1\",\"0x000003e9\",\"AES-CBC "
                                "[RFC3602]\",\"0x00112233445566778899aabbccddeeff\",\"HMAC-SHA-1-"
                                "96 [RFC2404]\",\"0xf0e1d2c3b4a5968778695a4b3c2d1e0f00000000\"\n"));
    assert_int_equal(t.ops->del_owner(t.be, "ue1"), 4);
    assert_int_equal(t.ops->count(t.be), 1);
    assert_null(pcscf_esp_user_lookup_in(&t, 1001));
    add(&t, PCSCF_ESP_IN, 1001, "10.0.0.3", 5080, 5064, "ue2", 0); /* free again */
    assert_int_equal(t.ops->del(t.be, 12345), ENOENT);
    t.ops->destroy(t.be);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc2202),           cmocka_unit_test(test_key_expansion),
        cmocka_unit_test(test_rfc3602),           cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_icv_and_malformed), cmocka_unit_test(test_replay_window),
        cmocka_unit_test(test_reserved_spi),      cmocka_unit_test(test_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
