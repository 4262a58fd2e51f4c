/* The P-CSCF's settings: the flag/environment table, the checks made before anything
 * starts (log level, status API exposure), and the proxy's configuration drawn from them. */
#include "pcscf.h"
#include "ipsec.h"

#include <stdio.h>
#include <string.h>

#include "ims/cfg.h"
#include "ims/daemon.h"
#include "ims/log.h"
#include "ims/ue_api.h"

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
    {"max-queue-ms", "PCSCF_MAX_QUEUE_MS", IMS_CFG_INT, "200", 0, 10000,
     "overload limit: while the oldest datagram waiting on the UDP socket has waited this "
     "long, new REGISTERs (without credentials) get 503 P-CSCF Overloaded at once (only "
     "with 128 or more requests pending and after 32 REGISTERs in 100 ms "
     "found it so, so a pause or a few REGISTERs in other traffic shed nothing; 0: no "
     "limit)",
     false},
    {"tcp-idle", "PCSCF_TCP_IDLE", IMS_CFG_INT, "3600", 0, 86400,
     "seconds after which an idle SIP TCP connection is closed (0: never); bounds half-open "
     "and abandoned connections (a UE re-registering over TCP keeps its connection busy)",
     false},
    {"reg-subscribe", "PCSCF_REG_SUBSCRIBE", IMS_CFG_STR, "on", 0, 0,
     "on: subscribe to the reg event of every UE registered through us (TS 24.229 5.2.3) "
     "and drop its registration when the S-CSCF ends it; off: do not",
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
    {"sec-agree", "PCSCF_SEC_AGREE", IMS_CFG_STR, "optional", 0, 0,
     "IPsec with the UEs (RFC 3329 sec-agree, TS 33.203): off, optional (when the UE asks) or "
     "required (an IMS AKA UE that does not ask gets 494)",
     false},
    {"ipsec-alg", "PCSCF_IPSEC_ALG", IMS_CFG_STR, "hmac-sha-1-96,hmac-md5-96", 0, 0,
     "IPsec integrity algorithms accepted, most preferred first", false},
    {"ipsec-ealg", "PCSCF_IPSEC_EALG", IMS_CFG_STR, "null,aes-cbc", 0, 0,
     "IPsec encryption algorithms accepted, most preferred first (null, aes-cbc, des-ede3-cbc)",
     false},
    {"ipsec-port-c", "PCSCF_IPSEC_PORT_C", IMS_CFG_INT, "0", 0, 65535,
     "protected client port (UDP+TCP) of the P-CSCF (0: a free port picked at start)", false},
    {"ipsec-port-s", "PCSCF_IPSEC_PORT_S", IMS_CFG_INT, "0", 0, 65535,
     "protected server port (UDP+TCP) of the P-CSCF (0: a free port picked at start)", false},
    {"ipsec-ifname", "PCSCF_IPSEC_IFNAME", IMS_CFG_STR, "imsesp%d", 0, 0,
     "TUN device of the user-space ESP datapath (%d: the kernel picks a number)", false},
};

int pcscf_settings_load(int argc, char **argv, pcscf_settings_t *s)
{
    char err[512];
    *s = (pcscf_settings_t){0};
    ims_cfg_result_t cr =
        ims_cfg_load(opts, sizeof opts / sizeof opts[0], "pcscf",
                     "IMS P-CSCF: edge proxy between UEs and the S-CSCF (Path, NAT help, "
                     "charging headers)",
                     "PCSCF", argc, argv, &s->cfg, err, sizeof err);
    if (cr == IMS_CFG_EXIT)
        return -1;
    if (cr != IMS_CFG_OK) {
        fprintf(stderr, "pcscf: %s\n", err);
        return 2;
    }
    ims_cfg_t *cfg = s->cfg;
    if (ims_log_level_parse(ims_cfg_str(cfg, "log-level"), &s->level) != 0) {
        fprintf(stderr, "pcscf: --log-level %s is not debug, info, warn or error\n",
                ims_cfg_str(cfg, "log-level"));
        pcscf_settings_free(s);
        return 2;
    }
    /* Anyone who reaches the status API could DELETE bindings: off loopback it needs a
     * token, unless the operator says otherwise. */
    if (ims_http_guard(ims_cfg_str(cfg, "http"), 8081, ims_cfg_str(cfg, "token"),
                       ims_cfg_bool(cfg, "insecure"), "the status API", err, sizeof err) != 0) {
        fprintf(stderr, "pcscf: %s\n", err);
        pcscf_settings_free(s);
        return 2;
    }
    const char *rsub = ims_cfg_str(cfg, "reg-subscribe");
    if (strcmp(rsub, "on") != 0 && strcmp(rsub, "off") != 0) {
        fprintf(stderr, "pcscf: --reg-subscribe %s is not on or off\n", rsub);
        pcscf_settings_free(s);
        return 2;
    }
    s->http = ims_cfg_str(cfg, "http");
    s->token = ims_cfg_str(cfg, "token");
    s->state = ims_cfg_str(cfg, "state");
    s->conf = (pcscf_conf_t){
        .sip = ims_cfg_str(cfg, "sip"),
        .scscf = ims_cfg_str(cfg, "scscf"),
        .domain = ims_cfg_str(cfg, "domain"),
        .path = ims_cfg_str(cfg, "path"),
        .advertise = ims_cfg_str(cfg, "advertise"),
        .visited_network = ims_cfg_str(cfg, "visited-network"),
        .timeout_ms = ims_cfg_int(cfg, "timeout-ms"),
        .max_pending = ims_cfg_int(cfg, "max-pending"),
        .max_queue_ms = ims_cfg_int(cfg, "max-queue-ms"),
        .tcp_idle_s = ims_cfg_int(cfg, "tcp-idle"),
        .reg_subscribe = strcmp(rsub, "on") == 0,
        .sec_agree = ims_cfg_str(cfg, "sec-agree"),
        .ipsec_alg = ims_cfg_str(cfg, "ipsec-alg"),
        .ipsec_ealg = ims_cfg_str(cfg, "ipsec-ealg"),
        .ipsec_port_c = ims_cfg_int(cfg, "ipsec-port-c"),
        .ipsec_port_s = ims_cfg_int(cfg, "ipsec-port-s"),
        .ipsec_ifname = ims_cfg_str(cfg, "ipsec-ifname"),
    };
    s->conf.naliases = ims_cfg_list(cfg, "alias", &s->conf.aliases);
    pcscf_sec_agree_t mode;
    if (pcscf_sec_agree_parse(ims_cfg_str(cfg, "sec-agree"), &mode) != 0) {
        fprintf(stderr, "pcscf: --sec-agree %s is not off, optional or required\n",
                ims_cfg_str(cfg, "sec-agree"));
        pcscf_settings_free(s);
        return 2;
    }
    return 0;
}

void pcscf_settings_free(pcscf_settings_t *s)
{
    ims_cfg_free(s->cfg);
    s->cfg = NULL;
}
