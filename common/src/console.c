/* Serves the embedded web console: static files by name with their media type and
 * headers that keep the page self-contained (no third-party scripts, no framing). */
#include "ims/console.h"

#include <string.h>

static const char *media_type(const char *name)
{
    static const struct {
        const char *ext, *type;
    } types[] = {
        {".html", "text/html; charset=utf-8"},
        {".js", "text/javascript; charset=utf-8"},
        {".css", "text/css; charset=utf-8"},
        {".json", "application/json"},
        {".svg", "image/svg+xml"},
        {".txt", "text/plain; charset=utf-8"},
    };
    const char *dot = strrchr(name, '.');
    for (size_t i = 0; dot && i < sizeof(types) / sizeof(types[0]); i++)
        if (strcmp(dot, types[i].ext) == 0)
            return types[i].type;
    return "application/octet-stream";
}

const ims_console_asset_t *ims_console_find(const char *name)
{
    for (const ims_console_asset_t *a = ims_console_assets; a->name; a++)
        if (strcmp(a->name, name) == 0)
            return a;
    return NULL;
}

/* The page talks only to the lab's APIs (any http(s) origin: their addresses are a
 * setting) and runs only its own files. */
static void page_headers(ims_http_resp_t *resp)
{
    ims_http_resp_header(resp, "Content-Security-Policy",
                         "default-src 'self'; connect-src 'self' http: https:; "
                         "img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'");
    ims_http_resp_header(resp, "X-Content-Type-Options", "nosniff");
    ims_http_resp_header(resp, "Referrer-Policy", "no-referrer");
    ims_http_resp_header(resp, "Cache-Control", "no-cache");
}

bool ims_console_serve(const ims_http_req_t *req, ims_http_resp_t *resp, const char *config_json)
{
    const char *p = req->path;
    size_t n = strlen(IMS_CONSOLE_PREFIX);
    bool bare = strcmp(p, "/console") == 0;
    if (!bare && strncmp(p, IMS_CONSOLE_PREFIX, n) != 0)
        return false;
    if (strcmp(req->method, "GET") != 0 && strcmp(req->method, "HEAD") != 0) {
        ims_http_resp_error(resp, 405, "method_not_allowed", "the console is read with GET");
        ims_http_resp_header(resp, "Allow", "GET, HEAD");
        return true;
    }
    if (bare) {
        ims_http_resp_text(resp, 301, "text/plain", "see " IMS_CONSOLE_PREFIX "\n");
        ims_http_resp_header(resp, "Location", IMS_CONSOLE_PREFIX);
        return true;
    }
    const char *name = p[n] ? p + n : "index.html";
    if (strcmp(name, "config.json") == 0) {
        if (config_json) {
            ims_http_resp_text(resp, 200, "application/json", config_json);
            ims_http_resp_header(resp, "Cache-Control", "no-cache");
        } else {
            ims_http_resp_error(resp, 404, "not_found", "this daemon has no console settings");
        }
        return true;
    }
    const ims_console_asset_t *a = strchr(name, '/') ? NULL : ims_console_find(name);
    if (!a) {
        ims_http_resp_error(resp, 404, "not_found", "the console has no file %.100s", name);
        return true;
    }
    /* The assets are text (html, js, css): the copy stops at the NUL the embed step ends
     * each one with. */
    ims_http_resp_text(resp, 200, media_type(name), (const char *)a->data);
    page_headers(resp);
    return true;
}
