/* Redacts secrets from SIP messages kept for display: key and password parameters,
 * non-Digest credentials, SDP/SRTP/MIKEY keys; and makes the copy valid UTF-8 text. */
#include "ims/redact.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ims/util.h"

typedef struct obuf {
    char *p;
    size_t n, cap;
    bool oom;
} obuf_t;

/* Parameter names whose values are secrets wherever they appear ("name=value"). */
static const char *const secret_params[] = {"ck",     "ik", "res", "xres", "password", "passwd",
                                            "secret", "k",  "op",  "opc",  "key"};

static bool reserve(obuf_t *b, size_t more)
{
    if (b->oom)
        return false;
    if (b->n + more + 1 <= b->cap)
        return true;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->n + more + 1)
        cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) {
        b->oom = true;
        return false;
    }
    b->p = p;
    b->cap = cap;
    return true;
}

static void put_raw(obuf_t *b, const char *s, size_t n)
{
    if (!reserve(b, n))
        return;
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}

/* Bytes copied as they are: printable ASCII, CR, LF and TAB. */
static bool plain(unsigned char c)
{
    return (c >= 0x20 && c < 0x7f) || c == '\r' || c == '\n' || c == '\t';
}

/* Copies text, turning control bytes and invalid UTF-8 into '?' (not a token character,
 * so the copy tokenises as the original did and redacting it again changes nothing).
 * Plain runs go in one copy: this runs on every message the timeline keeps. */
static void put_text(obuf_t *b, const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        size_t j = i;
        while (j < n && plain(u[j]))
            j++;
        if (j > i) {
            put_raw(b, s + i, j - i);
            i = j;
            continue;
        }
        size_t l = u[i] >= 0x80 ? ims_utf8_len(u + i, n - i) : 0;
        put_raw(b, l ? s + i : "?", l ? l : 1);
        i += l ? l : 1;
    }
}

static bool is_token_char(unsigned char c)
{
    switch (c) {
    case '-':
    case '.':
    case '!':
    case '%':
    case '*':
    case '_':
    case '+':
    case '`':
    case '\'':
    case '~':
        return true;
    default:
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    }
}

static bool is_delim_before(const char *in, size_t i)
{
    /* Any byte that cannot be part of a token ends one: redacting too much is safe. */
    return i == 0 || !is_token_char((unsigned char)in[i - 1]);
}

/* Skips linear white space (spaces, tabs, and a line break followed by a space or tab). */
static size_t skip_lws(const char *in, size_t len, size_t i)
{
    for (;;) {
        if (i < len && (in[i] == ' ' || in[i] == '\t')) {
            i++;
        } else if (i + 1 < len && in[i] == '\n' && (in[i + 1] == ' ' || in[i + 1] == '\t')) {
            i += 2;
        } else if (i + 2 < len && in[i] == '\r' && in[i + 1] == '\n' &&
                   (in[i + 2] == ' ' || in[i + 2] == '\t')) {
            i += 3;
        } else {
            return i;
        }
    }
}

/* End of the logical line starting at or before i: the line break not followed by a
 * continuation (or len). */
static size_t logical_line_end(const char *in, size_t len, size_t i)
{
    while (i < len) {
        if (in[i] == '\n' && !(i + 1 < len && (in[i + 1] == ' ' || in[i + 1] == '\t')))
            return (i > 0 && in[i - 1] == '\r') ? i - 1 : i;
        i++;
    }
    return len;
}

/* End of a parameter value starting at i: a quoted string (escapes honoured; an
 * unterminated one runs to the end of the logical line) or a run up to a delimiter
 * from stop. *quoted tells which. Linear in the value: a line of many quoted secrets must
 * not cost its length squared. */
static size_t value_end(const char *in, size_t len, size_t i, const char *stop, bool *quoted)
{
    *quoted = i < len && in[i] == '"';
    if (*quoted) {
        for (size_t j = i + 1; j < len; j++) {
            if (in[j] == '\\' && j + 1 < len && in[j + 1] != '\n')
                j++;
            else if (in[j] == '"')
                return j + 1;
            else if (in[j] == '\n' && !(j + 1 < len && (in[j + 1] == ' ' || in[j + 1] == '\t')))
                return (j > 0 && in[j - 1] == '\r') ? j - 1 : j;
        }
        return len;
    }
    while (i < len && (in[i] == '\0' || !strchr(stop, in[i]))) /* strchr finds NUL too */
        i++;
    return i;
}

static bool is_secret_param(const char *name, size_t n)
{
    for (size_t k = 0; k < sizeof(secret_params) / sizeof(secret_params[0]); k++)
        if (strlen(secret_params[k]) == n && strncasecmp(name, secret_params[k], n) == 0)
            return true;
    return false;
}

/* The copy being made: everything before `from` is written already. Text is copied only
 * when a secret is replaced (and at the end), so most messages cost one pass and a few
 * large copies. */
typedef struct red {
    obuf_t b;
    const char *in;
    size_t len, from;
} red_t;

/* Writes what lies before v, then the marker (after prefix) for in[v..ve). */
static void replace(red_t *r, size_t v, size_t ve, bool quoted, const char *prefix)
{
    put_text(&r->b, r->in + r->from, v - r->from);
    if (prefix)
        put_raw(&r->b, prefix, strlen(prefix));
    put_raw(&r->b, quoted ? "\"" IMS_REDACTED "\"" : IMS_REDACTED,
            quoted ? sizeof(IMS_REDACTED) + 1 : sizeof(IMS_REDACTED) - 1);
    r->from = ve;
}

/* At the start of a line: "Authorization:" or "Proxy-Authorization:" with a scheme other
 * than Digest has its credentials replaced. Returns the input position after what was
 * handled, or i when the line is something else. */
static size_t credentials(red_t *r, size_t i)
{
    static const char *const names[] = {"authorization", "proxy-authorization"};
    const char *in = r->in;
    size_t len = r->len, n = 0;
    while (i + n < len && is_token_char((unsigned char)in[i + n]))
        n++;
    bool hit = false;
    for (size_t k = 0; k < 2; k++)
        hit |= strlen(names[k]) == n && strncasecmp(in + i, names[k], n) == 0;
    if (!hit)
        return i;
    size_t j = skip_lws(in, len, i + n);
    if (j >= len || in[j] != ':')
        return i;
    size_t s = skip_lws(in, len, j + 1), se = s;
    while (se < len && is_token_char((unsigned char)in[se]))
        se++;
    if (se == s || (se - s == 6 && strncasecmp(in + s, "digest", 6) == 0))
        return i;
    size_t eol = logical_line_end(in, len, se);
    if (skip_lws(in, len, se) < eol)
        replace(r, se, eol, false, " ");
    return eol;
}

/* A token at i (after a delimiter): when it names a secret, its value is replaced.
 * Returns the input position after what was looked at. */
static size_t token(red_t *r, size_t i)
{
    const char *in = r->in;
    size_t len = r->len, n = 0;
    while (i + n < len && is_token_char((unsigned char)in[i + n]))
        n++;
    size_t j = skip_lws(in, len, i + n), v, ve;
    bool quoted;
    if (j < len && in[j] == '=' && is_secret_param(in + i, n)) {
        v = skip_lws(in, len, j + 1);
        ve = value_end(in, len, v, " \t\r\n;,&>", &quoted);
    } else if (n == 6 && j < len && in[j] == ':' && strncasecmp(in + i, "inline", 6) == 0) {
        v = j + 1;
        ve = value_end(in, len, v, " \t\r\n;|", &quoted);
    } else if (n == 5 && j > i + n && strncasecmp(in + i, "mikey", 5) == 0) {
        v = j;
        ve = value_end(in, len, v, " \t\r\n", &quoted);
    } else {
        return i + n;
    }
    replace(r, v, ve, quoted, NULL);
    return ve;
}

static void truncate_to(obuf_t *b, size_t max)
{
    if (max == 0 || b->n <= max || b->oom)
        return;
    size_t cut = max;
    while (cut > 0 && ((unsigned char)b->p[cut] & 0xC0) == 0x80)
        cut--; /* never split a UTF-8 sequence */
    size_t dropped = b->n - cut;
    b->n = cut;
    char note[64];
    int k = snprintf(note, sizeof(note), "\r\n[... %zu more bytes not kept]\r\n", dropped);
    put_raw(b, note, (size_t)k);
}

char *ims_redact_sip(const char *in, size_t len, size_t max, size_t *outlen)
{
    red_t r = {.in = in, .len = len};
    if (!reserve(&r.b, len + 64))
        return NULL;
    r.b.p[0] = '\0';
    size_t i = 0;
    while (i < len) {
        bool line_start = i == 0 || in[i - 1] == '\n';
        if (line_start && in[i] != ' ' && in[i] != '\t') {
            size_t after = credentials(&r, i);
            if (after != i) {
                i = after;
                continue;
            }
        }
        if (is_token_char((unsigned char)in[i]) && is_delim_before(in, i))
            i = token(&r, i);
        else
            i++;
    }
    put_text(&r.b, in + r.from, len - r.from);
    truncate_to(&r.b, max);
    if (r.b.oom) {
        free(r.b.p);
        return NULL;
    }
    if (outlen)
        *outlen = r.b.n;
    return r.b.p;
}
