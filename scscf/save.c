/* The binding save of an authenticated REGISTER: every Contact checked into a plan first,
 * then applied to the location store all-or-nothing, the 200 OK, and the SAR after it. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "ims/log.h"
#include "ims/util.h"
#include "regevent.h"

/* What one Contact asks for, checked before anything changes. */
typedef struct plan {
    long expires;
    char *uri, *params, *instance;
    long reg_id;
} plan_t;

/* The whole REGISTER's plan. */
typedef struct save {
    const scscf_req_t *rq;
    const scscf_auth_material_t *m;
    su_home_t home[1];
    int64_t now;
    long hdr_exp; /* Expires header, or 3600 */
    bool star;    /* Contact: * */
    size_t n;
    plan_t *plan;
} save_t;

static int parse_delta(const char *s, long *out)
{
    char *end;
    if (!s || !*s)
        return EINVAL;
    for (const char *c = s; *c; c++)
        if (*c < '0' || *c > '9')
            return EINVAL;
    unsigned long v = strtoul(s, &end, 10);
    *out = v > 0x7fffffffUL ? 0x7fffffffL : (long)v;
    return 0;
}

/* The Contact's parameters as stored and echoed: all but expires. */
static char *contact_params(su_home_t *home, sip_contact_t const *m)
{
    size_t n = 1;
    for (int i = 0; m->m_params && m->m_params[i]; i++)
        n += strlen(m->m_params[i]) + 1;
    char *out = su_alloc(home, n), *w = out;
    if (!out)
        return NULL;
    *w = 0;
    for (int i = 0; m->m_params && m->m_params[i]; i++) {
        const char *pm = m->m_params[i];
        if (strncasecmp(pm, "expires=", 8) == 0 || strcasecmp(pm, "expires") == 0)
            continue;
        w += sprintf(w, ";%s", pm);
    }
    return out;
}

static const scscf_binding_t *plan_match(const scscf_record_t *r, const plan_t *pl)
{
    return scscf_location_match(r, pl->instance, pl->reg_id, pl->uri);
}

/* One Contact into its plan entry; SCSCF_E_COUNT when it is valid. */
static scscf_err_t plan_contact(save_t *sv, sip_contact_t const *c, plan_t *pl, char *extra,
                                size_t extralen)
{
    const scscf_config_t *cfg = &sv->rq->s->cfg;
    if ((c->m_url->url_type != url_sip && c->m_url->url_type != url_sips) || !c->m_url->url_host)
        return SCSCF_E_BAD_CONTACT;
    pl->expires = sv->hdr_exp;
    if (c->m_expires && parse_delta(c->m_expires, &pl->expires))
        return SCSCF_E_BAD_EXPIRES;
    if (pl->expires != 0 && pl->expires < cfg->min_expires) {
        snprintf(extra, extralen, "Min-Expires: %ld\r\n", cfg->min_expires);
        return SCSCF_E_INTERVAL_TOO_BRIEF;
    }
    if (sv->rq->fault.kind == IMS_FAULT_EXPIRES && pl->expires > 0)
        pl->expires = sv->rq->fault.expires; /* a fault rule grants this instead */
    if (pl->expires > cfg->max_expires)
        pl->expires = cfg->max_expires;
    pl->uri = url_as_string(sv->home, c->m_url);
    pl->params = contact_params(sv->home, c);
    const char *inst = msg_params_find(c->m_params, "+sip.instance=");
    pl->instance = inst ? su_strdup(sv->home, inst) : NULL;
    const char *rid = msg_params_find(c->m_params, "reg-id=");
    pl->reg_id = -1;
    if (rid && parse_delta(rid, &pl->reg_id))
        return SCSCF_E_BAD_CONTACT;
    if (!pl->uri || !pl->params)
        return SCSCF_E_INTERNAL;
    return SCSCF_E_COUNT;
}

/* Reads Expires and the Contacts into sv; answers and returns false on the first error. */
static bool plan_all(save_t *sv)
{
    sip_t const *sip = sv->rq->sip;
    sv->hdr_exp = 3600;
    if (sip->sip_expires) /* an absolute date (RFC 2543) has delta 0: treated as remove */
        sv->hdr_exp = sip->sip_expires->ex_delta > 0x7fffffff ? 0x7fffffffL
                                                              : (long)sip->sip_expires->ex_delta;
    for (sip_contact_t const *c = sip->sip_contact; c; c = c->m_next) {
        sv->n++;
        if (c->m_url->url_type == url_any)
            sv->star = true;
    }
    if (sv->star && (sv->n != 1 || !sip->sip_expires || sv->hdr_exp != 0)) {
        scscf_reply_error(sv->rq, SCSCF_E_BAD_CONTACT, NULL);
        return false;
    }
    if (!(sv->plan = calloc(sv->n + 1, sizeof(*sv->plan)))) {
        scscf_reply_error(sv->rq, SCSCF_E_INTERNAL, NULL);
        return false;
    }
    size_t i = 0;
    for (sip_contact_t const *c = sip->sip_contact; c && !sv->star; c = c->m_next, i++) {
        char extra[64] = "";
        scscf_err_t e = plan_contact(sv, c, &sv->plan[i], extra, sizeof(extra));
        if (e != SCSCF_E_COUNT) {
            scscf_reply_error(sv->rq, e, extra[0] ? extra : NULL);
            return false;
        }
    }
    return true;
}

/* RFC 3261 10.3: a REGISTER with the Call-ID of a binding must have a higher CSeq. */
static bool out_of_order(const save_t *sv, const scscf_record_t *r)
{
    sip_t const *sip = sv->rq->sip;
    for (size_t i = 0; r && !sv->star && i < sv->n; i++) {
        const scscf_binding_t *b = plan_match(r, &sv->plan[i]);
        if (b && b->call_id && strcmp(b->call_id, sip->sip_call_id->i_id) == 0 &&
            sip->sip_cseq->cs_seq <= b->cseq)
            return true;
    }
    return false;
}

/* The bindings this REGISTER would leave: existing ones not removed, plus new ones. */
static size_t bindings_after(const save_t *sv, const scscf_record_t *r)
{
    size_t total = 0;
    for (const scscf_binding_t *b = r ? scscf_record_bindings(r) : NULL; b; b = b->next) {
        bool removed = false;
        for (size_t i = 0; i < sv->n; i++)
            if (sv->plan[i].expires == 0 && plan_match(r, &sv->plan[i]) == b)
                removed = true;
        total += !removed;
    }
    for (size_t i = 0; i < sv->n; i++)
        total += sv->plan[i].expires > 0 && !(r && plan_match(r, &sv->plan[i]));
    return total;
}

/* The 200 OK: the bindings left, Path, the unbarred IMPUs, Service-Route and Date. */
static void reply_200(const save_t *sv, const scscf_record_t *r, ims_hint_t hint)
{
    scscf_hbuf_t hb;
    scscf_hb_init(&hb, false);
    if (r && scscf_record_bindings(r)) {
        scscf_hb_put(&hb, "Contact: ");
        for (const scscf_binding_t *b = scscf_record_bindings(r); b; b = b->next) {
            int64_t left = b->expires_at - sv->now;
            char exp[32];
            scscf_hb_put(&hb, b == scscf_record_bindings(r) ? "<" : ", <");
            scscf_hb_put(&hb, b->contact);
            scscf_hb_put(&hb, ">");
            scscf_hb_put(&hb, b->params ? b->params : "");
            snprintf(exp, sizeof(exp), ";expires=%lld", (long long)(left > 0 ? left : 0));
            scscf_hb_put(&hb, exp);
        }
        scscf_hb_put(&hb, "\r\n");
    }
    scscf_hb_put_path(&hb, sv->rq->sip, (su_home_t *)sv->home);
    bool first = true;
    for (size_t i = 0; i < sv->m->nimpus; i++) {
        if (sv->m->barred[i])
            continue;
        scscf_hb_put(&hb, first ? "P-Associated-URI: <" : ", <");
        scscf_hb_put(&hb, sv->m->impus[i]);
        scscf_hb_put(&hb, ">");
        first = false;
    }
    if (!first)
        scscf_hb_put(&hb, "\r\n");
    char date[64];
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
    scscf_hb_put(&hb, "Service-Route: ");
    scscf_hb_put(&hb, sv->rq->s->cfg.service_route);
    scscf_hb_put(&hb, "\r\nDate: ");
    scscf_hb_put(&hb, date);
    scscf_hb_put(&hb, "\r\n");
    bool fault = sv->rq->fault.kind == IMS_FAULT_EXPIRES;
    scscf_why_t why = {fault ? IMS_HINT_FAULT_FIRED : hint, fault ? sv->rq->fault.summary : NULL,
                       hint == IMS_HINT_DEREGISTERED ? "deregistered" : "registered"};
    if (hb.failed)
        scscf_reply_error(sv->rq, SCSCF_E_INTERNAL, NULL);
    else
        scscf_reply_send_why(sv->rq, 200, "OK", hb.p, &why);
    scscf_hb_free(&hb);
}

/* Applies one planned contact to r: removal, or a binding added or refreshed; each noted
 * for the reg event subscribers (bt, may be NULL). */
static void apply_one(save_t *sv, scscf_record_t *r, const plan_t *pl, const char *const *path,
                      size_t npath, scscf_regevent_batch_t *bt)
{
    scscf_location_t *loc = sv->rq->s->loc;
    sip_t const *sip = sv->rq->sip;
    const scscf_binding_t *old = plan_match(r, pl);
    if (pl->expires == 0) {
        if (old) {
            scscf_regevent_note(bt, old, SCSCF_EV_UNREGISTERED);
            scscf_location_unbind(loc, r, old);
        }
        return;
    }
    scscf_binding_in_t in = {
        .contact = pl->uri,
        .params = pl->params,
        .instance = pl->instance,
        .reg_id = pl->reg_id,
        .path = path,
        .npath = npath,
        .user_agent = sip->sip_user_agent ? sip->sip_user_agent->g_string : NULL,
        .received = sv->rq->src,
        .call_id = sip->sip_call_id->i_id,
        .cseq = sip->sip_cseq->cs_seq,
        .expires_at = sv->now + pl->expires,
    };
    /* out of memory: this contact is skipped, as before */
    if (scscf_location_bind(loc, r, &in) == 0 && bt)
        scscf_regevent_note(bt, plan_match(r, pl), old ? SCSCF_EV_REFRESHED : SCSCF_EV_REGISTERED);
}

/* The request's Path entries as text, once for every binding. */
static size_t path_texts(save_t *sv, const char ***out)
{
    size_t n = 0, k = 0;
    for (sip_path_t const *p = sv->rq->sip->sip_path; p; p = p->r_next)
        n++;
    const char **v = su_zalloc(sv->home, (n + 1) * sizeof(char *));
    for (sip_path_t const *p = sv->rq->sip->sip_path; v && p; p = p->r_next) {
        char *t = scscf_path_string(sv->home, p);
        if (t)
            v[k++] = t;
    }
    *out = v;
    return v ? k : 0;
}

/* Everything is valid: change the store, answer, then report to the HSS. */
static void apply_all(save_t *sv, scscf_record_t *r)
{
    scscf_t *s = sv->rq->s;
    const scscf_auth_material_t *m = sv->m;
    bool was_registered = r && scscf_record_bindings(r);
    if (sv->star) {
        if (r)
            scscf_registrar_deregister(s, r, "Contact: * with Expires: 0", SCSCF_EV_UNREGISTERED);
        return reply_200(sv, NULL, IMS_HINT_DEREGISTERED);
    }
    bool any_new = false;
    for (size_t i = 0; i < sv->n; i++)
        any_new |= sv->plan[i].expires > 0;
    if (any_new &&
        !(r = scscf_location_upsert(s->loc, m->impi, sv->rq->impu, (const char *const *)m->impus,
                                    m->barred, m->nimpus)))
        return scscf_reply_error(sv->rq, SCSCF_E_INTERNAL, NULL);
    const char **path = NULL;
    size_t npath = r ? path_texts(sv, &path) : 0;
    scscf_regevent_batch_t *bt = scscf_regevent_begin(s, r);
    for (size_t i = 0; r && i < sv->n; i++)
        apply_one(sv, r, &sv->plan[i], path, npath, bt);
    bool left = r && scscf_record_bindings(r);
    reply_200(sv, r,
              !left ? IMS_HINT_DEREGISTERED
                    : (was_registered ? IMS_HINT_REREGISTERED : IMS_HINT_REGISTERED));
    /* The subscribers and the HSS hear of it after the reply has left, so neither delays
     * the 200. */
    scscf_regevent_commit(s, bt, r);
    if (r && !scscf_record_bindings(r)) {
        scscf_registrar_deregister(s, r, "all contacts removed", SCSCF_EV_UNREGISTERED);
    } else if (r && !was_registered) {
        s->m.registrations_ok++;
        scscf_sar_send(s, m->impi, sv->rq->impu, true);
    }
}

void scscf_save(const scscf_req_t *rq, const scscf_auth_material_t *m)
{
    save_t sv = {.rq = rq, .m = m, .now = ims_wall_s()};
    su_home_init(sv.home);
    if (!plan_all(&sv))
        goto out;
    scscf_record_t *r = scscf_location_find_impi(rq->s->loc, m->impi);
    if (out_of_order(&sv, r)) {
        scscf_reply_error(rq, SCSCF_E_OUT_OF_ORDER, NULL);
        goto out;
    }
    if (!sv.star && bindings_after(&sv, r) > scscf_max_contacts(rq->s)) {
        scscf_reply_error(rq, SCSCF_E_TOO_MANY_CONTACTS, NULL);
        goto out;
    }
    apply_all(&sv, r);
out:
    free(sv.plan);
    su_home_deinit(sv.home);
}
