/* RFC 3261 / RFC 3581 rules both CSCFs apply the same way: option tags (420), the received
 * parameter with rport, same-resource URI comparison, and stateless rejects. */
#ifndef IMS_SIP_CONFORM_H
#define IMS_SIP_CONFORM_H

#include <stdbool.h>
#include <stddef.h>

#include <sofia-sip/sip.h>

/* nta's agent, named without including nta.h here: the daemons define nta's magic types
 * before their first include of it. */
struct nta_agent_s;

/* Writes into out ("a, b") the option tags of tags (a Require or Proxy-Require list; NULL
 * is fine) that are not in supported (NULL-terminated), each once. Returns how many. */
size_t ims_sip_unsupported(const msg_list_t *tags, const char *const *supported, char *out,
                           size_t outlen);

/* Removes the option tag from every Require and Proxy-Require of msg, dropping a header
 * that is left empty. Returns how many were removed. */
int ims_sip_option_tag_remove(msg_t *msg, sip_t *sip, const char *tag);

/* RFC 3581 §4: when the top Via has rport, received= must be there even when the source
 * equals sent-by (nta adds it only when they differ, as RFC 3261 §18.2.1 says). Sets
 * received=src_ip on that Via; returns 0, or -1 when the header could not be changed. */
int ims_sip_via_received(msg_t *msg, sip_via_t *v, const char *src_ip);

/* Whether two URIs name the same resource as far as Digest's uri check goes: scheme, user,
 * host (case-insensitive) and port (5060/5061 when absent) equal; parameters ignored. */
bool ims_sip_same_resource(const url_t *a, const url_t *b);

/* RFC 3261 §18.3: a datagram whose Content-Length promises more body than it carries is
 * malformed (Sofia accepts it with the body cut short). */
bool ims_sip_body_short(const sip_t *sip);

/* Answers msg statelessly (no server transaction is kept, so a flood of malformed requests
 * costs no memory past the reply) with status, phrase and a "Warning: 399 warn_host
 * "warning"". extra is more header lines ("Name: value\r\n...") or NULL. Takes msg. Nothing
 * is sent for an ACK or a request without Via. Returns 0 or -1. */
int ims_sip_reply_stateless(struct nta_agent_s *agent, msg_t *msg, int status, const char *phrase,
                            const char *warn_host, const char *warning, const char *extra);

#endif
