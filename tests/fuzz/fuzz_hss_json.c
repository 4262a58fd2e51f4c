/* libFuzzer target for the hss-stub subscriber validation (hss_sub_from_json) and the
 * RFC 7396 merge patch (hss_merge_patch): no crash, secrets never echoed, stable round trip. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hss.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define DOMAIN "ims.mnc011.mcc432.3gppnetwork.org"

/* The two stored documents a PATCH is applied to (as the PATCH handler does). */
static const char *const bases[] = {
    "{\"imsi\":\"432011123456791\",\"msisdn\":\"98098765432100\","
    "\"auth\":{\"scheme\":\"digest\",\"password\":\"1234\"}}",
    "{\"imsi\":\"432011000000001\",\"auth\":{\"scheme\":\"aka\","
    "\"k\":\"494d536c61624b657930313233343536\",\"op\":\"494d536c61624f7056616c7565373839\","
    "\"amf\":\"4142\",\"sqn\":\"0000000000ff\",\"algorithm\":\"AKAv2-MD5\"}}",
};

static void check_err(const hss_err_t *e, const char *password)
{
    if (e->status != 400 && e->status != 409 && e->status != 500)
        abort();
    if (strnlen(e->code, sizeof(e->code)) == sizeof(e->code) || e->code[0] == '\0')
        abort();
    if (strnlen(e->message, sizeof(e->message)) == sizeof(e->message) || e->message[0] == '\0')
        abort();
    /* A long enough password that shows up in the message was echoed, not guessed. */
    if (password && strlen(password) >= 6 && strstr(e->message, password))
        abort();
}

/* The public view must not carry any secret; the stored doc must validate back to the
 * same record (what PUT/PATCH rely on). */
static void check_record(const hss_sub_t *s)
{
    json_t *view = hss_sub_to_json(s);
    if (!view)
        abort();
    json_t *auth = json_object_get(view, "auth");
    if (!auth || json_object_get(auth, "password") || json_object_get(auth, "k") ||
        json_object_get(auth, "opc") || json_object_get(auth, "op"))
        abort();
    json_decref(view);

    json_t *doc = hss_sub_to_doc(s);
    hss_sub_t *again = calloc(1, sizeof(*again));
    hss_err_t err;
    if (!doc || !again || hss_sub_from_json(doc, DOMAIN, again, &err) != 0)
        abort();
    if (strcmp(again->imsi, s->imsi) || strcmp(again->impi, s->impi) ||
        strcmp(again->msisdn, s->msisdn) || again->nimpus != s->nimpus ||
        again->scheme != s->scheme || again->sqn != s->sqn ||
        memcmp(again->k, s->k, sizeof(s->k)) || memcmp(again->opc, s->opc, sizeof(s->opc)) ||
        strcmp(again->password, s->password))
        abort();
    for (size_t i = 0; i < s->nimpus; i++)
        if (strcmp(again->impus[i].uri, s->impus[i].uri) ||
            again->impus[i].barred != s->impus[i].barred)
            abort();
    hss_sub_clear(again);
    free(again);
    json_decref(doc);
}

/* The doc's password when no other part of the doc contains it (an error may quote a bad
 * scheme or IMSI, and that text is no secret even if the fuzzer made it match). */
static char pwbuf[HSS_PASSWORD_MAX * 4 + 1];
static const char *echo_free_password(const json_t *doc)
{
    json_t *auth = json_is_object(doc) ? json_object_get(doc, "auth") : NULL;
    json_t *pw = json_is_object(auth) ? json_object_get(auth, "password") : NULL;
    if (!json_is_string(pw) || json_string_length(pw) >= sizeof(pwbuf))
        return NULL;
    snprintf(pwbuf, sizeof(pwbuf), "%s", json_string_value(pw));
    json_t *copy = json_deep_copy(doc);
    json_object_set_new(json_object_get(copy, "auth"), "password", json_string(""));
    char *rest = json_dumps(copy, 0);
    bool elsewhere = !rest || strstr(rest, pwbuf) != NULL;
    free(rest);
    json_decref(copy);
    return elsewhere ? NULL : pwbuf;
}

static void validate(const json_t *doc)
{
    hss_sub_t *s = calloc(1, sizeof(*s));
    if (!s)
        return;
    hss_err_t err;
    memset(&err, 0, sizeof(err));
    int rc = hss_sub_from_json(doc, DOMAIN, s, &err);
    if (rc == 0) {
        if (s->nimpus == 0 || s->nimpus > HSS_IMPUS_MAX)
            abort();
        check_record(s);
    } else {
        check_err(&err, echo_free_password(doc));
    }
    hss_sub_clear(s);
    free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_error_t jerr;
    json_t *in = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, &jerr);
    if (!in)
        return 0;
    validate(in);
    for (size_t i = 0; i < sizeof(bases) / sizeof(bases[0]); i++) {
        json_t *base = json_loads(bases[i], 0, NULL);
        json_t *merged = hss_merge_patch(base, in);
        if (!merged)
            abort();
        /* RFC 7396 merge patches are idempotent. */
        json_t *twice = hss_merge_patch(json_deep_copy(merged), in);
        if (!json_equal(merged, twice))
            abort();
        json_decref(twice);
        validate(merged);
        json_decref(merged);
    }
    json_decref(in);
    return 0;
}
