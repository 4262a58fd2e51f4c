/* The S-CSCF's Cx-over-HTTP client: requests on pooled libcurl handles (driven by su_root in
 * hss_loop.c), each ending within a timeout, and the latency histogram for /metrics. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ims/log.h"
#include "ims/util.h"
#include "hss_int.h"

static const double buckets[NBUCKETS] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                         0.05,   0.1,   0.25,   0.5,   1.0,  2.5};

/* Configured easy handles kept for reuse: creating and destroying one per Cx call was a
 * large part of the scscf's CPU (docs/performance.md). Beyond this, finished ones go. */
#define FREE_MAX 128
/* Buffers kept with a pooled request; a larger one (a huge answer) is freed. */
#define KEEP_BUF 16384

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
    scscf_hss_loop_easy(h, e);
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

void scscf_hss_check_done(scscf_hss_t *h)
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
    if (!l || !h->multi || scscf_hss_loop_init(h)) {
        scscf_hss_free(h);
        return ENOMEM;
    }
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
    scscf_hss_loop_fini(h);
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
