/* The P-CSCF's own subscription to the reg event of every UE it registers (TS 24.229
 * §5.2.3, SPEC §7): SUBSCRIBE after the first 200, refresh, NOTIFYs that end registrations. */
#ifndef PCSCF_REGSUB_H
#define PCSCF_REGSUB_H

#include <stdbool.h>

#include <jansson.h>

struct pcscf;
struct nta_incoming_s;
struct sip_s;

typedef struct pcscf_regsub pcscf_regsub_t;

/* A subscriber for p (its agent, default leg, S-CSCF hop and cache). 0 or ENOMEM. */
int pcscf_regsub_create(struct pcscf *p, pcscf_regsub_t **out);
/* Forgets every subscription (the S-CSCF keeps them until a NOTIFY finds no dialog) and
 * destroys the SUBSCRIBEs in flight; before the agent goes. NULL is fine. */
void pcscf_regsub_destroy(pcscf_regsub_t *rs);

/* A registration of impu was accepted (a 200 to REGISTER with live contacts): subscribes
 * unless a subscription of impu exists or is being made. */
void pcscf_regsub_start(pcscf_regsub_t *rs, const char *impu);

/* A NOTIFY addressed to the P-CSCF itself with Event: reg: answered here (200 in one of
 * our dialogs, 481 otherwise), a registration it reports ended is dropped from the
 * cache. Returns 0 when the request is not that (it goes down the normal pipeline), else
 * the status irq was answered with (the caller still destroys irq). */
int pcscf_regsub_notify(pcscf_regsub_t *rs, struct nta_incoming_s *irq, const struct sip_s *sip);

/* Once a second: refreshes and retries that are due; on the first call after start, a
 * subscription for every registration restored from --state. */
void pcscf_regsub_tick(pcscf_regsub_t *rs);

/* Counters for /metrics. */
typedef struct pcscf_regsub_stats {
    unsigned long active;     /* subscriptions with a 2xx */
    unsigned long subscribes; /* SUBSCRIBEs sent (initial and refresh) */
    unsigned long refused;    /* SUBSCRIBEs answered with an error or not at all */
    unsigned long notifies;   /* NOTIFYs received in our dialogs */
    unsigned long stale;      /* NOTIFYs for dialogs we do not have (answered 481) */
    unsigned long dropped;    /* cache entries dropped because a NOTIFY ended them */
} pcscf_regsub_stats_t;
const pcscf_regsub_stats_t *pcscf_regsub_stats(const pcscf_regsub_t *rs);

/* {"state": "pending|active|retry", "call_id": ..., "expires_in": N} of impu, or NULL. */
json_t *pcscf_regsub_json(pcscf_regsub_t *rs, const char *impu);

#endif
