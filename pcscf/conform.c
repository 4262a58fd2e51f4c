/* What the P-CSCF refuses before any transaction exists (answered statelessly): malformed
 * requests, and option tags in Proxy-Require it does not support (RFC 3261 §16.3, §8.2.2.3). */
#include "pcscf.h"

#include <string.h>
#include <strings.h>

#include <sofia-sip/msg_header.h>
#include <sofia-sip/sip_header.h>
#include <sofia-sip/su_string.h>

#include "ims/sip.h"
#include "ims/sip_conform.h"

/* Option tags a UE may put in Proxy-Require. sec-agree is always understood: with --sec-agree
 * off it is ignored and stripped, otherwise ipsec_sip.c negotiates (SPEC §6). */
static const char *const supported[] = {"path", "sec-agree", NULL};

/* To must name a SIP user (or a tel: number for requests other than REGISTER). */
static bool to_ok(const url_t *u)
{
    return (u->url_type == url_sip || u->url_type == url_sips) ? u->url_host != NULL
                                                               : u->url_type == url_tel;
}

/* Every Contact and Route port must be a real one (1..65535). */
static bool ports_ok(const sip_t *sip)
{
    for (const sip_contact_t *m = sip->sip_contact; m; m = m->m_next)
        if (!ims_sip_url_port_ok(m->m_url))
            return false;
    for (const sip_route_t *r = sip->sip_route; r; r = r->r_next)
        if (!ims_sip_url_port_ok(r->r_url))
            return false;
    return true;
}

pcscf_err_t pcscf_precheck(const sip_t *sip)
{
    if (ims_sip_duplicate_header(sip))
        return PCSCF_ERR_DUPLICATE_HEADER;
    if (ims_sip_body_short(sip))
        return PCSCF_ERR_BODY_SHORT;
    if (ims_sip_header_error(sip, "Contact"))
        return PCSCF_ERR_BAD_CONTACT;
    if (!ports_ok(sip))
        return PCSCF_ERR_BAD_PORT;
    if (!sip->sip_to || !to_ok(sip->sip_to->a_url) || ims_sip_header_error(sip, "To"))
        return PCSCF_ERR_BAD_TO;
    /* Any other header Sofia could not parse (From, Route, Max-Forwards, Expires, a second
     * Via...): the S-CSCF would refuse it anyway, and forwarding it kept a transaction. */
    if (sip->sip_error)
        return PCSCF_ERR_BAD_REQUEST;
    return PCSCF_ERR_COUNT;
}

pcscf_err_t pcscf_option_tags(const sip_t *sip, char *out, size_t outlen)
{
    const msg_list_t *tags = (const msg_list_t *)sip->sip_proxy_require;
    return ims_sip_unsupported(tags, supported, out, outlen) == 0 ? PCSCF_ERR_COUNT
                                                                  : PCSCF_ERR_BAD_EXTENSION;
}

void pcscf_sec_agree_strip(msg_t *msg, sip_t *sip)
{
    ims_sip_option_tag_remove(msg, sip, "sec-agree");
    while (sip->sip_security_client)
        msg_header_remove(msg, (msg_pub_t *)sip, (msg_header_t *)sip->sip_security_client);
    while (sip->sip_security_verify)
        msg_header_remove(msg, (msg_pub_t *)sip, (msg_header_t *)sip->sip_security_verify);
}
