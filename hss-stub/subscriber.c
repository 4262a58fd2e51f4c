/* The subscriber document of SPEC §3: strict validation of provisioning JSON, default
 * derivation (IMPI, implicit IMPU set), the secret-free public view, and merge patch. */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "hss.h"
#include "ims/milenage.h"
#include "ims/util.h"

void hss_sub_clear(hss_sub_t *s)
{
    ims_secure_zero(s, sizeof(*s));
}

static int fail(hss_err_t *err, int status, const char *code, const char *fmt, const char *a,
                const char *b)
{
    err->status = status;
    snprintf(err->code, sizeof(err->code), "%s", code);
    snprintf(err->message, sizeof(err->message), fmt, a, b ? b : "");
    return status;
}

static bool all_digits(const char *s, size_t min, size_t max)
{
    size_t n = strlen(s);
    if (n < min || n > max)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isdigit((unsigned char)s[i]))
            return false;
    return true;
}

bool hss_valid_imsi(const char *s)
{
    return s && all_digits(s, 5, HSS_IMSI_MAX);
}

/* Identities travel in SIP headers and URLs: no whitespace, controls, or characters
 * that would break a name-addr. */
static bool plain_identity(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > HSS_URI_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= 0x20 || c >= 0x7f || c == '<' || c == '>' || c == '"' || c == '\\')
            return false;
    }
    return true;
}

bool hss_valid_uri(const char *s)
{
    if (!s || !plain_identity(s))
        return false;
    size_t skip = 0;
    if (strncasecmp(s, "sip:", 4) == 0)
        skip = 4;
    else if (strncasecmp(s, "sips:", 5) == 0)
        skip = 5;
    else if (strncasecmp(s, "tel:", 4) == 0)
        skip = 4;
    return skip && s[skip] != '\0';
}

void hss_user_part(const char *impi, char *out, size_t outlen)
{
    const char *at = strchr(impi, '@');
    size_t n = at ? (size_t)(at - impi) : strlen(impi);
    if (n >= outlen)
        n = outlen - 1;
    memcpy(out, impi, n);
    out[n] = '\0';
}

/* Only these keys may appear; anything else is a typo the user wants to hear about. */
static int check_keys(const json_t *obj, const char *const *allowed, const char *where,
                      hss_err_t *err)
{
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)obj, key, v)
    {
        bool ok = false;
        for (size_t i = 0; allowed[i]; i++)
            if (strcmp(key, allowed[i]) == 0)
                ok = true;
        if (!ok) {
            char k[64];
            snprintf(k, sizeof(k), "%s", key);
            return fail(err, 400, "unknown_field", "%sunknown field \"%s\"", where, k);
        }
    }
    return 0;
}

/* A string member or NULL when absent/null; wrong type -> error. */
static int get_str(const json_t *obj, const char *key, const char **out, hss_err_t *err)
{
    json_t *v = json_object_get(obj, key);
    *out = NULL;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v))
        return fail(err, 400, "wrong_type", "field \"%s\" must be a string%s", key, NULL);
    *out = json_string_value(v);
    return 0;
}

static int get_hex(const json_t *obj, const char *key, uint8_t *out, size_t len, bool *present,
                   hss_err_t *err)
{
    const char *s;
    int rc = get_str(obj, key, &s, err);
    if (rc)
        return rc;
    *present = s != NULL;
    if (!s)
        return 0;
    if (strlen(s) != 2 * len || ims_hex_decode(s, out, len) != 0) {
        char n[16];
        snprintf(n, sizeof(n), "%zu", 2 * len);
        return fail(err, 400, "invalid_hex", "auth.%s must be exactly %s hex digits", key, n);
    }
    return 0;
}

static int parse_auth(const json_t *auth, hss_sub_t *out, hss_err_t *err)
{
    if (!json_is_object(auth))
        return fail(err, 400, "wrong_type", "field \"auth\" must be an object%s%s", "", NULL);
    const char *scheme;
    int rc = get_str(auth, "scheme", &scheme, err);
    if (rc)
        return rc;
    if (!scheme)
        return fail(err, 400, "missing_field", "auth.scheme is required (digest or aka)%s%s", "",
                    NULL);
    if (strcmp(scheme, "digest") == 0) {
        static const char *const keys[] = {"scheme", "password", NULL};
        if ((rc = check_keys(auth, keys, "auth (digest): ", err)))
            return rc;
        const char *pw;
        if ((rc = get_str(auth, "password", &pw, err)))
            return rc;
        if (!pw || !*pw)
            return fail(err, 400, "missing_field",
                        "auth.password is required for the digest scheme%s%s", "", NULL);
        if (strlen(pw) > HSS_PASSWORD_MAX)
            return fail(err, 400, "invalid_value", "auth.password is longer than 128 bytes%s%s", "",
                        NULL);
        out->scheme = HSS_DIGEST;
        snprintf(out->password, sizeof(out->password), "%s", pw);
        return 0;
    }
    if (strcmp(scheme, "aka") != 0) {
        char s[40];
        snprintf(s, sizeof(s), "%s", scheme);
        return fail(err, 400, "invalid_value", "unknown auth.scheme \"%s\" (digest or aka)%s", s,
                    NULL);
    }
    static const char *const keys[] = {"scheme", "k", "op", "opc", "amf", "sqn", "algorithm", NULL};
    if ((rc = check_keys(auth, keys, "auth (aka): ", err)))
        return rc;
    bool has_k, has_op, has_opc, has_amf, has_sqn;
    uint8_t op[16], sqn[6];
    out->scheme = HSS_AKA;
    if ((rc = get_hex(auth, "k", out->k, 16, &has_k, err)) ||
        (rc = get_hex(auth, "op", op, 16, &has_op, err)) ||
        (rc = get_hex(auth, "opc", out->opc, 16, &has_opc, err)) ||
        (rc = get_hex(auth, "amf", out->amf, 2, &has_amf, err)) ||
        (rc = get_hex(auth, "sqn", sqn, 6, &has_sqn, err)))
        return rc;
    if (!has_k)
        return fail(err, 400, "missing_field", "auth.k is required for the aka scheme%s%s", "",
                    NULL);
    if (has_op && has_opc)
        return fail(err, 400, "invalid_value", "give either auth.op or auth.opc, not both%s%s", "",
                    NULL);
    if (!has_op && !has_opc)
        return fail(err, 400, "missing_field", "auth.opc or auth.op is required for aka%s%s", "",
                    NULL);
    if (has_op) {
        /* Only OPc is kept: the OP is an operator-wide secret. */
        int crc = ims_milenage_opc(out->k, op, out->opc);
        ims_secure_zero(op, sizeof(op));
        if (crc)
            return fail(err, 500, "internal", "cannot derive OPc%s%s", "", NULL);
    }
    if (!has_amf) {
        out->amf[0] = 0x80;
        out->amf[1] = 0x00;
    }
    out->sqn = has_sqn ? ims_sqn_from_bytes(sqn) : 0;
    const char *alg;
    if ((rc = get_str(auth, "algorithm", &alg, err)))
        return rc;
    out->algorithm = IMS_AKA_V1;
    if (alg && ims_aka_version_parse(alg, &out->algorithm) != 0) {
        char a[40];
        snprintf(a, sizeof(a), "%s", alg);
        return fail(err, 400, "invalid_value",
                    "unknown auth.algorithm \"%s\" (AKAv1-MD5 or AKAv2-MD5)%s", a, NULL);
    }
    return 0;
}

static int parse_impus(const json_t *arr, hss_sub_t *out, hss_err_t *err)
{
    if (!json_is_array(arr))
        return fail(err, 400, "wrong_type", "field \"impus\" must be an array%s%s", "", NULL);
    size_t n = json_array_size(arr);
    if (n == 0 || n > HSS_IMPUS_MAX)
        return fail(err, 400, "invalid_value", "impus must hold 1 to 32 entries%s%s", "", NULL);
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(arr, i);
        char where[48];
        snprintf(where, sizeof(where), "impus[%zu]: ", i);
        if (!json_is_object(e))
            return fail(err, 400, "wrong_type", "%smust be an object {\"uri\", \"barred\"}%s",
                        where, NULL);
        static const char *const keys[] = {"uri", "barred", NULL};
        int rc = check_keys(e, keys, where, err);
        if (rc)
            return rc;
        json_t *uri = json_object_get(e, "uri"), *barred = json_object_get(e, "barred");
        if (!json_is_string(uri) || !hss_valid_uri(json_string_value(uri)))
            return fail(err, 400, "invalid_value",
                        "%suri must be a sip:, sips: or tel: URI of at most 255 characters%s",
                        where, NULL);
        if (barred && !json_is_boolean(barred))
            return fail(err, 400, "wrong_type", "%sbarred must be true or false%s", where, NULL);
        for (size_t j = 0; j < i; j++)
            if (strcmp(out->impus[j].uri, json_string_value(uri)) == 0)
                return fail(err, 400, "invalid_value", "%sduplicates an earlier IMPU%s", where,
                            NULL);
        snprintf(out->impus[i].uri, sizeof(out->impus[i].uri), "%s", json_string_value(uri));
        out->impus[i].barred = barred && json_is_true(barred);
    }
    out->nimpus = n;
    return 0;
}

int hss_sub_from_json(const json_t *doc, const char *domain, hss_sub_t *out, hss_err_t *err)
{
    memset(out, 0, sizeof(*out));
    if (!json_is_object(doc))
        return fail(err, 400, "wrong_type", "a subscriber must be a JSON object%s%s", "", NULL);
    /* "registration" is the read-only live state: accepted and ignored so a GET result
     * can be edited and sent back. */
    static const char *const keys[] = {"imsi", "msisdn",       "impi", "impus",
                                       "auth", "registration", NULL};
    int rc = check_keys(doc, keys, "", err);
    if (rc)
        return rc;
    const char *imsi, *msisdn, *impi;
    if ((rc = get_str(doc, "imsi", &imsi, err)) || (rc = get_str(doc, "msisdn", &msisdn, err)) ||
        (rc = get_str(doc, "impi", &impi, err)))
        return rc;
    if (!imsi)
        return fail(err, 400, "missing_field", "imsi is required%s%s", "", NULL);
    if (!hss_valid_imsi(imsi))
        return fail(err, 400, "invalid_value", "imsi must be 5 to 15 digits%s%s", "", NULL);
    snprintf(out->imsi, sizeof(out->imsi), "%s", imsi);
    if (msisdn) {
        if (!all_digits(msisdn, 1, HSS_MSISDN_MAX))
            return fail(err, 400, "invalid_value", "msisdn must be 1 to 15 digits%s%s", "", NULL);
        snprintf(out->msisdn, sizeof(out->msisdn), "%s", msisdn);
    }
    if (impi) {
        if (!plain_identity(impi))
            return fail(err, 400, "invalid_value",
                        "impi must be 1 to 255 printable characters without spaces%s%s", "", NULL);
        snprintf(out->impi, sizeof(out->impi), "%s", impi);
    } else if (snprintf(out->impi, sizeof(out->impi), "%s@%s", imsi, domain) >=
               (int)sizeof(out->impi)) {
        return fail(err, 400, "invalid_value", "derived impi is too long%s%s", "", NULL);
    }
    json_t *impus = json_object_get(doc, "impus");
    if (impus && !json_is_null(impus)) {
        if ((rc = parse_impus(impus, out, err)))
            return rc;
    } else {
        /* SPEC §3: IMSI URI (barred when an MSISDN gives public identities), then
         * sip:MSISDN@domain and tel:MSISDN.
         * An MSISDN equal to the IMSI names the same SIP URI twice: it appears once, as
         * the public (not barred) identity it is. */
        bool same = out->msisdn[0] && strcmp(out->msisdn, imsi) == 0;
        snprintf(out->impus[0].uri, sizeof(out->impus[0].uri), "sip:%s@%s", imsi, domain);
        out->impus[0].barred = out->msisdn[0] != '\0' && !same;
        out->nimpus = 1;
        if (out->msisdn[0] && !same)
            snprintf(out->impus[out->nimpus++].uri, sizeof(out->impus[0].uri), "sip:%s@%s",
                     out->msisdn, domain);
        if (out->msisdn[0])
            snprintf(out->impus[out->nimpus++].uri, sizeof(out->impus[0].uri), "tel:%s",
                     out->msisdn);
    }
    json_t *auth = json_object_get(doc, "auth");
    if (!auth || json_is_null(auth))
        return fail(err, 400, "missing_field", "auth is required%s%s", "", NULL);
    return parse_auth(auth, out, err);
}

json_t *hss_impus_json(const hss_sub_t *s)
{
    json_t *a = json_array();
    for (size_t i = 0; i < s->nimpus; i++)
        json_array_append_new(
            a, json_pack("{s:s,s:b}", "uri", s->impus[i].uri, "barred", s->impus[i].barred));
    return a;
}

static void sqn_hex(uint64_t sqn, char out[13])
{
    uint8_t b[6];
    ims_sqn_to_bytes(sqn, b);
    ims_hex_encode(b, 6, out);
}

static json_t *base_json(const hss_sub_t *s)
{
    json_t *o = json_object();
    json_object_set_new(o, "imsi", json_string(s->imsi));
    if (s->msisdn[0])
        json_object_set_new(o, "msisdn", json_string(s->msisdn));
    json_object_set_new(o, "impi", json_string(s->impi));
    json_object_set_new(o, "impus", hss_impus_json(s));
    return o;
}

json_t *hss_sub_to_json(const hss_sub_t *s)
{
    json_t *o = base_json(s);
    if (s->scheme == HSS_DIGEST) {
        json_object_set_new(o, "auth", json_pack("{s:s}", "scheme", "digest"));
    } else {
        char amf[5], sqn[13];
        ims_hex_encode(s->amf, 2, amf);
        sqn_hex(s->sqn, sqn);
        json_object_set_new(o, "auth",
                            json_pack("{s:s,s:s,s:s,s:s}", "scheme", "aka", "amf", amf, "sqn", sqn,
                                      "algorithm", ims_aka_version_name(s->algorithm)));
    }
    json_t *reg;
    if (s->registered) {
        json_t *uris = json_array();
        for (size_t i = 0; i < s->nimpus; i++)
            json_array_append_new(uris, json_string(s->impus[i].uri));
        reg = json_pack("{s:s,s:s,s:o}", "state", "registered", "scscf", s->scscf, "impus", uris);
    } else {
        reg = json_pack("{s:s}", "state", "unregistered");
    }
    if (s->reg_updated > 0) {
        char ts[32];
        time_t t = (time_t)s->reg_updated;
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
        json_object_set_new(reg, "updated_at", json_string(ts));
    }
    json_object_set_new(o, "registration", reg);
    return o;
}

json_t *hss_sub_to_doc(const hss_sub_t *s)
{
    json_t *o = base_json(s);
    if (s->scheme == HSS_DIGEST) {
        json_object_set_new(o, "auth",
                            json_pack("{s:s,s:s}", "scheme", "digest", "password", s->password));
    } else {
        char k[33], opc[33], amf[5], sqn[13];
        ims_hex_encode(s->k, 16, k);
        ims_hex_encode(s->opc, 16, opc);
        ims_hex_encode(s->amf, 2, amf);
        sqn_hex(s->sqn, sqn);
        json_object_set_new(o, "auth",
                            json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "scheme", "aka", "k", k, "opc",
                                      opc, "amf", amf, "sqn", sqn, "algorithm",
                                      ims_aka_version_name(s->algorithm)));
        ims_secure_zero(k, sizeof(k));
        ims_secure_zero(opc, sizeof(opc));
    }
    return o;
}

json_t *hss_merge_patch(json_t *target, const json_t *patch)
{
    if (!json_is_object(patch)) {
        json_decref(target);
        return json_deep_copy(patch);
    }
    if (!json_is_object(target)) {
        json_decref(target);
        target = json_object();
    }
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)patch, key, v)
    {
        if (json_is_null(v)) {
            json_object_del(target, key);
        } else {
            json_t *cur = json_object_get(target, key);
            json_incref(cur);
            json_object_set_new(target, key, hss_merge_patch(cur, v));
        }
    }
    return target;
}
