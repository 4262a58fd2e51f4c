/* The hss-stub's HTTP reply helpers, below both the provisioning (http_api.c) and the Cx
 * (cx_api.c) handlers: body parsing, media-type and method checks, JSON errors, the 500. */
#ifndef HSS_HTTP_UTIL_H
#define HSS_HTTP_UTIL_H

#include <jansson.h>
#include <stdbool.h>

#include "hss.h"
#include "ims/http_server.h"

/* What a route accepts as its body; checked before the handler runs (415 otherwise). */
typedef enum {
    HSS_BODY_NONE = 0,   /* ignored */
    HSS_BODY_JSON,       /* application/json */
    HSS_BODY_JSON_MERGE, /* application/json or application/merge-patch+json */
} hss_body_kind_t;

/* True when the request's Content-Type fits kind; otherwise answers 415 and returns false. */
bool hss_http_body_kind_ok(const ims_http_req_t *req, ims_http_resp_t *resp, hss_body_kind_t kind);
/* Parses the body as a JSON object (or array when allow_array); on failure answers 400
 * (invalid_json or wrong_type) and returns NULL. The caller owns the result. */
json_t *hss_http_parse_body(const ims_http_req_t *req, ims_http_resp_t *resp, bool allow_array);
/* A validation or conflict error as its JSON body; index >= 0 adds "index" (bulk import). */
void hss_http_err(ims_http_resp_t *resp, const hss_err_t *err, long index);
/* 405 with an Allow header listing allow ("GET, POST"). */
void hss_http_405(ims_http_resp_t *resp, const char *method, const char *allow);
/* The one way the hss-stub answers 500: {"error": "storage_error", "message": what}, as
 * docs/hss-api.md says; nothing was changed when it is sent. */
void hss_http_500(ims_http_resp_t *resp, const char *what);

#endif
