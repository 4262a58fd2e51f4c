/* libFuzzer target for the Digest parameter parser (ims_digest_parse) and nc parsing:
 * any input must give 0/EINVAL/E2BIG, never a read outside the input or a bad pointer. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ims/digest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Every returned field must be a NUL-terminated string inside buf. */
static void check_field(const ims_digest_params_t *p, const char *f)
{
    if (!f)
        return;
    const char *lo = p->buf, *hi = p->buf + sizeof(p->buf);
    if (f < lo || f >= hi || memchr(f, '\0', (size_t)(hi - f)) == NULL)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* An exactly sized copy so ASan flags any read past the terminator. */
    char *s = malloc(size + 1);
    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';

    ims_digest_params_t p;
    int rc = ims_digest_parse(s, &p);
    if (rc != 0 && rc != EINVAL && rc != E2BIG)
        abort();
    if (rc == 0) {
        const char *fields[] = {p.username,  p.realm,  p.nonce,  p.uri, p.response,
                                p.algorithm, p.cnonce, p.opaque, p.qop, p.nc,
                                p.auts,      p.stale,  p.domain};
        for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
            check_field(&p, fields[i]);
        /* Parsing is deterministic. */
        ims_digest_params_t q;
        if (ims_digest_parse(s, &q) != 0)
            abort();
        if (p.nc) {
            uint32_t nc;
            (void)ims_digest_nc_parse(p.nc, &nc);
        }
    }
    uint32_t nc;
    (void)ims_digest_nc_parse(s, &nc);
    free(s);
    return 0;
}
