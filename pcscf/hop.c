/* The next hop toward the S-CSCF: --scscf resolved here (nta only ever sees an IP literal
 * with a port), resolved again after failures, and recognised as a source of requests. */
#include "core.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <sofia-sip/su_alloc.h>
#include <sofia-sip/url.h>

#include "ims/log.h"
#include "ims/util.h"

/* nta's resolver ignores /etc/hosts, so the S-CSCF name is resolved here with
 * getaddrinfo and nta only ever sees an IP literal with an explicit port. */
int pcscf_hop_resolve(pcscf_t *p, char *err, size_t errlen)
{
    su_home_t home[1] = {SU_HOME_INIT(home)};
    url_t *u = url_make(home, p->scscf_conf);
    struct addrinfo hints = {.ai_socktype = SOCK_DGRAM}, *ai = NULL;
    char ip[INET6_ADDRSTRLEN], host[300], tpbuf[32] = "";
    int rc = 0;

    if (!u || (u->url_type != url_sip && u->url_type != url_sips) || !u->url_host) {
        snprintf(err, errlen, "--scscf %s is not a sip: URI", p->scscf_conf);
        rc = EINVAL;
        goto out;
    }
    snprintf(host, sizeof host, "%s", u->url_host);
    if (host[0] == '[') {
        memmove(host, host + 1, strlen(host));
        host[strcspn(host, "]")] = '\0';
    }
    int gai = getaddrinfo(host, NULL, &hints, &ai);
    if (gai != 0 || !ai) {
        snprintf(err, errlen, "cannot resolve S-CSCF host %s: %s", host, gai_strerror(gai));
        rc = ENOENT;
        goto out;
    }
    /* "localhost" in /etc/hosts yields ::1 first while labs bind 127.0.0.1: prefer IPv4. */
    struct addrinfo *pick = ai;
    for (struct addrinfo *i = ai; i; i = i->ai_next)
        if (i->ai_family == AF_INET) {
            pick = i;
            break;
        }
    if (pick->ai_family == AF_INET6)
        inet_ntop(AF_INET6, &((struct sockaddr_in6 *)pick->ai_addr)->sin6_addr, ip, sizeof ip);
    else
        inet_ntop(AF_INET, &((struct sockaddr_in *)pick->ai_addr)->sin_addr, ip, sizeof ip);
    if (url_param(u->url_params, "transport", tpbuf, sizeof tpbuf) <= 0)
        tpbuf[0] = '\0';
    char *hop = su_sprintf(p->home, "%s:%s%s%s:%s%s%s", u->url_type == url_sips ? "sips" : "sip",
                           pick->ai_family == AF_INET6 ? "[" : "", ip,
                           pick->ai_family == AF_INET6 ? "]" : "",
                           u->url_port && *u->url_port ? u->url_port
                           : u->url_type == url_sips   ? "5061"
                                                       : "5060",
                           tpbuf[0] ? ";transport=" : "", tpbuf);
    if (!hop) {
        rc = ENOMEM;
        goto out;
    }
    if (p->scscf_hop && strcmp(p->scscf_hop, hop) != 0)
        IMS_INFO("S-CSCF %s now resolves to %s", p->scscf_conf, hop);
    su_free(p->home, p->scscf_hop);
    p->scscf_hop = hop;
    snprintf(p->hop_ip, sizeof p->hop_ip, "%s", ip);
    p->hop_port = (uint16_t)atoi(u->url_port && *u->url_port ? u->url_port
                                 : u->url_type == url_sips   ? "5061"
                                                             : "5060");
    p->hop_resolved_ms = ims_now_ms();
out:
    if (ai)
        freeaddrinfo(ai);
    su_home_deinit(home);
    return rc;
}

/* After a failure the name may point elsewhere now (container restarted); re-resolve,
 * at most once a second so a dead S-CSCF does not turn into a lookup storm. */
void pcscf_hop_retry(pcscf_t *p)
{
    char err[256];
    if (ims_now_ms() - p->hop_resolved_ms < 1000)
        return;
    if (pcscf_hop_resolve(p, err, sizeof err) != 0)
        IMS_WARN("%s (keeping %s)", err, p->scscf_hop ? p->scscf_hop : "no address");
}

/* Terminating traffic comes from the S-CSCF: from its address, or from its host through
 * the Path we inserted. */
bool pcscf_hop_is_scscf(pcscf_t *p, const sip_t *sip, const char *src_ip, uint16_t src_port)
{
    bool from_scscf_host = p->hop_port && strcmp(src_ip, p->hop_ip) == 0;
    if (from_scscf_host && src_port == p->hop_port)
        return true;
    /* Over TCP the S-CSCF's source port is ephemeral: our Path route from its host. */
    for (sip_route_t *r = sip->sip_route; r && pcscf_self_is_me(p->self, r->r_url); r = r->r_next)
        if (from_scscf_host && p->path_user && r->r_url->url_user &&
            strcmp(r->r_url->url_user, p->path_user) == 0)
            return true;
    return false;
}
