/* Unit tests for common/src/ue_api.c and events.c on a real su_root loop and real sockets:
 * the timeline, pcap and fault endpoints, and Server-Sent Events with filters and limits. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include <sofia-sip/su.h>
#include <sofia-sip/su_wait.h>

#include "ims/log.h"
#include "ims/loop.h"
#include "ims/ue_api.h"
#include "ims/util.h"

#define IMPI "432011123456791@ims.example"
#define IMPU "sip:98098765432100@ims.example"

typedef struct fixture {
    su_root_t *root;
    ims_http_server_t *srv;
    ims_loop_http_t *lh;
    ims_timeline_t *tl;
    ims_events_t *ev;
    ims_faults_t *faults;
    ims_ue_api_t api;
    unsigned port;
} fixture_t;

static void handler(void *ctx, const ims_http_req_t *req, ims_http_resp_t *resp)
{
    fixture_t *f = ctx;
    if (!ims_ue_api_handle(&f->api, req, resp))
        ims_http_resp_error(resp, 404, "not_found", "no %s", req->path);
}

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof(*f));
    assert_int_equal(su_init(), 0);
    f->root = su_root_create(NULL);
    ims_timeline_opts_t to = {.daemon = "scscf"};
    assert_int_equal(ims_timeline_new(&to, &f->tl), 0);
    ims_events_opts_t eo = {.max_clients = 3, .queue_bytes = 64 * 1024, .keepalive_s = 1};
    assert_int_equal(ims_events_new(f->tl, f->root, &eo, &f->ev), 0);
    ims_faults_opts_t fo = {.daemon = "scscf", .allowed = IMS_FAULT_ALL};
    assert_int_equal(ims_faults_new(&fo, &f->faults), 0);
    f->api = (ims_ue_api_t){.tl = f->tl, .events = f->ev, .faults = f->faults};
    ims_http_opts_t ho = {.bind = "127.0.0.1:0",
                          .handler = handler,
                          .ctx = f,
                          .token = "tok",
                          .token_methods = "DELETE,POST"};
    char err[256];
    assert_int_equal(ims_http_server_start(&ho, &f->srv, err, sizeof(err)), 0);
    assert_int_equal(ims_loop_attach_http(f->root, f->srv, &f->lh), 0);
    f->port = ims_http_server_port(f->srv);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    ims_loop_detach_http(f->lh);
    ims_http_server_stop(f->srv);
    ims_events_free(f->ev);
    ims_faults_free(f->faults);
    ims_timeline_free(f->tl);
    su_root_destroy(f->root);
    su_deinit();
    free(f);
    return 0;
}

static int open_conn(fixture_t *f, const char *raw)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)f->port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    size_t len = strlen(raw);
    assert_int_equal(send(fd, raw, len, MSG_NOSIGNAL), (ssize_t)len);
    return fd;
}

typedef struct rbuf {
    char b[65536];
    size_t n;
    bool eof;
} rbuf_t;

/* Runs the loop until the connection has delivered want (NULL: until EOF), bounded. */
static bool wait_for(fixture_t *f, int fd, rbuf_t *r, const char *want)
{
    for (int i = 0; i < 400; i++) {
        if (want && strstr(r->b, want))
            return true;
        if (r->eof)
            return !want;
        su_root_step(f->root, 10);
        ssize_t n = recv(fd, r->b + r->n, sizeof(r->b) - 1 - r->n, MSG_DONTWAIT);
        if (n > 0) {
            r->n += (size_t)n;
            r->b[r->n] = '\0';
        } else if (n == 0) {
            r->eof = true;
        }
    }
    return false;
}

/* One request with Connection: close; returns the status, body in r. */
static int http(fixture_t *f, const char *method, const char *target, const char *body, rbuf_t *r)
{
    char raw[2048];
    snprintf(raw, sizeof(raw),
             "%s %s HTTP/1.1\r\nHost: t\r\nConnection: close\r\nAuthorization: Bearer tok\r\n"
             "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
             method, target, body ? strlen(body) : 0, body ? body : "");
    memset(r, 0, sizeof(*r));
    int fd = open_conn(f, raw);
    assert_true(wait_for(f, fd, r, NULL));
    close(fd);
    int status = 0;
    assert_int_equal(sscanf(r->b, "HTTP/1.1 %d", &status), 1);
    return status;
}

static const char *body_of(const rbuf_t *r)
{
    const char *b = strstr(r->b, "\r\n\r\n");
    assert_non_null(b);
    return b + 4;
}

static void record(fixture_t *f, const char *impi, const char *impu, const char *sip)
{
    ims_tl_record_t rec = {.impi = impi,
                           .impu = impu,
                           .kind = "request",
                           .direction = "in",
                           .method = "REGISTER",
                           .src = "127.0.0.1",
                           .src_port = 5062,
                           .dst = "127.0.0.1",
                           .dst_port = 6060,
                           .transport = "UDP",
                           .sip = sip,
                           .sip_len = strlen(sip)};
    assert_true(ims_timeline_record(f->tl, &rec) > 0);
}

static const char reg[] = "REGISTER sip:ims.example SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5062"
                          ";branch=z9hG4bK1\r\nCall-ID: e1@h\r\nCSeq: 1 REGISTER\r\n"
                          "Authorization: Digest username=\"u\", ck=\"SECRETCK0123\"\r\n"
                          "Content-Length: 0\r\n\r\n";

static void test_events(void **state)
{
    fixture_t *f = *state;
    rbuf_t a = {0}, b = {0}, c = {0}, r;
    int fa = open_conn(f, "GET /api/v1/events?imsi=432011123456791 HTTP/1.1\r\nHost: t\r\n\r\n");
    int fb = open_conn(f, "GET /api/v1/events HTTP/1.1\r\nHost: t\r\n\r\n");
    int fc = open_conn(f, "GET /api/v1/events?impu=sip:other@x HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_true(wait_for(f, fa, &a, ": connected"));
    assert_true(wait_for(f, fb, &b, ": connected"));
    assert_true(wait_for(f, fc, &c, ": connected"));
    assert_non_null(strcasestr(a.b, "Content-Type: text/event-stream"));
    assert_int_equal(ims_events_clients(f->ev), 3);
    /* A fourth is refused while three are open. */
    assert_int_equal(http(f, "GET", "/api/v1/events", NULL, &r), 503);
    assert_non_null(strstr(body_of(&r), "too_many_streams"));
    /* The IMSI filter finds entries recorded with the IMPI only. */
    record(f, IMPI, IMPU, reg);
    record(f, "other@x", "sip:other@x", reg);
    assert_true(wait_for(f, fa, &a, "id: 1\nevent: timeline\ndata: {"));
    assert_true(wait_for(f, fb, &b, "id: 2\nevent: timeline\ndata: {"));
    assert_true(wait_for(f, fc, &c, "id: 2\nevent: timeline\ndata: {"));
    assert_non_null(strstr(b.b, "id: 1\n"));
    assert_null(strstr(c.b, "id: 1\n"));
    for (int i = 0; i < 20; i++) /* give a wrong delivery time to show */
        su_root_step(f->root, 5);
    wait_for(f, fa, &a, "id: 2\n");
    assert_null(strstr(a.b, "id: 2\n"));
    assert_null(strstr(b.b, "SECRETCK0123"));
    assert_non_null(strstr(b.b, "ck=\\\"redacted\\\""));
    /* Keep-alive comments arrive while nothing happens. */
    assert_true(wait_for(f, fb, &b, ": ping"));
    /* A client that leaves frees its place. */
    close(fc);
    for (uint64_t end = ims_now_ms() + 8000; ims_now_ms() < end && ims_events_clients(f->ev) > 2;)
        su_root_step(f->root, 10);
    assert_int_equal(ims_events_clients(f->ev), 2);
    /* Bad filters. */
    assert_int_equal(http(f, "GET", "/api/v1/events?impi=a&impu=b", NULL, &r), 400);
    assert_int_equal(http(f, "GET", "/api/v1/events?impi=", NULL, &r), 400);
    assert_int_equal(http(f, "POST", "/api/v1/events", "{}", &r), 405);
    /* The hub going away ends the open streams cleanly. */
    ims_events_free(f->ev);
    f->ev = NULL;
    f->api.events = NULL;
    assert_true(wait_for(f, fa, &a, "\r\n0\r\n\r\n"));
    assert_true(wait_for(f, fb, &b, "\r\n0\r\n\r\n"));
    close(fa);
    close(fb);
}

static void test_slow_client_dropped(void **state)
{
    fixture_t *f = *state;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int small = 4096;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)f->port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    const char *get = "GET /api/v1/events HTTP/1.1\r\nHost: t\r\n\r\n";
    send(fd, get, strlen(get), 0);
    for (int i = 0; i < 100 && ims_events_clients(f->ev) < 1; i++)
        su_root_step(f->root, 10);
    assert_int_equal(ims_events_clients(f->ev), 1);
    /* The client never reads: recording goes on at full speed and the client is dropped. */
    char big[3000];
    memset(big, 'x', sizeof(big));
    memcpy(big, "REGISTER sip:x SIP/2.0\r\n", 24);
    big[sizeof(big) - 1] = '\0';
    for (int i = 0; i < 2000 && ims_events_dropped(f->ev) == 0; i++) {
        record(f, IMPI, IMPU, big);
        su_root_step(f->root, 0);
    }
    assert_int_equal(ims_events_dropped(f->ev), 1);
    for (uint64_t end = ims_now_ms() + 8000; ims_now_ms() < end && ims_events_clients(f->ev) > 0;)
        su_root_step(f->root, 10);
    assert_int_equal(ims_events_clients(f->ev), 0);
    close(fd);
}

static void test_timeline_and_pcap(void **state)
{
    fixture_t *f = *state;
    rbuf_t r;
    record(f, IMPI, IMPU, reg);
    record(f, IMPI, IMPU, reg);
    assert_int_equal(http(f, "GET", "/api/v1/timeline?impu=" IMPU "&limit=1", NULL, &r), 200);
    json_t *j = json_loads(body_of(&r), 0, NULL);
    assert_non_null(j);
    assert_int_equal(json_integer_value(json_object_get(j, "total")), 1);
    assert_int_equal(json_integer_value(json_object_get(j, "kept")), 2);
    json_decref(j);
    assert_null(strstr(r.b, "SECRETCK0123"));
    assert_int_equal(http(f, "GET", "/api/v1/timeline?imsi=999999", NULL, &r), 200);
    assert_non_null(strstr(body_of(&r), "\"total\":0"));
    assert_int_equal(http(f, "GET", "/api/v1/timeline", NULL, &r), 400);
    assert_non_null(strstr(body_of(&r), "give exactly one of impi, impu or imsi"));
    assert_int_equal(http(f, "GET", "/api/v1/timeline?impi=a&imsi=1", NULL, &r), 400);
    assert_int_equal(http(f, "GET", "/api/v1/timeline?impi=a&limit=0", NULL, &r), 400);
    assert_int_equal(http(f, "GET", "/api/v1/timeline?impi=a&limit=5x", NULL, &r), 400);
    assert_int_equal(http(f, "DELETE", "/api/v1/timeline?impi=a", NULL, &r), 405);

    assert_int_equal(http(f, "GET", "/api/v1/timeline/pcap?impi=" IMPI, NULL, &r), 200);
    assert_non_null(strcasestr(r.b, "Content-Type: application/vnd.tcpdump.pcap"));
    assert_non_null(strcasestr(r.b, "X-Packets: 2"));
    assert_non_null(strstr(r.b, "filename=\"timeline-432011123456791_ims.example.pcap\""));
    const unsigned char *p = (const unsigned char *)body_of(&r);
    static const unsigned char magic[4] = {0xd4, 0xc3, 0xb2, 0xa1};
    assert_memory_equal(p, magic, 4);
    assert_null(memmem(r.b, r.n, "SECRETCK0123", 12));
    assert_int_equal(http(f, "GET", "/api/v1/timeline/pcap?impu=sip:nobody@x", NULL, &r), 404);
}

static void test_faults_api(void **state)
{
    fixture_t *f = *state;
    rbuf_t r;
    assert_int_equal(http(f, "POST", "/api/v1/faults",
                          "{\"match\":{\"impi\":\"" IMPI "\",\"stage\":\"initial\"},"
                          "\"action\":{\"reply\":503,\"retry_after\":30},\"count\":2}",
                          &r),
                     201);
    assert_non_null(strcasestr(r.b, "Location: /api/v1/faults/1"));
    assert_int_equal(http(f, "POST", "/api/v1/faults", "{\"action\":{\"reply\":99}}", &r), 400);
    assert_non_null(strstr(body_of(&r), "\"error\":\"invalid_rule\""));
    assert_non_null(strstr(body_of(&r), "action.reply must be from 300 to 699"));
    assert_int_equal(http(f, "POST", "/api/v1/faults", "{\"action\":", &r), 400);
    assert_non_null(strstr(body_of(&r), "malformed_json"));
    assert_int_equal(http(f, "GET", "/api/v1/faults", NULL, &r), 200);
    assert_non_null(strstr(body_of(&r), "\"total\":1"));
    assert_int_equal(http(f, "DELETE", "/api/v1/faults/abc", NULL, &r), 400);
    assert_int_equal(http(f, "DELETE", "/api/v1/faults/1", NULL, &r), 204);
    assert_int_equal(http(f, "DELETE", "/api/v1/faults/1", NULL, &r), 404);
    assert_int_equal(http(f, "PUT", "/api/v1/faults", "{}", &r), 405);
    assert_int_equal(http(f, "POST", "/api/v1/faults", "{\"action\":{\"drop\":true}}", &r), 201);
    assert_int_equal(http(f, "DELETE", "/api/v1/faults", NULL, &r), 204);
    assert_int_equal(ims_faults_count(f->faults), 0);
    /* The token rules are the server's: POST without the token is refused. */
    memset(&r, 0, sizeof(r));
    int fd = open_conn(f, "POST /api/v1/faults HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
                          "Content-Length: 2\r\n\r\n{}");
    assert_true(wait_for(f, fd, &r, NULL));
    close(fd);
    assert_non_null(strstr(r.b, "HTTP/1.1 401"));
    assert_int_equal(http(f, "GET", "/api/v1/other", NULL, &r), 404);
}

int main(void)
{
    ims_log_init("test_ue_api", IMS_LOG_WARN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_events, setup, teardown),
        cmocka_unit_test_setup_teardown(test_slow_client_dropped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timeline_and_pcap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_faults_api, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
