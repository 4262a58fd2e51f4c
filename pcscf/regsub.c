/* The P-CSCF's reg event subscriptions (TS 24.229 §5.2.3): one dialog per registered IMPU
 * with the S-CSCF, refreshed before it runs out; its NOTIFYs (parsed with libxml2, the
 * body comes off the network) drop the cache entries of registrations that ended. */
#define NTA_OUTGOING_MAGIC_T struct sub

#include "regsub.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <sofia-sip/sip_header.h>
#include <sofia-sip/sip_status.h>
#include <sofia-sip/sip_tag.h>
#include <sofia-sip/su_alloc.h>

#include "core.h"
#include "ipsec_sip.h"
#include "ims/heap.h"
#include "ims/log.h"
#include "ims/map.h"
#include "ims/sip_request.h"
#include "ims/util.h"

/* What the P-CSCF asks for: TS 24.229 §5.2.3 sets 600000 s; the S-CSCF may grant less. */
#define ASK_EXPIRES 600000
/* A failed SUBSCRIBE is tried again after this, as long as the registration lives. */
#define RETRY_MS 30000

typedef enum { SUB_PENDING, SUB_ACTIVE, SUB_RETRY } sub_state_t;

typedef struct sub {
    pcscf_regsub_t *rs;
    char *impu, *call_id, *ftag, *ttag;
    uint32_t cseq;
    sub_state_t state;
    uint64_t expires_ms; /* monotonic: when the granted period ends */
    ims_heap_node_t due; /* refresh or retry time, monotonic ms */
    nta_outgoing_t *orq; /* the SUBSCRIBE in flight */
} sub_t;

struct pcscf_regsub {
    pcscf_t *p;
    ims_map_t *by_impu;    /* impu -> sub_t (owned) */
    ims_map_t *by_call_id; /* call_id (inside the sub) -> sub_t */
    ims_heap_t heap;
    char *from, *contact, *identity; /* our From URI, Contact URI, asserted identity */
    bool resumed;
    pcscf_regsub_stats_t st;
};

static void sub_free(void *v)
{
    sub_t *s = v;
    if (s->orq)
        nta_outgoing_destroy(s->orq);
    free(s->impu);
    free(s->call_id);
    free(s->ftag);
    free(s->ttag);
    free(s);
}

static void *key_dup(const void *k)
{
    return strdup(k);
}

/* IMPUs under the common rule; the map owns its subscriptions */
static const ims_map_type_t by_impu_type = {
    .hash = ims_impu_hash,
    .compare = ims_impu_compare,
    .key_dup = key_dup,
    .key_free = free,
    .val_free = sub_free,
};

int pcscf_regsub_create(pcscf_t *p, pcscf_regsub_t **out)
{
    pcscf_regsub_t *rs = calloc(1, sizeof(*rs));
    if (!rs)
        return ENOMEM;
    rs->p = p;
    /* Our identity toward the S-CSCF is the host of our Path: the S-CSCF lets the entity
     * on a registration's Path watch it (TS 24.229 §5.4.2.1.1). */
    url_t *pu = url_make(p->home, p->path);
    const sip_contact_t *m = nta_agent_contact(p->agent);
    char *c = m ? url_as_string(p->home, m->m_url) : NULL;
    if (pu && pu->url_host)
        rs->identity = su_sprintf(p->home, "sip:%s", pu->url_host);
    rs->from = rs->identity;
    rs->contact = c;
    if (!rs->identity || !rs->contact || ims_map_create(&by_impu_type, 0, &rs->by_impu) ||
        ims_map_create(&ims_map_str_ref, 0, &rs->by_call_id)) {
        ims_map_free(rs->by_impu);
        free(rs);
        return ENOMEM;
    }
    *out = rs;
    return 0;
}

void pcscf_regsub_destroy(pcscf_regsub_t *rs)
{
    if (!rs)
        return;
    ims_map_free(rs->by_call_id);
    ims_map_free(rs->by_impu); /* frees the subs, their SUBSCRIBEs in flight too */
    ims_heap_free(&rs->heap);
    free(rs);
}

const pcscf_regsub_stats_t *pcscf_regsub_stats(const pcscf_regsub_t *rs)
{
    return &rs->st;
}

static void reschedule(pcscf_regsub_t *rs, sub_t *s, uint64_t at)
{
    ims_heap_set_due(&rs->heap, &s->due, (int64_t)at);
}

static void drop(pcscf_regsub_t *rs, sub_t *s)
{
    if (s->state == SUB_ACTIVE)
        rs->st.active--;
    ims_heap_remove(&rs->heap, &s->due);
    ims_map_del(rs->by_call_id, s->call_id);
    ims_map_del(rs->by_impu, s->impu); /* frees s */
}

/* ---- SUBSCRIBE ---- */

static int on_answer(sub_t *s, nta_outgoing_t *orq, const sip_t *sip);

/* Sends the SUBSCRIBE of s: initial (no To tag yet) or refresh. */
static void send_subscribe(pcscf_regsub_t *rs, sub_t *s)
{
    pcscf_t *p = rs->p;
    su_home_t home[1] = {SU_HOME_INIT(home)};
    s->cseq++;
    if (s->orq)
        nta_outgoing_destroy(s->orq);
    msg_t *msg =
        p->scscf_hop
            ? ims_sip_request_msg(
                  p->agent, SIP_METHOD_SUBSCRIBE, s->impu,
                  SIPTAG_FROM_STR(su_sprintf(home, "<%s>;tag=%s", rs->from, s->ftag)),
                  SIPTAG_TO_STR(s->ttag ? su_sprintf(home, "<%s>;tag=%s", s->impu, s->ttag)
                                        : su_sprintf(home, "<%s>", s->impu)),
                  SIPTAG_CALL_ID_STR(s->call_id),
                  SIPTAG_CSEQ_STR(su_sprintf(home, "%u SUBSCRIBE", s->cseq)),
                  SIPTAG_EVENT_STR("reg"),
                  SIPTAG_EXPIRES_STR(su_sprintf(home, "%u", (unsigned)ASK_EXPIRES)),
                  SIPTAG_ACCEPT_STR("application/reginfo+xml"),
                  SIPTAG_CONTACT_STR(su_sprintf(home, "<%s>", rs->contact)),
                  SIPTAG_HEADER_STR(su_sprintf(home, "P-Asserted-Identity: <%s>", rs->identity)),
                  TAG_END())
            : NULL;
    /* built outside any nta leg: the dialog is ours, and no default leg is needed */
    s->orq = msg ? nta_outgoing_mcreate(p->agent, on_answer, s, URL_STRING_MAKE(p->scscf_hop), msg,
                                        TAG_END())
                 : NULL;
    if (!s->orq)
        msg_destroy(msg); /* mcreate leaves it to us on failure */
    su_home_deinit(home);
    rs->st.subscribes++;
    if (!s->orq) {
        IMS_WARN("reg event: cannot send the SUBSCRIBE for %s (S-CSCF address unknown?)", s->impu);
        rs->st.refused++;
        s->state = SUB_RETRY;
        reschedule(rs, s, ims_now_ms() + RETRY_MS);
    }
}

static int on_answer(sub_t *s, nta_outgoing_t *orq, const sip_t *sip)
{
    pcscf_regsub_t *rs = s->rs;
    int status = sip && sip->sip_status ? sip->sip_status->st_status : 408;
    if (status < 200)
        return 0;
    nta_outgoing_destroy(orq);
    s->orq = NULL;
    uint64_t now = ims_now_ms();
    if (status < 300) {
        long granted = sip->sip_expires ? (long)sip->sip_expires->ex_delta : ASK_EXPIRES;
        if (!s->ttag && sip->sip_to && sip->sip_to->a_tag)
            s->ttag = strdup(sip->sip_to->a_tag);
        if (s->state != SUB_ACTIVE)
            rs->st.active++;
        s->state = SUB_ACTIVE;
        s->expires_ms = now + (uint64_t)granted * 1000;
        /* refresh at two thirds of the period, as UEs do */
        reschedule(rs, s, now + (uint64_t)granted * 667);
        IMS_INFO("reg event: subscribed to %s for %ld s", s->impu, granted);
        return 0;
    }
    rs->st.refused++;
    IMS_WARN("reg event: SUBSCRIBE for %s answered %d; retrying in %d s", s->impu, status,
             RETRY_MS / 1000);
    if (s->state == SUB_ACTIVE)
        rs->st.active--;
    /* a refresh the S-CSCF no longer knows (481) starts a new dialog */
    free(s->ttag);
    s->ttag = NULL;
    s->state = SUB_RETRY;
    reschedule(rs, s, now + RETRY_MS);
    return 0;
}

void pcscf_regsub_start(pcscf_regsub_t *rs, const char *impu)
{
    if (!rs || ims_map_get(rs->by_impu, impu) || ims_heap_reserve(&rs->heap, 1))
        return;
    sub_t *s = calloc(1, sizeof(*s));
    uint8_t rnd[12];
    char hex[25];
    if (!s || ims_random_bytes(rnd, sizeof(rnd))) {
        free(s);
        return;
    }
    ims_hex_encode(rnd, sizeof(rnd), hex);
    s->rs = rs;
    s->impu = strdup(impu);
    s->call_id = strdup(hex);
    s->ftag = strndup(hex, 10);
    s->state = SUB_PENDING;
    if (!s->impu || !s->call_id || !s->ftag || ims_map_add(rs->by_impu, impu, s)) {
        sub_free(s);
        return;
    }
    if (ims_map_add(rs->by_call_id, s->call_id, s)) {
        ims_map_del(rs->by_impu, impu);
        return;
    }
    s->due.due = INT64_MAX;
    ims_heap_push(&rs->heap, &s->due);
    send_subscribe(rs, s);
}

/* ---- NOTIFY ---- */

/* Is impu still registered with us? */
static bool cached(pcscf_regsub_t *rs, const char *impu)
{
    json_t *j = pcscf_cache_json(rs->p->cache, impu);
    json_decref(j);
    return j != NULL;
}

static void drop_registration(pcscf_regsub_t *rs, const char *aor, const char *why)
{
    /* its IPsec SAs go with it (SPEC §7) */
    json_t *reg = pcscf_cache_json(rs->p->cache, aor);
    const char *impi = json_string_value(json_object_get(reg, "impi"));
    if (impi)
        pcscf_ipsec_sip_forget(rs->p, impi);
    json_decref(reg);
    if (pcscf_cache_remove(rs->p->cache, aor)) {
        rs->st.dropped++;
        IMS_INFO("reg event: %s %s: dropped from the cache", aor, why);
    }
}

/* Every <registration state="terminated"> of the reginfo body ends that registration
 * here. A body that does not parse changes nothing. */
static void apply_reginfo(pcscf_regsub_t *rs, const char *body, size_t len)
{
    if (!body || !len || len > 1 << 20)
        return;
    xmlDocPtr doc = xmlReadMemory(body, (int)len, "reginfo.xml", NULL,
                                  XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    xmlNodePtr root = doc ? xmlDocGetRootElement(doc) : NULL;
    if (!root || strcmp((const char *)root->name, "reginfo") != 0) {
        IMS_WARN("reg event: a NOTIFY body is not reginfo XML; ignored");
        xmlFreeDoc(doc);
        return;
    }
    for (xmlNodePtr r = root->children; r; r = r->next) {
        if (r->type != XML_ELEMENT_NODE || strcmp((const char *)r->name, "registration") != 0)
            continue;
        xmlChar *aor = xmlGetProp(r, (const xmlChar *)"aor");
        xmlChar *state = xmlGetProp(r, (const xmlChar *)"state");
        if (aor && state && strcmp((const char *)state, "terminated") == 0)
            drop_registration(rs, (const char *)aor, "ended by the S-CSCF");
        xmlFree(aor);
        xmlFree(state);
    }
    xmlFreeDoc(doc);
}

static bool to_me(pcscf_regsub_t *rs, const sip_t *sip)
{
    if (!sip->sip_request || sip->sip_request->rq_method != sip_method_notify || !sip->sip_event ||
        strcasecmp(sip->sip_event->o_type, "reg") != 0)
        return false;
    for (const sip_route_t *r = sip->sip_route; r; r = r->r_next)
        if (!pcscf_self_is_me(rs->p->self, r->r_url))
            return false;
    return pcscf_self_is_me(rs->p->self, sip->sip_request->rq_url);
}

int pcscf_regsub_notify(pcscf_regsub_t *rs, nta_incoming_t *irq, const sip_t *sip)
{
    if (!rs || !to_me(rs, sip))
        return 0;
    sub_t *s = sip->sip_call_id ? ims_map_get(rs->by_call_id, sip->sip_call_id->i_id) : NULL;
    if (!s || !sip->sip_to || !sip->sip_to->a_tag || strcmp(sip->sip_to->a_tag, s->ftag) != 0) {
        /* a dialog from before a restart, or never ours: the S-CSCF forgets it */
        rs->st.stale++;
        char w[300];
        snprintf(w, sizeof(w),
                 "399 %s \"no reg event subscription of the P-CSCF has this "
                 "Call-ID and tags\"",
                 rs->p->warn_host);
        nta_incoming_treply(irq, 481, "Subscription Does Not Exist", SIPTAG_WARNING_STR(w),
                            TAG_END());
        return 481;
    }
    rs->st.notifies++;
    if (!s->ttag && sip->sip_from && sip->sip_from->a_tag)
        s->ttag = strdup(sip->sip_from->a_tag);
    nta_incoming_treply(irq, SIP_200_OK, TAG_END());
    if (sip->sip_payload)
        apply_reginfo(rs, sip->sip_payload->pl_data, sip->sip_payload->pl_len);
    const sip_subscription_state_t *ss = sip->sip_subscription_state;
    if (ss && ss->ss_substate && strcasecmp(ss->ss_substate, "terminated") == 0) {
        char *impu = strdup(s->impu);
        bool timeout = ss->ss_reason && strcasecmp(ss->ss_reason, "timeout") == 0;
        IMS_INFO("reg event: subscription to %s terminated (%s)", s->impu,
                 ss->ss_reason ? ss->ss_reason : "no reason");
        drop(rs, s);
        /* Only a subscription that ran out is made again; any other end means the
         * registration went (its cache entry with it). */
        if (impu && timeout && cached(rs, impu))
            pcscf_regsub_start(rs, impu);
        else if (impu)
            drop_registration(rs, impu, "ended (subscription terminated)");
        free(impu);
    }
    return 200;
}

/* ---- time ---- */

typedef struct resume {
    pcscf_regsub_t *rs;
    size_t n;
} resume_t;

/* After a restart, a subscription for every registration restored from --state. */
static void resume_all(pcscf_regsub_t *rs)
{
    json_t *all = pcscf_cache_json(rs->p->cache, NULL);
    json_t *items = json_object_get(all, "items"), *it;
    size_t i, n = 0;
    json_array_foreach(items, i, it)
    {
        const char *impu = json_string_value(json_object_get(it, "impu"));
        if (impu && !ims_map_get(rs->by_impu, impu)) {
            pcscf_regsub_start(rs, impu);
            n++;
        }
    }
    json_decref(all);
    if (n)
        IMS_INFO("reg event: subscribing again for %zu restored registrations", n);
}

void pcscf_regsub_tick(pcscf_regsub_t *rs)
{
    if (!rs)
        return;
    if (!rs->resumed) {
        rs->resumed = true;
        resume_all(rs);
    }
    uint64_t now = ims_now_ms();
    for (ims_heap_node_t *top; (top = ims_heap_top(&rs->heap)) && (uint64_t)top->due <= now;) {
        sub_t *s = (sub_t *)((char *)top - offsetof(sub_t, due));
        if (!cached(rs, s->impu)) { /* the registration went: nothing left to watch */
            drop(rs, s);
            continue;
        }
        reschedule(rs, s, INT64_MAX); /* until the answer sets the next time */
        send_subscribe(rs, s);
    }
}

json_t *pcscf_regsub_json(pcscf_regsub_t *rs, const char *impu)
{
    sub_t *s = rs ? ims_map_get(rs->by_impu, impu) : NULL;
    if (!s)
        return NULL;
    static const char *const names[] = {"pending", "active", "retry"};
    uint64_t now = ims_now_ms();
    long left =
        s->state == SUB_ACTIVE && s->expires_ms > now ? (long)((s->expires_ms - now) / 1000) : 0;
    return json_pack("{s:s, s:s, s:i}", "state", names[s->state], "call_id", s->call_id,
                     "expires_in", left);
}
