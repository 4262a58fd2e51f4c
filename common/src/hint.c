/* The table of plain-words hints: what a tester should look at when the CSCFs saw a
 * given cause. One row per cause; add a row, not an if. */
#include "ims/hint.h"

#include <stdio.h>
#include <string.h>

static const ims_hint_row_t rows[IMS_HINT_COUNT] = {
    {IMS_HINT_NONE, "", ""},
    {IMS_HINT_CHALLENGED, "challenged",
     "first REGISTER challenged with 401; the UE should answer with Authorization"},
    {IMS_HINT_REGISTERED, "registered", "authenticated and registered"},
    {IMS_HINT_REREGISTERED, "reregistered", "registration refreshed"},
    {IMS_HINT_DEREGISTERED, "deregistered", "the UE deregistered (Expires 0)"},
    {IMS_HINT_RES_MISMATCH, "res_mismatch",
     "RES did not match XRES: the K/OPc in the UE (or its SIM) differ from the HSS record, "
     "or it answered another RAND"},
    {IMS_HINT_AKA_RESYNC, "aka_resync",
     "the UE sent AUTS (its SQN was out of step); the HSS resynchronised the SQN and a new "
     "challenge was sent"},
    {IMS_HINT_AKA_RESYNC_FAILED, "aka_resync_failed",
     "the UE sent AUTS that did not verify: its K/OPc differ from the HSS record"},
    {IMS_HINT_DIGEST_PASSWORD, "digest_password",
     "wrong digest response with our realm, nonce and uri: the password in the UE differs "
     "from the HSS record"},
    {IMS_HINT_DIGEST_URI, "digest_uri",
     "the digest response matches the Request-URI, not the uri parameter the UE sent: the UE "
     "hashed a different uri than it reports"},
    {IMS_HINT_DIGEST_REALM, "digest_realm",
     "the realm in Authorization is not ours: the UE made up a realm or is configured for "
     "another domain"},
    {IMS_HINT_NONCE_UNKNOWN, "nonce_unknown",
     "the nonce in Authorization was never issued here (or was forgotten after a restart): a "
     "fresh challenge was sent"},
    {IMS_HINT_STALE_NONCE, "stale_nonce",
     "the nonce had expired; the UE was re-challenged with stale=true and should retry "
     "without asking the user"},
    {IMS_HINT_NC_REPLAY, "nc_replay",
     "the nonce count (nc) did not increase: a replayed or retransmitted Authorization; a "
     "fresh challenge was sent"},
    {IMS_HINT_NO_ANSWER_401, "no_answer_401",
     "the UE never answered the 401 within the transaction timeout: it could not compute a "
     "response (wrong scheme or algorithm, SIM refused AUTN) or the 401 did not reach it"},
    {IMS_HINT_FOREIGN_DOMAIN, "foreign_domain",
     "the REGISTER was for a domain that is not ours: check the UE's home domain (realm) "
     "setting"},
    {IMS_HINT_EXPIRES_TOO_BRIEF, "expires_too_brief",
     "Expires below the minimum: the UE should retry with at least Min-Expires"},
    {IMS_HINT_BARRED_IMPU, "barred_impu",
     "a barred IMPU was used: it may only be registered implicitly, never as the To or an "
     "asserted identity"},
    {IMS_HINT_USER_UNKNOWN, "user_unknown",
     "the HSS does not know this user: check the IMPI/IMPU the UE sends against the "
     "provisioned subscriber"},
    {IMS_HINT_HSS_UNREACHABLE, "hss_unreachable",
     "the HSS did not answer (down, slow or garbled): the UE got 503 with Retry-After"},
    {IMS_HINT_SEC_VERIFY_MISSING, "sec_verify_missing",
     "the protected REGISTER carried no Security-Verify: the UE did not complete "
     "sec-agree (RFC 3329)"},
    {IMS_HINT_SEC_VERIFY_MISMATCH, "sec_verify_mismatch",
     "Security-Verify differs from the Security-Server we sent: possible downgrade or a UE "
     "bug"},
    {IMS_HINT_ESP_UNKNOWN_SPI, "esp_unknown_spi",
     "ESP arrived for an SPI we never allocated: the UE uses SAs from an older registration"},
    {IMS_HINT_ESP_ICV_FAILED, "esp_icv_failed",
     "an ESP packet failed its integrity check: the UE derived other IK/CK, or uses another "
     "algorithm than agreed"},
    {IMS_HINT_FAULT_FIRED, "fault_fired",
     "a fault-injection rule fired: this answer was made on purpose"},
    {IMS_HINT_FORWARDED, "forwarded", "forwarded toward the S-CSCF"},
    {IMS_HINT_MALFORMED, "malformed", "the request was malformed and refused with 400"},
};

const ims_hint_row_t *ims_hint_row(ims_hint_t hint)
{
    if (hint <= IMS_HINT_NONE || hint >= IMS_HINT_COUNT)
        return NULL;
    return &rows[hint];
}

ims_hint_t ims_hint_by_id(const char *id)
{
    for (int h = 1; id && h < IMS_HINT_COUNT; h++)
        if (strcmp(rows[h].id, id) == 0)
            return (ims_hint_t)h;
    return IMS_HINT_NONE;
}

size_t ims_hint_format(ims_hint_t hint, const char *detail, char *out, size_t cap)
{
    if (cap == 0)
        return 0;
    const ims_hint_row_t *r = ims_hint_row(hint);
    const char *text = r ? r->text : "";
    int n;
    if (detail && *detail)
        n = snprintf(out, cap, "%s%s%s", text, *text ? ": " : "", detail);
    else
        n = snprintf(out, cap, "%s", text);
    if (n < 0) {
        out[0] = '\0';
        return 0;
    }
    return (size_t)n < cap ? (size_t)n : cap - 1;
}
