/* Unit tests for common/src/trim.c: when a burst's heap is handed back (the live
 * transactions halved since their peak, never below a small peak, not while load holds). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <sofia-sip/nta.h>
#include <sofia-sip/su.h>
#include <sofia-sip/su_wait.h>

#include "ims/loop.h"

static void test_steady_load_never_trims(void **state)
{
    (void)state;
    ims_loop_trim_t t = {0};
    /* 12,000 live transactions held for a minute with +-30% jitter: no trim. */
    for (int i = 0; i < 60; i++)
        assert_false(ims_loop_trim_due(&t, 12000 + (size_t)((i % 7) - 3) * 1200));
    assert_int_equal(t.trims, 0);
    assert_int_equal(t.peak, 12000 + 3 * 1200);
}

static void test_trims_at_each_halving_after_the_burst(void **state)
{
    (void)state;
    ims_loop_trim_t t = {0};
    assert_false(ims_loop_trim_due(&t, 10000));
    assert_false(ims_loop_trim_due(&t, 6000)); /* not yet half */
    assert_true(ims_loop_trim_due(&t, 5000));  /* half of the peak */
    assert_int_equal(t.peak, 5000);
    assert_false(ims_loop_trim_due(&t, 4000));
    assert_true(ims_loop_trim_due(&t, 100)); /* everything expired at once */
    assert_int_equal(t.peak, 100);
    assert_false(ims_loop_trim_due(&t, 0)); /* a peak of 100 is not worth a trim */
    assert_int_equal(t.trims, 2);
    /* The next burst starts a new peak. */
    assert_false(ims_loop_trim_due(&t, 3000));
    assert_true(ims_loop_trim_due(&t, 1000));
    assert_int_equal(t.trims, 3);
}

static void test_small_peaks_are_left_alone(void **state)
{
    (void)state;
    ims_loop_trim_t t = {0};
    for (int i = 0; i < 10; i++) {
        assert_false(ims_loop_trim_due(&t, 200));
        assert_false(ims_loop_trim_due(&t, 0));
    }
    assert_int_equal(t.trims, 0);
}

static void test_tick_on_an_idle_agent(void **state)
{
    (void)state;
    ims_loop_trim_t t = {0};
    assert_false(ims_loop_trim_tick(&t, NULL));
    su_init();
    su_root_t *root = su_root_create(NULL);
    assert_non_null(root);
    nta_agent_t *agent =
        nta_agent_create(root, URL_STRING_MAKE("sip:127.0.0.1:0"), NULL, NULL, TAG_END());
    assert_non_null(agent);
    assert_false(ims_loop_trim_tick(&t, agent)); /* no transactions: nothing to do */
    assert_int_equal(t.peak, 0);
    nta_agent_destroy(agent);
    su_root_destroy(root);
    su_deinit();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_steady_load_never_trims),
        cmocka_unit_test(test_trims_at_each_halving_after_the_burst),
        cmocka_unit_test(test_small_peaks_are_left_alone),
        cmocka_unit_test(test_tick_on_an_idle_agent),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
