/* HTTP glue of the UE test controls, shared by both CSCF status APIs: argument checks
 * and error bodies for the timeline, pcap, events and fault-rule endpoints. */
#include "ims/ue_api.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ims/pcap.h"
#include "ims/util.h"

#define TIMELINE  "/api/v1/timeline"
#define FAULTS    "/api/v1/faults"
#define DEF_LIMIT 100
#define MAX_LIMIT 10000

static bool method_is(const ims_http_req_t *req, ims_http_resp_t *resp, const char *want)
{
    if (strcmp(req->method, want) == 0)
        return true;
    ims_http_resp_header(resp, "Allow", want);
    ims_http_resp_error(resp, 405, "method_not_allowed", "use %s", want);
    return false;
}

/* Exactly one of impi, impu, imsi. */
static const char *ident_arg(const ims_http_req_t *req, ims_http_resp_t *resp)
{
    static const char *const keys[] = {"impi", "impu", "imsi"};
    const char *ident = NULL;
    int given = 0;
    for (int i = 0; i < 3; i++) {
        const char *v = ims_http_req_arg(req, keys[i]);
        if (v) {
            ident = v;
            given++;
        }
    }
    if (given != 1 || !*ident || strlen(ident) > 256) {
        ims_http_resp_error(resp, 400, "bad_request",
                            "give exactly one of impi, impu or imsi (1 to 256 characters)");
        return NULL;
    }
    return ident;
}

static bool limit_arg(const ims_http_req_t *req, ims_http_resp_t *resp, size_t *limit)
{
    const char *v = ims_http_req_arg(req, "limit");
    *limit = DEF_LIMIT;
    if (!v)
        return true;
    char *end;
    unsigned long n = strtoul(v, &end, 10);
    if (!*v || *end || strspn(v, "0123456789") != strlen(v) || n < 1 || n > MAX_LIMIT) {
        ims_http_resp_error(resp, 400, "bad_request", "limit must be from 1 to %d (got '%s')",
                            MAX_LIMIT, v);
        return false;
    }
    *limit = n;
    return true;
}

static void timeline_get(const ims_ue_api_t *api, const ims_http_req_t *req, ims_http_resp_t *resp)
{
    size_t limit;
    const char *ident = ident_arg(req, resp);
    if (!ident || !limit_arg(req, resp, &limit))
        return;
    char *text = NULL;
    int rc = ims_timeline_query(api->tl, ident, limit, &text, NULL);
    if (rc == ENOENT)
        return ims_http_resp_json(
            resp, 200,
            json_pack("{s:[], s:i, s:i, s:[]}", "items", "total", 0, "kept", 0, "identities"));
    if (rc != 0)
        return ims_http_resp_error(resp, 500, "internal", "out of memory");
    ims_http_resp_text(resp, 200, "application/json", text);
    free(text);
}

static void timeline_pcap(const ims_ue_api_t *api, const ims_http_req_t *req, ims_http_resp_t *resp)
{
    size_t limit;
    const char *ident = ident_arg(req, resp);
    if (!ident || !limit_arg(req, resp, &limit))
        return;
    json_t *entries = ims_timeline_entries(api->tl, ident, limit);
    if (!entries)
        return ims_http_resp_error(resp, 404, "not_found",
                                   "no messages recorded for %s (the timeline keeps the most "
                                   "recent entries only)",
                                   ident);
    ims_pcap_t *p = NULL;
    size_t count = 0;
    int rc = ims_pcap_from_timeline(entries, &p, &count);
    json_decref(entries);
    if (rc != 0)
        return ims_http_resp_error(resp, 500, "internal", "out of memory");
    size_t len;
    const uint8_t *data = ims_pcap_data(p, &len);
    ims_http_resp_bytes(resp, 200, "application/vnd.tcpdump.pcap", data, len);
    ims_pcap_free(p);
    char name[128] = "timeline-", disp[192], cnt[24];
    size_t k = strlen(name);
    for (const char *c = ident; *c && k < 100; c++)
        name[k++] = strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_", *c)
                        ? *c
                        : '_';
    name[k] = '\0';
    snprintf(disp, sizeof(disp), "attachment; filename=\"%s.pcap\"", name);
    ims_http_resp_header(resp, "Content-Disposition", disp);
    snprintf(cnt, sizeof(cnt), "%zu", count);
    ims_http_resp_header(resp, "X-Packets", cnt);
}

static void faults_post(const ims_ue_api_t *api, const ims_http_req_t *req, ims_http_resp_t *resp)
{
    if (req->content_type && strncmp(req->content_type, "application/json", 16) != 0)
        return ims_http_resp_error(resp, 415, "unsupported_media_type",
                                   "send the rule as application/json");
    json_error_t je;
    json_t *body = json_loadb(req->body, req->body_len, 0, &je);
    if (!body)
        return ims_http_resp_error(resp, 400, "malformed_json", "%s (line %d, column %d)", je.text,
                                   je.line, je.column);
    char err[300];
    json_t *rule = NULL;
    int rc = ims_faults_add(api->faults, body, (int64_t)ims_now_ms(), &rule, err, sizeof(err));
    json_decref(body);
    if (rc != 0)
        return ims_http_resp_error(resp, rc == ENOSPC ? 409 : 400,
                                   rc == ENOSPC ? "too_many_rules" : "invalid_rule", "%s", err);
    char loc[64];
    snprintf(loc, sizeof(loc), FAULTS "/%lld",
             (long long)json_integer_value(json_object_get(rule, "id")));
    ims_http_resp_header(resp, "Location", loc);
    ims_http_resp_json(resp, 201, rule);
}

static void faults(const ims_ue_api_t *api, const ims_http_req_t *req, ims_http_resp_t *resp)
{
    int64_t now = (int64_t)ims_now_ms();
    const char *rest = req->path + strlen(FAULTS);
    if (*rest == '\0' || strcmp(rest, "/") == 0) {
        if (strcmp(req->method, "POST") == 0)
            return faults_post(api, req, resp);
        if (strcmp(req->method, "DELETE") == 0) {
            ims_faults_clear(api->faults);
            return ims_http_resp_json(resp, 204, NULL);
        }
        if (strcmp(req->method, "GET") != 0) {
            ims_http_resp_header(resp, "Allow", "GET, POST, DELETE");
            return ims_http_resp_error(resp, 405, "method_not_allowed", "use GET, POST or DELETE");
        }
        return ims_http_resp_json(resp, 200, ims_faults_list(api->faults, now));
    }
    const char *id = rest + 1;
    if (!method_is(req, resp, "DELETE"))
        return;
    if (!*id || strlen(id) > 9 || strspn(id, "0123456789") != strlen(id))
        return ims_http_resp_error(resp, 400, "bad_request", "a rule id is a number (got '%s')",
                                   id);
    if (ims_faults_delete(api->faults, (unsigned)strtoul(id, NULL, 10), now) != 0)
        return ims_http_resp_error(resp, 404, "not_found",
                                   "no live fault rule %s (it may have used up its count or ttl)",
                                   id);
    ims_http_resp_json(resp, 204, NULL);
}

bool ims_ue_api_handle(const ims_ue_api_t *api, const ims_http_req_t *req, ims_http_resp_t *resp)
{
    const char *p = req->path;
    if (api->tl && (strcmp(p, TIMELINE) == 0 || strcmp(p, TIMELINE "/") == 0)) {
        if (method_is(req, resp, "GET"))
            timeline_get(api, req, resp);
        return true;
    }
    if (api->tl && strcmp(p, TIMELINE "/pcap") == 0) {
        if (method_is(req, resp, "GET"))
            timeline_pcap(api, req, resp);
        return true;
    }
    if (api->events && strcmp(p, "/api/v1/events") == 0) {
        if (method_is(req, resp, "GET"))
            ims_events_serve(api->events, req, resp);
        return true;
    }
    if (api->faults && strncmp(p, FAULTS, strlen(FAULTS)) == 0 &&
        (p[strlen(FAULTS)] == '\0' || p[strlen(FAULTS)] == '/')) {
        faults(api, req, resp);
        return true;
    }
    return false;
}

int ims_ue_api_create(const ims_cfg_t *cfg, const char *daemon, su_root_t *root,
                      const ims_faults_opts_t *fo, ims_ue_api_t *out, char *err, size_t errlen)
{
    *out = (ims_ue_api_t){0};
    const char *on = ims_cfg_str(cfg, "timeline");
    if (!on || (strcmp(on, "on") != 0 && strcmp(on, "off") != 0)) {
        snprintf(err, errlen, "--timeline must be on or off");
        return EINVAL;
    }
    ims_timeline_opts_t to = {.daemon = daemon,
                              .per_subscriber = (size_t)ims_cfg_int(cfg, "timeline-per-ue"),
                              .total = (size_t)ims_cfg_int(cfg, "timeline-total"),
                              .max_bytes = (size_t)ims_cfg_int(cfg, "timeline-bytes"),
                              .sip_max = (size_t)ims_cfg_int(cfg, "timeline-sip-max")};
    if (to.per_subscriber > to.total) {
        snprintf(err, errlen, "--timeline-per-ue must not exceed --timeline-total");
        return EINVAL;
    }
    int rc = 0;
    if (strcmp(on, "on") == 0 && ((rc = ims_timeline_new(&to, &out->tl)) != 0 ||
                                  (rc = ims_events_new(out->tl, root, NULL, &out->events)) != 0))
        goto fail;
    if ((rc = ims_faults_new(fo, &out->faults)) != 0)
        goto fail;
    return 0;
fail:
    ims_ue_api_free(out);
    snprintf(err, errlen, "out of memory for the timeline");
    return rc;
}

void ims_ue_api_free(ims_ue_api_t *api)
{
    ims_events_free(api->events);
    ims_timeline_free(api->tl);
    ims_faults_free(api->faults);
    *api = (ims_ue_api_t){0};
}

void ims_ue_api_metrics(const ims_ue_api_t *api, const char *d, FILE *f)
{
    if (api->tl) {
        ims_timeline_stats_t st;
        ims_timeline_stats(api->tl, &st);
        fprintf(f,
                "# HELP %s_timeline_entries Timeline entries kept.\n"
                "# TYPE %s_timeline_entries gauge\n%s_timeline_entries %zu\n"
                "# HELP %s_timeline_subscribers Subscribers with timeline entries.\n"
                "# TYPE %s_timeline_subscribers gauge\n%s_timeline_subscribers %zu\n"
                "# HELP %s_timeline_bytes Memory held by the timeline.\n"
                "# TYPE %s_timeline_bytes gauge\n%s_timeline_bytes %zu\n"
                "# HELP %s_timeline_recorded_total Timeline entries recorded.\n"
                "# TYPE %s_timeline_recorded_total counter\n%s_timeline_recorded_total %llu\n"
                "# HELP %s_timeline_evicted_total Timeline entries dropped by the bounds.\n"
                "# TYPE %s_timeline_evicted_total counter\n%s_timeline_evicted_total %llu\n",
                d, d, d, st.entries, d, d, d, st.subscribers, d, d, d, st.bytes, d, d, d,
                (unsigned long long)st.recorded, d, d, d, (unsigned long long)st.evicted);
    }
    if (api->events)
        fprintf(f,
                "# HELP %s_event_streams Open event streams (GET /api/v1/events).\n"
                "# TYPE %s_event_streams gauge\n%s_event_streams %zu\n"
                "# HELP %s_event_streams_dropped_total Event streams closed for falling behind.\n"
                "# TYPE %s_event_streams_dropped_total counter\n"
                "%s_event_streams_dropped_total %llu\n",
                d, d, d, ims_events_clients(api->events), d, d, d,
                (unsigned long long)ims_events_dropped(api->events));
    if (api->faults)
        ims_faults_metrics(api->faults, f);
}
