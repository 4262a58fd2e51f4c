/* libFuzzer target for the SIP redactor (ims_redact_sip) and the JSON writer: any bytes
 * must give a valid UTF-8 copy within the size limit, redacting twice must change nothing
 * more, and the writer's JSON of the raw bytes must always parse. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ims/jsonw.h"
#include "ims/redact.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    /* The first two bytes choose the cut (0 = none), the rest is the message. */
    size_t max = ((size_t)data[0] << 8 | data[1]) % 4096;
    const char *in = (const char *)data + 2;
    size -= 2;
    size_t n = 0;
    char *out = ims_redact_sip(in, size, max, &n);
    if (!out)
        return 0;
    if (strlen(out) != n || (max && n > max + 64))
        abort();
    json_t *j = json_stringn(out, n); /* NULL when not valid UTF-8 */
    if (!j)
        abort();
    json_decref(j);
    if (!max) {
        size_t n2 = 0;
        char *again = ims_redact_sip(out, n, 0, &n2);
        if (again && (n2 != n || memcmp(again, out, n) != 0))
            abort();
        free(again);
    }
    free(out);
    ims_jw_t w;
    ims_jw_init(&w);
    ims_jw_begin(&w, NULL);
    ims_jw_strn(&w, "raw", in, size);
    ims_jw_end(&w);
    char *doc = ims_jw_take(&w, NULL);
    json_t *parsed = doc ? json_loads(doc, 0, NULL) : NULL;
    if (doc && !parsed)
        abort();
    json_decref(parsed);
    free(doc);
    return 0;
}
