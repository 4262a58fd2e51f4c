/* Unit tests for common/src/milenage.c against 3GPP TS 35.208 test sets 1 and 3, plus the
 * optional-output paths and checks that key and RAND really feed every output. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "ims/milenage.h"
#include "ims/util.h"

struct tset {
    const char *k, *rand, *sqn, *amf, *op, *opc, *mac_a, *mac_s, *res, *ck, *ik, *ak, *ak_star;
};

/* TS 35.208 §4.3, test sets 1 and 3. */
static const struct tset sets[] = {
    {"465b5ce8b199b49faa5f0a2ee238a6bc", "23553cbe9637a89d218ae64dae47bf35", "ff9bb4d0b607", "b9b9",
     "cdc202d5123e20f62b6d676ac72cb318", "cd63cb71954a9f4e48a5994e37a02baf", "4a9ffac354dfafb3",
     "01cfaf9ec4e871e9", "a54211d5e3ba50bf", "b40ba9a3c58b2a05bbf0d987b21bf8cb",
     "f769bcd751044604127672711c6d3441", "aa689c648370", "451e8beca43b"},
    {"fec86ba6eb707ed08905757b1bb44b8f", "9f7c8d021accf4db213ccff0c7f71a6a", "9d0277595ffc", "725c",
     "dbc59adcb6f9a0ef735477b7fadf8374", "1006020f0a478bf6b699f15c062e42b3", "9cabc3e99baf7281",
     "95814ba2b3044324", "8011c48c0c214ed2", "5dbdbb2954e8f3cde665b046179a5098",
     "59a92d3b476a0443487055cf88b2307b", "33484dc2136b", "deacdd848cc6"},
};

static void hex(const char *h, uint8_t *out, size_t len)
{
    assert_int_equal(ims_hex_decode(h, out, len), 0);
}

static void assert_hex(const uint8_t *got, size_t len, const char *want)
{
    char buf[64];
    ims_hex_encode(got, len, buf);
    assert_string_equal(buf, want);
}

static void check_set(const struct tset *t)
{
    uint8_t k[16], rand[16], sqn[6], amf[2], op[16], opc[16];
    uint8_t mac_a[8], mac_s[8], res[8], ck[16], ik[16], ak[6], ak_star[6];
    hex(t->k, k, 16);
    hex(t->rand, rand, 16);
    hex(t->sqn, sqn, 6);
    hex(t->amf, amf, 2);
    hex(t->op, op, 16);

    assert_int_equal(ims_milenage_opc(k, op, opc), 0);
    assert_hex(opc, 16, t->opc);

    assert_int_equal(ims_milenage_f1(k, opc, rand, sqn, amf, mac_a, mac_s), 0);
    assert_hex(mac_a, 8, t->mac_a);
    assert_hex(mac_s, 8, t->mac_s);

    assert_int_equal(ims_milenage_f2345(k, opc, rand, res, ck, ik, ak, ak_star), 0);
    assert_hex(res, 8, t->res);
    assert_hex(ck, 16, t->ck);
    assert_hex(ik, 16, t->ik);
    assert_hex(ak, 6, t->ak);
    assert_hex(ak_star, 6, t->ak_star);

    /* The combined call must agree with the separate ones. */
    memset(mac_a, 0, sizeof(mac_a));
    memset(res, 0, sizeof(res));
    memset(ak_star, 0, sizeof(ak_star));
    assert_int_equal(
        ims_milenage_all(k, opc, rand, sqn, amf, mac_a, mac_s, res, ck, ik, ak, ak_star), 0);
    assert_hex(mac_a, 8, t->mac_a);
    assert_hex(mac_s, 8, t->mac_s);
    assert_hex(res, 8, t->res);
    assert_hex(ck, 16, t->ck);
    assert_hex(ik, 16, t->ik);
    assert_hex(ak, 6, t->ak);
    assert_hex(ak_star, 6, t->ak_star);
}

static void test_set1(void **state)
{
    check_set(&sets[0]);
}

static void test_set3(void **state)
{
    check_set(&sets[1]);
}

/* Every output is optional; asking for one alone must give the same bytes and must not
 * write through the NULL ones (ASan would catch it). */
static void test_partial_outputs(void **state)
{
    const struct tset *t = &sets[0];
    uint8_t k[16], rand[16], sqn[6], amf[2], opc[16], out8[8], out16[16], out6[6];
    hex(t->k, k, 16);
    hex(t->rand, rand, 16);
    hex(t->sqn, sqn, 6);
    hex(t->amf, amf, 2);
    hex(t->opc, opc, 16);

    assert_int_equal(ims_milenage_f1(k, opc, rand, sqn, amf, NULL, out8), 0);
    assert_hex(out8, 8, t->mac_s);
    assert_int_equal(ims_milenage_f1(k, opc, rand, sqn, amf, out8, NULL), 0);
    assert_hex(out8, 8, t->mac_a);
    assert_int_equal(ims_milenage_f2345(k, opc, rand, out8, NULL, NULL, NULL, NULL), 0);
    assert_hex(out8, 8, t->res);
    assert_int_equal(ims_milenage_f2345(k, opc, rand, NULL, out16, NULL, NULL, NULL), 0);
    assert_hex(out16, 16, t->ck);
    assert_int_equal(ims_milenage_f2345(k, opc, rand, NULL, NULL, out16, NULL, NULL), 0);
    assert_hex(out16, 16, t->ik);
    assert_int_equal(ims_milenage_f2345(k, opc, rand, NULL, NULL, NULL, out6, NULL), 0);
    assert_hex(out6, 6, t->ak);
    assert_int_equal(ims_milenage_f2345(k, opc, rand, NULL, NULL, NULL, NULL, out6), 0);
    assert_hex(out6, 6, t->ak_star);
    /* f1 outputs without SQN/AMF are a caller bug, reported rather than crashing. */
    assert_int_equal(
        ims_milenage_all(k, opc, rand, NULL, NULL, out8, NULL, NULL, NULL, NULL, NULL, NULL), EIO);
}

/* A different key or RAND must change the outputs (guards against a cached key or a
 * context reused across keys). */
static void test_key_and_rand_matter(void **state)
{
    const struct tset *t = &sets[0];
    uint8_t k[16], rand[16], opc[16], res1[8], res2[8];
    hex(t->k, k, 16);
    hex(t->rand, rand, 16);
    hex(t->opc, opc, 16);
    assert_int_equal(ims_milenage_f2345(k, opc, rand, res1, NULL, NULL, NULL, NULL), 0);
    k[0] ^= 1;
    assert_int_equal(ims_milenage_f2345(k, opc, rand, res2, NULL, NULL, NULL, NULL), 0);
    assert_memory_not_equal(res1, res2, 8);
    k[0] ^= 1;
    rand[15] ^= 0x80;
    assert_int_equal(ims_milenage_f2345(k, opc, rand, res2, NULL, NULL, NULL, NULL), 0);
    assert_memory_not_equal(res1, res2, 8);
    rand[15] ^= 0x80;
    assert_int_equal(ims_milenage_f2345(k, opc, rand, res2, NULL, NULL, NULL, NULL), 0);
    assert_memory_equal(res1, res2, 8);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_set1),
        cmocka_unit_test(test_set3),
        cmocka_unit_test(test_partial_outputs),
        cmocka_unit_test(test_key_and_rand_matter),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
