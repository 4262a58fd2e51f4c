/* The S-CSCF REGISTER logic: request checks, challenge via MAR, credential check, binding
 * updates in the location store, the 200 OK, SAR reporting, and periodic expiry. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <sofia-sip/msg_addr.h>
#include <sofia-sip/su.h>

#include "ims/digest.h"
#include "ims/log.h"
#include "ims/util.h"
#include "scscf.h"

typedef struct scscf_pending {
    scscf_t *s;
    scscf_responder_t rsp;
    sip_t const *sip; /* the responder's request, valid until its reply */
    char impu[512];
    char src[80];
    bool stale;
} pending_t;

static const char *method_name(sip_t const *sip)
{
    return sip->sip_request ? sip->sip_request->rq_method_name : "?";
}

/* Reply header lines are built in a stack buffer that moves to the heap only when a long
 * answer (many contacts or Path entries) needs it, by plain copies: open_memstream and
 * stdio cost ~8% of the S-CSCF's CPU. An allocation failure sticks, so callers check
 * once at the end. */
typedef struct hbuf {
    char *p;
    size_t len, cap;
    bool heap, failed, secret;
    char stack[2048];
} hbuf_t;

static void hb_init(hbuf_t *b)
{
    b->p = b->stack;
    b->len = 0;
    b->cap = sizeof(b->stack);
    b->heap = b->failed = b->secret = false;
    b->stack[0] = 0;
}

static void hb_wipe(char *p, size_t n)
{
    volatile char *v = p;
    while (n--)
        *v++ = 0;
}

/* Makes room for need more bytes and the terminating NUL. A secret buffer is never
 * realloc'ed, which could leave a copy of the keys in freed memory. */
static bool hb_room(hbuf_t *b, size_t need)
{
    if (b->failed)
        return false;
    if (b->len + need < b->cap)
        return true;
    size_t cap = 2 * (b->len + need + 1);
    char *np = b->heap && !b->secret ? realloc(b->p, cap) : malloc(cap);
    if (!np) {
        b->failed = true;
        return false;
    }
    if (!b->heap || b->secret) {
        memcpy(np, b->p, b->len + 1);
        if (b->heap) {
            hb_wipe(b->p, b->len);
            free(b->p);
        }
    }
    b->p = np;
    b->cap = cap;
    b->heap = true;
    return true;
}

static void hb_put(hbuf_t *b, const char *s)
{
    size_t n = strlen(s);
    if (hb_room(b, n)) {
        memcpy(b->p + b->len, s, n + 1);
        b->len += n;
    }
}

/* Frees the buffer; a secret one (a 401 for a P-CSCF carries CK and IK) is wiped first,
 * with the stack part it may have outgrown. */
static void hb_free(hbuf_t *b)
{
    if (b->secret) {
        hb_wipe(b->p, b->len);
        if (b->heap)
            hb_wipe(b->stack, sizeof(b->stack));
    }
    if (b->heap)
        free(b->p);
    b->p = b->stack;
    b->len = 0;
}

/* One Path entry as text. Not sip_header_as_string: it encodes into a 128-byte guess
 * first, and the parameter encoder under-reports the length when the guess is short, so
 * parameters past byte 128 were lost ("<sip:p;lr>;x=...;" echoed and stored cut). Here
 * Sofia's encoder gets a buffer bounded from above by the parts' lengths. */
static char *path_string(su_home_t *home, sip_path_t const *p)
{
    char *url = url_as_string(home, p->r_url);
    if (!url)
        return NULL;
    size_t n = strlen(url) + (p->r_display ? strlen(p->r_display) : 0) + 16;
    for (int i = 0; p->r_params && p->r_params[i]; i++)
        n += strlen(p->r_params[i]) + 2;
    char *out = su_alloc(home, 2 * n);
    if (!out)
        return NULL;
    issize_t len = msg_header_field_e(out, (isize_t)(2 * n), (msg_header_t const *)p, 0);
    if (len <= 0 || (size_t)len >= 2 * n)
        return NULL;
    out[len] = 0;
    return out;
}

/* Appends the Path of the request as one header line each. */
static void put_path(hbuf_t *b, sip_t const *sip, su_home_t *home)
{
    for (sip_path_t const *p = sip->sip_path; p; p = p->r_next) {
        char *v = path_string(home, p);
        if (v) {
            hb_put(b, "Path: ");
            hb_put(b, v);
            hb_put(b, "\r\n");
        }
    }
}

/* Sends a final reply with Server and the given extra header lines through rsp, which
 * releases the request: the log line comes first, as sip may go with it. */
static void send_reply(scscf_t *s, const scscf_responder_t *rsp, sip_t const *sip, const char *src,
                       const char *aor, int status, const char *phrase, const char *headers)
{
    IMS_INFO("%s %s from %s -> %d %s", method_name(sip), aor && *aor ? aor : "-", src, status,
             phrase);
    rsp->reply(rsp->ctx, status, phrase, s->cfg.server_header, headers);
}

/* The reply for an entry of the error table: phrase, Warning, plus optional lines. */
static void reply_error(scscf_t *s, const scscf_responder_t *rsp, sip_t const *sip, const char *src,
                        const char *aor, scscf_err_t e, const char *extra)
{
    const scscf_reply_entry_t *r = scscf_reply_get(e);
    char hdr[1024];
    snprintf(hdr, sizeof(hdr), "Warning: 399 %s \"%s\"\r\n%s", s->cfg.host, r->warning,
             extra ? extra : "");
    s->m.auth_failures[e]++;
    send_reply(s, rsp, sip, src, aor, r->status, r->phrase, hdr);
}

static void pending_error(pending_t *p, scscf_err_t e, const char *extra)
{
    reply_error(p->s, &p->rsp, p->sip, p->src, p->impu, e, extra);
    p->s->pending--;
    free(p);
}

/* The nta side of a responder: ctx is the server transaction. */
static void nta_reply(void *ctx, int status, const char *phrase, const char *server,
                      const char *headers)
{
    nta_incoming_t *irq = ctx;
    if (status)
        nta_incoming_treply(irq, status, phrase, SIPTAG_SERVER_STR(server),
                            TAG_IF(headers && *headers, SIPTAG_HEADER_STR(headers)), TAG_END());
    nta_incoming_destroy(irq);
}

/* The packet's source as "udp:host:port" ("?" if unknown) and its bare host (no
 * brackets, "?" if unknown). */
static void packet_source(nta_incoming_t *irq, char *src, size_t slen, char *host, size_t hlen)
{
    msg_t *msg = nta_incoming_getrequest(irq);
    su_addrinfo_t *ai = msg ? msg_addrinfo(msg) : NULL;
    snprintf(src, slen, "?");
    snprintf(host, hlen, "?");
    if (ai && ai->ai_addr) {
        su_sockaddr_t *su = (su_sockaddr_t *)ai->ai_addr;
        if (su_inet_ntop(su->su_family, SU_ADDR(su), host, hlen)) {
            bool v6 = su->su_family == AF_INET6;
            snprintf(src, slen, "%s:%s%s%s:%u", ai->ai_protocol == IPPROTO_TCP ? "tcp" : "udp",
                     v6 ? "[" : "", host, v6 ? "]" : "", (unsigned)ntohs(su->su_port));
        } else {
            snprintf(host, hlen, "?");
        }
    }
    msg_destroy(msg);
}

/* The address the failed-authentication limits count against: the packet's source (peer),
 * or, behind a P-CSCF (a Path, or received/rport on the bottom of several Vias), the UE's
 * address as that proxy saw it: else every UE behind it would share one count. Ports are
 * ignored, as a guesser can change them at will. */
static void ue_address(const char *peer, sip_t const *sip, char *out, size_t len)
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

/* A URI port must be 1..65535, digits only; Sofia keeps it as text. */
static bool port_ok(url_t const *u)
{
    unsigned long v = 0;
    if (!u->url_port || !*u->url_port)
        return true;
    for (const char *c = u->url_port; *c; c++) {
        if (*c < '0' || *c > '9')
            return false;
        v = v * 10 + (unsigned long)(*c - '0');
        if (v > 65535)
            return false;
    }
    return v > 0;
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

static bool is_user_part(const char *impi, const char *impu)
{
    const char *colon = strchr(impu, ':'), *at = strchr(impi, '@');
    if (!colon || !at)
        return false;
    size_t n = (size_t)(at - impi);
    return strncmp(colon + 1, impi, n) == 0 && colon[1 + n] == '@';
}

/* Clears secrets (CK, IK) in a way the compiler may not drop as a dead store. */
static void wipe(void *p, size_t n)
{
    volatile unsigned char *v = p;
    while (n--)
        *v++ = 0;
}

/* ---- SAR ---- */

static void on_sar(void *ctx, long status, json_t *body)
{
    scscf_t *s = ctx;
    IMS_DEBUG("SAR answered %ld", status);
    if (status != 200) {
        s->m.sar_failed++;
        IMS_WARN("SAR not accepted by the HSS (status %ld)", status);
    }
}

static void send_sar(scscf_t *s, const char *impi, const char *impu, bool registered)
{
    json_t *b = json_pack("{s:s, s:s, s:s, s:s}", "impi", impi, "impu", impu ? impu : "", "state",
                          registered ? "registered" : "unregistered", "scscf", s->cfg.scscf_uri);
    s->m.sar_sent++;
    if (!b || s->hss_post(s->hss_ctx, "/api/v1/cx/sar", b, on_sar, s)) {
        s->m.sar_failed++;
        IMS_WARN("SAR for %s could not be sent", impu ? impu : impi);
    }
}

void scscf_registrar_deregister(scscf_t *s, scscf_record_t *rec, const char *why)
{
    IMS_INFO("deregistering %s (%s)", rec->impu ? rec->impu : rec->impi, why);
    send_sar(s, rec->impi, rec->impu, false);
    s->m.deregistrations++;
    scscf_location_remove(s->loc, rec);
}

/* ---- challenge ---- */

static bool barred_refused(const scscf_auth_material_t *m, const char *impu, bool *found)
{
    *found = false;
    for (size_t i = 0; i < m->nimpus; i++) {
        if (strcmp(m->impus[i], impu) == 0) {
            *found = true;
            /* The IMPI-derived temporary IMPU (TS 23.003 13.4B) is barred by design yet
             * exists to register with; any other barred IMPU is refused. */
            return m->barred[i] && !is_user_part(m->impi, impu);
        }
    }
    return false;
}

static void on_mar(void *ctx, long status, json_t *body)
{
    pending_t *p = ctx;
    scscf_t *s = p->s;
    const char *code = json_string_value(json_object_get(body, "error"));
    IMS_DEBUG("MAR for %s answered %ld%s%s", p->impu, status, code ? ", error " : "",
              code ? code : "");
    if (status == 0)
        return pending_error(p, SCSCF_E_HSS_UNAVAILABLE, "Retry-After: 5\r\n");
    if (status == 404)
        return pending_error(p, SCSCF_E_USER_UNKNOWN, NULL);
    if (status == 403 && code && strcmp(code, "resync_failed") == 0)
        return pending_error(p, SCSCF_E_RESYNC_FAILED, NULL);
    if (status == 403)
        return pending_error(p, SCSCF_E_IDENTITY_MISMATCH, NULL);
    /* An HSS answering garbage is an outage like an unreachable one: tell the UE when
     * to come back instead of letting it retry at once. */
    if (status != 200)
        return pending_error(p, SCSCF_E_HSS_ERROR, "Retry-After: 5\r\n");
    scscf_auth_material_t m;
    if (scscf_auth_material_parse(body, &m)) {
        scscf_auth_material_clear(&m);
        IMS_WARN("MAR answer for %s is not usable", p->impu);
        return pending_error(p, SCSCF_E_HSS_ERROR, "Retry-After: 5\r\n");
    }
    bool found;
    if (barred_refused(&m, p->impu, &found)) {
        scscf_auth_material_clear(&m);
        return pending_error(p, SCSCF_E_IMPU_BARRED, NULL);
    }
    if (!found) {
        scscf_auth_material_clear(&m);
        return pending_error(p, SCSCF_E_IDENTITY_MISMATCH, NULL);
    }
    char www[640];
    /* TS 24.229 5.4.1.2: behind a P-CSCF (the REGISTER has a Path) the challenge carries
     * CK and IK for it, which it removes before the UE sees the 401. A UE talking to us
     * directly never gets them. Secrets: they are never logged. */
    bool keys = m.scheme == SCSCF_SCHEME_AKA && p->sip->sip_path;
    uint8_t ck[16], ik[16];
    memcpy(ck, m.ck, sizeof(ck));
    memcpy(ik, m.ik, sizeof(ik));
    if (scscf_auth_challenge(s->auth, s->cfg.domain, p->impu, &m, p->stale, www, sizeof(www))) {
        scscf_auth_material_clear(&m);
        wipe(ck, sizeof(ck));
        wipe(ik, sizeof(ik));
        return pending_error(p, SCSCF_E_INTERNAL, NULL);
    }
    scscf_auth_material_clear(&m);
    if (keys) {
        char ckhex[33], ikhex[33];
        size_t w = strlen(www);
        ims_hex_encode(ck, sizeof(ck), ckhex);
        ims_hex_encode(ik, sizeof(ik), ikhex);
        snprintf(www + w, sizeof(www) - w, ", ck=\"%s\", ik=\"%s\"", ckhex, ikhex);
        wipe(ckhex, sizeof(ckhex));
        wipe(ikhex, sizeof(ikhex));
    }
    wipe(ck, sizeof(ck));
    wipe(ik, sizeof(ik));
    su_home_t home[1] = {SU_HOME_INIT(home)};
    hbuf_t hb;
    hb_init(&hb);
    hb.secret = true;
    hb_put(&hb, "WWW-Authenticate: ");
    hb_put(&hb, www);
    hb_put(&hb, "\r\n");
    put_path(&hb, p->sip, home);
    wipe(www, sizeof(www));
    su_home_deinit(home);
    if (hb.failed) {
        hb_free(&hb);
        return pending_error(p, SCSCF_E_INTERNAL, NULL);
    }
    s->m.challenges++;
    send_reply(s, &p->rsp, p->sip, p->src, p->impu, 401, "Unauthorized - Challenging the UE", hb.p);
    hb_free(&hb);
    s->pending--;
    free(p);
}

/* Starts a MAR; the reply is sent from on_mar. */
static void challenge(scscf_t *s, const scscf_responder_t *rsp, sip_t const *sip, const char *src,
                      const char *impu, const char *username, bool stale, const uint8_t *rand,
                      const char *auts)
{
    pending_t *p = calloc(1, sizeof(*p));
    if (!p)
        return reply_error(s, rsp, sip, src, impu, SCSCF_E_INTERNAL, NULL);
    p->s = s;
    p->rsp = *rsp;
    p->sip = sip;
    p->stale = stale;
    snprintf(p->impu, sizeof(p->impu), "%s", impu);
    snprintf(p->src, sizeof(p->src), "%s", src);
    json_t *b = json_pack("{s:s, s:s}", "impu", impu, "realm", s->cfg.domain);
    if (b && username)
        json_object_set_new(b, "username", json_string(username));
    if (b && rand && auts) {
        /* RFC 3310: auts is base64 of the 14-byte AUTS; the Cx stand-in wants hex */
        char hex[33], ahex[29];
        uint8_t raw[32];
        size_t n = 0;
        if (ims_base64_decode(auts, raw, sizeof(raw), &n) || n != 14) {
            json_decref(b);
            s->pending++;
            return pending_error(p, SCSCF_E_BAD_AUTH, NULL);
        }
        ims_hex_encode(rand, 16, hex);
        ims_hex_encode(raw, 14, ahex);
        json_object_set_new(b, "resync", json_pack("{s:s, s:s}", "rand", hex, "auts", ahex));
    }
    s->pending++;
    IMS_DEBUG("MAR for %s%s", impu, rand && auts ? " with resync" : "");
    if (!b || s->hss_post(s->hss_ctx, "/api/v1/cx/mar", b, on_mar, p))
        pending_error(p, SCSCF_E_HSS_UNAVAILABLE, "Retry-After: 5\r\n");
}

/* ---- bindings ---- */

typedef struct plan {
    sip_contact_t const *m;
    long expires;
    char *uri, *params, *instance;
    long reg_id;
} plan_t;

static int parse_delta(const char *s, long *out)
{
    char *end;
    if (!s || !*s)
        return EINVAL;
    for (const char *c = s; *c; c++)
        if (*c < '0' || *c > '9')
            return EINVAL;
    unsigned long v = strtoul(s, &end, 10);
    *out = v > 0x7fffffffUL ? 0x7fffffffL : (long)v;
    return 0;
}

static char *contact_params(su_home_t *home, sip_contact_t const *m)
{
    size_t n = 1;
    for (int i = 0; m->m_params && m->m_params[i]; i++)
        n += strlen(m->m_params[i]) + 1;
    char *out = su_alloc(home, n), *w = out;
    if (!out)
        return NULL;
    *w = 0;
    for (int i = 0; m->m_params && m->m_params[i]; i++) {
        const char *pm = m->m_params[i];
        if (strncasecmp(pm, "expires=", 8) == 0 || strcasecmp(pm, "expires") == 0)
            continue;
        w += sprintf(w, ";%s", pm);
    }
    return out;
}

static scscf_binding_t *find_binding(scscf_record_t *r, const plan_t *pl)
{
    for (scscf_binding_t *b = r->bindings; b; b = b->next) {
        if (pl->instance && b->instance) {
            if (strcmp(pl->instance, b->instance) == 0 && pl->reg_id == b->reg_id)
                return b;
        } else if (strcasecmp(b->contact, pl->uri) == 0) {
            return b;
        }
    }
    return NULL;
}

static char *xstrdup(const char *s)
{
    return s ? strdup(s) : NULL;
}

static void fill_binding(scscf_binding_t *b, const plan_t *pl, sip_t const *sip, const char *src,
                         su_home_t *home, int64_t now)
{
    free(b->params);
    b->params = xstrdup(pl->params);
    free(b->contact); /* matched by instance: the UE's new address replaces the old */
    b->contact = xstrdup(pl->uri);
    if (!b->instance)
        b->instance = xstrdup(pl->instance);
    b->reg_id = pl->reg_id;
    for (size_t i = 0; i < b->npath; i++)
        free(b->path[i]);
    free(b->path);
    b->npath = 0;
    size_t n = 0;
    for (sip_path_t const *p = sip->sip_path; p; p = p->r_next)
        n++;
    b->path = calloc(n + 1, sizeof(char *));
    for (sip_path_t const *p = sip->sip_path; b->path && p; p = p->r_next) {
        char *v = path_string(home, p);
        if (v && (b->path[b->npath] = strdup(v)))
            b->npath++;
    }
    free(b->user_agent);
    b->user_agent = sip->sip_user_agent ? xstrdup(sip->sip_user_agent->g_string) : NULL;
    free(b->received);
    b->received = xstrdup(src);
    free(b->call_id);
    b->call_id = xstrdup(sip->sip_call_id->i_id);
    b->cseq = sip->sip_cseq->cs_seq;
    b->expires_at = now + pl->expires;
}

static void reply_200(scscf_t *s, const scscf_responder_t *rsp, sip_t const *sip, const char *src,
                      const char *impu, scscf_record_t *r, const scscf_auth_material_t *m,
                      int64_t now, su_home_t *home)
{
    hbuf_t hb;
    hb_init(&hb);
    if (r && r->bindings) {
        hb_put(&hb, "Contact: ");
        for (scscf_binding_t *b = r->bindings; b; b = b->next) {
            int64_t left = b->expires_at - now;
            hb_put(&hb, b == r->bindings ? "<" : ", <");
            hb_put(&hb, b->contact);
            hb_put(&hb, ">");
            hb_put(&hb, b->params ? b->params : "");
            char exp[32];
            snprintf(exp, sizeof(exp), ";expires=%lld", (long long)(left > 0 ? left : 0));
            hb_put(&hb, exp);
        }
        hb_put(&hb, "\r\n");
    }
    put_path(&hb, sip, home);
    bool first = true;
    for (size_t i = 0; i < m->nimpus; i++) {
        if (m->barred[i])
            continue;
        hb_put(&hb, first ? "P-Associated-URI: <" : ", <");
        hb_put(&hb, m->impus[i]);
        hb_put(&hb, ">");
        first = false;
    }
    if (!first)
        hb_put(&hb, "\r\n");
    hb_put(&hb, "Service-Route: ");
    hb_put(&hb, s->cfg.service_route);
    hb_put(&hb, "\r\nDate: ");
    char date[64];
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
    hb_put(&hb, date);
    hb_put(&hb, "\r\n");
    if (hb.failed)
        reply_error(s, rsp, sip, src, impu, SCSCF_E_INTERNAL, NULL);
    else
        send_reply(s, rsp, sip, src, impu, 200, "OK", hb.p);
    hb_free(&hb);
}

/* Applies the contacts of an authenticated REGISTER: all-or-nothing, then 200. */
/* --max-contacts bounds the memory one IMPI can take. */
static size_t max_contacts(const scscf_t *s)
{
    return s->cfg.max_contacts > 0 ? (size_t)s->cfg.max_contacts : SCSCF_MAX_CONTACTS;
}

static void register_bindings(scscf_t *s, const scscf_responder_t *rsp, sip_t const *sip,
                              const char *src, const char *impu, const scscf_auth_material_t *m)
{
    su_home_t home[1] = {SU_HOME_INIT(home)};
    int64_t now = ims_wall_s();
    long hdr_exp = 3600;
    size_t n = 0;
    bool star = false;
    plan_t *plan = NULL;

    if (sip->sip_expires) /* an absolute date (RFC 2543) has delta 0: treated as remove */
        hdr_exp = sip->sip_expires->ex_delta > 0x7fffffff ? 0x7fffffffL
                                                          : (long)sip->sip_expires->ex_delta;
    for (sip_contact_t const *c = sip->sip_contact; c; c = c->m_next) {
        n++;
        if (c->m_url->url_type == url_any)
            star = true;
    }
    if (star && (n != 1 || !sip->sip_expires || hdr_exp != 0)) {
        reply_error(s, rsp, sip, src, impu, SCSCF_E_BAD_CONTACT, NULL);
        goto out;
    }
    plan = calloc(n + 1, sizeof(*plan));
    if (!plan) {
        reply_error(s, rsp, sip, src, impu, SCSCF_E_INTERNAL, NULL);
        goto out;
    }
    size_t i = 0;
    for (sip_contact_t const *c = sip->sip_contact; c && !star; c = c->m_next, i++) {
        plan_t *pl = &plan[i];
        pl->m = c;
        if ((c->m_url->url_type != url_sip && c->m_url->url_type != url_sips) ||
            !c->m_url->url_host) {
            reply_error(s, rsp, sip, src, impu, SCSCF_E_BAD_CONTACT, NULL);
            goto out;
        }
        pl->expires = hdr_exp;
        if (c->m_expires && parse_delta(c->m_expires, &pl->expires)) {
            reply_error(s, rsp, sip, src, impu, SCSCF_E_BAD_EXPIRES, NULL);
            goto out;
        }
        if (pl->expires != 0 && pl->expires < s->cfg.min_expires) {
            char extra[64];
            snprintf(extra, sizeof(extra), "Min-Expires: %ld\r\n", s->cfg.min_expires);
            reply_error(s, rsp, sip, src, impu, SCSCF_E_INTERVAL_TOO_BRIEF, extra);
            goto out;
        }
        if (pl->expires > s->cfg.max_expires)
            pl->expires = s->cfg.max_expires;
        pl->uri = url_as_string(home, c->m_url);
        pl->params = contact_params(home, c);
        const char *inst = msg_params_find(c->m_params, "+sip.instance=");
        pl->instance = inst ? su_strdup(home, inst) : NULL;
        const char *rid = msg_params_find(c->m_params, "reg-id=");
        pl->reg_id = -1;
        if (rid && parse_delta(rid, &pl->reg_id)) {
            reply_error(s, rsp, sip, src, impu, SCSCF_E_BAD_CONTACT, NULL);
            goto out;
        }
        if (!pl->uri || !pl->params) {
            reply_error(s, rsp, sip, src, impu, SCSCF_E_INTERNAL, NULL);
            goto out;
        }
    }

    scscf_record_t *r = scscf_location_find_impi(s->loc, m->impi);
    for (i = 0; r && !star && i < n; i++) {
        scscf_binding_t *b = find_binding(r, &plan[i]);
        if (b && b->call_id && strcmp(b->call_id, sip->sip_call_id->i_id) == 0 &&
            sip->sip_cseq->cs_seq <= b->cseq) {
            reply_error(s, rsp, sip, src, impu, SCSCF_E_OUT_OF_ORDER, NULL);
            goto out;
        }
    }

    /* The bindings this REGISTER would leave: existing ones not removed, plus new ones. */
    if (!star) {
        size_t total = 0;
        for (scscf_binding_t *b = r ? r->bindings : NULL; b; b = b->next) {
            bool removed = false;
            for (i = 0; i < n; i++)
                if (plan[i].expires == 0 && find_binding(r, &plan[i]) == b)
                    removed = true;
            total += !removed;
        }
        for (i = 0; i < n; i++)
            total += plan[i].expires > 0 && !(r && find_binding(r, &plan[i]));
        if (total > max_contacts(s)) {
            reply_error(s, rsp, sip, src, impu, SCSCF_E_TOO_MANY_CONTACTS, NULL);
            goto out;
        }
    }

    /* Everything is valid: apply. */
    bool was_registered = r && r->bindings;
    if (star) {
        if (r)
            scscf_registrar_deregister(s, r, "Contact: * with Expires: 0");
        r = NULL;
        reply_200(s, rsp, sip, src, impu, NULL, m, now, home);
        goto out;
    }
    bool any_new = false;
    for (i = 0; i < n; i++)
        any_new |= plan[i].expires > 0;
    if (any_new)
        r = scscf_location_upsert(s->loc, m->impi, impu, (const char *const *)m->impus, m->barred,
                                  m->nimpus);
    if (!r && any_new) {
        reply_error(s, rsp, sip, src, impu, SCSCF_E_INTERNAL, NULL);
        goto out;
    }
    for (i = 0; r && i < n; i++) {
        plan_t *pl = &plan[i];
        scscf_binding_t *b = find_binding(r, pl);
        if (pl->expires == 0) {
            if (b) {
                for (scscf_binding_t **pp = &r->bindings; *pp; pp = &(*pp)->next) {
                    if (*pp == b) {
                        *pp = b->next;
                        break;
                    }
                }
                scscf_binding_free(b);
                scscf_location_bump_bindings(s->loc, -1);
            }
            continue;
        }
        if (!b) {
            b = scscf_binding_new();
            if (!b)
                continue;
            scscf_binding_t **pp = &r->bindings;
            while (*pp)
                pp = &(*pp)->next;
            *pp = b;
            scscf_location_bump_bindings(s->loc, 1);
        }
        fill_binding(b, pl, sip, src, home, now);
    }
    if (r)
        scscf_location_mark_dirty(s->loc, r);
    reply_200(s, rsp, sip, src, impu, r, m, now, home);
    /* Report after the reply has left so the HSS never delays the 200. */
    if (r && !r->bindings) {
        scscf_registrar_deregister(s, r, "all contacts removed");
    } else if (r && !was_registered) {
        s->m.registrations_ok++;
        send_sar(s, m->impi, impu, true);
    }
out:
    free(plan);
    su_home_deinit(home);
}

/* ---- request entry ---- */

/* Picks the credentials meant for our realm (or the only ones given). */
static msg_auth_t const *our_credentials(scscf_t *s, sip_t const *sip)
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

static int auth_text(msg_auth_t const *a, char *out, size_t len)
{
    size_t w = (size_t)snprintf(out, len, "%s", a->au_scheme ? a->au_scheme : "");
    for (int i = 0; a->au_params && a->au_params[i]; i++) {
        w += (size_t)snprintf(out + (w < len ? w : len), w < len ? len - w : 0, "%s%s",
                              i ? ", " : " ", a->au_params[i]);
    }
    return w < len ? 0 : E2BIG;
}

/* Answers 403 Too Many Failed Attempts when ue (with username, if given) is cooling down. */
static bool cooling_down(scscf_t *s, const scscf_responder_t *rsp, sip_t const *sip,
                         const char *src, const char *impu, const char *ue, const char *username)
{
    long left = scscf_guard_blocked(s->guard, ue, username, ims_now_ms());
    if (!left)
        return false;
    char extra[48];
    snprintf(extra, sizeof(extra), "Retry-After: %ld\r\n", left);
    reply_error(s, rsp, sip, src, impu, SCSCF_E_TOO_MANY_FAILURES, extra);
    return true;
}

static void handle_register(scscf_t *s, const scscf_responder_t *rsp, sip_t const *sip,
                            const char *src, const char *peer)
{
    char impu[512];
    s->m.registers++;
    IMS_DEBUG("REGISTER from %s: Call-ID %s, CSeq %u, %s, %s, %s", src, sip->sip_call_id->i_id,
              sip->sip_cseq->cs_seq,
              sip->sip_authorization ? "with Authorization" : "no Authorization",
              sip->sip_path ? "with Path" : "no Path",
              sip->sip_contact ? "with Contact" : "no Contact (a query)");
    url_t const *ru = sip->sip_request->rq_url;
    if (aor_of(sip->sip_to->a_url, impu, sizeof(impu)))
        return reply_error(s, rsp, sip, src, NULL, SCSCF_E_BAD_HEADER, NULL);
    if ((ru->url_type != url_sip && ru->url_type != url_sips) || !ru->url_host ||
        strcasecmp(ru->url_host, s->cfg.domain) != 0)
        return reply_error(s, rsp, sip, src, impu, SCSCF_E_NOT_HOME_DOMAIN, NULL);
    size_t ncontacts = 0;
    for (sip_contact_t const *c = sip->sip_contact; c; c = c->m_next, ncontacts++) {
        if (c->m_url->url_type != url_any && !port_ok(c->m_url))
            return reply_error(s, rsp, sip, src, impu, SCSCF_E_BAD_CONTACT_PORT, NULL);
        if (contact_has_ctl(c))
            return reply_error(s, rsp, sip, src, impu, SCSCF_E_CONTACT_CONTROL_CHARS, NULL);
    }
    if (ncontacts > max_contacts(s))
        return reply_error(s, rsp, sip, src, impu, SCSCF_E_TOO_MANY_CONTACTS, NULL);

    char ue[80];
    ue_address(peer, sip, ue, sizeof(ue));
    msg_auth_t const *au = our_credentials(s, sip);
    if (!au) {
        if (cooling_down(s, rsp, sip, src, impu, ue, NULL))
            return;
        return challenge(s, rsp, sip, src, impu, NULL, false, NULL, NULL);
    }

    char text[IMS_DIGEST_MAX + 1];
    ims_digest_params_t *dp = malloc(sizeof(*dp));
    if (!dp)
        return reply_error(s, rsp, sip, src, impu, SCSCF_E_INTERNAL, NULL);
    if (auth_text(au, text, sizeof(text)) || ims_digest_parse(text, dp) || !dp->username ||
        !dp->realm || !dp->nonce || !dp->uri || !dp->response) {
        free(dp);
        return reply_error(s, rsp, sip, src, impu, SCSCF_E_BAD_AUTH, NULL);
    }
    if (strcasecmp(dp->realm, s->cfg.domain) != 0) {
        /* credentials for another realm are not ours to judge: challenge for ours */
        free(dp);
        return challenge(s, rsp, sip, src, impu, NULL, false, NULL, NULL);
    }
    if (dp->qop && *dp->qop && (!dp->nc || !dp->cnonce)) {
        free(dp);
        return reply_error(s, rsp, sip, src, impu, SCSCF_E_BAD_AUTH, NULL);
    }
    /* Refused before the check: during the cooldown even the right password fails, so
     * guessing gains nothing. */
    if (cooling_down(s, rsp, sip, src, impu, ue, dp->username)) {
        free(dp);
        return;
    }
    const scscf_auth_material_t *m = NULL;
    uint8_t rand[16];
    scscf_auth_result_t r = scscf_auth_check(s->auth, "REGISTER", impu, dp->username, dp->nonce,
                                             dp->uri, dp->nc, dp->cnonce, dp->qop, dp->response,
                                             dp->auts && *dp->auts ? dp->auts : NULL, &m, rand);
    static const char *const verdicts[] = {"ok",          "unknown nonce",  "stale",
                                           "replayed nc", "wrong response", "identity mismatch",
                                           "resync"};
    IMS_DEBUG("credentials of %s for %s (UE address %s): %s", dp->username, impu, ue,
              (unsigned)r < sizeof(verdicts) / sizeof(verdicts[0]) ? verdicts[r] : "?");
    switch (r) {
    case SCSCF_AUTH_OK:
        scscf_guard_succeeded(s->guard, ue, dp->username, ims_now_ms());
        register_bindings(s, rsp, sip, src, impu, m);
        break;
    case SCSCF_AUTH_UNKNOWN_NONCE:
    case SCSCF_AUTH_REPLAY:
        challenge(s, rsp, sip, src, impu, dp->username, false, NULL, NULL);
        break;
    case SCSCF_AUTH_STALE:
        challenge(s, rsp, sip, src, impu, dp->username, true, NULL, NULL);
        break;
    case SCSCF_AUTH_RESYNC:
        challenge(s, rsp, sip, src, impu, dp->username, false, rand, dp->auts);
        break;
    case SCSCF_AUTH_MISMATCH:
        reply_error(s, rsp, sip, src, impu, SCSCF_E_IDENTITY_MISMATCH, NULL);
        break;
    case SCSCF_AUTH_FAILED:
    default:
        if (scscf_guard_failed(s->guard, ue, dp->username, ims_now_ms()))
            IMS_WARN("too many failed authentications from %s (last for %s): refused for "
                     "%ld s",
                     ue, impu, s->cfg.auth_cooldown);
        reply_error(s, rsp, sip, src, impu, SCSCF_E_AUTH_FAILED, NULL);
        break;
    }
    free(dp);
}

void scscf_registrar_process(scscf_t *s, sip_t const *sip, const char *src, const char *peer,
                             scscf_responder_t rsp_v)
{
    const scscf_responder_t *rsp = &rsp_v;
    if (sip->sip_request->rq_method == sip_method_ack)
        return rsp->reply(rsp->ctx, 0, NULL, NULL, NULL);
    if (sip->sip_error) {
        sip_header_t const *h = (sip_header_t const *)sip->sip_error;
        const char *name =
            h->sh_class == sip_error_class ? h->sh_error->er_name : h->sh_class->hc_name;
        char w[256];
        snprintf(w, sizeof(w), "Warning: 399 %s \"Cannot parse the %s header\"\r\n", s->cfg.host,
                 name ? name : "?");
        s->m.auth_failures[SCSCF_E_BAD_HEADER]++;
        return send_reply(s, rsp, sip, src, NULL, 400, scscf_reply_get(SCSCF_E_BAD_HEADER)->phrase,
                          w);
    }
    if (!sip->sip_from || !sip->sip_to || !sip->sip_call_id || !sip->sip_cseq || !sip->sip_via)
        return reply_error(s, rsp, sip, src, NULL, SCSCF_E_MISSING_HEADER, NULL);
    switch (sip->sip_request->rq_method) {
    case sip_method_register:
        handle_register(s, rsp, sip, src, peer);
        break;
    case sip_method_options:
        s->m.options++;
        send_reply(s, rsp, sip, src, NULL, 200, "OK",
                   "Allow: REGISTER, OPTIONS\r\nAccept: application/sdp\r\n");
        break;
    default:
        s->m.not_implemented++;
        reply_error(s, rsp, sip, src, NULL, SCSCF_E_NOT_IMPLEMENTED,
                    "Allow: REGISTER, OPTIONS\r\n");
        break;
    }
}

static int on_request(scscf_t *s, nta_leg_t *leg, nta_incoming_t *irq, sip_t const *sip)
{
    if (!sip || !sip->sip_request)
        return 400;
    char src[80], peer[64];
    packet_source(irq, src, sizeof(src), peer, sizeof(peer));
    scscf_registrar_process(s, sip, src, peer, (scscf_responder_t){.reply = nta_reply, .ctx = irq});
    return 0;
}

static void on_expired(void *ctx, scscf_record_t *rec)
{
    scscf_t *s = ctx;
    s->m.expired++;
    send_sar(s, rec->impi, rec->impu, false);
}

void scscf_registrar_expire(scscf_t *s, int64_t now)
{
    scscf_location_expire(s->loc, now, on_expired, s);
}

static void on_tick(su_root_magic_t *magic, su_timer_t *t, su_timer_arg_t *arg)
{
    scscf_t *s = arg;
    scscf_registrar_expire(s, ims_wall_s());
    scscf_auth_purge(s->auth, (int64_t)ims_now_ms());
    scscf_guard_purge(s->guard, ims_now_ms());
    scscf_location_flush(s->loc);
}

int scscf_registrar_init(scscf_t *s)
{
    s->leg = nta_leg_tcreate(s->agent, on_request, s, NTATAG_NO_DIALOG(1), TAG_END());
    if (!s->leg)
        return EIO;
    s->tick = su_timer_create(su_root_task(s->root), 1000);
    if (!s->tick || su_timer_run(s->tick, on_tick, s) < 0)
        return EIO;
    return 0;
}

void scscf_registrar_deinit(scscf_t *s)
{
    if (s->tick)
        su_timer_destroy(s->tick);
    s->tick = NULL;
    if (s->leg)
        nta_leg_destroy(s->leg);
    s->leg = NULL;
}
