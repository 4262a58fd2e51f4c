/* Unit tests of the S-CSCF REGISTER path through scscf_registrar_process, with the HSS
 * behind its function pointer: Digest success, AKA challenge, 423, Contact: *, all-or-nothing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <sofia-sip/msg.h>
#include <sofia-sip/sip_util.h>

#include "ims/aka.h"
#include "ims/digest.h"
#include "ims/util.h"
#include "scscf.h"

#define DOMAIN   "ims.mnc011.mcc432.3gppnetwork.org"
#define IMSI     "432011123456791"
#define IMPI     IMSI "@" DOMAIN
#define IMPU     "sip:" IMSI "@" DOMAIN
#define MSISDN   "sip:+15551234567@" DOMAIN
#define PASSWORD "1234"
#define CNONCE   "47d4310d6e964d93b723b70941dd05a2"
#define MAXCALLS 8

/* A Cx request the registrar made, waiting for the test to answer it. */
typedef struct call {
    char path[32];
    json_t *body;
    scscf_hss_cb cb;
    void *ctx;
} call_t;

typedef struct fx {
    scscf_t s;
    call_t calls[MAXCALLS];
    size_t ncalls;
    msg_t *msg; /* the request in flight: valid until its reply */
    unsigned replies, cseq;
    int status;
    char phrase[128], headers[8192];
    bool aka; /* MAR answers carry AKA material instead of Digest HA1s */
} fx_t;

static const uint8_t RAND[16] = {0x23, 0x55, 0x3c, 0xbe, 0x96, 0x37, 0xa8, 0x9d,
                                 0x21, 0x8a, 0xe6, 0x4d, 0xae, 0x47, 0xbf, 0x35};
static const uint8_t AUTN[16] = {0xaa, 0x68, 0x9c, 0x64, 0x83, 0x70, 0x80, 0x00,
                                 0x8d, 0x2b, 0x86, 0x27, 0x2e, 0x5a, 0x2a, 0x56};
static const uint8_t XRES[8] = {0xa5, 0x42, 0x11, 0xd5, 0xe3, 0xba, 0x50, 0xbf};
static const uint8_t CK[16] = {0xb4, 0x0b, 0xa9, 0xa3, 0xc5, 0x8b, 0x2a, 0x05,
                               0xbb, 0xf0, 0xd9, 0x87, 0xb2, 0x1b, 0xf8, 0xcb};
static const uint8_t IK[16] = {0xf7, 0x69, 0xbc, 0xd7, 0x51, 0x04, 0x46, 0x04,
                               0x12, 0x76, 0x72, 0x71, 0x1c, 0x6d, 0x34, 0x41};

/* ---- the HSS behind scscf_t.hss_post ---- */

static int fake_post(void *hss, const char *path, json_t *body, scscf_hss_cb cb, void *ctx)
{
    fx_t *fx = hss;
    assert_true(fx->ncalls < MAXCALLS);
    call_t *c = &fx->calls[fx->ncalls++];
    snprintf(c->path, sizeof(c->path), "%s", path);
    c->body = body;
    c->cb = cb;
    c->ctx = ctx;
    return 0;
}

/* Answers the oldest call, which must be to path; returns its request (caller decrefs). */
static json_t *answer(fx_t *fx, const char *path, long status, json_t *answer_body)
{
    assert_true(fx->ncalls > 0);
    call_t c = fx->calls[0];
    memmove(fx->calls, fx->calls + 1, --fx->ncalls * sizeof(call_t));
    assert_string_equal(c.path, path);
    c.cb(c.ctx, status, answer_body);
    json_decref(answer_body);
    return c.body;
}

static json_t *impus(void)
{
    /* the IMSI-derived IMPU is barred, yet registers (TS 23.003 13.4B) and is not listed */
    return json_pack("[{s:s, s:b}, {s:s, s:b}, {s:s, s:b}]", "uri", IMPU, "barred", 1, "uri",
                     MSISDN, "barred", 0, "uri", "tel:+15551234567", "barred", 0);
}

static json_t *mar_material(const fx_t *fx)
{
    if (fx->aka) {
        char r[33], a[33], x[17], c[33], i[33];
        ims_hex_encode(RAND, 16, r);
        ims_hex_encode(AUTN, 16, a);
        ims_hex_encode(XRES, 8, x);
        ims_hex_encode(CK, 16, c);
        ims_hex_encode(IK, 16, i);
        return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:o}", "scheme", "aka",
                         "algorithm", "AKAv1-MD5", "impi", IMPI, "rand", r, "autn", a, "xres", x,
                         "ck", c, "ik", i, "impus", impus());
    }
    char ha1[33], ha1u[33];
    ims_digest_ha1(IMPI, DOMAIN, PASSWORD, ha1);
    ims_digest_ha1(IMSI, DOMAIN, PASSWORD, ha1u);
    return json_pack("{s:s, s:s, s:s, s:{s:s, s:s}, s:o}", "scheme", "digest", "impi", IMPI, "imsi",
                     IMSI, "ha1", "impi", ha1, "user", ha1u, "impus", impus());
}

/* ---- the UE side ---- */

static msg_t *on_reply(void *ctx, int status, const char *phrase, const char *server,
                       const char *headers)
{
    fx_t *fx = ctx;
    fx->replies++;
    fx->status = status;
    snprintf(fx->phrase, sizeof(fx->phrase), "%s", phrase ? phrase : "");
    snprintf(fx->headers, sizeof(fx->headers), "%s", headers ? headers : "");
    return NULL; /* no message: the timeline records the reply without its text */
}

/* Sends one REGISTER with the given extra header lines; the reply may come later (MAR). */
static void send_register(fx_t *fx, const char *lines)
{
    char text[4096];
    msg_destroy(fx->msg);
    snprintf(text, sizeof(text),
             "REGISTER sip:" DOMAIN " SIP/2.0\r\n"
             "Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-%u;rport\r\n"
             "Max-Forwards: 70\r\n"
             "From: <" IMPU ">;tag=ue1\r\n"
             "To: <" IMPU ">\r\n"
             "Call-ID: unit-call-1@127.0.0.1\r\n"
             "CSeq: %u REGISTER\r\n"
             "%s"
             "Content-Length: 0\r\n\r\n",
             fx->cseq, fx->cseq, lines);
    fx->cseq++;
    fx->replies = 0;
    fx->status = 0;
    fx->msg = msg_make(sip_default_mclass(), 0, text, (isize_t)strlen(text));
    assert_non_null(fx->msg);
    sip_t const *sip = sip_object(fx->msg);
    assert_non_null(sip);
    scscf_registrar_process(&fx->s, sip, "udp:127.0.0.1:5070", "127.0.0.1",
                            (scscf_responder_t){.reply = on_reply, .ctx = fx});
}

/* The value of parameter name in the reply's WWW-Authenticate (quotes removed). */
static void www_param(const fx_t *fx, const char *name, char *out, size_t len)
{
    const char *w = strstr(fx->headers, "WWW-Authenticate: ");
    assert_non_null(w);
    char key[32];
    snprintf(key, sizeof(key), " %s=", name);
    const char *p = strstr(w, key);
    assert_non_null(p);
    p += strlen(key);
    if (*p == '"')
        p++;
    snprintf(out, len, "%.*s", (int)strcspn(p, "\",\r"), p);
}

/* The Digest response of a UE with PASSWORD (RFC 2617 3.2.2, qop=auth). */
static void ue_response(const char *nonce, const char *nc, char out[33])
{
    char ha1[33], ha2[33];
    ims_digest_ha1(IMSI, DOMAIN, PASSWORD, ha1);
    ims_digest_ha2("REGISTER", "sip:" DOMAIN, ha2);
    ims_digest_response(ha1, nonce, nc, CNONCE, "auth", ha2, out);
}

/* Challenge, then the same REGISTER with correct credentials and the given lines; returns
 * the final status. */
static int register_authenticated(fx_t *fx, const char *lines)
{
    send_register(fx, lines);
    json_decref(answer(fx, "/api/v1/cx/mar", 200, mar_material(fx)));
    assert_int_equal(fx->status, 401);
    char nonce[128], response[33], auth[1024];
    www_param(fx, "nonce", nonce, sizeof(nonce));
    ue_response(nonce, "00000001", response);
    snprintf(auth, sizeof(auth),
             "Authorization: Digest username=\"" IMSI "\", realm=\"" DOMAIN "\", nonce=\"%s\", "
             "uri=\"sip:" DOMAIN "\", response=\"%s\", algorithm=MD5, cnonce=\"" CNONCE "\", "
             "qop=auth, nc=00000001\r\n%s",
             nonce, response, lines);
    send_register(fx, auth);
    assert_int_equal(fx->replies, 1); /* answered at once: no MAR for good credentials */
    return fx->status;
}

/* Answers every SAR waiting with 200; returns how many with state (or any, state NULL). */
static int answer_sars(fx_t *fx, const char *state)
{
    int n = 0;
    while (fx->ncalls && strcmp(fx->calls[0].path, "/api/v1/cx/sar") == 0) {
        json_t *req = answer(fx, "/api/v1/cx/sar", 200, json_pack("{s:s}", "state", "ok"));
        const char *st = json_string_value(json_object_get(req, "state"));
        n += !state || (st && strcmp(st, state) == 0);
        json_decref(req);
    }
    return n;
}

static int setup(void **state)
{
    fx_t *fx = calloc(1, sizeof(*fx));
    assert_non_null(fx);
    scscf_config_t *c = &fx->s.cfg;
    c->sip = "127.0.0.1:6060";
    c->domain = DOMAIN;
    c->server_header = "IMS-Emulator S-CSCF";
    c->host = "127.0.0.1";
    c->service_route = "<sip:orig@scscf." DOMAIN ":6060;lr>";
    c->min_expires = 60;
    c->max_expires = 3600;
    c->nonce_ttl = 300;
    c->auth_fail_limit = 10;
    c->auth_cooldown = 60;
    snprintf(c->scscf_uri, sizeof(c->scscf_uri), "sip:scscf." DOMAIN ":6060");
    fx->s.hss_post = fake_post;
    fx->s.hss_ctx = fx;
    fx->cseq = 1;
    assert_int_equal(scscf_location_create(&fx->s.loc), 0);
    assert_int_equal(scscf_auth_create(DOMAIN, 300, &fx->s.auth), 0);
    assert_int_equal(scscf_guard_create(10, 60, 64, &fx->s.guard), 0);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    fx_t *fx = *state;
    answer_sars(fx, NULL);
    assert_int_equal(fx->ncalls, 0);
    assert_int_equal(fx->s.pending, 0);
    msg_destroy(fx->msg);
    scscf_location_free(fx->s.loc);
    scscf_auth_free(fx->s.auth);
    scscf_guard_free(fx->s.guard);
    free(fx);
    return 0;
}

/* ---- tests ---- */

/* The reference capture's digest, then a whole Digest registration with its parameters. */
static void test_digest_success(void **state)
{
    fx_t *fx = *state;
    char response[33];
    ue_response("9141ed3a3de48a878ba1467f9cfa0a88", "00000001", response);
    assert_string_equal(response, "1038f0a088f300476ffffef5474a2c96");

    send_register(fx, "Contact: <sip:" IMSI "@127.0.0.1:5070>;expires=600\r\n");
    assert_int_equal(fx->replies, 0); /* waits for the MAR */
    assert_int_equal(fx->s.pending, 1);
    json_t *mar = answer(fx, "/api/v1/cx/mar", 200, mar_material(fx));
    assert_string_equal(json_string_value(json_object_get(mar, "impu")), IMPU);
    assert_string_equal(json_string_value(json_object_get(mar, "realm")), DOMAIN);
    json_decref(mar);
    assert_int_equal(fx->status, 401);
    char alg[16];
    www_param(fx, "algorithm", alg, sizeof(alg));
    assert_string_equal(alg, "MD5");
    assert_null(strstr(fx->headers, "ck="));

    assert_int_equal(
        register_authenticated(fx, "Contact: <sip:" IMSI "@127.0.0.1:5070>;expires=600\r\n"), 200);
    assert_non_null(strstr(fx->headers, "Contact: <sip:" IMSI "@127.0.0.1:5070>;expires=600"));
    assert_non_null(strstr(fx->headers, "P-Associated-URI: <" MSISDN ">, <tel:+15551234567>"));
    assert_null(strstr(fx->headers, "<" IMPU ">")); /* barred: not listed */
    assert_non_null(strstr(fx->headers, "Service-Route: <sip:orig@scscf." DOMAIN ":6060;lr>"));
    assert_int_equal(answer_sars(fx, "registered"), 1);
    scscf_record_t *r = scscf_location_find_impu(fx->s.loc, MSISDN);
    assert_non_null(r);
    assert_string_equal(scscf_record_impi(r), IMPI);
    assert_int_equal(scscf_record_binding_count(r), 1);
    assert_int_equal(fx->s.m.registrations_ok, 1);
}

/* AKA: the nonce is base64(RAND || AUTN); CK and IK go only to a P-CSCF (a Path). */
static void test_aka_challenge(void **state)
{
    fx_t *fx = *state;
    fx->aka = true;
    char want[45], nonce[128], alg[16];
    ims_aka_nonce(RAND, AUTN, want);
    send_register(fx,
                  "Path: <sip:pcscf@127.0.0.1:5060;lr>\r\nContact: <sip:ue@127.0.0.1:5070>\r\n");
    json_decref(answer(fx, "/api/v1/cx/mar", 200, mar_material(fx)));
    assert_int_equal(fx->status, 401);
    assert_string_equal(fx->phrase, "Unauthorized - Challenging the UE");
    www_param(fx, "nonce", nonce, sizeof(nonce));
    assert_string_equal(nonce, want);
    www_param(fx, "algorithm", alg, sizeof(alg));
    assert_string_equal(alg, "AKAv1-MD5");
    char ck[33], ik[33], got[64];
    ims_hex_encode(CK, 16, ck);
    ims_hex_encode(IK, 16, ik);
    www_param(fx, "ck", got, sizeof(got));
    assert_string_equal(got, ck);
    www_param(fx, "ik", got, sizeof(got));
    assert_string_equal(got, ik);
    assert_non_null(strstr(fx->headers, "Path: <sip:pcscf@127.0.0.1:5060;lr>"));
    assert_int_equal(fx->s.m.challenges, 1);

    /* A UE talking to us directly (no Path) gets no keys. The fake HSS repeats its RAND,
     * which the nonce store refuses while it holds the first: forget that one first. */
    scscf_auth_purge(fx->s.auth, INT64_MAX);
    send_register(fx, "Contact: <sip:ue@127.0.0.1:5070>\r\n");
    json_decref(answer(fx, "/api/v1/cx/mar", 200, mar_material(fx)));
    assert_int_equal(fx->status, 401);
    assert_null(strstr(fx->headers, "ck="));
    assert_null(strstr(fx->headers, "ik="));
    assert_null(strstr(fx->headers, ck));
}

static void test_interval_too_brief(void **state)
{
    fx_t *fx = *state;
    assert_int_equal(
        register_authenticated(fx, "Contact: <sip:" IMSI "@127.0.0.1:5070>;expires=30\r\n"), 423);
    assert_string_equal(fx->phrase, "Interval Too Brief");
    assert_non_null(strstr(fx->headers, "Min-Expires: 60\r\n"));
    assert_non_null(strstr(fx->headers, "Warning: 399 127.0.0.1 \""));
    assert_int_equal(scscf_location_count(fx->s.loc), 0);
    assert_int_equal(answer_sars(fx, NULL), 0);
}

static void test_contact_star_removes_all(void **state)
{
    fx_t *fx = *state;
    assert_int_equal(register_authenticated(fx, "Contact: <sip:a@127.0.0.1:5070>;expires=600, "
                                                "<sip:b@127.0.0.1:5071>;expires=600\r\n"),
                     200);
    assert_int_equal(answer_sars(fx, "registered"), 1);
    assert_int_equal(scscf_location_binding_count(fx->s.loc), 2);

    /* * needs Expires: 0 */
    assert_int_equal(register_authenticated(fx, "Contact: *\r\nExpires: 600\r\n"), 400);
    assert_string_equal(fx->phrase, "Bad Request - Invalid Contact");
    assert_int_equal(scscf_location_binding_count(fx->s.loc), 2);

    assert_int_equal(register_authenticated(fx, "Contact: *\r\nExpires: 0\r\n"), 200);
    assert_null(strstr(fx->headers, "Contact:"));
    assert_int_equal(scscf_location_count(fx->s.loc), 0);
    assert_int_equal(scscf_location_binding_count(fx->s.loc), 0);
    assert_int_equal(answer_sars(fx, "unregistered"), 1);
    assert_int_equal(fx->s.m.deregistrations, 1);
}

/* One bad Contact among good ones: nothing of the REGISTER is applied. */
static void test_all_or_nothing(void **state)
{
    fx_t *fx = *state;
    assert_int_equal(register_authenticated(fx, "Contact: <sip:a@127.0.0.1:5070>;expires=600\r\n"),
                     200);
    assert_int_equal(answer_sars(fx, "registered"), 1);
    scscf_record_t *r = scscf_location_find_impi(fx->s.loc, IMPI);
    assert_non_null(r);
    int64_t before = scscf_record_bindings(r)->expires_at;

    assert_int_equal(register_authenticated(fx, "Contact: <sip:a@127.0.0.1:5070>;expires=0, "
                                                "<sip:b@127.0.0.1:5071>;expires=900, "
                                                "<sip:c@127.0.0.1:5072>;expires=soon\r\n"),
                     400);
    assert_string_equal(fx->phrase, "Bad Request - Invalid Expires");
    r = scscf_location_find_impi(fx->s.loc, IMPI);
    assert_non_null(r);
    assert_int_equal(scscf_record_binding_count(r), 1);
    assert_string_equal(scscf_record_bindings(r)->contact, "sip:a@127.0.0.1:5070");
    assert_int_equal(scscf_record_bindings(r)->expires_at, before);

    /* a Contact that is not a SIP URI: the same */
    assert_int_equal(register_authenticated(fx, "Contact: <sip:b@127.0.0.1:5071>;expires=900, "
                                                "<mailto:c@example.com>\r\n"),
                     400);
    assert_string_equal(fx->phrase, "Bad Request - Invalid Contact");
    assert_int_equal(scscf_location_binding_count(fx->s.loc), 1);
    assert_int_equal(answer_sars(fx, NULL), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_digest_success, setup, teardown),
        cmocka_unit_test_setup_teardown(test_aka_challenge, setup, teardown),
        cmocka_unit_test_setup_teardown(test_interval_too_brief, setup, teardown),
        cmocka_unit_test_setup_teardown(test_contact_star_removes_all, setup, teardown),
        cmocka_unit_test_setup_teardown(test_all_or_nothing, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
