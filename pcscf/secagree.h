/* Security mechanism agreement (RFC 3329) with the 3GPP ipsec-3gpp mechanism (TS 33.203 §7,
 * TS 24.229 §5.2.2): Security-Client parsing and checks, choice, Security-Server, -Verify. */
#ifndef PCSCF_SECAGREE_H
#define PCSCF_SECAGREE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "esp.h"

#define PCSCF_SEC_MAX_OFFERS 16
#define PCSCF_SEC_NAME_MAX   32

/* One sec-mechanism of a Security-Client, -Server or -Verify list. Only ipsec-3gpp offers
 * are checked in depth; other mechanisms (digest, tls, ...) are kept by name. */
typedef struct pcscf_sec_offer {
    char mech[PCSCF_SEC_NAME_MAX]; /* lower-case: "ipsec-3gpp", "tls", ... */
    int q;                         /* preference in thousandths, -1 when absent */
    bool ipsec;                    /* mech is ipsec-3gpp (the fields below are set) */
    char alg[PCSCF_SEC_NAME_MAX];  /* lower-case as offered */
    char ealg[PCSCF_SEC_NAME_MAX]; /* "null" when absent (TS 33.203 §7.1) */
    bool alg_known, ealg_known;    /* names this P-CSCF implements */
    pcscf_esp_auth_t auth;         /* valid when alg_known */
    pcscf_esp_enc_t enc;           /* valid when ealg_known */
    uint32_t spi_c, spi_s;
    uint16_t port_c, port_s;
    char prot[8]; /* "esp" (default) or "ah" */
    char mod[16]; /* "trans" (default), "tun", "udp-enc-tun" */
} pcscf_sec_offer_t;

typedef struct pcscf_sec_list {
    pcscf_sec_offer_t o[PCSCF_SEC_MAX_OFFERS];
    size_t n;
} pcscf_sec_list_t;

/* Parses one header value (a comma-separated list of mechanisms) and appends its offers to
 * list, so several header lines add up. Returns 0, or EINVAL with a reason fit for a 494
 * Warning in err (which parameter, what was wrong): syntax errors, an ipsec-3gpp offer
 * missing alg/spi-c/spi-s/port-c/port-s, an SPI of 0 or in the reserved 1..255, a port
 * outside 1..65535, a repeated parameter, a q outside 0..1; E2BIG past
 * PCSCF_SEC_MAX_OFFERS. On error list->n is left as it was before the call. */
int pcscf_sec_parse(const char *value, pcscf_sec_list_t *list, char *err, size_t errlen);

/* Which algorithms this P-CSCF accepts, most preferred first. */
typedef struct pcscf_sec_prefs {
    pcscf_esp_auth_t auth[PCSCF_ESP_AUTH_COUNT];
    size_t nauth;
    pcscf_esp_enc_t enc[PCSCF_ESP_ENC_COUNT];
    size_t nenc;
} pcscf_sec_prefs_t;

/* "hmac-sha-1-96,hmac-md5-96" and "null,aes-cbc" (NULL = that default). 0 or EINVAL with
 * the unknown or repeated name in err. */
int pcscf_sec_prefs_parse(const char *auth_list, const char *enc_list, pcscf_sec_prefs_t *out,
                          char *err, size_t errlen);

/* Picks the ipsec-3gpp offer to use: the one whose (alg, ealg) comes first in prefs
 * (integrity first, then encryption), then the UE's highest q, then the UE's order; only
 * ESP in transport mode qualifies. Returns its index, or -1 with the reason in err (no
 * ipsec-3gpp offer; only algorithms we do not run, naming what was offered). */
int pcscf_sec_choose(const pcscf_sec_list_t *l, const pcscf_sec_prefs_t *prefs, char *err,
                     size_t errlen);

/* Our Security-Server value for the chosen offer with our SPIs and protected ports:
 * "ipsec-3gpp;q=0.1;prot=esp;mod=trans;spi-c=..;spi-s=..;port-c=..;port-s=..;ealg=..;alg=..".
 * Returns 0 or E2BIG. */
int pcscf_sec_server_build(const pcscf_sec_offer_t *chosen, uint32_t spi_c, uint32_t spi_s,
                           uint16_t port_c, uint16_t port_s, char *out, size_t cap);

/* True when the Security-Verify list (all its header lines already parsed into verify)
 * carries exactly the mechanisms of our Security-Server (RFC 3329 §2.3.1: the client
 * copies the server's list). Parameters are compared by meaning, not by spelling or
 * order. On false err says what differs. */
bool pcscf_sec_verify_matches(const pcscf_sec_list_t *verify, const pcscf_sec_list_t *server,
                              char *err, size_t errlen);

#endif
