/* Unit tests for common/src/jsonw.c: what it writes always parses (jansson) and says what
 * was given, whatever bytes the strings hold. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "ims/jsonw.h"

static json_t *parse(ims_jw_t *w)
{
    size_t n;
    char *t = ims_jw_take(w, &n);
    assert_non_null(t);
    assert_int_equal(n, strlen(t));
    json_error_t e;
    json_t *j = json_loads(t, 0, &e);
    if (!j)
        fail_msg("not JSON (%s): %s", e.text, t);
    free(t);
    return j;
}

static void test_members(void **state)
{
    ims_jw_t w;
    ims_jw_init(&w);
    ims_jw_begin(&w, NULL);
    ims_jw_int(&w, "n", -42);
    ims_jw_str(&w, "skipped", NULL);
    ims_jw_str(&w, "empty", "");
    ims_jw_str(&w, "s", "a\"b\\c\r\n\t\x01 caf\xc3\xa9 \xff end");
    ims_jw_bool(&w, "t", true);
    ims_jw_begin(&w, "o");
    ims_jw_str(&w, "x", "y");
    ims_jw_begin(&w, "inner");
    ims_jw_end(&w);
    ims_jw_end(&w);
    ims_jw_raw(&w, "raw", "[1,2]");
    ims_jw_strn(&w, "nul", "a\0b", 3);
    ims_jw_end(&w);
    json_t *j = parse(&w);
    assert_int_equal(json_integer_value(json_object_get(j, "n")), -42);
    assert_null(json_object_get(j, "skipped"));
    assert_null(json_object_get(j, "empty"));
    assert_string_equal(json_string_value(json_object_get(j, "s")),
                        "a\"b\\c\r\n\t\x01 caf\xc3\xa9 ? end");
    assert_true(json_is_true(json_object_get(j, "t")));
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "o"), "x")), "y");
    assert_true(json_is_object(json_object_get(json_object_get(j, "o"), "inner")));
    assert_int_equal(json_array_size(json_object_get(j, "raw")), 2);
    assert_string_equal(json_string_value(json_object_get(j, "nul")), "a?b");
    json_decref(j);
}

static void test_random_bytes_always_parse(void **state)
{
    srand(7);
    for (int iter = 0; iter < 5000; iter++) {
        char b[64];
        size_t len = (size_t)(rand() % 64);
        for (size_t i = 0; i < len; i++)
            b[i] = (char)rand();
        ims_jw_t w;
        ims_jw_init(&w);
        ims_jw_begin(&w, NULL);
        ims_jw_strn(&w, "k", b, len);
        ims_jw_end(&w);
        json_t *j = parse(&w);
        json_decref(j);
    }
}

static void test_depth_limit(void **state)
{
    ims_jw_t w;
    ims_jw_init(&w);
    for (int i = 0; i < IMS_JW_DEPTH + 1; i++)
        ims_jw_begin(&w, i ? "k" : NULL);
    assert_null(ims_jw_take(&w, NULL)); /* too deep: refused, not corrupt */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_members),
        cmocka_unit_test(test_random_bytes_always_parse),
        cmocka_unit_test(test_depth_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
