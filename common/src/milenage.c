/* 3GPP Milenage (TS 35.206) on AES-128 from OpenSSL: OPc, f1/f1*, f2..f5, f5*. One cipher
 * context is keyed once per call and reused for every block that call needs. */
#include "ims/milenage.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

/* Fetch AES-128-ECB once: with OpenSSL 3 the implicit fetch inside EVP_EncryptInit_ex
 * otherwise costs more than the few blocks we encrypt. */
static EVP_CIPHER *aes_fetched;
static pthread_once_t aes_once = PTHREAD_ONCE_INIT;

static void aes_init(void)
{
    aes_fetched = EVP_CIPHER_fetch(NULL, "AES-128-ECB", NULL);
}

static const EVP_CIPHER *aes128_ecb(void)
{
    pthread_once(&aes_once, aes_init);
    return aes_fetched ? aes_fetched : EVP_aes_128_ecb();
}

struct aes {
    EVP_CIPHER_CTX *ctx;
};

static int aes_open(struct aes *a, const uint8_t k[16])
{
    a->ctx = EVP_CIPHER_CTX_new();
    if (!a->ctx)
        return EIO;
    if (EVP_EncryptInit_ex(a->ctx, aes128_ecb(), NULL, k, NULL) != 1 ||
        EVP_CIPHER_CTX_set_padding(a->ctx, 0) != 1) {
        EVP_CIPHER_CTX_free(a->ctx);
        a->ctx = NULL;
        return EIO;
    }
    return 0;
}

static void aes_close(struct aes *a)
{
    /* EVP_CIPHER_CTX_free cleanses the key schedule. */
    EVP_CIPHER_CTX_free(a->ctx);
    a->ctx = NULL;
}

/* ECB with padding off keeps no state between blocks, so the context can encrypt any
 * number of independent blocks after a single key setup. */
static int aes_block(struct aes *a, const uint8_t in[16], uint8_t out[16])
{
    int outl = 0;
    if (EVP_EncryptUpdate(a->ctx, out, &outl, in, 16) != 1 || outl != 16)
        return EIO;
    return 0;
}

static void xor16(uint8_t *dst, const uint8_t *a, const uint8_t *b)
{
    for (int i = 0; i < 16; i++)
        dst[i] = a[i] ^ b[i];
}

/* Cyclic left rotation of a 128-bit value by r bits; Milenage only uses multiples of 8. */
static void rot128(uint8_t out[16], const uint8_t in[16], unsigned r_bits)
{
    unsigned s = (r_bits / 8) % 16;
    for (unsigned i = 0; i < 16; i++)
        out[i] = in[(i + s) % 16];
}

int ims_milenage_opc(const uint8_t k[16], const uint8_t op[16], uint8_t opc[16])
{
    struct aes a;
    uint8_t t[16];
    if (aes_open(&a, k) != 0)
        return EIO;
    int rc = aes_block(&a, op, t);
    aes_close(&a);
    if (rc == 0)
        xor16(opc, t, op);
    OPENSSL_cleanse(t, sizeof(t));
    return rc;
}

/* TEMP = E_K(RAND xor OPc), shared by every function. */
static int milenage_temp(struct aes *a, const uint8_t opc[16], const uint8_t rand[16],
                         uint8_t temp[16])
{
    uint8_t in[16];
    xor16(in, rand, opc);
    return aes_block(a, in, temp);
}

static int milenage_f1_ctx(struct aes *a, const uint8_t opc[16], const uint8_t temp[16],
                           const uint8_t sqn[6], const uint8_t amf[2], uint8_t mac_a[8],
                           uint8_t mac_s[8])
{
    uint8_t in1[16], x[16], rot[16], out[16];
    memcpy(in1, sqn, 6);
    memcpy(in1 + 6, amf, 2);
    memcpy(in1 + 8, sqn, 6);
    memcpy(in1 + 14, amf, 2);
    /* OUT1 = E_K(TEMP xor rot(IN1 xor OPc, r1 = 64) xor c1 = 0) xor OPc */
    xor16(x, in1, opc);
    rot128(rot, x, 64);
    xor16(x, rot, temp);
    if (aes_block(a, x, out) != 0)
        return EIO;
    xor16(out, out, opc);
    if (mac_a)
        memcpy(mac_a, out, 8);
    if (mac_s)
        memcpy(mac_s, out + 8, 8);
    return 0;
}

/* OUTn = E_K(rot(TEMP xor OPc, r) xor c) xor OPc, where c is the block 0..0 || cbyte. */
static int milenage_out(struct aes *a, const uint8_t opc[16], const uint8_t temp[16],
                        unsigned r_bits, uint8_t cbyte, uint8_t out[16])
{
    uint8_t x[16], rot[16];
    xor16(x, temp, opc);
    rot128(rot, x, r_bits);
    rot[15] ^= cbyte;
    if (aes_block(a, rot, out) != 0)
        return EIO;
    xor16(out, out, opc);
    return 0;
}

static int milenage_f2345_ctx(struct aes *a, const uint8_t opc[16], const uint8_t temp[16],
                              uint8_t res[8], uint8_t ck[16], uint8_t ik[16], uint8_t ak[6],
                              uint8_t ak_star[6])
{
    uint8_t out[16];
    if (res || ak) {
        if (milenage_out(a, opc, temp, 0, 1, out) != 0)
            return EIO;
        if (ak)
            memcpy(ak, out, 6);
        if (res)
            memcpy(res, out + 8, 8);
    }
    if (ck && milenage_out(a, opc, temp, 32, 2, ck) != 0)
        return EIO;
    if (ik && milenage_out(a, opc, temp, 64, 4, ik) != 0)
        return EIO;
    if (ak_star) {
        if (milenage_out(a, opc, temp, 96, 8, out) != 0)
            return EIO;
        memcpy(ak_star, out, 6);
    }
    OPENSSL_cleanse(out, sizeof(out));
    return 0;
}

int ims_milenage_f1(const uint8_t k[16], const uint8_t opc[16], const uint8_t rand[16],
                    const uint8_t sqn[6], const uint8_t amf[2], uint8_t mac_a[8], uint8_t mac_s[8])
{
    return ims_milenage_all(k, opc, rand, sqn, amf, mac_a, mac_s, NULL, NULL, NULL, NULL, NULL);
}

int ims_milenage_f2345(const uint8_t k[16], const uint8_t opc[16], const uint8_t rand[16],
                       uint8_t res[8], uint8_t ck[16], uint8_t ik[16], uint8_t ak[6],
                       uint8_t ak_star[6])
{
    return ims_milenage_all(k, opc, rand, NULL, NULL, NULL, NULL, res, ck, ik, ak, ak_star);
}

int ims_milenage_all(const uint8_t k[16], const uint8_t opc[16], const uint8_t rand[16],
                     const uint8_t sqn[6], const uint8_t amf[2], uint8_t mac_a[8], uint8_t mac_s[8],
                     uint8_t res[8], uint8_t ck[16], uint8_t ik[16], uint8_t ak[6],
                     uint8_t ak_star[6])
{
    struct aes a;
    uint8_t temp[16];
    bool want_f1 = mac_a || mac_s;
    if (want_f1 && (!sqn || !amf))
        return EIO;
    if (aes_open(&a, k) != 0)
        return EIO;
    int rc = milenage_temp(&a, opc, rand, temp);
    if (rc == 0 && want_f1)
        rc = milenage_f1_ctx(&a, opc, temp, sqn, amf, mac_a, mac_s);
    if (rc == 0)
        rc = milenage_f2345_ctx(&a, opc, temp, res, ck, ik, ak, ak_star);
    aes_close(&a);
    OPENSSL_cleanse(temp, sizeof(temp));
    return rc;
}
