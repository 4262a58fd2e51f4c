/* Unit tests for sec-agree (pcscf/secagree.c): Security-Client as phones send it, every
 * refusal with its reason, the algorithm choice, Security-Server and Security-Verify. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "secagree.h"

/* Two offers in one line and a third on another, as a VoLTE phone sends them. */
static const char *PHONE1 =
    "ipsec-3gpp;alg=hmac-sha-1-96;ealg=aes-cbc;mod=trans;port-c=65190;port-s=65191;"
    "prot=esp;spi-c=1234567;spi-s=7654321, ipsec-3gpp; alg=hmac-md5-96; ealg=null; "
    "mod=trans; port-c=65190; port-s=65191; prot=esp; spi-c=1234567; spi-s=7654321";
static const char *PHONE2 = "ipsec-3gpp;q=0.5;alg=hmac-sha-1-96;spi-c=4000;spi-s=4001;"
                            "port-c=5080;port-s=5081;x-vendor=\"a;b,c\"";

static void test_parse_phone(void **state)
{
    pcscf_sec_list_t l = {.n = 0};
    char err[160] = "";
    assert_int_equal(pcscf_sec_parse(PHONE1, &l, err, sizeof err), 0);
    assert_int_equal(pcscf_sec_parse(PHONE2, &l, err, sizeof err), 0);
    assert_int_equal(l.n, 3);
    assert_true(l.o[0].ipsec);
    assert_true(l.o[0].alg_known && l.o[0].ealg_known);
    assert_int_equal(l.o[0].auth, PCSCF_ESP_AUTH_HMAC_SHA1_96);
    assert_int_equal(l.o[0].enc, PCSCF_ESP_ENC_AES_CBC);
    assert_int_equal(l.o[0].spi_c, 1234567);
    assert_int_equal(l.o[0].spi_s, 7654321);
    assert_int_equal(l.o[0].port_c, 65190);
    assert_int_equal(l.o[0].port_s, 65191);
    assert_int_equal(l.o[0].q, -1);
    assert_int_equal(l.o[1].auth, PCSCF_ESP_AUTH_HMAC_MD5_96);
    assert_int_equal(l.o[1].enc, PCSCF_ESP_ENC_NULL);
    assert_string_equal(l.o[2].ealg, "null"); /* absent ealg means null */
    assert_int_equal(l.o[2].q, 500);
    /* other mechanisms are kept by name; unknown algorithms parse but are not "known" */
    l.n = 0;
    assert_int_equal(pcscf_sec_parse("digest;q=0.1, tls;q=0.2, ipsec-3gpp;alg=hmac-sha-256-128;"
                                     "ealg=AES-GCM;spi-c=300;spi-s=301;port-c=1;port-s=2",
                                     &l, err, sizeof err),
                     0);
    assert_int_equal(l.n, 3);
    assert_string_equal(l.o[0].mech, "digest");
    assert_false(l.o[0].ipsec);
    assert_int_equal(l.o[1].q, 200);
    assert_false(l.o[2].alg_known);
    assert_false(l.o[2].ealg_known);
    assert_string_equal(l.o[2].ealg, "aes-gcm");
}

static void refused(const char *value, int rc, const char *reason)
{
    pcscf_sec_list_t l = {.n = 0};
    char err[160] = "";
    assert_int_equal(pcscf_sec_parse(value, &l, err, sizeof err), rc);
    assert_int_equal(l.n, 0);
    if (!strstr(err, reason))
        fail_msg("\"%s\": reason \"%s\" does not contain \"%s\"", value, err, reason);
}

#define OK_TAIL ";port-c=5080;port-s=5081"
static void test_refusals(void **state)
{
    refused("ipsec-3gpp;alg=hmac-sha-1-96;spi-c=0;spi-s=4001" OK_TAIL, EINVAL,
            "spi-c=0 is not a valid SPI");
    refused("ipsec-3gpp;alg=hmac-sha-1-96;spi-c=4000;spi-s=255" OK_TAIL, EINVAL,
            "spi-s=255 is in the reserved SPI range 1..255");
    refused("ipsec-3gpp;alg=hmac-sha-1-96;spi-c=4294967296;spi-s=4001" OK_TAIL, EINVAL,
            "spi-c=4294967296 is out of range");
    refused("ipsec-3gpp;alg=hmac-sha-1-96;spi-c=4000;spi-s=4001;port-c=0;port-s=5081", EINVAL,
            "port-c=0 is not a usable port");
    refused("ipsec-3gpp;alg=hmac-sha-1-96;spi-c=4000;spi-s=4001;port-c=5080;port-s=65536", EINVAL,
            "port-s=65536 is out of range");
    refused("ipsec-3gpp;alg=hmac-sha-1-96;spi-c=4000;spi-s=4001;port-c=5080", EINVAL,
            "ipsec-3gpp offer without port-s");
    refused("ipsec-3gpp;spi-c=4000;spi-s=4001" OK_TAIL, EINVAL, "ipsec-3gpp offer without alg");
    refused("ipsec-3gpp;alg=hmac-sha-1-96;alg=hmac-md5-96;spi-c=4000;spi-s=4001" OK_TAIL, EINVAL,
            "alg appears twice");
    refused("ipsec-3gpp;alg=hmac-sha-1-96;spi-c=-4;spi-s=4001" OK_TAIL, EINVAL,
            "is not a decimal number");
    refused("ipsec-3gpp;alg=hmac-sha-1-96;spi-c=4000;spi-s=4001;port-c=50x;port-s=1", EINVAL,
            "port-c=50x is not a decimal number");
    refused("ipsec-3gpp;alg=hmac-sha-1-96;spi-c=4000;spi-s=4001;port-c=50 x;port-s=1", EINVAL,
            "unexpected 'x' in ipsec-3gpp offer");
    refused("ipsec-3gpp;q=1.5;alg=hmac-sha-1-96;spi-c=4000;spi-s=4001" OK_TAIL, EINVAL,
            "q=1.5 is above 1");
    refused("ipsec-3gpp;q=high;alg=x;spi-c=4000;spi-s=4001" OK_TAIL, EINVAL, "not a qvalue");
    refused("ipsec-3gpp;alg=\"hmac-sha-1-96\";spi-c=4000;spi-s=4001" OK_TAIL, EINVAL,
            "is not a known value");
    refused("ipsec-3gpp;alg=;spi-c=4000", EINVAL, "alg has an empty value");
    refused("ipsec-3gpp;;alg=x", EINVAL, "parameter name is missing");
    refused("ipsec-3gpp;x=\"open", EINVAL, "unterminated quoted value");
    refused("", EINVAL, "no security mechanism");
    refused(" , ,", EINVAL, "no security mechanism");
    refused(";alg=x", EINVAL, "mechanism name is missing");
    char many[2048] = "";
    for (int i = 0; i < PCSCF_SEC_MAX_OFFERS + 1; i++)
        strcat(many, "tls,");
    refused(many, E2BIG, "more than 16");
}

static void test_prefs(void **state)
{
    pcscf_sec_prefs_t p;
    char err[128];
    assert_int_equal(pcscf_sec_prefs_parse(NULL, NULL, &p, err, sizeof err), 0);
    assert_int_equal(p.nauth, 2);
    assert_int_equal(p.auth[0], PCSCF_ESP_AUTH_HMAC_SHA1_96);
    assert_int_equal(p.nenc, 2);
    assert_int_equal(p.enc[0], PCSCF_ESP_ENC_NULL);
    assert_int_equal(
        pcscf_sec_prefs_parse("hmac-md5-96", "aes-cbc, des-ede3-cbc,null", &p, err, sizeof err), 0);
    assert_int_equal(p.nauth, 1);
    assert_int_equal(p.enc[1], PCSCF_ESP_ENC_DES_EDE3_CBC);
    assert_int_equal(pcscf_sec_prefs_parse("hmac-sha-256", NULL, &p, err, sizeof err), EINVAL);
    assert_string_equal(err, "unknown integrity algorithm \"hmac-sha-256\"");
    assert_int_equal(pcscf_sec_prefs_parse(NULL, "null,null", &p, err, sizeof err), EINVAL);
    assert_int_equal(pcscf_sec_prefs_parse(NULL, " ", &p, err, sizeof err), EINVAL);
}

static int choose(const char *client, const char *auth, const char *enc, char *err)
{
    pcscf_sec_list_t l = {.n = 0};
    pcscf_sec_prefs_t p;
    assert_int_equal(pcscf_sec_parse(client, &l, err, 160), 0);
    assert_int_equal(pcscf_sec_prefs_parse(auth, enc, &p, err, 160), 0);
    return pcscf_sec_choose(&l, &p, err, 160);
}

static void test_choose(void **state)
{
    char err[160];
    /* integrity decides first: SHA-1 with AES beats MD5 with null */
    assert_int_equal(choose(PHONE1, NULL, NULL, err), 0);
    assert_int_equal(choose(PHONE1, "hmac-md5-96,hmac-sha-1-96", NULL, err), 1);
    assert_int_equal(choose(PHONE1, "hmac-md5-96", "aes-cbc,null", err), 1);
    /* then encryption, by our order whatever the UE's order */
    const char *enc2 = "ipsec-3gpp;alg=hmac-sha-1-96;ealg=aes-cbc;spi-c=300;spi-s=301;port-c=1;"
                       "port-s=2,ipsec-3gpp;alg=hmac-sha-1-96;ealg=null;spi-c=300;spi-s=301;"
                       "port-c=1;port-s=2";
    assert_int_equal(choose(enc2, NULL, NULL, err), 1);
    assert_int_equal(choose(enc2, NULL, "aes-cbc,null", err), 0);
    assert_int_equal(choose(PHONE1, "hmac-sha-1-96", "des-ede3-cbc", err), -1);
    assert_non_null(strstr(err, "none of the offered algorithms is enabled here (offered: "
                                "hmac-sha-1-96/aes-cbc/esp/trans, hmac-md5-96/null/esp/trans)"));
    /* equal rank: the UE's higher q wins, then its order */
    const char *two = "ipsec-3gpp;q=0.2;alg=hmac-sha-1-96;spi-c=300;spi-s=301;port-c=1;port-s=2,"
                      "ipsec-3gpp;q=0.9;alg=hmac-sha-1-96;spi-c=400;spi-s=401;port-c=1;port-s=2";
    assert_int_equal(choose(two, NULL, NULL, err), 1);
    /* AH and tunnel mode are not offered by this P-CSCF */
    assert_int_equal(choose("ipsec-3gpp;prot=ah;alg=hmac-sha-1-96;spi-c=300;spi-s=301;port-c=1;"
                            "port-s=2,ipsec-3gpp;mod=tun;alg=hmac-sha-1-96;spi-c=300;spi-s=301;"
                            "port-c=1;port-s=2",
                            NULL, NULL, err),
                     -1);
    assert_int_equal(choose("digest, tls", NULL, NULL, err), -1);
    assert_string_equal(err, "no ipsec-3gpp mechanism offered");
}

static void test_server_and_verify(void **state)
{
    pcscf_sec_list_t client = {.n = 0}, server = {.n = 0}, verify = {.n = 0};
    char err[160], srv[256];
    assert_int_equal(pcscf_sec_parse(PHONE1, &client, err, sizeof err), 0);
    assert_int_equal(pcscf_sec_server_build(&client.o[0], 5001, 5002, 5064, 5066, srv, sizeof srv),
                     0);
    assert_string_equal(srv, "ipsec-3gpp;q=0.1;prot=esp;mod=trans;spi-c=5001;spi-s=5002;"
                             "port-c=5064;port-s=5066;ealg=aes-cbc;alg=hmac-sha-1-96");
    assert_int_equal(pcscf_sec_server_build(&client.o[0], 5001, 5002, 5064, 5066, srv, 20), E2BIG);
    assert_int_equal(pcscf_sec_server_build(&client.o[0], 5001, 5002, 5064, 5066, srv, sizeof srv),
                     0);
    assert_int_equal(pcscf_sec_parse(srv, &server, err, sizeof err), 0);
    /* the UE may reorder parameters, change case and add spaces */
    assert_int_equal(pcscf_sec_parse("IPSEC-3GPP ; alg=HMAC-SHA-1-96 ;ealg=aes-cbc; q=0.100; "
                                     "spi-s=5002;spi-c=5001;port-s=5066;port-c=5064;mod=trans;"
                                     "prot=esp",
                                     &verify, err, sizeof err),
                     0);
    assert_true(pcscf_sec_verify_matches(&verify, &server, err, sizeof err));
    verify.o[0].spi_s = 5003;
    assert_false(pcscf_sec_verify_matches(&verify, &server, err, sizeof err));
    assert_string_equal(err, "Security-Verify differs from our Security-Server in SPIs");
    verify.o[0].spi_s = 5002;
    strcpy(verify.o[0].ealg, "null");
    assert_false(pcscf_sec_verify_matches(&verify, &server, err, sizeof err));
    assert_string_equal(err, "Security-Verify differs from our Security-Server in ealg");
    verify.n = 0;
    assert_false(pcscf_sec_verify_matches(&verify, &server, err, sizeof err));
    assert_string_equal(err, "Security-Verify lists 0 mechanisms, our Security-Server 1");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_phone),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_prefs),
        cmocka_unit_test(test_choose),
        cmocka_unit_test(test_server_and_verify),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
