/* The reginfo+xml writer (RFC 3680): a small escaping writer into one growing buffer, with
 * a libFuzzer target (tests/fuzz/fuzz_reginfo.c) that parses every output with libxml2.
 *
 * Why not libxml2's writer here: the S-CSCF only ever writes this one fixed shape, and
 * what makes it hard is not the markup but the bytes a UE put in its Contact. libxml2's
 * writer escapes <, & and quotes, yet passes control characters and invalid UTF-8
 * through, which yields a body no parser accepts: the character-level cleaning below is
 * needed either way. With it, the writer is ~250 lines, allocates once per NOTIFY (one
 * per subscriber per change, on the SIP loop) and keeps a parsing library out of the
 * S-CSCF, which never reads XML. libxml2 is used where a parser is needed: as the strict
 * judge of every body in the unit test and the fuzz target, and in the P-CSCF, which
 * reads these bodies off the network (pcscf/regsub.c). */
#include "reginfo.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const event_names[SCSCF_EV_COUNT] = {
    "registered",  "created",   "refreshed",    "shortened", "expired",
    "deactivated", "probation", "unregistered", "rejected",
};

const char *scscf_reg_event_name(scscf_reg_event_t ev)
{
    return (unsigned)ev < SCSCF_EV_COUNT ? event_names[ev] : "registered";
}

int scscf_reg_event_parse(const char *name)
{
    for (int i = 0; name && i < SCSCF_EV_COUNT; i++)
        if (strcmp(name, event_names[i]) == 0)
            return i;
    return -1;
}

bool scscf_reg_event_terminates(scscf_reg_event_t ev)
{
    return ev >= SCSCF_EV_EXPIRED && ev < SCSCF_EV_COUNT;
}

static uint64_t fnv1a(uint64_t h, const char *s)
{
    for (; s && *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

#define FNV_BASIS 1469598103934665603ULL

void scscf_reginfo_reg_id(const char *aor, char *buf, size_t len)
{
    snprintf(buf, len, "r%016llx", (unsigned long long)fnv1a(FNV_BASIS, aor));
}

void scscf_reginfo_contact_id(const char *aor, const char *key, char *buf, size_t len)
{
    /* the separator keeps ("ab","c") and ("a","bc") apart */
    uint64_t h = fnv1a(fnv1a(FNV_BASIS, aor), "\n");
    snprintf(buf, len, "c%016llx", (unsigned long long)fnv1a(h, key));
}

/* ---- the buffer ---- */

typedef struct xbuf {
    char *p;
    size_t len, cap;
    bool failed; /* sticks: callers check once at the end */
} xbuf_t;

static void xb_putn(xbuf_t *b, const char *s, size_t n)
{
    if (b->failed)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *np = realloc(b->p, cap);
        if (!np) {
            b->failed = true;
            return;
        }
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
}

static void xb_put(xbuf_t *b, const char *s)
{
    xb_putn(b, s, strlen(s));
}

static void xb_num(xbuf_t *b, const char *fmt, unsigned long long v)
{
    char tmp[64]; /* the longest name (retry-after) and 20 digits */
    snprintf(tmp, sizeof(tmp), fmt, v);
    xb_put(b, tmp);
}

/* ---- escaping ---- */

#define REPLACEMENT "\xEF\xBF\xBD" /* U+FFFD */

/* Length of the well-formed UTF-8 sequence at s (at most n bytes) that XML 1.0 may carry
 * as a Char, or 0: overlong forms, surrogates, U+FFFE/U+FFFF and code points past
 * U+10FFFF are refused like stray bytes. */
static size_t utf8_char(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t len;
    unsigned char lo = 0x80, hi = 0xBF; /* the range of the second byte */
    if (c >= 0xC2 && c <= 0xDF)
        len = 2;
    else if (c >= 0xE0 && c <= 0xEF)
        len = 3, lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;
    else if (c >= 0xF0 && c <= 0xF4)
        len = 4, lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;
    else
        return 0;
    if (n < len || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++)
        if ((s[i] & 0xC0) != 0x80)
            return 0;
    if (len == 3 && c == 0xEF && s[1] == 0xBF && (s[2] == 0xBE || s[2] == 0xBF))
        return 0;
    return len;
}

/* Appends n bytes of s as character data (attr: inside a double-quoted attribute).
 * Markup characters become entities; tab, LF and CR become character references, which
 * survive a parser's line-end and attribute normalisation; other C0 controls and bytes that
 * are not well-formed UTF-8 become U+FFFD, since XML 1.0 cannot carry them at all. */
static void xb_esc(xbuf_t *b, const char *s, size_t n, bool attr)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0, run = 0; /* run: bytes at i - run .. i still to copy verbatim */
    while (i < n) {
        unsigned char c = u[i];
        const char *rep = NULL;
        size_t adv = 1;
        if (c >= 0x80) {
            adv = utf8_char(u + i, n - i);
            if (!adv)
                adv = 1, rep = REPLACEMENT;
        } else if (c == '&') {
            rep = "&amp;";
        } else if (c == '<') {
            rep = "&lt;";
        } else if (c == '>') {
            rep = "&gt;";
        } else if (c == '"' && attr) {
            rep = "&quot;";
        } else if (c == '\t' || c == '\n' || c == '\r') {
            rep = c == '\t' ? "&#9;" : c == '\n' ? "&#10;" : "&#13;";
        } else if (c < 0x20) {
            rep = REPLACEMENT;
        }
        if (rep) {
            xb_putn(b, s + i - run, run);
            xb_put(b, rep);
            run = 0;
        } else {
            run += adv;
        }
        i += adv;
    }
    xb_putn(b, s + n - run, run);
}

static void xb_attr(xbuf_t *b, const char *name, const char *value, size_t n)
{
    xb_put(b, " ");
    xb_put(b, name);
    xb_put(b, "=\"");
    xb_esc(b, value, n, true);
    xb_put(b, "\"");
}

/* ---- Contact parameters ---- */

typedef struct param {
    const char *name, *value; /* value NULL: a flag parameter (";video") */
    size_t nlen, vlen;
    bool quoted; /* value is the inside of a quoted-string, backslash escapes still in */
} param_t;

#define MAX_PARAMS 64 /* a Contact with more is cut: Sofia itself parses no more */

static size_t trim(const char **s, size_t n)
{
    while (n && (**s == ' ' || **s == '\t'))
        (*s)++, n--;
    while (n && ((*s)[n - 1] == ' ' || (*s)[n - 1] == '\t'))
        n--;
    return n;
}

/* Splits ";a=b;c;d=\"x;y\"" at the semicolons outside quoted strings. */
static size_t split_params(const char *s, param_t *out, size_t cap)
{
    size_t np = 0;
    while (s && *s && np < cap) {
        if (*s == ';') {
            s++;
            continue;
        }
        const char *start = s, *eq = NULL;
        bool q = false;
        for (; *s && (q || *s != ';'); s++) {
            if (q && *s == '\\' && s[1])
                s++;
            else if (*s == '"')
                q = !q;
            else if (!q && *s == '=' && !eq)
                eq = s;
        }
        param_t *p = &out[np];
        memset(p, 0, sizeof(*p));
        p->name = start;
        p->nlen = trim(&p->name, (size_t)((eq ? eq : s) - start));
        if (eq) {
            p->value = eq + 1;
            p->vlen = trim(&p->value, (size_t)(s - eq - 1));
            if (p->vlen >= 2 && p->value[0] == '"' && p->value[p->vlen - 1] == '"') {
                p->value++;
                p->vlen -= 2;
                p->quoted = true;
            }
        }
        if (p->nlen)
            np++;
    }
    return np;
}

static bool named(const param_t *p, const char *name)
{
    return p->nlen == strlen(name) && strncasecmp(p->name, name, p->nlen) == 0;
}

/* RFC 3261 qvalue: "0", "1", "0.d{0,3}" or "1.0{0,3}". */
static bool qvalue_ok(const char *v, size_t n)
{
    if (!v || !n || (v[0] != '0' && v[0] != '1'))
        return false;
    if (n == 1)
        return true;
    if (v[1] != '.' || n > 5)
        return false;
    for (size_t i = 2; i < n; i++)
        if (v[i] < '0' || v[i] > (v[0] == '1' ? '0' : '9'))
            return false;
    return true;
}

/* The value of a quoted parameter with its backslash escapes undone. */
static void put_param_value(xbuf_t *b, const param_t *p)
{
    if (!p->quoted)
        return xb_esc(b, p->value, p->vlen, false);
    size_t i = 0, from = 0;
    for (; i < p->vlen; i++) {
        if (p->value[i] == '\\' && i + 1 < p->vlen) {
            xb_esc(b, p->value + from, i - from, false);
            from = ++i; /* keep the escaped character itself */
        }
    }
    xb_esc(b, p->value + from, p->vlen - from, false);
}

/* ---- elements ---- */

static void put_contact(xbuf_t *b, const char *aor, const scscf_reginfo_contact_t *c)
{
    param_t ps[MAX_PARAMS];
    size_t np = split_params(c->params, ps, MAX_PARAMS);
    const param_t *q = NULL;
    for (size_t i = 0; i < np; i++)
        if (named(&ps[i], "q") && qvalue_ok(ps[i].value, ps[i].vlen))
            q = &ps[i];
    char id[24];
    scscf_reginfo_contact_id(aor, c->id_key ? c->id_key : c->uri, id, sizeof(id));
    bool term = scscf_reg_event_terminates(c->event);
    xb_put(b, "    <contact id=\"");
    xb_put(b, id);
    xb_put(b, term ? "\" state=\"terminated\" event=\"" : "\" state=\"active\" event=\"");
    xb_put(b, scscf_reg_event_name(c->event));
    xb_put(b, "\"");
    if (c->expires >= 0)
        xb_num(b, " expires=\"%llu\"", (unsigned long long)(term ? 0 : c->expires));
    if (q)
        xb_attr(b, "q", q->value, q->vlen);
    if (c->call_id) {
        xb_attr(b, "callid", c->call_id, strlen(c->call_id));
        xb_num(b, " cseq=\"%llu\"", c->cseq);
    }
    if (c->retry_after >= 0)
        xb_num(b, " retry-after=\"%llu\"", (unsigned long long)c->retry_after);
    xb_put(b, ">\n      <uri>");
    xb_esc(b, c->uri, strlen(c->uri), false);
    xb_put(b, "</uri>\n");
    for (size_t i = 0; i < np; i++) {
        if (&ps[i] == q || named(&ps[i], "expires") || named(&ps[i], "q"))
            continue;
        xb_put(b, "      <unknown-param");
        xb_attr(b, "name", ps[i].name, ps[i].nlen);
        if (!ps[i].value) {
            xb_put(b, "/>\n");
            continue;
        }
        xb_put(b, ">");
        put_param_value(b, &ps[i]);
        xb_put(b, "</unknown-param>\n");
    }
    xb_put(b, "    </contact>\n");
}

static const char *const reg_states[] = {"init", "active", "terminated"};

int scscf_reginfo_write(uint32_t version, bool full, const scscf_reginfo_reg_t *regs, size_t nregs,
                        char **out, size_t *outlen)
{
    for (size_t i = 0; i < nregs; i++) {
        if (!regs[i].aor || (unsigned)regs[i].state > SCSCF_REG_TERMINATED)
            return EINVAL;
        for (size_t k = 0; k < regs[i].ncontacts; k++)
            if (!regs[i].contacts[k].uri)
                return EINVAL;
    }
    xbuf_t b = {0};
    xb_put(&b,
           "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<reginfo xmlns=\"" SCSCF_REGINFO_NS "\"");
    xb_num(&b, " version=\"%llu\"", version);
    xb_put(&b, full ? " state=\"full\">\n" : " state=\"partial\">\n");
    for (size_t i = 0; i < nregs; i++) {
        const scscf_reginfo_reg_t *r = &regs[i];
        char id[24];
        scscf_reginfo_reg_id(r->aor, id, sizeof(id));
        xb_put(&b, "  <registration");
        xb_attr(&b, "aor", r->aor, strlen(r->aor));
        xb_put(&b, " id=\"");
        xb_put(&b, id);
        xb_put(&b, "\" state=\"");
        xb_put(&b, reg_states[r->state]);
        xb_put(&b, "\">\n");
        for (size_t k = 0; k < r->ncontacts; k++)
            put_contact(&b, r->aor, &r->contacts[k]);
        xb_put(&b, "  </registration>\n");
    }
    xb_put(&b, "</reginfo>\n");
    if (b.failed) {
        free(b.p);
        return ENOMEM;
    }
    *out = b.p;
    *outlen = b.len;
    return 0;
}
