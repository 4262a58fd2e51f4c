/* Security-Client / -Server / -Verify per RFC 3329 §2.2 and TS 33.203 §7.1: a strict parser
 * whose every refusal names the parameter at fault (it becomes the 494 Warning), the choice
 * of the offer by our preference list, the Security-Server we answer with and its check. */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "secagree.h"

typedef struct cursor {
    const char *s;
    char *err;
    size_t errlen;
} cursor_t;

static int fail(cursor_t *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(cursor_t *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err, c->errlen, fmt, ap);
    va_end(ap);
    return EINVAL;
}

static void skip_ws(cursor_t *c)
{
    while (*c->s == ' ' || *c->s == '\t' || *c->s == '\r' || *c->s == '\n')
        c->s++;
}

/* RFC 3261 token characters. */
static bool is_token(char ch)
{
    return isalnum((unsigned char)ch) || (ch && strchr("-.!%*_+`'~", ch));
}

static size_t token(cursor_t *c, const char **start)
{
    skip_ws(c);
    *start = c->s;
    while (is_token(*c->s))
        c->s++;
    return (size_t)(c->s - *start);
}

static void lower_copy(char *dst, size_t cap, const char *src, size_t len)
{
    size_t n = len < cap - 1 ? len : cap - 1;
    for (size_t i = 0; i < n; i++)
        dst[i] = (char)tolower((unsigned char)src[i]);
    dst[n] = 0;
}

/* A parameter value: a token or a quoted string (quotes dropped; only extension
 * parameters may be quoted, the 3GPP ones are plain tokens). */
static int value(cursor_t *c, const char *name, const char **v, size_t *vlen, bool *quoted)
{
    skip_ws(c);
    *quoted = *c->s == '"';
    if (*quoted) {
        const char *p = ++c->s;
        while (*c->s && *c->s != '"') {
            if (*c->s == '\\' && c->s[1])
                c->s++;
            c->s++;
        }
        if (*c->s != '"')
            return fail(c, "unterminated quoted value of %s", name);
        *v = p;
        *vlen = (size_t)(c->s - p);
        c->s++;
        return 0;
    }
    *vlen = token(c, v);
    if (*vlen == 0)
        return fail(c, "%s has an empty value", name);
    return 0;
}

static int number(cursor_t *c, const char *name, const char *v, size_t len, bool quoted,
                  unsigned long long max, unsigned long long *out)
{
    if (quoted || len == 0 || len > 10)
        return fail(c, "%s=%.*s is not a decimal number", name, (int)(len > 32 ? 32 : len), v);
    unsigned long long n = 0;
    for (size_t i = 0; i < len; i++) {
        if (!isdigit((unsigned char)v[i]))
            return fail(c, "%s=%.*s is not a decimal number", name, (int)len, v);
        n = n * 10 + (unsigned)(v[i] - '0');
    }
    if (n > max)
        return fail(c, "%s=%llu is out of range (at most %llu)", name, n, max);
    *out = n;
    return 0;
}

/* qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] ), in thousandths. */
static int qvalue(cursor_t *c, const char *v, size_t len, bool quoted, int *out)
{
    if (quoted || len == 0 || (v[0] != '0' && v[0] != '1') || (len > 1 && v[1] != '.') || len > 5)
        return fail(c, "q=%.*s is not a qvalue between 0 and 1", (int)(len > 16 ? 16 : len), v);
    int q = (v[0] - '0') * 1000, scale = 100;
    for (size_t i = 2; i < len; i++, scale /= 10) {
        if (!isdigit((unsigned char)v[i]))
            return fail(c, "q=%.*s is not a qvalue between 0 and 1", (int)len, v);
        q += (v[i] - '0') * scale;
    }
    if (q > 1000)
        return fail(c, "q=%.*s is above 1", (int)len, v);
    *out = q;
    return 0;
}

enum { P_ALG, P_EALG, P_SPI_C, P_SPI_S, P_PORT_C, P_PORT_S, P_PROT, P_MOD, P_Q, P_COUNT };
static const char *const pnames[P_COUNT] = {"alg",    "ealg", "spi-c", "spi-s", "port-c",
                                            "port-s", "prot", "mod",   "q"};

static int spi_param(cursor_t *c, const char *name, const char *v, size_t len, bool quoted,
                     uint32_t *out)
{
    unsigned long long n = 0;
    if (number(c, name, v, len, quoted, 0xffffffffULL, &n))
        return EINVAL;
    if (n == 0)
        return fail(c, "%s=0 is not a valid SPI", name);
    if (n < 256)
        return fail(c, "%s=%llu is in the reserved SPI range 1..255", name, n);
    *out = (uint32_t)n;
    return 0;
}

static int port_param(cursor_t *c, const char *name, const char *v, size_t len, bool quoted,
                      uint16_t *out)
{
    unsigned long long n = 0;
    if (number(c, name, v, len, quoted, 65535, &n))
        return EINVAL;
    if (n == 0)
        return fail(c, "%s=0 is not a usable port", name);
    *out = (uint16_t)n;
    return 0;
}

static int name_param(cursor_t *c, const char *name, const char *v, size_t len, bool quoted,
                      char *dst, size_t cap)
{
    if (quoted || len >= cap)
        return fail(c, "%s=%.*s is not a known value", name, (int)(len > 32 ? 32 : len), v);
    lower_copy(dst, cap, v, len);
    return 0;
}

static int known_param(cursor_t *c, pcscf_sec_offer_t *o, int which, const char *v, size_t len,
                       bool quoted)
{
    const char *name = pnames[which];
    switch (which) {
    case P_ALG:
        return name_param(c, name, v, len, quoted, o->alg, sizeof o->alg);
    case P_EALG:
        return name_param(c, name, v, len, quoted, o->ealg, sizeof o->ealg);
    case P_SPI_C:
        return spi_param(c, name, v, len, quoted, &o->spi_c);
    case P_SPI_S:
        return spi_param(c, name, v, len, quoted, &o->spi_s);
    case P_PORT_C:
        return port_param(c, name, v, len, quoted, &o->port_c);
    case P_PORT_S:
        return port_param(c, name, v, len, quoted, &o->port_s);
    case P_PROT:
        return name_param(c, name, v, len, quoted, o->prot, sizeof o->prot);
    case P_MOD:
        return name_param(c, name, v, len, quoted, o->mod, sizeof o->mod);
    default:
        return qvalue(c, v, len, quoted, &o->q);
    }
}

/* The parameters after a mechanism name, up to the next ',' or the end. */
static int params(cursor_t *c, pcscf_sec_offer_t *o)
{
    bool seen[P_COUNT] = {false};
    for (skip_ws(c); *c->s == ';'; skip_ws(c)) {
        c->s++;
        const char *n, *v = "";
        size_t nlen = token(c, &n), vlen = 0;
        bool quoted = false;
        if (nlen == 0)
            return fail(c, "%s: a parameter name is missing after ';'", o->mech);
        skip_ws(c);
        if (*c->s == '=') {
            c->s++;
            char pn[PCSCF_SEC_NAME_MAX];
            lower_copy(pn, sizeof pn, n, nlen);
            if (value(c, pn, &v, &vlen, &quoted))
                return EINVAL;
        }
        int which = -1;
        for (int i = 0; i < P_COUNT; i++)
            if (strlen(pnames[i]) == nlen && strncasecmp(n, pnames[i], nlen) == 0)
                which = i;
        if (which < 0 || (!o->ipsec && which != P_Q))
            continue; /* extension parameter: allowed and ignored */
        if (seen[which])
            return fail(c, "%s appears twice in one %s offer", pnames[which], o->mech);
        seen[which] = true;
        if (vlen == 0 && !quoted)
            return fail(c, "%s has no value", pnames[which]);
        if (known_param(c, o, which, v, vlen, quoted))
            return EINVAL;
    }
    if (*c->s && *c->s != ',')
        return fail(c, "unexpected '%c' in %s offer", *c->s, o->mech);
    if (!o->ipsec)
        return 0;
    static const int required[] = {P_ALG, P_SPI_C, P_SPI_S, P_PORT_C, P_PORT_S};
    for (size_t i = 0; i < sizeof required / sizeof required[0]; i++)
        if (!seen[required[i]])
            return fail(c, "ipsec-3gpp offer without %s", pnames[required[i]]);
    return 0;
}

static void offer_finish(pcscf_sec_offer_t *o)
{
    o->alg_known = pcscf_esp_auth_parse(o->alg, strlen(o->alg), &o->auth) == 0;
    o->ealg_known = pcscf_esp_enc_parse(o->ealg, strlen(o->ealg), &o->enc) == 0;
}

static int offer(cursor_t *c, pcscf_sec_offer_t *o)
{
    const char *m;
    size_t mlen = token(c, &m);
    if (mlen == 0)
        return fail(c, "a mechanism name is missing");
    if (mlen >= sizeof o->mech)
        return fail(c, "mechanism name %.*s... is too long", 16, m);
    memset(o, 0, sizeof *o);
    o->q = -1;
    lower_copy(o->mech, sizeof o->mech, m, mlen);
    o->ipsec = strcmp(o->mech, "ipsec-3gpp") == 0;
    if (o->ipsec) {
        strcpy(o->ealg, "null");
        strcpy(o->prot, "esp");
        strcpy(o->mod, "trans");
    }
    if (params(c, o))
        return EINVAL;
    if (o->ipsec)
        offer_finish(o);
    return 0;
}

int pcscf_sec_parse(const char *text, pcscf_sec_list_t *list, char *err, size_t errlen)
{
    cursor_t c = {text ? text : "", err, errlen};
    size_t n0 = list->n;
    for (;;) {
        skip_ws(&c);
        if (*c.s == ',') { /* empty list elements are allowed (RFC 3261 §7.3.1) */
            c.s++;
            continue;
        }
        if (!*c.s)
            break;
        if (list->n == PCSCF_SEC_MAX_OFFERS) {
            list->n = n0;
            snprintf(err, errlen, "more than %d security mechanisms", PCSCF_SEC_MAX_OFFERS);
            return E2BIG;
        }
        if (offer(&c, &list->o[list->n])) {
            list->n = n0;
            return EINVAL;
        }
        list->n++; /* params() stopped at ',' or the end */
    }
    if (list->n == n0)
        return fail(&c, "no security mechanism in the header");
    return 0;
}

/* A comma-separated list of names into an ordered, duplicate-free array of enum values. */
static int names_parse(const char *text, int (*parse)(const char *, size_t, int *), int *out,
                       size_t max, size_t *n, const char *what, char *err, size_t errlen)
{
    *n = 0;
    for (const char *p = text;;) {
        while (*p == ' ' || *p == ',')
            p++;
        if (!*p)
            break;
        size_t len = strcspn(p, ", ");
        int v;
        if (parse(p, len, &v)) {
            snprintf(err, errlen, "unknown %s algorithm \"%.*s\"", what, (int)len, p);
            return EINVAL;
        }
        for (size_t i = 0; i < *n; i++)
            if (out[i] == v) {
                snprintf(err, errlen, "%s algorithm \"%.*s\" listed twice", what, (int)len, p);
                return EINVAL;
            }
        if (*n == max)
            return EINVAL; /* cannot happen: duplicates are refused above */
        out[(*n)++] = v;
        p += len;
    }
    if (*n == 0) {
        snprintf(err, errlen, "the %s algorithm list is empty", what);
        return EINVAL;
    }
    return 0;
}

static int auth_parse_int(const char *s, size_t len, int *out)
{
    pcscf_esp_auth_t a;
    int rc = pcscf_esp_auth_parse(s, len, &a);
    *out = (int)a;
    return rc;
}

static int enc_parse_int(const char *s, size_t len, int *out)
{
    pcscf_esp_enc_t e;
    int rc = pcscf_esp_enc_parse(s, len, &e);
    *out = (int)e;
    return rc;
}

int pcscf_sec_prefs_parse(const char *auth_list, const char *enc_list, pcscf_sec_prefs_t *out,
                          char *err, size_t errlen)
{
    int a[PCSCF_ESP_AUTH_COUNT], e[PCSCF_ESP_ENC_COUNT];
    size_t na, ne;
    if (names_parse(auth_list ? auth_list : "hmac-sha-1-96,hmac-md5-96", auth_parse_int, a,
                    PCSCF_ESP_AUTH_COUNT, &na, "integrity", err, errlen) ||
        names_parse(enc_list ? enc_list : "null,aes-cbc", enc_parse_int, e, PCSCF_ESP_ENC_COUNT,
                    &ne, "encryption", err, errlen))
        return EINVAL;
    for (size_t i = 0; i < na; i++)
        out->auth[i] = (pcscf_esp_auth_t)a[i];
    for (size_t i = 0; i < ne; i++)
        out->enc[i] = (pcscf_esp_enc_t)e[i];
    out->nauth = na;
    out->nenc = ne;
    return 0;
}

/* Position of the offer's algorithms in our lists (lower is better), -1 if not usable. */
static int rank(const pcscf_sec_offer_t *o, const pcscf_sec_prefs_t *prefs)
{
    if (!o->ipsec || !o->alg_known || !o->ealg_known || strcmp(o->prot, "esp") != 0 ||
        strcmp(o->mod, "trans") != 0)
        return -1;
    int ra = -1, re = -1;
    for (size_t i = 0; i < prefs->nauth; i++)
        if (prefs->auth[i] == o->auth)
            ra = (int)i;
    for (size_t i = 0; i < prefs->nenc; i++)
        if (prefs->enc[i] == o->enc)
            re = (int)i;
    return ra < 0 || re < 0 ? -1 : ra * PCSCF_ESP_ENC_COUNT + re;
}

int pcscf_sec_choose(const pcscf_sec_list_t *l, const pcscf_sec_prefs_t *prefs, char *err,
                     size_t errlen)
{
    int best = -1, best_rank = 0;
    size_t nipsec = 0, used = 0;
    char offered[160] = "";
    for (size_t i = 0; i < l->n; i++) {
        const pcscf_sec_offer_t *o = &l->o[i];
        if (!o->ipsec)
            continue;
        nipsec++;
        if (used < sizeof offered - 1)
            used += (size_t)snprintf(offered + used, sizeof offered - used, "%s%s/%s/%s/%s",
                                     nipsec > 1 ? ", " : "", o->alg, o->ealg, o->prot, o->mod);
        int r = rank(o, prefs);
        if (r < 0)
            continue;
        /* Ours first; among equals the UE's q (absent counts as lowest), then its order. */
        if (best < 0 || r < best_rank || (r == best_rank && o->q > l->o[best].q)) {
            best = (int)i;
            best_rank = r;
        }
    }
    if (best < 0) {
        if (nipsec == 0)
            snprintf(err, errlen, "no ipsec-3gpp mechanism offered");
        else
            snprintf(err, errlen, "none of the offered algorithms is enabled here (offered: %s)",
                     offered);
    }
    return best;
}

int pcscf_sec_server_build(const pcscf_sec_offer_t *chosen, uint32_t spi_c, uint32_t spi_s,
                           uint16_t port_c, uint16_t port_s, char *out, size_t cap)
{
    int n = snprintf(out, cap,
                     "ipsec-3gpp;q=0.1;prot=esp;mod=trans;spi-c=%u;spi-s=%u;port-c=%u;port-s=%u;"
                     "ealg=%s;alg=%s",
                     spi_c, spi_s, port_c, port_s, pcscf_esp_enc_name(chosen->enc),
                     pcscf_esp_auth_name(chosen->auth));
    return n < 0 || (size_t)n >= cap ? E2BIG : 0;
}

static bool offer_equal(const pcscf_sec_offer_t *a, const pcscf_sec_offer_t *b, char *err,
                        size_t errlen)
{
    const char *what = NULL;
    if (strcmp(a->mech, b->mech) != 0)
        what = "mechanism";
    else if (a->q != b->q)
        what = "q";
    else if (!a->ipsec)
        return true;
    else if (strcmp(a->alg, b->alg) != 0)
        what = "alg";
    else if (strcmp(a->ealg, b->ealg) != 0)
        what = "ealg";
    else if (a->spi_c != b->spi_c || a->spi_s != b->spi_s)
        what = "SPIs";
    else if (a->port_c != b->port_c || a->port_s != b->port_s)
        what = "ports";
    else if (strcmp(a->prot, b->prot) != 0 || strcmp(a->mod, b->mod) != 0)
        what = "prot/mod";
    if (what)
        snprintf(err, errlen, "Security-Verify differs from our Security-Server in %s", what);
    return what == NULL;
}

bool pcscf_sec_verify_matches(const pcscf_sec_list_t *verify, const pcscf_sec_list_t *server,
                              char *err, size_t errlen)
{
    if (verify->n != server->n) {
        snprintf(err, errlen, "Security-Verify lists %zu mechanisms, our Security-Server %zu",
                 verify->n, server->n);
        return false;
    }
    for (size_t i = 0; i < server->n; i++)
        if (!offer_equal(&verify->o[i], &server->o[i], err, errlen))
            return false;
    return true;
}
