/* RFC 3261 / RFC 3581 rules shared by the CSCFs: option tags, received with rport,
 * same-resource URIs and stateless replies (see ims/sip_conform.h for the contracts). */
#include "ims/sip_conform.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <sofia-sip/msg_header.h>
#include <sofia-sip/nta.h>
#include <sofia-sip/nta_stateless.h>
#include <sofia-sip/sip_header.h>
#include <sofia-sip/sip_tag.h>
#include <sofia-sip/su_alloc.h>
#include <sofia-sip/su_string.h>

static bool in_list(const char *tag, const char *const *list)
{
    for (size_t i = 0; list && list[i]; i++)
        if (su_casematch(tag, list[i]))
            return true;
    return false;
}

size_t ims_sip_unsupported(const msg_list_t *tags, const char *const *supported, char *out,
                           size_t outlen)
{
    enum { MAX_TAGS = 32 }; /* more than any real request carries; the rest still counts */
    const char *listed[MAX_TAGS];
    size_t n = 0, len = 0;
    if (outlen)
        out[0] = '\0';
    for (const msg_list_t *k = tags; k; k = k->k_next) {
        for (size_t i = 0; k->k_items && k->k_items[i]; i++) {
            const char *tag = k->k_items[i];
            bool seen = in_list(tag, supported);
            for (size_t j = 0; !seen && j < n && j < MAX_TAGS; j++)
                seen = su_casematch(tag, listed[j]);
            if (seen)
                continue;
            if (n < MAX_TAGS)
                listed[n] = tag;
            int w =
                snprintf(out + len, outlen > len ? outlen - len : 0, "%s%s", n ? ", " : "", tag);
            if (w > 0 && len + (size_t)w < outlen)
                len += (size_t)w;
            n++;
        }
    }
    return n;
}

/* Removes tag from one list header; true when the header is left empty. */
static bool list_remove(msg_list_t *k, const char *tag, int *removed)
{
    size_t j = 0;
    for (size_t i = 0; k->k_items && k->k_items[i]; i++) {
        if (su_casematch(k->k_items[i], tag))
            (*removed)++;
        else
            k->k_items[j++] = k->k_items[i];
    }
    if (k->k_items)
        k->k_items[j] = NULL;
    msg_fragment_clear(k->k_common);
    return j == 0;
}

int ims_sip_option_tag_remove(msg_t *msg, sip_t *sip, const char *tag)
{
    int removed = 0;
    msg_list_t **heads[] = {(msg_list_t **)&sip->sip_require,
                            (msg_list_t **)&sip->sip_proxy_require};
    for (size_t h = 0; h < sizeof heads / sizeof heads[0]; h++) {
        msg_list_t *k = *heads[h];
        while (k) {
            msg_list_t *next = k->k_next;
            if (list_remove(k, tag, &removed))
                msg_header_remove(msg, (msg_pub_t *)sip, (msg_header_t *)k);
            k = next;
        }
    }
    return removed;
}

int ims_sip_via_received(msg_t *msg, sip_via_t *v, const char *src_ip)
{
    if (!v || !v->v_rport || !src_ip || !*src_ip || strcmp(src_ip, "?") == 0)
        return 0;
    if (v->v_received && strcmp(v->v_received, src_ip) == 0)
        return 0;
    /* The header keeps the pointer: the parameter lives in the message's home. */
    char *param = su_sprintf(msg_home(msg), "received=%s", src_ip);
    if (!param || msg_header_replace_param(msg_home(msg), v->v_common, param) < 0)
        return -1;
    /* v_received points into the parameter list, updated by msg_header_replace_param. */
    msg_fragment_clear(v->v_common);
    return 0;
}

bool ims_sip_body_short(const sip_t *sip)
{
    size_t have = sip->sip_payload ? sip->sip_payload->pl_len : 0;
    return sip->sip_content_length && sip->sip_content_length->l_length > have;
}

static const char *default_port(const url_t *u)
{
    if (u->url_port && *u->url_port)
        return u->url_port;
    return u->url_type == url_sips ? "5061" : "5060";
}

bool ims_sip_same_resource(const url_t *a, const url_t *b)
{
    if (!a || !b || a->url_type != b->url_type)
        return false;
    if (a->url_type == url_tel)
        return su_strmatch(a->url_host, b->url_host) && su_strmatch(a->url_user, b->url_user);
    if (a->url_type != url_sip && a->url_type != url_sips)
        return false;
    bool ua = a->url_user && *a->url_user, ub = b->url_user && *b->url_user;
    if (ua != ub || (ua && strcmp(a->url_user, b->url_user) != 0))
        return false;
    return a->url_host && b->url_host && su_casematch(a->url_host, b->url_host) &&
           strcmp(default_port(a), default_port(b)) == 0;
}

int ims_sip_reply_stateless(struct nta_agent_s *agent, msg_t *msg, int status, const char *phrase,
                            const char *warn_host, const char *warning, const char *extra)
{
    sip_t *sip = sip_object(msg);
    if (!sip || !sip->sip_request || !sip->sip_via ||
        sip->sip_request->rq_method == sip_method_ack) {
        msg_destroy(msg);
        return 0;
    }
    char w[512];
    snprintf(w, sizeof w, "399 %s \"%s\"", warn_host ? warn_host : "-", warning ? warning : "");
    return nta_msg_treply(agent, msg, status, phrase, SIPTAG_WARNING_STR(w),
                          TAG_IF(extra && *extra, SIPTAG_HEADER_STR(extra)), TAG_END());
}
