/* The S-CSCF's settings: every option (command line, environment, defaults), their checks,
 * and the copy into scscf_config_t that the registrar reads. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ims/daemon.h"
#include "ims/log.h"
#include "ims/util.h"
#include "scscf.h"

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
    {"reg-sub-expires", "SCSCF_REG_SUB_EXPIRES", IMS_CFG_INT, "3600", 1, 604800,
     "reg event subscriptions: Expires granted to a SUBSCRIBE without one", false},
    {"reg-sub-min-expires", "SCSCF_REG_SUB_MIN_EXPIRES", IMS_CFG_INT, "60", 1, 86400,
     "reg event subscriptions: shorter requests get 423 with Min-Expires", false},
    {"reg-sub-max-expires", "SCSCF_REG_SUB_MAX_EXPIRES", IMS_CFG_INT, "600000", 1, 2000000,
     "reg event subscriptions: longer requests are cut to this (TS 24.229 UEs ask 600000)", false},
    {"reg-sub-max-per-impu", "SCSCF_REG_SUB_MAX_PER_IMPU", IMS_CFG_INT, "8", 1, 1000,
     "reg event subscriptions watching one IMPU; more get 503 Too Many Subscriptions", false},
    {"reg-sub-max", "SCSCF_REG_SUB_MAX", IMS_CFG_INT, "262144", 1, 10000000,
     "reg event subscriptions in total; more get 503 Too Many Subscriptions. A UE and its "
     "P-CSCF make two per registration; about 1.1 KiB each (measured), 300 MiB when full",
     false},
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
    IMS_UE_CFG_OPTS("SCSCF"),
    {"timeline-401-timeout", "SCSCF_TIMELINE_401_TIMEOUT", IMS_CFG_INT, "32", 1, 3600,
     "Seconds after which an unanswered 401 shows in the timeline as never answered", false},
};

int scscf_settings_load(scscf_settings_t *st, int argc, char **argv, bool *run)
{
    char err[512];
    *run = false;
    memset(st, 0, sizeof(*st));
    ims_cfg_result_t cr =
        ims_cfg_load(opts, sizeof(opts) / sizeof(opts[0]), "scscf",
                     "IMS S-CSCF registrar: Digest and AKA authentication against the hss-stub",
                     "SCSCF", argc, argv, &st->cfg, err, sizeof(err));
    if (cr == IMS_CFG_EXIT)
        return 0;
    if (cr != IMS_CFG_OK) {
        fprintf(stderr, "scscf: %s\n", err);
        return 2;
    }
    if (ims_log_level_parse(ims_cfg_str(st->cfg, "log-level"), &st->log_level)) {
        fprintf(stderr, "scscf: --log-level must be debug, info, warn or error\n");
        ims_cfg_free(st->cfg);
        st->cfg = NULL;
        return 2;
    }
    *run = true;
    return 0;
}

void scscf_settings_free(scscf_settings_t *st)
{
    ims_cfg_free(st->cfg);
    st->cfg = NULL;
}

int scscf_settings_apply(scscf_settings_t *st, scscf_config_t *c)
{
    const ims_cfg_t *cfg = st->cfg;
    c->sip = ims_cfg_str(cfg, "sip");
    c->domain = ims_cfg_str(cfg, "domain");
    c->server_header = ims_cfg_str(cfg, "server-header");
    c->min_expires = ims_cfg_int(cfg, "min-expires");
    c->max_expires = ims_cfg_int(cfg, "max-expires");
    c->nonce_ttl = ims_cfg_int(cfg, "nonce-ttl");
    c->max_contacts = ims_cfg_int(cfg, "max-contacts");
    c->tcp_idle_s = ims_cfg_int(cfg, "tcp-idle");
    c->auth_fail_limit = ims_cfg_int(cfg, "auth-fail-limit");
    c->auth_cooldown = ims_cfg_int(cfg, "auth-cooldown");
    c->sub_default_expires = ims_cfg_int(cfg, "reg-sub-expires");
    c->sub_min_expires = ims_cfg_int(cfg, "reg-sub-min-expires");
    c->sub_max_expires = ims_cfg_int(cfg, "reg-sub-max-expires");
    c->sub_max_per_impu = ims_cfg_int(cfg, "reg-sub-max-per-impu");
    c->sub_max = ims_cfg_int(cfg, "reg-sub-max");
    if (c->sub_min_expires > c->sub_default_expires ||
        c->sub_default_expires > c->sub_max_expires) {
        fprintf(stderr, "scscf: --reg-sub-min-expires <= --reg-sub-expires <= "
                        "--reg-sub-max-expires must hold\n");
        return 1;
    }
    if (c->min_expires > c->max_expires) {
        fprintf(stderr, "scscf: --min-expires must not exceed --max-expires\n");
        return 1;
    }
    if (ims_parse_hostport(c->sip, st->sip_host, sizeof(st->sip_host), &st->sip_port, 6060)) {
        fprintf(stderr, "scscf: --sip: not host:port: %s\n", c->sip);
        return 1;
    }
    bool v6 = strchr(st->sip_host, ':') != NULL;
    /* the Warning header's host: an IPv6 literal needs brackets */
    snprintf(st->warn_host, sizeof(st->warn_host), v6 ? "[%s]" : "%s", st->sip_host);
    c->host = st->warn_host;
    snprintf(st->sip_url, sizeof(st->sip_url), v6 ? "sip:[%s]:%u" : "sip:%s:%u", st->sip_host,
             st->sip_port);
    snprintf(c->scscf_uri, sizeof(c->scscf_uri), "sip:scscf.%s:%u", c->domain, st->sip_port);
    /* where watchers send in-dialog requests: an address, as names may not resolve there */
    snprintf(c->scscf_contact, sizeof(c->scscf_contact), "%s", st->sip_url);
    c->service_route = ims_cfg_str(cfg, "service-route");
    if (!c->service_route) {
        snprintf(st->service_route, sizeof(st->service_route), "<sip:orig@scscf.%s:6060;lr>",
                 c->domain);
        c->service_route = st->service_route;
    }
    /* Anyone who reaches the status API could DELETE registrations. */
    char err[512];
    if (ims_http_guard(ims_cfg_str(cfg, "http"), 8082, ims_cfg_str(cfg, "token"),
                       ims_cfg_bool(cfg, "insecure"), "the status API", err, sizeof(err))) {
        fprintf(stderr, "scscf: %s\n", err);
        return 1;
    }
    return 0;
}
