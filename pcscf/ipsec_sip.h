/* sec-agree and IPsec in the P-CSCF's SIP flow (SPEC §6): the protected ports and the ESP
 * datapath at start, and the hooks the REGISTER pipeline and the answers call. */
#ifndef PCSCF_IPSEC_SIP_H
#define PCSCF_IPSEC_SIP_H

#include "esp_tun.h"
#include "pcscf.h"

struct pcscf_txn;
struct pcscf_sec_list;

/* IPsec state of one transaction (lives in the transaction's home). */
typedef struct pcscf_sec_txn {
    bool asked;                    /* the UE sent Security-Client or required sec-agree */
    bool protected_;               /* arrived over the SAs and matched the agreement */
    struct pcscf_sec_list *client; /* the UE's offers, NULL when none */
    const char *impi;              /* whose SAs: Authorization username, else the To URI */
    const char *without;           /* why this UE that asked gets no IPsec (Warning) */
} pcscf_sec_txn_t;

/* After the nta agent exists: --sec-agree, preference lists, the two protected ports
 * (UDP+TCP, bound to the TUN device so only ESP-verified packets reach them) and the
 * datapath. Without the capabilities the datapath needs, "optional" runs without IPsec
 * (one warning) and "required" refuses to start. 0 or an errno code with a reason. */
int pcscf_ipsec_sip_start(struct pcscf *p, const pcscf_conf_t *conf, const char *host,
                          const char *adv, char *err, size_t errlen);
/* Removes every SA, the datapath and the protected ports' binding (NULL-safe). */
void pcscf_ipsec_sip_stop(struct pcscf *p);

/* REGISTER on its way to the S-CSCF (after the identity is known): strips Security-*
 * and the sec-agree option tags from the copy fs, checks the UE's offer (494) and, for a
 * REGISTER that came over the SAs, Security-Verify (403), marking Authorization
 * integrity-protected. Returns 0 or -1 with *err (and t->why) set. */
int pcscf_ipsec_sip_register(struct pcscf_txn *t, const sip_t *sip, msg_t *msg, sip_t *fs,
                             pcscf_err_t *err);
/* True when the request came in on a protected port (so over the SAs: those sockets are
 * bound to the ESP device). */
bool pcscf_ipsec_sip_arrived_protected(struct pcscf *p, struct pcscf_txn *t);
/* Any other request: true when it must be refused because its sender registered with
 * IPsec and this one did not come over the SAs. */
bool pcscf_ipsec_sip_refuse(struct pcscf *p, struct pcscf_txn *t);
/* The S-CSCF's final answer to a REGISTER of t, before it is relayed (ck/ik already taken
 * from a 401). 0 to relay msg; or the error to answer instead (*err, t->why). */
int pcscf_ipsec_sip_answer(struct pcscf_txn *t, msg_t *msg, sip_t *rs, const char *ck,
                           const char *ik, pcscf_err_t *err);
/* The registration of impi ended (network-initiated): its SAs go now. */
void pcscf_ipsec_sip_forget(struct pcscf *p, const char *impi);
/* Each second: SAs past their lifetime go. */
void pcscf_ipsec_sip_sweep(struct pcscf *p);

/* Status API: the SAs (keys only when keys is true), the esp_sa table (NULL when IPsec
 * is off), and the metric values. */
json_t *pcscf_ipsec_sip_sas(struct pcscf *p, bool keys);
char *pcscf_ipsec_sip_esp_sa(struct pcscf *p);

typedef struct pcscf_ipsec_metrics {
    uint64_t sas_active, sets_installed, verify_failed;
    pcscf_esp_tun_stats_t esp; /* zero without a datapath */
} pcscf_ipsec_metrics_t;
void pcscf_ipsec_sip_metrics(struct pcscf *p, pcscf_ipsec_metrics_t *m);

#endif
