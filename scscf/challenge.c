/* The S-CSCF challenge: a MAR to the HSS for a REGISTER without usable credentials, then
 * the 401 with a fresh nonce (and CK/IK for a P-CSCF), or the error the HSS answer calls for. */
#include <stdlib.h>
#include <string.h>

#include "ims/log.h"
#include "ims/util.h"
#include "register.h"

/* A REGISTER waiting for its MAR answer. */
typedef struct scscf_pending {
    scscf_req_t rq;
    bool stale;
    ims_hint_t why;      /* the timeline's reason for this challenge */
    char detail[300];    /* e.g. the SQNs of a resynchronisation */
    const char *warning; /* static: why the credentials sent were re-challenged, or NULL */
} pending_t;

static void pending_done(pending_t *p)
{
    p->rq.s->pending--;
    free(p);
}

static void pending_error(pending_t *p, scscf_err_t e)
{
    scscf_reply_error(&p->rq, e, NULL);
    pending_done(p);
}

static bool is_user_part(const char *impi, const char *impu)
{
    const char *colon = strchr(impu, ':'), *at = strchr(impi, '@');
    if (!colon || !at)
        return false;
    size_t n = (size_t)(at - impi);
    return strncmp(colon + 1, impi, n) == 0 && colon[1 + n] == '@';
}

/* The error a MAR answer other than a usable 200 calls for; SCSCF_E_COUNT for a 200. */
static scscf_err_t mar_status_error(long status, const char *code)
{
    if (status == 0)
        return SCSCF_E_HSS_UNAVAILABLE;
    if (status == 404)
        return SCSCF_E_USER_UNKNOWN;
    if (status == 403 && code && strcmp(code, "resync_failed") == 0)
        return SCSCF_E_RESYNC_FAILED;
    if (status == 403)
        return SCSCF_E_IDENTITY_MISMATCH;
    /* An HSS answering garbage is an outage like an unreachable one (the table gives it
     * a Retry-After). */
    return status == 200 ? SCSCF_E_COUNT : SCSCF_E_HSS_ERROR;
}

/* The IMPU of the REGISTER must be in the subscriber's set and not barred; the
 * IMPI-derived temporary IMPU (TS 23.003 13.4B) is barred by design yet exists to
 * register with. */
static scscf_err_t impu_error(const scscf_auth_material_t *m, const char *impu)
{
    for (size_t i = 0; i < m->nimpus; i++)
        if (ims_impu_equal(m->impus[i], impu))
            return m->barred[i] && !is_user_part(m->impi, impu) ? SCSCF_E_IMPU_BARRED
                                                                : SCSCF_E_COUNT;
    return SCSCF_E_IDENTITY_MISMATCH;
}

/* Appends CK and IK to the WWW-Authenticate value (TS 24.229 5.4.1.2: behind a P-CSCF,
 * which removes them before the UE sees the 401). Secrets: never logged. */
static void add_keys(char *www, size_t len, const uint8_t ck[16], const uint8_t ik[16])
{
    char ckhex[33], ikhex[33];
    size_t w = strlen(www);
    ims_hex_encode(ck, 16, ckhex);
    ims_hex_encode(ik, 16, ikhex);
    snprintf(www + w, len - w, ", ck=\"%s\", ik=\"%s\"", ckhex, ikhex);
    ims_secure_zero(ckhex, sizeof(ckhex));
    ims_secure_zero(ikhex, sizeof(ikhex));
}

/* The nonce="..." value of a WWW-Authenticate value, for the unanswered-challenge watch. */
static void nonce_of(const char *www, char *out, size_t len)
{
    const char *n = strstr(www, "nonce=\"");
    size_t k = n ? strcspn(n + 7, "\"") : 0;
    snprintf(out, len, "%.*s", (int)(k < len ? k : 0), n ? n + 7 : "");
}

/* Sends the 401 carrying www; the header lines are wiped with it. */
static void send_401(pending_t *p, char *www)
{
    char nonce[64];
    nonce_of(www, nonce, sizeof(nonce));
    su_home_t home[1] = {SU_HOME_INIT(home)};
    scscf_hbuf_t hb;
    scscf_hb_init(&hb, true);
    scscf_hb_put(&hb, "WWW-Authenticate: ");
    scscf_hb_put(&hb, www);
    scscf_hb_put(&hb, "\r\n");
    if (p->warning) { /* SPEC §4: a re-challenge says what was wrong with what was sent */
        scscf_hb_put(&hb, "Warning: 399 ");
        scscf_hb_put(&hb, p->rq.s->cfg.host);
        scscf_hb_put(&hb, " \"");
        scscf_hb_put(&hb, p->warning);
        scscf_hb_put(&hb, "\"\r\n");
    }
    scscf_hb_put_path(&hb, p->rq.sip, home);
    su_home_deinit(home);
    if (hb.failed) {
        scscf_hb_free(&hb);
        return pending_error(p, SCSCF_E_INTERNAL);
    }
    p->rq.s->m.challenges++;
    scscf_why_t why = {p->why, p->detail[0] ? p->detail : NULL, "challenge"};
    scscf_reply_send_why(&p->rq, 401, "Unauthorized - Challenging the UE", hb.p, &why);
    scscf_hb_free(&hb);
    scscf_trace_challenged(&p->rq, nonce);
    pending_done(p);
}

/* Files a nonce for m (which it takes) and answers 401. A UE talking to us directly (no
 * Path) never gets the keys. */
static void challenge_with(pending_t *p, scscf_auth_material_t *m)
{
    scscf_t *s = p->rq.s;
    char www[640];
    bool keys = m->scheme == SCSCF_SCHEME_AKA && p->rq.sip->sip_path;
    uint8_t ck[16], ik[16];
    memcpy(ck, m->ck, sizeof(ck));
    memcpy(ik, m->ik, sizeof(ik));
    int rc =
        scscf_auth_challenge(s->auth, s->cfg.domain, p->rq.impu, m, p->stale, www, sizeof(www));
    scscf_auth_material_clear(m);
    if (!rc && keys)
        add_keys(www, sizeof(www), ck, ik);
    ims_secure_zero(ck, sizeof(ck));
    ims_secure_zero(ik, sizeof(ik));
    if (rc)
        return pending_error(p, SCSCF_E_INTERNAL);
    send_401(p, www);
    ims_secure_zero(www, sizeof(www));
}

static const char *str_or(const json_t *v)
{
    const char *s = json_string_value(v);
    return s ? s : "?";
}

static void on_mar(void *ctx, long status, json_t *body)
{
    pending_t *p = ctx;
    const char *code = json_string_value(json_object_get(body, "error"));
    IMS_DEBUG("MAR for %s answered %ld%s%s", p->rq.impu, status, code ? ", error " : "",
              code ? code : "");
    scscf_err_t e = mar_status_error(status, code);
    if (e != SCSCF_E_COUNT)
        return pending_error(p, e);
    json_t *rs = json_object_get(body, "resync");
    if (rs)
        snprintf(p->detail, sizeof(p->detail), "the HSS had SQN %s, the USIM %s; now %s",
                 str_or(json_object_get(rs, "sqn_before")), str_or(json_object_get(rs, "sqn_ms")),
                 str_or(json_object_get(body, "sqn")));
    else if (json_is_true(json_object_get(body, "sqn_out_of_sync")))
        snprintf(p->detail, sizeof(p->detail),
                 "%s: AUTN carries SQN 0, the USIM must answer "
                 "with AUTS",
                 p->rq.fault.summary);
    scscf_auth_material_t m;
    if (scscf_auth_material_parse(body, &m)) {
        scscf_auth_material_clear(&m);
        IMS_WARN("MAR answer for %s is not usable", p->rq.impu);
        return pending_error(p, SCSCF_E_HSS_ERROR);
    }
    if ((e = impu_error(&m, p->rq.impu)) != SCSCF_E_COUNT) {
        scscf_auth_material_clear(&m);
        return pending_error(p, e);
    }
    challenge_with(p, &m);
}

/* The resync part of a MAR: RFC 3310 auts is base64 of the 14-byte AUTS; the Cx stand-in
 * wants hex. Returns 0 or EINVAL (a malformed auts). */
static int add_resync(json_t *b, const uint8_t *rand, const char *auts)
{
    char hex[33], ahex[29];
    uint8_t raw[32];
    size_t n = 0;
    if (ims_base64_decode(auts, raw, sizeof(raw), &n) || n != 14)
        return EINVAL;
    ims_hex_encode(rand, 16, hex);
    ims_hex_encode(raw, 14, ahex);
    json_object_set_new(b, "resync", json_pack("{s:s, s:s}", "rand", hex, "auts", ahex));
    return 0;
}

void scscf_challenge(const scscf_req_t *rq, const char *username, bool stale, const uint8_t *rand,
                     const char *auts, ims_hint_t why, const char *warning)
{
    scscf_t *s = rq->s;
    pending_t *p = calloc(1, sizeof(*p));
    if (!p)
        return scscf_reply_error(rq, SCSCF_E_INTERNAL, NULL);
    p->rq = *rq;
    p->stale = stale;
    p->why = why;
    p->warning = warning;
    if (why == IMS_HINT_FAULT_FIRED)
        snprintf(p->detail, sizeof(p->detail), "%s", rq->fault.summary);
    s->pending++;
    json_t *b = json_pack("{s:s, s:s}", "impu", rq->impu, "realm", s->cfg.domain);
    if (b && username)
        json_object_set_new(b, "username", json_string(username));
    if (b && rq->fault.kind == IMS_FAULT_SQN_OUT_OF_SYNC && !auts) {
        json_object_set_new(b, "sqn_out_of_sync", json_true());
        p->why = IMS_HINT_FAULT_FIRED;
    }
    if (b && rand && auts && add_resync(b, rand, auts)) {
        json_decref(b);
        return pending_error(p, SCSCF_E_BAD_AUTH);
    }
    IMS_DEBUG("MAR for %s%s", rq->impu, rand && auts ? " with resync" : "");
    if (!b || s->hss_post(s->hss_ctx, "/api/v1/cx/mar", b, on_mar, p))
        pending_error(p, SCSCF_E_HSS_UNAVAILABLE);
}
