/* SUBSCRIBE to the reg event package at the S-CSCF (RFC 6665, RFC 3680, TS 24.229
 * §5.4.2.1.1): checks, who may watch whom, Expires, the dialog, and the NOTIFY that follows. */
#include "regevent.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sofia-sip/sip_protos.h>

#include "ims/log.h"
#include "ims/map.h"
#include "ims/util.h"

int scscf_regevent_create(scscf_t *s, const scscf_subs_limits_t *lim)
{
    scscf_regevent_t *re = calloc(1, sizeof(*re));
    if (!re)
        return ENOMEM;
    int rc = scscf_subs_create(lim, &re->subs);
    if (rc == 0 && s->agent)
        rc = scscf_notifier_create(s->agent, re->subs, s->cfg.scscf_contact, s->cfg.server_header,
                                   &re->notifier);
    if (rc) {
        scscf_subs_free(re->subs);
        free(re);
        return rc;
    }
    s->re = re;
    return 0;
}

void scscf_regevent_free(scscf_t *s)
{
    if (!s->re)
        return;
    scscf_notifier_free(s->re->notifier);
    scscf_subs_free(s->re->subs);
    free(s->re);
    s->re = NULL;
}

/* ---- checks ---- */

/* RFC 3261 §20.1: Accept absent means the package default (reginfo+xml); present, it must
 * name it or a range covering it. */
static bool accepts_reginfo(sip_t const *sip)
{
    if (!sip->sip_accept)
        return true;
    for (sip_accept_t const *a = sip->sip_accept; a; a = a->ac_next) {
        const char *t = a->ac_type;
        if (!t)
            continue;
        if (strcasecmp(t, "application/reginfo+xml") == 0 || strcmp(t, "*/*") == 0 ||
            strcasecmp(t, "application/*") == 0)
            return true;
    }
    return false;
}

/* The first check that fails, SCSCF_E_COUNT when the SUBSCRIBE may go on; extra gets the
 * header lines the error needs. */
static scscf_err_t check_subscribe(const scscf_req_t *rq, char *extra, size_t len)
{
    sip_t const *sip = rq->sip;
    if (!sip->sip_event) {
        snprintf(extra, len, "Allow-Events: reg\r\n");
        return SCSCF_E_NO_EVENT;
    }
    if (strcasecmp(sip->sip_event->o_type, "reg") != 0) {
        snprintf(extra, len, "Allow-Events: reg\r\n");
        return SCSCF_E_BAD_EVENT;
    }
    if (!accepts_reginfo(sip)) {
        snprintf(extra, len, "Accept: application/reginfo+xml\r\n");
        return SCSCF_E_NOT_ACCEPTABLE;
    }
    if (!sip->sip_contact || sip->sip_contact->m_url->url_type == url_any ||
        !sip->sip_contact->m_url->url_host)
        return SCSCF_E_BAD_CONTACT;
    return SCSCF_E_COUNT;
}

/* scheme:user@host of u into out; EINVAL for a URI without one. */
static int aor_of(url_t const *u, char *out, size_t len)
{
    if (!u || !u->url_host)
        return EINVAL;
    if (u->url_type == url_tel)
        return snprintf(out, len, "tel:%s", u->url_host) >= (int)len ? EINVAL : 0;
    if (u->url_type != url_sip && u->url_type != url_sips)
        return EINVAL;
    int n = snprintf(out, len, "%s:%s%s%s", u->url_type == url_sips ? "sips" : "sip",
                     u->url_user ? u->url_user : "", u->url_user ? "@" : "", u->url_host);
    return n >= (int)len ? EINVAL : 0;
}

/* Who is asking: the identity the P-CSCF asserted, else From (TS 24.229 §5.4.2.1.1 NOTE 1).
 * A UE talking to the S-CSCF directly is believed on its From, as a lab allows. Sofia
 * keeps P-Asserted-Identity among the unknown headers; parsed into home. */
static url_t const *watcher_url(su_home_t *home, sip_t const *sip)
{
    for (sip_unknown_t const *u = sip->sip_unknown; u; u = u->un_next) {
        if (u->un_name && strcasecmp(u->un_name, "P-Asserted-Identity") == 0 && u->un_value) {
            sip_from_t *f = sip_from_make(home, u->un_value);
            if (f && f->a_url->url_host)
                return f->a_url;
        }
    }
    return sip->sip_from->a_url;
}

/* TS 24.229 §5.4.2.1.1 step 1: an unbarred IMPU of the set, or the IMPU the UE registered
 * with (the IMSI-derived temporary IMPU is barred by design, yet it is the UE's identity
 * until it learns the others: TS 23.003 §13.4B), is the UE; the host of an entry of a
 * binding's Path is the P-CSCF. 0 when neither. */
static scscf_sub_kind_t authorise(const scscf_record_t *rec, const char *watcher, url_t const *wurl)
{
    const char *const *impus;
    const bool *barred;
    size_t n = scscf_record_impus(rec, &impus, &barred);
    const char *registered = scscf_record_impu(rec);
    if (registered && ims_impu_equal(registered, watcher))
        return SCSCF_SUB_UE;
    for (size_t i = 0; i < n; i++)
        if (!barred[i] && ims_impu_equal(impus[i], watcher))
            return SCSCF_SUB_UE;
    su_home_t home[1] = {SU_HOME_INIT(home)};
    scscf_sub_kind_t kind = 0;
    for (const scscf_binding_t *b = scscf_record_bindings(rec); b && !kind; b = b->next) {
        for (size_t i = 0; i < b->npath && !kind; i++) {
            sip_path_t *p = sip_path_make(home, b->path[i]);
            if (p && p->r_url->url_host && wurl->url_host &&
                strcasecmp(p->r_url->url_host, wurl->url_host) == 0)
                kind = SCSCF_SUB_PCSCF;
        }
    }
    su_home_deinit(home);
    return kind;
}

/* ---- the dialog ---- */

/* "sip:host:port;transport=udp" from a source "udp:host:port". */
static void next_hop_of(const char *src, char *out, size_t len)
{
    const char *colon = strchr(src, ':');
    out[0] = 0;
    if (colon && colon > src)
        snprintf(out, len, "sip:%s;transport=%.*s", colon + 1, (int)(colon - src), src);
}

/* The route set of the NOTIFYs: the SUBSCRIBE's Record-Route in order (RFC 3261 §12.1.1),
 * else, for a UE, the Path of its registration (SPEC §7: NOTIFYs to the UE travel the
 * P-CSCF). Strings are allocated from home. */
static size_t route_set(su_home_t *home, sip_t const *sip, const scscf_record_t *rec,
                        scscf_sub_kind_t kind, const char ***out)
{
    size_t n = 0;
    for (sip_record_route_t const *r = sip->sip_record_route; r; r = r->r_next)
        n++;
    const scscf_binding_t *b = scscf_record_bindings(rec);
    bool path = !n && kind == SCSCF_SUB_UE && b;
    if (path)
        n = b->npath;
    const char **v = su_zalloc(home, (n + 1) * sizeof(char *));
    size_t k = 0;
    for (sip_record_route_t const *r = sip->sip_record_route; v && r; r = r->r_next)
        if ((v[k] = scscf_path_string(home, (sip_path_t const *)r)))
            k++;
    for (size_t i = 0; v && path && i < n; i++)
        v[k++] = b->path[i];
    *out = v;
    return v ? k : 0;
}

/* The 200: Expires granted, our Contact, and the Record-Route echoed (RFC 3261 §12.1.1). */
static void reply_ok(const scscf_req_t *rq, long expires, su_home_t *home)
{
    scscf_hbuf_t hb;
    scscf_hb_init(&hb, false);
    char line[64];
    snprintf(line, sizeof(line), "Expires: %ld\r\n", expires);
    scscf_hb_put(&hb, line);
    scscf_hb_put(&hb, "Contact: <");
    scscf_hb_put(&hb, rq->s->cfg.scscf_contact);
    scscf_hb_put(&hb, ">\r\n");
    for (sip_record_route_t const *r = rq->sip->sip_record_route; r; r = r->r_next) {
        char *v = scscf_path_string(home, (sip_path_t const *)r);
        if (v) {
            scscf_hb_put(&hb, "Record-Route: ");
            scscf_hb_put(&hb, v);
            scscf_hb_put(&hb, "\r\n");
        }
    }
    if (hb.failed)
        scscf_reply_error(rq, SCSCF_E_INTERNAL, NULL);
    else
        scscf_reply_send(rq, 200, "OK", hb.p);
    scscf_hb_free(&hb);
}

static scscf_err_t add_error(int rc)
{
    return rc == EDQUOT || rc == ENOSPC ? SCSCF_E_TOO_MANY_SUBSCRIPTIONS : SCSCF_E_INTERNAL;
}

/* A SUBSCRIBE without To tag: a new subscription. */
static void subscribe_initial(const scscf_req_t *rq, long expires, int64_t now)
{
    scscf_t *s = rq->s;
    sip_t const *sip = rq->sip;
    char watcher[512] = "";
    scscf_record_t *rec = scscf_location_find_impu(s->loc, rq->impu);
    if (!rec || !scscf_record_bindings(rec))
        return scscf_reply_error(rq, SCSCF_E_NOT_REGISTERED, NULL);
    su_home_t home[1] = {SU_HOME_INIT(home)};
    url_t const *wurl = watcher_url(home, sip);
    scscf_sub_kind_t kind =
        aor_of(wurl, watcher, sizeof(watcher)) ? 0 : authorise(rec, watcher, wurl);
    if (!kind) {
        su_home_deinit(home);
        IMS_INFO("SUBSCRIBE to %s by %s refused: not the UE of the set, nor a P-CSCF on its "
                 "Path",
                 rq->impu, watcher);
        s->re->refused++;
        return scscf_reply_error(rq, SCSCF_E_SUBSCRIBE_FORBIDDEN, NULL);
    }
    uint8_t rnd[8];
    char tag[17], hop[128];
    if (ims_random_bytes(rnd, sizeof(rnd))) {
        su_home_deinit(home);
        return scscf_reply_error(rq, SCSCF_E_INTERNAL, NULL);
    }
    ims_hex_encode(rnd, sizeof(rnd), tag);
    next_hop_of(rq->src, hop, sizeof(hop));
    const char **route = NULL;
    size_t nroute = route_set(home, sip, rec, kind, &route);
    scscf_sub_init_t in = {
        .impu = rq->impu,
        .watcher = watcher,
        .kind = kind,
        .call_id = sip->sip_call_id->i_id,
        .local_tag = tag,
        .remote_tag = sip->sip_from->a_tag ? sip->sip_from->a_tag : "",
        .local_uri = url_as_string(home, sip->sip_to->a_url),
        .remote_uri = url_as_string(home, sip->sip_from->a_url),
        .remote_target = url_as_string(home, sip->sip_contact->m_url),
        .route = route,
        .nroute = nroute,
        .next_hop = hop[0] ? hop : NULL,
        .remote_cseq = sip->sip_cseq->cs_seq,
    };
    scscf_sub_t *sub;
    /* Expires 0 is a fetch (RFC 6665 §4.4.3): one terminating NOTIFY, kept meanwhile */
    int rc = scscf_subs_add(s->re->subs, &in, expires ? expires : 1, now, &sub);
    if (rc) {
        su_home_deinit(home);
        s->re->refused++;
        return scscf_reply_error(rq, add_error(rc), NULL);
    }
    s->re->subscribes++;
    if (rq->rsp.tag)
        rq->rsp.tag(rq->rsp.ctx, tag);
    reply_ok(rq, expires, home);
    su_home_deinit(home);
    scscf_regevent_notify_one(s, sub, rec, expires ? SCSCF_NOTIFY_ACTIVE : SCSCF_NOTIFY_TIMEOUT);
}

/* A SUBSCRIBE in an existing dialog: a refresh, or Expires 0 to end it. */
static void subscribe_in_dialog(const scscf_req_t *rq, long expires, int64_t now)
{
    scscf_t *s = rq->s;
    sip_t const *sip = rq->sip;
    scscf_sub_t *sub = scscf_subs_find(s->re->subs, sip->sip_call_id->i_id, sip->sip_from->a_tag,
                                       sip->sip_to->a_tag);
    if (!sub)
        return scscf_reply_error(rq, SCSCF_E_NO_SUBSCRIPTION, NULL);
    int rc = expires ? scscf_subs_refresh(s->re->subs, sub, sip->sip_cseq->cs_seq, expires, now)
                     : scscf_subs_take_cseq(s->re->subs, sub, sip->sip_cseq->cs_seq);
    if (rc)
        return scscf_reply_error(rq, SCSCF_E_OUT_OF_ORDER, NULL);
    su_home_t home[1] = {SU_HOME_INIT(home)};
    reply_ok(rq, expires, home);
    su_home_deinit(home);
    scscf_record_t *rec = scscf_location_find_impu(s->loc, sub->impu);
    if (expires)
        s->re->refreshes++;
    else
        s->re->unsubscribes++;
    /* RFC 6665 §4.2.2: a refresh and an unsubscribe are each answered with a NOTIFY */
    scscf_regevent_notify_one(s, sub, rec,
                              expires ? SCSCF_NOTIFY_ACTIVE : SCSCF_NOTIFY_UNSUBSCRIBED);
}

void scscf_regevent_subscribe(const scscf_req_t *rq_in)
{
    scscf_req_t rq = *rq_in;
    char extra[128] = "";
    scscf_err_t e = check_subscribe(&rq, extra, sizeof(extra));
    if (e == SCSCF_E_COUNT && aor_of(rq.sip->sip_request->rq_url, rq.impu, sizeof(rq.impu)))
        e = SCSCF_E_NOT_REGISTERED;
    long requested = rq.sip->sip_expires ? (long)(rq.sip->sip_expires->ex_delta > 0x7fffffff
                                                      ? 0x7fffffff
                                                      : rq.sip->sip_expires->ex_delta)
                                         : -1;
    long granted = 0;
    if (e == SCSCF_E_COUNT && scscf_subs_negotiate(rq.s->re->subs, requested, &granted)) {
        snprintf(extra, sizeof(extra), "Min-Expires: %ld\r\n",
                 scscf_subs_limits(rq.s->re->subs)->min_expires);
        e = SCSCF_E_INTERVAL_TOO_BRIEF;
    }
    if (e != SCSCF_E_COUNT) {
        rq.s->re->refused++;
        return scscf_reply_error(&rq, e, extra[0] ? extra : NULL);
    }
    if (rq.sip->sip_to->a_tag)
        subscribe_in_dialog(&rq, granted, ims_wall_s());
    else
        subscribe_initial(&rq, granted, ims_wall_s());
}

void scscf_regevent_expire(scscf_t *s, int64_t now)
{
    scscf_sub_t *sub;
    while ((sub = scscf_subs_first_due(s->re->subs, now))) {
        s->re->expired++;
        scscf_record_t *rec = scscf_location_find_impu(s->loc, sub->impu);
        scscf_regevent_notify_one(s, sub, rec, SCSCF_NOTIFY_TIMEOUT);
    }
}
