/* Small shared helpers: hex and base64 codecs, OpenSSL randomness, constant-time string
 * comparison, host:port parsing and clocks. Decoders never read past the terminating NUL. */
#include "ims/util.h"

#include <errno.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

static const char hex_digits[] = "0123456789abcdef";

void ims_hex_encode(const uint8_t *in, size_t len, char *out)
{
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = hex_digits[in[i] >> 4];
        out[2 * i + 1] = hex_digits[in[i] & 0x0f];
    }
    out[2 * len] = '\0';
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int ims_hex_decode(const char *hex, uint8_t *out, size_t len)
{
    if (!hex)
        return EINVAL;
    /* Validate everything before writing so a bad string leaves out untouched; checking
     * each character before looking at the next stops at the NUL. */
    for (size_t i = 0; i < 2 * len; i++)
        if (hex_value(hex[i]) < 0)
            return EINVAL;
    if (hex[2 * len] != '\0')
        return EINVAL;
    for (size_t i = 0; i < len; i++)
        out[i] = (uint8_t)(hex_value(hex[2 * i]) << 4 | hex_value(hex[2 * i + 1]));
    return 0;
}

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t ims_base64_encode(const uint8_t *in, size_t len, char *out)
{
    size_t o = 0, i = 0;
    for (; i + 3 <= len; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        out[o++] = b64_alphabet[v >> 18];
        out[o++] = b64_alphabet[(v >> 12) & 63];
        out[o++] = b64_alphabet[(v >> 6) & 63];
        out[o++] = b64_alphabet[v & 63];
    }
    if (len - i == 1) {
        uint32_t v = (uint32_t)in[i] << 16;
        out[o++] = b64_alphabet[v >> 18];
        out[o++] = b64_alphabet[(v >> 12) & 63];
        out[o++] = '=';
        out[o++] = '=';
    } else if (len - i == 2) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
        out[o++] = b64_alphabet[v >> 18];
        out[o++] = b64_alphabet[(v >> 12) & 63];
        out[o++] = b64_alphabet[(v >> 6) & 63];
        out[o++] = '=';
    }
    out[o] = '\0';
    return o;
}

static int b64_value(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

int ims_base64_decode(const char *in, uint8_t *out, size_t outcap, size_t *outlen)
{
    if (!in || !outlen)
        return EINVAL;
    *outlen = 0;
    size_t n = 0;
    for (;;) {
        /* One quantum of four characters; every character is checked before the next
         * one is read, so a short or NUL-terminated input is never overrun. */
        char c[4];
        int v[4];
        if (in[0] == '\0')
            break;
        for (int j = 0; j < 4; j++) {
            c[j] = in[j];
            if (c[j] == '\0')
                return EINVAL; /* length not a multiple of 4: padding is required */
            v[j] = b64_value(c[j]);
        }
        in += 4;
        if (v[0] < 0 || v[1] < 0)
            return EINVAL;
        size_t bytes;
        if (c[2] == '=') {
            if (c[3] != '=' || (v[1] & 15) != 0)
                return EINVAL;
            bytes = 1;
        } else if (v[2] < 0) {
            return EINVAL;
        } else if (c[3] == '=') {
            if ((v[2] & 3) != 0)
                return EINVAL;
            bytes = 2;
        } else if (v[3] < 0) {
            return EINVAL;
        } else {
            bytes = 3;
        }
        /* Padding ends the data: nothing may follow it. */
        if (bytes < 3 && in[0] != '\0')
            return EINVAL;
        if (n + bytes > outcap)
            return E2BIG;
        uint32_t w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12;
        if (bytes >= 2)
            w |= (uint32_t)v[2] << 6;
        if (bytes == 3)
            w |= (uint32_t)v[3];
        out[n++] = (uint8_t)(w >> 16);
        if (bytes >= 2)
            out[n++] = (uint8_t)(w >> 8);
        if (bytes == 3)
            out[n++] = (uint8_t)w;
    }
    *outlen = n;
    return 0;
}

void ims_secure_zero(void *p, size_t n)
{
    if (p && n)
        OPENSSL_cleanse(p, n);
}

int ims_random_bytes(uint8_t *out, size_t len)
{
    /* RAND_bytes takes an int; draw in chunks so huge requests cannot overflow it. */
    while (len > 0) {
        int chunk = len > (1u << 20) ? (1 << 20) : (int)len;
        if (RAND_bytes(out, chunk) != 1)
            return EIO;
        out += chunk;
        len -= (size_t)chunk;
    }
    return 0;
}

bool ims_ct_streq(const char *a, const char *b)
{
    if (!a || !b)
        return false;
    size_t la = strlen(a), lb = strlen(b);
    if (la != lb)
        return false;
    return CRYPTO_memcmp(a, b, la) == 0;
}

static bool host_name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_';
}

/* An IPv6 literal: hex digits, colons and dots (embedded IPv4), then optionally a zone
 * index after '%'. Only a shape check; the socket layer does the real parsing. */
static bool valid_v6(const char *p, const char *end)
{
    bool colon = false;
    for (; p < end && *p != '%'; p++) {
        if (*p == ':')
            colon = true;
        else if (hex_value(*p) < 0 && *p != '.')
            return false;
    }
    if (!colon)
        return false;
    if (p < end) {
        if (++p == end)
            return false; /* empty zone */
        for (; p < end; p++)
            if (!host_name_char(*p))
                return false;
    }
    return true;
}

/* Decimal 1..65535 from [p, end); no sign, no spaces. */
static int parse_port(const char *p, const char *end, uint16_t *port)
{
    if (p == end || end - p > 5)
        return EINVAL;
    unsigned v = 0;
    for (; p < end; p++) {
        if (*p < '0' || *p > '9')
            return EINVAL;
        v = v * 10 + (unsigned)(*p - '0');
    }
    if (v == 0 || v > 65535)
        return EINVAL;
    *port = (uint16_t)v;
    return 0;
}

static int copy_host(const char *start, size_t n, char *host, size_t hostlen)
{
    if (n == 0 || n >= hostlen)
        return EINVAL;
    memcpy(host, start, n);
    host[n] = '\0';
    return 0;
}

int ims_parse_hostport(const char *text, char *host, size_t hostlen, uint16_t *port,
                       uint16_t defport)
{
    if (!text || !host || !port || hostlen == 0)
        return EINVAL;
    size_t len = strlen(text);
    const char *end = text + len;
    const char *hs, *he, *ps = NULL;

    if (text[0] == '[') {
        hs = text + 1;
        he = strchr(hs, ']');
        if (!he)
            return EINVAL;
        if (!valid_v6(hs, he))
            return EINVAL; /* brackets are only for IPv6 literals */
        if (he[1] == ':')
            ps = he + 2;
        else if (he[1] != '\0')
            return EINVAL;
    } else {
        hs = text;
        const char *colon = strchr(text, ':');
        if (colon && strchr(colon + 1, ':')) {
            /* Several colons without brackets: a bare IPv6 literal, which cannot carry
             * a port unambiguously. */
            he = end;
            if (!valid_v6(hs, he))
                return EINVAL;
        } else {
            he = colon ? colon : end;
            for (const char *p = hs; p < he; p++)
                if (!host_name_char(*p))
                    return EINVAL;
            if (colon)
                ps = colon + 1;
        }
    }

    uint16_t pv = defport;
    if (ps && parse_port(ps, end, &pv) != 0)
        return EINVAL;
    if (copy_host(hs, (size_t)(he - hs), host, hostlen) != 0)
        return EINVAL;
    *port = pv;
    return 0;
}

size_t ims_utf8_len(const unsigned char *s, size_t avail)
{
    unsigned char c = s[0];
    size_t len;
    uint32_t cp;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
        cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (avail < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    static const uint32_t min_cp[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min_cp[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return len;
}

bool ims_imsi_from_impi(const char *impi, char out[16])
{
    const char *at = impi ? strchr(impi, '@') : NULL;
    size_t n = at ? (size_t)(at - impi) : 0;
    if (n < 5 || n > 15 || strspn(impi, "0123456789") != n)
        return false;
    memcpy(out, impi, n);
    out[n] = '\0';
    return true;
}

uint64_t ims_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

int64_t ims_wall_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec;
}

int ims_url_decode(const char *in, char *out, size_t cap)
{
    size_t o = 0;
    for (; *in; in++) {
        char c = *in;
        if (c == '%') {
            int hi = hex_value(in[1]), lo = hi >= 0 ? hex_value(in[2]) : -1;
            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
                return EINVAL;
            c = (char)(hi << 4 | lo);
            in += 2;
        }
        if (o + 1 >= cap)
            return E2BIG;
        out[o++] = c;
    }
    if (cap == 0)
        return E2BIG;
    out[o] = '\0';
    return 0;
}
