/* SIP plumbing both CSCFs need on top of Sofia: URI port check, a packet's source,
 * naming the header Sofia could not parse, finding nta's UDP sockets, Sofia's logs. */
#ifndef IMS_SIP_H
#define IMS_SIP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sofia-sip/sip.h>

/* True when url has no port or a port in 1..65535 (digits only); Sofia keeps it as text. */
bool ims_sip_url_port_ok(const url_t *url);

/* The address a request came from: ip (no brackets; "?" when unknown), port (0 when
 * unknown) and whether it came over TCP. */
void ims_sip_source(msg_t *msg, char *ip, size_t iplen, uint16_t *port, bool *tcp);

/* The name of an entry of sip->sip_error. Sofia puts there both unparsable headers
 * (sip_error_class, named by er_name) and the second copy of a header that may appear
 * once, with its own class: reading that one as a sip_error_t would crash. NULL when the
 * entry has no name. */
const char *ims_sip_error_name(const sip_header_t *h);
/* The name of the first header Sofia could not take ("?" when unnamed), NULL when none. */
const char *ims_sip_bad_header(const sip_t *sip);
/* True when a header called name (case-insensitive) failed to parse or came twice. */
bool ims_sip_header_error(const sip_t *sip, const char *name);
/* True when a header that may appear once (To, CSeq, Max-Forwards...) came twice. */
bool ims_sip_duplicate_header(const sip_t *sip);

/* nta does not expose its sockets: the UDP sockets of this process bound to port, up to
 * cap of them in fds (their families in fam when not NULL). Returns how many were found
 * (may exceed cap). Costs one scan of the descriptor table: call it once at start. */
size_t ims_sip_udp_sockets(uint16_t port, int *fds, int *fam, size_t cap);
/* The same, one per family: fd_out[0] IPv4, fd_out[1] IPv6; -1 when there is none or
 * more than one (then nobody can tell which one nta uses). */
void ims_sip_udp_sockets_by_family(uint16_t port, int fd_out[2]);

/* Sends Sofia's own diagnostics (default, nta and tport loggers) to our log at debug, one
 * line each, instead of raw multi-line fragments on stderr. Call after su_init(). */
void ims_sip_log_redirect(void);

#endif
