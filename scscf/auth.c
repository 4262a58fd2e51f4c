/* The S-CSCF nonce store and credential checks: Digest MD5 (qop=auth) and IMS AKA
 * (AKAv1/AKAv2-MD5) against HSS material, with nonce lifetime and nc replay protection. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ims/aka.h"
#include "ims/digest.h"
#include "ims/util.h"
#include "scscf.h"

/* The hash table starts small and doubles with the count, so a large --max-nonces costs
 * nothing until the nonces exist (the fuzzer creates stores over and over). */
#define NONCE_SLOTS_MIN 1024

struct scscf_nonce {
    struct scscf_nonce *hnext;         /* hash chain */
    struct scscf_nonce *fprev, *fnext; /* creation order, for purging */
    char value[64];
    char *impu;
    scscf_auth_material_t m;
    uint32_t last_nc;
    bool used_without_qop;
    uint64_t created_ms, expires_ms;
};

struct scscf_auth {
    scscf_nonce_t **slots;
    size_t nslots, count;
    scscf_nonce_t *head, *tail;
    size_t max;
    long ttl_s;
    char realm[256];
};

static uint64_t hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

void scscf_auth_material_clear(scscf_auth_material_t *m)
{
    for (size_t i = 0; i < m->nimpus; i++)
        free(m->impus[i]);
    free(m->impus);
    free(m->barred);
    /* the vector and HA1s are secrets: do not leave them in freed memory */
    memset(m, 0, sizeof(*m));
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
    a->nslots = NONCE_SLOTS_MIN;
    a->max = SCSCF_NONCE_MAX_DEFAULT;
    a->slots = calloc(a->nslots, sizeof(*a->slots));
    if (!a->slots) {
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

/* Doubles the table when it holds more nonces than slots; on failure the chains just get
 * longer, which is slower but still right. */
static void table_grow(scscf_auth_t *a)
{
    size_t n = a->nslots * 2;
    scscf_nonce_t **s = calloc(n, sizeof(*s));
    if (!s)
        return;
    for (scscf_nonce_t *e = a->head; e; e = e->fnext) {
        size_t j = hash(e->value) & (n - 1);
        e->hnext = s[j];
        s[j] = e;
    }
    free(a->slots);
    a->slots = s;
    a->nslots = n;
}

static void nonce_free(scscf_nonce_t *n)
{
    free(n->impu);
    scscf_auth_material_clear(&n->m);
    free(n);
}

static void nonce_unlink(scscf_auth_t *a, scscf_nonce_t *n)
{
    scscf_nonce_t **pp = &a->slots[hash(n->value) & (a->nslots - 1)];
    for (; *pp; pp = &(*pp)->hnext) {
        if (*pp == n) {
            *pp = n->hnext;
            break;
        }
    }
    if (n->fprev)
        n->fprev->fnext = n->fnext;
    else
        a->head = n->fnext;
    if (n->fnext)
        n->fnext->fprev = n->fprev;
    else
        a->tail = n->fprev;
    a->count--;
    nonce_free(n);
}

void scscf_auth_free(scscf_auth_t *a)
{
    if (!a)
        return;
    while (a->head)
        nonce_unlink(a, a->head);
    free(a->slots);
    free(a);
}

static scscf_nonce_t *nonce_find(scscf_auth_t *a, const char *value)
{
    for (scscf_nonce_t *n = a->slots[hash(value) & (a->nslots - 1)]; n; n = n->hnext)
        if (strcmp(n->value, value) == 0)
            return n;
    return NULL;
}

/* Nonces are kept past expiry so that a late but correct answer gets stale=true rather
 * than a bare new challenge; they are dropped after twice their lifetime (or 60 s). */
void scscf_auth_purge(scscf_auth_t *a, int64_t now_ms)
{
    uint64_t keep = (uint64_t)(a->ttl_s > 60 ? a->ttl_s : 60) * 1000;
    while (a->head && a->head->expires_ms + keep <= (uint64_t)now_ms)
        nonce_unlink(a, a->head);
}

size_t scscf_auth_count(scscf_auth_t *a)
{
    return a->count;
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
    if (nonce_find(a, n->value)) { /* a repeated RAND would be an HSS bug; refuse it */
        nonce_free(n);
        return EEXIST;
    }
    n->m = *m;
    memset(m, 0, sizeof(*m)); /* ownership moved */
    if (a->count >= a->nslots)
        table_grow(a);
    n->created_ms = ims_now_ms();
    n->expires_ms = n->created_ms + (uint64_t)a->ttl_s * 1000;
    size_t j = hash(n->value) & (a->nslots - 1);
    n->hnext = a->slots[j];
    a->slots[j] = n;
    n->fprev = a->tail;
    if (a->tail)
        a->tail->fnext = n;
    else
        a->head = n;
    a->tail = n;
    a->count++;
    /* Bounded: every unauthenticated REGISTER makes a nonce kept for minutes, so a flood
     * would otherwise grow memory until the purge. The oldest goes first; a UE still
     * holding it just gets a fresh challenge. */
    while (a->count > a->max && a->head != n)
        nonce_unlink(a, a->head);
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
    scscf_nonce_t *n = nonce ? nonce_find(a, nonce) : NULL;
    if (!n)
        return SCSCF_AUTH_UNKNOWN_NONCE;
    scscf_auth_material_t *m = &n->m;
    bool impu_ok = strcmp(n->impu, impu) == 0;
    for (size_t i = 0; !impu_ok && i < m->nimpus; i++)
        impu_ok = strcmp(m->impus[i], impu) == 0;
    bool is_impi = strcmp(username, m->impi) == 0;
    bool is_user = user_part_eq(m->impi, username) || (m->imsi[0] && !strcmp(m->imsi, username));
    if (!impu_ok || (!is_impi && !is_user))
        return SCSCF_AUTH_MISMATCH;
    if (auts) {
        if (m->scheme != SCSCF_SCHEME_AKA)
            return SCSCF_AUTH_FAILED;
        memcpy(rand, m->rand, 16);
        nonce_unlink(a, n);
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
        memset(pw, 0, sizeof(pw));
    }
    bool with_qop = qop && *qop;
    ims_digest_ha2(method, uri, ha2);
    ims_digest_response(ha1, n->value, with_qop ? nc : NULL, with_qop ? cnonce : NULL,
                        with_qop ? qop : NULL, ha2, expect);
    memset(ha1, 0, sizeof(ha1));
    if (!ims_ct_streq(expect, response)) {
        nonce_unlink(a, n);
        return SCSCF_AUTH_FAILED;
    }
    if (ims_now_ms() >= n->expires_ms) {
        nonce_unlink(a, n);
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
