/* IMS IPsec at the P-CSCF (TS 33.203 §7, TS 24.229 §5.2.2): per UE, the four ESP SAs made
 * from a challenge, checked against the protected REGISTER, tied to the registration. */
#ifndef PCSCF_IPSEC_H
#define PCSCF_IPSEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "esp.h"
#include "secagree.h"

typedef enum {
    PCSCF_SEC_AGREE_OFF,      /* Security-Client ignored (stripped), never IPsec */
    PCSCF_SEC_AGREE_OPTIONAL, /* IPsec when the UE asks (default) */
    PCSCF_SEC_AGREE_REQUIRED  /* an AKA UE that does not ask gets 494 */
} pcscf_sec_agree_t;

/* "off" | "optional" | "required"; 0 or EINVAL. */
int pcscf_sec_agree_parse(const char *text, pcscf_sec_agree_t *out);
const char *pcscf_sec_agree_name(pcscf_sec_agree_t m);

typedef struct pcscf_ipsec_conf {
    const char *auth_prefs, *enc_prefs; /* preference lists (NULL: defaults of secagree.h) */
    uint16_t port_c, port_s;            /* our protected ports */
    const char *addr;                   /* our IPv4 address toward UEs; NULL/"0.0.0.0": any */
    long pending_s;                     /* SAs of an unanswered challenge live this long */
} pcscf_ipsec_conf_t;

typedef struct pcscf_ipsec pcscf_ipsec_t;

/* The SAs go into table (which the caller owns and which must outlive x). Returns 0 or
 * EINVAL with a one-line reason (bad preference list, bad address, port 0). */
int pcscf_ipsec_create(const pcscf_ipsec_conf_t *conf, pcscf_esp_table_t *table,
                       pcscf_ipsec_t **out, char *err, size_t errlen);
/* Removes every SA it installed. */
void pcscf_ipsec_destroy(pcscf_ipsec_t *x);

/* After the S-CSCF's AKA challenge: picks the offer, allocates our two SPIs, installs the
 * four SAs for impi (an earlier unanswered set of impi goes; a registered set stays until
 * the new one is used) and writes our Security-Server value. ck/ik are 32 hex digits.
 * Returns 0; ENOTSUP when no offer is usable (why says which were offered); EINVAL for
 * bad keys or UE address; EEXIST when the SAs could not be installed. Nothing is left
 * behind on failure. */
int pcscf_ipsec_challenge(pcscf_ipsec_t *x, const char *impi, const char *ue_ip,
                          const pcscf_sec_list_t *client, const char *ck_hex, const char *ik_hex,
                          char *server, size_t cap, char *why, size_t whylen);

/* A REGISTER of impi that arrived at our port local_port from src_ip:src_port with the
 * Security-Verify list verify: 0 when it came over impi's SAs (the new set or the registered
 * one) and verify equals our Security-Server (the new set then replaces the old); EACCES
 * with why otherwise. */
int pcscf_ipsec_verify(pcscf_ipsec_t *x, const char *impi, const char *src_ip, uint16_t src_port,
                       uint16_t local_port, const pcscf_sec_list_t *verify, char *why,
                       size_t whylen);

/* The S-CSCF accepted a protected REGISTER of impi: the SAs live expires_s more seconds
 * (0: deregistered: no longer protected, removed two seconds later, once the 200 that
 * says so has left over them). */
void pcscf_ipsec_registered(pcscf_ipsec_t *x, const char *impi, long expires_s);
/* True when src_ip has registered SAs: its unprotected requests are refused. */
bool pcscf_ipsec_is_protected(const pcscf_ipsec_t *x, const char *src_ip);
/* Removes impi's SAs (both sets); true when there were any. */
bool pcscf_ipsec_remove(pcscf_ipsec_t *x, const char *impi);
/* Removes sets past their lifetime at now_ms (ims_now_ms clock); returns how many. */
size_t pcscf_ipsec_expire(pcscf_ipsec_t *x, uint64_t now_ms);

/* {"items":[one per SA: impi, state, dir, spi, addresses, ports, algorithms, counters,
 * and with keys=true the ESP keys], "total":N}. */
json_t *pcscf_ipsec_json(const pcscf_ipsec_t *x, bool keys);
/* Wireshark's esp_sa table, one line per SA; the caller frees it. */
char *pcscf_ipsec_esp_sa(const pcscf_ipsec_t *x);

typedef struct pcscf_ipsec_stats {
    uint64_t sets_installed; /* challenges that got SAs */
    uint64_t sets_removed;   /* deregistration, expiry, replacement, shutdown */
    uint64_t verify_failed;  /* protected REGISTERs refused */
} pcscf_ipsec_stats_t;
const pcscf_ipsec_stats_t *pcscf_ipsec_stats(const pcscf_ipsec_t *x);
size_t pcscf_ipsec_sa_count(const pcscf_ipsec_t *x);

#endif
