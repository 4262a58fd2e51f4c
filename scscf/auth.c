/* The S-CSCF nonce store and credential checks: Digest MD5 (qop=auth) and IMS AKA
 * (AKAv1/AKAv2-MD5) against HSS material, with nonce lifetime and nc replay protection. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ims/aka.h"
#include "ims/digest.h"
#include "ims/map.h"
#include "ims/util.h"
#include "scscf.h"

struct scscf_nonce {
    char value[64]; /* the key of the store's map */
    char *impu;
    scscf_auth_material_t m;
    uint32_t last_nc;
    bool used_without_qop;
    bool answered; /* credentials came for it (the timeline's "never answered" check) */
    uint64_t created_ms, expires_ms;
};

/* Nonces by value, in creation order (the map's order), so purging and the cap drop the
 * oldest first without a walk. The map starts small and doubles with the count, so a large
 * --max-nonces costs nothing until the nonces exist (the fuzzer creates stores over and
 * over). */
struct scscf_auth {
    ims_map_t *nonces;
    size_t max;
    long ttl_s;
    char realm[256];
    scscf_auth_diag_t diag; /* of the last SCSCF_AUTH_FAILED */
};

static void nonce_free(void *p)
{
    scscf_nonce_t *n = p;
    free(n->impu);
    scscf_auth_material_clear(&n->m);
    free(n);
}

static const ims_map_type_t nonce_type = {ims_str_hash, ims_str_compare, NULL, NULL, nonce_free};

void scscf_auth_material_clear(scscf_auth_material_t *m)
{
    for (size_t i = 0; i < m->nimpus; i++)
        free(m->impus[i]);
    free(m->impus);
    free(m->barred);
    /* the vector and HA1s are secrets: do not leave them in freed memory */
    ims_secure_zero(m, sizeof(*m));
}

static int hexfield(json_t *o, const char *k, uint8_t *out, size_t len)
{
    const char *s = json_string_value(json_object_get(o, k));
    if (!s || strlen(s) != 2 * len)
        return EINVAL;
    return ims_hex_decode(s, out, len);
}

static int copy_str(json_t *o, const char *k, char *out, size_t cap, bool required)
{
    const char *s = json_string_value(json_object_get(o, k));
    if (!s)
        return required ? EINVAL : 0;
    if (strlen(s) >= cap)
        return EINVAL;
    strcpy(out, s);
    return 0;
}

int scscf_auth_material_parse(json_t *body, scscf_auth_material_t *m)
{
    memset(m, 0, sizeof(*m));
    const char *scheme = json_string_value(json_object_get(body, "scheme"));
    if (!scheme || copy_str(body, "impi", m->impi, sizeof(m->impi), true) ||
        copy_str(body, "imsi", m->imsi, sizeof(m->imsi), false))
        return EINVAL;
    if (strcmp(scheme, "digest") == 0) {
        json_t *ha1 = json_object_get(body, "ha1");
        m->scheme = SCSCF_SCHEME_DIGEST;
        if (copy_str(ha1, "impi", m->ha1_impi, sizeof(m->ha1_impi), true) ||
            copy_str(ha1, "user", m->ha1_user, sizeof(m->ha1_user), true) ||
            strlen(m->ha1_impi) != 32 || strlen(m->ha1_user) != 32)
            return EINVAL;
    } else if (strcmp(scheme, "aka") == 0) {
        const char *alg = json_string_value(json_object_get(body, "algorithm"));
        ims_aka_version_t v = IMS_AKA_V1;
        m->scheme = SCSCF_SCHEME_AKA;
        if (alg && ims_aka_version_parse(alg, &v))
            return EINVAL;
        m->aka_version = v;
        if (hexfield(body, "rand", m->rand, 16) || hexfield(body, "autn", m->autn, 16) ||
            hexfield(body, "xres", m->xres, 8) || hexfield(body, "ck", m->ck, 16) ||
            hexfield(body, "ik", m->ik, 16))
            return EINVAL;
    } else {
        return EINVAL;
    }
    json_t *impus = json_object_get(body, "impus");
    size_t n = json_array_size(impus);
    m->impus = calloc(n + 1, sizeof(char *));
    m->barred = calloc(n + 1, sizeof(bool));
    if (!m->impus || !m->barred)
        return ENOMEM;
    for (size_t i = 0; i < n; i++) {
        json_t *it = json_array_get(impus, i);
        const char *uri = json_string_value(json_object_get(it, "uri"));
        if (!uri || !(m->impus[i] = strdup(uri)))
            return EINVAL;
        m->barred[i] = json_is_true(json_object_get(it, "barred"));
        m->nimpus = i + 1;
    }
    return 0;
}

int scscf_auth_create(const char *realm, long ttl_s, scscf_auth_t **out)
{
    scscf_auth_t *a = calloc(1, sizeof(*a));
    if (!a)
        return ENOMEM;
    a->max = SCSCF_NONCE_MAX_DEFAULT;
    if (ims_map_create(&nonce_type, 0, &a->nonces)) {
        free(a);
        return ENOMEM;
    }
    a->ttl_s = ttl_s;
    snprintf(a->realm, sizeof(a->realm), "%s", realm);
    *out = a;
    return 0;
}

void scscf_auth_set_max(scscf_auth_t *a, size_t max)
{
    a->max = max ? max : 1;
}

void scscf_auth_free(scscf_auth_t *a)
{
    if (!a)
        return;
    ims_map_free(a->nonces);
    free(a);
}

static scscf_nonce_t *oldest(const scscf_auth_t *a)
{
    ims_map_entry_t *e = ims_map_oldest(a->nonces);
    return e ? ims_map_entry_val(e) : NULL;
}

static void nonce_drop(scscf_auth_t *a, scscf_nonce_t *n)
{
    ims_map_del(a->nonces, n->value);
}

/* Nonces are kept past expiry so that a late but correct answer gets stale=true rather
 * than a bare new challenge; they are dropped after twice their lifetime (or 60 s). */
void scscf_auth_purge(scscf_auth_t *a, int64_t now_ms)
{
    uint64_t keep = (uint64_t)(a->ttl_s > 60 ? a->ttl_s : 60) * 1000;
    for (scscf_nonce_t *n; (n = oldest(a)) && n->expires_ms + keep <= (uint64_t)now_ms;)
        nonce_drop(a, n);
}

bool scscf_auth_unanswered(const scscf_auth_t *a, const char *nonce)
{
    const scscf_nonce_t *n = nonce ? ims_map_get(a->nonces, nonce) : NULL;
    return n && !n->answered;
}

const scscf_auth_diag_t *scscf_auth_last_failure(const scscf_auth_t *a)
{
    return &a->diag;
}

/* Would the digest response match with the Request-URI of a REGISTER ("sip:realm")
 * rather than the uri the UE reported? Then the UE hashes one uri and sends another. */
static bool other_uri_matches(const scscf_auth_t *a, const char *ha1, const char *nonce,
                              const char *uri, const char *nc, const char *cnonce, const char *qop,
                              const char *response)
{
    char ruri[300], ha2[33], expect[33];
    snprintf(ruri, sizeof(ruri), "sip:%s", a->realm);
    if (!uri || strcmp(uri, ruri) == 0)
        return false;
    ims_digest_ha2("REGISTER", ruri, ha2);
    ims_digest_response(ha1, nonce, nc, cnonce, qop, ha2, expect);
    return ims_ct_streq(expect, response);
}

size_t scscf_auth_count(scscf_auth_t *a)
{
    return ims_map_count(a->nonces);
}

int scscf_auth_challenge(scscf_auth_t *a, const char *realm, const char *impu,
                         scscf_auth_material_t *m, bool stale, char *hdr, size_t hdrlen)
{
    scscf_nonce_t *n = calloc(1, sizeof(*n));
    if (!n || !(n->impu = strdup(impu))) {
        free(n);
        return ENOMEM;
    }
    if (m->scheme == SCSCF_SCHEME_AKA) {
        ims_aka_nonce(m->rand, m->autn, n->value);
    } else {
        uint8_t r[16];
        if (ims_random_bytes(r, sizeof(r))) {
            nonce_free(n);
            return EIO;
        }
        ims_hex_encode(r, sizeof(r), n->value);
    }
    /* A repeated RAND would be an HSS bug: refused (EEXIST), like running out of memory. */
    int rc = ims_map_add(a->nonces, n->value, n);
    if (rc) {
        nonce_free(n);
        return rc;
    }
    n->m = *m;
    ims_secure_zero(m, sizeof(*m)); /* ownership moved: no second copy of the secrets */
    n->created_ms = ims_now_ms();
    n->expires_ms = n->created_ms + (uint64_t)a->ttl_s * 1000;
    /* Bounded: every unauthenticated REGISTER makes a nonce kept for minutes, so a flood
     * would otherwise grow memory until the purge. The oldest goes first; a UE still
     * holding it just gets a fresh challenge. */
    for (scscf_nonce_t *o; ims_map_count(a->nonces) > a->max && (o = oldest(a)) != n;)
        nonce_drop(a, o);
    const char *alg = n->m.scheme == SCSCF_SCHEME_AKA
                          ? ims_aka_version_name((ims_aka_version_t)n->m.aka_version)
                          : "MD5";
    snprintf(hdr, hdrlen, "Digest realm=\"%s\", nonce=\"%s\", algorithm=%s, qop=\"auth\"%s", realm,
             n->value, alg, stale ? ", stale=true" : "");
    return 0;
}

static bool user_part_eq(const char *impi, const char *username)
{
    const char *at = strchr(impi, '@');
    size_t len = at ? (size_t)(at - impi) : strlen(impi);
    return strlen(username) == len && strncmp(impi, username, len) == 0;
}

scscf_auth_result_t scscf_auth_check(scscf_auth_t *a, const char *method, const char *impu,
                                     const char *username, const char *nonce, const char *uri,
                                     const char *nc, const char *cnonce, const char *qop,
                                     const char *response, const char *auts,
                                     const scscf_auth_material_t **m_out, uint8_t rand[16])
{
    scscf_nonce_t *n = nonce ? ims_map_get(a->nonces, nonce) : NULL;
    if (!n)
        return SCSCF_AUTH_UNKNOWN_NONCE;
    scscf_auth_material_t *m = &n->m;
    n->answered = true;
    bool impu_ok = ims_impu_equal(n->impu, impu);
    for (size_t i = 0; !impu_ok && i < m->nimpus; i++)
        impu_ok = ims_impu_equal(m->impus[i], impu);
    bool is_impi = strcmp(username, m->impi) == 0;
    bool is_user = user_part_eq(m->impi, username) || (m->imsi[0] && !strcmp(m->imsi, username));
    if (!impu_ok || (!is_impi && !is_user))
        return SCSCF_AUTH_MISMATCH;
    if (auts) {
        a->diag = (scscf_auth_diag_t){.scheme = m->scheme};
        if (m->scheme != SCSCF_SCHEME_AKA)
            return SCSCF_AUTH_FAILED;
        memcpy(rand, m->rand, 16);
        nonce_drop(a, n);
        return SCSCF_AUTH_RESYNC;
    }
    char ha1[33], ha2[33], expect[33];
    if (m->scheme == SCSCF_SCHEME_DIGEST) {
        memcpy(ha1, is_impi ? m->ha1_impi : m->ha1_user, 33);
    } else {
        uint8_t pw[32];
        size_t pwlen = 0;
        if (ims_aka_password((ims_aka_version_t)m->aka_version, m->xres, m->ik, m->ck, pw, &pwlen))
            return SCSCF_AUTH_FAILED;
        /* the caller has checked that the Authorization realm is our domain */
        ims_digest_ha1_bin(username, a->realm, pw, pwlen, ha1);
        ims_secure_zero(pw, sizeof(pw));
    }
    bool with_qop = qop && *qop;
    ims_digest_ha2(method, uri, ha2);
    ims_digest_response(ha1, n->value, with_qop ? nc : NULL, with_qop ? cnonce : NULL,
                        with_qop ? qop : NULL, ha2, expect);
    if (!ims_ct_streq(expect, response)) {
        a->diag = (scscf_auth_diag_t){
            .scheme = m->scheme,
            .uri_mismatch =
                m->scheme == SCSCF_SCHEME_DIGEST &&
                other_uri_matches(a, ha1, n->value, uri, with_qop ? nc : NULL,
                                  with_qop ? cnonce : NULL, with_qop ? qop : NULL, response)};
        ims_secure_zero(ha1, sizeof(ha1));
        nonce_drop(a, n);
        return SCSCF_AUTH_FAILED;
    }
    ims_secure_zero(ha1, sizeof(ha1));
    if (ims_now_ms() >= n->expires_ms) {
        nonce_drop(a, n);
        return SCSCF_AUTH_STALE;
    }
    if (with_qop) {
        uint32_t v;
        if (ims_digest_nc_parse(nc, &v) || v <= n->last_nc)
            return SCSCF_AUTH_REPLAY;
        n->last_nc = v;
    } else {
        if (n->used_without_qop)
            return SCSCF_AUTH_REPLAY;
        n->used_without_qop = true;
    }
    if (m_out)
        *m_out = m;
    return SCSCF_AUTH_OK;
}
