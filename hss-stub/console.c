/* The web console as served by the hss-stub: the embedded page plus config.json, which
 * tells the page where the HSS API (this origin) and the two CSCF status APIs are. */
#include <stdlib.h>
#include <string.h>

#include "hss.h"
#include "ims/console.h"

/* Answers /console and /console/...; false for other paths. */
static bool console(hss_ctx_t *ctx, const ims_http_req_t *req, ims_http_resp_t *resp)
{
    if (strncmp(req->path, "/console", 8) != 0)
        return false;
    /* "" = the page's own origin, so the HSS is reached however the browser named it. */
    json_t *cfg = json_pack("{s:s, s:s?, s:s?, s:s, s:s, s:s}", "hss", "", "scscf",
                            ctx->console_scscf, "pcscf", ctx->console_pcscf, "domain", ctx->domain,
                            "served_by", "hss-stub", "version", IMS_VERSION);
    char *text = cfg ? json_dumps(cfg, JSON_COMPACT) : NULL;
    json_decref(cfg);
    bool done = ims_console_serve(req, resp, text);
    free(text);
    return done;
}

/* In front of the API's router rather than inside it, so the console is one wrapper and
 * the route table stays the API's. */
void hss_console_handler(void *ctx, const ims_http_req_t *req, ims_http_resp_t *resp)
{
    if (!console(ctx, req, resp))
        hss_http_handler(ctx, req, resp);
}
