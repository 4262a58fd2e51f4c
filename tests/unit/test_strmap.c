/* Unit tests for common/src/strmap.c: put, replace, get, conditional delete, growth. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "ims/strmap.h"

static void test_basic(void **state)
{
    ims_strmap_t m = {0};
    int a, b;
    assert_null(ims_strmap_get(&m, "x"));
    assert_int_equal(ims_strmap_del(&m, "x", NULL), 0);
    assert_int_equal(ims_strmap_put(&m, "sip:a@x", &a), 0);
    assert_ptr_equal(ims_strmap_get(&m, "sip:a@x"), &a);
    assert_null(ims_strmap_get(&m, "sip:a@x "));
    assert_int_equal(ims_strmap_put(&m, "sip:a@x", &b), 0); /* replaces */
    assert_int_equal(m.count, 1);
    assert_ptr_equal(ims_strmap_get(&m, "sip:a@x"), &b);
    assert_int_equal(ims_strmap_del(&m, "sip:a@x", &a), 0); /* not its value: kept */
    assert_ptr_equal(ims_strmap_get(&m, "sip:a@x"), &b);
    assert_int_equal(ims_strmap_del(&m, "sip:a@x", &b), 1);
    assert_null(ims_strmap_get(&m, "sip:a@x"));
    assert_int_equal(m.count, 0);
    ims_strmap_free(&m);
    assert_int_equal(m.nslots, 0);
}

static void test_many(void **state)
{
    ims_strmap_t m = {0};
    static int vals[20000];
    char key[32];
    for (int i = 0; i < 20000; i++) {
        snprintf(key, sizeof(key), "%015d@ims", i);
        assert_int_equal(ims_strmap_put(&m, key, &vals[i]), 0);
    }
    assert_int_equal(m.count, 20000);
    assert_true(m.nslots >= 20000);
    for (int i = 0; i < 20000; i += 2) {
        snprintf(key, sizeof(key), "%015d@ims", i);
        assert_int_equal(ims_strmap_del(&m, key, NULL), 1);
    }
    for (int i = 0; i < 20000; i++) {
        snprintf(key, sizeof(key), "%015d@ims", i);
        if (i % 2)
            assert_ptr_equal(ims_strmap_get(&m, key), &vals[i]);
        else
            assert_null(ims_strmap_get(&m, key));
    }
    ims_strmap_free(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_basic), cmocka_unit_test(test_many)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
