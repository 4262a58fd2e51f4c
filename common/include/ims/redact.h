/* Redaction of SIP messages before they are kept for people to read (timeline, events,
 * pcap): key material and passwords are replaced, everything else is left as it was. */
#ifndef IMS_REDACT_H
#define IMS_REDACT_H

#include <stddef.h>

/* Text put where a secret was. */
#define IMS_REDACTED "redacted"

/* Returns a new NUL-terminated copy of the SIP message in[0..len) (malloc'd, the caller
 * frees it; NULL only when out of memory) in which:
 * - the values of the parameters ck, ik, res, xres, password, passwd, secret, k, op, opc
 *   and key (any header, the request line, the body; name matched case-insensitively,
 *   quoted or token values, line folding and spaces around '=' allowed) become
 *   IMS_REDACTED (quoted when the value was);
 * - Authorization / Proxy-Authorization credentials of any scheme but Digest (Basic,
 *   Bearer, ...) are replaced whole, after the scheme name;
 * - in the body, SDP key lines (k=...), `inline:` SRTP keys (a=crypto) and MIKEY data
 *   (a=key-mgmt:mikey ...) are replaced;
 * - bytes that are not printable text (control characters other than CR, LF and TAB,
 *   invalid UTF-8) become '?', so the copy is always a valid JSON string.
 * Digest response, nonce, cnonce, auts and the Security-* headers are not secrets and are
 * kept (they are what a tester needs to read). When the copy is longer than max bytes it
 * is cut there (on a character boundary) and ends with a line saying how much was cut;
 * max 0 means no limit. *outlen (may be NULL) gets the length. */
char *ims_redact_sip(const char *in, size_t len, size_t max, size_t *outlen);

#endif
