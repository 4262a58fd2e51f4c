/* The HSS client's event plumbing: libcurl multi driven by su_root, each socket curl uses
 * registered in the loop and curl's timer on two su_timers, so a Cx call never blocks SIP. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ims/util.h"
#include "hss_int.h"

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
    scscf_hss_check_done(h);
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
    scscf_hss_check_done(h);
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

int scscf_hss_loop_init(scscf_hss_t *h)
{
    h->now_timer = su_timer_create(su_root_task(h->root), 0);
    h->deadline_timer = su_timer_create(su_root_task(h->root), 0);
    if (!h->now_timer || !h->deadline_timer)
        return ENOMEM;
    curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
    curl_multi_setopt(h->multi, CURLMOPT_SOCKETDATA, h);
    curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
    curl_multi_setopt(h->multi, CURLMOPT_TIMERDATA, h);
    return 0;
}

void scscf_hss_loop_easy(scscf_hss_t *h, CURL *e)
{
    curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, open_cb);
    curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, h);
    curl_easy_setopt(e, CURLOPT_CLOSESOCKETFUNCTION, close_cb);
    curl_easy_setopt(e, CURLOPT_CLOSESOCKETDATA, h);
}

void scscf_hss_loop_fini(scscf_hss_t *h)
{
    for (size_t i = 0; i < h->nsocks; i++)
        if (h->socks[i])
            sock_forget(h, h->socks[i]);
    free(h->socks);
    h->socks = NULL;
    h->nsocks = 0;
    if (h->now_timer)
        su_timer_destroy(h->now_timer);
    if (h->deadline_timer)
        su_timer_destroy(h->deadline_timer);
    h->now_timer = h->deadline_timer = NULL;
}
