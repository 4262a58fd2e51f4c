/* What the S-CSCF answers besides REGISTER (RFC 3261 §8.2.1, RFC 6665 §4.2.2): OPTIONS to
 * itself, 489 for event packages, 405 with Allow, 501; and the Require check (420). */
#include "register.h" /* first: scscf.h defines Sofia's magic types */

#include <stdio.h>
#include <string.h>

#include <sofia-sip/su_string.h>

#include "ims/sip_conform.h"
#include "regevent.h"

#define ALLOW "Allow: " SCSCF_ALLOW "\r\n"

/* Option tags a request may Require of us. */
static const char *const supported[] = {"path", NULL};

bool scscf_is_me(const scscf_t *s, const url_t *u)
{
    if (!u || (u->url_type != url_sip && u->url_type != url_sips) || !u->url_host ||
        (u->url_user && *u->url_user))
        return false;
    char host[300], port[16];
    snprintf(host, sizeof host, "scscf.%s", s->cfg.domain);
    bool named = su_casematch(u->url_host, s->cfg.domain) || su_casematch(u->url_host, host);
    if (named)
        return true; /* the names are ours on any port */
    /* Our own address: host and port of --sip (a missing port means 5060). */
    const char *h = s->cfg.sip, *colon = strrchr(h, ':');
    size_t hl = colon ? (size_t)(colon - h) : strlen(h);
    if (hl >= sizeof host)
        return false;
    memcpy(host, h, hl);
    host[hl] = '\0';
    snprintf(port, sizeof port, "%s", colon ? colon + 1 : "5060");
    const char *uport = u->url_port && *u->url_port ? u->url_port : "5060";
    return su_casematch(u->url_host, host) && strcmp(uport, port) == 0;
}

bool scscf_require_ok(const scscf_req_t *rq)
{
    char tags[256], extra[300];
    if (!ims_sip_unsupported((const msg_list_t *)rq->sip->sip_require, supported, tags,
                             sizeof tags))
        return true;
    snprintf(extra, sizeof extra, "Unsupported: %s\r\n", tags);
    scscf_reply_error(rq, SCSCF_E_BAD_EXTENSION, extra);
    return false;
}

/* SUBSCRIBE: the reg event package (regevent.c); without its store (it failed to start)
 * no package is served, and each gets 489 (RFC 6665 §4.2.2). */
static void subscribe(const scscf_req_t *rq)
{
    if (rq->s->re)
        scscf_regevent_subscribe(rq);
    else
        scscf_reply_error(rq, SCSCF_E_BAD_EVENT, NULL);
}

void scscf_methods_process(const scscf_req_t *rq)
{
    scscf_t *s = rq->s;
    switch (rq->sip->sip_request->rq_method) {
    case sip_method_options:
        if (!scscf_is_me(s, rq->sip->sip_request->rq_url))
            return scscf_reply_error(rq, SCSCF_E_OPTIONS_NOT_ME, NULL);
        s->m.options++;
        return scscf_reply_send(
            rq, 200, "OK",
            ALLOW "Allow-Events: reg\r\nAccept: application/sdp\r\nSupported: path\r\n");
    case sip_method_subscribe:
        return subscribe(rq);
    case sip_method_cancel:
        /* nta hands over only a CANCEL that matches no transaction. */
        return scscf_reply_error(rq, SCSCF_E_NO_TRANSACTION, NULL);
    case sip_method_unknown:
        s->m.not_implemented++;
        return scscf_reply_error(rq, SCSCF_E_NOT_IMPLEMENTED, ALLOW);
    default:
        /* INVITE, BYE, MESSAGE, NOTIFY...: SIP methods a registrar knows but does not
         * handle (RFC 3261 §8.2.1: 405 with Allow, not 501). */
        s->m.not_implemented++;
        return scscf_reply_error(rq, SCSCF_E_METHOD_NOT_ALLOWED, ALLOW);
    }
}
