/* hss-stub entry point: configuration, logging, the subscriber store, the HTTP server
 * on its own thread pool, and a sigwait() for SIGTERM/SIGINT; teardown in reverse. */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "hss.h"
#include "ims/cfg.h"
#include "ims/daemon.h"
#include "ims/http_server.h"
#include "ims/log.h"
#include "ims/util.h"

static const ims_cfg_opt_t opts[] = {
    {"http", "HSS_HTTP", IMS_CFG_STR, "127.0.0.1:8080", 0, 0,
     "HTTP listen address HOST:PORT for the provisioning and Cx API", false},
    {"db", "HSS_DB", IMS_CFG_STR, "var/hss.db", 0, 0,
     "SQLite database file (parent folder created); \":memory:\" keeps nothing", false},
    {"token", "HSS_TOKEN", IMS_CFG_STR, NULL, 0, 0,
     "bearer token every request but GET /healthz must carry", true},
    {"domain", "HSS_DOMAIN", IMS_CFG_STR, "ims.mnc011.mcc432.3gppnetwork.org", 0, 0,
     "home domain used to derive IMPI and IMPUs and as the default digest realm", false},
    {"insecure", "HSS_INSECURE", IMS_CFG_BOOL, "false", 0, 0,
     "allow a non-loopback --http address without --token", false},
    {"threads", "HSS_THREADS", IMS_CFG_INT, "2", 1, 64, "HTTP worker threads", false},
    {"log-level", "HSS_LOG_LEVEL", IMS_CFG_STR, "info", 0, 0, "debug, info, warn or error", false},
};

int main(int argc, char **argv)
{
    ims_cfg_t *cfg = NULL;
    hss_db_t *db = NULL;
    ims_http_server_t *http = NULL;
    ims_log_level_t level;
    char err[512];
    int rc = 1;

    ims_cfg_result_t cr =
        ims_cfg_load(opts, sizeof opts / sizeof opts[0], "hss-stub",
                     "IMS HSS stand-in: subscriber store with a JSON provisioning API and the Cx "
                     "stand-in (auth vectors, registration state) for the S-CSCF",
                     "HSS", argc, argv, &cfg, err, sizeof err);
    if (cr == IMS_CFG_EXIT)
        return 0;
    if (cr != IMS_CFG_OK) {
        fprintf(stderr, "hss-stub: %s\n", err);
        return 2;
    }
    if (ims_log_level_parse(ims_cfg_str(cfg, "log-level"), &level) != 0) {
        fprintf(stderr, "hss-stub: --log-level %s is not debug, info, warn or error\n",
                ims_cfg_str(cfg, "log-level"));
        goto out;
    }
    ims_log_init("hss-stub", level);
    const char *bind = ims_cfg_str(cfg, "http");
    const char *token = ims_cfg_str(cfg, "token");
    if (ims_http_guard(bind, 8080, token, ims_cfg_bool(cfg, "insecure"), "subscriber secrets", err,
                       sizeof err) != 0) {
        fprintf(stderr, "hss-stub: %s\n", err);
        goto out;
    }

    /* Before any thread exists, so every MHD thread inherits the mask and the signals
     * reach only sigwait() below. */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    const char *path = ims_cfg_str(cfg, "db");
    if (hss_db_open(path, &db, err, sizeof err) != 0) {
        fprintf(stderr, "hss-stub: %s\n", err);
        goto out;
    }
    hss_ctx_t ctx = {.db = db, .domain = ims_cfg_str(cfg, "domain")};
    ims_http_opts_t ho = {
        .bind = bind,
        .threads = (unsigned)ims_cfg_int(cfg, "threads"),
        .max_body = HSS_BULK_MAX, /* the handler enforces 64 KiB on everything else */
        .token = token,
        .handler = hss_http_handler,
        .ctx = &ctx,
    };
    if (ims_http_server_start(&ho, &http, err, sizeof err) != 0) {
        fprintf(stderr, "hss-stub: %s\n", err);
        goto out;
    }
    IMS_INFO("hss-stub %s ready on %s (db %s, domain %s%s)", IMS_VERSION, bind, path, ctx.domain,
             token ? ", token required" : "");

    int sig = 0;
    sigwait(&sigs, &sig);
    IMS_INFO("%s received, shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
    rc = 0;
out:
    if (http)
        ims_http_server_stop(http);
    hss_db_close(db);
    if (cfg)
        ims_cfg_free(cfg);
    return rc;
}
