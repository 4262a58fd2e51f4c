/* Unit tests for common/src/heap.c: random pushes, re-keyings and removals checked against
 * a plain array, pops in due order, positions kept up to date, reserve before push. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ims/heap.h"

#define N 3000

typedef struct {
    ims_heap_node_t node;
    int filed;
} item_t;

static void check_invariants(const ims_heap_t *h)
{
    for (size_t i = 0; i < h->n; i++) {
        assert_int_equal(h->v[i]->idx, i);
        if (i > 0)
            assert_true(h->v[(i - 1) / 2]->due <= h->v[i]->due);
    }
}

static void test_random_operations_keep_order(void **state)
{
    (void)state;
    static item_t items[N];
    ims_heap_t h = {0};
    memset(items, 0, sizeof(items));
    srand(7);
    size_t filed = 0;
    for (int step = 0; step < 20000; step++) {
        item_t *it = &items[rand() % N];
        int op = rand() % 3;
        if (!it->filed) {
            assert_int_equal(ims_heap_reserve(&h, 1), 0);
            it->node.due = (int64_t)(rand() % 100000) - 50000;
            ims_heap_push(&h, &it->node);
            it->filed = 1;
            filed++;
        } else if (op == 0) {
            ims_heap_remove(&h, &it->node);
            it->filed = 0;
            filed--;
        } else {
            ims_heap_set_due(&h, &it->node, (int64_t)(rand() % 100000) - 50000);
        }
        assert_int_equal(h.n, filed);
        if (step % 500 == 0)
            check_invariants(&h);
    }
    check_invariants(&h);
    /* Popping gives every filed item once, in due order, and the minimum each time. */
    int64_t last = INT64_MIN;
    while (ims_heap_top(&h)) {
        ims_heap_node_t *top = ims_heap_top(&h);
        int64_t min = INT64_MAX;
        for (size_t i = 0; i < N; i++)
            if (items[i].filed && items[i].node.due < min)
                min = items[i].node.due;
        assert_true(top->due == min);
        assert_true(top->due >= last);
        last = top->due;
        ims_heap_remove(&h, top);
        ((item_t *)((char *)top - offsetof(item_t, node)))->filed = 0;
    }
    for (size_t i = 0; i < N; i++)
        assert_false(items[i].filed);
    ims_heap_free(&h);
}

static void test_reserve_and_extremes(void **state)
{
    (void)state;
    ims_heap_t h = {0};
    assert_null(ims_heap_top(&h));
    assert_int_equal(ims_heap_reserve(&h, 5000), 0);
    assert_true(h.cap >= 5000);
    size_t cap = h.cap;
    ims_heap_node_t a = {.due = INT64_MAX}, b = {.due = INT64_MIN}, c = {.due = 0};
    ims_heap_push(&h, &a);
    ims_heap_push(&h, &b);
    ims_heap_push(&h, &c);
    assert_int_equal(h.cap, cap); /* reserved room: no reallocation */
    assert_ptr_equal(ims_heap_top(&h), &b);
    ims_heap_set_due(&h, &b, INT64_MAX);
    assert_ptr_equal(ims_heap_top(&h), &c);
    ims_heap_remove(&h, &c);
    assert_int_equal(h.n, 2);
    check_invariants(&h);
    ims_heap_free(&h);
    assert_int_equal(h.n, 0);
    assert_null(h.v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_random_operations_keep_order),
        cmocka_unit_test(test_reserve_and_extremes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
