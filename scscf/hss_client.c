/* The S-CSCF's Cx-over-HTTP client: libcurl multi driven by su_root (socket and timer
 * callbacks), so an HSS call never blocks SIP processing and always ends within a timeout. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "ims/log.h"
#include "ims/util.h"
#include "scscf.h"

#define NBUCKETS 12
static const double buckets[NBUCKETS] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                         0.05,   0.1,   0.25,   0.5,   1.0,  2.5};

typedef struct sockinfo {
    su_wait_t wait;
    int index;
    curl_socket_t fd;
    struct scscf_hss *h;
} sockinfo_t;

typedef struct req {
    struct req *prev, *next;
    CURL *easy;
    struct curl_slist *headers;
    char *body;
    char *resp;
    size_t resp_len, resp_cap;
    char path[64];
    uint64_t start_ms;
    scscf_hss_cb cb;
    void *ctx;
} req_t;

struct scscf_hss {
    su_root_t *root;
    CURLM *multi;
    su_timer_t *timer;
    char *base;
    char *auth_header;
    long timeout_ms;
    req_t *reqs;
    unsigned long hist[NBUCKETS + 1], count, errors;
    double sum;
};

static void check_done(scscf_hss_t *h);

static int on_socket_event(su_root_magic_t *magic, su_wait_t *w, su_wakeup_arg_t *arg)
{
    sockinfo_t *si = arg;
    scscf_hss_t *h = si->h;
    int ev = su_wait_events(w, si->fd);
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
    sockinfo_t *si = socketp;
    if (what == CURL_POLL_REMOVE) {
        if (si) {
            su_root_deregister(h->root, si->index);
            free(si);
            curl_multi_assign(h->multi, s, NULL);
        }
        return 0;
    }
    int events =
        ((what & CURL_POLL_IN) ? SU_WAIT_IN : 0) | ((what & CURL_POLL_OUT) ? SU_WAIT_OUT : 0);
    if (!si) {
        si = calloc(1, sizeof(*si));
        if (!si)
            return -1;
        si->fd = s;
        si->h = h;
        if (su_wait_create(&si->wait, s, events) < 0) {
            free(si);
            return -1;
        }
        si->index = su_root_register(h->root, &si->wait, on_socket_event, si, 0);
        if (si->index <= 0) {
            su_wait_destroy(&si->wait);
            free(si);
            return -1;
        }
        curl_multi_assign(h->multi, s, si);
    } else {
        su_root_eventmask(h->root, si->index, s, events);
    }
    return 0;
}

static void on_timer(su_root_magic_t *magic, su_timer_t *t, su_timer_arg_t *arg)
{
    scscf_hss_t *h = arg;
    int running;
    curl_multi_socket_action(h->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_done(h);
}

static int timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
    scscf_hss_t *h = userp;
    if (timeout_ms < 0)
        su_timer_reset(h->timer);
    else
        su_timer_set_interval(h->timer, on_timer, h, timeout_ms);
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

static void req_free(scscf_hss_t *h, req_t *r)
{
    if (r->prev)
        r->prev->next = r->next;
    else
        h->reqs = r->next;
    if (r->next)
        r->next->prev = r->prev;
    curl_multi_remove_handle(h->multi, r->easy);
    curl_easy_cleanup(r->easy);
    curl_slist_free_all(r->headers);
    free(r->body);
    free(r->resp);
    free(r);
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
            if (r->resp)
                body = json_loads(r->resp, 0, NULL);
        } else {
            h->errors++;
            IMS_WARN("hss %s%s failed: %s", h->base, r->path, curl_easy_strerror(msg->data.result));
        }
        observe(h, r->start_ms);
        scscf_hss_cb cb = r->cb;
        void *ctx = r->ctx;
        req_free(h, r);
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
    size_t bl = strlen(h->base);
    while (bl && h->base[bl - 1] == '/')
        h->base[--bl] = 0;
    if (token && *token) {
        size_t n = strlen(token) + 32;
        h->auth_header = malloc(n);
        if (h->auth_header)
            snprintf(h->auth_header, n, "Authorization: Bearer %s", token);
    }
    h->multi = curl_multi_init();
    h->timer = su_timer_create(su_root_task(root), 0);
    if (!h->multi || !h->timer) {
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
        req_free(h, r);
        cb(ctx, 0, NULL);
    }
    if (h->multi)
        curl_multi_cleanup(h->multi);
    if (h->timer)
        su_timer_destroy(h->timer);
    free(h->base);
    free(h->auth_header);
    free(h);
}

int scscf_hss_post(scscf_hss_t *h, const char *path, json_t *body, scscf_hss_cb cb, void *ctx)
{
    req_t *r = calloc(1, sizeof(*r));
    char url[1024];
    if (!r) {
        json_decref(body);
        return ENOMEM;
    }
    r->body = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    r->easy = curl_easy_init();
    snprintf(r->path, sizeof(r->path), "%s", path);
    snprintf(url, sizeof(url), "%s%s", h->base, path);
    r->headers = curl_slist_append(NULL, "Content-Type: application/json");
    r->headers = curl_slist_append(r->headers, "Expect:");
    if (h->auth_header)
        r->headers = curl_slist_append(r->headers, h->auth_header);
    if (!r->body || !r->easy || !r->headers) {
        curl_easy_cleanup(r->easy);
        curl_slist_free_all(r->headers);
        free(r->body);
        free(r);
        return ENOMEM;
    }
    CURL *e = r->easy;
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, r->body);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->headers);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(e, CURLOPT_PRIVATE, r);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, h->timeout_ms);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, h->timeout_ms);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
    r->cb = cb;
    r->ctx = ctx;
    r->start_ms = ims_now_ms();
    r->next = h->reqs;
    if (h->reqs)
        h->reqs->prev = r;
    h->reqs = r;
    if (curl_multi_add_handle(h->multi, e) != CURLM_OK) {
        r->cb = NULL;
        req_free(h, r);
        return EIO;
    }
    return 0;
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
