/* The S-CSCF status API on the loop thread: registrations (list, one, network-initiated
 * deregistration and shortening, with their reg event subscriptions), metrics and health. */
#include <stdlib.h>
#include <string.h>

#include "ims/console.h"
#include "ims/util.h"
#include "regevent.h"

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
    scscf_regevent_metrics(s, f);
    scscf_hss_metrics(s->hss, f);
    ims_ue_api_metrics(&s->ue, "scscf", f);
    fclose(f);
    ims_http_resp_text(resp, 200, "text/plain; version=0.0.4", buf ? buf : "");
    free(buf);
}

/* A record as SPEC §5 shows it, with the reg event subscriptions that watch its set. */
static json_t *record_json(scscf_t *s, const scscf_record_t *r, const char *impu, int64_t now)
{
    json_t *j = scscf_record_json(r, impu, now);
    json_object_set_new(j, "subscriptions", scscf_regevent_json(s, r));
    return j;
}

/* DELETE ?reason=deactivated (the UE should register again, the default) or rejected (it
 * should not): the contact event the subscribers hear (RFC 3680 §5.1.2). */
static void deregister(scscf_t *s, scscf_record_t *r, const ims_http_req_t *req,
                       ims_http_resp_t *resp)
{
    const char *reason = ims_http_req_arg(req, "reason");
    scscf_reg_event_t ev = SCSCF_EV_DEACTIVATED;
    if (reason && strcmp(reason, "rejected") == 0)
        ev = SCSCF_EV_REJECTED;
    else if (reason && strcmp(reason, "deactivated") != 0)
        return ims_http_resp_error(resp, 400, "bad_reason",
                                   "reason must be deactivated (the UE may register again) or "
                                   "rejected (it should not)");
    scscf_registrar_deregister(s, r,
                               ev == SCSCF_EV_REJECTED ? "network-initiated (rejected)"
                                                       : "network-initiated (deactivated)",
                               ev);
    ims_http_resp_json(resp, 204, NULL);
}

/* POST .../shorten {"expires": N}: every binding expires within N seconds. */
static void shorten(scscf_t *s, scscf_record_t *r, const char *impu, const ims_http_req_t *req,
                    ims_http_resp_t *resp)
{
    json_error_t jerr;
    json_t *body = json_loads(req->body, 0, &jerr);
    json_t *e = json_object_get(body, "expires");
    if (!json_is_integer(e) || json_integer_value(e) < 1 || json_integer_value(e) > 604800) {
        json_decref(body);
        return ims_http_resp_error(resp, 400, "bad_expires",
                                   "the body must be {\"expires\": N} with N from 1 to 604800 "
                                   "seconds");
    }
    long secs = (long)json_integer_value(e);
    json_decref(body);
    size_t n = scscf_registrar_shorten(s, r, secs);
    json_t *j = record_json(s, r, impu, ims_wall_s());
    json_object_set_new(j, "shortened", json_integer((json_int_t)n));
    ims_http_resp_json(resp, 200, j);
}

/* /api/v1/registrations/{impu}[/shorten] */
static void one_registration(scscf_t *s, const ims_http_req_t *req, ims_http_resp_t *resp,
                             int64_t now)
{
    const char *tail = req->path + sizeof(PREFIX);
    size_t len = strlen(tail);
    bool is_shorten = len > 8 && strcmp(tail + len - 8, "/shorten") == 0;
    char *enc = strndup(tail, is_shorten ? len - 8 : len);
    char *impu = enc ? url_decode(enc) : NULL;
    free(enc);
    if (!impu || !*impu) {
        free(impu);
        return ims_http_resp_error(resp, 400, "bad_request",
                                   "the IMPU in the path is not valid percent-encoding");
    }
    scscf_record_t *r = scscf_location_find_impu(s->loc, impu);
    if (!r)
        ims_http_resp_error(resp, 404, "not_registered", "%s has no live registration", impu);
    else if (is_shorten && strcmp(req->method, "POST") == 0)
        shorten(s, r, impu, req, resp);
    else if (is_shorten)
        ims_http_resp_error(resp, 405, "method_not_allowed", "use POST");
    else if (strcmp(req->method, "GET") == 0)
        ims_http_resp_json(resp, 200, record_json(s, r, impu, now));
    else if (strcmp(req->method, "DELETE") == 0)
        deregister(s, r, req, resp);
    else
        ims_http_resp_error(resp, 405, "method_not_allowed", "use GET or DELETE");
    free(impu);
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
    if (ims_console_serve(req, resp, NULL)) /* the web console; its settings are the HSS's */
        return;
    if (strcmp(req->path, PREFIX) == 0 || strcmp(req->path, PREFIX "/") == 0) {
        if (strcmp(req->method, "GET") != 0)
            return ims_http_resp_error(resp, 405, "method_not_allowed", "use GET");
        json_t *items = json_array();
        scscf_location_iter_t it;
        for (scscf_record_t *r = scscf_location_first(s->loc, &it); r;
             r = scscf_location_next(s->loc, &it))
            json_array_append_new(items, record_json(s, r, NULL, now));
        return ims_http_resp_json(
            resp, 200,
            json_pack("{s:o, s:I}", "items", items, "total", (json_int_t)json_array_size(items)));
    }
    if (strncmp(req->path, PREFIX "/", sizeof(PREFIX)) == 0)
        return one_registration(s, req, resp, now);
    ims_http_resp_error(resp, 404, "not_found", "no such resource: %s", req->path);
}
