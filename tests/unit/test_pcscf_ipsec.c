/* Unit tests for the P-CSCF's per-UE IPsec state (pcscf/ipsec.c) over the real SA table:
 * challenge → four SAs, protected REGISTER checks, re-authentication, teardown, exports. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ims/util.h"
#include "ipsec.h"

#define CK     "00112233445566778899aabbccddeeff"
#define IK     "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
#define IMPI   "001010000000001@ims.test"
#define UE     "10.9.0.2"
#define CLIENT "ipsec-3gpp;alg=hmac-sha-1-96;ealg=aes-cbc;spi-c=%u;spi-s=%u;port-c=%u;port-s=%u"

typedef struct fx {
    pcscf_esp_table_t t;
    pcscf_ipsec_t *x;
} fx_t;

static int setup(void **state)
{
    static fx_t f;
    char err[128];
    assert_int_equal(pcscf_esp_user_create(&f.t), 0);
    pcscf_ipsec_conf_t c = {.port_c = 5064, .port_s = 5066, .addr = "10.9.0.1"};
    assert_int_equal(pcscf_ipsec_create(&c, &f.t, &f.x, err, sizeof err), 0);
    *state = &f;
    return 0;
}

static int teardown(void **state)
{
    fx_t *f = *state;
    pcscf_ipsec_destroy(f->x);
    assert_int_equal(f->t.ops->count(f->t.be), 0); /* nothing left behind */
    f->t.ops->destroy(f->t.be);
    return 0;
}

static void client(pcscf_sec_list_t *l, unsigned spi_c, unsigned port_c)
{
    char text[256], err[128];
    snprintf(text, sizeof text, CLIENT, spi_c, spi_c + 1, port_c, 50001);
    l->n = 0;
    assert_int_equal(pcscf_sec_parse(text, l, err, sizeof err), 0);
}

/* Challenge, then the protected REGISTER echoing our Security-Server: returns it parsed. */
static void challenge(fx_t *f, unsigned spi_c, unsigned port_c, pcscf_sec_list_t *server)
{
    pcscf_sec_list_t l;
    char srv[256], why[160];
    client(&l, spi_c, port_c);
    assert_int_equal(
        pcscf_ipsec_challenge(f->x, IMPI, UE, &l, CK, IK, srv, sizeof srv, why, sizeof why), 0);
    assert_non_null(strstr(srv, ";port-c=5064;port-s=5066;ealg=aes-cbc;alg=hmac-sha-1-96"));
    server->n = 0;
    assert_int_equal(pcscf_sec_parse(srv, server, why, sizeof why), 0);
}

static void test_agreement(void **state)
{
    fx_t *f = *state;
    pcscf_sec_list_t server, none = {.n = 0};
    char why[160];
    challenge(f, 1000, 50000, &server);
    assert_int_equal(pcscf_ipsec_sa_count(f->x), 4);
    assert_false(pcscf_ipsec_is_protected(f->x, UE)); /* not until the protected REGISTER */
    /* our SPIs: valid, distinct, and the ones the inbound SAs use */
    assert_true(server.o[0].spi_c >= 256 && server.o[0].spi_s >= 256);
    assert_int_not_equal(server.o[0].spi_c, server.o[0].spi_s);
    assert_non_null(pcscf_esp_user_lookup_in(&f->t, server.o[0].spi_s));
    assert_non_null(pcscf_esp_user_lookup_in(&f->t, server.o[0].spi_c));
    /* refusals: wrong source port, unprotected port, other UE, no or wrong Security-Verify */
    assert_int_equal(pcscf_ipsec_verify(f->x, IMPI, UE, 50009, 5066, &server, why, sizeof why),
                     EACCES);
    assert_string_equal(why, "the REGISTER did not come over the SAs of this UE");
    assert_int_equal(pcscf_ipsec_verify(f->x, IMPI, UE, 50000, 5060, &server, why, sizeof why),
                     EACCES);
    assert_int_equal(
        pcscf_ipsec_verify(f->x, "other@ims.test", UE, 50000, 5066, &server, why, sizeof why),
        EACCES);
    assert_int_equal(pcscf_ipsec_verify(f->x, IMPI, UE, 50000, 5066, &none, why, sizeof why),
                     EACCES);
    assert_string_equal(why, "Security-Verify missing in the protected REGISTER");
    pcscf_sec_list_t wrong = server;
    wrong.o[0].spi_c++;
    assert_int_equal(pcscf_ipsec_verify(f->x, IMPI, UE, 50000, 5066, &wrong, why, sizeof why),
                     EACCES);
    assert_int_equal(pcscf_ipsec_stats(f->x)->verify_failed, 5);
    assert_int_equal(pcscf_ipsec_verify(f->x, IMPI, UE, 50000, 5066, &server, why, sizeof why), 0);
    pcscf_ipsec_registered(f->x, IMPI, 600);
    assert_true(pcscf_ipsec_is_protected(f->x, UE));
    assert_false(pcscf_ipsec_is_protected(f->x, "10.9.0.3"));

    /* re-authentication: a new set beside the old; the old goes once the new is used */
    pcscf_sec_list_t server2;
    challenge(f, 2000, 50002, &server2);
    assert_int_equal(pcscf_ipsec_sa_count(f->x), 8);
    assert_int_equal(pcscf_ipsec_verify(f->x, IMPI, UE, 50000, 5066, &server, why, sizeof why),
                     0); /* re-registration over the old SAs still works meanwhile */
    assert_int_equal(pcscf_ipsec_verify(f->x, IMPI, UE, 50002, 5066, &server2, why, sizeof why), 0);
    assert_int_equal(pcscf_ipsec_sa_count(f->x), 4);
    assert_null(pcscf_esp_user_lookup_in(&f->t, server.o[0].spi_s));
    assert_non_null(pcscf_esp_user_lookup_in(&f->t, server2.o[0].spi_s));

    /* deregistration: unprotected at once, the SAs gone once the 200 could leave */
    pcscf_ipsec_registered(f->x, IMPI, 0);
    assert_false(pcscf_ipsec_is_protected(f->x, UE));
    assert_int_equal(pcscf_ipsec_sa_count(f->x), 4);
    assert_int_equal(pcscf_ipsec_expire(f->x, ims_now_ms() + 1000), 0);
    assert_int_equal(pcscf_ipsec_expire(f->x, ims_now_ms() + 2500), 1);
    assert_int_equal(pcscf_ipsec_sa_count(f->x), 0);
}

static void test_refused_challenges(void **state)
{
    fx_t *f = *state;
    pcscf_sec_list_t l = {.n = 0};
    char srv[256], why[160];
    client(&l, 1000, 50000);
    assert_int_equal(
        pcscf_ipsec_challenge(f->x, IMPI, UE, &l, "zz", IK, srv, sizeof srv, why, sizeof why),
        EINVAL);
    assert_int_equal(pcscf_ipsec_challenge(f->x, IMPI, "not-an-ip", &l, CK, IK, srv, sizeof srv,
                                           why, sizeof why),
                     EINVAL);
    l.n = 0;
    assert_int_equal(pcscf_sec_parse("ipsec-3gpp;alg=hmac-sha-256;spi-c=300;spi-s=301;port-c=1;"
                                     "port-s=2",
                                     &l, why, sizeof why),
                     0);
    assert_int_equal(
        pcscf_ipsec_challenge(f->x, IMPI, UE, &l, CK, IK, srv, sizeof srv, why, sizeof why),
        ENOTSUP);
    assert_int_equal(pcscf_ipsec_sa_count(f->x), 0);
    assert_false(pcscf_ipsec_remove(f->x, IMPI)); /* no state kept either */
}

static void test_expiry_and_exports(void **state)
{
    fx_t *f = *state;
    pcscf_sec_list_t server;
    char why[160];
    challenge(f, 1000, 50000, &server);
    json_t *j = pcscf_ipsec_json(f->x, false);
    assert_int_equal(json_integer_value(json_object_get(j, "total")), 4);
    json_t *first = json_array_get(json_object_get(j, "items"), 0);
    assert_string_equal(json_string_value(json_object_get(first, "impi")), IMPI);
    assert_string_equal(json_string_value(json_object_get(first, "state")), "pending");
    assert_null(json_object_get(first, "auth_key"));
    char *dump = json_dumps(j, 0);
    assert_null(strstr(dump, "0f1e2d3c4b5a6978")); /* IK nowhere without keys */
    free(dump);
    json_decref(j);
    j = pcscf_ipsec_json(f->x, true);
    first = json_array_get(json_object_get(j, "items"), 0);
    assert_string_equal(json_string_value(json_object_get(first, "auth_key")),
                        "0f1e2d3c4b5a69788796a5b4c3d2e1f000000000");
    assert_string_equal(json_string_value(json_object_get(first, "enc_key")), CK);
    json_decref(j);
    char *text = pcscf_ipsec_esp_sa(f->x);
    int lines = 0;
    for (char *p = text; (p = strchr(p, '\n')); p++)
        lines++;
    assert_int_equal(lines, 4);
    assert_non_null(strstr(text, "\"IPv4\",\"10.9.0.2\",\"10.9.0.1\","));
    free(text);
    /* an unanswered challenge lives pending_s (300 s by default) */
    assert_int_equal(pcscf_ipsec_expire(f->x, ims_now_ms() + 299 * 1000), 0);
    assert_int_equal(pcscf_ipsec_expire(f->x, ims_now_ms() + 301 * 1000), 1);
    assert_int_equal(pcscf_ipsec_sa_count(f->x), 0);
    /* a registered set lives as long as the registration */
    challenge(f, 1000, 50000, &server);
    assert_int_equal(pcscf_ipsec_verify(f->x, IMPI, UE, 50000, 5066, &server, why, sizeof why), 0);
    pcscf_ipsec_registered(f->x, IMPI, 3600);
    assert_int_equal(pcscf_ipsec_expire(f->x, ims_now_ms() + 3000 * 1000), 0);
    assert_int_equal(pcscf_ipsec_expire(f->x, ims_now_ms() + 3601 * 1000), 1);
    assert_false(pcscf_ipsec_is_protected(f->x, UE));
    challenge(f, 1000, 50000, &server);
    assert_true(pcscf_ipsec_remove(f->x, IMPI));
}

static void test_modes(void **state)
{
    pcscf_sec_agree_t m;
    assert_int_equal(pcscf_sec_agree_parse("required", &m), 0);
    assert_int_equal(m, PCSCF_SEC_AGREE_REQUIRED);
    assert_string_equal(pcscf_sec_agree_name(m), "required");
    assert_int_equal(pcscf_sec_agree_parse("yes", &m), EINVAL);
    pcscf_esp_table_t t;
    pcscf_ipsec_t *x = NULL;
    char err[128];
    assert_int_equal(pcscf_esp_user_create(&t), 0);
    pcscf_ipsec_conf_t c = {.port_c = 5064, .port_s = 5064};
    assert_int_equal(pcscf_ipsec_create(&c, &t, &x, err, sizeof err), EINVAL);
    c.port_s = 5066;
    c.enc_prefs = "rot13";
    assert_int_equal(pcscf_ipsec_create(&c, &t, &x, err, sizeof err), EINVAL);
    assert_string_equal(err, "unknown encryption algorithm \"rot13\"");
    assert_null(x);
    t.ops->destroy(t.be);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_agreement, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refused_challenges, setup, teardown),
        cmocka_unit_test_setup_teardown(test_expiry_and_exports, setup, teardown),
        cmocka_unit_test(test_modes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
