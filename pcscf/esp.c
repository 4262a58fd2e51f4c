/* ESP transport-mode packet processing (RFC 4303) with OpenSSL: TS 33.203 key expansion,
 * HMAC-SHA-1-96 / HMAC-MD5-96, NULL / AES-CBC / DES-EDE3-CBC, the 64-packet replay window. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "esp.h"

struct pcscf_esp_sa {
    pcscf_esp_sa_params_t p;
    pcscf_esp_keys_t keys;
    EVP_MAC_CTX *mac;     /* keyed once; duplicated per packet */
    EVP_CIPHER_CTX *ciph; /* keyed once; the IV is set per packet (NULL for null encryption) */
    size_t block, ivlen;
    uint32_t seq;     /* out: last sent; in: right edge of the window */
    uint64_t window;  /* in: bit i set = seq - i was accepted */
    bool seq_used_up; /* out: 2^32-1 was sent */
    pcscf_esp_counters_t c;
};

static const struct {
    const char *name, *wireshark, *digest;
    size_t keylen;
} auth_algs[PCSCF_ESP_AUTH_COUNT] = {
    [PCSCF_ESP_AUTH_HMAC_SHA1_96] = {"hmac-sha-1-96", "HMAC-SHA-1-96 [RFC2404]", "SHA1", 20},
    [PCSCF_ESP_AUTH_HMAC_MD5_96] = {"hmac-md5-96", "HMAC-MD5-96 [RFC2403]", "MD5", 16},
};

static const struct {
    const char *name, *wireshark, *cipher;
    size_t keylen, block;
} enc_algs[PCSCF_ESP_ENC_COUNT] = {
    /* NULL has no block, but ESP still aligns the trailer to 4 bytes (RFC 4303 §2.4). */
    [PCSCF_ESP_ENC_NULL] = {"null", "NULL", NULL, 0, 4},
    [PCSCF_ESP_ENC_AES_CBC] = {"aes-cbc", "AES-CBC [RFC3602]", "AES-128-CBC", 16, 16},
    [PCSCF_ESP_ENC_DES_EDE3_CBC] = {"des-ede3-cbc", "TripleDES-CBC [RFC2451]", "DES-EDE3-CBC", 24,
                                    8},
};

const char *pcscf_esp_auth_name(pcscf_esp_auth_t a)
{
    return (unsigned)a < PCSCF_ESP_AUTH_COUNT ? auth_algs[a].name : NULL;
}

const char *pcscf_esp_enc_name(pcscf_esp_enc_t e)
{
    return (unsigned)e < PCSCF_ESP_ENC_COUNT ? enc_algs[e].name : NULL;
}

const char *pcscf_esp_auth_wireshark(pcscf_esp_auth_t a)
{
    return (unsigned)a < PCSCF_ESP_AUTH_COUNT ? auth_algs[a].wireshark : NULL;
}

const char *pcscf_esp_enc_wireshark(pcscf_esp_enc_t e)
{
    return (unsigned)e < PCSCF_ESP_ENC_COUNT ? enc_algs[e].wireshark : NULL;
}

static bool name_is(const char *name, size_t len, const char *want)
{
    return strlen(want) == len && strncasecmp(name, want, len) == 0;
}

int pcscf_esp_auth_parse(const char *name, size_t len, pcscf_esp_auth_t *out)
{
    for (int a = 0; a < PCSCF_ESP_AUTH_COUNT; a++)
        if (name_is(name, len, auth_algs[a].name)) {
            *out = (pcscf_esp_auth_t)a;
            return 0;
        }
    return EINVAL;
}

int pcscf_esp_enc_parse(const char *name, size_t len, pcscf_esp_enc_t *out)
{
    for (int e = 0; e < PCSCF_ESP_ENC_COUNT; e++)
        if (name_is(name, len, enc_algs[e].name)) {
            *out = (pcscf_esp_enc_t)e;
            return 0;
        }
    return EINVAL;
}

int pcscf_esp_keys_derive(pcscf_esp_auth_t auth, pcscf_esp_enc_t enc, const uint8_t ck[16],
                          const uint8_t ik[16], pcscf_esp_keys_t *out)
{
    if ((unsigned)auth >= PCSCF_ESP_AUTH_COUNT || (unsigned)enc >= PCSCF_ESP_ENC_COUNT)
        return EINVAL;
    memset(out, 0, sizeof *out);
    /* TS 33.203 Annex I: IK is 128 bits; SHA-1 wants 160, so 32 zero bits follow. */
    memcpy(out->auth, ik, 16);
    out->auth_len = auth_algs[auth].keylen;
    out->enc_len = enc_algs[enc].keylen;
    if (enc == PCSCF_ESP_ENC_AES_CBC) {
        memcpy(out->enc, ck, 16);
    } else if (enc == PCSCF_ESP_ENC_DES_EDE3_CBC) {
        /* CK = CK1 || CK2 (64 bits each); the 3DES key is CK1 || CK2 || CK1. DES ignores
         * the parity bits, so no adjustment is needed. */
        memcpy(out->enc, ck, 16);
        memcpy(out->enc + 16, ck, 8);
    }
    return 0;
}

static EVP_MAC_CTX *mac_new(pcscf_esp_auth_t auth, const uint8_t *key, size_t keylen)
{
    EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    if (!mac)
        return NULL;
    EVP_MAC_CTX *ctx = EVP_MAC_CTX_new(mac);
    EVP_MAC_free(mac);
    if (!ctx)
        return NULL;
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)auth_algs[auth].digest, 0),
        OSSL_PARAM_construct_end()};
    if (!EVP_MAC_init(ctx, key, keylen, params)) {
        EVP_MAC_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

/* ICV over data with a context already keyed: a duplicate, so the keyed one stays clean. */
static int mac_run(EVP_MAC_CTX *keyed, const uint8_t *data, size_t len,
                   uint8_t icv[PCSCF_ESP_ICV_LEN])
{
    uint8_t full[EVP_MAX_MD_SIZE];
    size_t n = 0;
    EVP_MAC_CTX *c = EVP_MAC_CTX_dup(keyed);
    int ok = c && EVP_MAC_update(c, data, len) && EVP_MAC_final(c, full, &n, sizeof full) &&
             n >= PCSCF_ESP_ICV_LEN;
    EVP_MAC_CTX_free(c);
    if (!ok)
        return PCSCF_ESP_E_CRYPTO;
    memcpy(icv, full, PCSCF_ESP_ICV_LEN);
    return 0;
}

int pcscf_esp_icv(pcscf_esp_auth_t auth, const uint8_t *key, size_t keylen, const uint8_t *data,
                  size_t len, uint8_t icv[PCSCF_ESP_ICV_LEN])
{
    if ((unsigned)auth >= PCSCF_ESP_AUTH_COUNT)
        return EINVAL;
    EVP_MAC_CTX *ctx = mac_new(auth, key, keylen);
    if (!ctx)
        return PCSCF_ESP_E_CRYPTO;
    int rc = mac_run(ctx, data, len, icv);
    EVP_MAC_CTX_free(ctx);
    return rc;
}

int pcscf_esp_sa_create(const pcscf_esp_sa_params_t *p, pcscf_esp_sa_t **out)
{
    if (p->spi < 256 || (unsigned)p->auth >= PCSCF_ESP_AUTH_COUNT ||
        (unsigned)p->enc >= PCSCF_ESP_ENC_COUNT)
        return EINVAL;
    pcscf_esp_sa_t *sa = calloc(1, sizeof *sa);
    if (!sa)
        return ENOMEM;
    sa->p = *p;
    pcscf_esp_keys_derive(p->auth, p->enc, p->ck, p->ik, &sa->keys);
    sa->block = enc_algs[p->enc].block;
    sa->mac = mac_new(p->auth, sa->keys.auth, sa->keys.auth_len);
    if (!sa->mac)
        goto fail;
    if (enc_algs[p->enc].cipher) {
        EVP_CIPHER *ciph = EVP_CIPHER_fetch(NULL, enc_algs[p->enc].cipher, NULL);
        sa->ciph = EVP_CIPHER_CTX_new();
        int enc = p->dir == PCSCF_ESP_OUT;
        int ok = ciph && sa->ciph &&
                 EVP_CipherInit_ex2(sa->ciph, ciph, sa->keys.enc, NULL, enc, NULL) &&
                 EVP_CIPHER_CTX_set_padding(sa->ciph, 0);
        EVP_CIPHER_free(ciph);
        if (!ok)
            goto fail;
        sa->ivlen = sa->block; /* CBC: the IV is one block */
    }
    *out = sa;
    return 0;
fail:
    pcscf_esp_sa_free(sa);
    return ENOMEM;
}

void pcscf_esp_sa_free(pcscf_esp_sa_t *sa)
{
    if (!sa)
        return;
    EVP_MAC_CTX_free(sa->mac);
    EVP_CIPHER_CTX_free(sa->ciph);
    OPENSSL_cleanse(sa, sizeof *sa);
    free(sa);
}

const pcscf_esp_sa_params_t *pcscf_esp_sa_params(const pcscf_esp_sa_t *sa)
{
    return &sa->p;
}

const pcscf_esp_counters_t *pcscf_esp_sa_counters(const pcscf_esp_sa_t *sa)
{
    return &sa->c;
}

void pcscf_esp_sa_keys(const pcscf_esp_sa_t *sa, pcscf_esp_keys_t *out)
{
    *out = sa->keys;
}

uint32_t pcscf_esp_sa_seq(const pcscf_esp_sa_t *sa)
{
    return sa->seq;
}

const char *pcscf_esp_strerror(int rc)
{
    switch (rc) {
    case 0:
        return "ok";
    case PCSCF_ESP_E_MALFORMED:
        return "malformed";
    case PCSCF_ESP_E_AUTH:
        return "auth";
    case PCSCF_ESP_E_REPLAY:
        return "replay";
    case PCSCF_ESP_E_SPACE:
        return "space";
    case PCSCF_ESP_E_SEQ:
        return "sequence-exhausted";
    case PCSCF_ESP_E_CRYPTO:
        return "crypto";
    case PCSCF_ESP_E_DIR:
        return "direction";
    default:
        return "unknown";
    }
}

uint32_t pcscf_esp_spi_of(const uint8_t *esp, size_t len)
{
    if (len < 8)
        return 0;
    uint32_t spi;
    memcpy(&spi, esp, 4);
    return ntohl(spi);
}

/* CBC over whole blocks in place-safe fashion (in and out may be the same buffer). */
static int cipher_run(pcscf_esp_sa_t *sa, const uint8_t *iv, const uint8_t *in, size_t len,
                      uint8_t *out)
{
    int n = 0, m = 0;
    if (!EVP_CipherInit_ex(sa->ciph, NULL, NULL, NULL, iv, -1) ||
        !EVP_CipherUpdate(sa->ciph, out, &n, in, (int)len) ||
        !EVP_CipherFinal_ex(sa->ciph, out + n, &m) || (size_t)(n + m) != len)
        return PCSCF_ESP_E_CRYPTO;
    return 0;
}

int pcscf_esp_protect_iv(pcscf_esp_sa_t *sa, uint8_t next_header, const uint8_t *in, size_t len,
                         const uint8_t *iv, uint8_t *out, size_t cap, size_t *outlen)
{
    if (sa->p.dir != PCSCF_ESP_OUT)
        return PCSCF_ESP_E_DIR;
    if (sa->seq_used_up)
        return PCSCF_ESP_E_SEQ;
    /* Payload, padding, pad length and next header fill whole blocks. */
    size_t body = len + 2;
    size_t pad = (sa->block - body % sa->block) % sa->block;
    size_t clen = body + pad;
    size_t total = 8 + sa->ivlen + clen + PCSCF_ESP_ICV_LEN;
    if (len > 65535 || total > cap)
        return PCSCF_ESP_E_SPACE;
    uint32_t spi = htonl(sa->p.spi), seq = htonl(sa->seq + 1);
    memcpy(out, &spi, 4);
    memcpy(out + 4, &seq, 4);
    uint8_t *ivp = out + 8, *ct = ivp + sa->ivlen;
    memmove(ct, in, len);
    for (size_t i = 0; i < pad; i++)
        ct[len + i] = (uint8_t)(i + 1);
    ct[len + pad] = (uint8_t)pad;
    ct[len + pad + 1] = next_header;
    if (sa->ciph) {
        memcpy(ivp, iv, sa->ivlen);
        int rc = cipher_run(sa, ivp, ct, clen, ct);
        if (rc)
            return rc;
    }
    int rc = mac_run(sa->mac, out, 8 + sa->ivlen + clen, ct + clen);
    if (rc)
        return rc;
    sa->seq++;
    /* RFC 4303 §3.3.3: the counter never cycles; the SA has to be replaced before. */
    if (sa->seq == UINT32_MAX)
        sa->seq_used_up = true;
    sa->c.packets++;
    sa->c.bytes += total;
    *outlen = total;
    return 0;
}

int pcscf_esp_protect(pcscf_esp_sa_t *sa, uint8_t next_header, const uint8_t *in, size_t len,
                      uint8_t *out, size_t cap, size_t *outlen)
{
    uint8_t iv[16];
    if (sa->ivlen && RAND_bytes(iv, (int)sa->ivlen) != 1)
        return PCSCF_ESP_E_CRYPTO;
    return pcscf_esp_protect_iv(sa, next_header, in, len, iv, out, cap, outlen);
}

/* RFC 4303 Appendix A2 with a 64-bit bitmap: true when seq may still be accepted. */
static bool replay_ok(const pcscf_esp_sa_t *sa, uint32_t seq)
{
    if (seq == 0)
        return false; /* the first packet carries 1 */
    if (seq > sa->seq)
        return true;
    uint32_t diff = sa->seq - seq;
    return diff < 64 && !(sa->window & (1ULL << diff));
}

static void replay_mark(pcscf_esp_sa_t *sa, uint32_t seq)
{
    if (seq > sa->seq) {
        uint32_t shift = seq - sa->seq;
        sa->window = shift < 64 ? (sa->window << shift) | 1 : 1;
        sa->seq = seq;
    } else {
        sa->window |= 1ULL << (sa->seq - seq);
    }
}

static int unprotect_fail(pcscf_esp_sa_t *sa, int rc)
{
    if (rc == PCSCF_ESP_E_AUTH)
        sa->c.auth_failures++;
    else if (rc == PCSCF_ESP_E_REPLAY)
        sa->c.replays++;
    else if (rc == PCSCF_ESP_E_MALFORMED)
        sa->c.malformed++;
    return rc;
}

int pcscf_esp_unprotect(pcscf_esp_sa_t *sa, const uint8_t *in, size_t len, uint8_t *out, size_t cap,
                        size_t *outlen, uint8_t *next_header)
{
    if (sa->p.dir != PCSCF_ESP_IN)
        return PCSCF_ESP_E_DIR;
    size_t hdr = 8 + sa->ivlen;
    if (len < hdr + sa->block + PCSCF_ESP_ICV_LEN)
        return unprotect_fail(sa, PCSCF_ESP_E_MALFORMED);
    size_t clen = len - hdr - PCSCF_ESP_ICV_LEN;
    if (clen % sa->block)
        return unprotect_fail(sa, PCSCF_ESP_E_MALFORMED);
    if (cap < clen)
        return PCSCF_ESP_E_SPACE;
    uint32_t seq;
    memcpy(&seq, in + 4, 4);
    seq = ntohl(seq);
    /* The window is checked before the ICV (cheap rejection of replays) and moved only
     * after it verified (a forged packet must not shift it). */
    if (!replay_ok(sa, seq))
        return unprotect_fail(sa, PCSCF_ESP_E_REPLAY);
    uint8_t icv[PCSCF_ESP_ICV_LEN];
    int rc = mac_run(sa->mac, in, len - PCSCF_ESP_ICV_LEN, icv);
    if (rc)
        return rc;
    if (CRYPTO_memcmp(icv, in + len - PCSCF_ESP_ICV_LEN, PCSCF_ESP_ICV_LEN) != 0)
        return unprotect_fail(sa, PCSCF_ESP_E_AUTH);
    if (sa->ciph) {
        rc = cipher_run(sa, in + 8, in + hdr, clen, out);
        if (rc)
            return rc;
    } else {
        memmove(out, in + hdr, clen);
    }
    size_t pad = out[clen - 2];
    if (pad + 2 > clen)
        return unprotect_fail(sa, PCSCF_ESP_E_MALFORMED);
    replay_mark(sa, seq);
    *next_header = out[clen - 1];
    *outlen = clen - 2 - pad;
    sa->c.packets++;
    sa->c.bytes += len;
    return 0;
}
