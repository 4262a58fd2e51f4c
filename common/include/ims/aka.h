/* IMS AKA over HTTP Digest (RFC 3310, RFC 4169, TS 33.203): authentication vectors,
 * the nonce, the AKAv1/AKAv2 digest password, and AUTS resynchronisation. */
#ifndef IMS_AKA_H
#define IMS_AKA_H

#include <stddef.h>
#include <stdint.h>

typedef enum { IMS_AKA_V1 = 1, IMS_AKA_V2 = 2 } ims_aka_version_t;

typedef struct ims_aka_vector {
    uint8_t rand[16];
    uint8_t autn[16]; /* (SQN xor AK) || AMF || MAC-A */
    uint8_t xres[8];
    uint8_t ck[16];
    uint8_t ik[16];
} ims_aka_vector_t;

/* Builds a vector for the given SQN/AMF and RAND (callers draw RAND with
 * ims_random_bytes). Returns 0 or EIO. */
int ims_aka_vector(const uint8_t k[16], const uint8_t opc[16], const uint8_t sqn[6],
                   const uint8_t amf[2], const uint8_t rand[16], ims_aka_vector_t *out);

/* nonce = base64(RAND || AUTN) (RFC 3310 §3.2); out holds at least 45 bytes. */
void ims_aka_nonce(const uint8_t rand[16], const uint8_t autn[16], char out[45]);
/* Splits a nonce back into RAND and AUTN (trailing server data allowed, ignored).
 * Returns 0 or EINVAL. */
int ims_aka_nonce_parse(const char *nonce, uint8_t rand[16], uint8_t autn[16]);

/* The digest password: AKAv1 -> RES bytes (8); AKAv2 -> base64(HMAC-MD5(key=RES||IK||CK,
 * "http-digest-akav2-password")) as ASCII (24 bytes). out holds 32 bytes; *outlen set.
 * Returns 0 or EINVAL/EIO. */
int ims_aka_password(ims_aka_version_t v, const uint8_t res[8], const uint8_t ik[16],
                     const uint8_t ck[16], uint8_t out[32], size_t *outlen);

/* "AKAv1-MD5" / "AKAv2-MD5" (case-insensitive) -> version; returns 0 or EINVAL. */
int ims_aka_version_parse(const char *algorithm, ims_aka_version_t *out);
const char *ims_aka_version_name(ims_aka_version_t v);

/* AUTS = (SQN_MS xor AK*) || MAC-S (14 bytes). Verifies MAC-S = f1*(SQN_MS, RAND,
 * AMF 0000) and recovers SQN_MS. Returns 0, or EBADMSG when MAC-S does not match. */
int ims_aka_auts_verify(const uint8_t k[16], const uint8_t opc[16], const uint8_t rand[16],
                        const uint8_t auts[14], uint8_t sqn_ms[6]);

/* SQN = SEQ (43 bits) || IND (5 bits). The next SQN after `sqn` keeps IND at 0 and
 * increments SEQ: next = ((sqn >> 5) + 1) << 5, wrapping within 48 bits. */
uint64_t ims_sqn_next(uint64_t sqn);
void ims_sqn_to_bytes(uint64_t sqn, uint8_t out[6]);
uint64_t ims_sqn_from_bytes(const uint8_t in[6]);

#endif
