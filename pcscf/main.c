/* pcscf entry point, wiring only: settings -> logging -> state file -> event loop ->
 * proxy -> status API -> run, and teardown in reverse order. */
#include "pcscf.h"

#include <stdio.h>

#include <sofia-sip/su.h>

#include "ims/log.h"
#include "ims/loop.h"
#include "ims/sip.h"
#include "ims/ue_api.h"

/* The UE test controls: timeline and events as configured; transport faults only, as
 * SIP answers are the S-CSCF's to fake. */
static int ue_controls(const pcscf_settings_t *s, su_root_t *root, ims_ue_api_t *ue, char *err,
                       size_t errlen)
{
    static const char sip_only[] = "the P-CSCF injects transport faults only (drop, delay_ms); "
                                   "arm SIP faults on the S-CSCF's status API";
    ims_faults_opts_t fo = {
        .daemon = "pcscf",
        .allowed = IMS_FAULT_DROP | IMS_FAULT_DELAY,
        .why_not = {sip_only, NULL, NULL, sip_only, sip_only, sip_only, sip_only}};
    return ims_ue_api_create(s->cfg, "pcscf", root, &fo, ue, err, errlen);
}

/* The loop and everything on it; state is closed here (flushed at SIGTERM). */
static int run(const pcscf_settings_t *s, pcscf_state_t *state)
{
    char err[512];
    su_root_t *root = su_root_create(NULL);
    ims_loop_signals_t *sigs = NULL;
    pcscf_t *p = NULL;
    pcscf_status_t *api = NULL;
    ims_ue_api_t ue = {0};
    pcscf_conf_t conf = s->conf;
    conf.ue = &ue; /* filled by ue_controls before pcscf_create reads it */
    int rc = 1;

    if (!root)
        fprintf(stderr, "pcscf: cannot create the event loop\n");
    else if (ims_loop_signals_init(root, &sigs) != 0)
        fprintf(stderr, "pcscf: cannot set up signal handling\n");
    else if (ue_controls(s, root, &ue, err, sizeof err) != 0 ||
             pcscf_create(root, &conf, &p, err, sizeof err) != 0 ||
             /* moved in before the loop runs, so no REGISTER sees a half-restored cache */
             pcscf_state_attach(state, root, pcscf_cache(p), err, sizeof err) != 0 ||
             pcscf_status_start(root, p, s->http, s->token, &api, err, sizeof err) != 0)
        fprintf(stderr, "pcscf: %s\n", err);
    else
        rc = 0;
    if (rc == 0) {
        IMS_INFO("pcscf %s ready: status API on %s", IMS_VERSION, s->http);
        su_root_run(root);
        IMS_INFO("pcscf shutting down");
    }
    pcscf_status_stop(api);
    pcscf_state_close(state); /* SIGTERM: every change is on disk before exit */
    pcscf_destroy(p);
    ims_ue_api_free(&ue);
    if (sigs)
        ims_loop_signals_free(sigs);
    if (root)
        su_root_destroy(root);
    return rc;
}

int main(int argc, char **argv)
{
    pcscf_settings_t s;
    pcscf_state_t *state = NULL;
    char err[512];
    int rc = pcscf_settings_load(argc, argv, &s);
    if (rc)
        return rc < 0 ? 0 : rc;
    ims_log_init("pcscf", s.level);
    /* Read before anything logs or binds: a bad state file is one line on stderr. */
    if (pcscf_state_open(s.state, &state, err, sizeof err) != 0) {
        fprintf(stderr, "pcscf: %s\n", err);
        pcscf_settings_free(&s);
        return 2;
    }
    su_init();
    ims_loop_whole_ms_clock();
    ims_sip_log_redirect();
    rc = run(&s, state);
    su_deinit();
    pcscf_settings_free(&s);
    return rc;
}
