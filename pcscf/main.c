/* pcscf entry point: configuration table, logging, one su_root loop with the SIP proxy,
 * the status API and signal handling, and teardown in reverse order. */
#include "pcscf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sofia-sip/su.h>

#include "ims/cfg.h"
#include "ims/daemon.h"
#include "ims/http_server.h"
#include "ims/log.h"
#include "ims/ue_api.h"
#include "ims/loop.h"
#include "ims/sip.h"
#include "ims/util.h"

static const ims_cfg_opt_t opts[] = {
    {"sip", "PCSCF_SIP", IMS_CFG_STR, "0.0.0.0:5060", 0, 0,
     "SIP listen address HOST:PORT (UDP and TCP) facing the UEs", false},
    {"http", "PCSCF_HTTP", IMS_CFG_STR, "127.0.0.1:8081", 0, 0,
     "status API listen address HOST:PORT", false},
    {"scscf", "PCSCF_SCSCF", IMS_CFG_STR, "sip:127.0.0.1:6060", 0, 0,
     "S-CSCF SIP URI; a host name is resolved with getaddrinfo (/etc/hosts, Docker DNS)", false},
    {"domain", "PCSCF_DOMAIN", IMS_CFG_STR, "ims.mnc011.mcc432.3gppnetwork.org", 0, 0,
     "home network domain", false},
    {"path", "PCSCF_PATH", IMS_CFG_STR, NULL, 0, 0,
     "Path URI added to REGISTER (default sip:term@pcscf.DOMAIN;lr)", false},
    {"alias", "PCSCF_ALIAS", IMS_CFG_STRLIST, NULL, 0, 0,
     "extra host name the P-CSCF answers to; a Route naming it is consumed (repeatable)", false},
    {"advertise", "PCSCF_ADVERTISE", IMS_CFG_STR, NULL, 0, 0,
     "host to put in Via and Warning when --sip binds a wildcard address", false},
    {"visited-network", "PCSCF_VISITED_NETWORK", IMS_CFG_STR, NULL, 0, 0,
     "P-Visited-Network-ID value (default: the domain)", false},
    {"timeout-ms", "PCSCF_TIMEOUT_MS", IMS_CFG_INT, "5000", 100, 120000,
     "how long the S-CSCF may stay silent before the UE gets 504", false},
    {"max-pending", "PCSCF_MAX_PENDING", IMS_CFG_INT, "5000", 0, 1000000,
     "overload limit: with this many requests waiting for an answer, new ones get 503 "
     "P-CSCF Overloaded at once (0: no limit)",
     false},
    {"tcp-idle", "PCSCF_TCP_IDLE", IMS_CFG_INT, "3600", 0, 86400,
     "seconds after which an idle SIP TCP connection is closed (0: never); bounds half-open "
     "and abandoned connections (a UE re-registering over TCP keeps its connection busy)",
     false},
    {"token", "PCSCF_TOKEN", IMS_CFG_STR, NULL, 0, 0,
     "bearer token required for DELETE on the status API", true},
    {"insecure", "PCSCF_INSECURE", IMS_CFG_BOOL, "false", 0, 0,
     "allow a non-loopback --http address without --token", false},
    {"state", "PCSCF_STATE", IMS_CFG_STR, "var/pcscf.db", 0, 0,
     "SQLite file where the registration cache survives restarts (':memory:' for none)", false},
    IMS_UE_CFG_OPTS("PCSCF"),
    {"log-level", "PCSCF_LOG_LEVEL", IMS_CFG_STR, "info", 0, 0, "debug, info, warn or error",
     false},
};

int main(int argc, char **argv)
{
    ims_cfg_t *cfg = NULL;
    char err[512];
    su_root_t *root = NULL;
    pcscf_t *p = NULL;
    pcscf_state_t *state = NULL;
    ims_http_server_t *http = NULL;
    ims_loop_http_t *lh = NULL;
    ims_loop_signals_t *sigs = NULL;
    ims_ue_api_t ue = {0};
    ims_log_level_t level;
    int rc = 1;

    ims_cfg_result_t cr =
        ims_cfg_load(opts, sizeof opts / sizeof opts[0], "pcscf",
                     "IMS P-CSCF: edge proxy between UEs and the S-CSCF (Path, NAT help, "
                     "charging headers)",
                     "PCSCF", argc, argv, &cfg, err, sizeof err);
    if (cr == IMS_CFG_EXIT)
        return 0;
    if (cr != IMS_CFG_OK) {
        fprintf(stderr, "pcscf: %s\n", err);
        return 2;
    }
    if (ims_log_level_parse(ims_cfg_str(cfg, "log-level"), &level) != 0) {
        fprintf(stderr, "pcscf: --log-level %s is not debug, info, warn or error\n",
                ims_cfg_str(cfg, "log-level"));
        ims_cfg_free(cfg);
        return 2;
    }
    ims_log_init("pcscf", level);
    /* Anyone who reaches the status API could DELETE bindings: off loopback it needs a
     * token, unless the operator says otherwise. */
    if (ims_http_guard(ims_cfg_str(cfg, "http"), 8081, ims_cfg_str(cfg, "token"),
                       ims_cfg_bool(cfg, "insecure"), "the status API", err, sizeof err) != 0) {
        fprintf(stderr, "pcscf: %s\n", err);
        ims_cfg_free(cfg);
        return 2;
    }

    const char *const *aliases = NULL;
    size_t naliases = ims_cfg_list(cfg, "alias", &aliases);
    pcscf_conf_t conf = {
        .sip = ims_cfg_str(cfg, "sip"),
        .scscf = ims_cfg_str(cfg, "scscf"),
        .domain = ims_cfg_str(cfg, "domain"),
        .path = ims_cfg_str(cfg, "path"),
        .advertise = ims_cfg_str(cfg, "advertise"),
        .visited_network = ims_cfg_str(cfg, "visited-network"),
        .aliases = aliases,
        .naliases = naliases,
        .timeout_ms = ims_cfg_int(cfg, "timeout-ms"),
        .max_pending = ims_cfg_int(cfg, "max-pending"),
        .tcp_idle_s = ims_cfg_int(cfg, "tcp-idle"),
    };

    /* Read before anything logs or binds: a bad state file is one line on stderr. */
    if (pcscf_state_open(ims_cfg_str(cfg, "state"), &state, err, sizeof err) != 0) {
        fprintf(stderr, "pcscf: %s\n", err);
        ims_cfg_free(cfg);
        return 2;
    }

    su_init();
    ims_loop_whole_ms_clock();
    ims_sip_log_redirect();
    root = su_root_create(NULL);
    if (!root) {
        fprintf(stderr, "pcscf: cannot create the event loop\n");
        goto out;
    }
    if (ims_loop_signals_init(root, &sigs) != 0) {
        fprintf(stderr, "pcscf: cannot set up signal handling\n");
        goto out;
    }
    /* Transport faults only: SIP answers are the S-CSCF's to fake. */
    static const char sip_only[] = "the P-CSCF injects transport faults only (drop, delay_ms); "
                                   "arm SIP faults on the S-CSCF's status API";
    ims_faults_opts_t fo = {
        .daemon = "pcscf",
        .allowed = IMS_FAULT_DROP | IMS_FAULT_DELAY,
        .why_not = {sip_only, NULL, NULL, sip_only, sip_only, sip_only, sip_only}};
    if (ims_ue_api_create(cfg, "pcscf", root, &fo, &ue, err, sizeof err) != 0) {
        fprintf(stderr, "pcscf: %s\n", err);
        goto out;
    }
    conf.ue = &ue;
    if (pcscf_create(root, &conf, &p, err, sizeof err) != 0) {
        fprintf(stderr, "pcscf: %s\n", err);
        goto out;
    }
    /* Moved in before the loop runs, so no REGISTER sees a half-restored cache. */
    if (pcscf_state_attach(state, root, pcscf_cache(p), err, sizeof err) != 0) {
        fprintf(stderr, "pcscf: %s\n", err);
        goto out;
    }
    ims_http_opts_t ho = {
        .bind = ims_cfg_str(cfg, "http"),
        .threads = 0,
        .token = ims_cfg_str(cfg, "token"),
        .token_methods = "DELETE,POST,PUT,PATCH",
        .handler = pcscf_status_handle,
        .ctx = p,
    };
    if (ims_http_server_start(&ho, &http, err, sizeof err) != 0) {
        fprintf(stderr, "pcscf: %s\n", err);
        goto out;
    }
    if (ims_loop_attach_http(root, http, &lh) != 0) {
        fprintf(stderr, "pcscf: cannot attach the status API to the event loop\n");
        goto out;
    }
    IMS_INFO("pcscf %s ready: status API on %s", IMS_VERSION, ho.bind);
    su_root_run(root);
    IMS_INFO("pcscf shutting down");
    rc = 0;
out:
    if (lh)
        ims_loop_detach_http(lh);
    if (http)
        ims_http_server_stop(http);
    pcscf_state_close(state); /* SIGTERM: every change is on disk before exit */
    pcscf_destroy(p);
    ims_ue_api_free(&ue);
    if (sigs)
        ims_loop_signals_free(sigs);
    if (root)
        su_root_destroy(root);
    su_deinit();
    ims_cfg_free(cfg);
    return rc;
}
