/* Reply helpers shared by every hss-stub handler, so no handler writes an error body, a 405
 * or a 500 by hand (docs/hss-api.md lists the codes they produce). */
#include <string.h>
#include <strings.h>

#include "http_util.h"

/* Media type of a Content-Type header without parameters, compared case-insensitively. */
static bool media_is(const char *ct, const char *want)
{
    if (!ct)
        return false;
    while (*ct == ' ' || *ct == '\t')
        ct++;
    size_t n = strcspn(ct, "; \t");
    return n == strlen(want) && strncasecmp(ct, want, n) == 0;
}

bool hss_http_body_kind_ok(const ims_http_req_t *req, ims_http_resp_t *resp, hss_body_kind_t kind)
{
    bool merge = kind == HSS_BODY_JSON_MERGE;
    if (kind == HSS_BODY_NONE || media_is(req->content_type, "application/json") ||
        (merge && media_is(req->content_type, "application/merge-patch+json")))
        return true;
    ims_http_resp_error(resp, 415, "unsupported_media_type", "send the body as %s",
                        merge ? "application/merge-patch+json or application/json"
                              : "application/json");
    return false;
}

json_t *hss_http_parse_body(const ims_http_req_t *req, ims_http_resp_t *resp, bool allow_array)
{
    json_error_t e;
    json_t *doc = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &e);
    if (!doc) {
        ims_http_resp_error(resp, 400, "invalid_json", "malformed JSON at line %d column %d: %s",
                            e.line, e.column, e.text);
        return NULL;
    }
    if (!json_is_object(doc) && !(allow_array && json_is_array(doc))) {
        json_decref(doc);
        ims_http_resp_error(resp, 400, "wrong_type", "the body must be a JSON object%s",
                            allow_array ? " or an array of objects" : "");
        return NULL;
    }
    return doc;
}

void hss_http_err(ims_http_resp_t *resp, const hss_err_t *err, long index)
{
    json_t *o = json_pack("{s:s,s:s}", "error", err->code, "message", err->message);
    if (index >= 0)
        json_object_set_new(o, "index", json_integer(index));
    ims_http_resp_json(resp, err->status, o);
}

void hss_http_405(ims_http_resp_t *resp, const char *method, const char *allow)
{
    ims_http_resp_error(resp, 405, "method_not_allowed", "%s is not allowed here; use %s", method,
                        allow);
    ims_http_resp_header(resp, "Allow", allow);
}

void hss_http_500(ims_http_resp_t *resp, const char *what)
{
    ims_http_resp_error(resp, 500, "storage_error", "%s", what);
}
