/* HTTP Digest with MD5 (RFC 2617 / RFC 7616): HA1, HA2, the response, and a bounded,
 * allocation-free parser for the parameters of a Digest credentials or challenge value. */
#include "ims/digest.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

#include "ims/util.h"

/* Fetching the algorithm once avoids an implicit provider lookup on every digest, which
 * is most of the cost of hashing a few dozen bytes with OpenSSL 3. */
static EVP_MD *md5_fetched;
static pthread_once_t md5_once = PTHREAD_ONCE_INIT;

static void md5_init(void)
{
    md5_fetched = EVP_MD_fetch(NULL, "MD5", NULL);
}

static const EVP_MD *md5(void)
{
    pthread_once(&md5_once, md5_init);
    return md5_fetched ? md5_fetched : EVP_md5();
}

struct piece {
    const void *data;
    size_t len;
};

/* MD5 over the pieces joined by ':' written as lower-case hex. On an OpenSSL failure out
 * becomes "", which never equals a response, so a broken library fails closed. */
static void md5_hex_joined(const struct piece *pieces, size_t n, char out[33])
{
    uint8_t md[EVP_MAX_MD_SIZE];
    unsigned mdlen = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    bool ok = ctx && EVP_DigestInit_ex(ctx, md5(), NULL) == 1;
    for (size_t i = 0; ok && i < n; i++) {
        if (i > 0)
            ok = EVP_DigestUpdate(ctx, ":", 1) == 1;
        if (ok && pieces[i].len > 0)
            ok = EVP_DigestUpdate(ctx, pieces[i].data, pieces[i].len) == 1;
    }
    ok = ok && EVP_DigestFinal_ex(ctx, md, &mdlen) == 1 && mdlen == 16;
    EVP_MD_CTX_free(ctx);
    if (!ok) {
        out[0] = '\0';
        return;
    }
    ims_hex_encode(md, 16, out);
}

static struct piece str_piece(const char *s)
{
    struct piece p = {s ? s : "", s ? strlen(s) : 0};
    return p;
}

void ims_digest_ha1(const char *username, const char *realm, const char *password, char out[33])
{
    ims_digest_ha1_bin(username, realm, (const uint8_t *)(password ? password : ""),
                       password ? strlen(password) : 0, out);
}

void ims_digest_ha1_bin(const char *username, const char *realm, const uint8_t *password,
                        size_t password_len, char out[33])
{
    struct piece p[3] = {str_piece(username), str_piece(realm), {password, password_len}};
    md5_hex_joined(p, 3, out);
}

void ims_digest_ha2(const char *method, const char *uri, char out[33])
{
    struct piece p[2] = {str_piece(method), str_piece(uri)};
    md5_hex_joined(p, 2, out);
}

void ims_digest_response(const char ha1[33], const char *nonce, const char *nc, const char *cnonce,
                         const char *qop, const char ha2[33], char out[33])
{
    if (qop && qop[0]) {
        struct piece p[6] = {str_piece(ha1),    str_piece(nonce), str_piece(nc),
                             str_piece(cnonce), str_piece(qop),   str_piece(ha2)};
        md5_hex_joined(p, 6, out);
    } else {
        struct piece p[3] = {str_piece(ha1), str_piece(nonce), str_piece(ha2)};
        md5_hex_joined(p, 3, out);
    }
}

/* ---- parser ---- */

struct known_param {
    const char *name;
    size_t offset;
};

#define KP(field)                                                                                  \
    {                                                                                              \
#field, offsetof(ims_digest_params_t, field)                                               \
    }
static const struct known_param known_params[] = {
    KP(username), KP(realm), KP(nonce), KP(uri),  KP(response), KP(algorithm), KP(cnonce),
    KP(opaque),   KP(qop),   KP(nc),    KP(auts), KP(stale),    KP(domain),
};
#undef KP

static bool is_ws(char c)
{
    /* CR and LF only appear if a caller passes an unfolded header; treat them as LWS. */
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* RFC 7230 tchar: the characters allowed in a parameter name. */
static bool is_tchar(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return true;
    return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* Unquoted values are more lenient than tchar because real clients send things like
 * nc=00000001 or unquoted base64 nonces: any visible ASCII except the delimiters that
 * would make the header ambiguous. */
static bool is_token_value_char(unsigned char c)
{
    return c > 0x20 && c < 0x7f && c != '"' && c != ',' && c != '\\';
}

static const char *skip_ws(const char *p, const char *end)
{
    while (p < end && is_ws(*p))
        p++;
    return p;
}

int ims_digest_parse(const char *value, ims_digest_params_t *out)
{
    if (!value || !out)
        return EINVAL;
    for (size_t i = 0; i < sizeof(known_params) / sizeof(known_params[0]); i++)
        *(const char **)((char *)out + known_params[i].offset) = NULL;
    out->buf[0] = '\0';

    /* strnlen bounds the scan itself, so a huge or unterminated-looking input costs at
     * most IMS_DIGEST_MAX + 1 reads. */
    size_t len = strnlen(value, IMS_DIGEST_MAX + 1);
    if (len > IMS_DIGEST_MAX)
        return E2BIG;
    const char *p = skip_ws(value, value + len), *end = value + len;

    static const char scheme[] = "Digest";
    size_t slen = sizeof(scheme) - 1;
    if ((size_t)(end - p) < slen || strncasecmp(p, scheme, slen) != 0)
        return EINVAL;
    p += slen;
    if (p < end && !is_ws(*p))
        return EINVAL; /* e.g. "Digestive" or "Digest,realm=..." */

    size_t used = 0;
    bool first = true;
    for (;;) {
        p = skip_ws(p, end);
        if (!first) {
            if (p == end)
                break;
            if (*p != ',')
                return EINVAL; /* junk after a value, e.g. realm='asterisk"... */
            p++;
        }
        first = false;
        /* Empty list elements (",,") are legal in HTTP lists. */
        while (p < end && (*p == ',' || is_ws(*p)))
            p++;
        if (p == end)
            break;

        const char *name = p;
        while (p < end && is_tchar((unsigned char)*p))
            p++;
        size_t nlen = (size_t)(p - name);
        if (nlen == 0)
            return EINVAL;
        p = skip_ws(p, end);
        if (p == end || *p != '=')
            return EINVAL;
        p = skip_ws(p + 1, end);
        if (p == end)
            return EINVAL;

        const struct known_param *kp = NULL;
        for (size_t i = 0; i < sizeof(known_params) / sizeof(known_params[0]); i++) {
            if (strlen(known_params[i].name) == nlen &&
                strncasecmp(known_params[i].name, name, nlen) == 0) {
                kp = &known_params[i];
                break;
            }
        }
        const char **slot = kp ? (const char **)((char *)out + kp->offset) : NULL;
        if (slot && *slot)
            return EINVAL; /* duplicated parameter: ambiguous, so refuse it */

        /* Decoded value goes to buf[used..]; decoding never grows a value, and every
         * stored value consumed at least its length + 2 input bytes, so the buffer
         * cannot overflow; the checks below keep that true even if the rules change. */
        char *dst = out->buf + used;
        size_t cap = sizeof(out->buf) - used;
        size_t vlen = 0;
        if (*p == '"') {
            p++;
            for (;;) {
                if (p == end)
                    return EINVAL; /* unterminated quoted string */
                unsigned char c = (unsigned char)*p;
                if (c == '"') {
                    p++;
                    break;
                }
                if (c == '\\') {
                    if (p + 1 == end)
                        return EINVAL;
                    p++;
                    c = (unsigned char)*p;
                }
                if ((c < 0x20 && c != '\t') || c == 0x7f)
                    return EINVAL; /* control characters have no place in a header */
                if (slot) {
                    if (vlen + 1 >= cap)
                        return E2BIG;
                    dst[vlen] = (char)c;
                }
                vlen++;
                p++;
            }
        } else {
            const char *v = p;
            while (p < end && is_token_value_char((unsigned char)*p))
                p++;
            vlen = (size_t)(p - v);
            if (vlen == 0)
                return EINVAL; /* "name=" with no value, or a stray delimiter */
            if (slot) {
                if (vlen + 1 >= cap)
                    return E2BIG;
                memcpy(dst, v, vlen);
            }
        }
        if (slot) {
            dst[vlen] = '\0';
            *slot = dst;
            used += vlen + 1;
        }
    }
    return 0;
}

int ims_digest_nc_parse(const char *nc, uint32_t *out)
{
    if (!nc || !out)
        return EINVAL;
    uint32_t v = 0;
    for (int i = 0; i < 8; i++) {
        char c = nc[i];
        int d;
        if (c >= '0' && c <= '9')
            d = c - '0';
        else if (c >= 'a' && c <= 'f')
            d = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            d = c - 'A' + 10;
        else
            return EINVAL;
        v = v << 4 | (uint32_t)d;
    }
    if (nc[8] != '\0')
        return EINVAL;
    *out = v;
    return 0;
}
