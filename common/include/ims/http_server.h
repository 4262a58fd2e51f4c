/* A small JSON-over-HTTP server on libmicrohttpd. Two modes: its own threads (hss-stub)
 * or driven by an external event loop (the CSCFs attach it to su_root, see loop.h). */
#ifndef IMS_HTTP_SERVER_H
#define IMS_HTTP_SERVER_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct ims_http_req {
    const char *method; /* "GET", "POST", ... */
    const char *path;   /* raw path without the query, not URL-decoded */
    const char *query;  /* raw query string without '?', "" when none */
    const char *body;   /* NUL-terminated copy of the body ("" when none) */
    size_t body_len;
    const char *content_type; /* NULL when absent */
    const char *remote;       /* peer address as text, e.g. "127.0.0.1" */
    void *impl;               /* for ims_http_req_header / ims_http_req_arg */
} ims_http_req_t;

/* A request header by name (case-insensitive); NULL when absent. */
const char *ims_http_req_header(const ims_http_req_t *req, const char *name);
/* A query argument, URL-decoded once; NULL when absent. */
const char *ims_http_req_arg(const ims_http_req_t *req, const char *name);

typedef struct ims_http_resp ims_http_resp_t;

/* Response builders; the last call wins. The server owns what is passed. */
void ims_http_resp_json(ims_http_resp_t *resp, int status, json_t *body /* stolen, may be NULL */);
void ims_http_resp_text(ims_http_resp_t *resp, int status, const char *content_type,
                        const char *text /* copied */);
/* A binary body (copied; may contain NUL bytes). */
void ims_http_resp_bytes(ims_http_resp_t *resp, int status, const char *content_type,
                         const void *data, size_t len);
/* JSON error body {"error": code, "message": <formatted sentence>}. */
void ims_http_resp_error(ims_http_resp_t *resp, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void ims_http_resp_header(ims_http_resp_t *resp, const char *name, const char *value);

/* Streaming responses (Server-Sent Events), external-loop mode only. The response becomes
 * 200 with an open-ended chunked body of the given content type; the handler keeps the
 * returned stream and writes to it later from the loop thread. Data waits in a queue of
 * at most max_queue bytes while the client is slow; a write that does not fit drops the
 * client (never blocks). closed_cb fires exactly once, from the loop thread, when the
 * connection is gone (client closed, dropped, ended, server stopped); the stream is
 * invalid after it. NULL when the server runs its own threads or memory is short (then
 * closed_cb is not called and resp is unchanged). */
typedef struct ims_http_stream ims_http_stream_t;
typedef void (*ims_http_stream_closed_cb)(void *arg, ims_http_stream_t *s);
ims_http_stream_t *ims_http_resp_stream(ims_http_resp_t *resp, const char *content_type,
                                        size_t max_queue, ims_http_stream_closed_cb closed_cb,
                                        void *arg);
/* Queues data. Returns 0, ENOBUFS (did not fit: the client is being dropped) or EPIPE
 * (the stream is already ending). */
int ims_http_stream_write(ims_http_stream_t *s, const void *data, size_t len);
/* Ends the stream once the queued data is sent. */
void ims_http_stream_end(ims_http_stream_t *s);
/* Bytes waiting in the queue. */
size_t ims_http_stream_queued(const ims_http_stream_t *s);

/* Called once per complete request (after the body is read, and after the built-in
 * checks: body over max_body -> 413, bearer token when configured -> 401). */
typedef void (*ims_http_handler_cb)(void *ctx, const ims_http_req_t *req, ims_http_resp_t *resp);

typedef struct ims_http_opts {
    const char *bind;          /* "127.0.0.1:8080", "[::1]:8080", "0.0.0.0:8080" */
    unsigned threads;          /* 0 = external loop mode; N >= 1 = MHD thread pool of N */
    size_t max_body;           /* bytes; 0 = 64 KiB */
    const char *token;         /* when set, every request but GET /healthz needs
                                  "Authorization: Bearer <token>" (compared in constant time) */
    const char *token_methods; /* NULL = all methods need the token; e.g. "DELETE,POST,PUT,PATCH"
                                  = only those (the CSCF status APIs) */
    const char *public_prefix; /* GET/HEAD of paths starting with it need no token (the
                                  console's static files: a browser cannot send one) */
    const char *cors_origins;  /* origins besides loopback ones whose scripts may call the
                                  API (comma-separated, or "*"); see http_cors.h. A preflight
                                  OPTIONS needs no token and is answered here, never by the
                                  handler (204, or 403 for other origins); answers to allowed
                                  origins carry Access-Control-Allow-Origin. */
    ims_http_handler_cb handler;
    void *ctx;
} ims_http_opts_t;

typedef struct ims_http_server ims_http_server_t;

/* Binds and starts (port 0 = any free port; "[::1]:p" binds IPv6 only). Requests refused
 * from their headers (401, 413 by Content-Length) get "Connection: close". The idle
 * timeout of kept-alive connections is 60 s. Returns 0 or an errno code with a one-line
 * reason in err
 * (e.g. "cannot bind 127.0.0.1:8080: Address already in use"). Each request is logged
 * at info as "http METHOD PATH -> STATUS (N us)". */
int ims_http_server_start(const ims_http_opts_t *opts, ims_http_server_t **out, char *err,
                          size_t errlen);
/* External loop mode: a file descriptor that becomes readable when there is work
 * (MHD's epoll fd), the longest the loop may wait before calling run (-1 = no limit),
 * and one non-blocking processing step. */
int ims_http_server_fd(ims_http_server_t *srv);
long ims_http_server_timeout_ms(ims_http_server_t *srv);
void ims_http_server_run(ims_http_server_t *srv);
/* External loop mode: cb is called on the loop thread when the server has work its fd
 * will not report (a parked stream got data or was dropped; MHD signals resumed
 * connections only to its own threads): the loop should call ims_http_server_run soon,
 * not from inside cb. ims_loop_attach_http sets this. */
void ims_http_server_set_wake(ims_http_server_t *srv, void (*cb)(void *arg), void *arg);
/* Actual bound port (useful with port 0). */
unsigned ims_http_server_port(ims_http_server_t *srv);
/* Ends every open stream (their closed_cb fire here) and stops. */
void ims_http_server_stop(ims_http_server_t *srv);

#endif
