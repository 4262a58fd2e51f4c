/* JSON-over-HTTP server on libmicrohttpd: own thread pool or driven by an external loop,
 * with the shared checks (body size limit, bearer token, /healthz exemption) and logging. */
#include "ims/http_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "ims/http_cors.h"
#include "ims/log.h"
#include "ims/util.h"

#define DEFAULT_MAX_BODY (64 * 1024)
/* Idle kept-alive connections are closed after this long so abandoned clients cannot
 * pin file descriptors forever. */
#define IDLE_TIMEOUT_S 60

struct ims_http_server {
    struct MHD_Daemon *daemon;
    ims_http_handler_cb handler;
    void *ctx;
    size_t max_body;
    char *token;         /* NULL = no token check */
    char *token_methods; /* NULL = every method needs the token */
    char *public_prefix; /* NULL = none */
    char *cors_origins;  /* NULL = loopback origins only */
    unsigned port;
    bool external;
    struct ims_http_stream *streams; /* open streaming responses */
    void (*wake)(void *arg);
    void *wake_arg;
};

struct ims_http_stream {
    ims_http_server_t *srv;
    struct MHD_Connection *conn;
    char *q; /* queued bytes are q[off..len) */
    size_t off, len, cap, max;
    bool suspended, ending, dropped;
    ims_http_stream_closed_cb cb;
    void *arg;
    struct ims_http_stream *prev, *next;
};

typedef struct ims_http_hdr {
    char *name, *value;
} ims_http_hdr_t;

struct ims_http_resp {
    int status;
    char *body;
    size_t len;
    char *content_type;
    ims_http_hdr_t *hdrs;
    size_t nhdrs;
    ims_http_server_t *srv;
    ims_http_stream_t *stream; /* set by ims_http_resp_stream: the body is streamed */
};

/* Per-request state, created from the raw URI before the headers are parsed. */
typedef struct req_state {
    uint64_t start_us;
    char *uri; /* raw request target as sent */
    char *body;
    size_t len, cap;
    bool started;  /* first access-handler call done */
    bool too_big;  /* body exceeded max_body: further data is discarded */
    bool answered; /* a response was queued early (401/413) */
    struct MHD_Connection *conn;
    const struct ims_http_server *srv; /* for the CORS rules when answering */
} req_state_t;

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* ---- responses ---- */

static void resp_set_body(ims_http_resp_t *resp, int status, const char *ctype, char *body,
                          size_t len)
{
    free(resp->body);
    free(resp->content_type);
    resp->status = status;
    resp->body = body;
    resp->len = len;
    resp->content_type = ctype ? strdup(ctype) : NULL;
}

void ims_http_resp_json(ims_http_resp_t *resp, int status, json_t *body)
{
    char *text = NULL;
    if (body) {
        text = json_dumps(body, JSON_COMPACT | JSON_ENCODE_ANY);
        json_decref(body);
    }
    resp_set_body(resp, status, text ? "application/json" : NULL, text, text ? strlen(text) : 0);
}

void ims_http_resp_text(ims_http_resp_t *resp, int status, const char *content_type,
                        const char *text)
{
    char *copy = text ? strdup(text) : NULL;
    resp_set_body(resp, status, content_type ? content_type : "text/plain", copy,
                  copy ? strlen(copy) : 0);
}

void ims_http_resp_bytes(ims_http_resp_t *resp, int status, const char *content_type,
                         const void *data, size_t len)
{
    char *copy = malloc(len ? len : 1);
    if (copy && len)
        memcpy(copy, data, len);
    resp_set_body(resp, status, content_type, copy, copy ? len : 0);
}

void ims_http_resp_error(ims_http_resp_t *resp, int status, const char *code, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    ims_http_resp_json(resp, status, json_pack("{s:s, s:s}", "error", code, "message", msg));
}

void ims_http_resp_header(ims_http_resp_t *resp, const char *name, const char *value)
{
    ims_http_hdr_t *h = realloc(resp->hdrs, (resp->nhdrs + 1) * sizeof(*h));
    if (!h)
        return;
    resp->hdrs = h;
    h[resp->nhdrs].name = strdup(name);
    h[resp->nhdrs].value = strdup(value);
    if (!h[resp->nhdrs].name || !h[resp->nhdrs].value) {
        free(h[resp->nhdrs].name);
        free(h[resp->nhdrs].value);
        return;
    }
    resp->nhdrs++;
}

static void stream_free(void *cls);

static void resp_clear(ims_http_resp_t *resp)
{
    if (resp->stream)
        stream_free(resp->stream); /* never handed to MHD */
    free(resp->body);
    free(resp->content_type);
    for (size_t i = 0; i < resp->nhdrs; i++) {
        free(resp->hdrs[i].name);
        free(resp->hdrs[i].value);
    }
    free(resp->hdrs);
    memset(resp, 0, sizeof(*resp));
}

/* ---- streaming responses ---- */

static void stream_wake(ims_http_stream_t *s)
{
    if (s->suspended) {
        s->suspended = false;
        MHD_resume_connection(s->conn);
    }
    if (s->conn && s->srv->wake)
        s->srv->wake(s->srv->wake_arg);
}

/* MHD asks for more body: hand over what is queued, or park the connection until a
 * write wakes it (returning 0 without suspending would make MHD poll us in a loop). */
static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    ims_http_stream_t *s = cls;
    (void)pos;
    if (s->dropped)
        return MHD_CONTENT_READER_END_WITH_ERROR;
    if (s->len > s->off) {
        size_t n = s->len - s->off < max ? s->len - s->off : max;
        memcpy(buf, s->q + s->off, n);
        s->off += n;
        if (s->off == s->len)
            s->off = s->len = 0;
        return (ssize_t)n;
    }
    if (s->ending)
        return s->dropped ? MHD_CONTENT_READER_END_WITH_ERROR : MHD_CONTENT_READER_END_OF_STREAM;
    s->suspended = true;
    MHD_suspend_connection(s->conn);
    return 0;
}

static void stream_free(void *cls)
{
    ims_http_stream_t *s = cls;
    if (s->prev)
        s->prev->next = s->next;
    else if (s->srv && s->srv->streams == s)
        s->srv->streams = s->next;
    if (s->next)
        s->next->prev = s->prev;
    if (s->cb)
        s->cb(s->arg, s);
    free(s->q);
    free(s);
}

ims_http_stream_t *ims_http_resp_stream(ims_http_resp_t *resp, const char *content_type,
                                        size_t max_queue, ims_http_stream_closed_cb closed_cb,
                                        void *arg)
{
    if (!resp->srv || !resp->srv->external || resp->stream)
        return NULL;
    ims_http_stream_t *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    *s = (ims_http_stream_t){
        .srv = resp->srv, .max = max_queue ? max_queue : 65536, .cb = closed_cb, .arg = arg};
    resp_set_body(resp, 200, content_type, NULL, 0);
    resp->stream = s;
    return s;
}

int ims_http_stream_write(ims_http_stream_t *s, const void *data, size_t len)
{
    if (s->ending)
        return EPIPE;
    size_t queued = s->len - s->off;
    if (queued + len > s->max) {
        s->dropped = s->ending = true;
        IMS_WARN("http stream: client too slow (%zu bytes waiting), dropped", queued);
        /* MHD may be waiting for the socket to drain, which a stalled client never does:
         * a one-second idle timeout closes the connection whatever it is waiting for. */
        if (s->conn)
            MHD_set_connection_option(s->conn, MHD_CONNECTION_OPTION_TIMEOUT, 1u);
        stream_wake(s);
        return ENOBUFS;
    }
    if (s->off > 0) {
        memmove(s->q, s->q + s->off, queued);
        s->off = 0;
        s->len = queued;
    }
    if (s->len + len > s->cap) {
        size_t cap = s->cap ? s->cap : 4096;
        while (cap < s->len + len)
            cap *= 2;
        char *q = realloc(s->q, cap);
        if (!q)
            return ENOMEM;
        s->q = q;
        s->cap = cap;
    }
    memcpy(s->q + s->len, data, len);
    s->len += len;
    stream_wake(s);
    return 0;
}

void ims_http_stream_end(ims_http_stream_t *s)
{
    s->ending = true;
    stream_wake(s);
}

size_t ims_http_stream_queued(const ims_http_stream_t *s)
{
    return s->len - s->off;
}

/* Queues the streaming response of resp on conn; the stream is owned by MHD from here
 * (stream_free runs when the connection is done with it). */
static struct MHD_Response *stream_response(struct MHD_Connection *conn, ims_http_resp_t *resp)
{
    ims_http_stream_t *s = resp->stream;
    struct MHD_Response *r =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, stream_read, s, stream_free);
    if (!r)
        return NULL;
    resp->stream = NULL;
    s->conn = conn;
    s->next = s->srv->streams;
    if (s->next)
        s->next->prev = s;
    s->srv->streams = s;
    MHD_add_response_header(r, "Cache-Control", "no-store");
    return r;
}

/* ---- requests ---- */

const char *ims_http_req_header(const ims_http_req_t *req, const char *name)
{
    return MHD_lookup_connection_value((struct MHD_Connection *)req->impl, MHD_HEADER_KIND, name);
}

const char *ims_http_req_arg(const ims_http_req_t *req, const char *name)
{
    return MHD_lookup_connection_value((struct MHD_Connection *)req->impl, MHD_GET_ARGUMENT_KIND,
                                       name);
}

/* Queues resp on conn, logs the request line, and releases resp. */
static enum MHD_Result send_resp(struct MHD_Connection *conn, req_state_t *st, const char *method,
                                 ims_http_resp_t *resp)
{
    if (resp->status < 100 || resp->status > 599) {
        IMS_WARN("http handler produced no valid status (%d); answering 500", resp->status);
        ims_http_resp_error(resp, 500, "internal_error", "the handler produced no response");
    }
    char *body = resp->body;
    resp->body = NULL;
    struct MHD_Response *r =
        resp->stream ? stream_response(conn, resp)
                     : MHD_create_response_from_buffer(resp->len, body ? body : (void *)"",
                                                       body ? MHD_RESPMEM_MUST_FREE
                                                            : MHD_RESPMEM_PERSISTENT);
    if (!r) {
        free(body);
        resp_clear(resp);
        return MHD_NO;
    }
    if (resp->content_type)
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, resp->content_type);
    for (size_t i = 0; i < resp->nhdrs; i++)
        MHD_add_response_header(r, resp->hdrs[i].name, resp->hdrs[i].value);
    const char *origin = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Origin");
    if (ims_cors_origin_allowed(origin, st->srv ? st->srv->cors_origins : NULL)) {
        MHD_add_response_header(r, "Access-Control-Allow-Origin", origin);
        MHD_add_response_header(r, "Access-Control-Expose-Headers", IMS_CORS_EXPOSE);
    }
    /* Caches must not hand one origin's answer to another. */
    MHD_add_response_header(r, "Vary", "Origin");
    enum MHD_Result ret = MHD_queue_response(conn, (unsigned)resp->status, r);
    MHD_destroy_response(r);
    size_t pathlen = strcspn(st->uri ? st->uri : "", "?");
    IMS_INFO("http %s %.*s -> %d (%llu us)", method, (int)pathlen, st->uri ? st->uri : "",
             resp->status, (unsigned long long)(now_us() - st->start_us));
    resp_clear(resp);
    return ret;
}

static bool method_needs_token(const ims_http_server_t *srv, const char *method)
{
    if (!srv->token_methods)
        return true;
    size_t mlen = strlen(method);
    for (const char *p = srv->token_methods; *p;) {
        size_t n = strcspn(p, ", ");
        if (n == mlen && strncasecmp(p, method, n) == 0)
            return true;
        p += n;
        p += strspn(p, ", ");
    }
    return false;
}

static bool token_ok(const ims_http_server_t *srv, struct MHD_Connection *conn)
{
    const char *auth = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization");
    if (!auth || strncasecmp(auth, "Bearer ", 7) != 0)
        return false;
    const char *tok = auth + 7;
    while (*tok == ' ')
        tok++;
    return ims_ct_streq(tok, srv->token);
}

/* A CORS preflight (OPTIONS with Origin and Access-Control-Request-Method) carries no
 * token by design, so it skips the token check, and never reaches the handler. */
static bool is_preflight(struct MHD_Connection *conn, const char *method)
{
    return strcmp(method, "OPTIONS") == 0 &&
           MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Origin") &&
           MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Access-Control-Request-Method");
}

static bool preflight(const ims_http_server_t *srv, struct MHD_Connection *conn, const char *method,
                      ims_http_resp_t *resp)
{
    if (!is_preflight(conn, method))
        return false;
    const char *origin = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Origin");
    if (!ims_cors_origin_allowed(origin, srv->cors_origins)) {
        ims_http_resp_error(resp, 403, "origin_not_allowed",
                            "pages from %.200s may not call this API (allowed: loopback "
                            "origins%s%s)",
                            origin, srv->cors_origins ? " and " : "",
                            srv->cors_origins ? srv->cors_origins : "");
        return true;
    }
    ims_http_resp_json(resp, 204, NULL);
    ims_http_resp_header(resp, "Access-Control-Allow-Methods", IMS_CORS_METHODS);
    ims_http_resp_header(resp, "Access-Control-Allow-Headers", IMS_CORS_HEADERS);
    ims_http_resp_header(resp, "Access-Control-Max-Age", "600");
    return true;
}

/* The built-in checks that can be decided from the headers alone; returns true and fills
 * resp when the request must be refused before its body is read. */
static bool precheck(ims_http_server_t *srv, struct MHD_Connection *conn, const char *method,
                     const char *path, size_t pathlen, ims_http_resp_t *resp)
{
    bool get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
    bool healthz = strcmp(method, "GET") == 0 && pathlen == 8 && strncmp(path, "/healthz", 8) == 0;
    size_t pp = srv->public_prefix ? strlen(srv->public_prefix) : 0;
    bool public = get && pp && pathlen >= pp && strncmp(path, srv->public_prefix, pp) == 0;
    /* A preflight is answered once its (empty) body is read, keeping the connection. */
    bool exempt = healthz || public || is_preflight(conn, method);
    if (srv->token && !exempt && method_needs_token(srv, method) && !token_ok(srv, conn)) {
        ims_http_resp_error(resp, 401, "unauthorized",
                            "missing or wrong bearer token (send Authorization: Bearer <token>)");
        ims_http_resp_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
        return true;
    }
    const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
    if (cl) {
        char *end;
        errno = 0;
        unsigned long long n = strtoull(cl, &end, 10);
        if (errno == 0 && end != cl && n > srv->max_body) {
            ims_http_resp_error(resp, 413, "body_too_large",
                                "request body of %llu bytes exceeds the limit of %zu bytes", n,
                                srv->max_body);
            return true;
        }
    }
    return false;
}

static int body_append(req_state_t *st, const char *data, size_t n, size_t max)
{
    if (st->len + n > max) {
        st->too_big = true;
        return 0;
    }
    if (st->len + n + 1 > st->cap) {
        size_t cap = st->cap ? st->cap : 1024;
        while (cap < st->len + n + 1)
            cap *= 2;
        if (cap > max + 1)
            cap = max + 1;
        char *b = realloc(st->body, cap);
        if (!b)
            return ENOMEM;
        st->body = b;
        st->cap = cap;
    }
    memcpy(st->body + st->len, data, n);
    st->len += n;
    st->body[st->len] = '\0';
    return 0;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    ims_http_server_t *srv = cls;
    req_state_t *st = *con_cls;
    if (!st) {
        /* Not expected (the URI log callback creates it), but keep going if it happens. */
        st = calloc(1, sizeof(*st));
        if (!st)
            return MHD_NO;
        st->start_us = now_us();
        st->uri = strdup(url);
        st->srv = srv;
        *con_cls = st;
    }
    const char *uri = st->uri ? st->uri : url;
    size_t pathlen = strcspn(uri, "?");
    ims_http_resp_t resp = {.srv = srv};

    if (!st->started) {
        st->started = true;
        if (precheck(srv, conn, method, uri, pathlen, &resp)) {
            st->answered = true;
            return send_resp(conn, st, method, &resp);
        }
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        if (!st->answered && !st->too_big &&
            body_append(st, upload_data, *upload_data_size, srv->max_body) != 0)
            return MHD_NO;
        *upload_data_size = 0; /* consumed (or deliberately discarded) */
        return MHD_YES;
    }
    if (st->answered)
        return MHD_YES;
    if (st->too_big) {
        ims_http_resp_error(&resp, 413, "body_too_large",
                            "request body exceeds the limit of %zu bytes", srv->max_body);
        return send_resp(conn, st, method, &resp);
    }

    if (preflight(srv, conn, method, &resp))
        return send_resp(conn, st, method, &resp);
    char path[2048];
    if (pathlen >= sizeof(path)) {
        ims_http_resp_error(&resp, 414, "uri_too_long", "the request path is too long");
        return send_resp(conn, st, method, &resp);
    }
    memcpy(path, uri, pathlen);
    path[pathlen] = '\0';
    char remote[INET6_ADDRSTRLEN] = "";
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (ci && ci->client_addr) {
        socklen_t sl = ci->client_addr->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                                              : sizeof(struct sockaddr_in);
        if (getnameinfo(ci->client_addr, sl, remote, sizeof(remote), NULL, 0, NI_NUMERICHOST) != 0)
            remote[0] = '\0';
    }
    ims_http_req_t req = {
        .method = method,
        .path = path,
        .query = uri[pathlen] == '?' ? uri + pathlen + 1 : "",
        .body = st->body ? st->body : "",
        .body_len = st->len,
        .content_type = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Type"),
        .remote = remote,
        .impl = conn,
    };
    srv->handler(srv->ctx, &req, &resp);
    return send_resp(conn, st, method, &resp);
}

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
    req_state_t *st = calloc(1, sizeof(*st));
    if (!st)
        return NULL;
    st->start_us = now_us();
    st->uri = strdup(uri ? uri : "");
    st->conn = conn;
    st->srv = cls;
    return st;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    req_state_t *st = *con_cls;
    if (!st)
        return;
    free(st->uri);
    free(st->body);
    free(st);
    *con_cls = NULL;
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    char msg[512];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    size_t n = strlen(msg);
    while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = '\0';
    IMS_WARN("http server: %s", msg);
}

/* "host:port" or "[v6]:port". Port 0 (any free port) is allowed here, unlike in
 * ims_parse_hostport, because tests and the lab ask for ephemeral ports. */
static int parse_bind(const char *text, char *host, size_t hostlen, unsigned *port)
{
    const char *hs = text, *he, *colon;
    if (text[0] == '[') {
        hs = text + 1;
        he = strchr(hs, ']');
        if (!he || he[1] != ':')
            return EINVAL;
        colon = he + 1;
    } else {
        colon = strrchr(text, ':');
        if (!colon || memchr(text, ':', (size_t)(colon - text)))
            return EINVAL;
        he = colon;
    }
    if (he == hs || (size_t)(he - hs) >= hostlen)
        return EINVAL;
    const char *p = colon + 1;
    if (*p == '\0' || strlen(p) > 5 || strspn(p, "0123456789") != strlen(p))
        return EINVAL;
    unsigned long v = strtoul(p, NULL, 10);
    if (v > 65535)
        return EINVAL;
    memcpy(host, hs, (size_t)(he - hs));
    host[he - hs] = '\0';
    *port = (unsigned)v;
    return 0;
}

/* Creates the listening socket ourselves so bind errors come back as errno with the
 * address in the message, and IPv6 and port 0 work the same way. */
static int open_listener(const char *bind_text, int *fd_out, unsigned *port_out, char *err,
                         size_t errlen)
{
    char host[256];
    unsigned port = 0;
    if (parse_bind(bind_text, host, sizeof(host), &port) != 0) {
        snprintf(err, errlen, "invalid HTTP bind address '%s' (use host:port or [v6]:port)",
                 bind_text);
        return EINVAL;
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *ai = NULL;
    char portstr[8];
    snprintf(portstr, sizeof(portstr), "%u", port);
    int gai = getaddrinfo(host, portstr, &hints, &ai);
    if (gai != 0) {
        snprintf(err, errlen, "cannot bind %s: %s", bind_text, gai_strerror(gai));
        return EINVAL;
    }
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        int e = errno;
        snprintf(err, errlen, "cannot bind %s: %s", bind_text, strerror(e));
        freeaddrinfo(ai);
        return e;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (ai->ai_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 128) != 0) {
        int e = errno;
        snprintf(err, errlen, "cannot bind %s: %s", bind_text, strerror(e));
        close(fd);
        freeaddrinfo(ai);
        return e;
    }
    freeaddrinfo(ai);
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) != 0) {
        int e = errno;
        snprintf(err, errlen, "cannot bind %s: %s", bind_text, strerror(e));
        close(fd);
        return e;
    }
    *port_out = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                               : ((struct sockaddr_in *)&ss)->sin_port);
    *fd_out = fd;
    return 0;
}

int ims_http_server_start(const ims_http_opts_t *opts, ims_http_server_t **out, char *err,
                          size_t errlen)
{
    char dummy[8];
    if (!err || errlen == 0) {
        err = dummy;
        errlen = sizeof(dummy);
    }
    err[0] = '\0';
    if (!opts || !opts->bind || !opts->handler) {
        snprintf(err, errlen, "HTTP server needs a bind address and a handler");
        return EINVAL;
    }
    ims_http_server_t *srv = calloc(1, sizeof(*srv));
    if (!srv) {
        snprintf(err, errlen, "out of memory");
        return ENOMEM;
    }
    srv->handler = opts->handler;
    srv->ctx = opts->ctx;
    srv->max_body = opts->max_body ? opts->max_body : DEFAULT_MAX_BODY;
    srv->external = opts->threads == 0;
    if (opts->token && *opts->token)
        srv->token = strdup(opts->token);
    if (opts->token_methods)
        srv->token_methods = strdup(opts->token_methods);
    if (opts->public_prefix && *opts->public_prefix)
        srv->public_prefix = strdup(opts->public_prefix);
    if (opts->cors_origins && *opts->cors_origins)
        srv->cors_origins = strdup(opts->cors_origins);
    int fd = -1;
    int rc = open_listener(opts->bind, &fd, &srv->port, err, errlen);
    if (rc != 0)
        goto fail;

    /* Suspend/resume parks streaming responses while they have nothing to send. */
    unsigned flags = MHD_USE_EPOLL | MHD_USE_ERROR_LOG | MHD_ALLOW_SUSPEND_RESUME;
    if (!srv->external)
        flags |= MHD_USE_INTERNAL_POLLING_THREAD;
    unsigned pool = opts->threads > 1 ? opts->threads : 0;
    srv->daemon =
        MHD_start_daemon(flags, 0, NULL, NULL, on_request, srv, MHD_OPTION_EXTERNAL_LOGGER,
                         on_mhd_log, srv, MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_URI_LOG_CALLBACK,
                         on_uri, srv, MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv,
                         MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)IDLE_TIMEOUT_S,
                         pool ? MHD_OPTION_THREAD_POOL_SIZE : MHD_OPTION_END, pool, MHD_OPTION_END);
    if (!srv->daemon) {
        rc = errno ? errno : EIO;
        snprintf(err, errlen, "cannot start the HTTP server on %s", opts->bind);
        close(fd);
        goto fail;
    }
    *out = srv;
    return 0;
fail:
    free(srv->token);
    free(srv->token_methods);
    free(srv->public_prefix);
    free(srv->cors_origins);
    free(srv);
    return rc;
}

int ims_http_server_fd(ims_http_server_t *srv)
{
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_EPOLL_FD);
    return di ? di->epoll_fd : -1;
}

long ims_http_server_timeout_ms(ims_http_server_t *srv)
{
    MHD_UNSIGNED_LONG_LONG t = 0;
    if (MHD_get_timeout(srv->daemon, &t) != MHD_YES)
        return -1;
    return t > (MHD_UNSIGNED_LONG_LONG)86400000 ? 86400000L : (long)t;
}

void ims_http_server_run(ims_http_server_t *srv)
{
    MHD_run(srv->daemon);
}

void ims_http_server_set_wake(ims_http_server_t *srv, void (*cb)(void *arg), void *arg)
{
    srv->wake = cb;
    srv->wake_arg = arg;
}

unsigned ims_http_server_port(ims_http_server_t *srv)
{
    return srv->port;
}

void ims_http_server_stop(ims_http_server_t *srv)
{
    if (!srv)
        return;
    /* MHD refuses to stop with parked connections: end and wake every stream first. */
    for (ims_http_stream_t *s = srv->streams; s; s = s->next)
        ims_http_stream_end(s);
    if (srv->daemon)
        MHD_stop_daemon(srv->daemon);
    free(srv->token);
    free(srv->token_methods);
    free(srv->public_prefix);
    free(srv->cors_origins);
    free(srv);
}
