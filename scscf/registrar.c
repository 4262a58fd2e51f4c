/* The S-CSCF request dispatch: method and mandatory headers, then the REGISTER path from
 * checks and credentials to the challenge (challenge.c) or the binding save (save.c). */
#include <stdlib.h>
#include <string.h>

#include "ims/log.h"
#include "ims/util.h"
#include "regevent.h"

/* Answers 403 Too Many Failed Attempts when ue (with username, if given) is cooling down. */
static bool cooling_down(const scscf_req_t *rq, const char *ue, const char *username)
{
    long left = scscf_guard_blocked(rq->s->guard, ue, username, ims_now_ms());
    if (!left)
        return false;
    scscf_reply_error_after(rq, SCSCF_E_TOO_MANY_FAILURES, left);
    return true;
}

static const char *verdict_name(scscf_auth_result_t r)
{
    static const char *const names[] = {"ok",          "unknown nonce",  "stale",
                                        "replayed nc", "wrong response", "identity mismatch",
                                        "resync"};
    return (unsigned)r < sizeof(names) / sizeof(names[0]) ? names[r] : "?";
}

/* The hint of a failed check: RES != XRES for AKA; for digest, a response that matches
 * the Request-URI rather than the uri sent, else the password. */
static ims_hint_t failure_hint(const scscf_t *s)
{
    const scscf_auth_diag_t *d = scscf_auth_last_failure(s->auth);
    if (d->scheme == SCSCF_SCHEME_AKA)
        return IMS_HINT_RES_MISMATCH;
    return d->uri_mismatch ? IMS_HINT_DIGEST_URI : IMS_HINT_DIGEST_PASSWORD;
}

/* Checks the credentials dp of rq against the nonce store and acts on the verdict. */
static void authenticate(const scscf_req_t *rq, const ims_digest_params_t *dp, const char *ue)
{
    scscf_t *s = rq->s;
    const scscf_auth_material_t *m = NULL;
    uint8_t rand[16];
    const char *auts = dp->auts && *dp->auts ? dp->auts : NULL;
    scscf_auth_result_t r =
        scscf_auth_check(s->auth, "REGISTER", rq->impu, dp->username, dp->nonce, dp->uri, dp->nc,
                         dp->cnonce, dp->qop, dp->response, auts, &m, rand);
    IMS_DEBUG("credentials of %s for %s (UE address %s): %s", dp->username, rq->impu, ue,
              verdict_name(r));
    if (rq->fault.kind == IMS_FAULT_STALE_NONCE && r != SCSCF_AUTH_RESYNC)
        r = SCSCF_AUTH_STALE; /* a fault rule: the nonce counts as expired, whatever it was */
    switch (r) {
    case SCSCF_AUTH_OK:
        scscf_guard_succeeded(s->guard, ue, dp->username, ims_now_ms());
        return scscf_save(rq, m);
    case SCSCF_AUTH_UNKNOWN_NONCE:
        return scscf_challenge(rq, dp->username, false, NULL, NULL, IMS_HINT_NONCE_UNKNOWN,
                               "The nonce is unknown here (never issued, or dropped after its "
                               "lifetime); answer this new challenge");
    case SCSCF_AUTH_REPLAY:
        return scscf_challenge(rq, dp->username, false, NULL, NULL, IMS_HINT_NC_REPLAY,
                               "The nc was not above the last one used with this nonce (a "
                               "replay); answer this new challenge");
    case SCSCF_AUTH_STALE:
        return scscf_challenge(rq, dp->username, true, NULL, NULL,
                               rq->fault.kind == IMS_FAULT_STALE_NONCE ? IMS_HINT_FAULT_FIRED
                                                                       : IMS_HINT_STALE_NONCE,
                               "The nonce has expired (stale=true): the credentials were right, "
                               "answer again with the new nonce");
    case SCSCF_AUTH_RESYNC:
        return scscf_challenge(rq, dp->username, false, rand, dp->auts, IMS_HINT_AKA_RESYNC,
                               "The SQN was resynchronised from the AUTS sent; answer this new "
                               "challenge");
    case SCSCF_AUTH_MISMATCH:
        return scscf_reply_error(rq, SCSCF_E_IDENTITY_MISMATCH, NULL);
    case SCSCF_AUTH_FAILED:
    default: {
        if (scscf_guard_failed(s->guard, ue, dp->username, ims_now_ms()))
            IMS_WARN("too many failed authentications from %s (last for %s): refused for "
                     "%ld s",
                     ue, rq->impu, s->cfg.auth_cooldown);
        scscf_why_t why = {failure_hint(s), NULL, "auth_failed"};
        return scscf_reply_error_why(rq, SCSCF_E_AUTH_FAILED, &why);
    }
    }
}

/* Where a REGISTER is in its registration, for the fault rules: a live registration of
 * its IMPU makes it a re-registration; else credentials make it the authenticated one. */
static ims_fault_stage_t stage_of(const scscf_req_t *rq, scscf_creds_t kind)
{
    if (scscf_location_find_impu(rq->s->loc, rq->impu))
        return IMS_STAGE_REREGISTER;
    return kind == SCSCF_CREDS_OURS ? IMS_STAGE_AUTH : IMS_STAGE_INITIAL;
}

/* The fault kinds that can act on a REGISTER with (or without) usable credentials. */
static unsigned fault_kinds(scscf_creds_t kind)
{
    unsigned k = IMS_FAULT_REPLY | IMS_FAULT_DROP | IMS_FAULT_DELAY;
    return k | (kind == SCSCF_CREDS_OURS ? IMS_FAULT_STALE_NONCE | IMS_FAULT_EXPIRES
                                         : IMS_FAULT_SQN_OUT_OF_SYNC);
}

void scscf_register_handle(scscf_req_t *rq)
{
    sip_t const *sip = rq->sip;
    IMS_DEBUG("REGISTER from %s: Call-ID %s, CSeq %u, %s, %s, %s", rq->src, sip->sip_call_id->i_id,
              sip->sip_cseq->cs_seq,
              sip->sip_authorization ? "with Authorization" : "no Authorization",
              sip->sip_path ? "with Path" : "no Path",
              sip->sip_contact ? "with Contact" : "no Contact (a query)");
    scscf_trace_ids(rq->s, sip, rq->impi, sizeof(rq->impi), rq->impu, sizeof(rq->impu));
    scscf_err_t e = scscf_check_register(rq);
    if (e != SCSCF_E_COUNT)
        return scscf_reply_error(rq, e, NULL);
    char ue[80];
    scscf_ue_address(rq->peer, sip, ue, sizeof(ue));
    ims_digest_params_t *dp = malloc(sizeof(*dp));
    if (!dp)
        return scscf_reply_error(rq, SCSCF_E_INTERNAL, NULL);
    scscf_creds_t kind;
    e = scscf_check_credentials(rq, dp, &kind);
    if (e != SCSCF_E_COUNT)
        scscf_reply_error(rq, e, NULL);
    else if (scscf_fault_check(rq, stage_of(rq, kind), fault_kinds(kind)))
        ; /* a fault rule answered, dropped or delayed it */
    else if (kind == SCSCF_CREDS_OTHER_REALM)
        scscf_challenge(rq, NULL, false, NULL, NULL, IMS_HINT_DIGEST_REALM,
                        "The credentials were for another realm; answer this challenge for the "
                        "home domain");
    /* Refused before the check: during the cooldown even the right password fails, so
     * guessing gains nothing. */
    else if (!cooling_down(rq, ue, kind == SCSCF_CREDS_OURS ? dp->username : NULL)) {
        if (kind == SCSCF_CREDS_NONE)
            scscf_challenge(rq, NULL, false, NULL, NULL, IMS_HINT_CHALLENGED, NULL);
        else
            authenticate(rq, dp, ue);
    }
    free(dp);
}

void scscf_registrar_process(scscf_t *s, sip_t const *sip, const char *src, const char *peer,
                             scscf_responder_t rsp)
{
    if (sip->sip_request->rq_method == sip_method_ack) {
        rsp.reply(rsp.ctx, 0, NULL, NULL, NULL);
        return;
    }
    scscf_req_t rq = {.s = s, .rsp = rsp, .sip = sip};
    snprintf(rq.src, sizeof(rq.src), "%s", src);
    snprintf(rq.peer, sizeof(rq.peer), "%s", peer);
    if (sip->sip_error)
        return scscf_reply_bad_header(&rq);
    if (!sip->sip_from || !sip->sip_to || !sip->sip_call_id || !sip->sip_cseq || !sip->sip_via)
        return scscf_reply_error(&rq, SCSCF_E_MISSING_HEADER, NULL);
    if (sip->sip_request->rq_method != sip_method_cancel && !scscf_require_ok(&rq))
        return;
    if (sip->sip_request->rq_method == sip_method_register) {
        s->m.registers++;
        scscf_register_handle(&rq);
    } else
        scscf_methods_process(&rq);
}
