/* HTTP Digest (RFC 2617 / RFC 7616) with MD5: HA1, HA2, response, and a parser for
 * Authorization / WWW-Authenticate parameters that survives hostile input. */
#ifndef IMS_DIGEST_H
#define IMS_DIGEST_H

#include <stddef.h>
#include <stdint.h>

#define IMS_MD5_HEX_LEN 32

/* HA1 = MD5(username ":" realm ":" password); out holds 33 bytes (lower-case hex). */
void ims_digest_ha1(const char *username, const char *realm, const char *password, char out[33]);
/* Same with a binary password (AKAv1: the RES bytes; AKAv2: the derived password). */
void ims_digest_ha1_bin(const char *username, const char *realm, const uint8_t *password,
                        size_t password_len, char out[33]);
/* HA2 = MD5(method ":" uri) (qop=auth or no qop). */
void ims_digest_ha2(const char *method, const char *uri, char out[33]);
/* qop "auth": MD5(HA1:nonce:nc:cnonce:qop:HA2); qop NULL or "": MD5(HA1:nonce:HA2). */
void ims_digest_response(const char ha1[33], const char *nonce, const char *nc, const char *cnonce,
                         const char *qop, const char ha2[33], char out[33]);

/* Longest header value the parser accepts. */
#define IMS_DIGEST_MAX 4096

/* Parsed parameters of one "Digest ..." credentials or challenge value. Pointers refer
 * into buf (no allocation); a parameter that was absent is NULL. Quoted values are
 * unquoted and unescaped. Parameter names are matched case-insensitively. */
typedef struct ims_digest_params {
    const char *username, *realm, *nonce, *uri, *response, *algorithm, *cnonce, *opaque, *qop, *nc,
        *auts, *stale, *domain;
    char buf[IMS_DIGEST_MAX + 64];
} ims_digest_params_t;

/* Parses `value` (e.g. `Digest username="x", realm="r", nc=00000001`). The scheme must be
 * "Digest" (any case). Returns 0, EINVAL (not Digest, bad syntax such as an unterminated
 * quote, a duplicated parameter, an empty name) or E2BIG (longer than IMS_DIGEST_MAX).
 * Unknown parameters are skipped. Presence of required fields is the caller's check.
 * Details: names are RFC 7230 tokens; an unquoted value is any run of visible ASCII except
 * `"`, `,` and `\` (so nc=00000001, qop=auth, base64 nonces and `'asterisk'` are fine), and
 * must not be empty (`realm=,` -> EINVAL; `realm=""` gives ""). Anything but a comma after
 * a value is EINVAL, so `realm='asterisk",...` is refused. Empty list elements (",,") and
 * whitespace, including CR/LF, around `=` and `,` are allowed. Control characters -> EINVAL.
 * A misspelt name such as `reponse=` is an unknown parameter: response stays NULL. */
int ims_digest_parse(const char *value, ims_digest_params_t *out);

/* nc is exactly 8 hex digits; returns 0 and the value, or EINVAL. */
int ims_digest_nc_parse(const char *nc, uint32_t *out);

#endif
