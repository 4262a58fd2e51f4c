/* Unit tests for common/src/fault.c: every refusal names its field, matching by identity,
 * method and stage, and rules that never outlive their count or ttl. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ims/fault.h"

#define IMPI "432011123456791@ims.example"

static ims_faults_t *make(unsigned allowed, size_t max_rules)
{
    ims_faults_opts_t o = {.daemon = "scscf", .allowed = allowed, .max_rules = max_rules};
    o.why_not[6] = "it needs the reg-event package";
    ims_faults_t *f = NULL;
    assert_int_equal(ims_faults_new(&o, &f), 0);
    return f;
}

/* Adds the rule in text; returns the status and the error text. */
static int add(ims_faults_t *f, const char *text, int64_t now, char *err, json_t **rule)
{
    json_t *body = json_loads(text, 0, NULL);
    assert_non_null(body);
    err[0] = '\0';
    json_t *r = NULL;
    int rc = ims_faults_add(f, body, now, &r, err, 300);
    json_decref(body);
    if (rule)
        *rule = r;
    else
        json_decref(r);
    return rc;
}

static void expect_400(ims_faults_t *f, const char *text, const char *msg_part)
{
    char err[300];
    int rc = add(f, text, 0, err, NULL);
    if (rc != EINVAL || !strstr(err, msg_part))
        fail_msg("%s -> %d '%s' (wanted 400 with '%s')", text, rc, err, msg_part);
}

static void test_validation(void **state)
{
    ims_faults_t *f = make(IMS_FAULT_ALL & ~IMS_FAULT_DEREGISTER, 0);
    expect_400(f, "[]", "must be a JSON object");
    expect_400(f, "{\"match\":{}}", "action is required");
    expect_400(f, "{\"action\":{\"drop\":true},\"bogus\":1}", "unknown field 'bogus'");
    expect_400(f, "{\"match\":{\"imsy\":\"1\"},\"action\":{\"drop\":true}}",
               "unknown field 'match.imsy'");
    expect_400(f, "{\"match\":[],\"action\":{\"drop\":true}}", "match must be an object");
    expect_400(f, "{\"match\":{\"imsi\":\"12ab5\"},\"action\":{\"drop\":true}}",
               "match.imsi must be 5 to 15 digits");
    expect_400(f, "{\"match\":{\"imsi\":\"1234567890123456\"},\"action\":{\"drop\":true}}",
               "match.imsi must be 1 to 15 characters");
    expect_400(f, "{\"match\":{\"impu\":\"mailto:x\"},\"action\":{\"drop\":true}}",
               "match.impu must be a sip:, sips: or tel: URI");
    expect_400(f, "{\"match\":{\"impi\":5},\"action\":{\"drop\":true}}",
               "match.impi must be a string");
    expect_400(f, "{\"match\":{\"method\":\"REG-ISTER\"},\"action\":{\"drop\":true}}",
               "match.method must be a SIP method name");
    expect_400(f, "{\"match\":{\"stage\":\"later\"},\"action\":{\"drop\":true}}",
               "match.stage must be one of initial, auth, reregister, any");
    expect_400(f, "{\"action\":{}}", "action names no known fault");
    expect_400(f, "{\"action\":{\"reply\":503,\"drop\":true}}",
               "action has both 'reply' and 'drop'");
    expect_400(f, "{\"action\":{\"reply\":200}}", "action.reply must be from 300 to 699");
    expect_400(f, "{\"action\":{\"reply\":\"503\"}}", "action.reply must be an integer");
    expect_400(f, "{\"action\":{\"reply\":503,\"reason\":\"a\\r\\nVia: x\"}}",
               "action.reason must not contain control characters");
    expect_400(f, "{\"action\":{\"reply\":503,\"retry_after\":-1}}",
               "action.retry_after must be from 0 to 86400");
    expect_400(f, "{\"action\":{\"reply\":503,\"target\":\"answer\"}}",
               "unknown field 'action.target'");
    expect_400(f, "{\"action\":{\"drop\":false}}", "action.drop must be true");
    expect_400(f, "{\"action\":{\"drop\":true,\"target\":\"both\"}}",
               "action.target must be request or answer");
    expect_400(f, "{\"action\":{\"delay_ms\":0}}", "action.delay_ms must be from 1 to 60000");
    expect_400(f, "{\"match\":{\"stage\":\"initial\"},\"action\":{\"stale_nonce\":true}}",
               "use stage auth, reregister or any");
    expect_400(f, "{\"match\":{\"stage\":\"auth\"},\"action\":{\"sqn_out_of_sync\":true}}",
               "use stage initial, reregister or any");
    expect_400(f, "{\"match\":{\"stage\":\"initial\"},\"action\":{\"expires\":30}}",
               "use stage auth, reregister or any");
    expect_400(f, "{\"match\":{\"method\":\"SUBSCRIBE\"},\"action\":{\"expires\":30}}",
               "action.expires applies to REGISTER only");
    expect_400(f, "{\"action\":{\"deregister_after_s\":5}}",
               "the scscf does not carry out 'deregister_after_s': it needs the reg-event");
    expect_400(f, "{\"action\":{\"drop\":true},\"count\":0}", "count must be from 1 to 100000");
    expect_400(f, "{\"action\":{\"drop\":true},\"ttl_s\":86401}", "ttl_s must be from 1 to 86400");
    expect_400(f, "{\"action\":{\"drop\":true},\"count\":1.5}", "count must be an integer");
    /* Nothing was stored by any of them. */
    json_t *l = ims_faults_list(f, 0);
    assert_int_equal(json_integer_value(json_object_get(l, "total")), 0);
    json_decref(l);
    ims_faults_free(f);

    f = make(IMS_FAULT_ALL, 0);
    expect_400(f, "{\"action\":{\"deregister_after_s\":5,\"reason\":\"gone\"}}",
               "action.reason must be deactivated or rejected");
    char err[300];
    json_t *rule = NULL;
    assert_int_equal(add(f,
                         "{\"match\":{\"impi\":\"" IMPI "\",\"method\":\"register\","
                         "\"stage\":\"initial\"},\"action\":{\"reply\":503,\"reason\":"
                         "\"Service Unavailable\",\"retry_after\":30},\"count\":2,"
                         "\"ttl_s\":60}",
                         1000, err, &rule),
                     0);
    assert_int_equal(json_integer_value(json_object_get(rule, "id")), 1);
    assert_int_equal(json_integer_value(json_object_get(rule, "remaining")), 2);
    assert_int_equal(json_integer_value(json_object_get(rule, "expires_in")), 60);
    json_t *m = json_object_get(rule, "match");
    assert_string_equal(json_string_value(json_object_get(m, "method")), "REGISTER");
    json_t *a = json_object_get(rule, "action");
    assert_int_equal(json_integer_value(json_object_get(a, "retry_after")), 30);
    assert_string_equal(json_string_value(json_object_get(a, "reason")), "Service Unavailable");
    json_decref(rule);
    ims_faults_free(f);
}

static void test_match(void **state)
{
    ims_faults_t *f = make(IMS_FAULT_ALL, 0);
    char err[300];
    assert_int_equal(add(f,
                         "{\"match\":{\"imsi\":\"432011123456791\",\"stage\":\"auth\"},"
                         "\"action\":{\"stale_nonce\":true},\"count\":3}",
                         0, err, NULL),
                     0);
    assert_int_equal(add(f,
                         "{\"match\":{\"impu\":\"sip:a@x\"},\"action\":{\"delay_ms\":250,"
                         "\"target\":\"answer\"},\"count\":1}",
                         0, err, NULL),
                     0);
    ims_fault_action_t act;
    /* The IMSI is derived from the IMPI; the stage must match; kinds filter. */
    ims_fault_query_t q = {.impi = IMPI, .method = "REGISTER", .stage = IMS_STAGE_INITIAL};
    assert_false(ims_faults_match(f, &q, IMS_FAULT_ALL, 1, &act));
    q.stage = IMS_STAGE_AUTH;
    assert_false(ims_faults_match(f, &q, IMS_FAULT_REPLY | IMS_FAULT_DROP, 1, &act));
    assert_true(ims_faults_match(f, &q, IMS_FAULT_ALL, 1, &act));
    assert_int_equal(act.kind, IMS_FAULT_STALE_NONCE);
    assert_int_equal(act.rule_id, 1);
    assert_non_null(strstr(act.summary, "fault rule 1: treat the nonce as stale (1 of 3)"));
    q.impi = "999@x";
    assert_false(ims_faults_match(f, &q, IMS_FAULT_ALL, 1, &act));
    q.impu = "sip:a@x";
    q.stage = IMS_STAGE_NONE;
    q.method = "SUBSCRIBE";
    assert_true(ims_faults_match(f, &q, IMS_FAULT_ALL, 1, &act));
    assert_int_equal(act.kind, IMS_FAULT_DELAY);
    assert_int_equal(act.delay_ms, 250);
    assert_true(act.on_answer);
    /* Its count was 1: gone. */
    assert_false(ims_faults_match(f, &q, IMS_FAULT_ALL, 1, &act));
    assert_int_equal(ims_faults_count(f), 1);
    ims_faults_free(f);
}

static void test_limits(void **state)
{
    ims_faults_t *f = make(IMS_FAULT_ALL, 4);
    char err[300];
    /* count: fires exactly N times however many requests arrive. */
    assert_int_equal(add(f, "{\"action\":{\"reply\":486},\"count\":5,\"ttl_s\":100}", 0, err, NULL),
                     0);
    ims_fault_query_t q = {.impu = "sip:x@y", .method = "REGISTER", .stage = IMS_STAGE_INITIAL};
    ims_fault_action_t act;
    int fired = 0;
    for (int i = 0; i < 1000; i++)
        fired += ims_faults_match(f, &q, IMS_FAULT_ALL, i, &act);
    assert_int_equal(fired, 5);
    assert_int_equal(ims_faults_count(f), 0);
    /* ttl: alive until now >= created + ttl, then gone from match, list and delete. */
    assert_int_equal(
        add(f, "{\"action\":{\"drop\":true},\"count\":100000,\"ttl_s\":2}", 10000, err, NULL), 0);
    assert_true(ims_faults_match(f, &q, IMS_FAULT_ALL, 11999, &act));
    assert_false(ims_faults_match(f, &q, IMS_FAULT_ALL, 12000, &act));
    json_t *l = ims_faults_list(f, 12000);
    assert_int_equal(json_integer_value(json_object_get(l, "total")), 0);
    json_decref(l);
    assert_int_equal(add(f, "{\"action\":{\"drop\":true},\"ttl_s\":2}", 20000, err, NULL), 0);
    assert_int_equal(ims_faults_delete(f, 3, 22000), ENOENT); /* expired first */
    /* The table is bounded: the fifth live rule is refused (409 at the API). */
    for (int i = 0; i < 4; i++)
        assert_int_equal(add(f, "{\"action\":{\"drop\":true}}", 30000, err, NULL), 0);
    assert_int_equal(add(f, "{\"action\":{\"drop\":true}}", 30000, err, NULL), ENOSPC);
    assert_non_null(strstr(err, "delete some first"));
    assert_int_equal(ims_faults_delete(f, 4, 30000), 0);
    assert_int_equal(ims_faults_delete(f, 4, 30000), ENOENT);
    assert_int_equal(add(f, "{\"action\":{\"drop\":true}}", 30000, err, NULL), 0);
    /* Oldest rule first when several match. */
    assert_true(ims_faults_match(f, &q, IMS_FAULT_ALL, 30001, &act));
    assert_int_equal(act.rule_id, 5);
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    ims_faults_metrics(f, m);
    fclose(m);
    assert_non_null(strstr(buf, "scscf_faults_fired_total{action=\"reply\"} 5\n"));
    assert_non_null(strstr(buf, "scscf_faults_fired_total{action=\"drop\"} 2\n"));
    assert_non_null(strstr(buf, "scscf_faults_ended_total{by=\"count\"} 2\n"));
    assert_non_null(strstr(buf, "scscf_faults_ended_total{by=\"ttl\"} 2\n"));
    assert_non_null(strstr(buf, "scscf_faults_rules 3\n"));
    free(buf);
    assert_int_equal(ims_faults_clear(f), 3);
    assert_int_equal(ims_fault_stage_parse("reregister"), IMS_STAGE_REREGISTER);
    assert_int_equal(ims_fault_stage_parse("none"), -1);
    ims_faults_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_validation),
        cmocka_unit_test(test_match),
        cmocka_unit_test(test_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
