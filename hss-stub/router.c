/* The hss-stub's route table: path, method and body media type per row, checked here once
 * (404, 405 with Allow, 413, 415) so the handlers in api.h only do their own work. */
#include <stdio.h>
#include <string.h>

#include "api.h"

#define API         "/api/v1"
#define SUBSCRIBERS API "/subscribers"

typedef enum {
    ROUTE_EXACT,   /* the whole path; one trailing slash tolerated (clients differ on it) */
    ROUTE_SEGMENT, /* the prefix, then exactly one non-empty segment handed to the handler */
} route_match_t;

typedef struct route {
    const char *path;
    route_match_t match;
    const char *method; /* a GET row also serves HEAD */
    hss_body_kind_t body;
    hss_route_cb cb;
} route_t;

static void healthz(hss_ctx_t *ctx, const char *tail, const ims_http_req_t *req,
                    ims_http_resp_t *resp)
{
    ims_http_resp_json(resp, 200, json_pack("{s:s}", "status", "ok"));
}

static void openapi(hss_ctx_t *ctx, const char *tail, const ims_http_req_t *req,
                    ims_http_resp_t *resp)
{
    ims_http_resp_text(resp, 200, "application/yaml", hss_openapi_yaml);
}

/* Rows of one resource stay together and in the order their methods appear in Allow. */
static const route_t routes[] = {
    {"/healthz", ROUTE_EXACT, "GET", HSS_BODY_NONE, healthz},
    {API "/openapi.yaml", ROUTE_EXACT, "GET", HSS_BODY_NONE, openapi},
    {SUBSCRIBERS, ROUTE_EXACT, "GET", HSS_BODY_NONE, hss_rest_list},
    {SUBSCRIBERS, ROUTE_EXACT, "POST", HSS_BODY_JSON, hss_rest_create},
    {SUBSCRIBERS "/", ROUTE_SEGMENT, "GET", HSS_BODY_NONE, hss_rest_get},
    {SUBSCRIBERS "/", ROUTE_SEGMENT, "PUT", HSS_BODY_JSON, hss_rest_replace},
    {SUBSCRIBERS "/", ROUTE_SEGMENT, "PATCH", HSS_BODY_JSON_MERGE, hss_rest_patch},
    {SUBSCRIBERS "/", ROUTE_SEGMENT, "DELETE", HSS_BODY_NONE, hss_rest_delete},
    {API "/impus/", ROUTE_SEGMENT, "GET", HSS_BODY_NONE, hss_rest_impu},
    {API "/cx/mar", ROUTE_EXACT, "POST", HSS_BODY_JSON, hss_cx_mar},
    {API "/cx/sar", ROUTE_EXACT, "POST", HSS_BODY_JSON, hss_cx_sar},
    {API "/cx/users", ROUTE_EXACT, "GET", HSS_BODY_NONE, hss_cx_users},
};
#define NROUTES (sizeof(routes) / sizeof(routes[0]))

/* The handler's tail when path is r's resource, else NULL. */
static const char *route_tail(const route_t *r, const char *path)
{
    size_t n = strlen(r->path);
    if (strncmp(path, r->path, n) != 0)
        return NULL;
    const char *t = path + n;
    if (r->match == ROUTE_EXACT)
        return (*t == '\0' || (*t == '/' && !t[1])) ? "" : NULL;
    return (*t && !strchr(t, '/')) ? t : NULL;
}

static bool method_fits(const route_t *r, const char *method)
{
    return strcmp(r->method, method) == 0 ||
           (strcmp(r->method, "GET") == 0 && strcmp(method, "HEAD") == 0);
}

/* The server admits bodies up to the bulk limit; everything but an array import keeps the
 * 64 KiB limit of SPEC §3. */
static bool body_size_ok(const ims_http_req_t *req, ims_http_resp_t *resp)
{
    if (req->body_len <= HSS_BODY_MAX)
        return true;
    const char *b = req->body;
    while (*b == ' ' || *b == '\t' || *b == '\r' || *b == '\n')
        b++;
    for (size_t i = 0; *b == '[' && i < NROUTES; i++)
        if (routes[i].cb == hss_rest_create && method_fits(&routes[i], req->method) &&
            route_tail(&routes[i], req->path))
            return true;
    ims_http_resp_error(resp, 413, "body_too_large", "the body is larger than %d bytes",
                        HSS_BODY_MAX);
    return false;
}

void hss_http_handler(void *arg, const ims_http_req_t *req, ims_http_resp_t *resp)
{
    char allow[64] = "";
    if (!body_size_ok(req, resp))
        return;
    for (size_t i = 0; i < NROUTES; i++) {
        const route_t *r = &routes[i];
        const char *tail = route_tail(r, req->path);
        if (!tail)
            continue;
        if (method_fits(r, req->method)) {
            if (hss_http_body_kind_ok(req, resp, r->body))
                r->cb(arg, tail, req, resp);
            return;
        }
        size_t n = strlen(allow);
        snprintf(allow + n, sizeof(allow) - n, "%s%s", n ? ", " : "", r->method);
        if (i + 1 < NROUTES && strcmp(routes[i + 1].path, r->path) == 0)
            continue; /* more methods of the same resource */
        hss_http_405(resp, req->method, allow);
        return;
    }
    ims_http_resp_error(resp, 404, "not_found", "no such resource; see GET /api/v1/openapi.yaml");
}
