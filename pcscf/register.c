/* REGISTER through the P-CSCF: the edits on the way to the S-CSCF (NAT alias, Path,
 * P-Visited-Network-ID) and what a 2xx teaches the registration cache. */
#include "core.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sofia-sip/msg_header.h>
#include <sofia-sip/sip_header.h>
#include <sofia-sip/su_alloc.h>
#include <sofia-sip/su_string.h>

static bool supported_has(const sip_t *sip, const char *tag)
{
    for (sip_supported_t *s = sip->sip_supported; s; s = s->k_next)
        for (size_t i = 0; s->k_items && s->k_items[i]; i++)
            if (su_casematch(s->k_items[i], tag))
                return true;
    return false;
}

/* Who registers: the User-Agent and the IMPI of the Authorization username, for the
 * cache and the status API. */
static void note_identity(pcscf_txn_t *t, const sip_t *sip)
{
    t->is_register = true;
    if (sip->sip_user_agent && sip->sip_user_agent->g_string)
        t->user_agent = su_strdup(t->home, sip->sip_user_agent->g_string);
    if (!sip->sip_authorization)
        return;
    const char *user = msg_params_find(sip->sip_authorization->au_params, "username=");
    if (!user)
        return;
    char *u = su_strdup(t->home, user);
    size_t n = u ? strlen(u) : 0;
    if (n >= 2 && u[0] == '"' && u[n - 1] == '"') {
        u[n - 1] = '\0';
        u++;
    }
    if (u && *u)
        t->impi = strchr(u, '@') ? u : su_sprintf(t->home, "%s@%s", u, t->p->domain);
}

static int edit_register(pcscf_txn_t *t, const sip_t *sip, msg_t *msg, sip_t *fs, const char **hop,
                         pcscf_err_t *err)
{
    pcscf_t *p = t->p;
    note_identity(t, sip);
    if (pcscf_ipsec_sip_register(t, sip, msg, fs, err) != 0)
        return -1;
    /* A UE with IPsec sends from its port-c and is reached over its SAs at its port-s, the
     * Contact's: no NAT alias, or each new port-c (re-authentication) would make the same
     * Contact a new binding. */
    if (!t->sec.client && pcscf_contact_alias(msg, fs, t->src_ip, t->src_port, t->tcp) < 0) {
        *err = PCSCF_ERR_INTERNAL;
        return -1;
    }
    size_t n = 0;
    for (sip_contact_t *m = fs->sip_contact; m; m = m->m_next)
        n++;
    t->contacts = su_zalloc(t->home, (n + 1) * sizeof *t->contacts);
    for (sip_contact_t *m = fs->sip_contact; m && t->contacts; m = m->m_next)
        if (m->m_url->url_host && strcmp(m->m_url->url_host, "*") != 0)
            t->contacts[t->ncontacts++] = url_as_string(t->home, m->m_url);

    msg_header_add_dup(msg, (msg_pub_t *)fs, p->path_hdr);
    if (!supported_has(fs, "path"))
        msg_header_add_make(msg, (msg_pub_t *)fs, sip_supported_class, "path");
    pcscf_unknown_remove(msg, fs, "P-Visited-Network-ID");
    msg_header_add_dup(msg, (msg_pub_t *)fs, p->visited_hdr);
    return 0;
}

const pcscf_pipe_t pcscf_pipe_register = {
    .toward = PCSCF_TOWARD_SCSCF,
    .edit = edit_register,
    .counter = offsetof(pcscf_stats_t, register_forwarded),
};

/* P-Associated-URI: "<a>, <b>" possibly over several headers -> bare URIs. */
static size_t split_assoc(su_home_t *home, const sip_t *sip, char ***out)
{
    size_t n = 0, cap = 8;
    char **v = su_zalloc(home, cap * sizeof *v);
    for (sip_unknown_t *un = sip->sip_unknown; un && v; un = un->un_next) {
        if (!un->un_name || strcasecmp(un->un_name, "P-Associated-URI") != 0 || !un->un_value)
            continue;
        const char *s = un->un_value;
        while (*s) {
            while (*s == ' ' || *s == ',' || *s == '\t')
                s++;
            if (!*s)
                break;
            const char *start, *end;
            if (*s == '<') {
                start = s + 1;
                end = strchr(start, '>');
                if (!end)
                    break;
                s = end + 1;
                while (*s && *s != ',')
                    s++; /* skip header parameters */
            } else {
                start = s;
                end = s + strcspn(s, ",;");
                s = end;
                while (*s && *s != ',')
                    s++;
            }
            if (n + 1 >= cap) {
                char **nv = su_zalloc(home, cap * 2 * sizeof *nv);
                if (!nv)
                    break;
                memcpy(nv, v, n * sizeof *v);
                v = nv;
                cap *= 2;
            }
            v[n++] = su_strndup(home, start, (size_t)(end - start));
        }
    }
    *out = v;
    return v ? n : 0;
}

void pcscf_register_remember(pcscf_txn_t *t, const sip_t *rs)
{
    su_home_t *home = t->home;
    char **assoc = NULL, **sr = NULL, **live = NULL;
    long *live_exp = NULL;
    size_t nassoc, nsr = 0, nlive = 0;
    pcscf_binding_in_t *mine = NULL;

    if (!rs->sip_to || !rs->sip_to->a_url->url_host)
        return;
    char *impu = url_as_string(home, rs->sip_to->a_url);
    nassoc = split_assoc(home, rs, &assoc);

    for (sip_service_route_t *r = rs->sip_service_route; r; r = r->r_next)
        nsr++;
    sr = su_zalloc(home, (nsr + 1) * sizeof *sr);
    nsr = 0;
    for (sip_service_route_t *r = rs->sip_service_route; r && sr; r = r->r_next)
        sr[nsr++] = url_as_string(home, r->r_url);

    for (sip_contact_t *m = rs->sip_contact; m; m = m->m_next)
        nlive++;
    live = su_zalloc(home, (nlive + 1) * sizeof *live);
    live_exp = su_zalloc(home, (nlive + 1) * sizeof *live_exp);
    nlive = 0;
    for (sip_contact_t *m = rs->sip_contact; m && live && live_exp; m = m->m_next) {
        long e = rs->sip_expires ? (long)rs->sip_expires->ex_delta : 3600;
        if (m->m_expires)
            e = strtol(m->m_expires, NULL, 10);
        if (!m->m_url->url_host)
            continue;
        live[nlive] = url_as_string(home, m->m_url);
        live_exp[nlive++] = e;
    }
    mine = su_zalloc(home, (t->ncontacts + 1) * sizeof *mine);
    for (size_t i = 0; mine && i < t->ncontacts; i++) {
        mine[i].contact = t->contacts[i];
        mine[i].received = t->src;
        mine[i].transport = t->transport;
        mine[i].user_agent = t->user_agent;
    }
    pcscf_cache_update(t->p->cache, impu, t->impi, (const char *const *)assoc, nassoc,
                       (const char *const *)sr, nsr, t->p->path, mine, mine ? t->ncontacts : 0,
                       (const char *const *)live, live_exp, nlive);
}
