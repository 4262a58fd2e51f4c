/* libFuzzer target for the S-CSCF REGISTER path: whole SIP messages parsed by Sofia go
 * through scscf_registrar_process with a fake HSS and the real nonce/guard/location stores. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sofia-sip/msg.h>
#include <sofia-sip/msg_mclass.h>
#include <sofia-sip/sip_util.h>
#include <sofia-sip/su_alloc.h>

#include "ims/aka.h"
#include "ims/digest.h"
#include "ims/log.h"
#include "ims/util.h"
#include "regevent.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Input: messages separated by lines of "====". Each message starts with two control
 * bytes, then the SIP text:
 *   byte 0: bits 0-2 MAR answer kind (see mar_answer), bit 3 answer the HSS inside the post
 *           (synchronously) instead of after the message, bit 4 expire every binding after
 *           the message, bits 5-6 SAR answer (0-1: 200, 2: 500, 3: unreachable), bit 7
 *           AKAv2 instead of AKAv1 for AKA material;
 *   byte 1: bits 0-1 the packet source, bits 2-4 variant of an error/garbage answer, bit 5
 *           (first message only) a nonce store whose nonces are stale at once.
 * In the text, @NONCE@ becomes the nonce of the last 401, and @RESPONSE@ the correct
 * Digest response (password PASSWORD, or the AKA RES) for the Authorization's fields, so
 * the fuzzer reaches the authenticated path. */
#define DOMAIN   "ims.mnc011.mcc432.3gppnetwork.org"
#define PASSWORD "1234"
#define SEP      "\n===="
#define MAX_MSGS 8

static const uint8_t XRES[8] = {0xa5, 0x42, 0x11, 0xd5, 0xe3, 0xba, 0x50, 0xbf};
static const uint8_t CK[16] = {0xb4, 0x0b, 0xa9, 0xa3, 0xc5, 0x8b, 0x2a, 0x05,
                               0xbb, 0xf0, 0xd9, 0x87, 0xb2, 0x1b, 0xf8, 0xcb};
static const uint8_t IK[16] = {0xf7, 0x69, 0xbc, 0xd7, 0x51, 0x04, 0x46, 0x04,
                               0x12, 0x76, 0x72, 0x71, 0x1c, 0x6d, 0x34, 0x41};

typedef struct call {
    struct call *next;
    bool mar;
    scscf_hss_cb cb;
    void *ctx;
    json_t *body; /* the request */
} call_t;

typedef struct harness {
    scscf_t s;
    uint8_t c0, c1;
    call_t *queue, **tail;
    unsigned mars;        /* MARs answered: makes every AKA RAND unique */
    unsigned replies;     /* replies of the current message */
    int status;           /* its status */
    char nonce[128];      /* of the last 401 */
    char algorithm[16];   /* of the last 401 */
    bool has_credentials; /* the current message had a computed response */
    bool has_path;        /* and a Path */
    sip_t const *sip;     /* the current message */
    size_t msg_len;       /* and its length */
    char ha1[2][33];      /* the last digest MAR answer's HA1s */
} harness_t;

/* ---- fake HSS ---- */

static json_t *impus_json(const char *impu, bool barred)
{
    return json_pack("[{s:s, s:b}, {s:s, s:b}, {s:s, s:b}]", "uri", impu, "barred", barred, "uri",
                     "sip:+15551234567@" DOMAIN, "barred", barred, "uri", "tel:+15551234567",
                     "barred", false);
}

/* The private identity a subscriber store would find for the MAR's username or IMPU. */
static void impi_of(json_t *req, char *out, size_t len)
{
    const char *user = json_string_value(json_object_get(req, "username"));
    const char *impu = json_string_value(json_object_get(req, "impu"));
    if (user && strchr(user, '@')) {
        snprintf(out, len, "%s", user);
    } else if (user) {
        snprintf(out, len, "%s@" DOMAIN, user);
    } else {
        const char *u = impu ? strchr(impu, ':') : NULL;
        u = u ? u + 1 : (impu ? impu : "");
        size_t n = strcspn(u, "@");
        snprintf(out, len, "%.*s@" DOMAIN, (int)n, u);
    }
}

static json_t *garbage(unsigned v)
{
    switch (v & 7) {
    case 0:
        return NULL;
    case 1:
        return json_pack("[i, s]", 1, "x");
    case 2:
        return json_pack("{s:s, s:s}", "scheme", "digest", "impi", "x@" DOMAIN);
    case 3:
        return json_pack("{s:s, s:s, s:{s:s, s:s}}", "scheme", "digest", "impi", "x@" DOMAIN, "ha1",
                         "impi", "00", "user", "zz");
    case 4:
        return json_pack("{s:s, s:s}", "scheme", "carrier-pigeon", "impi", "x@" DOMAIN);
    case 5:
        return json_pack("{s:s, s:s, s:s, s:s}", "scheme", "aka", "impi", "x@" DOMAIN, "rand",
                         "nothex", "algorithm", "AKAv9-MD5");
    case 6:
        return json_pack("{s:s, s:s, s:{s:s, s:s}, s:[{s:i}]}", "scheme", "digest", "impi",
                         "x@" DOMAIN, "ha1", "impi", "0123456789abcdef0123456789abcdef", "user",
                         "0123456789abcdef0123456789abcdef", "impus", "uri", 7);
    default:
        return json_string("not an object");
    }
}

/* The MAR answer chosen by control byte 0 bits 0-2. */
static long mar_answer(harness_t *h, json_t *req, json_t **body)
{
    char impi[300], ha1[33], ha1u[33], user[300];
    const char *impu = json_string_value(json_object_get(req, "impu"));
    unsigned v = (h->c1 >> 2) & 7;
    impi_of(req, impi, sizeof(impi));
    snprintf(user, sizeof(user), "%.*s", (int)strcspn(impi, "@"), impi);
    *body = NULL;
    switch (h->c0 & 7) {
    case 0:
    case 1:
    case 3: {
        bool other = (h->c0 & 7) == 3; /* a different subscriber's answer */
        const char *id = other ? "bob@" DOMAIN : impi;
        ims_digest_ha1(id, DOMAIN, PASSWORD, ha1);
        ims_digest_ha1(other ? "bob" : user, DOMAIN, PASSWORD, ha1u);
        memcpy(h->ha1[0], ha1, 33);
        memcpy(h->ha1[1], ha1u, 33);
        *body =
            json_pack("{s:s, s:s, s:s, s:{s:s, s:s}, s:o}", "scheme", "digest", "impi", id, "imsi",
                      other ? "001010000000001" : user, "ha1", "impi", ha1, "user", ha1u, "impus",
                      other ? json_pack("[{s:s}]", "uri", "sip:bob@" DOMAIN)
                            : impus_json(impu ? impu : "", (h->c0 & 7) == 1));
        return 200;
    }
    case 2: {
        uint8_t rand[16] = {0};
        char hr[33], ha[33], hx[17], hc[33], hi[33];
        memcpy(rand, &h->mars, sizeof(h->mars));
        rand[15] = v; /* v == 0 repeats RANDs across MARs: the store must refuse them */
        if (v == 0)
            memset(rand, 0, sizeof(rand));
        ims_hex_encode(rand, 16, hr);
        ims_hex_encode((const uint8_t *)"\x11\x22\x33\x44\x55\x66\x80\x00AUTNAUTNAUTN", 16, ha);
        ims_hex_encode(XRES, 8, hx);
        ims_hex_encode(CK, 16, hc);
        ims_hex_encode(IK, 16, hi);
        *body = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:o}", "scheme", "aka",
                          "algorithm", (h->c0 & 0x80) ? "AKAv2-MD5" : "AKAv1-MD5", "impi", impi,
                          "rand", hr, "autn", ha, "xres", hx, "ck", hc, "ik", hi, "impus",
                          impus_json(impu ? impu : "", false));
        return 200;
    }
    case 4:
        if (v < 3)
            return 404;
        *body = json_pack("{s:s}", "error", v < 6 ? "resync_failed" : "identity_mismatch");
        return 403;
    case 5:
        return 0;
    case 6:
        *body = garbage(v);
        return 200;
    default:
        return v < 4 ? 500 : 502;
    }
}

static void answer(harness_t *h, call_t *c)
{
    json_t *body = NULL;
    long status;
    if (c->mar) {
        h->mars++;
        status = mar_answer(h, c->body, &body);
    } else {
        unsigned sar = (h->c0 >> 5) & 3;
        status = sar < 2 ? 200 : sar == 2 ? 500 : 0;
        if (status == 200)
            body = json_pack("{s:s}", "state", "ok");
    }
    c->cb(c->ctx, status, body);
    json_decref(body);
    json_decref(c->body);
    free(c);
}

static int fake_post(void *hss, const char *path, json_t *body, scscf_hss_cb cb, void *ctx)
{
    harness_t *h = hss;
    call_t *c = calloc(1, sizeof(*c));
    if (!c || !body) {
        free(c);
        json_decref(body);
        return -1;
    }
    c->mar = strcmp(path, "/api/v1/cx/mar") == 0;
    if (!c->mar && strcmp(path, "/api/v1/cx/sar") != 0)
        abort(); /* the registrar only speaks MAR and SAR */
    c->cb = cb;
    c->ctx = ctx;
    c->body = body;
    if (h->c0 & 8) {
        answer(h, c);
        return 0;
    }
    *h->tail = c;
    h->tail = &c->next;
    return 0;
}

static void drain(harness_t *h)
{
    while (h->queue) {
        call_t *c = h->queue;
        h->queue = c->next;
        if (!h->queue)
            h->tail = &h->queue;
        answer(h, c);
    }
}

/* ---- responder: checks every reply ---- */

/* strstr by hand: libFuzzer learns the operands of intercepted strstr/strncmp calls, and
 * would then copy the secret under test into the To header, which a 200 rightly echoes. */
static bool contains(const char *hay, const char *needle)
{
    for (; *hay; hay++) {
        size_t i = 0;
        while (needle[i] && hay[i] == needle[i])
            i++;
        if (!needle[i])
            return true;
    }
    return false;
}

/* FUZZ_REGISTER_TRACE=1 prints every reply: to check what a seed reaches. */
static bool trace;

static msg_t *on_reply(void *ctx, int status, const char *phrase, const char *server,
                       const char *headers)
{
    harness_t *h = ctx;
    h->replies++;
    if (trace)
        fprintf(stderr, "reply %d %s\n%s", status, phrase ? phrase : "-", headers ? headers : "");
    h->status = status;
    if (status == 0) {
        if (h->sip->sip_request->rq_method != sip_method_ack)
            abort(); /* only an ACK goes unanswered */
        return NULL;
    }
    if (status < 200 || status > 699 || !phrase || !*phrase || !server)
        abort();
    if (!headers)
        headers = "";
    /* every error from the registrar explains itself (a 401 is a challenge, not an error) */
    if (status >= 300 && status != 401 && !strstr(headers, "Warning: 399 "))
        abort();
    /* nothing registers without credentials the harness computed */
    if (status == 200 && h->sip->sip_request->rq_method == sip_method_register &&
        !h->has_credentials)
        abort();
    /* CK and IK go only to a P-CSCF (a REGISTER with Path), only in a 401 */
    char ckhex[33], ikhex[33];
    ims_hex_encode(CK, 16, ckhex);
    ims_hex_encode(IK, 16, ikhex);
    if ((contains(headers, ckhex) || contains(headers, ikhex)) && (status != 401 || !h->has_path))
        abort();
    /* a 401 and a 200 echo every Path entry whole (Sofia's encoder given ample room) */
    if ((status == 401 || status == 200) && h->sip->sip_request->rq_method == sip_method_register) {
        size_t cap = h->msg_len + 64;
        char *want = malloc(cap + 16);
        for (sip_path_t const *p = h->sip->sip_path; want && p; p = p->r_next) {
            strcpy(want, "Path: ");
            issize_t n = msg_header_field_e(want + 6, (isize_t)cap, (msg_header_t const *)p, 0);
            if (n <= 0 || (size_t)n >= cap)
                abort();
            strcpy(want + 6 + n, "\r\n");
            if (!strstr(headers, want))
                abort();
        }
        free(want);
    }
    /* no HA1 the HSS handed out ever reaches a SIP message */
    if ((h->ha1[0][0] && contains(headers, h->ha1[0])) ||
        (h->ha1[1][0] && contains(headers, h->ha1[1])))
        abort();
    if (status == 401) {
        const char *w = strstr(headers, "WWW-Authenticate: ");
        if (!w)
            abort();
        w += strlen("WWW-Authenticate: ");
        char value[1024];
        snprintf(value, sizeof(value), "%.*s", (int)strcspn(w, "\r\n"), w);
        ims_digest_params_t *dp = malloc(sizeof(*dp));
        if (!dp || ims_digest_parse(value, dp) || !dp->nonce || !dp->realm ||
            strcmp(dp->realm, DOMAIN) != 0)
            abort(); /* our own challenge must parse */
        snprintf(h->nonce, sizeof(h->nonce), "%s", dp->nonce);
        snprintf(h->algorithm, sizeof(h->algorithm), "%s", dp->algorithm ? dp->algorithm : "MD5");
        free(dp);
    }
    return NULL; /* no message: the timeline records the reply without its text */
}

/* ---- placeholders ---- */

/* Replaces every `from` in buf (length *len, capacity cap) with `to`. */
static void replace_all(char *buf, size_t *len, size_t cap, const char *from, const char *to)
{
    size_t fl = strlen(from), tl = strlen(to);
    char *p = buf;
    while ((p = memmem(p, *len - (size_t)(p - buf), from, fl)) != NULL) {
        if (*len - fl + tl >= cap)
            return;
        memmove(p + tl, p + fl, *len - (size_t)(p - buf) - fl);
        memcpy(p, to, tl);
        *len = *len - fl + tl;
        p += tl;
    }
}

/* The response the UE would compute for the credentials of msg (the first Authorization). */
static void compute_response(harness_t *h, const char *text, size_t len, char out[33])
{
    memset(out, '0', 32);
    out[32] = 0;
    msg_t *msg = msg_make(sip_default_mclass(), 0, text, (isize_t)len);
    sip_t const *sip = msg ? sip_object(msg) : NULL;
    msg_auth_t const *a = sip ? sip->sip_authorization : NULL;
    ims_digest_params_t *dp = malloc(sizeof(*dp));
    /* joined from the parameters as the registrar does: Sofia's sip_header_as_string drops
     * the parameters past its first 128-byte guess */
    char value[IMS_DIGEST_MAX + 1];
    size_t w = (size_t)snprintf(value, sizeof(value), "%s", a && a->au_scheme ? a->au_scheme : "");
    for (int i = 0; a && a->au_params && a->au_params[i] && w < sizeof(value); i++)
        w +=
            (size_t)snprintf(value + w, sizeof(value) - w, "%s%s", i ? ", " : " ", a->au_params[i]);
    if (a && dp && w < sizeof(value) && ims_digest_parse(value, dp) == 0 && dp->username &&
        dp->nonce && dp->uri) {
        char ha1[33], ha2[33];
        ims_aka_version_t v;
        if (ims_aka_version_parse(h->algorithm, &v) == 0) {
            uint8_t pw[32];
            size_t pwlen = 0;
            if (ims_aka_password(v, XRES, IK, CK, pw, &pwlen) == 0)
                ims_digest_ha1_bin(dp->username, DOMAIN, pw, pwlen, ha1);
            else
                memset(ha1, '0', sizeof(ha1));
            ha1[32] = 0;
        } else {
            ims_digest_ha1(dp->username, DOMAIN, PASSWORD, ha1);
        }
        bool qop = dp->qop && *dp->qop;
        ims_digest_ha2("REGISTER", dp->uri, ha2);
        ims_digest_response(ha1, dp->nonce, qop ? dp->nc : NULL, qop ? dp->cnonce : NULL,
                            qop ? dp->qop : NULL, ha2, out);
        if (trace)
            fprintf(stderr, "credentials [%s] ha1 %s nonce %s -> %s\n", value, ha1, dp->nonce, out);
    }
    free(dp);
    if (msg)
        msg_destroy(msg);
}

/* ---- one message ---- */

static void one_message(harness_t *h, const uint8_t *data, size_t size)
{
    if (size < 2)
        return;
    h->c0 = data[0];
    h->c1 = data[1];
    data += 2;
    size -= 2;
    size_t cap = size + 256, len = size;
    char *buf = malloc(cap);
    if (!buf)
        return;
    memcpy(buf, data, size);
    replace_all(buf, &len, cap, "@NONCE@", h->nonce);
    h->has_credentials = memmem(buf, len, "@RESPONSE@", 10) != NULL;
    if (h->has_credentials) {
        char resp[33];
        compute_response(h, buf, len, resp);
        replace_all(buf, &len, cap, "@RESPONSE@", resp);
    }
    if (trace)
        fprintf(stderr, "message:\n%.*s", (int)len, buf);
    msg_t *msg = msg_make(sip_default_mclass(), 0, buf, (isize_t)len);
    sip_t const *sip = msg ? sip_object(msg) : NULL;
    /* what nta drops or answers itself: no request, an unparsable To/From/Call-ID/CSeq/Via/
     * Content-Length, or a request failing its sanity check */
    if (!sip || !sip->sip_request || (sip->sip_flags & MSG_FLG_ERROR) ||
        sip_sanity_check(sip) < 0) {
        if (msg)
            msg_destroy(msg);
        free(buf);
        return;
    }
    static const char *const src[][2] = {{"udp:127.0.0.1:5060", "127.0.0.1"},
                                         {"tcp:[::1]:5070", "::1"},
                                         {"udp:10.0.0.7:40000", "10.0.0.7"},
                                         {"?", "?"}};
    h->sip = sip;
    h->has_path = sip->sip_path != NULL;
    h->msg_len = len;
    h->replies = 0;
    scscf_registrar_process(&h->s, sip, src[h->c1 & 3][0], src[h->c1 & 3][1],
                            (scscf_responder_t){.reply = on_reply, .ctx = h});
    drain(h);
    if (h->replies != 1 || h->s.pending != 0)
        abort(); /* exactly one reply per request, nothing left waiting */
    if (h->c0 & 16) {
        scscf_registrar_expire(&h->s, ims_wall_s() + 10000000);
        drain(h);
        if (scscf_location_binding_count(h->s.loc) != 0)
            abort();
    }
    scscf_location_iter_t it;
    for (scscf_record_t *r = scscf_location_first(h->s.loc, &it); r;
         r = scscf_location_next(h->s.loc, &it)) {
        size_t n = 0;
        for (const scscf_binding_t *b = scscf_record_bindings(r); b; b = b->next)
            n++;
        if (n > SCSCF_MAX_CONTACTS)
            abort();
    }
    msg_destroy(msg);
    free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool init;
    /* The nonce store is created once (creating and freeing its table per input under
     * ASan halved the speed when it was a fixed 512 KiB) and emptied after every input. */
    static scscf_auth_t *auth, *auth_stale;
    if (!init) {
        if (scscf_auth_create(DOMAIN, 300, &auth) || scscf_auth_create(DOMAIN, 0, &auth_stale))
            abort();
        ims_log_init("fuzz_register", IMS_LOG_ERROR);
        trace = getenv("FUZZ_REGISTER_TRACE") != NULL;
        init = true;
    }
    harness_t *h = calloc(1, sizeof(*h));
    if (!h)
        return 0;
    h->tail = &h->queue;
    scscf_t *s = &h->s;
    s->cfg.sip = "127.0.0.1:6060";
    s->cfg.domain = DOMAIN;
    s->cfg.server_header = "IMS-Emulator S-CSCF";
    s->cfg.host = "127.0.0.1";
    s->cfg.service_route = "<sip:orig@scscf." DOMAIN ":6060;lr>";
    s->cfg.min_expires = 60;
    s->cfg.max_expires = 3600;
    s->cfg.nonce_ttl = 300;
    s->cfg.auth_fail_limit = 3; /* low, so that the cooldown is reached */
    s->cfg.auth_cooldown = 60;
    snprintf(s->cfg.scscf_uri, sizeof(s->cfg.scscf_uri), "sip:scscf." DOMAIN ":6060");
    snprintf(s->cfg.scscf_contact, sizeof(s->cfg.scscf_contact), "sip:127.0.0.1:6060");
    s->hss_post = fake_post;
    s->hss_ctx = h;
    /* byte 1 bit 5 of the first message: every nonce is stale as soon as it is made */
    s->auth = size > 1 && (data[1] & 0x20) ? auth_stale : auth;
    /* the reg event store without a notifier (no agent): SUBSCRIBEs are checked, kept and
     * ended like in the daemon, NOTIFYs only counted */
    if (scscf_location_create(&s->loc) || scscf_guard_create(3, 60, 16, &s->guard) ||
        scscf_regevent_create(s, NULL))
        abort();

    const uint8_t *p = data, *end = data + size;
    for (int i = 0; i < MAX_MSGS && p < end; i++) {
        const uint8_t *sep = memmem(p, (size_t)(end - p), SEP, strlen(SEP));
        const uint8_t *stop = sep ? sep + 1 : end; /* the message keeps its last newline */
        one_message(h, p, (size_t)(stop - p));
        if (!sep)
            break;
        const uint8_t *nl = memchr(sep + 1, '\n', (size_t)(end - sep - 1));
        p = nl ? nl + 1 : end;
    }

    drain(h);
    scscf_regevent_free(s);
    scscf_location_free(s->loc);
    scscf_auth_purge(s->auth, INT64_MAX);
    if (scscf_auth_count(s->auth) != 0)
        abort();
    scscf_guard_free(s->guard);
    free(h);
    return 0;
}
