/* Sends reg event NOTIFYs with nta, which retransmits over UDP and times out (Timer F); the
 * answer decides whether the subscription lives on (RFC 6665 §4.2.2). */
#define NTA_OUTGOING_MAGIC_T struct txn

#include "notifier.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sofia-sip/nta.h>
#include <sofia-sip/sip.h>
#include <sofia-sip/sip_header.h>
#include <sofia-sip/sip_status.h>
#include <sofia-sip/su.h>

#include "ims/log.h"
#include "ims/sip_request.h"

/* One NOTIFY waiting for its answer. It names its subscription by dialog id, not by
 * pointer: the subscription may end (unsubscribe, expiry) before the answer comes. */
struct txn {
    struct txn *prev, *next;
    scscf_notifier_t *n;
    nta_outgoing_t *orq;
    char *call_id, *remote_tag, *local_tag;
    bool final; /* a terminating NOTIFY: its subscription is gone already */
};

struct scscf_notifier {
    nta_agent_t *agent;
    scscf_subs_t *subs;
    char *contact, *user_agent;
    struct txn *head;
    size_t pending;
    scscf_notifier_stats_t st;
};

int scscf_notifier_create(nta_agent_t *agent, scscf_subs_t *subs, const char *contact,
                          const char *user_agent, scscf_notifier_t **out)
{
    if (!agent || !subs || !contact)
        return EINVAL;
    scscf_notifier_t *n = calloc(1, sizeof(*n));
    if (!n || !(n->contact = strdup(contact)) ||
        (user_agent && !(n->user_agent = strdup(user_agent)))) {
        if (n)
            free(n->contact);
        free(n);
        return ENOMEM;
    }
    n->agent = agent;
    n->subs = subs;
    *out = n;
    return 0;
}

static void txn_free(struct txn *t)
{
    scscf_notifier_t *n = t->n;
    if (t->prev)
        t->prev->next = t->next;
    else
        n->head = t->next;
    if (t->next)
        t->next->prev = t->prev;
    n->pending--;
    if (t->orq)
        nta_outgoing_destroy(t->orq);
    free(t->call_id);
    free(t->remote_tag);
    free(t->local_tag);
    free(t);
}

void scscf_notifier_free(scscf_notifier_t *n)
{
    if (!n)
        return;
    while (n->head)
        txn_free(n->head);
    free(n->contact);
    free(n->user_agent);
    free(n);
}

const scscf_notifier_stats_t *scscf_notifier_stats(const scscf_notifier_t *n)
{
    return &n->st;
}

size_t scscf_notifier_pending(const scscf_notifier_t *n)
{
    return n->pending;
}

/* nta reports a transaction that got no answer (Timer F) as an internal 408; a next hop it
 * could not reach at all as another internal error (503): both mean the watcher is gone. */
static bool watcher_gone(int status, sip_t const *sip)
{
    return status == 481 || status == 408 || (sip && nta_sip_is_internal(sip) && status >= 500);
}

static int on_answer(struct txn *t, nta_outgoing_t *orq, sip_t const *sip)
{
    scscf_notifier_t *n = t->n;
    int status = sip && sip->sip_status ? sip->sip_status->st_status : 408;
    if (status < 200)
        return 0;
    bool internal = !sip || nta_sip_is_internal(sip);
    if (status < 300) {
        n->st.answered++;
    } else if (status == 408 || (internal && status >= 500)) {
        n->st.timed_out++;
    } else {
        n->st.failed++;
    }
    if (status >= 300) {
        scscf_sub_t *sub =
            t->final ? NULL : scscf_subs_find(n->subs, t->call_id, t->remote_tag, t->local_tag);
        IMS_WARN("NOTIFY (Call-ID %s) answered %d%s%s", t->call_id, status,
                 internal ? " by the transaction layer" : "",
                 sub && watcher_gone(status, sip) ? ": subscription ended" : "");
        if (sub && watcher_gone(status, sip)) {
            n->st.ended++;
            scscf_subs_remove(n->subs, sub);
        }
    }
    t->orq = orq; /* destroyed with the record */
    txn_free(t);
    return 0;
}

static const char *const end_states[] = {
    [SCSCF_NOTIFY_ACTIVE] = NULL,
    [SCSCF_NOTIFY_TIMEOUT] = "terminated;reason=timeout",
    [SCSCF_NOTIFY_UNSUBSCRIBED] = "terminated",
    [SCSCF_NOTIFY_NORESOURCE] = "terminated;reason=noresource",
    [SCSCF_NOTIFY_REJECTED] = "terminated;reason=rejected",
    [SCSCF_NOTIFY_DEACTIVATED] = "terminated;reason=deactivated",
};

/* The route set as one Route header value: "<a;lr>, <b;lr>". */
static char *route_value(su_home_t *home, const scscf_sub_t *sub)
{
    char *v = NULL;
    for (size_t i = 0; i < sub->nroute; i++)
        v = v ? su_sprintf(home, "%s, %s", v, sub->route[i]) : su_strdup(home, sub->route[i]);
    return v;
}

static struct txn *txn_new(scscf_notifier_t *n, const scscf_sub_t *sub, bool final)
{
    struct txn *t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    t->n = n;
    t->final = final;
    t->call_id = strdup(sub->call_id);
    t->remote_tag = strdup(sub->remote_tag);
    t->local_tag = strdup(sub->local_tag);
    t->next = n->head;
    if (n->head)
        n->head->prev = t;
    n->head = t;
    n->pending++;
    if (!t->call_id || !t->remote_tag || !t->local_tag) {
        txn_free(t);
        return NULL;
    }
    return t;
}

/* Builds and hands the NOTIFY to nta; 0 or an errno code. */
static int send_notify(scscf_notifier_t *n, scscf_sub_t *sub, const char *body, bool final,
                       const char *state, su_home_t *home)
{
    uint32_t version, cseq;
    scscf_subs_next_notify(n->subs, sub, &version, &cseq);
    (void)version; /* written into body by the caller */
    struct txn *t = txn_new(n, sub, final);
    if (!t)
        return ENOMEM;
    char *route = route_value(home, sub);
    const char *hop = sub->next_hop;
    msg_t *msg = ims_sip_request_msg(
        n->agent, SIP_METHOD_NOTIFY, sub->remote_target,
        SIPTAG_FROM_STR(su_sprintf(home, "<%s>;tag=%s", sub->local_uri, sub->local_tag)),
        SIPTAG_TO_STR(su_sprintf(home, "<%s>;tag=%s", sub->remote_uri, sub->remote_tag)),
        SIPTAG_CALL_ID_STR(sub->call_id), SIPTAG_CSEQ_STR(su_sprintf(home, "%u NOTIFY", cseq)),
        TAG_IF(route, SIPTAG_ROUTE_STR(route)),
        SIPTAG_CONTACT_STR(su_sprintf(home, "<%s>", n->contact)), SIPTAG_EVENT_STR("reg"),
        SIPTAG_SUBSCRIPTION_STATE_STR(state),
        TAG_IF(n->user_agent, SIPTAG_USER_AGENT_STR(n->user_agent)),
        SIPTAG_CONTENT_TYPE_STR("application/reginfo+xml"), SIPTAG_PAYLOAD_STR(body), TAG_END());
    t->orq = msg ? nta_outgoing_mcreate(n->agent, on_answer, t, hop ? URL_STRING_MAKE(hop) : NULL,
                                        msg, TAG_END())
                 : NULL;
    if (!t->orq) {
        msg_destroy(msg); /* mcreate leaves it to us on failure */
        txn_free(t);
        return EIO;
    }
    n->st.sent++;
    return 0;
}

int scscf_notifier_send(scscf_notifier_t *n, scscf_sub_t *sub, const scscf_reginfo_reg_t *regs,
                        size_t nregs, scscf_notify_end_t end, int64_t now)
{
    bool final = end != SCSCF_NOTIFY_ACTIVE;
    su_home_t home[1] = {SU_HOME_INIT(home)};
    const char *state =
        final && (unsigned)end <= SCSCF_NOTIFY_DEACTIVATED
            ? end_states[end]
            : su_sprintf(home, "active;expires=%ld", scscf_sub_expires_in(sub, now));
    char *body = NULL;
    size_t len = 0;
    int rc = scscf_reginfo_write(sub->version, true, regs, nregs, &body, &len);
    if (rc == 0)
        rc = send_notify(n, sub, body, final, state, home);
    if (rc) {
        n->st.failed++;
        IMS_WARN("NOTIFY for %s (Call-ID %s) not sent: %s", sub->impu, sub->call_id, strerror(rc));
    } else {
        IMS_INFO("NOTIFY %s -> %s (%s, version %u)", sub->impu, sub->remote_target, state,
                 sub->version - 1);
    }
    free(body);
    su_home_deinit(home);
    if (final)
        scscf_subs_remove(n->subs, sub);
    return rc;
}
