/* The one table of every SIP error the P-CSCF generates itself (docs list it from here),
 * the sender that adds the mandatory Warning: 399 explanation, and the cheap 100 Trying. */
#include "pcscf.h"

#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include <sofia-sip/msg_addr.h>
#include <sofia-sip/msg_header.h>
#include <sofia-sip/sip_header.h>
#include <sofia-sip/sip_tag.h>

#include "ims/log.h"

/* Retry-After (last column): every 503 says when to come back, as RFC 3261 §21.5.4 lets a
 * server do; 5 s lets a restarted S-CSCF come up or a backlog drain without the UEs
 * hammering it. The other errors are about the request itself or the UE: no retry hint. */
static const pcscf_reply_t replies[PCSCF_ERR_COUNT] = {
    [PCSCF_ERR_TOO_MANY_HOPS] = {483, "Too Many Hops", "Max-Forwards reached zero at the P-CSCF",
                                 0},
    [PCSCF_ERR_BAD_CONTACT] = {400, "Bad Request - Malformed Contact",
                               "the Contact header could not be parsed", 0},
    [PCSCF_ERR_BAD_TO] = {400, "Bad Request - Malformed To",
                          "the To header is missing or has no SIP URI", 0},
    [PCSCF_ERR_BAD_REQUEST] = {400, "Bad Request - Malformed Header",
                               "a header of the request could not be parsed", 0},
    [PCSCF_ERR_NOT_REGISTERED] = {403, "Forbidden - Not Registered",
                                  "register through this P-CSCF before sending requests", 0},
    [PCSCF_ERR_SCSCF_UNREACHABLE] = {503, "Service Unavailable - S-CSCF Unreachable",
                                     "the P-CSCF could not reach the S-CSCF", 5},
    [PCSCF_ERR_SCSCF_TIMEOUT] = {504, "Server Time-out - S-CSCF Did Not Answer",
                                 "the S-CSCF did not answer in time", 0},
    [PCSCF_ERR_INTERNAL] = {500, "Server Internal Error - P-CSCF Out Of Resources",
                            "the P-CSCF could not process the request", 0},
    [PCSCF_ERR_NO_TRANSACTION] = {481, "Call/Transaction Does Not Exist - Nothing To Cancel",
                                  "no pending request at the P-CSCF matches this CANCEL", 0},
    [PCSCF_ERR_UE_UNREACHABLE] = {480, "Temporarily Unavailable - UE Unreachable",
                                  "the P-CSCF could not reach the UE", 0},
    [PCSCF_ERR_UE_TIMEOUT] = {408, "Request Timeout - UE Did Not Answer",
                              "the UE did not answer in time", 0},
    [PCSCF_ERR_SHUTDOWN] = {503, "Service Unavailable - P-CSCF Shutting Down",
                            "the P-CSCF stopped before the answer came; retry", 5},
    [PCSCF_ERR_BAD_PORT] = {400, "Bad Request - Invalid Port",
                            "a Contact or Route URI has a port outside 1-65535", 0},
    [PCSCF_ERR_DUPLICATE_HEADER] = {400, "Bad Request - Duplicate Header",
                                    "a header allowed once (To, From, CSeq, Call-ID, "
                                    "Max-Forwards, Expires...) appears twice",
                                    0},
    [PCSCF_ERR_OVERLOADED] = {503, "Service Unavailable - P-CSCF Overloaded",
                              "too many requests are waiting for the S-CSCF; retry later", 5},
    /* sec-agree (RFC 3329, TS 24.229 §5.2.2): the Warning usually names the exact cause. */
    [PCSCF_ERR_SEC_AGREE_BAD] = {494, "Security Agreement Required",
                                 "the Security-Client header is malformed", 0},
    [PCSCF_ERR_SEC_AGREE_NO_ALG] = {494, "Security Agreement Required",
                                    "none of the offered IPsec algorithms is enabled here", 0},
    [PCSCF_ERR_SEC_AGREE_REQUIRED] = {494, "Security Agreement Required",
                                      "this P-CSCF requires IPsec (sec-agree) for IMS AKA", 0},
    [PCSCF_ERR_SEC_VERIFY] = {403, "Forbidden - Security Agreement Mismatch",
                              "the protected REGISTER does not match the security agreement", 0},
    [PCSCF_ERR_NOT_PROTECTED] = {403, "Forbidden - Not Protected",
                                 "this UE registered with IPsec: send requests over its "
                                 "security associations",
                                 0},
    [PCSCF_ERR_IPSEC_FAILED] = {500, "Server Internal Error - IPsec Unavailable",
                                "the P-CSCF could not install the security associations", 0},
};

const pcscf_reply_t *pcscf_reply_get(pcscf_err_t e)
{
    if ((int)e < 0 || e >= PCSCF_ERR_COUNT)
        e = PCSCF_ERR_INTERNAL;
    return &replies[e];
}

void pcscf_reply_send(nta_incoming_t *irq, const char *warn_host, pcscf_err_t e)
{
    pcscf_reply_send_why(irq, warn_host, e, NULL);
}

void pcscf_reply_send_why(nta_incoming_t *irq, const char *warn_host, pcscf_err_t e,
                          const char *why)
{
    const pcscf_reply_t *r = pcscf_reply_get(e);
    char warning[512];
    char retry[16];

    char text[400];

    /* why may quote the sender's own bytes: nothing in it may end the quoted string or
     * the header. */
    snprintf(text, sizeof text, "%s", why ? why : r->warning);
    for (char *q = text; *q; q++)
        if (*q == '"' || *q == '\\' || *q == '\r' || *q == '\n')
            *q = '\'';
    snprintf(warning, sizeof warning, "399 %s \"%s\"", warn_host, text);
    snprintf(retry, sizeof retry, "%d", r->retry_after);
    nta_incoming_treply(irq, r->status, r->phrase, SIPTAG_WARNING_STR(warning),
                        TAG_IF(r->retry_after > 0, SIPTAG_RETRY_AFTER_STR(retry)), TAG_END());
}

/* ---------------------------------------------------------------- raw 100 Trying */

/* nta builds a 100 like any response: a new message, copies of the headers, an encode
 * pass, a getsockopt before the send and the transaction bookkeeping; in the profile that
 * was a third of the REGISTER path besides the send itself. A UDP 100 is written here
 * instead, straight from the parsed request, on the socket the request came in on (so
 * NAT bindings see the same address) and to its source address, as nta does with rport.
 * nta then sees no provisional answer: a retransmitted request is absorbed silently
 * (RFC 3261 Trying state) rather than answered with another 100. TPORT_LOG does not
 * show these 100s. */

static bool add_header(char *buf, size_t cap, size_t *n, const void *h)
{
    if (!h)
        return true;
    issize_t k = msg_header_e(buf + *n, (isize_t)(cap - *n), (const msg_header_t *)h, 0);
    if (k < 0 || (size_t)k >= cap - *n)
        return false;
    *n += (size_t)k;
    return true;
}

bool pcscf_trying_send_raw(const int udp_fd[2], const sip_t *sip, msg_t *req)
{
    su_addrinfo_t *ai = req ? msg_addrinfo(req) : NULL;
    static const char tail[] = "Content-Length: 0\r\n\r\n";
    char buf[4096];
    size_t n;
    int fd;

    if (!ai || !ai->ai_addr || ai->ai_protocol == IPPROTO_TCP)
        return false;
    fd = ai->ai_addr->sa_family == AF_INET6  ? udp_fd[1]
         : ai->ai_addr->sa_family == AF_INET ? udp_fd[0]
                                             : -1;
    if (fd < 0)
        return false;
    n = (size_t)snprintf(buf, sizeof buf, "SIP/2.0 100 Trying\r\n");
    for (const sip_via_t *v = sip->sip_via; v; v = v->v_next)
        if (!add_header(buf, sizeof buf, &n, v))
            return false;
    if (!add_header(buf, sizeof buf, &n, sip->sip_from) ||
        !add_header(buf, sizeof buf, &n, sip->sip_to) ||
        !add_header(buf, sizeof buf, &n, sip->sip_call_id) ||
        !add_header(buf, sizeof buf, &n, sip->sip_cseq) ||
        !add_header(buf, sizeof buf, &n, sip->sip_timestamp))
        return false;
    if (n + sizeof tail > sizeof buf)
        return false;
    memcpy(buf + n, tail, sizeof tail - 1);
    n += sizeof tail - 1;
    return sendto(fd, buf, n, MSG_DONTWAIT | MSG_NOSIGNAL, ai->ai_addr,
                  (socklen_t)ai->ai_addrlen) == (ssize_t)n;
}
