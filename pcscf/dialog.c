/* Dialog routing at the P-CSCF (RFC 3261 §16.6, §16.12, TS 24.229 §5.2.6.3): which requests
 * are Record-Routed, whether a request is in a dialog, the Service-Route added only once. */
#include "pcscf.h"

#include <string.h>

#include <sofia-sip/msg_header.h>
#include <sofia-sip/sip_header.h>
#include <sofia-sip/su_string.h>

bool pcscf_in_dialog(const sip_t *sip)
{
    return sip->sip_to && sip->sip_to->a_tag;
}

bool pcscf_dialog_creating(const sip_t *sip)
{
    if (pcscf_in_dialog(sip))
        return false;
    switch (sip->sip_request->rq_method) {
    case sip_method_invite:
    case sip_method_subscribe:
    case sip_method_refer:
    case sip_method_notify: /* a NOTIFY may create a dialog (RFC 6665 §4.4.1) */
        return true;
    default:
        return false;
    }
}

int pcscf_record_route(msg_t *msg, sip_t *sip, const char *uri)
{
    sip_record_route_t *rr = sip_record_route_format(msg_home(msg), "<%s>", uri);
    if (!rr)
        return -1;
    return msg_header_insert(msg, (msg_pub_t *)sip, (msg_header_t *)rr) < 0 ? -1 : 0;
}

/* Same URI for routing purposes: user, host and port (parameters such as lr aside). */
static bool same_hop(const url_t *a, const url_t *b)
{
    const char *pa = a->url_port && *a->url_port ? a->url_port : "5060";
    const char *pb = b->url_port && *b->url_port ? b->url_port : "5060";
    return su_casematch(a->url_host, b->url_host) && strcmp(pa, pb) == 0 &&
           su_strmatch(a->url_user, b->url_user);
}

bool pcscf_route_starts_with(const sip_t *sip, const char *const *uris, size_t n, su_home_t *home)
{
    const sip_route_t *r = sip->sip_route;
    if (!n)
        return false;
    for (size_t i = 0; i < n; i++, r = r->r_next) {
        url_t *u = url_make(home, uris[i]);
        if (!r || !u || !same_hop(r->r_url, u))
            return false;
    }
    return true;
}
