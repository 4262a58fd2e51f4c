/* Unit tests for common/src/sip_conform.c on messages Sofia really parsed: unsupported
 * option tags, removing one, RFC 3581 received, same-resource URIs and short bodies. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include <sofia-sip/msg_header.h>
#include <sofia-sip/sip_header.h>
#include <sofia-sip/sip_parser.h>
#include <sofia-sip/su_alloc.h>

#include "ims/sip_conform.h"

static msg_t *parse(const char *head, const char *body)
{
    char text[2048];
    int n = snprintf(text, sizeof text,
                     "REGISTER sip:ims.example SIP/2.0\r\n"
                     "Via: SIP/2.0/UDP 127.0.0.1:5070;rport;branch=z9hG4bK1\r\n"
                     "From: <sip:a@ims.example>;tag=1\r\nTo: <sip:a@ims.example>\r\n"
                     "Call-ID: c1\r\nCSeq: 1 REGISTER\r\n%s\r\n%s",
                     head, body);
    msg_t *msg = msg_make(sip_default_mclass(), 0, text, (size_t)n);
    assert_non_null(msg);
    return msg;
}

static void test_unsupported(void **state)
{
    static const char *const supported[] = {"path", NULL};
    char out[128];
    msg_t *msg =
        parse("Require: path, foo\r\nRequire: FOO, bar, Path\r\nContent-Length: 0\r\n", "");
    sip_t *sip = sip_object(msg);
    /* Each unsupported tag once, in order; matching ignores case. */
    assert_int_equal(
        ims_sip_unsupported((msg_list_t *)sip->sip_require, supported, out, sizeof out), 2);
    assert_string_equal(out, "foo, bar");
    assert_int_equal(ims_sip_unsupported(NULL, supported, out, sizeof out), 0);
    assert_string_equal(out, "");
    /* A short buffer still counts every tag. */
    assert_int_equal(ims_sip_unsupported((msg_list_t *)sip->sip_require, NULL, out, 4), 3);
    msg_destroy(msg);
}

static void test_option_tag_remove(void **state)
{
    msg_t *msg = parse("Require: sec-agree\r\nProxy-Require: path, sec-agree\r\n"
                       "Content-Length: 0\r\n",
                       "");
    sip_t *sip = sip_object(msg);
    assert_int_equal(ims_sip_option_tag_remove(msg, sip, "SEC-AGREE"), 2);
    assert_null(sip->sip_require); /* left empty: gone */
    assert_non_null(sip->sip_proxy_require);
    assert_string_equal(sip->sip_proxy_require->k_items[0], "path");
    assert_null(sip->sip_proxy_require->k_items[1]);
    assert_int_equal(ims_sip_option_tag_remove(msg, sip, "sec-agree"), 0);
    msg_destroy(msg);
}

static void test_via_received(void **state)
{
    msg_t *msg = parse("Content-Length: 0\r\n", "");
    sip_t *sip = sip_object(msg);
    /* RFC 3581 §4: with rport, received even when it equals sent-by. */
    assert_int_equal(ims_sip_via_received(msg, sip->sip_via, "127.0.0.1"), 0);
    assert_string_equal(sip->sip_via->v_received, "127.0.0.1");
    assert_int_equal(ims_sip_via_received(msg, sip->sip_via, "10.1.2.3"), 0);
    assert_string_equal(sip->sip_via->v_received, "10.1.2.3");
    char *text = sip_header_as_string(msg_home(msg), (sip_header_t *)sip->sip_via);
    assert_non_null(strstr(text, "received=10.1.2.3"));
    assert_null(strstr(text, "received=127.0.0.1"));
    msg_destroy(msg);
    /* Without rport nothing changes (RFC 3261 §18.2.1 is nta's business). */
    msg = parse("Content-Length: 0\r\n", "");
    sip = sip_object(msg);
    msg_header_remove_param(sip->sip_via->v_common, "rport");
    assert_int_equal(ims_sip_via_received(msg, sip->sip_via, "127.0.0.1"), 0);
    assert_null(sip->sip_via->v_received);
    msg_destroy(msg);
}

static void test_same_resource(void **state)
{
    static const struct {
        const char *a, *b;
        bool same;
    } cases[] = {
        {"sip:ims.example", "sip:ims.example", true},
        {"sip:ims.example", "sip:IMS.Example", true},
        {"sip:ims.example", "sip:ims.example:5060", true},
        {"sip:ims.example", "sip:ims.example;transport=udp", true},
        {"sips:ims.example", "sips:ims.example:5061", true},
        {"sip:ims.example", "sip:ims.example:5070", false},
        {"sip:ims.example", "sip:u@ims.example", false},
        {"sip:U@ims.example", "sip:u@ims.example", false},
        {"sip:ims.example", "sips:ims.example", false},
        {"sip:ims.example", "sip:other.example", false},
        {"sip:ims.example", "tel:+15555550100", false},
        {"tel:+15555550100", "tel:+15555550100", true},
    };
    su_home_t home[1] = {SU_HOME_INIT(home)};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        url_t *a = url_make(home, cases[i].a), *b = url_make(home, cases[i].b);
        assert_int_equal(ims_sip_same_resource(a, b), cases[i].same);
        assert_int_equal(ims_sip_same_resource(b, a), cases[i].same);
    }
    assert_false(ims_sip_same_resource(NULL, url_make(home, "sip:x")));
    su_home_deinit(home);
}

static void test_body_short(void **state)
{
    msg_t *msg = parse("Content-Length: 5\r\n", "hello");
    assert_false(ims_sip_body_short(sip_object(msg)));
    msg_destroy(msg);
    msg = parse("Content-Length: 0\r\n", "");
    assert_false(ims_sip_body_short(sip_object(msg)));
    msg_destroy(msg);
    /* A datagram cut short: Sofia takes it with what is there. */
    msg = parse("Content-Length: 99\r\n", "hello");
    assert_true(ims_sip_body_short(sip_object(msg)));
    msg_destroy(msg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unsupported),  cmocka_unit_test(test_option_tag_remove),
        cmocka_unit_test(test_via_received), cmocka_unit_test(test_same_resource),
        cmocka_unit_test(test_body_short),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
