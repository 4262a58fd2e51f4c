/* The Cx stand-in of docs/cx-api.md: MAR (digest HA1s / AKA vectors with persisted SQN
 * and AUTS resync), SAR (registration state) and the users look-up; routed by router.c. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "api.h"
#include "ims/aka.h"
#include "ims/log.h"
#include "ims/util.h"

/* Optional string member: absent, null and "" all mean "not given" (the S-CSCF sends
 * "" for an identity it does not have); a present non-string is reported. */
static bool opt_str(json_t *o, const char *key, const char **out, ims_http_resp_t *resp)
{
    json_t *v = json_object_get(o, key);
    *out = NULL;
    if (!v || json_is_null(v) || (json_is_string(v) && json_string_length(v) == 0))
        return true;
    if (!json_is_string(v) || json_string_length(v) > HSS_URI_MAX ||
        strlen(json_string_value(v)) != json_string_length(v)) {
        ims_http_resp_error(resp, 400, "bad_request",
                            "\"%s\" must be a string of at most 255 bytes", key);
        return false;
    }
    *out = json_string_value(v);
    return true;
}

static void storage_error(ims_http_resp_t *resp)
{
    hss_http_500(resp, "the subscriber store failed");
}

/* Finds the subscriber for username and/or impu as docs/cx-api.md says; answers the
 * error itself and returns false when there is none. */
static bool resolve(hss_ctx_t *ctx, const char *username, const char *impu,
                    char imsi[HSS_IMSI_MAX + 1], ims_http_resp_t *resp)
{
    char by_impu[HSS_IMSI_MAX + 1];
    int rc;
    if (username) {
        rc = hss_db_find_user(ctx->db, username, imsi);
        if (rc == ENOENT) {
            ims_http_resp_error(resp, 404, "user_unknown", "no subscriber with username %s",
                                username);
            return false;
        }
        if (rc) {
            storage_error(resp);
            return false;
        }
        if (!impu)
            return true;
    }
    rc = hss_db_find_impu(ctx->db, impu, by_impu);
    if (rc == ENOENT) {
        ims_http_resp_error(resp, 404, "user_unknown", "no subscriber holds the IMPU %s", impu);
        return false;
    }
    if (rc) {
        storage_error(resp);
        return false;
    }
    if (username && strcmp(by_impu, imsi) != 0) {
        ims_http_resp_error(resp, 403, "identity_mismatch",
                            "username %s and IMPU %s belong to different subscribers", username,
                            impu);
        return false;
    }
    if (!username)
        memcpy(imsi, by_impu, sizeof(by_impu));
    return true;
}

static json_t *identity_json(const hss_sub_t *s)
{
    return json_pack("{s:s,s:s,s:s,s:o}", "imsi", s->imsi, "impi", s->impi, "scheme",
                     s->scheme == HSS_AKA ? "aka" : "digest", "impus", hss_impus_json(s));
}

static hss_sub_t *load(hss_ctx_t *ctx, const char *imsi, ims_http_resp_t *resp)
{
    hss_sub_t *s = malloc(sizeof(*s));
    int rc = s ? hss_db_get(ctx->db, imsi, s) : ENOMEM;
    if (rc == 0)
        return s;
    if (rc == ENOENT) /* deleted between look-up and read */
        ims_http_resp_error(resp, 404, "user_unknown", "no subscriber with IMSI %s", imsi);
    else
        storage_error(resp);
    free(s);
    return NULL;
}

static void release(hss_sub_t *s)
{
    if (s) {
        hss_sub_clear(s);
        free(s);
    }
}

/* Parses "resync": {"rand", "auts"}; true when absent or valid. */
static bool parse_resync(json_t *body, bool *present, uint8_t rand[16], uint8_t auts[14],
                         ims_http_resp_t *resp)
{
    json_t *r = json_object_get(body, "resync");
    *present = r && !json_is_null(r);
    if (!*present)
        return true;
    const char *hr = json_string_value(json_object_get(r, "rand"));
    const char *ha = json_string_value(json_object_get(r, "auts"));
    if (!json_is_object(r) || !hr || !ha || strlen(hr) != 32 || strlen(ha) != 28 ||
        ims_hex_decode(hr, rand, 16) || ims_hex_decode(ha, auts, 14)) {
        ims_http_resp_error(resp, 400, "bad_request",
                            "resync must be {\"rand\": 32 hex digits, \"auts\": 28 hex digits}");
        return false;
    }
    return true;
}

/* One line past 80: the MAR reads top to bottom as the Cx exchange (parse, resolve, resync,
 * vector, answer); splitting the answer from the resync would pass five values around. */
void hss_cx_mar(hss_ctx_t *ctx, const char *tail, const ims_http_req_t *req, ims_http_resp_t *resp)
{
    json_t *body = hss_http_parse_body(req, resp, false);
    if (!body)
        return;
    const char *impu, *username, *realm;
    char imsi[HSS_IMSI_MAX + 1];
    uint8_t rand[16], auts[14], sqn_ms[6];
    bool resync;
    hss_sub_t *s = NULL;
    if (!opt_str(body, "impu", &impu, resp) || !opt_str(body, "username", &username, resp) ||
        !opt_str(body, "realm", &realm, resp) || !parse_resync(body, &resync, rand, auts, resp))
        goto out;
    if (!impu) {
        ims_http_resp_error(resp, 400, "bad_request", "\"impu\" is required");
        goto out;
    }
    if (!realm)
        realm = ctx->domain;
    if (!resolve(ctx, username, impu, imsi, resp) || !(s = load(ctx, imsi, resp)))
        goto out;
    json_t *ans = identity_json(s);
    if (s->scheme == HSS_DIGEST) {
        if (resync) {
            json_decref(ans);
            ims_http_resp_error(resp, 409, "wrong_scheme",
                                "subscriber %s uses digest; resync applies to AKA only", imsi);
            goto out;
        }
        hss_vector_digest(s, realm, ans);
        ims_http_resp_json(resp, 200, ans);
        goto out;
    }
    if (json_is_true(json_object_get(body, "sqn_out_of_sync"))) {
        /* Fault injection (S-CSCF rule sqn_out_of_sync): SQN 0 is never above the USIM's
         * SQN_MS, so the UE must answer with AUTS. Nothing is committed. */
        if (resync || hss_vector_aka(s, 0, ans) != 0) {
            json_decref(ans);
            ims_http_resp_error(resp, 400, "bad_request",
                                "sqn_out_of_sync cannot be combined with resync");
            goto out;
        }
        json_object_set_new(ans, "sqn_out_of_sync", json_true());
        ims_http_resp_json(resp, 200, ans);
        goto out;
    }
    uint64_t base = 0, sqn;
    if (resync) {
        if (ims_aka_auts_verify(s->k, s->opc, rand, auts, sqn_ms) != 0) {
            json_decref(ans);
            IMS_WARN("cx mar: AUTS of %s does not verify (MAC-S mismatch)", imsi);
            ims_http_resp_error(resp, 403, "resync_failed",
                                "AUTS does not verify for subscriber %s (MAC-S mismatch)", imsi);
            goto out;
        }
        base = ims_sqn_from_bytes(sqn_ms);
        IMS_DEBUG("cx mar: %s resynchronised, SQN_MS %llu", imsi, (unsigned long long)base);
    }
    /* The SQN is committed before the vector leaves: a crash never hands out the same
     * SQN twice. */
    int rc = hss_db_advance_sqn(ctx->db, imsi, resync ? &base : NULL, &sqn);
    if (rc || hss_vector_aka(s, sqn, ans) != 0) {
        json_decref(ans);
        storage_error(resp);
        goto out;
    }
    if (resync) {
        /* What the S-CSCF shows a tester: the HSS's SQN before and the USIM's. */
        char before[13], ms[13];
        uint8_t b[6];
        ims_sqn_to_bytes(s->sqn, b);
        ims_hex_encode(b, 6, before);
        ims_hex_encode(sqn_ms, 6, ms);
        json_object_set_new(ans, "resync",
                            json_pack("{s:s, s:s}", "sqn_before", before, "sqn_ms", ms));
    }
    ims_http_resp_json(resp, 200, ans);
out:
    release(s);
    json_decref(body);
}

void hss_cx_sar(hss_ctx_t *ctx, const char *tail, const ims_http_req_t *req, ims_http_resp_t *resp)
{
    json_t *body = hss_http_parse_body(req, resp, false);
    if (!body)
        return;
    const char *impi, *impu, *state, *scscf;
    char imsi[HSS_IMSI_MAX + 1];
    if (!opt_str(body, "impi", &impi, resp) || !opt_str(body, "impu", &impu, resp) ||
        !opt_str(body, "state", &state, resp) || !opt_str(body, "scscf", &scscf, resp))
        goto out;
    if (!impi && !impu) {
        ims_http_resp_error(resp, 400, "bad_request", "\"impi\" or \"impu\" is required");
        goto out;
    }
    if (!state || (strcmp(state, "registered") != 0 && strcmp(state, "unregistered") != 0)) {
        ims_http_resp_error(resp, 400, "bad_request",
                            "\"state\" must be \"registered\" or \"unregistered\"");
        goto out;
    }
    bool reg = strcmp(state, "registered") == 0;
    if (reg && (!scscf || !hss_valid_uri(scscf))) {
        ims_http_resp_error(resp, 400, "bad_request",
                            "\"scscf\" (a sip: URI) is required for state registered");
        goto out;
    }
    if (!resolve(ctx, impi, impu, imsi, resp))
        goto out;
    int rc = hss_db_set_registration(ctx->db, imsi, reg, scscf);
    if (rc == ENOENT)
        ims_http_resp_error(resp, 404, "user_unknown", "no subscriber with IMSI %s", imsi);
    else if (rc)
        storage_error(resp);
    else {
        IMS_DEBUG("cx sar: %s %s", imsi, state);
        ims_http_resp_json(resp, 200, json_pack("{s:s,s:s}", "imsi", imsi, "state", state));
    }
out:
    json_decref(body);
}

void hss_cx_users(hss_ctx_t *ctx, const char *tail, const ims_http_req_t *req,
                  ims_http_resp_t *resp)
{
    const char *username = ims_http_req_arg(req, "username");
    const char *impu = ims_http_req_arg(req, "impu");
    char imsi[HSS_IMSI_MAX + 1];
    if ((!username || !*username) && (!impu || !*impu)) {
        ims_http_resp_error(resp, 400, "bad_request", "give ?username= or ?impu=");
        return;
    }
    if (username && !*username)
        username = NULL;
    if (impu && !*impu)
        impu = NULL;
    hss_sub_t *s;
    if (!resolve(ctx, username, impu, imsi, resp) || !(s = load(ctx, imsi, resp)))
        return;
    ims_http_resp_json(resp, 200, identity_json(s));
    release(s);
}
