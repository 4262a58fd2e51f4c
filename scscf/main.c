/* scscf: the S-CSCF registrar daemon. main() only wires settings, logging, the su_root
 * loop, the stores, the HSS client, the SIP agent and the status API, and tears down in reverse. */
#include <stdio.h>

#include <sofia-sip/su.h>

#include "ims/cfg.h"
#include "ims/log.h"
#include "ims/sip.h"
#include "register.h"

/* after scscf.h, which sets Sofia's magic types before any Sofia header */
#include "ims/loop.h"

/* The stores; 0 or the message to print. */
static const char *stores_create(scscf_t *s, const ims_cfg_t *cfg, char *err, size_t errlen)
{
    if (scscf_location_create(&s->loc) ||
        scscf_auth_create(s->cfg.domain, s->cfg.nonce_ttl, &s->auth) ||
        /* 64k addresses/IMPIs at ~100 bytes each: a few MiB at most */
        scscf_guard_create(s->cfg.auth_fail_limit, s->cfg.auth_cooldown, 65536, &s->guard))
        return "out of memory";
    scscf_auth_set_max(s->auth, (size_t)ims_cfg_int(cfg, "max-nonces"));
    if (scscf_location_open_db(s->loc, ims_cfg_str(cfg, "state"), err, errlen))
        return err;
    if (scscf_hss_create(s->root, ims_cfg_str(cfg, "hss"), ims_cfg_str(cfg, "hss-token"),
                         ims_cfg_int(cfg, "hss-timeout-ms"), ims_cfg_int(cfg, "hss-connections"),
                         &s->hss))
        return "cannot create the HSS client";
    s->hss_post = scscf_hss_post_ctx;
    s->hss_ctx = s->hss;
    /* Every action; network-initiated deregistration needs the reg-event package. */
    ims_faults_opts_t fo = {
        .daemon = "scscf",
        .allowed = IMS_FAULT_ALL & ~IMS_FAULT_DEREGISTER,
        .why_not[6] = "network-initiated deregistration after N s needs the registration event "
                      "package (reg-event), which this S-CSCF does not have yet; DELETE "
                      "/api/v1/registrations/{impu} deregisters at once",
    };
    if (ims_ue_api_create(cfg, "scscf", s->root, &fo, &s->ue, err, errlen))
        return err;
    s->no_answer_ms = ims_cfg_int(cfg, "timeline-401-timeout") * 1000;
    return NULL;
}

static void stores_free(scscf_t *s)
{
    ims_ue_api_free(&s->ue);
    scscf_hss_free(s->hss);
    scscf_location_free(s->loc);
    scscf_auth_free(s->auth);
    scscf_guard_free(s->guard);
}

/* The status API on the loop; 0 or the message to print. */
static const char *status_api_start(scscf_t *s, const ims_cfg_t *cfg, ims_http_server_t **http,
                                    ims_loop_http_t **lh, char *err, size_t errlen)
{
    ims_http_opts_t ho = {
        .bind = ims_cfg_str(cfg, "http"),
        .threads = 0,
        .token = ims_cfg_str(cfg, "token"),
        .token_methods = "DELETE,POST,PUT,PATCH",
        .handler = scscf_status_handler,
        .ctx = s,
    };
    if (ims_http_server_start(&ho, http, err, errlen))
        return err;
    if (ims_loop_attach_http(s->root, *http, lh))
        return "cannot attach the status API to the loop";
    return NULL;
}

/* Everything that runs inside the loop, up in order; 0 or the message to print. */
static const char *start(scscf_t *s, scscf_settings_t *st, ims_loop_signals_t **sig,
                         ims_http_server_t **http, ims_loop_http_t **lh, char *err, size_t errlen)
{
    const char *why;
    if (!(s->root = su_root_create(s)))
        return "cannot create the event loop";
    if (ims_loop_signals_init(s->root, sig))
        return "cannot set up signal handling";
    if ((why = stores_create(s, st->cfg, err, errlen)))
        return why;
    if (scscf_sip_start(s, st->sip_url, st->sip_port)) {
        snprintf(err, errlen,
                 "cannot listen for SIP on %s (UDP+TCP): port in use or address not local",
                 s->cfg.sip);
        return err;
    }
    if (scscf_registrar_init(s))
        return "cannot start the registrar";
    return status_api_start(s, st->cfg, http, lh, err, errlen);
}

int main(int argc, char **argv)
{
    static scscf_settings_t st;
    static scscf_t s; /* static: zeroed, and reachable from every callback */
    char err[512];
    bool run;
    int rc = scscf_settings_load(&st, argc, argv, &run);
    if (!run)
        return rc;
    ims_log_init("scscf", st.log_level);
    if (scscf_settings_apply(&st, &s.cfg)) {
        scscf_settings_free(&st);
        return 1;
    }
    ims_http_server_t *http = NULL;
    ims_loop_http_t *lh = NULL;
    ims_loop_signals_t *sig = NULL;
    su_init();
    ims_loop_whole_ms_clock();
    ims_sip_log_redirect();
    const char *why = start(&s, &st, &sig, &http, &lh, err, sizeof(err));
    rc = 1;
    if (why) {
        fprintf(stderr, "scscf: %s\n", why);
    } else {
        IMS_INFO("S-CSCF for %s: SIP %s (udp+tcp), status API %s, HSS %s, Service-Route %s",
                 s.cfg.domain, s.cfg.sip, ims_cfg_str(st.cfg, "http"), ims_cfg_str(st.cfg, "hss"),
                 s.cfg.service_route);
        su_root_run(s.root);
        IMS_INFO("shutting down");
        rc = 0;
    }
    /* Down in reverse; each step copes with what start() never made. */
    ims_loop_detach_http(lh);
    ims_http_server_stop(http);
    scscf_trace_free(&s);  /* sends what fault rules hold, while the agent still exists */
    scscf_hss_free(s.hss); /* answers pending REGISTERs with 503 */
    s.hss = NULL;
    s.hss_ctx = NULL;
    scscf_registrar_deinit(&s);
    if (s.agent)
        nta_agent_destroy(s.agent);
    stores_free(&s);
    ims_loop_signals_free(sig);
    if (s.root)
        su_root_destroy(s.root);
    su_deinit();
    scscf_settings_free(&st);
    return rc;
}
