/* Small helpers shared by all daemons: hex and base64 codecs, randomness,
 * constant-time comparison, host:port parsing and monotonic time. */
#ifndef IMS_UTIL_H
#define IMS_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Lower-case hex; out must hold 2*len+1 bytes. */
void ims_hex_encode(const uint8_t *in, size_t len, char *out);
/* Decodes exactly `len` bytes from 2*len hex digits (either case, nothing else);
 * returns 0 or EINVAL. */
int ims_hex_decode(const char *hex, uint8_t *out, size_t len);

/* Standard base64 with padding; out must hold 4*ceil(len/3)+1 bytes. Returns length. */
size_t ims_base64_encode(const uint8_t *in, size_t len, char *out);
/* Decodes standard base64 (padding required); returns 0 or EINVAL/E2BIG (out too small).
 * *outlen gets the number of bytes written. Strict: no whitespace, no URL-safe alphabet,
 * nothing after padding, zero bits under the padding (so decode+encode is the identity). */
int ims_base64_decode(const char *in, uint8_t *out, size_t outcap, size_t *outlen);

/* Cryptographically strong random bytes (OpenSSL RAND_bytes); returns 0 or EIO. */
int ims_random_bytes(uint8_t *out, size_t len);

/* Overwrites n bytes at p with zeros in a way the compiler may not drop as a dead store:
 * the one way secrets (keys, CK/IK, RES, passwords) are wiped. p may be NULL when n is 0. */
void ims_secure_zero(void *p, size_t n);

/* Compares two strings in time independent of where they differ; lengths may leak. */
bool ims_ct_streq(const char *a, const char *b);

/* "host:port", "[v6]:port", "host" (port = defport) -> host (brackets removed) and port.
 * Returns 0 or EINVAL. Ports are 1..65535 in decimal; a bare IPv6 literal ("::1") is a
 * host without a port; names are letters, digits, '-', '.', '_'; a host that does not fit
 * in hostlen is EINVAL. */
int ims_parse_hostport(const char *text, char *host, size_t hostlen, uint16_t *port,
                       uint16_t defport);

/* Percent-decodes a URL path segment exactly once ('+' stays '+', so tel:+1... survives).
 * Returns 0, EINVAL (a '%' not followed by two hex digits, or %00) or E2BIG (out too
 * small for the result and its NUL). */
int ims_url_decode(const char *in, char *out, size_t cap);

/* The IMSI of an IMPI of the form "<5 to 15 digits>@realm" (TS 23.003 §13.3) into out;
 * false when impi is NULL or not of that form. */
bool ims_imsi_from_impi(const char *impi, char out[16]);

/* Length of the valid UTF-8 sequence at s (1 to 4 bytes; ASCII is 1), or 0 when the bytes
 * there are not one (overlong forms, surrogates and code points above U+10FFFF
 * included, as JSON encoders refuse them). */
size_t ims_utf8_len(const unsigned char *s, size_t avail);

/* Milliseconds from CLOCK_MONOTONIC, and seconds from CLOCK_REALTIME. */
uint64_t ims_now_ms(void);
int64_t ims_wall_s(void);

#endif
