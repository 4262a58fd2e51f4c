/* Server-Sent Events of the timeline: fans each new entry out to the streams whose
 * filter names its subscriber; slow clients are dropped, never waited for. */
#include "ims/events.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sofia-sip/su.h>

#include "ims/log.h"

#define DEF_MAX_CLIENTS 16
#define DEF_QUEUE       (256 * 1024)
#define DEF_KEEPALIVE_S 15
#define MAX_FILTER      256

typedef struct client {
    ims_events_t *ev; /* NULL once the hub is gone (the stream outlives it briefly) */
    ims_http_stream_t *stream;
    struct client *prev, *next;
    char filter[MAX_FILTER + 1]; /* "" = every entry */
} client_t;

struct ims_events {
    ims_events_opts_t o;
    ims_timeline_t *tl;
    su_timer_t *timer;
    client_t *clients;
    size_t nclients;
    uint64_t dropped;
};

static void unlink_client(ims_events_t *ev, client_t *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        ev->clients = c->next;
    if (c->next)
        c->next->prev = c->prev;
    ev->nclients--;
}

static void on_closed(void *arg, ims_http_stream_t *s)
{
    client_t *c = arg;
    (void)s;
    if (c->ev)
        unlink_client(c->ev, c);
    free(c);
}

static void send_to(ims_events_t *ev, client_t *c, const char *data, size_t len)
{
    if (ims_http_stream_write(c->stream, data, len) == ENOBUFS)
        ev->dropped++;
}

/* Each entry is framed once and queued whole per client, so a client never gets a torn
 * event: it either fits or the client is dropped. */
static void on_entry(void *arg, const void *sub, uint64_t seq, const char *json, size_t len)
{
    ims_events_t *ev = arg;
    if (!ev->clients)
        return;
    char head[64];
    int hl =
        snprintf(head, sizeof(head), "id: %llu\nevent: timeline\ndata: ", (unsigned long long)seq);
    size_t n = (size_t)hl + len + 2;
    char *msg = malloc(n);
    if (!msg)
        return;
    memcpy(msg, head, (size_t)hl);
    memcpy(msg + hl, json, len);
    memcpy(msg + hl + len, "\n\n", 2);
    for (client_t *c = ev->clients; c; c = c->next) /* writes never free a client */
        if (!*c->filter || ims_timeline_find(ev->tl, c->filter) == sub)
            send_to(ev, c, msg, n);
    free(msg);
}

static void keepalive_cb(su_root_magic_t *magic, su_timer_t *t, su_timer_arg_t *arg)
{
    ims_events_t *ev = arg;
    (void)magic;
    (void)t;
    for (client_t *c = ev->clients; c; c = c->next)
        send_to(ev, c, ": ping\n\n", 8);
}

int ims_events_new(ims_timeline_t *tl, su_root_t *root, const ims_events_opts_t *opts,
                   ims_events_t **out)
{
    ims_events_t *ev = calloc(1, sizeof(*ev));
    if (!ev)
        return ENOMEM;
    ev->o = opts ? *opts : (ims_events_opts_t){0};
    ev->o.max_clients = ev->o.max_clients ? ev->o.max_clients : DEF_MAX_CLIENTS;
    ev->o.queue_bytes = ev->o.queue_bytes ? ev->o.queue_bytes : DEF_QUEUE;
    ev->o.keepalive_s = ev->o.keepalive_s ? ev->o.keepalive_s : DEF_KEEPALIVE_S;
    ev->tl = tl;
    if (root) {
        ev->timer = su_timer_create(su_root_task(root), (su_duration_t)ev->o.keepalive_s * 1000);
        if (!ev->timer || su_timer_run(ev->timer, keepalive_cb, ev) != 0) {
            if (ev->timer)
                su_timer_destroy(ev->timer);
            free(ev);
            return ENOMEM;
        }
    }
    ims_timeline_set_listener(tl, on_entry, ev);
    *out = ev;
    return 0;
}

void ims_events_free(ims_events_t *ev)
{
    if (!ev)
        return;
    ims_timeline_set_listener(ev->tl, NULL, NULL);
    if (ev->timer) {
        su_timer_reset(ev->timer);
        su_timer_destroy(ev->timer);
    }
    for (client_t *c = ev->clients, *next; c; c = next) {
        next = c->next;
        c->ev = NULL;
        ims_http_stream_end(c->stream);
    }
    free(ev);
}

void ims_events_serve(ims_events_t *ev, const ims_http_req_t *req, ims_http_resp_t *resp)
{
    static const char *const keys[] = {"impi", "impu", "imsi", "filter"};
    const char *filter = NULL;
    for (size_t i = 0; i < 4; i++) {
        const char *v = ims_http_req_arg(req, keys[i]);
        if (v && filter)
            return ims_http_resp_error(resp, 400, "bad_request",
                                       "give one filter: impi, impu, imsi or filter");
        if (v)
            filter = v;
    }
    if (filter && (!*filter || strlen(filter) > MAX_FILTER))
        return ims_http_resp_error(resp, 400, "bad_request",
                                   "the filter must be an identity of 1 to %d characters",
                                   MAX_FILTER);
    if (ev->nclients >= ev->o.max_clients) {
        ims_http_resp_header(resp, "Retry-After", "5");
        return ims_http_resp_error(resp, 503, "too_many_streams",
                                   "%zu event streams are open, the limit: close one first",
                                   ev->nclients);
    }
    client_t *c = calloc(1, sizeof(*c));
    if (!c)
        return ims_http_resp_error(resp, 500, "internal", "out of memory");
    c->stream = ims_http_resp_stream(resp, "text/event-stream", ev->o.queue_bytes, on_closed, c);
    if (!c->stream) {
        free(c);
        return ims_http_resp_error(resp, 500, "internal",
                                   "this server cannot stream (not on an event loop)");
    }
    c->ev = ev;
    snprintf(c->filter, sizeof(c->filter), "%s", filter ? filter : "");
    c->next = ev->clients;
    if (c->next)
        c->next->prev = c;
    ev->clients = c;
    ev->nclients++;
    /* Something to send at once, so the client sees the headers before the first entry. */
    static const char hello[] = "retry: 3000\n: connected\n\n";
    ims_http_stream_write(c->stream, hello, sizeof(hello) - 1);
    IMS_INFO("events: stream opened (filter %s, %zu open)", *c->filter ? c->filter : "none",
             ev->nclients);
}

size_t ims_events_clients(const ims_events_t *ev)
{
    return ev->nclients;
}

uint64_t ims_events_dropped(const ims_events_t *ev)
{
    return ev->dropped;
}
