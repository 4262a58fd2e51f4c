/* sec-agree and IPsec in the P-CSCF's SIP flow (SPEC §6, TS 24.229 §5.2.2): start-up of the
 * protected ports and datapath, the REGISTER and answer hooks, teardown, status exports. */
#include "core.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <sofia-sip/msg_header.h>
#include <sofia-sip/nta_tport.h>
#include <sofia-sip/sip_header.h>
#include <sofia-sip/su_alloc.h>
#include <sofia-sip/su_string.h>
#include <sofia-sip/tport.h>

#include "esp_tun.h"
#include "ims/log.h"
#include "ims/sip.h"
#include "ims/util.h"
#include "ipsec.h"
#include "ipsec_sip.h"

struct pcscf_ipsec_sip {
    pcscf_sec_agree_t mode; /* as configured */
    bool on;                /* IPsec available (mode not off and the datapath is up) */
    pcscf_esp_table_t table;
    bool table_ok;
    pcscf_ipsec_t *ipsec;
    pcscf_esp_tun_t *tun;
    uint16_t port_c, port_s;
};

/* A port free for both UDP and TCP on host (the kernel picks; TCP must agree). */
static uint16_t free_port(const char *host)
{
    struct sockaddr_in a = {.sin_family = AF_INET};
    if (inet_pton(AF_INET, *host ? host : "0.0.0.0", &a.sin_addr) != 1)
        return 0;
    for (int i = 0; i < 50; i++) {
        int u = socket(AF_INET, SOCK_DGRAM, 0), t = socket(AF_INET, SOCK_STREAM, 0);
        socklen_t len = sizeof a;
        uint16_t port = 0;
        a.sin_port = 0;
        if (u >= 0 && t >= 0 && bind(u, (struct sockaddr *)&a, sizeof a) == 0 &&
            getsockname(u, (struct sockaddr *)&a, &len) == 0 &&
            bind(t, (struct sockaddr *)&a, sizeof a) == 0)
            port = ntohs(a.sin_port);
        if (u >= 0)
            close(u);
        if (t >= 0)
            close(t);
        if (port)
            return port;
    }
    return 0;
}

/* Listens on port (UDP+TCP) like on --sip and binds those sockets to the TUN device. */
static int protected_port(pcscf_t *p, struct pcscf_ipsec_sip *s, const char *host, const char *adv,
                          uint16_t port, char *err, size_t errlen)
{
    const char *bind_host = *host ? host : "0.0.0.0";
    char *uri = adv && strcmp(bind_host, "0.0.0.0") == 0
                    ? su_sprintf(p->home, "sip:%s:%u;maddr=%s", adv, port, bind_host)
                    : su_sprintf(p->home, "sip:%s:%u", bind_host, port);
    if (!uri || nta_agent_add_tport(p->agent, URL_STRING_MAKE(uri), TAG_END()) != 0) {
        snprintf(err, errlen, "cannot listen on protected port %u: %s", port, strerror(errno));
        return EADDRINUSE;
    }
    return pcscf_esp_tun_bind_port(s->tun, port, err, errlen);
}

static int datapath(pcscf_t *p, struct pcscf_ipsec_sip *s, const pcscf_conf_t *conf,
                    const char *host, const char *adv, char *err, size_t errlen)
{
    pcscf_esp_tun_conf_t tc = {.ifname = conf->ipsec_ifname};
    int rc = pcscf_esp_tun_create(p->root, &s->table, &tc, &s->tun, err, errlen);
    if (!rc)
        rc = protected_port(p, s, host, adv, s->port_c, err, errlen);
    if (!rc)
        rc = protected_port(p, s, host, adv, s->port_s, err, errlen);
    return rc;
}

int pcscf_ipsec_sip_start(pcscf_t *p, const pcscf_conf_t *conf, const char *host, const char *adv,
                          char *err, size_t errlen)
{
    struct pcscf_ipsec_sip *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return ENOMEM;
    }
    p->sec = s;
    if (pcscf_sec_agree_parse(conf->sec_agree ? conf->sec_agree : "optional", &s->mode)) {
        snprintf(err, errlen, "--sec-agree %s is not off, optional or required", conf->sec_agree);
        return EINVAL;
    }
    if (s->mode == PCSCF_SEC_AGREE_OFF)
        return 0;
    s->port_c = conf->ipsec_port_c > 0 ? (uint16_t)conf->ipsec_port_c : free_port(host);
    s->port_s = conf->ipsec_port_s > 0 ? (uint16_t)conf->ipsec_port_s : free_port(host);
    bool wildcard = !*host || strcmp(host, "0.0.0.0") == 0;
    struct in_addr a4;
    const char *addr = !wildcard ? host : adv && inet_pton(AF_INET, adv, &a4) == 1 ? adv : NULL;
    pcscf_ipsec_conf_t ic = {.auth_prefs = conf->ipsec_alg,
                             .enc_prefs = conf->ipsec_ealg,
                             .port_c = s->port_c,
                             .port_s = s->port_s,
                             .addr = addr};
    int rc = pcscf_esp_user_create(&s->table);
    s->table_ok = rc == 0;
    if (!rc && (rc = pcscf_ipsec_create(&ic, &s->table, &s->ipsec, err, errlen)) != 0)
        return rc; /* a configuration error whatever the mode */
    if (!rc)
        rc = datapath(p, s, conf, host, adv, err, errlen);
    if (rc && s->mode == PCSCF_SEC_AGREE_REQUIRED)
        return rc;
    if (rc) {
        IMS_WARN("IPsec unavailable (%s): UEs asking for sec-agree register without it", err);
        pcscf_esp_tun_destroy(s->tun);
        s->tun = NULL;
        *err = 0;
        return 0;
    }
    s->on = true;
    IMS_INFO("sec-agree %s: IPsec protected ports %u (port-c) and %u (port-s) via %s",
             pcscf_sec_agree_name(s->mode), s->port_c, s->port_s, pcscf_esp_tun_ifname(s->tun));
    return 0;
}

void pcscf_ipsec_sip_stop(pcscf_t *p)
{
    struct pcscf_ipsec_sip *s = p->sec;
    if (!s)
        return;
    pcscf_ipsec_destroy(s->ipsec);
    pcscf_esp_tun_destroy(s->tun);
    if (s->table_ok)
        s->table.ops->destroy(s->table.be);
    free(s);
    p->sec = NULL;
}

/* ---- header surgery ---- */

/* Removes tag from Require / Proxy-Require / Supported; a header left empty goes. */
static void drop_tag(msg_t *msg, sip_t *fs, msg_list_t **hp, const char *tag)
{
    for (msg_list_t *l = *hp, *next; l; l = next) {
        next = l->k_next;
        size_t n = 0;
        for (size_t i = 0; l->k_items && l->k_items[i]; i++)
            if (!su_casematch(l->k_items[i], tag))
                ((msg_param_t *)l->k_items)[n++] = l->k_items[i];
        if (l->k_items)
            ((msg_param_t *)l->k_items)[n] = NULL;
        if (n == 0)
            msg_header_remove(msg, (msg_pub_t *)fs, (msg_header_t *)l);
        else
            msg_fragment_clear(l->k_common);
    }
}

static bool has_tag(const msg_list_t *l, const char *tag)
{
    for (; l; l = l->k_next)
        for (size_t i = 0; l->k_items && l->k_items[i]; i++)
            if (su_casematch(l->k_items[i], tag))
                return true;
    return false;
}

static void strip(msg_t *msg, sip_t *fs)
{
    msg_header_remove_all(msg, (msg_pub_t *)fs, (msg_header_t *)fs->sip_security_client);
    msg_header_remove_all(msg, (msg_pub_t *)fs, (msg_header_t *)fs->sip_security_verify);
    drop_tag(msg, fs, (msg_list_t **)&fs->sip_require, "sec-agree");
    drop_tag(msg, fs, (msg_list_t **)&fs->sip_proxy_require, "sec-agree");
    drop_tag(msg, fs, (msg_list_t **)&fs->sip_supported, "sec-agree");
}

/* Sofia's parsed Security-* chain back to text for our stricter parser. */
static int sec_list(su_home_t *home, const sip_security_client_t *h, pcscf_sec_list_t *out,
                    char *why, size_t whylen)
{
    out->n = 0;
    for (; h; h = h->sa_next) {
        char *text = sip_header_as_string(home, (const sip_header_t *)h);
        int rc = text ? pcscf_sec_parse(text, out, why, whylen) : ENOMEM;
        if (rc)
            return rc;
    }
    return 0;
}

/* Our port the request came in on: the UDP socket's, or the TCP listener's. */
static uint16_t local_port(pcscf_txn_t *t)
{
    tport_t *tp = nta_incoming_transport(t->p->agent, t->irq, NULL);
    tport_t *pri = tp && !tport_is_primary(tp) ? tport_parent(tp) : tp;
    const tp_name_t *n = pri ? tport_name(pri) : NULL;
    uint16_t port = n && n->tpn_port ? (uint16_t)strtoul(n->tpn_port, NULL, 10) : 0;
    tport_unref(tp);
    return port;
}

static void set_integrity(msg_t *msg, sip_t *fs, const char *value)
{
    sip_authorization_t *au = fs->sip_authorization;
    if (!au)
        return;
    msg_header_replace_param(msg_home(msg), au->au_common, value);
    msg_fragment_clear(au->au_common);
}

static int refuse(pcscf_txn_t *t, pcscf_err_t e, pcscf_err_t *err, const char *why)
{
    t->why = su_strdup(t->home, why);
    *err = e;
    return -1;
}

int pcscf_ipsec_sip_register(pcscf_txn_t *t, const sip_t *sip, msg_t *msg, sip_t *fs,
                             pcscf_err_t *err)
{
    struct pcscf_ipsec_sip *s = t->p->sec;
    char why[256] = "";
    t->sec.asked = sip->sip_security_client || ims_sip_header_error(sip, "Security-Client") ||
                   has_tag((const msg_list_t *)sip->sip_require, "sec-agree") ||
                   has_tag((const msg_list_t *)sip->sip_proxy_require, "sec-agree");
    strip(msg, fs); /* the S-CSCF never sees sec-agree (TS 24.229 §5.2.2) */
    if (!s || !t->sec.asked)
        return 0;
    if (!s->on) {
        t->sec.without = "IPsec is not available at this P-CSCF (--sec-agree off or no "
                         "datapath): registering without it";
        return 0;
    }
    if (strchr(t->src_ip, ':')) {
        t->sec.without = "IPsec over IPv6 is not supported by this P-CSCF yet: registering "
                         "without it";
        return 0;
    }
    /* The S-CSCF derives the IMPI from To when the first REGISTER has no Authorization. */
    const url_t *to = sip->sip_to ? sip->sip_to->a_url : NULL;
    t->sec.impi = t->impi ? t->impi
                  : to && to->url_user && to->url_host
                      ? su_sprintf(t->home, "%s@%s", to->url_user, to->url_host)
                      : "";
    if (ims_sip_header_error(sip, "Security-Client"))
        return refuse(t, PCSCF_ERR_SEC_AGREE_BAD, err, "Security-Client could not be parsed");
    t->sec.client = su_zalloc(t->home, sizeof *t->sec.client);
    if (!t->sec.client)
        return refuse(t, PCSCF_ERR_INTERNAL, err, "out of memory");
    if (sec_list(t->home, sip->sip_security_client, t->sec.client, why, sizeof why))
        return refuse(t, PCSCF_ERR_SEC_AGREE_BAD, err, why);
    if (t->sec.client->n == 0) /* sec-agree required, but nothing offered */
        return refuse(t, PCSCF_ERR_SEC_AGREE_BAD, err,
                      "sec-agree required without a "
                      "Security-Client");
    if (local_port(t) != s->port_s) {
        /* Initial (or unprotected) REGISTER: the S-CSCF learns it was not protected. */
        set_integrity(msg, fs, "integrity-protected=\"no\"");
        return 0;
    }
    pcscf_sec_list_t verify = {.n = 0};
    if (sec_list(t->home, sip->sip_security_verify, &verify, why, sizeof why) ||
        pcscf_ipsec_verify(s->ipsec, t->sec.impi, t->src_ip, t->src_port, s->port_s, &verify, why,
                           sizeof why) != 0)
        return refuse(t, PCSCF_ERR_SEC_VERIFY, err, why);
    t->sec.protected_ = true;
    set_integrity(msg, fs, "integrity-protected=\"yes\"");
    return 0;
}

bool pcscf_ipsec_sip_arrived_protected(pcscf_t *p, pcscf_txn_t *t)
{
    struct pcscf_ipsec_sip *s = p->sec;
    if (!s || !s->on)
        return false;
    uint16_t port = local_port(t);
    return port == s->port_s || port == s->port_c;
}

bool pcscf_ipsec_sip_refuse(pcscf_t *p, pcscf_txn_t *t)
{
    struct pcscf_ipsec_sip *s = p->sec;
    return s && s->on && pcscf_ipsec_is_protected(s->ipsec, t->src_ip) &&
           !pcscf_ipsec_sip_arrived_protected(p, t);
}

/* The expiry a 2xx grants the UE's contacts (the largest; 0 when all are gone). */
static long granted(const sip_t *rs)
{
    long best = 0;
    for (const sip_contact_t *m = rs->sip_contact; m; m = m->m_next) {
        long e = m->m_expires      ? strtol(m->m_expires, NULL, 10)
                 : rs->sip_expires ? (long)rs->sip_expires->ex_delta
                                   : 3600;
        if (e > best)
            best = e;
    }
    return best;
}

static int challenge(pcscf_txn_t *t, msg_t *msg, sip_t *rs, const char *ck, const char *ik,
                     pcscf_err_t *err)
{
    struct pcscf_ipsec_sip *s = t->p->sec;
    char server[256], why[256];
    int rc = pcscf_ipsec_challenge(s->ipsec, t->sec.impi, t->src_ip, t->sec.client, ck, ik, server,
                                   sizeof server, why, sizeof why);
    if (rc == ENOTSUP)
        return refuse(t, PCSCF_ERR_SEC_AGREE_NO_ALG, err, why);
    if (rc)
        return refuse(t, PCSCF_ERR_IPSEC_FAILED, err, why);
    msg_header_t *h = msg_header_make(msg_home(msg), sip_security_server_class, server);
    if (!h || msg_header_insert(msg, (msg_pub_t *)rs, h) != 0) {
        pcscf_ipsec_remove(s->ipsec, t->sec.impi);
        return refuse(t, PCSCF_ERR_INTERNAL, err, "out of memory");
    }
    IMS_INFO("IPsec SAs installed for %s at %s:%u (%s)", t->sec.impi, t->src_ip, t->src_port,
             server);
    return 0;
}

int pcscf_ipsec_sip_answer(pcscf_txn_t *t, msg_t *msg, sip_t *rs, const char *ck, const char *ik,
                           pcscf_err_t *err)
{
    struct pcscf_ipsec_sip *s = t->p->sec;
    int status = rs->sip_status ? rs->sip_status->st_status : 0;
    bool aka = status == 401 && ck && *ck && ik && *ik;
    if (!s)
        return 0;
    if (aka && t->sec.client)
        return challenge(t, msg, rs, ck, ik, err);
    if (aka && s->on && s->mode == PCSCF_SEC_AGREE_REQUIRED && !t->sec.asked)
        return refuse(t, PCSCF_ERR_SEC_AGREE_REQUIRED, err,
                      "this P-CSCF requires IPsec for IMS AKA subscribers: send Security-Client "
                      "with Require: sec-agree");
    if (status >= 200 && status < 300 && t->sec.protected_)
        pcscf_ipsec_registered(s->ipsec, t->sec.impi, granted(rs));
    bool ok = status >= 200 && status < 300;
    if (t->sec.asked &&
        ((status == 401 && (!aka || t->sec.without)) || (ok && !t->sec.protected_))) {
        /* The UE asked, but gets no IPsec: say why rather than leave it guessing. */
        char w[300];
        snprintf(w, sizeof w, "399 %s \"%s\"", t->p->warn_host,
                 t->sec.without ? t->sec.without
                                : "sec-agree needs IMS AKA: registering without IPsec");
        msg_header_add_make(msg, (msg_pub_t *)rs, sip_warning_class, w);
    }
    return 0;
}

void pcscf_ipsec_sip_forget(pcscf_t *p, const char *impi)
{
    struct pcscf_ipsec_sip *s = p->sec;
    if (s && s->ipsec && pcscf_ipsec_remove(s->ipsec, impi))
        IMS_INFO("IPsec SAs of %s removed", impi);
}

void pcscf_ipsec_sip_sweep(pcscf_t *p)
{
    struct pcscf_ipsec_sip *s = p->sec;
    size_t n = s && s->ipsec ? pcscf_ipsec_expire(s->ipsec, ims_now_ms()) : 0;
    if (n)
        IMS_INFO("%zu IPsec SA set(s) expired", n);
}

json_t *pcscf_ipsec_sip_sas(pcscf_t *p, bool keys)
{
    struct pcscf_ipsec_sip *s = p->sec;
    json_t *j = s && s->ipsec ? pcscf_ipsec_json(s->ipsec, keys)
                              : json_pack("{s:[],s:i}", "items", "total", 0);
    if (j && s)
        json_object_set_new(j, "sec_agree", json_string(pcscf_sec_agree_name(s->mode)));
    if (j && s)
        json_object_set_new(j, "available", json_boolean(s->on));
    return j;
}

char *pcscf_ipsec_sip_esp_sa(pcscf_t *p)
{
    struct pcscf_ipsec_sip *s = p->sec;
    return s && s->ipsec ? pcscf_ipsec_esp_sa(s->ipsec) : strdup("");
}

void pcscf_ipsec_sip_metrics(pcscf_t *p, pcscf_ipsec_metrics_t *m)
{
    struct pcscf_ipsec_sip *s = p->sec;
    memset(m, 0, sizeof *m);
    if (!s || !s->ipsec)
        return;
    const pcscf_ipsec_stats_t *is = pcscf_ipsec_stats(s->ipsec);
    m->sas_active = pcscf_ipsec_sa_count(s->ipsec);
    m->sets_installed = is->sets_installed;
    m->verify_failed = is->verify_failed;
    if (s->tun)
        m->esp = *pcscf_esp_tun_stats(s->tun);
}
