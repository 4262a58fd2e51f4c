/* The S-CSCF status API on the loop thread: registrations (list, one, network-initiated
 * deregistration), Prometheus metrics and health. */
#include <stdlib.h>
#include <string.h>

#include "ims/util.h"
#include "scscf.h"

#define PREFIX "/api/v1/registrations"

/* Percent-decodes once into a new string; NULL on a bad escape or an embedded NUL. */
static char *url_decode(const char *in)
{
    size_t cap = strlen(in) + 1;
    char *out = malloc(cap);
    if (out && ims_url_decode(in, out, cap) != 0) {
        free(out);
        out = NULL;
    }
    return out;
}

static void metrics(scscf_t *s, ims_http_resp_t *resp)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return ims_http_resp_error(resp, 500, "internal", "out of memory");
    fprintf(f,
            "# HELP scscf_registrations Live registration records (implicit sets).\n"
            "# TYPE scscf_registrations gauge\nscscf_registrations %zu\n"
            "# HELP scscf_bindings Live contact bindings.\n"
            "# TYPE scscf_bindings gauge\nscscf_bindings %zu\n"
            "# HELP scscf_nonces Nonces held for authentication.\n"
            "# TYPE scscf_nonces gauge\nscscf_nonces %zu\n"
            "# HELP scscf_pending_transactions REGISTERs waiting for the HSS.\n"
            "# TYPE scscf_pending_transactions gauge\nscscf_pending_transactions %u\n"
            "# HELP scscf_register_requests_total REGISTER requests received.\n"
            "# TYPE scscf_register_requests_total counter\nscscf_register_requests_total %lu\n"
            "# HELP scscf_challenges_total 401 challenges sent.\n"
            "# TYPE scscf_challenges_total counter\nscscf_challenges_total %lu\n"
            "# HELP scscf_registrations_total Implicit sets that became registered.\n"
            "# TYPE scscf_registrations_total counter\nscscf_registrations_total %lu\n"
            "# HELP scscf_deregistrations_total Sets deregistered by the UE or the API.\n"
            "# TYPE scscf_deregistrations_total counter\nscscf_deregistrations_total %lu\n"
            "# HELP scscf_expired_total Sets whose last binding expired.\n"
            "# TYPE scscf_expired_total counter\nscscf_expired_total %lu\n"
            "# HELP scscf_sar_total SAR reports sent.\n"
            "# TYPE scscf_sar_total counter\nscscf_sar_total %lu\n"
            "# HELP scscf_sar_failed_total SAR reports the HSS did not accept or never got.\n"
            "# TYPE scscf_sar_failed_total counter\nscscf_sar_failed_total %lu\n",
            scscf_location_count(s->loc), scscf_location_binding_count(s->loc),
            scscf_auth_count(s->auth), s->pending, s->m.registers, s->m.challenges,
            s->m.registrations_ok, s->m.deregistrations, s->m.expired, s->m.sar_sent,
            s->m.sar_failed);
    fprintf(f, "# HELP scscf_error_replies_total Error replies by reason (auth failures "
               "included).\n# TYPE scscf_error_replies_total counter\n");
    for (int e = 0; e < SCSCF_E_COUNT; e++) {
        const scscf_reply_entry_t *r = scscf_reply_get((scscf_err_t)e);
        fprintf(f, "scscf_error_replies_total{reason=\"%s\",code=\"%d\"} %lu\n", r->metric,
                r->status, s->m.auth_failures[e]);
    }
    scscf_hss_metrics(s->hss, f);
    ims_ue_api_metrics(&s->ue, "scscf", f);
    fclose(f);
    ims_http_resp_text(resp, 200, "text/plain; version=0.0.4", buf ? buf : "");
    free(buf);
}

void scscf_status_handler(void *ctx, const ims_http_req_t *req, ims_http_resp_t *resp)
{
    scscf_t *s = ctx;
    int64_t now = ims_wall_s();
    if (strcmp(req->path, "/healthz") == 0) {
        if (strcmp(req->method, "GET") != 0)
            return ims_http_resp_error(resp, 405, "method_not_allowed", "use GET");
        return ims_http_resp_json(resp, 200, json_pack("{s:s}", "status", "ok"));
    }
    if (ims_ue_api_handle(&s->ue, req, resp))
        return; /* timeline, events, faults */
    if (strcmp(req->path, "/metrics") == 0) {
        if (strcmp(req->method, "GET") != 0)
            return ims_http_resp_error(resp, 405, "method_not_allowed", "use GET");
        return metrics(s, resp);
    }
    if (strcmp(req->path, PREFIX) == 0 || strcmp(req->path, PREFIX "/") == 0) {
        if (strcmp(req->method, "GET") != 0)
            return ims_http_resp_error(resp, 405, "method_not_allowed", "use GET");
        json_t *items = json_array();
        scscf_location_iter_t it;
        for (scscf_record_t *r = scscf_location_first(s->loc, &it); r;
             r = scscf_location_next(s->loc, &it))
            json_array_append_new(items, scscf_record_json(r, NULL, now));
        return ims_http_resp_json(
            resp, 200,
            json_pack("{s:o, s:I}", "items", items, "total", (json_int_t)json_array_size(items)));
    }
    if (strncmp(req->path, PREFIX "/", sizeof(PREFIX)) == 0) {
        char *impu = url_decode(req->path + sizeof(PREFIX));
        if (!impu || !*impu) {
            free(impu);
            return ims_http_resp_error(resp, 400, "bad_request",
                                       "the IMPU in the path is not valid percent-encoding");
        }
        scscf_record_t *r = scscf_location_find_impu(s->loc, impu);
        if (!r) {
            ims_http_resp_error(resp, 404, "not_registered", "%s has no live registration", impu);
        } else if (strcmp(req->method, "GET") == 0) {
            ims_http_resp_json(resp, 200, scscf_record_json(r, impu, now));
        } else if (strcmp(req->method, "DELETE") == 0) {
            scscf_registrar_deregister(s, r, "network-initiated via the status API");
            ims_http_resp_json(resp, 204, NULL);
        } else {
            ims_http_resp_error(resp, 405, "method_not_allowed", "use GET or DELETE");
        }
        free(impu);
        return;
    }
    ims_http_resp_error(resp, 404, "not_found", "no such resource: %s", req->path);
}
