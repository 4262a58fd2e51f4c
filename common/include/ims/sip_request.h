/* A SIP request built from tags outside any nta leg, for nta_outgoing_mcreate: for modules
 * that keep their dialogs themselves (the reg event's NOTIFY in the scscf, SUBSCRIBE in the
 * pcscf) and must not depend on a default leg existing. */
#ifndef IMS_SIP_REQUEST_H
#define IMS_SIP_REQUEST_H

#include <sofia-sip/nta.h>
#include <sofia-sip/sip.h>
#include <sofia-sip/su_tag.h>

/* The request line "METHOD ruri SIP/2.0", Max-Forwards: 70 (unless the tags give one) and
 * the headers the tags give (SIPTAG_FROM_STR, SIPTAG_CSEQ_STR, ...). nta adds the Via when
 * the message goes out with nta_outgoing_mcreate (which does not take it on failure: the
 * caller destroys it then). Returns NULL when ruri or a tag's value does not parse. */
msg_t *ims_sip_request_msg(nta_agent_t *agent, sip_method_t method, const char *name,
                           const char *ruri, tag_type_t tag, tag_value_t value, ...);

#endif
