/* The provisioning API of SPEC §3: subscribers CRUD, bulk import, merge patch and IMPU
 * look-up. router.c has already checked path, method and media type. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "ims/log.h"
#include "ims/util.h"

#define SUBSCRIBERS "/api/v1/subscribers"

static void not_found_imsi(ims_http_resp_t *resp, const char *imsi)
{
    /* The IMSI came from the URL: keep it out of the message when it is not one. */
    if (hss_valid_imsi(imsi))
        ims_http_resp_error(resp, 404, "not_found", "no subscriber with IMSI %s", imsi);
    else
        ims_http_resp_error(resp, 404, "not_found", "no subscriber with that IMSI");
}

/* ---- POST /subscribers ---- */

typedef struct insert_ctx {
    const json_t *items; /* array, or the single object */
    bool bulk;
    const char *domain;
    /* bulk: the answer's items as JSON text, appended as records are validated; text
     * rather than a json_t tree because 100k view trees cost more than the import. */
    char *views;
    size_t views_len, views_cap;
    bool oom;
    json_t *single; /* single create: the view of the record as stored */
} insert_ctx_t;

/* Appends text to the answer buffer; a failed allocation is remembered, not fatal. */
static void append_raw(insert_ctx_t *c, const char *t)
{
    size_t n = strlen(t);
    if (c->oom)
        return;
    if (c->views_len + n + 1 > c->views_cap) {
        size_t cap = c->views_cap ? c->views_cap * 2 : 4096;
        while (cap < c->views_len + n + 1)
            cap *= 2;
        char *b = realloc(c->views, cap);
        if (!b) {
            c->oom = true;
            return;
        }
        c->views = b;
        c->views_cap = cap;
    }
    memcpy(c->views + c->views_len, t, n + 1);
    c->views_len += n;
}

static void append_view(insert_ctx_t *c, size_t i, json_t *view)
{
    char *t = json_dumps(view, JSON_COMPACT);
    json_decref(view);
    if (!t) {
        c->oom = true;
        return;
    }
    if (i > 0)
        append_raw(c, ",");
    append_raw(c, t);
    free(t);
}

static int next_record(void *arg, size_t i, hss_sub_t *out, hss_err_t *err)
{
    insert_ctx_t *c = arg;
    const json_t *doc = c->bulk ? json_array_get(c->items, i) : c->items;
    int rc = hss_sub_from_json(doc, c->domain, out, err);
    if (rc) {
        if (c->bulk) {
            char msg[sizeof(err->message)];
            memcpy(msg, err->message, sizeof(msg));
            int k = snprintf(err->message, sizeof(err->message), "item %zu: ", i);
            if (k > 0 && (size_t)k < sizeof(err->message))
                memcpy(err->message + k, msg, strnlen(msg, sizeof(msg) - 1 - (size_t)k) + 1);
            err->message[sizeof(err->message) - 1] = '\0';
        }
        return rc;
    }
    if (c->bulk)
        append_view(c, i, hss_sub_to_json(out));
    else
        c->single = hss_sub_to_json(out); /* a new subscriber is never registered */
    return 0;
}

/* Which item failed: the message starts with "item N: " for bulk errors. */
static long failed_index(const hss_err_t *err)
{
    long i;
    return sscanf(err->message, "item %ld:", &i) == 1 ? i : -1;
}

/* Per-record events are at debug: at info the server logs exactly one line per request. */
void hss_rest_create(hss_ctx_t *ctx, const char *tail, const ims_http_req_t *req,
                     ims_http_resp_t *resp)
{
    json_t *doc = hss_http_parse_body(req, resp, true);
    if (!doc)
        return;
    insert_ctx_t c = {.items = doc, .bulk = json_is_array(doc), .domain = ctx->domain};
    if (c.bulk)
        append_raw(&c, "{\"items\":[");
    size_t n = c.bulk ? json_array_size(doc) : 1;
    hss_err_t err;
    uint64_t t0 = ims_now_ms();
    int rc = hss_db_insert(ctx->db, n, next_record, &c, c.bulk, &err);
    if (rc) {
        hss_http_err(resp, &err, c.bulk ? failed_index(&err) : -1);
    } else if (c.bulk) {
        IMS_DEBUG("bulk import: %zu subscribers stored in %llu ms", n,
                  (unsigned long long)(ims_now_ms() - t0));
        char tail[48];
        snprintf(tail, sizeof(tail), "],\"total\":%zu}", n);
        append_raw(&c, tail);
        if (!c.oom) {
            ims_http_resp_text(resp, 201, "application/json", c.views);
        } else {
            /* Stored and committed: say so even when the echo cannot be built. */
            ims_http_resp_json(resp, 201, json_pack("{s:[],s:I}", "items", "total", (json_int_t)n));
        }
    } else {
        const char *imsi = json_string_value(json_object_get(c.single, "imsi"));
        char loc[64];
        snprintf(loc, sizeof(loc), SUBSCRIBERS "/%s", imsi);
        IMS_DEBUG("subscriber %s created", imsi);
        ims_http_resp_header(resp, "Location", loc);
        ims_http_resp_json(resp, 201, c.single);
        c.single = NULL;
    }
    free(c.views);
    json_decref(c.single);
    json_decref(doc);
}

/* ---- GET /subscribers ---- */

static bool query_long(const ims_http_req_t *req, const char *name, long def, long max, long *out,
                       ims_http_resp_t *resp)
{
    const char *v = ims_http_req_arg(req, name);
    *out = def;
    if (!v || !*v) /* "?limit=&offset=" as written in SPEC §3 means the defaults */
        return true;
    size_t n = strlen(v);
    bool ok = n <= 10;
    for (size_t i = 0; ok && i < n; i++)
        ok = isdigit((unsigned char)v[i]);
    if (ok)
        *out = strtol(v, NULL, 10);
    if (!ok || *out > max) {
        ims_http_resp_error(resp, 400, "invalid_query", "%s must be an integer from 0 to %ld", name,
                            max);
        return false;
    }
    return true;
}

static void list_item(void *arr, const hss_sub_t *s)
{
    json_array_append_new(arr, hss_sub_to_json(s));
}

void hss_rest_list(hss_ctx_t *ctx, const char *tail, const ims_http_req_t *req,
                   ims_http_resp_t *resp)
{
    long limit, offset, total;
    if (!query_long(req, "limit", HSS_LIST_DEFAULT, HSS_LIST_MAX, &limit, resp) ||
        !query_long(req, "offset", 0, 2147483647L, &offset, resp))
        return;
    const char *prefix = ims_http_req_arg(req, "imsi_prefix");
    if (prefix &&
        (strlen(prefix) > HSS_IMSI_MAX || strspn(prefix, "0123456789") != strlen(prefix))) {
        ims_http_resp_error(resp, 400, "invalid_query", "imsi_prefix must be up to %d digits",
                            HSS_IMSI_MAX);
        return;
    }
    json_t *arr = json_array();
    if (hss_db_list(ctx->db, prefix, limit, offset, list_item, arr, &total) != 0) {
        json_decref(arr);
        hss_http_500(resp, "cannot read the subscribers");
        return;
    }
    ims_http_resp_json(resp, 200, json_pack("{s:o,s:I}", "items", arr, "total", (json_int_t)total));
}

/* ---- /subscribers/{imsi} ---- */

static void answer_record(hss_ctx_t *ctx, const char *imsi, int status, ims_http_resp_t *resp)
{
    hss_sub_t *s = malloc(sizeof(*s));
    int rc = s ? hss_db_get(ctx->db, imsi, s) : ENOMEM;
    if (rc == 0)
        ims_http_resp_json(resp, status, hss_sub_to_json(s));
    else if (rc == ENOENT)
        not_found_imsi(resp, imsi);
    else
        hss_http_500(resp, "cannot read the subscriber");
    if (s)
        hss_sub_clear(s);
    free(s);
}

/* Validates doc as the new full record for imsi and stores it. */
static void store_replacement(hss_ctx_t *ctx, const char *imsi, const json_t *doc,
                              ims_http_resp_t *resp)
{
    hss_sub_t *s = malloc(sizeof(*s));
    hss_err_t err;
    if (!s) {
        hss_http_500(resp, "out of memory; nothing was changed");
        return;
    }
    int rc = hss_sub_from_json(doc, ctx->domain, s, &err);
    if (rc == 0)
        rc = hss_db_replace(ctx->db, s, &err);
    hss_sub_clear(s);
    free(s);
    if (rc) {
        hss_http_err(resp, &err, -1);
        return;
    }
    IMS_DEBUG("subscriber %s updated", imsi);
    answer_record(ctx, imsi, 200, resp);
}

static bool body_imsi_matches(json_t *doc, const char *imsi, ims_http_resp_t *resp)
{
    json_t *v = json_object_get(doc, "imsi");
    if (v && !json_is_null(v) && !(json_is_string(v) && strcmp(json_string_value(v), imsi) == 0)) {
        ims_http_resp_error(resp, 400, "imsi_mismatch",
                            "the IMSI in the body must match the one in the URL (%s); the IMSI "
                            "of a subscriber cannot change",
                            imsi);
        return false;
    }
    return true;
}

void hss_rest_replace(hss_ctx_t *ctx, const char *imsi, const ims_http_req_t *req,
                      ims_http_resp_t *resp)
{
    json_t *doc = hss_http_parse_body(req, resp, false);
    if (!doc)
        return;
    if (body_imsi_matches(doc, imsi, resp)) {
        json_object_set_new(doc, "imsi", json_string(imsi));
        store_replacement(ctx, imsi, doc, resp);
    }
    json_decref(doc);
}

/* RFC 7396 over the stored document, with two rules that keep secrets consistent: a
 * patch that switches the scheme starts from an empty auth (so it must carry the new
 * secrets), and a new op replaces the stored opc (and a new k needs one of them). */
void hss_rest_patch(hss_ctx_t *ctx, const char *imsi, const ims_http_req_t *req,
                    ims_http_resp_t *resp)
{
    json_t *p = hss_http_parse_body(req, resp, false);
    if (!p)
        return;
    hss_sub_t *cur = malloc(sizeof(*cur));
    json_t *doc = NULL;
    int rc = cur ? hss_db_get(ctx->db, imsi, cur) : ENOMEM;
    if (rc == ENOENT) {
        not_found_imsi(resp, imsi);
        goto out;
    } else if (rc) {
        hss_http_500(resp, "cannot read the subscriber");
        goto out;
    }
    if (!body_imsi_matches(p, imsi, resp))
        goto out;
    doc = hss_sub_to_doc(cur);
    json_t *pa = json_object_get(p, "auth");
    if (json_is_object(pa)) {
        json_t *base = json_object_get(doc, "auth");
        json_t *scheme = json_object_get(pa, "scheme");
        const char *old = cur->scheme == HSS_AKA ? "aka" : "digest";
        if (json_is_string(scheme) && strcmp(json_string_value(scheme), old) != 0) {
            json_object_clear(base);
        } else if (cur->scheme == HSS_AKA) {
            json_t *op = json_object_get(pa, "op"), *opc = json_object_get(pa, "opc");
            json_t *k = json_object_get(pa, "k");
            if (op && !json_is_null(op))
                json_object_del(base, "opc");
            if (k && !json_is_null(k) && (!op || json_is_null(op)) && (!opc || json_is_null(opc))) {
                ims_http_resp_error(resp, 400, "missing_field",
                                    "a patch of auth.k must also give auth.opc or auth.op");
                goto out;
            }
        }
    }
    doc = hss_merge_patch(doc, p);
    store_replacement(ctx, imsi, doc, resp);
out:
    json_decref(doc);
    json_decref(p);
    if (cur)
        hss_sub_clear(cur);
    free(cur);
}

void hss_rest_delete(hss_ctx_t *ctx, const char *imsi, const ims_http_req_t *req,
                     ims_http_resp_t *resp)
{
    int rc = hss_db_delete(ctx->db, imsi);
    if (rc == 0) {
        IMS_DEBUG("subscriber %s deleted", imsi);
        ims_http_resp_json(resp, 204, NULL);
    } else if (rc == ENOENT) {
        not_found_imsi(resp, imsi);
    } else {
        hss_http_500(resp, "cannot delete the subscriber");
    }
}

void hss_rest_get(hss_ctx_t *ctx, const char *imsi, const ims_http_req_t *req,
                  ims_http_resp_t *resp)
{
    answer_record(ctx, imsi, 200, resp);
}

void hss_rest_impu(hss_ctx_t *ctx, const char *raw, const ims_http_req_t *req,
                   ims_http_resp_t *resp)
{
    char uri[HSS_URI_MAX + 1], imsi[HSS_IMSI_MAX + 1];
    if (ims_url_decode(raw, uri, sizeof(uri)) != 0 || !hss_valid_uri(uri)) {
        ims_http_resp_error(resp, 404, "not_found", "no subscriber holds that IMPU");
        return;
    }
    int rc = hss_db_find_impu(ctx->db, uri, imsi);
    if (rc == ENOENT)
        ims_http_resp_error(resp, 404, "not_found", "no subscriber holds the IMPU %s", uri);
    else if (rc)
        hss_http_500(resp, "cannot look the IMPU up");
    else
        answer_record(ctx, imsi, 200, resp);
}
