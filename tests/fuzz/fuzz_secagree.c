/* libFuzzer target for the sec-agree parser (pcscf/secagree.c): any Security-Client must give
 * 0/EINVAL/E2BIG with a reason, and a Security-Server built from a chosen offer must parse
 * back and verify against itself; the part after a NUL byte is tried as a Security-Verify. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "secagree.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_list(const pcscf_sec_list_t *l)
{
    if (l->n > PCSCF_SEC_MAX_OFFERS)
        abort();
    for (size_t i = 0; i < l->n; i++) {
        const pcscf_sec_offer_t *o = &l->o[i];
        if (!memchr(o->mech, 0, sizeof o->mech) || !o->mech[0] || o->q > 1000)
            abort();
        if (o->ipsec && (o->spi_c < 256 || o->spi_s < 256 || !o->port_c || !o->port_s))
            abort();
    }
}

static void roundtrip(const pcscf_sec_list_t *client, const char *verify_text)
{
    pcscf_sec_prefs_t prefs;
    char err[256];
    if (pcscf_sec_prefs_parse("hmac-sha-1-96,hmac-md5-96", "null,aes-cbc,des-ede3-cbc", &prefs, err,
                              sizeof err))
        abort();
    int k = pcscf_sec_choose(client, &prefs, err, sizeof err);
    if (k < 0) {
        if (!err[0])
            abort(); /* a refusal always says why */
        return;
    }
    char srv[256];
    if (pcscf_sec_server_build(&client->o[k], 1000, 1001, 5064, 5066, srv, sizeof srv))
        abort();
    pcscf_sec_list_t server = {.n = 0}, verify = {.n = 0};
    if (pcscf_sec_parse(srv, &server, err, sizeof err) || server.n != 1 ||
        !pcscf_sec_verify_matches(&server, &server, err, sizeof err))
        abort();
    if (verify_text && pcscf_sec_parse(verify_text, &verify, err, sizeof err) == 0)
        pcscf_sec_verify_matches(&verify, &server, err, sizeof err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* An exactly sized copy so ASan flags any read past the terminator. */
    char *s = malloc(size + 1);
    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    size_t first = strlen(s);
    const char *verify = first < size ? s + first + 1 : NULL;

    pcscf_sec_list_t l = {.n = 0};
    char err[256] = "";
    int rc = pcscf_sec_parse(s, &l, err, sizeof err);
    if (rc != 0 && rc != EINVAL && rc != E2BIG)
        abort();
    if (rc != 0 && (l.n != 0 || !err[0]))
        abort(); /* nothing half-parsed is kept, and the 494 has a reason */
    check_list(&l);
    if (rc == 0)
        roundtrip(&l, verify);
    free(s);
    return 0;
}
