/* The one error -> SIP reply table of the S-CSCF: status, reason phrase and Warning text.
 * Keeping every phrase here lets docs list them and keeps replies consistent. */
#include "scscf.h"

static const scscf_reply_entry_t table[SCSCF_E_COUNT] = {
    [SCSCF_E_BAD_REQUEST] = {400, "Bad Request - Malformed Message",
                             "The request could not be parsed", "malformed"},
    [SCSCF_E_MISSING_HEADER] = {400, "Bad Request - Missing Mandatory Header",
                                "To, From, Call-ID, CSeq and Via are mandatory", "missing_header"},
    [SCSCF_E_BAD_HEADER] = {400, "Bad Request - Unparsable Header", "A header could not be parsed",
                            "bad_header"},
    [SCSCF_E_BAD_AUTH] = {400, "Bad Request - Malformed Authorization",
                          "Authorization must be Digest with username, realm, nonce, uri and "
                          "response",
                          "bad_authorization"},
    [SCSCF_E_BAD_CONTACT] = {400, "Bad Request - Invalid Contact",
                             "Contact must be a SIP URI, or * alone with Expires: 0",
                             "bad_contact"},
    [SCSCF_E_BAD_EXPIRES] = {400, "Bad Request - Invalid Expires",
                             "Expires must be a non-negative integer", "bad_expires"},
    [SCSCF_E_NOT_HOME_DOMAIN] = {403, "Forbidden - Domain Not Served",
                                 "The Request-URI is not this S-CSCF's home domain",
                                 "not_home_domain"},
    [SCSCF_E_USER_UNKNOWN] = {403, "Forbidden - HSS User Unknown",
                              "The HSS knows no subscriber with this identity", "user_unknown"},
    [SCSCF_E_IDENTITY_MISMATCH] = {403, "Forbidden - Identity Mismatch",
                                   "The private and public identities belong to different "
                                   "subscribers",
                                   "identity_mismatch"},
    [SCSCF_E_IMPU_BARRED] = {403, "Forbidden - IMPU Barred", "The public identity in To is barred",
                             "impu_barred"},
    [SCSCF_E_AUTH_FAILED] = {403, "Forbidden - Authentication Failed",
                             "The credentials do not match", "auth_failed"},
    [SCSCF_E_RESYNC_FAILED] = {403, "Forbidden - Resynchronisation Failed",
                               "The HSS rejected the AUTS (MAC-S mismatch)", "resync_failed"},
    [SCSCF_E_INTERVAL_TOO_BRIEF] = {423, "Interval Too Brief",
                                    "The requested expiry is below Min-Expires",
                                    "interval_too_brief"},
    [SCSCF_E_OUT_OF_ORDER] = {500, "Server Internal Error - CSeq Out of Order",
                              "A newer REGISTER with this Call-ID was already processed",
                              "cseq_out_of_order"},
    [SCSCF_E_HSS_UNAVAILABLE] = {503, "Service Unavailable - HSS Unreachable",
                                 "The HSS did not answer in time; retry later", "hss_unavailable"},
    [SCSCF_E_HSS_ERROR] = {500, "Server Internal Error - HSS Error",
                           "The HSS answered with an error", "hss_error"},
    [SCSCF_E_INTERNAL] = {500, "Server Internal Error", "The S-CSCF ran out of resources",
                          "internal"},
    [SCSCF_E_NOT_IMPLEMENTED] = {501, "Not Implemented",
                                 "This S-CSCF handles only REGISTER and OPTIONS",
                                 "not_implemented"},
    [SCSCF_E_TOO_MANY_FAILURES] = {403, "Forbidden - Too Many Failed Attempts",
                                   "Too many failed authentications from this address; retry "
                                   "after the cooldown",
                                   "too_many_failures"},
    [SCSCF_E_BAD_CONTACT_PORT] = {400, "Bad Request - Invalid Contact Port",
                                  "A Contact port must be a number from 1 to 65535",
                                  "bad_contact_port"},
    [SCSCF_E_CONTACT_CONTROL_CHARS] = {400, "Bad Request - Control Characters In Contact",
                                       "A Contact must not contain control characters",
                                       "contact_control_chars"},
    [SCSCF_E_TOO_MANY_CONTACTS] =
        {403, "Forbidden - Too Many Contacts",
         "More contacts than --max-contacts allows for one IMPI; remove some first",
         "too_many_contacts"},
};

const scscf_reply_entry_t *scscf_reply_get(scscf_err_t e)
{
    if ((unsigned)e >= SCSCF_E_COUNT)
        e = SCSCF_E_INTERNAL;
    return &table[e];
}
