/* The insides of the S-CSCF's HSS client, shared by its two files only: hss_client.c
 * (requests, pool, metrics) and hss_loop.c (libcurl multi driven by su_root). */
#ifndef SCSCF_HSS_INT_H
#define SCSCF_HSS_INT_H

#include <curl/curl.h>

#include "scscf.h"

#define NBUCKETS 12 /* latency histogram buckets, bounds in hss_client.c */

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
    su_timer_t *now_timer, *deadline_timer; /* see arm_timer (hss_loop.c) */
    bool now_armed, deadline_armed;
    uint64_t deadline_due; /* ims_now_ms() at which deadline_timer fires */
    char *base;
    struct curl_slist *headers; /* shared by every easy handle */
    long timeout_ms;
    req_t *reqs;
    req_t *free_reqs;
    unsigned nfree;
    struct sockinfo **socks; /* by fd (hss_loop.c) */
    size_t nsocks;
    unsigned long hist[NBUCKETS + 1], count, errors;
    double sum;
};

/* ---- hss_loop.c ---- */
/* Hooks h->multi to su_root (socket and timer callbacks, two su_timers); 0 or ENOMEM. */
int scscf_hss_loop_init(scscf_hss_t *h);
/* The socket callbacks one easy handle needs (sockets opened and closed through us). */
void scscf_hss_loop_easy(scscf_hss_t *h, CURL *e);
/* Forgets every socket and destroys the timers; after curl_multi_cleanup. */
void scscf_hss_loop_fini(scscf_hss_t *h);

/* ---- hss_client.c ---- */
/* Hands every finished request's answer to its callback. */
void scscf_hss_check_done(scscf_hss_t *h);

#endif
