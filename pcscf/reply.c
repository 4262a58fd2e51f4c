/* The one table of every SIP error the P-CSCF generates itself (docs list it from here),
 * and the sender that adds the mandatory Warning: 399 explanation. */
#include "pcscf.h"

#include <stdio.h>

#include <sofia-sip/sip_header.h>
#include <sofia-sip/sip_tag.h>

#include "ims/log.h"

static const pcscf_reply_t replies[PCSCF_ERR_COUNT] = {
    [PCSCF_ERR_TOO_MANY_HOPS] = {483, "Too Many Hops", "Max-Forwards reached zero at the P-CSCF"},
    [PCSCF_ERR_BAD_CONTACT] = {400, "Bad Request - Malformed Contact",
                               "the Contact header could not be parsed"},
    [PCSCF_ERR_BAD_TO] = {400, "Bad Request - Malformed To",
                          "the To header is missing or has no SIP URI"},
    [PCSCF_ERR_BAD_REQUEST] = {400, "Bad Request - Malformed Header",
                               "a header of the request could not be parsed"},
    [PCSCF_ERR_NOT_REGISTERED] = {403, "Forbidden - Not Registered",
                                  "register through this P-CSCF before sending requests"},
    [PCSCF_ERR_SCSCF_UNREACHABLE] = {503, "Service Unavailable - S-CSCF Unreachable",
                                     "the P-CSCF could not reach the S-CSCF"},
    [PCSCF_ERR_SCSCF_TIMEOUT] = {504, "Server Time-out - S-CSCF Did Not Answer",
                                 "the S-CSCF did not answer in time"},
    [PCSCF_ERR_INTERNAL] = {500, "Server Internal Error - P-CSCF Out Of Resources",
                            "the P-CSCF could not process the request"},
    [PCSCF_ERR_NO_TRANSACTION] = {481, "Call/Transaction Does Not Exist - Nothing To Cancel",
                                  "no pending request at the P-CSCF matches this CANCEL"},
    [PCSCF_ERR_UE_UNREACHABLE] = {480, "Temporarily Unavailable - UE Unreachable",
                                  "the P-CSCF could not reach the UE"},
    [PCSCF_ERR_UE_TIMEOUT] = {408, "Request Timeout - UE Did Not Answer",
                              "the UE did not answer in time"},
    [PCSCF_ERR_SHUTDOWN] = {503, "Service Unavailable - P-CSCF Shutting Down",
                            "the P-CSCF stopped before the answer came; retry"},
    [PCSCF_ERR_BAD_PORT] = {400, "Bad Request - Invalid Port",
                            "a Contact or Route URI has a port outside 1-65535"},
    [PCSCF_ERR_DUPLICATE_HEADER] = {400, "Bad Request - Duplicate Header",
                                    "a header allowed once (To, From, CSeq, Call-ID, "
                                    "Max-Forwards, Expires...) appears twice"},
};

const pcscf_reply_t *pcscf_reply_get(pcscf_err_t e)
{
    if ((int)e < 0 || e >= PCSCF_ERR_COUNT)
        e = PCSCF_ERR_INTERNAL;
    return &replies[e];
}

void pcscf_reply_send(nta_incoming_t *irq, const char *warn_host, pcscf_err_t e)
{
    const pcscf_reply_t *r = pcscf_reply_get(e);
    char warning[512];

    snprintf(warning, sizeof warning, "399 %s \"%s\"", warn_host, r->warning);
    if (r->status == 503)
        nta_incoming_treply(irq, r->status, r->phrase, SIPTAG_WARNING_STR(warning),
                            SIPTAG_RETRY_AFTER_STR("5"), TAG_END());
    else
        nta_incoming_treply(irq, r->status, r->phrase, SIPTAG_WARNING_STR(warning), TAG_END());
}
