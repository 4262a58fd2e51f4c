/* The S-CSCF's Cx-over-HTTP client: libcurl multi driven by su_root (socket and timer
 * callbacks), so an HSS call never blocks SIP processing and always ends within a timeout. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <curl/curl.h>

#include "ims/log.h"
#include "ims/util.h"
#include "scscf.h"

#define NBUCKETS 12
static const double buckets[NBUCKETS] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                         0.05,   0.1,   0.25,   0.5,   1.0,  2.5};

/* Configured easy handles kept for reuse: creating and destroying one per Cx call was a
 * large part of the scscf's CPU (docs/performance.md). Beyond this, finished ones go. */
#define FREE_MAX 128
/* Buffers kept with a pooled request; a larger one (a huge answer) is freed. */
#define KEEP_BUF 16384

/* One socket curl asked us to watch. Sockets curl opened through open_cb stay
 * registered with su_root between requests on a kept-alive connection ("parked"), so a
 * reused connection costs no epoll_ctl; close_cb tells us when it really goes away. */
typedef struct sockinfo {
    su_wait_t wait;
    int index;    /* su_root registration, 0 when not registered */
    int events;   /* the mask registered with su_root */
    bool watched; /* curl wants events on it now */
    bool owned;   /* opened by open_cb: close_cb reports its close */
    curl_socket_t fd;
    struct scscf_hss *h;
} sockinfo_t;

typedef struct req {
    struct req *prev, *next; /* h->reqs while in flight; next links h->free_reqs */
    CURL *easy;              /* configured once (headers, callbacks, timeouts) */
    char *body;
    size_t body_cap;
    char *resp;
    size_t resp_len, resp_cap;
    char path[128];  /* path of the URL set on easy (for logs; truncated) */
    bool url_cached; /* easy's URL is h->base + path */
    uint64_t start_ms;
    scscf_hss_cb cb;
    void *ctx;
} req_t;

struct scscf_hss {
    su_root_t *root;
    CURLM *multi;
    su_timer_t *now_timer, *deadline_timer; /* see arm_timer */
    bool now_armed, deadline_armed;
    uint64_t deadline_due; /* ims_now_ms() at which deadline_timer fires */
    char *base;
    struct curl_slist *headers; /* shared by every easy handle */
    long timeout_ms;
    req_t *reqs;
    req_t *free_reqs;
    unsigned nfree;
    sockinfo_t **socks; /* by fd */
    size_t nsocks;
    unsigned long hist[NBUCKETS + 1], count, errors;
    double sum;
};

static void check_done(scscf_hss_t *h);

static sockinfo_t *sock_find(scscf_hss_t *h, curl_socket_t fd)
{
    return fd >= 0 && (size_t)fd < h->nsocks ? h->socks[fd] : NULL;
}

static void sock_unregister(scscf_hss_t *h, sockinfo_t *si)
{
    if (si->index > 0)
        su_root_deregister(h->root, si->index); /* also destroys si->wait */
    si->index = 0;
    si->events = 0;
}

static void sock_forget(scscf_hss_t *h, sockinfo_t *si)
{
    sock_unregister(h, si);
    if (sock_find(h, si->fd) == si)
        h->socks[si->fd] = NULL;
    free(si);
}

static sockinfo_t *sock_new(scscf_hss_t *h, curl_socket_t fd)
{
    if (fd < 0)
        return NULL;
    if ((size_t)fd >= h->nsocks) {
        size_t n = h->nsocks ? h->nsocks : 64;
        while (n <= (size_t)fd)
            n *= 2;
        sockinfo_t **p = realloc(h->socks, n * sizeof(*p));
        if (!p)
            return NULL;
        memset(p + h->nsocks, 0, (n - h->nsocks) * sizeof(*p));
        h->socks = p;
        h->nsocks = n;
    }
    if (h->socks[fd]) /* a closed socket we were not told about: its number is reused */
        sock_forget(h, h->socks[fd]);
    sockinfo_t *si = calloc(1, sizeof(*si));
    if (!si)
        return NULL;
    si->fd = fd;
    si->h = h;
    h->socks[fd] = si;
    return si;
}

static int on_socket_event(su_root_magic_t *magic, su_wait_t *w, su_wakeup_arg_t *arg);

/* Makes su_root watch si for events, touching it only when something changed. */
static int sock_watch(scscf_hss_t *h, sockinfo_t *si, int events)
{
    if (si->index > 0 && si->events == events)
        return 0;
    if (si->index > 0 && su_root_eventmask(h->root, si->index, si->fd, events) == 0) {
        si->events = events;
        return 0;
    }
    sock_unregister(h, si); /* not registered, or the registration went stale */
    if (su_wait_create(&si->wait, si->fd, events) < 0)
        return -1;
    si->index = su_root_register(h->root, &si->wait, on_socket_event, si, 0);
    if (si->index <= 0) {
        su_wait_destroy(&si->wait);
        si->index = 0;
        return -1;
    }
    si->events = events;
    return 0;
}

static int on_socket_event(su_root_magic_t *magic, su_wait_t *w, su_wakeup_arg_t *arg)
{
    sockinfo_t *si = arg;
    scscf_hss_t *h = si->h;
    int ev = su_wait_events(w, si->fd);
    if (!si->watched) {
        /* A parked kept-alive connection became readable or failed (the HSS closed
         * it): stop watching it, or level-triggered epoll would spin. curl finds it
         * dead when it next tries to reuse it, and closes it through close_cb. */
        sock_unregister(h, si);
        return 0;
    }
    int flags = 0, running;
    if (ev & SU_WAIT_IN)
        flags |= CURL_CSELECT_IN;
    if (ev & SU_WAIT_OUT)
        flags |= CURL_CSELECT_OUT;
    if (ev & (SU_WAIT_ERR | SU_WAIT_HUP))
        flags |= CURL_CSELECT_ERR;
    curl_multi_socket_action(h->multi, si->fd, flags, &running);
    check_done(h);
    return 0;
}

static int socket_cb(CURL *e, curl_socket_t s, int what, void *userp, void *socketp)
{
    scscf_hss_t *h = userp;
    /* Looked up by fd rather than curl_multi_assign: curl's copy of the pointer could
     * outlive a socket that close_cb has already forgotten. */
    sockinfo_t *si = sock_find(h, s);
    if (what == CURL_POLL_REMOVE) {
        if (!si)
            return 0;
        if (si->owned)
            si->watched = false; /* keep the registration for the next request */
        else
            sock_forget(h, si);
        return 0;
    }
    int events =
        ((what & CURL_POLL_IN) ? SU_WAIT_IN : 0) | ((what & CURL_POLL_OUT) ? SU_WAIT_OUT : 0);
    if (!si && !(si = sock_new(h, s)))
        return -1;
    if (sock_watch(h, si, events) < 0) {
        if (!si->owned)
            sock_forget(h, si);
        return -1;
    }
    si->watched = true;
    return 0;
}

static curl_socket_t open_cb(void *clientp, curlsocktype purpose, struct curl_sockaddr *a)
{
    scscf_hss_t *h = clientp;
    curl_socket_t s = socket(a->family, a->socktype, a->protocol);
    if (s == CURL_SOCKET_BAD)
        return s;
    sockinfo_t *si = sock_new(h, s);
    if (!si) {
        close(s);
        return CURL_SOCKET_BAD;
    }
    si->owned = true;
    return s;
}

static int close_cb(void *clientp, curl_socket_t s)
{
    scscf_hss_t *h = clientp;
    sockinfo_t *si = sock_find(h, s);
    if (si)
        sock_forget(h, si);
    return close(s);
}

static void on_timer(su_root_magic_t *magic, su_timer_t *t, su_timer_arg_t *arg);

/* curl's timer callback, on two su_timers so that neither is re-armed per request: every
 * new request makes curl ask for an immediate run (timeout 0, the "now" timer, armed
 * once per loop turn), and curl's earliest deadline moves with every request that
 * completes. The deadline timer is re-armed only when that deadline moves earlier; one
 * that fires early just makes on_timer ask curl again. */
static void arm_timer(scscf_hss_t *h, long timeout_ms)
{
    if (timeout_ms < 0) {
        if (h->deadline_armed)
            su_timer_reset(h->deadline_timer);
        h->deadline_armed = false;
        return;
    }
    if (timeout_ms == 0) {
        if (!h->now_armed && su_timer_set_interval(h->now_timer, on_timer, h, 0) == 0)
            h->now_armed = true;
        return;
    }
    uint64_t due = ims_now_ms() + (uint64_t)timeout_ms;
    if (h->deadline_armed && h->deadline_due <= due)
        return;
    if (su_timer_set_interval(h->deadline_timer, on_timer, h, timeout_ms) == 0) {
        h->deadline_armed = true;
        h->deadline_due = due;
    }
}

static void on_timer(su_root_magic_t *magic, su_timer_t *t, su_timer_arg_t *arg)
{
    scscf_hss_t *h = arg;
    int running;
    if (t == h->now_timer)
        h->now_armed = false;
    else
        h->deadline_armed = false;
    curl_multi_socket_action(h->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_done(h);
    /* curl reports a deadline only when it changes; if this firing was early the
     * deadline still pending in curl has not been armed yet. */
    long next;
    if (curl_multi_timeout(h->multi, &next) == CURLM_OK && next >= 0)
        arm_timer(h, next);
}

static int timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
    arm_timer(userp, timeout_ms);
    return 0;
}

static size_t write_cb(char *data, size_t size, size_t nmemb, void *userp)
{
    req_t *r = userp;
    size_t n = size * nmemb;
    if (r->resp_len + n + 1 > 1 << 20)
        return 0; /* an HSS answer over 1 MiB is broken; abort */
    if (r->resp_len + n + 1 > r->resp_cap) {
        size_t cap = (r->resp_len + n + 1) * 2;
        char *p = realloc(r->resp, cap);
        if (!p)
            return 0;
        r->resp = p;
        r->resp_cap = cap;
    }
    memcpy(r->resp + r->resp_len, data, n);
    r->resp_len += n;
    r->resp[r->resp_len] = 0;
    return n;
}

static void req_destroy(req_t *r)
{
    curl_easy_cleanup(r->easy);
    free(r->body);
    free(r->resp);
    free(r);
}

/* A request with a configured easy handle: from the free list, else a new one. */
static req_t *req_get(scscf_hss_t *h)
{
    req_t *r = h->free_reqs;
    if (r) {
        h->free_reqs = r->next;
        h->nfree--;
        r->next = NULL;
        return r;
    }
    if (!(r = calloc(1, sizeof(*r))))
        return NULL;
    CURL *e = r->easy = curl_easy_init();
    if (!e) {
        free(r);
        return NULL;
    }
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, h->headers);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(e, CURLOPT_PRIVATE, r);
    /* Bounds the connect too (curl takes the smaller of this and its connect timeout);
     * a separate CURLOPT_CONNECTTIMEOUT_MS would only add a second timer per request. */
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, h->timeout_ms);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, open_cb);
    curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, h);
    curl_easy_setopt(e, CURLOPT_CLOSESOCKETFUNCTION, close_cb);
    curl_easy_setopt(e, CURLOPT_CLOSESOCKETDATA, h);
    return r;
}

/* Takes r out of the multi and the in-flight list; keeps it for reuse if there is room. */
static void req_release(scscf_hss_t *h, req_t *r)
{
    if (r->prev)
        r->prev->next = r->next;
    else
        h->reqs = r->next;
    if (r->next)
        r->next->prev = r->prev;
    curl_multi_remove_handle(h->multi, r->easy);
    r->prev = r->next = NULL;
    r->cb = NULL;
    r->ctx = NULL;
    if (h->nfree >= FREE_MAX) {
        req_destroy(r);
        return;
    }
    if (r->resp_cap > KEEP_BUF) {
        free(r->resp);
        r->resp = NULL;
        r->resp_cap = 0;
    }
    if (r->body_cap > KEEP_BUF) {
        free(r->body);
        r->body = NULL;
        r->body_cap = 0;
    }
    r->resp_len = 0;
    r->next = h->free_reqs;
    h->free_reqs = r;
    h->nfree++;
}

static void observe(scscf_hss_t *h, uint64_t start_ms)
{
    double s = (double)(ims_now_ms() - start_ms) / 1000.0;
    size_t i = 0;
    while (i < NBUCKETS && s > buckets[i])
        i++;
    h->hist[i]++;
    h->count++;
    h->sum += s;
}

static void check_done(scscf_hss_t *h)
{
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(h->multi, &left))) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        req_t *r = NULL;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&r);
        long status = 0;
        json_t *body = NULL;
        if (msg->data.result == CURLE_OK) {
            curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
            if (r->resp_len)
                body = json_loads(r->resp, 0, NULL);
        } else {
            h->errors++;
            IMS_WARN("hss %s%s failed: %s", h->base, r->path, curl_easy_strerror(msg->data.result));
        }
        observe(h, r->start_ms);
        scscf_hss_cb cb = r->cb;
        void *ctx = r->ctx;
        req_release(h, r);
        cb(ctx, status, body);
        json_decref(body);
    }
}

int scscf_hss_create(su_root_t *root, const char *base_url, const char *token, long timeout_ms,
                     long max_connections, scscf_hss_t **out)
{
    static bool inited;
    if (!inited) {
        curl_global_init(CURL_GLOBAL_DEFAULT);
        inited = true;
    }
    scscf_hss_t *h = calloc(1, sizeof(*h));
    if (!h)
        return ENOMEM;
    h->root = root;
    h->timeout_ms = timeout_ms;
    h->base = strdup(base_url);
    if (!h->base) {
        free(h);
        return ENOMEM;
    }
    size_t bl = strlen(h->base);
    while (bl && h->base[bl - 1] == '/')
        h->base[--bl] = 0;
    /* The same headers for every call, so one list shared by all easy handles. */
    h->headers = curl_slist_append(NULL, "Content-Type: application/json");
    struct curl_slist *l = h->headers ? curl_slist_append(h->headers, "Expect:") : NULL;
    if (l && token && *token) {
        size_t n = strlen(token) + 32;
        char *auth = malloc(n);
        if (auth) {
            snprintf(auth, n, "Authorization: Bearer %s", token);
            l = curl_slist_append(h->headers, auth);
            free(auth);
        } else
            l = NULL;
    }
    h->multi = curl_multi_init();
    h->now_timer = su_timer_create(su_root_task(root), 0);
    h->deadline_timer = su_timer_create(su_root_task(root), 0);
    if (!l || !h->multi || !h->now_timer || !h->deadline_timer) {
        scscf_hss_free(h);
        return ENOMEM;
    }
    curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
    curl_multi_setopt(h->multi, CURLMOPT_SOCKETDATA, h);
    curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
    curl_multi_setopt(h->multi, CURLMOPT_TIMERDATA, h);
    /* A bounded set of kept-alive connections; requests beyond them queue inside curl.
     * Without pipelining, the number of connections is the number of Cx calls in flight,
     * which bounds throughput at (connections / HSS round trip). */
    curl_multi_setopt(h->multi, CURLMOPT_MAX_HOST_CONNECTIONS, max_connections);
    curl_multi_setopt(h->multi, CURLMOPT_MAXCONNECTS, max_connections);
    curl_multi_setopt(h->multi, CURLMOPT_PIPELINING, CURLPIPE_NOTHING);
    *out = h;
    return 0;
}

void scscf_hss_free(scscf_hss_t *h)
{
    if (!h)
        return;
    /* Answer whoever waits: their transactions get a 503 rather than silence. */
    while (h->reqs) {
        req_t *r = h->reqs;
        scscf_hss_cb cb = r->cb;
        void *ctx = r->ctx;
        req_release(h, r);
        cb(ctx, 0, NULL);
    }
    while (h->free_reqs) {
        req_t *r = h->free_reqs;
        h->free_reqs = r->next;
        req_destroy(r);
    }
    h->nfree = 0;
    if (h->multi)
        curl_multi_cleanup(h->multi); /* closes kept-alive connections through close_cb */
    for (size_t i = 0; i < h->nsocks; i++)
        if (h->socks[i])
            sock_forget(h, h->socks[i]);
    free(h->socks);
    if (h->now_timer)
        su_timer_destroy(h->now_timer);
    if (h->deadline_timer)
        su_timer_destroy(h->deadline_timer);
    curl_slist_free_all(h->headers);
    free(h->base);
    free(h);
}

/* Serialises body into r->body (kept between requests); returns its length, 0 on error. */
static size_t encode_body(req_t *r, const json_t *body)
{
    for (int i = 0; i < 2; i++) {
        size_t n = json_dumpb(body, r->body, r->body_cap, JSON_COMPACT);
        if (n == 0)
            return 0;
        if (n <= r->body_cap)
            return n;
        char *p = realloc(r->body, n + 256);
        if (!p)
            return 0;
        r->body = p;
        r->body_cap = n + 256;
    }
    return 0;
}

int scscf_hss_post(scscf_hss_t *h, const char *path, json_t *body, scscf_hss_cb cb, void *ctx)
{
    req_t *r = req_get(h);
    if (!r) {
        json_decref(body);
        return ENOMEM;
    }
    size_t len = encode_body(r, body);
    json_decref(body);
    if (!len) {
        r->next = h->free_reqs; /* still a good handle */
        h->free_reqs = r;
        h->nfree++;
        return ENOMEM;
    }
    CURL *e = r->easy;
    size_t pl = strlen(path);
    if (!r->url_cached || pl >= sizeof(r->path) || strcmp(r->path, path) != 0) {
        char url[1024];
        snprintf(url, sizeof(url), "%s%s", h->base, path);
        curl_easy_setopt(e, CURLOPT_URL, url);
        snprintf(r->path, sizeof(r->path), "%s", path);
        r->url_cached = pl < sizeof(r->path);
    }
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)len);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, r->body);
    r->resp_len = 0;
    r->cb = cb;
    r->ctx = ctx;
    r->start_ms = ims_now_ms();
    r->prev = NULL;
    r->next = h->reqs;
    if (h->reqs)
        h->reqs->prev = r;
    h->reqs = r;
    if (curl_multi_add_handle(h->multi, e) != CURLM_OK) {
        req_release(h, r);
        return EIO;
    }
    return 0;
}

int scscf_hss_post_ctx(void *hss, const char *path, json_t *body, scscf_hss_cb cb, void *ctx)
{
    return scscf_hss_post(hss, path, body, cb, ctx);
}

void scscf_hss_metrics(scscf_hss_t *h, FILE *f)
{
    fprintf(f, "# HELP scscf_hss_request_duration_seconds Latency of Cx calls to the HSS.\n"
               "# TYPE scscf_hss_request_duration_seconds histogram\n");
    unsigned long cum = 0;
    for (size_t i = 0; i < NBUCKETS; i++) {
        cum += h->hist[i];
        fprintf(f, "scscf_hss_request_duration_seconds_bucket{le=\"%g\"} %lu\n", buckets[i], cum);
    }
    cum += h->hist[NBUCKETS];
    fprintf(f, "scscf_hss_request_duration_seconds_bucket{le=\"+Inf\"} %lu\n", cum);
    fprintf(f, "scscf_hss_request_duration_seconds_sum %.6f\n", h->sum);
    fprintf(f, "scscf_hss_request_duration_seconds_count %lu\n", h->count);
    fprintf(f,
            "# HELP scscf_hss_errors_total Cx calls that failed (unreachable, timeout).\n"
            "# TYPE scscf_hss_errors_total counter\nscscf_hss_errors_total %lu\n",
            h->errors);
}
