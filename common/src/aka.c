/* IMS AKA over HTTP Digest (RFC 3310, RFC 4169, TS 33.102/33.203): vectors and AUTN,
 * the nonce encoding, the AKAv1/AKAv2 digest password, AUTS checks and SQN arithmetic. */
#include "ims/aka.h"

#include <errno.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "ims/digest.h"
#include "ims/milenage.h"
#include "ims/util.h"

int ims_aka_vector(const uint8_t k[16], const uint8_t opc[16], const uint8_t sqn[6],
                   const uint8_t amf[2], const uint8_t rand[16], ims_aka_vector_t *out)
{
    uint8_t mac_a[8], ak[6];
    ims_aka_vector_t v;
    memcpy(v.rand, rand, 16);
    if (ims_milenage_all(k, opc, rand, sqn, amf, mac_a, NULL, v.xres, v.ck, v.ik, ak, NULL) != 0)
        return EIO;
    /* AUTN = (SQN xor AK) || AMF || MAC-A (TS 33.102 §6.3.2); AK conceals the SQN. */
    for (int i = 0; i < 6; i++)
        v.autn[i] = sqn[i] ^ ak[i];
    memcpy(v.autn + 6, amf, 2);
    memcpy(v.autn + 8, mac_a, 8);
    *out = v;
    OPENSSL_cleanse(&v, sizeof(v));
    return 0;
}

void ims_aka_nonce(const uint8_t rand[16], const uint8_t autn[16], char out[45])
{
    uint8_t raw[32];
    memcpy(raw, rand, 16);
    memcpy(raw + 16, autn, 16);
    ims_base64_encode(raw, sizeof(raw), out);
}

int ims_aka_nonce_parse(const char *nonce, uint8_t rand[16], uint8_t autn[16])
{
    /* A nonce can be no longer than a Digest header, so this bounds the decode. */
    uint8_t raw[IMS_DIGEST_MAX / 4 * 3 + 3];
    size_t n = 0;
    if (!nonce || strnlen(nonce, IMS_DIGEST_MAX + 1) > IMS_DIGEST_MAX)
        return EINVAL;
    if (ims_base64_decode(nonce, raw, sizeof(raw), &n) != 0 || n < 32)
        return EINVAL;
    memcpy(rand, raw, 16);
    memcpy(autn, raw + 16, 16);
    return 0;
}

static const char akav2_label[] = "http-digest-akav2-password";

int ims_aka_password(ims_aka_version_t v, const uint8_t res[8], const uint8_t ik[16],
                     const uint8_t ck[16], uint8_t out[32], size_t *outlen)
{
    if (!res || !out || !outlen)
        return EINVAL;
    if (v == IMS_AKA_V1) {
        memcpy(out, res, 8);
        *outlen = 8;
        return 0;
    }
    if (v != IMS_AKA_V2 || !ik || !ck)
        return EINVAL;
    /* RFC 4169 §3: password = base64(PRF(RES || IK || CK, "http-digest-akav2-password"))
     * with PRF = HMAC-MD5 for AKAv2-MD5. */
    uint8_t key[40], mac[EVP_MAX_MD_SIZE];
    unsigned maclen = 0;
    memcpy(key, res, 8);
    memcpy(key + 8, ik, 16);
    memcpy(key + 24, ck, 16);
    const unsigned char *ok = HMAC(EVP_md5(), key, sizeof(key), (const uint8_t *)akav2_label,
                                   sizeof(akav2_label) - 1, mac, &maclen);
    OPENSSL_cleanse(key, sizeof(key));
    if (!ok || maclen != 16)
        return EIO;
    char b64[25];
    *outlen = ims_base64_encode(mac, 16, b64);
    memcpy(out, b64, *outlen);
    OPENSSL_cleanse(mac, sizeof(mac));
    OPENSSL_cleanse(b64, sizeof(b64));
    return 0;
}

int ims_aka_version_parse(const char *algorithm, ims_aka_version_t *out)
{
    if (!algorithm || !out)
        return EINVAL;
    if (strcasecmp(algorithm, "AKAv1-MD5") == 0)
        *out = IMS_AKA_V1;
    else if (strcasecmp(algorithm, "AKAv2-MD5") == 0)
        *out = IMS_AKA_V2;
    else
        return EINVAL;
    return 0;
}

const char *ims_aka_version_name(ims_aka_version_t v)
{
    switch (v) {
    case IMS_AKA_V1:
        return "AKAv1-MD5";
    case IMS_AKA_V2:
        return "AKAv2-MD5";
    }
    /* Never NULL, so a caller formatting a log line with a bad value cannot crash. */
    return "unknown";
}

int ims_aka_auts_verify(const uint8_t k[16], const uint8_t opc[16], const uint8_t rand[16],
                        const uint8_t auts[14], uint8_t sqn_ms[6])
{
    static const uint8_t amf_resync[2] = {0, 0}; /* TS 33.102 §6.3.3: AMF is zero here */
    uint8_t ak_star[6], sqn[6], mac_s[8];
    if (ims_milenage_f2345(k, opc, rand, NULL, NULL, NULL, NULL, ak_star) != 0)
        return EIO;
    for (int i = 0; i < 6; i++)
        sqn[i] = auts[i] ^ ak_star[i];
    if (ims_milenage_f1(k, opc, rand, sqn, amf_resync, NULL, mac_s) != 0)
        return EIO;
    int rc = CRYPTO_memcmp(mac_s, auts + 6, 8) == 0 ? 0 : EBADMSG;
    if (rc == 0)
        memcpy(sqn_ms, sqn, 6);
    OPENSSL_cleanse(ak_star, sizeof(ak_star));
    return rc;
}

#define SQN_MASK ((UINT64_C(1) << 48) - 1)

uint64_t ims_sqn_next(uint64_t sqn)
{
    return (((sqn & SQN_MASK) >> 5) + 1) << 5 & SQN_MASK;
}

void ims_sqn_to_bytes(uint64_t sqn, uint8_t out[6])
{
    for (int i = 5; i >= 0; i--) {
        out[i] = (uint8_t)sqn;
        sqn >>= 8;
    }
}

uint64_t ims_sqn_from_bytes(const uint8_t in[6])
{
    uint64_t v = 0;
    for (int i = 0; i < 6; i++)
        v = v << 8 | in[i];
    return v;
}
