/* The JSON writer: appends to one growing buffer; escaping per RFC 8259, with invalid
 * UTF-8 replaced so the output always parses. */
#include "ims/jsonw.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ims/util.h"

static void put(ims_jw_t *w, const char *s, size_t n)
{
    if (w->oom)
        return;
    if (w->n + n + 1 > w->cap) {
        size_t cap = w->cap ? w->cap : 512;
        while (cap < w->n + n + 1)
            cap *= 2;
        char *p = realloc(w->p, cap);
        if (!p) {
            w->oom = true;
            return;
        }
        w->p = p;
        w->cap = cap;
    }
    memcpy(w->p + w->n, s, n);
    w->n += n;
    w->p[w->n] = '\0';
}

void ims_jw_init(ims_jw_t *w)
{
    memset(w, 0, sizeof(*w));
    w->depth = -1;
}

static void escaped(ims_jw_t *w, const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    put(w, "\"", 1);
    size_t i = 0;
    while (i < n) {
        size_t j = i;
        while (j < n && u[j] >= 0x20 && u[j] < 0x80 && u[j] != '"' && u[j] != '\\')
            j++;
        put(w, s + i, j - i);
        if (j >= n)
            break;
        unsigned char c = u[j];
        char esc[8];
        size_t l = c >= 0x80 ? ims_utf8_len(u + j, n - j) : 0;
        if (l) {
            put(w, s + j, l);
        } else if (c >= 0x80 || c == 0) {
            put(w, "?", 1), l = 1; /* NUL too: many JSON readers refuse \u0000 */
        } else {
            const char *e = c == '"'    ? "\\\""
                            : c == '\\' ? "\\\\"
                            : c == '\n' ? "\\n"
                            : c == '\r' ? "\\r"
                            : c == '\t' ? "\\t"
                                        : NULL;
            if (!e) {
                snprintf(esc, sizeof(esc), "\\u%04x", c);
                e = esc;
            }
            put(w, e, strlen(e));
            l = 1;
        }
        i = j + l;
    }
    put(w, "\"", 1);
}

/* The separator and "key": of a member at the current depth. */
static void member(ims_jw_t *w, const char *key)
{
    if (w->depth < 0)
        return;
    if (!w->first[w->depth])
        put(w, ",", 1);
    w->first[w->depth] = false;
    if (key) {
        escaped(w, key, strlen(key));
        put(w, ":", 1);
    }
}

void ims_jw_begin(ims_jw_t *w, const char *key)
{
    if (w->depth + 1 >= IMS_JW_DEPTH) {
        w->oom = true; /* a programming error: fail loudly at take */
        return;
    }
    member(w, key);
    put(w, "{", 1);
    w->first[++w->depth] = true;
}

void ims_jw_end(ims_jw_t *w)
{
    if (w->depth < 0)
        return;
    put(w, "}", 1);
    w->depth--;
}

void ims_jw_strn(ims_jw_t *w, const char *key, const char *val, size_t len)
{
    if (!val || !len)
        return;
    member(w, key);
    escaped(w, val, len);
}

void ims_jw_str(ims_jw_t *w, const char *key, const char *val)
{
    if (val)
        ims_jw_strn(w, key, val, strlen(val));
}

void ims_jw_int(ims_jw_t *w, const char *key, long long val)
{
    char num[24];
    int k = snprintf(num, sizeof(num), "%lld", val);
    member(w, key);
    put(w, num, (size_t)k);
}

void ims_jw_bool(ims_jw_t *w, const char *key, bool val)
{
    member(w, key);
    put(w, val ? "true" : "false", val ? 4 : 5);
}

void ims_jw_raw(ims_jw_t *w, const char *key, const char *json)
{
    if (!json)
        return;
    member(w, key);
    put(w, json, strlen(json));
}

char *ims_jw_take(ims_jw_t *w, size_t *len)
{
    char *p = w->oom ? NULL : w->p;
    if (w->oom)
        free(w->p);
    if (len)
        *len = p ? w->n : 0;
    ims_jw_init(w);
    return p;
}
