/* What a REGISTER must be before the S-CSCF touches any state: To and Request-URI, Contact
 * ports, control characters and count, and credentials for our realm that parse. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ims/sip.h"
#include "register.h"

size_t scscf_max_contacts(const scscf_t *s)
{
    return s->cfg.max_contacts > 0 ? (size_t)s->cfg.max_contacts : SCSCF_MAX_CONTACTS;
}

/* The AOR of a URI: scheme:user@host, without port, parameters or headers. */
static int aor_of(url_t const *u, char *out, size_t len)
{
    if (!u || !u->url_host)
        return EINVAL;
    if (u->url_type == url_tel) {
        snprintf(out, len, "tel:%s", u->url_host);
        return 0;
    }
    if (u->url_type != url_sip && u->url_type != url_sips)
        return EINVAL;
    snprintf(out, len, "%s:%s%s%s", u->url_type == url_sips ? "sips" : "sip",
             u->url_user ? u->url_user : "", u->url_user ? "@" : "", u->url_host);
    return 0;
}

/* Control characters (C0, DEL) in a stored Contact would reach the status API and every
 * 200 OK raw; Sofia keeps some of them inside parameters. */
static bool has_ctl(const char *v)
{
    for (; v && *v; v++)
        if ((unsigned char)*v < 0x20 || *v == 0x7f)
            return true;
    return false;
}

static bool contact_has_ctl(sip_contact_t const *c)
{
    url_t const *u = c->m_url;
    if (has_ctl(c->m_display) || has_ctl(u->url_user) || has_ctl(u->url_password) ||
        has_ctl(u->url_host) || has_ctl(u->url_port) || has_ctl(u->url_params) ||
        has_ctl(u->url_headers) || has_ctl(c->m_comment))
        return true;
    for (int i = 0; c->m_params && c->m_params[i]; i++)
        if (has_ctl(c->m_params[i]))
            return true;
    return false;
}

scscf_err_t scscf_check_register(scscf_req_t *rq)
{
    sip_t const *sip = rq->sip;
    url_t const *ru = sip->sip_request->rq_url;
    if (aor_of(sip->sip_to->a_url, rq->impu, sizeof(rq->impu))) {
        rq->impu[0] = 0;
        return SCSCF_E_BAD_HEADER;
    }
    if ((ru->url_type != url_sip && ru->url_type != url_sips) || !ru->url_host ||
        strcasecmp(ru->url_host, rq->s->cfg.domain) != 0)
        return SCSCF_E_NOT_HOME_DOMAIN;
    size_t ncontacts = 0;
    for (sip_contact_t const *c = sip->sip_contact; c; c = c->m_next, ncontacts++) {
        if (c->m_url->url_type != url_any && !ims_sip_url_port_ok(c->m_url))
            return SCSCF_E_BAD_CONTACT_PORT;
        if (contact_has_ctl(c))
            return SCSCF_E_CONTACT_CONTROL_CHARS;
    }
    if (ncontacts > scscf_max_contacts(rq->s))
        return SCSCF_E_TOO_MANY_CONTACTS;
    return SCSCF_E_COUNT;
}

/* The packet's source (peer), or, behind a P-CSCF (a Path, or received/rport on the
 * bottom of several Vias), the UE's address as that proxy saw it: else every UE behind it
 * would share one count. Ports are ignored, as a guesser can change them at will. */
void scscf_ue_address(const char *peer, sip_t const *sip, char *out, size_t len)
{
    sip_via_t const *bottom = NULL;
    size_t n = 0;
    for (sip_via_t const *v = sip->sip_via; v; v = v->v_next, n++)
        bottom = v;
    if (n >= 2 && (sip->sip_path || bottom->v_received || bottom->v_rport)) {
        const char *h =
            bottom->v_received && *bottom->v_received ? bottom->v_received : bottom->v_host;
        if (h && *h) {
            snprintf(out, len, "%s", h);
            return;
        }
    }
    snprintf(out, len, "%s", peer && *peer ? peer : "?");
}

/* Picks the credentials meant for our realm (or the only ones given). */
static msg_auth_t const *our_credentials(const scscf_t *s, sip_t const *sip)
{
    for (msg_auth_t const *a = sip->sip_authorization; a; a = a->au_next) {
        const char *realm = msg_params_find(a->au_params, "realm=");
        if (realm) {
            size_t l = strlen(realm);
            if (l >= 2 && realm[0] == '"' && realm[l - 1] == '"' &&
                strncasecmp(realm + 1, s->cfg.domain, l - 2) == 0 && strlen(s->cfg.domain) == l - 2)
                return a;
            if (strcasecmp(realm, s->cfg.domain) == 0)
                return a;
        }
    }
    return sip->sip_authorization;
}

/* The Authorization header back as text, for the Digest parser. */
static int auth_text(msg_auth_t const *a, char *out, size_t len)
{
    size_t w = (size_t)snprintf(out, len, "%s", a->au_scheme ? a->au_scheme : "");
    for (int i = 0; a->au_params && a->au_params[i]; i++) {
        w += (size_t)snprintf(out + (w < len ? w : len), w < len ? len - w : 0, "%s%s",
                              i ? ", " : " ", a->au_params[i]);
    }
    return w < len ? 0 : E2BIG;
}

scscf_err_t scscf_check_credentials(const scscf_req_t *rq, ims_digest_params_t *dp,
                                    scscf_creds_t *kind)
{
    const char *domain = rq->s->cfg.domain;
    msg_auth_t const *au = our_credentials(rq->s, rq->sip);
    char text[IMS_DIGEST_MAX + 1];
    *kind = SCSCF_CREDS_NONE;
    if (!au)
        return SCSCF_E_COUNT;
    if (auth_text(au, text, sizeof(text)) || ims_digest_parse(text, dp) || !dp->username ||
        !dp->realm || !dp->nonce || !dp->uri || !dp->response)
        return SCSCF_E_BAD_AUTH;
    if (strcasecmp(dp->realm, domain) != 0) {
        *kind = SCSCF_CREDS_OTHER_REALM;
        return SCSCF_E_COUNT;
    }
    if (dp->qop && *dp->qop && (!dp->nc || !dp->cnonce))
        return SCSCF_E_BAD_AUTH;
    *kind = SCSCF_CREDS_OURS;
    return SCSCF_E_COUNT;
}
