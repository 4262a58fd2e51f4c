/* The reg event notifier: sends one NOTIFY in a subscription's dialog with nta and ends the
 * subscription when the watcher is gone (481, 408, transaction timeout). */
#ifndef SCSCF_NOTIFIER_H
#define SCSCF_NOTIFIER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "reginfo.h"
#include "subscription.h"

/* Forward declaration, so this header sets none of Sofia's magic types. */
struct nta_agent_s;

typedef struct scscf_notifier scscf_notifier_t;

typedef struct scscf_notifier_stats {
    unsigned long sent;      /* NOTIFYs handed to nta */
    unsigned long answered;  /* answered 2xx */
    unsigned long failed;    /* answered with an error, or not sendable at all */
    unsigned long timed_out; /* no answer before nta's Timer F (or 408) */
    unsigned long ended;     /* subscriptions ended because of a failed NOTIFY */
} scscf_notifier_stats_t;

/* Every NOTIFY is built outside any nta leg and carries the subscription's own From, To,
 * Call-ID, CSeq and route. contact: our Contact URI ("sip:host:port"); user_agent: the
 * User-Agent value, or NULL. Returns 0, EINVAL or ENOMEM. */
int scscf_notifier_create(struct nta_agent_s *agent, scscf_subs_t *subs, const char *contact,
                          const char *user_agent, scscf_notifier_t **out);
/* Destroys the NOTIFY transactions still waiting for an answer; call before the agent
 * goes. */
void scscf_notifier_free(scscf_notifier_t *n);

/* How a NOTIFY ends, or does not end, its subscription (RFC 6665 §4.1.3 reasons). */
typedef enum {
    SCSCF_NOTIFY_ACTIVE = 0,   /* Subscription-State: active;expires=N */
    SCSCF_NOTIFY_TIMEOUT,      /* terminated;reason=timeout: the subscription expired */
    SCSCF_NOTIFY_UNSUBSCRIBED, /* terminated: the watcher sent Expires: 0 */
    SCSCF_NOTIFY_NORESOURCE,   /* terminated;reason=noresource: the registration ended */
    SCSCF_NOTIFY_REJECTED,     /* terminated;reason=rejected: the network refuses it */
    SCSCF_NOTIFY_DEACTIVATED,  /* terminated;reason=deactivated: subscribe again */
} scscf_notify_end_t;

/* Sends the next NOTIFY of sub with the registrations in regs as a full-state reginfo
 * body; its version and CSeq are taken from the store. With end != ACTIVE the
 * subscription is removed from the store once the request is built: sub is gone when
 * this returns. Returns 0, or ENOMEM / EIO (the NOTIFY could not be sent: counted as
 * failed; an active subscription stays). */
int scscf_notifier_send(scscf_notifier_t *n, scscf_sub_t *sub, const scscf_reginfo_reg_t *regs,
                        size_t nregs, scscf_notify_end_t end, int64_t now);

const scscf_notifier_stats_t *scscf_notifier_stats(const scscf_notifier_t *n);
/* NOTIFY transactions waiting for an answer. */
size_t scscf_notifier_pending(const scscf_notifier_t *n);

#endif
