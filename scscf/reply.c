/* The one error -> SIP reply table of the S-CSCF (status, reason phrase, Warning text,
 * Retry-After policy) and the reply helpers below every handler, so none writes one by hand. */
#include <stdio.h>

#include "ims/log.h"
#include "ims/sip.h"
#include "register.h"

/* An HSS that is down or answers garbage is an outage: the UE is told when to come back
 * instead of retrying at once. */
#define HSS_RETRY_S 5

/* status, reason phrase, Warning text, metric label, Retry-After seconds (0: none), and the
 * timeline's hint for the UE tester (IMS_HINT_NONE: the Warning says it all). */
static const scscf_reply_entry_t table[SCSCF_E_COUNT] = {
    [SCSCF_E_BAD_REQUEST] = {400, "Bad Request - Malformed Message",
                             "The request could not be parsed", "malformed", 0, IMS_HINT_MALFORMED},
    [SCSCF_E_MISSING_HEADER] = {400, "Bad Request - Missing Mandatory Header",
                                "To, From, Call-ID, CSeq and Via are mandatory", "missing_header",
                                0, IMS_HINT_MALFORMED},
    [SCSCF_E_BAD_HEADER] = {400, "Bad Request - Unparsable Header", "A header could not be parsed",
                            "bad_header", 0, IMS_HINT_MALFORMED},
    [SCSCF_E_BAD_AUTH] = {400, "Bad Request - Malformed Authorization",
                          "Authorization must be Digest with username, realm, nonce, uri and "
                          "response",
                          "bad_authorization", 0, IMS_HINT_MALFORMED},
    [SCSCF_E_BAD_CONTACT] = {400, "Bad Request - Invalid Contact",
                             "Contact must be a SIP URI, or * alone with Expires: 0", "bad_contact",
                             0, IMS_HINT_MALFORMED},
    [SCSCF_E_BAD_EXPIRES] = {400, "Bad Request - Invalid Expires",
                             "Expires must be a non-negative integer", "bad_expires", 0,
                             IMS_HINT_MALFORMED},
    [SCSCF_E_NOT_HOME_DOMAIN] = {403, "Forbidden - Domain Not Served",
                                 "The Request-URI is not this S-CSCF's home domain",
                                 "not_home_domain", 0, IMS_HINT_FOREIGN_DOMAIN},
    [SCSCF_E_USER_UNKNOWN] = {403, "Forbidden - HSS User Unknown",
                              "The HSS knows no subscriber with this identity", "user_unknown", 0,
                              IMS_HINT_USER_UNKNOWN},
    [SCSCF_E_IDENTITY_MISMATCH] = {403, "Forbidden - Identity Mismatch",
                                   "The private and public identities belong to different "
                                   "subscribers",
                                   "identity_mismatch", 0, IMS_HINT_NONE},
    [SCSCF_E_IMPU_BARRED] = {403, "Forbidden - IMPU Barred", "The public identity in To is barred",
                             "impu_barred", 0, IMS_HINT_BARRED_IMPU},
    [SCSCF_E_AUTH_FAILED] = {403, "Forbidden - Authentication Failed",
                             "The credentials do not match", "auth_failed", 0,
                             IMS_HINT_DIGEST_PASSWORD},
    [SCSCF_E_RESYNC_FAILED] = {403, "Forbidden - Resynchronisation Failed",
                               "The HSS rejected the AUTS (MAC-S mismatch)", "resync_failed", 0,
                               IMS_HINT_AKA_RESYNC_FAILED},
    [SCSCF_E_INTERVAL_TOO_BRIEF] = {423, "Interval Too Brief",
                                    "The requested expiry is below Min-Expires",
                                    "interval_too_brief", 0, IMS_HINT_EXPIRES_TOO_BRIEF},
    [SCSCF_E_OUT_OF_ORDER] = {500, "Server Internal Error - CSeq Out of Order",
                              "A newer REGISTER with this Call-ID was already processed",
                              "cseq_out_of_order", 0, IMS_HINT_NONE},
    [SCSCF_E_HSS_UNAVAILABLE] = {503, "Service Unavailable - HSS Unreachable",
                                 "The HSS did not answer in time; retry later", "hss_unavailable",
                                 HSS_RETRY_S, IMS_HINT_HSS_UNREACHABLE},
    [SCSCF_E_HSS_ERROR] = {500, "Server Internal Error - HSS Error",
                           "The HSS answered with an error", "hss_error", HSS_RETRY_S,
                           IMS_HINT_HSS_UNREACHABLE},
    [SCSCF_E_INTERNAL] = {500, "Server Internal Error", "The S-CSCF ran out of resources",
                          "internal", 0, IMS_HINT_NONE},
    [SCSCF_E_NOT_IMPLEMENTED] = {501, "Not Implemented",
                                 "This S-CSCF does not know this method; it handles REGISTER, "
                                 "OPTIONS and SUBSCRIBE",
                                 "not_implemented", 0, IMS_HINT_NONE},
    [SCSCF_E_METHOD_NOT_ALLOWED] = {405, "Method Not Allowed",
                                    "This S-CSCF is a registrar: it handles REGISTER, OPTIONS "
                                    "and SUBSCRIBE only",
                                    "method_not_allowed", 0, IMS_HINT_NONE},
    [SCSCF_E_OPTIONS_NOT_ME] = {404, "Not Found - Not This S-CSCF",
                                "OPTIONS is answered only when addressed to the S-CSCF itself "
                                "(its address, scscf.DOMAIN or DOMAIN, without a user part)",
                                "options_not_me", 0, IMS_HINT_NONE},
    [SCSCF_E_BAD_EXTENSION] = {420, "Bad Extension",
                               "Require names an option tag this S-CSCF does not support (listed "
                               "in Unsupported)",
                               "bad_extension", 0, IMS_HINT_NONE},
    [SCSCF_E_DIGEST_URI_MISMATCH] = {403, "Forbidden - Digest URI Mismatch",
                                     "The uri in Authorization is not the Request-URI (RFC 2617 "
                                     "3.2.2.5)",
                                     "digest_uri_mismatch", 0, IMS_HINT_DIGEST_URI},
    [SCSCF_E_NO_TRANSACTION] = {481, "Call/Transaction Does Not Exist",
                                "This CANCEL matches no request in progress", "no_transaction", 0,
                                IMS_HINT_NONE},
    [SCSCF_E_BODY_SHORT] = {400, "Bad Request - Content-Length Mismatch",
                            "Content-Length is larger than the body the message carried",
                            "body_short", 0, IMS_HINT_MALFORMED},
    [SCSCF_E_TOO_MANY_FAILURES] = {403, "Forbidden - Too Many Failed Attempts",
                                   "Too many failed authentications from this address; retry "
                                   "after the cooldown",
                                   "too_many_failures", SCSCF_RETRY_COOLDOWN, IMS_HINT_NONE},
    [SCSCF_E_BAD_CONTACT_PORT] = {400, "Bad Request - Invalid Contact Port",
                                  "A Contact port must be a number from 1 to 65535",
                                  "bad_contact_port", 0, IMS_HINT_MALFORMED},
    [SCSCF_E_CONTACT_CONTROL_CHARS] = {400, "Bad Request - Control Characters In Contact",
                                       "A Contact must not contain control characters",
                                       "contact_control_chars", 0, IMS_HINT_MALFORMED},
    [SCSCF_E_TOO_MANY_CONTACTS] =
        {403, "Forbidden - Too Many Contacts",
         "More contacts than --max-contacts allows for one IMPI; remove some first",
         "too_many_contacts", 0, IMS_HINT_NONE},
    [SCSCF_E_NO_EVENT] = {489, "Bad Event - Event Header Missing",
                          "A SUBSCRIBE needs an Event header; this S-CSCF serves Event: reg",
                          "no_event", 0, IMS_HINT_MALFORMED},
    [SCSCF_E_BAD_EVENT] = {489, "Bad Event", "Only the reg event package (RFC 3680) is served here",
                           "bad_event", 0, IMS_HINT_NONE},
    [SCSCF_E_NOT_ACCEPTABLE] = {406, "Not Acceptable",
                                "The reg event sends application/reginfo+xml, which Accept "
                                "leaves out",
                                "not_acceptable", 0, IMS_HINT_NONE},
    [SCSCF_E_NOT_REGISTERED] = {480, "Temporarily Unavailable - Not Registered",
                                "The IMPU has no live registration (TS 24.229 5.4.2.1.1): "
                                "register first, then subscribe",
                                "subscribe_not_registered", 0, IMS_HINT_NONE},
    [SCSCF_E_SUBSCRIBE_FORBIDDEN] = {403, "Forbidden - Not Authorized to Subscribe",
                                     "Only the UE of the implicit registration set or the "
                                     "P-CSCF on its Path may watch its registration",
                                     "subscribe_forbidden", 0, IMS_HINT_NONE},
    [SCSCF_E_NO_SUBSCRIPTION] = {481, "Subscription Does Not Exist",
                                 "No subscription has this Call-ID and these tags: it ended "
                                 "or never existed",
                                 "no_subscription", 0, IMS_HINT_NONE},
    [SCSCF_E_TOO_MANY_SUBSCRIPTIONS] = {503, "Service Unavailable - Too Many Subscriptions",
                                        "The subscriptions allowed per IMPU or in total are in "
                                        "use",
                                        "too_many_subscriptions", 60, IMS_HINT_NONE},
};

const scscf_reply_entry_t *scscf_reply_get(scscf_err_t e)
{
    if ((unsigned)e >= SCSCF_E_COUNT)
        e = SCSCF_E_INTERNAL;
    return &table[e];
}

static const char *method_name(sip_t const *sip)
{
    return sip->sip_request ? sip->sip_request->rq_method_name : "?";
}

void scscf_reply_send_why(const scscf_req_t *rq, int status, const char *phrase,
                          const char *headers, const scscf_why_t *why)
{
    if (scscf_fault_hold_reply(rq, status, phrase, headers, why))
        return;
    IMS_INFO("%s %s from %s -> %d %s", method_name(rq->sip), rq->impu[0] ? rq->impu : "-", rq->src,
             status, phrase);
    msg_t *sent = rq->rsp.reply(rq->rsp.ctx, status, phrase, rq->s->cfg.server_header, headers);
    scscf_trace_reply(rq, status, phrase, sent, why);
    if (sent)
        msg_destroy(sent);
}

void scscf_reply_send(const scscf_req_t *rq, int status, const char *phrase, const char *headers)
{
    scscf_reply_send_why(rq, status, phrase, headers, NULL);
}

static void reply_entry(const scscf_req_t *rq, scscf_err_t e, long retry_s, const char *extra,
                        const scscf_why_t *why_in)
{
    const scscf_reply_entry_t *r = scscf_reply_get(e);
    char hdr[1024], retry[40] = "";
    if (retry_s > 0)
        snprintf(retry, sizeof(retry), "Retry-After: %ld\r\n", retry_s);
    snprintf(hdr, sizeof(hdr), "Warning: 399 %s \"%s\"\r\n%s%s", rq->s->cfg.host, r->warning, retry,
             extra ? extra : "");
    rq->s->m.auth_failures[e]++;
    scscf_why_t why = {r->hint, NULL, NULL};
    scscf_reply_send_why(rq, r->status, r->phrase, hdr, why_in ? why_in : &why);
}

void scscf_reply_error(const scscf_req_t *rq, scscf_err_t e, const char *extra)
{
    reply_entry(rq, e, scscf_reply_get(e)->retry_after, extra, NULL);
}

void scscf_reply_error_why(const scscf_req_t *rq, scscf_err_t e, const scscf_why_t *why)
{
    reply_entry(rq, e, scscf_reply_get(e)->retry_after, NULL, why);
}

void scscf_reply_error_after(const scscf_req_t *rq, scscf_err_t e, long retry_after_s)
{
    reply_entry(rq, e, retry_after_s, NULL, NULL);
}

void scscf_reply_bad_header(const scscf_req_t *rq)
{
    char w[256];
    snprintf(w, sizeof(w), "Warning: 399 %s \"Cannot parse the %s header\"\r\n", rq->s->cfg.host,
             ims_sip_bad_header(rq->sip));
    rq->s->m.auth_failures[SCSCF_E_BAD_HEADER]++;
    scscf_reply_send(rq, 400, scscf_reply_get(SCSCF_E_BAD_HEADER)->phrase, w);
}
