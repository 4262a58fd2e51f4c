/* libFuzzer target for the decoders in util.c and aka.c: base64 (strict, so a successful
 * decode must re-encode to the same text), hex, host:port and the AKA nonce. */
#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ims/aka.h"
#include "ims/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_base64(const char *s, size_t len)
{
    size_t cap = len / 4 * 3;
    uint8_t *out = malloc(cap + 1);
    char *back = malloc(len + 5);
    size_t n = 0;
    if (!out || !back)
        goto done;
    int rc = ims_base64_decode(s, out, cap, &n);
    if (rc != 0 && rc != EINVAL && rc != E2BIG)
        abort();
    if (rc == 0) {
        if (n > cap)
            abort();
        /* Canonical input only: the round trip reproduces it byte for byte. */
        size_t bl = ims_base64_encode(out, n, back);
        if (bl != len || memcmp(back, s, len) != 0)
            abort();
    }
    /* A too-small buffer must never be overrun (ASan) and must say E2BIG or EINVAL. */
    if (cap > 0) {
        rc = ims_base64_decode(s, out, cap - 1, &n);
        if (rc == 0 && n > cap - 1)
            abort();
    }
done:
    free(out);
    free(back);
}

static void fuzz_hex(const char *s, size_t len)
{
    size_t n = len / 2;
    uint8_t *out = malloc(n + 1);
    char *back = malloc(2 * n + 1);
    if (!out || !back)
        goto done;
    if (ims_hex_decode(s, out, n) == 0) {
        ims_hex_encode(out, n, back);
        for (size_t i = 0; i < 2 * n; i++)
            if (back[i] != tolower((unsigned char)s[i]))
                abort();
    }
    /* Asking for more bytes than the text holds must fail without over-reading. */
    if (ims_hex_decode(s, out, n + 1) == 0)
        abort();
done:
    free(out);
    free(back);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    size_t len = strlen(s);

    fuzz_base64(s, len);
    fuzz_hex(s, len);

    char host[64];
    uint16_t port = 0;
    if (ims_parse_hostport(s, host, sizeof(host), &port, 5060) == 0) {
        if (port == 0 || strlen(host) == 0 || strlen(host) >= sizeof(host))
            abort();
    }

    uint8_t rand[16], autn[16];
    (void)ims_aka_nonce_parse(s, rand, autn);
    (void)ims_ct_streq(s, "1038f0a088f300476ffffef5474a2c96");
    free(s);
    return 0;
}
