/* scscf: the S-CSCF registrar daemon. main() only wires configuration, logging, the su_root
 * loop, the SIP agent, the HSS client and the status API, and tears them down in reverse. */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/socket.h>
#include <netinet/in.h>

#include <sofia-sip/su.h>
#include <sofia-sip/su_log.h>
#include <sofia-sip/tport_tag.h>

#include "ims/cfg.h"
#include "ims/log.h"
#include "ims/util.h"
#include "scscf.h"

/* after scscf.h, which sets Sofia's magic types before any Sofia header */
#include "ims/loop.h"

static const ims_cfg_opt_t opts[] = {
    {"sip", "SCSCF_SIP", IMS_CFG_STR, "127.0.0.1:6060", 0, 0,
     "SIP listen address host:port (UDP and TCP)", false},
    {"http", "SCSCF_HTTP", IMS_CFG_STR, "127.0.0.1:8082", 0, 0,
     "Status API listen address host:port", false},
    {"hss", "SCSCF_HSS", IMS_CFG_STR, "http://127.0.0.1:8080", 0, 0,
     "Base URL of the hss-stub (Cx over HTTP)", false},
    {"hss-token", "SCSCF_HSS_TOKEN", IMS_CFG_STR, NULL, 0, 0, "Bearer token sent to the hss-stub",
     true},
    {"hss-timeout-ms", "SCSCF_HSS_TIMEOUT_MS", IMS_CFG_INT, "2000", 50, 60000,
     "Longest wait for an HSS answer before replying 503", false},
    {"hss-connections", "SCSCF_HSS_CONNECTIONS", IMS_CFG_INT, "16", 1, 256,
     "Kept-alive HTTP connections to the HSS (Cx calls in flight); more queue", false},
    {"domain", "SCSCF_DOMAIN", IMS_CFG_STR, "ims.mnc011.mcc432.3gppnetwork.org", 0, 0,
     "Home domain: realm, and the only Request-URI host served", false},
    {"service-route", "SCSCF_SERVICE_ROUTE", IMS_CFG_STR, NULL, 0, 0,
     "Service-Route returned in 200 OK (default <sip:orig@scscf.DOMAIN:6060;lr>)", false},
    {"min-expires", "SCSCF_MIN_EXPIRES", IMS_CFG_INT, "60", 1, 86400,
     "Shortest registration accepted; shorter gets 423 with Min-Expires", false},
    {"max-expires", "SCSCF_MAX_EXPIRES", IMS_CFG_INT, "3600", 1, 604800,
     "Longest registration granted; longer requests are capped", false},
    {"server-header", "SCSCF_SERVER_HEADER", IMS_CFG_STR, "IMS-Emulator S-CSCF", 0, 0,
     "Value of the Server header in every reply", false},
    {"nonce-ttl", "SCSCF_NONCE_TTL", IMS_CFG_INT, "300", 1, 86400,
     "Seconds a nonce may be reused (with increasing nc) before it is stale", false},
    {"max-nonces", "SCSCF_MAX_NONCES", IMS_CFG_INT, "262144", 1024, 16777216,
     "Nonces remembered (each for twice --nonce-ttl, so a late answer still gets "
     "stale=true: 200,000 at 333 challenges/s); past it the oldest is dropped and its UE "
     "challenged again. About 0.8 KiB each (200 MiB when full), allocated as they are made",
     false},
    {"max-contacts", "SCSCF_MAX_CONTACTS", IMS_CFG_INT, "20", 1, 1000,
     "Bindings one IMPI may hold; a REGISTER that would exceed it gets 403 Too Many Contacts",
     false},
    {"tcp-idle", "SCSCF_TCP_IDLE", IMS_CFG_INT, "3600", 0, 86400,
     "Seconds after which an idle SIP TCP connection is closed (0: never); bounds half-open "
     "and abandoned connections",
     false},
    {"state", "SCSCF_STATE", IMS_CFG_STR, "var/scscf.db", 0, 0,
     "SQLite file where bindings persist across restarts; :memory: disables", false},
    {"token", "SCSCF_TOKEN", IMS_CFG_STR, NULL, 0, 0,
     "Bearer token required by DELETE on the status API", true},
    {"insecure", "SCSCF_INSECURE", IMS_CFG_BOOL, "false", 0, 0,
     "allow a non-loopback --http address without --token", false},
    {"auth-fail-limit", "SCSCF_AUTH_FAIL_LIMIT", IMS_CFG_INT, "10", 1, 100000,
     "failed authentications from one UE address (per IMPI, or across IMPIs) before it gets "
     "403 Too Many Failed Attempts",
     false},
    {"auth-cooldown", "SCSCF_AUTH_COOLDOWN", IMS_CFG_INT, "60", 1, 86400,
     "seconds a UE address stays refused after --auth-fail-limit failures", false},
    {"log-level", "SCSCF_LOG_LEVEL", IMS_CFG_STR, "info", 0, 0, "debug, info, warn or error",
     false},
};

static bool loopback_host(const char *host)
{
    return strncmp(host, "127.", 4) == 0 || strcmp(host, "::1") == 0 ||
           strcmp(host, "localhost") == 0;
}

/* Sofia's own diagnostics (e.g. an ICMP port unreachable after a UE went away) go to our
 * log at debug, one line each, instead of raw multi-line text on stderr. */
extern su_log_t tport_log[], nta_log[];

static void sofia_log(void *stream, char const *fmt, va_list ap)
{
    char line[512];
    vsnprintf(line, sizeof(line), fmt, ap);
    for (char *p = line; *p; p++)
        if (*p == '\n' || *p == '\t' || *p == '\r')
            *p = ' ';
    size_t n = strlen(line);
    while (n && line[n - 1] == ' ')
        line[--n] = 0;
    if (n)
        IMS_DEBUG("sofia: %s", line);
}

/* nta exposes no socket handle, and the kernel's default UDP receive buffer (~200 KiB)
 * overflows within milliseconds at thousands of REGISTERs per second whenever the loop is
 * briefly descheduled: find our UDP sockets by their bound port and enlarge them. */
static void enlarge_udp_buffers(uint16_t port)
{
    for (int fd = 3; fd < 4096; fd++) {
        int type = 0;
        socklen_t tl = sizeof(type);
        struct sockaddr_storage ss;
        socklen_t sl = sizeof(ss);
        if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) || type != SOCK_DGRAM ||
            getsockname(fd, (struct sockaddr *)&ss, &sl))
            continue;
        uint16_t p = ss.ss_family == AF_INET    ? ntohs(((struct sockaddr_in *)&ss)->sin_port)
                     : ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
                                                : 0;
        if (p != port)
            continue;
        /* ~1000-2000 queued requests (the kernel doubles the value): enough to ride out
         * a scheduling hiccup, small enough that a queued request is answered well
         * before the UE's first retransmission (T1 = 500 ms) instead of feeding a
         * retransmission storm under overload */
        int size = 1024 * 1024;
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
    }
}

/* The registrar calls the HSS through scscf_t.hss_post (a fuzzer puts a fake there). */
static int hss_post(void *hss, const char *path, json_t *body, scscf_hss_cb cb, void *ctx)
{
    return scscf_hss_post(hss, path, body, cb, ctx);
}

int main(int argc, char **argv)
{
    char err[512];
    ims_cfg_t *cfg = NULL;
    ims_cfg_result_t cr =
        ims_cfg_load(opts, sizeof(opts) / sizeof(opts[0]), "scscf",
                     "IMS S-CSCF registrar: Digest and AKA authentication against the hss-stub",
                     "SCSCF", argc, argv, &cfg, err, sizeof(err));
    if (cr == IMS_CFG_EXIT)
        return 0;
    if (cr != IMS_CFG_OK) {
        fprintf(stderr, "scscf: %s\n", err);
        return 2;
    }
    ims_log_level_t level;
    if (ims_log_level_parse(ims_cfg_str(cfg, "log-level"), &level)) {
        fprintf(stderr, "scscf: --log-level must be debug, info, warn or error\n");
        ims_cfg_free(cfg);
        return 2;
    }
    ims_log_init("scscf", level);

    static scscf_t s; /* static: zeroed, and reachable from every callback */
    int rc = 1;
    char host[256], sipurl[300], srbuf[512];
    uint16_t port;
    ims_http_server_t *http = NULL;
    ims_loop_http_t *lh = NULL;
    ims_loop_signals_t *sig = NULL;

    s.cfg.sip = ims_cfg_str(cfg, "sip");
    s.cfg.domain = ims_cfg_str(cfg, "domain");
    s.cfg.server_header = ims_cfg_str(cfg, "server-header");
    s.cfg.min_expires = ims_cfg_int(cfg, "min-expires");
    s.cfg.max_expires = ims_cfg_int(cfg, "max-expires");
    s.cfg.nonce_ttl = ims_cfg_int(cfg, "nonce-ttl");
    s.cfg.max_contacts = ims_cfg_int(cfg, "max-contacts");
    s.cfg.tcp_idle_s = ims_cfg_int(cfg, "tcp-idle");
    s.cfg.auth_fail_limit = ims_cfg_int(cfg, "auth-fail-limit");
    s.cfg.auth_cooldown = ims_cfg_int(cfg, "auth-cooldown");
    if (s.cfg.min_expires > s.cfg.max_expires) {
        fprintf(stderr, "scscf: --min-expires must not exceed --max-expires\n");
        goto out_cfg;
    }
    if (ims_parse_hostport(s.cfg.sip, host, sizeof(host), &port, 6060)) {
        fprintf(stderr, "scscf: --sip: not host:port: %s\n", s.cfg.sip);
        goto out_cfg;
    }
    char warn_host[300]; /* the Warning header's host: an IPv6 literal needs brackets */
    snprintf(warn_host, sizeof(warn_host), strchr(host, ':') ? "[%s]" : "%s", host);
    s.cfg.host = warn_host;
    snprintf(sipurl, sizeof(sipurl), strchr(host, ':') ? "sip:[%s]:%u" : "sip:%s:%u", host, port);
    snprintf(s.cfg.scscf_uri, sizeof(s.cfg.scscf_uri), "sip:scscf.%s:%u", s.cfg.domain, port);
    s.cfg.service_route = ims_cfg_str(cfg, "service-route");
    if (!s.cfg.service_route) {
        snprintf(srbuf, sizeof(srbuf), "<sip:orig@scscf.%s:6060;lr>", s.cfg.domain);
        s.cfg.service_route = srbuf;
    }

    {
        /* Anyone who reaches the status API could DELETE registrations: off loopback it
         * needs a token, unless the operator says otherwise. */
        char hhost[256];
        uint16_t hport;
        const char *hbind = ims_cfg_str(cfg, "http"), *token = ims_cfg_str(cfg, "token");
        if (ims_parse_hostport(hbind, hhost, sizeof(hhost), &hport, 8082)) {
            fprintf(stderr, "scscf: --http: not host:port: %s\n", hbind);
            goto out_cfg;
        }
        if (token && !*token) {
            fprintf(stderr, "scscf: --token must not be empty\n");
            goto out_cfg;
        }
        if (!loopback_host(hhost) && !token && !ims_cfg_bool(cfg, "insecure")) {
            fprintf(stderr,
                    "scscf: refusing to serve the status API on %s without --token (or pass "
                    "--insecure)\n",
                    hbind);
            goto out_cfg;
        }
    }

    su_init();
    ims_loop_whole_ms_clock();
    su_log_redirect(su_log_default, sofia_log, NULL);
    su_log_redirect(tport_log, sofia_log, NULL);
    su_log_redirect(nta_log, sofia_log, NULL);
    s.root = su_root_create(&s);
    if (!s.root) {
        fprintf(stderr, "scscf: cannot create the event loop\n");
        goto out_su;
    }
    if (ims_loop_signals_init(s.root, &sig)) {
        fprintf(stderr, "scscf: cannot set up signal handling\n");
        goto out_root;
    }
    if (scscf_location_create(&s.loc) ||
        scscf_auth_create(s.cfg.domain, s.cfg.nonce_ttl, &s.auth) ||
        /* 64k addresses/IMPIs at ~100 bytes each: a few MiB at most */
        scscf_guard_create(s.cfg.auth_fail_limit, s.cfg.auth_cooldown, 65536, &s.guard)) {
        fprintf(stderr, "scscf: out of memory\n");
        goto out_root;
    }
    scscf_auth_set_max(s.auth, (size_t)ims_cfg_int(cfg, "max-nonces"));
    if (scscf_location_open_db(s.loc, ims_cfg_str(cfg, "state"), err, sizeof(err))) {
        fprintf(stderr, "scscf: %s\n", err);
        goto out_root;
    }
    if (scscf_hss_create(s.root, ims_cfg_str(cfg, "hss"), ims_cfg_str(cfg, "hss-token"),
                         ims_cfg_int(cfg, "hss-timeout-ms"), ims_cfg_int(cfg, "hss-connections"),
                         &s.hss)) {
        fprintf(stderr, "scscf: cannot create the HSS client\n");
        goto out_root;
    }
    s.hss_post = hss_post;
    s.hss_ctx = s.hss;
    s.agent = nta_agent_create(s.root, URL_STRING_MAKE(sipurl), NULL, NULL, NTATAG_UDP_MTU(65535),
                               /* let requests with a bad non-critical header reach the
                                  registrar, which answers 400 with a Warning naming it */
                               NTATAG_BAD_REQ_MASK(0),
                               /* Timer J (how long a completed UDP transaction is kept to
                                  answer retransmissions) is 64*T1 = 32 s by default; at
                                  thousands of REGISTERs/s that holds gigabytes. 4 s still
                                  covers a UE's retransmissions (T2 = 4 s). */
                               NTATAG_SIP_T1X64(4000),
                               /* answer a retransmission of a REGISTER still waiting for the
                                  HSS with 100 Trying, so the UE backs off to T2 */
                               NTATAG_EXTRA_100(1),
                               /* a 4 MiB UDP receive buffer (kernel default ~200 KiB,
                                  capped at net.core.rmem_max) absorbs bursts instead of
                                  dropping them into retransmissions */
                               TPTAG_UDP_RMEM(4 << 20), TAG_END());
    if (!s.agent) {
        fprintf(stderr,
                "scscf: cannot listen for SIP on %s (UDP+TCP): port in use or address not "
                "local\n",
                s.cfg.sip);
        goto out_root;
    }
    enlarge_udp_buffers(port);
    if (ims_loop_tcp_idle(s.agent, s.cfg.tcp_idle_s) != 0)
        IMS_WARN("could not set the TCP idle timeout (--tcp-idle)");
    if (scscf_registrar_init(&s)) {
        fprintf(stderr, "scscf: cannot start the registrar\n");
        goto out_agent;
    }
    ims_http_opts_t ho = {
        .bind = ims_cfg_str(cfg, "http"),
        .threads = 0,
        .token = ims_cfg_str(cfg, "token"),
        .token_methods = "DELETE,POST,PUT,PATCH",
        .handler = scscf_status_handler,
        .ctx = &s,
    };
    if (ims_http_server_start(&ho, &http, err, sizeof(err))) {
        fprintf(stderr, "scscf: %s\n", err);
        goto out_reg;
    }
    if (ims_loop_attach_http(s.root, http, &lh)) {
        fprintf(stderr, "scscf: cannot attach the status API to the loop\n");
        goto out_http;
    }
    IMS_INFO("S-CSCF for %s: SIP %s (udp+tcp), status API %s, HSS %s, Service-Route %s",
             s.cfg.domain, s.cfg.sip, ims_cfg_str(cfg, "http"), ims_cfg_str(cfg, "hss"),
             s.cfg.service_route);
    su_root_run(s.root);
    IMS_INFO("shutting down");
    rc = 0;

    ims_loop_detach_http(lh);
out_http:
    ims_http_server_stop(http);
out_reg:
    scscf_hss_free(s.hss); /* answers pending REGISTERs with 503 */
    s.hss = NULL;
    s.hss_ctx = NULL;
    scscf_registrar_deinit(&s);
out_agent:
    nta_agent_destroy(s.agent);
out_root:
    scscf_hss_free(s.hss);
    scscf_location_free(s.loc);
    scscf_auth_free(s.auth);
    scscf_guard_free(s.guard);
    ims_loop_signals_free(sig);
    if (s.root)
        su_root_destroy(s.root);
out_su:
    su_deinit();
out_cfg:
    ims_cfg_free(cfg);
    return rc;
}
