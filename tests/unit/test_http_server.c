/* Unit tests for common/src/http_server.c: real loopback sockets against the server in
 * thread-pool mode and in external-loop mode (driven by a poll loop in a thread). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cmocka.h>

#include "ims/http_cors.h"
#include "ims/http_server.h"
#include "ims/log.h"

/* Echoes what the server parsed, so the tests can check the request view. */
static void echo_handler(void *ctx, const ims_http_req_t *req, ims_http_resp_t *resp)
{
    atomic_int *calls = ctx;
    atomic_fetch_add(calls, 1);
    if (strcmp(req->path, "/healthz") == 0) {
        ims_http_resp_json(resp, 200, json_pack("{s:s}", "status", "ok"));
        return;
    }
    if (strcmp(req->path, "/nothing") == 0)
        return; /* the server must still answer (500) */
    if (strcmp(req->path, "/text") == 0) {
        ims_http_resp_text(resp, 202, "text/plain", "plain words");
        ims_http_resp_header(resp, "X-Extra", "yes");
        return;
    }
    if (strcmp(req->path, "/err") == 0) {
        ims_http_resp_error(resp, 404, "not_found", "no subscriber %s", "x");
        return;
    }
    const char *x = ims_http_req_arg(req, "x");
    const char *h = ims_http_req_header(req, "x-test");
    ims_http_resp_json(resp, 200,
                       json_pack("{s:s, s:s, s:s, s:s%, s:I, s:s?, s:s, s:s?, s:s?}", "method",
                                 req->method, "path", req->path, "query", req->query, "body",
                                 req->body, req->body_len, "len", (json_int_t)req->body_len,
                                 "ctype", req->content_type, "remote", req->remote, "arg_x", x,
                                 "hdr", h));
}

typedef struct reply {
    int status;
    char headers[4096];
    char body[8192];
    size_t body_len;
} reply_t;

static int connect_to(int family, unsigned port)
{
    int fd = socket(family, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct timeval tv = {.tv_sec = 10};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    int rc;
    if (family == AF_INET6) {
        struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_port = htons((uint16_t)port)};
        a.sin6_addr = in6addr_loopback;
        rc = connect(fd, (struct sockaddr *)&a, sizeof(a));
    } else {
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        rc = connect(fd, (struct sockaddr *)&a, sizeof(a));
    }
    assert_int_equal(rc, 0);
    return fd;
}

static void send_all(int fd, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, data, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return; /* the server may close early (413/401); the reply read decides */
        data += n;
        len -= (size_t)n;
    }
}

/* Reads exactly one response (Content-Length framed); returns false on EOF first. */
static bool read_reply(int fd, reply_t *r)
{
    static char buf[16384];
    size_t have = 0;
    char *hend = NULL;
    memset(r, 0, sizeof(*r));
    while (!hend) {
        ssize_t n = recv(fd, buf + have, 1, 0); /* byte-wise: never read past this reply */
        if (n <= 0)
            return false;
        have += (size_t)n;
        buf[have] = '\0';
        hend = strstr(buf, "\r\n\r\n");
        assert_true(have < sizeof(buf) - 1);
    }
    size_t hlen = (size_t)(hend - buf) + 4;
    memcpy(r->headers, buf, hlen < sizeof(r->headers) - 1 ? hlen : sizeof(r->headers) - 1);
    assert_int_equal(sscanf(buf, "HTTP/1.1 %d", &r->status), 1);
    const char *cl = strcasestr(r->headers, "\r\nContent-Length:");
    if (r->status == 204 && !cl)
        return true; /* RFC 9110 §8.6: a 204 need not carry Content-Length */
    assert_non_null(cl);
    size_t want = strtoul(cl + 17, NULL, 10);
    assert_true(want < sizeof(r->body));
    while (r->body_len < want) {
        ssize_t n = recv(fd, r->body + r->body_len, want - r->body_len, 0);
        if (n <= 0)
            return false;
        r->body_len += (size_t)n;
    }
    return true;
}

static reply_t *request(int fd, const char *raw)
{
    static reply_t r;
    send_all(fd, raw, strlen(raw));
    assert_true(read_reply(fd, &r));
    return &r;
}

static json_t *body_json(const reply_t *r)
{
    json_error_t e;
    json_t *j = json_loadb(r->body, r->body_len, 0, &e);
    assert_non_null(j);
    return j;
}

static void assert_error_body(const reply_t *r, const char *code)
{
    json_t *j = body_json(r);
    assert_string_equal(json_string_value(json_object_get(j, "error")), code);
    assert_true(json_is_string(json_object_get(j, "message")));
    json_decref(j);
    assert_non_null(strcasestr(r->headers, "Content-Type: application/json"));
}

/* ---- external-loop driver ---- */

typedef struct driver {
    ims_http_server_t *srv;
    int stop_fd; /* eventfd: the only other wake-up, so a stalled server is not masked */
    pthread_t th;
} driver_t;

static void *drive(void *arg)
{
    driver_t *d = arg;
    struct pollfd p[2] = {{.fd = ims_http_server_fd(d->srv), .events = POLLIN},
                          {.fd = d->stop_fd, .events = POLLIN}};
    for (;;) {
        long t = ims_http_server_timeout_ms(d->srv);
        poll(p, 2, t < 0 ? -1 : (int)t);
        if (p[1].revents)
            return NULL;
        ims_http_server_run(d->srv);
    }
}

static ims_http_server_t *start_opts(const char *bind, unsigned threads, const char *token,
                                     const char *token_methods, const char *public_prefix,
                                     const char *cors, atomic_int *calls)
{
    ims_http_opts_t o = {.bind = bind,
                         .public_prefix = public_prefix,
                         .cors_origins = cors,
                         .threads = threads,
                         .max_body = 1024,
                         .token = token,
                         .token_methods = token_methods,
                         .handler = echo_handler,
                         .ctx = calls};
    ims_http_server_t *srv = NULL;
    char err[256];
    int rc = ims_http_server_start(&o, &srv, err, sizeof(err));
    if (rc != 0)
        fail_msg("start failed: %s", err);
    assert_true(ims_http_server_port(srv) > 0);
    return srv;
}

static ims_http_server_t *start(const char *bind, unsigned threads, const char *token,
                                const char *token_methods, atomic_int *calls)
{
    return start_opts(bind, threads, token, token_methods, NULL, NULL, calls);
}

/* The checks every mode must pass. */
static void exercise(unsigned port, atomic_int *calls)
{
    int fd = connect_to(AF_INET, port);
    /* Healthz without a token, then three more requests on the same connection. */
    reply_t *r = request(fd, "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_int_equal(r->status, 200);
    json_t *j = body_json(r);
    assert_string_equal(json_string_value(json_object_get(j, "status")), "ok");
    json_decref(j);

    r = request(fd, "GET /sub/a%20b?x=1%262&y HTTP/1.1\r\nHost: t\r\n"
                    "Authorization: Bearer tok\r\nX-Test: hv\r\n\r\n");
    assert_int_equal(r->status, 200);
    j = body_json(r);
    assert_string_equal(json_string_value(json_object_get(j, "method")), "GET");
    assert_string_equal(json_string_value(json_object_get(j, "path")), "/sub/a%20b");
    assert_string_equal(json_string_value(json_object_get(j, "query")), "x=1%262&y");
    assert_string_equal(json_string_value(json_object_get(j, "arg_x")), "1&2");
    assert_string_equal(json_string_value(json_object_get(j, "hdr")), "hv");
    assert_string_equal(json_string_value(json_object_get(j, "remote")), "127.0.0.1");
    assert_string_equal(json_string_value(json_object_get(j, "body")), "");
    json_decref(j);

    r = request(fd, "POST /sub HTTP/1.1\r\nHost: t\r\nAuthorization: bearer tok\r\n"
                    "Content-Type: application/json\r\nContent-Length: 11\r\n\r\n{\"a\":\"bc\"}\n");
    assert_int_equal(r->status, 200);
    j = body_json(r);
    assert_string_equal(json_string_value(json_object_get(j, "body")), "{\"a\":\"bc\"}\n");
    assert_int_equal(json_integer_value(json_object_get(j, "len")), 11);
    assert_string_equal(json_string_value(json_object_get(j, "ctype")), "application/json");
    json_decref(j);

    /* Chunked body within the limit is accumulated. */
    r = request(fd, "PUT /c HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer tok\r\n"
                    "Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n");
    assert_int_equal(r->status, 200);
    j = body_json(r);
    assert_string_equal(json_string_value(json_object_get(j, "body")), "abcde");
    json_decref(j);

    r = request(fd, "GET /text HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer tok\r\n\r\n");
    assert_int_equal(r->status, 202);
    assert_non_null(strcasestr(r->headers, "X-Extra: yes"));
    assert_string_equal(r->body, "plain words");

    r = request(fd, "GET /err HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer tok\r\n\r\n");
    assert_int_equal(r->status, 404);
    assert_error_body(r, "not_found");

    r = request(fd, "GET /nothing HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer tok\r\n\r\n");
    assert_int_equal(r->status, 500);
    assert_error_body(r, "internal_error");

    /* Wrong or missing token: 401 with the challenge; the handler never runs. */
    int before = atomic_load(calls);
    r = request(fd, "GET /sub HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer tok2\r\n\r\n");
    assert_int_equal(r->status, 401);
    assert_non_null(strcasestr(r->headers, "WWW-Authenticate: Bearer"));
    assert_error_body(r, "unauthorized");
    assert_int_equal(atomic_load(calls), before);
    close(fd);

    fd = connect_to(AF_INET, port);
    r = request(fd, "POST /sub HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc");
    assert_int_equal(r->status, 401);
    assert_int_equal(atomic_load(calls), before);
    close(fd);

    /* Body over the limit by Content-Length: refused from the headers. */
    fd = connect_to(AF_INET, port);
    char big[3000];
    int n = snprintf(big, sizeof(big),
                     "POST /sub HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer tok\r\n"
                     "Content-Length: 2000\r\n\r\n");
    memset(big + n, 'z', 2000);
    big[n + 2000] = '\0';
    r = request(fd, big);
    assert_int_equal(r->status, 413);
    assert_error_body(r, "body_too_large");
    assert_int_equal(atomic_load(calls), before);
    close(fd);

    /* Chunked body over the limit: discarded as it arrives, then 413. */
    fd = connect_to(AF_INET, port);
    char chunk[1500];
    n = snprintf(chunk, sizeof(chunk),
                 "POST /sub HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer tok\r\n"
                 "Transfer-Encoding: chunked\r\n\r\n400\r\n");
    memset(chunk + n, 'q', 0x400);
    n += 0x400;
    n += snprintf(chunk + n, sizeof(chunk) - (size_t)n, "\r\n10\r\n0123456789abcdef\r\n0\r\n\r\n");
    r = request(fd, chunk);
    assert_int_equal(r->status, 413);
    assert_error_body(r, "body_too_large");
    assert_int_equal(atomic_load(calls), before);
    close(fd);

    /* Exactly at the limit is fine. */
    fd = connect_to(AF_INET, port);
    n = snprintf(big, sizeof(big),
                 "POST /sub HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer tok\r\n"
                 "Content-Length: 1024\r\n\r\n");
    memset(big + n, 'y', 1024);
    big[n + 1024] = '\0';
    r = request(fd, big);
    assert_int_equal(r->status, 200);
    j = body_json(r);
    assert_int_equal(json_integer_value(json_object_get(j, "len")), 1024);
    json_decref(j);
    close(fd);
}

/* Several requests in one segment: the server must answer all of them without waiting for
 * more input (edge-triggered epoll in external mode must not strand buffered requests). */
static void pipelined(unsigned port)
{
    int fd = connect_to(AF_INET, port);
    char raw[2048] = "";
    for (int i = 0; i < 8; i++) {
        char one[128];
        snprintf(one, sizeof(one),
                 "GET /p%d HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer tok\r\n\r\n", i);
        strcat(raw, one);
    }
    send_all(fd, raw, strlen(raw));
    for (int i = 0; i < 8; i++) {
        reply_t r;
        assert_true(read_reply(fd, &r));
        assert_int_equal(r.status, 200);
        char want[32];
        snprintf(want, sizeof(want), "\"/p%d\"", i);
        assert_non_null(strstr(r.body, want));
    }
    close(fd);
}

/* Many clients at once; with a pool, handlers run concurrently on several threads. */
typedef struct burst {
    unsigned port;
    int ok;
} burst_t;

static void *burst_client(void *arg)
{
    burst_t *b = arg;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct timeval tv = {.tv_sec = 10};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)b->port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        close(fd);
        return NULL;
    }
    const char *req = "POST /b HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer tok\r\n"
                      "Content-Length: 2\r\n\r\n{}";
    for (int i = 0; i < 100; i++) {
        send_all(fd, req, strlen(req));
        /* read_reply uses cmocka asserts, which must stay on the main thread: parse here. */
        char buf[2048];
        size_t have = 0;
        bool done = false;
        while (!done && have < sizeof(buf) - 1) {
            ssize_t n = recv(fd, buf + have, sizeof(buf) - 1 - have, 0);
            if (n <= 0)
                break;
            have += (size_t)n;
            buf[have] = '\0';
            char *e = strstr(buf, "\r\n\r\n");
            done = e && strchr(e, '}');
        }
        if (!done || strncmp(buf, "HTTP/1.1 200", 12) != 0)
            break;
        b->ok++;
    }
    close(fd);
    return NULL;
}

static void concurrent(unsigned port, atomic_int *calls)
{
    int before = atomic_load(calls);
    burst_t b[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        b[i] = (burst_t){.port = port};
        assert_int_equal(pthread_create(&th[i], NULL, burst_client, &b[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(b[i].ok, 100);
    }
    assert_int_equal(atomic_load(calls) - before, 400);
}

static void test_thread_mode(void **state)
{
    atomic_int calls = 0;
    ims_http_server_t *srv = start("127.0.0.1:0", 3, "tok", NULL, &calls);
    exercise(ims_http_server_port(srv), &calls);
    pipelined(ims_http_server_port(srv));
    concurrent(ims_http_server_port(srv), &calls);
    ims_http_server_stop(srv);
}

static void test_single_thread_mode(void **state)
{
    atomic_int calls = 0;
    ims_http_server_t *srv = start("127.0.0.1:0", 1, "tok", NULL, &calls);
    exercise(ims_http_server_port(srv), &calls);
    ims_http_server_stop(srv);
}

static void test_external_mode(void **state)
{
    atomic_int calls = 0;
    driver_t d = {0};
    d.srv = start("127.0.0.1:0", 0, "tok", NULL, &calls);
    d.stop_fd = eventfd(0, EFD_CLOEXEC);
    assert_true(d.stop_fd >= 0);
    assert_true(ims_http_server_fd(d.srv) >= 0);
    assert_int_equal(pthread_create(&d.th, NULL, drive, &d), 0);
    exercise(ims_http_server_port(d.srv), &calls);
    pipelined(ims_http_server_port(d.srv));
    concurrent(ims_http_server_port(d.srv), &calls);
    /* Stopping with a kept-alive connection still open must not leak or hang. */
    int idle = connect_to(AF_INET, ims_http_server_port(d.srv));
    reply_t *r = request(idle, "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_int_equal(r->status, 200);
    assert_int_equal(eventfd_write(d.stop_fd, 1), 0);
    pthread_join(d.th, NULL);
    close(d.stop_fd);
    ims_http_server_stop(d.srv);
    close(idle);
}

static void test_keepalive_many(void **state)
{
    atomic_int calls = 0;
    ims_http_server_t *srv = start("127.0.0.1:0", 2, NULL, NULL, &calls);
    int fd = connect_to(AF_INET, ims_http_server_port(srv));
    for (int i = 0; i < 200; i++) {
        reply_t *r = request(fd, "GET /k HTTP/1.1\r\nHost: t\r\n\r\n");
        assert_int_equal(r->status, 200);
        assert_null(strcasestr(r->headers, "Connection: close"));
    }
    assert_int_equal(atomic_load(&calls), 200);
    close(fd);
    ims_http_server_stop(srv);
}

static void test_token_methods(void **state)
{
    atomic_int calls = 0;
    ims_http_server_t *srv = start("127.0.0.1:0", 1, "tok", "DELETE,POST", &calls);
    int fd = connect_to(AF_INET, ims_http_server_port(srv));
    reply_t *r = request(fd, "GET /status HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_int_equal(r->status, 200);
    r = request(fd, "DELETE /status HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_int_equal(r->status, 401);
    close(fd);
    fd = connect_to(AF_INET, ims_http_server_port(srv));
    r = request(fd, "DELETE /status HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer tok\r\n\r\n");
    assert_int_equal(r->status, 200);
    close(fd);
    ims_http_server_stop(srv);
}

static void test_cors_origin_rules(void **state)
{
    assert_true(ims_cors_origin_allowed("http://127.0.0.1:8080", NULL));
    assert_true(ims_cors_origin_allowed("http://127.1.2.3", NULL));
    assert_true(ims_cors_origin_allowed("http://localhost:8080", NULL));
    assert_true(ims_cors_origin_allowed("https://[::1]:8443", NULL));
    assert_false(ims_cors_origin_allowed("http://127.0.0.1.evil.example", NULL));
    assert_false(ims_cors_origin_allowed("http://localhost@evil.example", NULL));
    assert_false(ims_cors_origin_allowed("http://127.0.0.1:8080/x", NULL));
    assert_false(ims_cors_origin_allowed("http://127.0.0.256", NULL));
    assert_false(ims_cors_origin_allowed("http://128.0.0.1", NULL));
    assert_false(ims_cors_origin_allowed("ftp://127.0.0.1", NULL));
    assert_false(ims_cors_origin_allowed("null", NULL));
    assert_false(ims_cors_origin_allowed("null", "*"));
    assert_false(ims_cors_origin_allowed("", "*"));
    assert_false(ims_cors_origin_allowed(NULL, "*"));
    assert_true(ims_cors_origin_allowed("http://lab.example:8080", "*"));
    const char *list = "http://a.example, http://lab.example:8080";
    assert_true(ims_cors_origin_allowed("http://lab.example:8080", list));
    assert_true(ims_cors_origin_allowed("http://a.example", list));
    assert_false(ims_cors_origin_allowed("http://lab.example", list));
    assert_false(ims_cors_origin_allowed("http://a.example.evil", list));
}

/* Preflights are answered before the token check and never reach the handler; answers to
 * allowed origins (errors included, so a page can show them) carry the CORS headers. */
static void test_cors_and_public_prefix(void **state)
{
    atomic_int calls = 0;
    ims_http_server_t *srv =
        start_opts("127.0.0.1:0", 1, "tok", NULL, "/pub/", "http://lab.example:8080", &calls);
    unsigned port = ims_http_server_port(srv);
    int fd = connect_to(AF_INET, port);
    reply_t *r = request(fd, "OPTIONS /sub HTTP/1.1\r\nHost: t\r\nOrigin: http://127.0.0.1:9\r\n"
                             "Access-Control-Request-Method: DELETE\r\n"
                             "Access-Control-Request-Headers: authorization\r\n\r\n");
    assert_int_equal(r->status, 204);
    assert_non_null(strcasestr(r->headers, "Access-Control-Allow-Origin: http://127.0.0.1:9\r\n"));
    assert_non_null(strcasestr(r->headers, "Access-Control-Allow-Headers: Authorization, "));
    assert_non_null(strcasestr(r->headers, "Access-Control-Allow-Methods: "));
    assert_non_null(strstr(r->headers, "DELETE"));
    r = request(fd, "OPTIONS /sub HTTP/1.1\r\nHost: t\r\nOrigin: http://lab.example:8080\r\n"
                    "Access-Control-Request-Method: PATCH\r\n\r\n");
    assert_int_equal(r->status, 204);
    assert_non_null(strcasestr(r->headers, "Access-Control-Allow-Origin: http://lab.example:8080"));
    r = request(fd, "OPTIONS /sub HTTP/1.1\r\nHost: t\r\nOrigin: http://evil.example\r\n"
                    "Access-Control-Request-Method: DELETE\r\n\r\n");
    assert_int_equal(r->status, 403);
    assert_error_body(r, "origin_not_allowed");
    assert_null(strcasestr(r->headers, "Access-Control-Allow-Origin"));
    assert_int_equal(atomic_load(&calls), 0);

    /* Real requests: the header only for allowed origins, on errors too. */
    r = request(fd, "GET /sub HTTP/1.1\r\nHost: t\r\nOrigin: http://localhost:8080\r\n"
                    "Authorization: Bearer tok\r\n\r\n");
    assert_int_equal(r->status, 200);
    assert_non_null(strcasestr(r->headers, "Access-Control-Allow-Origin: http://localhost:8080"));
    assert_non_null(strcasestr(r->headers, "Access-Control-Expose-Headers: Location"));
    assert_non_null(strcasestr(r->headers, "Vary: Origin"));
    r = request(fd, "GET /sub HTTP/1.1\r\nHost: t\r\nOrigin: http://evil.example\r\n"
                    "Authorization: Bearer tok\r\n\r\n");
    assert_int_equal(r->status, 200);
    assert_null(strcasestr(r->headers, "Access-Control-Allow-Origin"));
    assert_int_equal(atomic_load(&calls), 2);
    r = request(fd, "GET /sub HTTP/1.1\r\nHost: t\r\nOrigin: http://127.0.0.1:9\r\n\r\n");
    assert_int_equal(r->status, 401);
    assert_error_body(r, "unauthorized");
    assert_non_null(strcasestr(r->headers, "Access-Control-Allow-Origin: http://127.0.0.1:9"));
    close(fd);

    /* A plain OPTIONS (no preflight headers) is an ordinary request: token and handler. */
    fd = connect_to(AF_INET, port);
    r = request(fd, "OPTIONS /sub HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_int_equal(r->status, 401);
    close(fd);

    /* The public prefix: GET without a token; other methods and paths still need it. */
    fd = connect_to(AF_INET, port);
    r = request(fd, "GET /pub/index.html HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_int_equal(r->status, 200);
    assert_int_equal(atomic_load(&calls), 3);
    r = request(fd, "GET /pubx HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_int_equal(r->status, 401);
    close(fd);
    fd = connect_to(AF_INET, port);
    r = request(fd, "POST /pub/index.html HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n");
    assert_int_equal(r->status, 401);
    close(fd);
    assert_int_equal(atomic_load(&calls), 3);
    ims_http_server_stop(srv);
}

static void test_ipv6_and_bind_errors(void **state)
{
    atomic_int calls = 0;
    ims_http_server_t *srv = start("[::1]:0", 1, NULL, NULL, &calls);
    unsigned port = ims_http_server_port(srv);
    int fd = connect_to(AF_INET6, port);
    reply_t *r = request(fd, "GET /v6 HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_int_equal(r->status, 200);
    json_t *j = body_json(r);
    assert_string_equal(json_string_value(json_object_get(j, "remote")), "::1");
    json_decref(j);
    close(fd);

    /* The port is taken: a clear errno and message. */
    char bind[64];
    snprintf(bind, sizeof(bind), "[::1]:%u", port);
    ims_http_opts_t o = {.bind = bind, .threads = 1, .handler = echo_handler, .ctx = &calls};
    ims_http_server_t *srv2 = NULL;
    char err[256];
    assert_int_equal(ims_http_server_start(&o, &srv2, err, sizeof(err)), EADDRINUSE);
    assert_null(srv2);
    char want[128];
    snprintf(want, sizeof(want), "cannot bind [::1]:%u: Address already in use", port);
    assert_string_equal(err, want);
    ims_http_server_stop(srv);

    o.bind = "127.0.0.1:notaport";
    assert_int_equal(ims_http_server_start(&o, &srv2, err, sizeof(err)), EINVAL);
    assert_non_null(strstr(err, "127.0.0.1:notaport"));
    o.bind = "192.0.2.1:0"; /* TEST-NET address not configured locally */
    assert_int_equal(ims_http_server_start(&o, &srv2, err, sizeof(err)), EADDRNOTAVAIL);
    assert_string_equal(err, "cannot bind 192.0.2.1:0: Cannot assign requested address");
}

/* ---- streaming responses (external mode, one thread: server and clients here) ---- */

typedef struct streams {
    ims_http_stream_t *open[4];
    int n, closed;
} streams_t;

static void stream_closed(void *arg, ims_http_stream_t *s)
{
    streams_t *st = arg;
    st->closed++;
    for (int i = 0; i < st->n; i++)
        if (st->open[i] == s)
            st->open[i] = NULL;
}

static void stream_handler(void *ctx, const ims_http_req_t *req, ims_http_resp_t *resp)
{
    streams_t *st = ctx;
    if (strcmp(req->path, "/bin") == 0)
        return ims_http_resp_bytes(resp, 200, "application/octet-stream", "a\0b\0c", 5);
    ims_http_stream_t *s = ims_http_resp_stream(resp, "text/event-stream", 4096, stream_closed, st);
    assert_non_null(s);
    st->open[st->n++] = s;
}

/* One step of the loop: wait up to ms for the server's fd, then let it work. */
static void pump(ims_http_server_t *srv, int ms)
{
    struct pollfd p = {.fd = ims_http_server_fd(srv), .events = POLLIN};
    long t = ims_http_server_timeout_ms(srv);
    poll(&p, 1, t >= 0 && t < ms ? (int)t : ms);
    ims_http_server_run(srv);
}

/* Pumps until the client has received text containing want (or EOF/bounded time). */
static bool client_wait(ims_http_server_t *srv, int fd, char *buf, size_t cap, size_t *have,
                        const char *want)
{
    for (int i = 0; i < 300; i++) {
        pump(srv, 10);
        ssize_t n = recv(fd, buf + *have, cap - 1 - *have, MSG_DONTWAIT);
        if (n > 0) {
            *have += (size_t)n;
            buf[*have] = '\0';
        } else if (n == 0) {
            return want == NULL;
        }
        if (want && strstr(buf, want))
            return true;
    }
    return false;
}

static void test_streaming(void **state)
{
    streams_t st = {0};
    ims_http_opts_t o = {.bind = "127.0.0.1:0", .handler = stream_handler, .ctx = &st};
    ims_http_server_t *srv = NULL;
    char err[256];
    assert_int_equal(ims_http_server_start(&o, &srv, err, sizeof(err)), 0);
    unsigned port = ims_http_server_port(srv);
    const char *get = "GET /events HTTP/1.1\r\nHost: t\r\n\r\n";

    /* Binary bodies keep their NUL bytes. */
    int fd = connect_to(AF_INET, port);
    send_all(fd, "GET /bin HTTP/1.1\r\nHost: t\r\n\r\n", 30);
    char buf[65536];
    size_t have = 0;
    assert_true(client_wait(srv, fd, buf, sizeof(buf), &have, "Content-Length: 5"));
    assert_true(client_wait(srv, fd, buf, sizeof(buf), &have, "\r\n\r\na"));
    assert_int_equal(memcmp(strstr(buf, "\r\n\r\n") + 4, "a\0b\0c", 5), 0);
    close(fd);

    /* 1: data written later arrives as chunks; the parked stream costs no busy loop. */
    fd = connect_to(AF_INET, port);
    send_all(fd, get, strlen(get));
    have = 0;
    for (int i = 0; i < 50 && st.n < 1; i++)
        pump(srv, 10);
    assert_int_equal(st.n, 1);
    assert_int_equal(ims_http_stream_write(st.open[0], "data: one\n\n", 11), 0);
    assert_true(client_wait(srv, fd, buf, sizeof(buf), &have, "data: one"));
    assert_non_null(strstr(buf, "HTTP/1.1 200"));
    assert_non_null(strcasestr(buf, "Content-Type: text/event-stream"));
    assert_non_null(strcasestr(buf, "Transfer-Encoding: chunked"));
    pump(srv, 10);
    assert_true(ims_http_server_timeout_ms(srv) != 0);
    assert_int_equal(ims_http_stream_write(st.open[0], "data: two\n\n", 11), 0);
    assert_true(client_wait(srv, fd, buf, sizeof(buf), &have, "data: two"));
    /* Ending: the terminating chunk, then the closed callback. */
    ims_http_stream_end(st.open[0]);
    assert_int_equal(ims_http_stream_write(st.open[0], "x", 1), EPIPE);
    assert_true(client_wait(srv, fd, buf, sizeof(buf), &have, "\r\n0\r\n\r\n"));
    for (int i = 0; i < 50 && st.closed < 1; i++)
        pump(srv, 10);
    assert_int_equal(st.closed, 1);
    close(fd);

    /* 2: a client that never reads is dropped once its queue is full; writes never block. */
    int slow = socket(AF_INET, SOCK_STREAM, 0);
    int small = 4096;
    setsockopt(slow, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(slow, (struct sockaddr *)&a, sizeof(a)), 0);
    send_all(slow, get, strlen(get));
    for (int i = 0; i < 50 && st.n < 2; i++)
        pump(srv, 10);
    assert_int_equal(st.n, 2);
    char chunk[1000];
    memset(chunk, 'z', sizeof(chunk));
    int rc = 0, writes = 0;
    for (; writes < 100000 && rc == 0; writes++) {
        rc = ims_http_stream_write(st.open[1], chunk, sizeof(chunk));
        pump(srv, 0);
    }
    assert_int_equal(rc, ENOBUFS);
    for (int i = 0; i < 100 && st.closed < 2; i++)
        pump(srv, 10);
    assert_int_equal(st.closed, 2);
    close(slow);

    /* 3: a client that went away is noticed at the next write. */
    fd = connect_to(AF_INET, port);
    send_all(fd, get, strlen(get));
    for (int i = 0; i < 50 && st.n < 3; i++)
        pump(srv, 10);
    assert_int_equal(st.n, 3);
    have = 0;
    assert_int_equal(ims_http_stream_write(st.open[2], "data: x\n\n", 9), 0);
    assert_true(client_wait(srv, fd, buf, sizeof(buf), &have, "data: x"));
    close(fd);
    for (int i = 0; i < 100 && st.closed < 3; i++) {
        if (st.open[2])
            ims_http_stream_write(st.open[2], "data: y\n\n", 9);
        pump(srv, 10);
    }
    assert_int_equal(st.closed, 3);

    /* 4: stopping the server with a parked stream fires its callback (and leaks nothing). */
    fd = connect_to(AF_INET, port);
    send_all(fd, get, strlen(get));
    for (int i = 0; i < 50 && st.n < 4; i++)
        pump(srv, 10);
    assert_int_equal(st.n, 4);
    pump(srv, 10);
    ims_http_server_stop(srv);
    assert_int_equal(st.closed, 4);
    close(fd);

    /* Thread-pool servers cannot stream. */
    atomic_int calls = 0;
    srv = start("127.0.0.1:0", 1, NULL, NULL, &calls);
    ims_http_server_stop(srv);
}

int main(void)
{
    ims_log_level_t level = IMS_LOG_WARN;
    if (getenv("TEST_LOG_LEVEL"))
        ims_log_level_parse(getenv("TEST_LOG_LEVEL"), &level);
    ims_log_init("test_http_server", level);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_thread_mode),   cmocka_unit_test(test_single_thread_mode),
        cmocka_unit_test(test_external_mode), cmocka_unit_test(test_keepalive_many),
        cmocka_unit_test(test_token_methods), cmocka_unit_test(test_ipv6_and_bind_errors),
        cmocka_unit_test(test_streaming),
    };
    /* A group of its own: the browser-facing rules (CORS, the console's public prefix). */
    const struct CMUnitTest cors_tests[] = {
        cmocka_unit_test(test_cors_origin_rules),
        cmocka_unit_test(test_cors_and_public_prefix),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    return failed + cmocka_run_group_tests_name("cors", cors_tests, NULL, NULL);
}
