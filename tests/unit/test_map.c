/* Unit tests for common/src/map.c: random operations checked against a plain array model
 * (contents, count, order), deletion while iterating, callbacks, and the IMPU key rule. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ims/map.h"

#define NKEYS 2500

/* The model: for each key of a fixed pool, whether it is present, its value, and the
 * stamp that orders it (insertion or last touch). */
typedef struct model {
    char key[NKEYS][16];
    bool present[NKEYS];
    intptr_t val[NKEYS];
    unsigned long stamp[NKEYS];
    unsigned long clock;
    size_t count;
} model_t;

static int freed_vals;

static void count_free(void *val)
{
    (void)val;
    freed_vals++;
}

static const ims_map_type_t counted_str = {ims_str_hash, ims_str_compare, NULL, NULL, count_free};

/* Every model entry is in the map with its value, the map has nothing else, and its
 * order is the model's stamp order. */
static void check_against_model(ims_map_t *m, const model_t *md)
{
    assert_int_equal(ims_map_count(m), md->count);
    for (size_t i = 0; i < NKEYS; i += 7) {
        ims_map_entry_t *e = ims_map_find(m, md->key[i]);
        assert_int_equal(e != NULL, md->present[i]);
        if (e)
            assert_int_equal((intptr_t)ims_map_entry_val(e), md->val[i]);
    }
    ims_map_iter_t it;
    ims_map_iter_init(m, &it);
    size_t seen = 0;
    unsigned long last = 0;
    for (ims_map_entry_t *e; (e = ims_map_iter_next(&it));) {
        int k = atoi((const char *)ims_map_entry_key(e) + 1);
        assert_true(md->present[k]);
        assert_true(md->stamp[k] > last);
        last = md->stamp[k];
        seen++;
    }
    assert_int_equal(seen, md->count);
}

static void model_op(ims_map_t *m, model_t *md, int k, int op)
{
    intptr_t v = rand() % 100000 + 1;
    switch (op) {
    case 0: /* add */
        assert_int_equal(ims_map_add(m, md->key[k], (void *)v), md->present[k] ? EEXIST : 0);
        if (!md->present[k]) {
            md->present[k] = true;
            md->val[k] = v;
            md->stamp[k] = ++md->clock;
            md->count++;
        }
        break;
    case 1: /* put: replaces in place, keeps the order */
        assert_int_equal(ims_map_put(m, md->key[k], (void *)v), 0);
        if (!md->present[k]) {
            md->present[k] = true;
            md->stamp[k] = ++md->clock;
            md->count++;
        }
        md->val[k] = v;
        break;
    case 2: /* del */
        assert_int_equal(ims_map_del(m, md->key[k]), md->present[k]);
        if (md->present[k])
            md->count--;
        md->present[k] = false;
        break;
    case 3: /* take */
        assert_int_equal((intptr_t)ims_map_take(m, md->key[k]), md->present[k] ? md->val[k] : 0);
        if (md->present[k])
            md->count--;
        md->present[k] = false;
        break;
    default: { /* touch */
        ims_map_entry_t *e = ims_map_find(m, md->key[k]);
        assert_int_equal(e != NULL, md->present[k]);
        if (e) {
            ims_map_touch(m, e);
            md->stamp[k] = ++md->clock;
        }
    }
    }
}

static void test_random_operations_match_model(void **state)
{
    (void)state;
    static model_t md;
    memset(&md, 0, sizeof(md));
    for (int i = 0; i < NKEYS; i++)
        snprintf(md.key[i], sizeof(md.key[i]), "k%d", i);
    ims_map_t *m = NULL;
    assert_int_equal(ims_map_create(&ims_map_str, 0, &m), 0);
    srand(11);
    for (int step = 0; step < 60000; step++) {
        /* Adds dominate early so the table grows through several doublings. */
        int op = step < 20000 && rand() % 2 ? 0 : rand() % 5;
        model_op(m, &md, rand() % NKEYS, op);
        if (step % 2000 == 0)
            check_against_model(m, &md);
    }
    check_against_model(m, &md);
    ims_map_clear(m);
    assert_int_equal(ims_map_count(m), 0);
    assert_null(ims_map_oldest(m));
    assert_int_equal(ims_map_add(m, "again", (void *)1), 0);
    assert_int_equal((intptr_t)ims_map_get(m, "again"), 1);
    ims_map_free(m);
}

static void test_delete_current_while_iterating(void **state)
{
    (void)state;
    static char keys[1000][8];
    ims_map_t *m = NULL;
    assert_int_equal(ims_map_create(&counted_str, 4, &m), 0);
    for (int i = 0; i < 1000; i++) {
        snprintf(keys[i], sizeof(keys[i]), "%d", i);
        assert_int_equal(ims_map_add(m, keys[i], (void *)(intptr_t)(i + 1)), 0);
    }
    freed_vals = 0;
    ims_map_iter_t it;
    ims_map_iter_init(m, &it);
    int expect = 1;
    for (ims_map_entry_t *e; (e = ims_map_iter_next(&it));) {
        assert_int_equal((intptr_t)ims_map_entry_val(e), expect); /* insertion order */
        if (expect % 3 == 0)
            ims_map_del_entry(m, e);
        else if (expect % 3 == 1)
            assert_true(ims_map_del(m, ims_map_entry_key(e)));
        expect++;
    }
    assert_int_equal(expect, 1001);
    assert_int_equal(freed_vals, 667);
    assert_int_equal(ims_map_count(m), 333);
    /* What is left is every third key, still in order, oldest first. */
    assert_int_equal((intptr_t)ims_map_entry_val(ims_map_oldest(m)), 2);
    freed_vals = 0;
    ims_map_free(m);
    assert_int_equal(freed_vals, 333);
}

static void test_put_replaces_and_frees_old_value(void **state)
{
    (void)state;
    ims_map_t *m = NULL;
    assert_int_equal(ims_map_create(&counted_str, 0, &m), 0);
    freed_vals = 0;
    assert_int_equal(ims_map_put(m, "a", (void *)1), 0);
    assert_int_equal(ims_map_put(m, "b", (void *)2), 0);
    assert_int_equal(ims_map_put(m, "a", (void *)3), 0);
    assert_int_equal(freed_vals, 1);
    assert_int_equal((intptr_t)ims_map_get(m, "a"), 3);
    assert_string_equal(ims_map_entry_key(ims_map_oldest(m)), "a"); /* kept its place */
    assert_int_equal((intptr_t)ims_map_take(m, "a"), 3);
    assert_int_equal(freed_vals, 1); /* take hands the value back */
    assert_null(ims_map_get(m, "a"));
    ims_map_touch(m, ims_map_find(m, "b"));
    ims_map_free(m);
    assert_int_equal(freed_vals, 2);
}

static void test_copied_keys_outlive_the_caller_buffer(void **state)
{
    (void)state;
    ims_map_t *m = NULL;
    assert_int_equal(ims_map_create(&ims_map_str, 0, &m), 0);
    char buf[32];
    for (int i = 0; i < 100; i++) {
        snprintf(buf, sizeof(buf), "key-%d", i);
        assert_int_equal(ims_map_add(m, buf, (void *)(intptr_t)(i + 1)), 0);
    }
    memset(buf, 'x', sizeof(buf) - 1);
    assert_int_equal((intptr_t)ims_map_get(m, "key-42"), 43);
    assert_null(ims_map_get(m, "key-100"));
    ims_map_free(m);
}

static void test_impu_rule(void **state)
{
    (void)state;
    static const char *same[][2] = {
        {"sip:alice@ims.example.net", "SIP:alice@IMS.Example.NET"},
        {"sips:bob@Host.Org:5061", "SIPS:bob@host.org:5061"},
        {"sip:ims.example.net", "sip:IMS.EXAMPLE.NET"},
        {"sip:+1555;npdi@Ex.Net;user=phone", "sip:+1555;npdi@ex.net;user=phone"},
        {"Tel:+15551234", "tel:+15551234"},
        {"sip:a@b.c?X=Y", "sip:a@B.C?X=Y"},
    };
    static const char *differ[][2] = {
        {"sip:Alice@ims.example.net", "sip:alice@ims.example.net"},
        {"sip:alice@ims.example.net;user=Phone", "sip:alice@ims.example.net;user=phone"},
        {"sip:alice@ims.example.net", "sip:alice@ims.example.net:5060"},
        {"tel:+1555ABC", "tel:+1555abc"},
        {"sip:alice@ims.example.net", "sips:alice@ims.example.net"},
        {"urn:X", "urn:x"},
        {"sip:a@b.c?X=Y", "sip:a@b.c?x=y"},
        {"alice", "ALICE"},
    };
    for (size_t i = 0; i < sizeof(same) / sizeof(same[0]); i++) {
        assert_true(ims_impu_equal(same[i][0], same[i][1]));
        assert_true(ims_impu_hash(same[i][0]) == ims_impu_hash(same[i][1]));
    }
    for (size_t i = 0; i < sizeof(differ) / sizeof(differ[0]); i++)
        assert_false(ims_impu_equal(differ[i][0], differ[i][1]));
    ims_map_t *m = NULL;
    assert_int_equal(ims_map_create(&ims_map_impu, 0, &m), 0);
    assert_int_equal(ims_map_add(m, "sip:alice@ims.example.net", (void *)1), 0);
    assert_int_equal(ims_map_add(m, "sip:alice@IMS.EXAMPLE.NET", (void *)2), EEXIST);
    assert_int_equal(ims_map_add(m, "sip:ALICE@ims.example.net", (void *)3), 0);
    assert_int_equal((intptr_t)ims_map_get(m, "Sip:alice@Ims.Example.Net"), 1);
    assert_int_equal(ims_map_count(m), 2);
    ims_map_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_random_operations_match_model),
        cmocka_unit_test(test_delete_current_while_iterating),
        cmocka_unit_test(test_put_replaces_and_frees_old_value),
        cmocka_unit_test(test_copied_keys_outlive_the_caller_buffer),
        cmocka_unit_test(test_impu_rule),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
