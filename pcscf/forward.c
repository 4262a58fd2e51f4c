/* The one forwarding pipeline of the P-CSCF (copy -> consume Route -> Max-Forwards -> edit
 * -> charging vector -> count -> send) and the edits of originating and terminating requests. */
#include "core.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <sofia-sip/msg_header.h>
#include <sofia-sip/sip_header.h>
#include <sofia-sip/su_alloc.h>

#include "ims/util.h"

/* Max-Forwards: returns false when it is exhausted (the sender gets 483). */
static bool max_forwards_step(msg_t *msg, sip_t *sip)
{
    if (!sip->sip_max_forwards) {
        /* A parsed header (not msg_header_add_str, whose text lands after the blank
         * line ending the headers and corrupts a TCP stream). */
        msg_header_add_make(msg, (msg_pub_t *)sip, sip_max_forwards_class, "70");
        return true;
    }
    if (sip->sip_max_forwards->mf_count == 0)
        return false;
    sip->sip_max_forwards->mf_count--;
    msg_fragment_clear(sip->sip_max_forwards->mf_common);
    return true;
}

static void charging_vector(pcscf_t *p, msg_t *msg, sip_t *sip)
{
    enum { ICID_BYTES = 16 };
    char hex[2 * ICID_BYTES + 1];

    /* The UE does not get to choose the charging identifier. */
    pcscf_unknown_remove(msg, sip, "P-Charging-Vector");
    if (p->rnd_used + ICID_BYTES > sizeof p->rnd) {
        if (ims_random_bytes(p->rnd, sizeof p->rnd) != 0)
            for (size_t i = 0; i < sizeof p->rnd; i++)
                p->rnd[i] = (uint8_t)(rand() & 0xff);
        p->rnd_used = 0;
    }
    ims_hex_encode(p->rnd + p->rnd_used, ICID_BYTES, hex);
    p->rnd_used += ICID_BYTES; /* each identifier is taken once */
    msg_header_add_format(msg, (msg_pub_t *)sip, sip_unknown_class,
                          "P-Charging-Vector: icid-value=%s;icid-generated-at=%s", hex,
                          p->icid_host);
}

void pcscf_forward(pcscf_txn_t *t, const sip_t *sip, msg_t *orig, const pcscf_pipe_t *pipe)
{
    pcscf_t *p = t->p;
    pcscf_err_t err = PCSCF_ERR_INTERNAL;
    const char *hop = NULL;
    msg_t *msg = msg_copy(orig);

    t->toward = pipe->toward;
    if (!msg) {
        pcscf_txn_fail(t, PCSCF_ERR_INTERNAL);
        return;
    }
    sip_t *fs = sip_object(msg);
    pcscf_route_consume(p->self, msg, fs);
    if (!max_forwards_step(msg, fs))
        err = PCSCF_ERR_TOO_MANY_HOPS;
    else if (pipe->edit(t, sip, msg, fs, &hop, &err) == 0)
        err = PCSCF_ERR_COUNT;
    if (err != PCSCF_ERR_COUNT) {
        msg_destroy(msg);
        pcscf_txn_fail(t, err);
        return;
    }
    charging_vector(p, msg, fs);
    (*(uint64_t *)((char *)&p->stats + pipe->counter))++;
    if (pipe->toward == PCSCF_TOWARD_SCSCF) {
        /* The S-CSCF's name is resolved here rather than by nta. */
        if (!p->scscf_hop)
            pcscf_hop_retry(p);
        if (!p->scscf_hop) {
            msg_destroy(msg);
            p->stats.scscf_unreachable++;
            pcscf_txn_fail(t, PCSCF_ERR_SCSCF_UNREACHABLE);
            return;
        }
        hop = p->scscf_hop;
    }
    pcscf_txn_send(t, msg, hop);
}

/* Originating requests follow the Service-Route learned at registration (in front of
 * whatever Route the UE left) and carry the registered identity as P-Asserted-Identity. */
static int edit_originating(pcscf_txn_t *t, const sip_t *sip, msg_t *msg, sip_t *fs,
                            const char **hop, pcscf_err_t *err)
{
    const char *const *sr = NULL;
    size_t nsr = 0;
    const char *impu = NULL;
    char *identity = NULL;

    if (sip->sip_from && sip->sip_from->a_url->url_host)
        identity = url_as_string(t->home, sip->sip_from->a_url);
    if (!pcscf_cache_lookup(t->p->cache, t->src_ip, t->src_port, identity, &sr, &nsr, &impu)) {
        *err = PCSCF_ERR_NOT_REGISTERED;
        return -1;
    }
    for (size_t i = nsr; i-- > 0;) {
        sip_route_t *r = sip_route_format(msg_home(msg), "<%s>", sr[i]);
        if (r)
            msg_header_insert(msg, (msg_pub_t *)fs, (msg_header_t *)r);
    }
    pcscf_unknown_remove(msg, fs, "P-Preferred-Identity");
    pcscf_unknown_remove(msg, fs, "P-Asserted-Identity");
    msg_header_add_format(msg, (msg_pub_t *)fs, sip_unknown_class, "P-Asserted-Identity: <%s>",
                          impu);
    return 0;
}

/* A Request-URI carrying our NAT alias (IP~PORT~T) goes to that address and transport,
 * i.e. back through the UE's NAT binding or TCP connection; the alias itself is removed. */
static int edit_terminating(pcscf_txn_t *t, const sip_t *sip, msg_t *msg, sip_t *fs,
                            const char **hop, pcscf_err_t *err)
{
    char alias[128];
    url_t *ruri = fs->sip_request->rq_url;
    if (!ruri->url_params || url_param(ruri->url_params, "alias", alias, sizeof alias) <= 0)
        return 0;
    char *port = strchr(alias, '~'), *tp = port ? strchr(port + 1, '~') : NULL;
    if (!port || !tp)
        return 0;
    *port++ = '\0';
    *tp++ = '\0';
    *hop = su_sprintf(t->home, "sip:%s%s%s:%s;transport=%s", strchr(alias, ':') ? "[" : "", alias,
                      strchr(alias, ':') ? "]" : "", port, strcmp(tp, "2") == 0 ? "tcp" : "udp");
    char *params = su_strdup(msg_home(msg), ruri->url_params);
    ruri->url_params = url_strip_param_string(params, "alias");
    if (ruri->url_params && !*ruri->url_params)
        ruri->url_params = NULL;
    msg_fragment_clear(fs->sip_request->rq_common);
    return 0;
}

const pcscf_pipe_t pcscf_pipe_originating = {
    .toward = PCSCF_TOWARD_SCSCF,
    .edit = edit_originating,
    .counter = offsetof(pcscf_stats_t, other_forwarded),
};

const pcscf_pipe_t pcscf_pipe_terminating = {
    .toward = PCSCF_TOWARD_UE,
    .edit = edit_terminating,
    .counter = offsetof(pcscf_stats_t, terminating_forwarded),
};
