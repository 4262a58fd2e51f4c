/* Glue into Sofia's su_root: drives the HTTP server's external mode from the loop thread,
 * and turns SIGINT/SIGTERM into a loop event through a signalfd. */
#include "ims/loop.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <sofia-sip/nta.h>
#include <sofia-sip/nta_tport.h>
#include <sofia-sip/su.h>
#include <sofia-sip/su_time.h>
#include <sofia-sip/tport.h>
#include <sofia-sip/tport_tag.h>

#include "ims/log.h"

struct ims_loop_http {
    su_root_t *root;
    ims_http_server_t *srv;
    su_timer_t *timer;
    int index; /* su_root_register slot, 0 = none */
};

static void http_timer_cb(su_root_magic_t *magic, su_timer_t *t, su_timer_arg_t *arg);

/* MHD tells us after every step how soon it needs to run again (connection timeouts, or 0
 * when it still has buffered work its edge-triggered epoll will not report again). */
static void http_rearm(ims_loop_http_t *h)
{
    long ms = ims_http_server_timeout_ms(h->srv);
    if (ms < 0) {
        su_timer_reset(h->timer);
        return;
    }
    su_timer_set_interval(h->timer, http_timer_cb, h, (su_duration_t)ms);
}

static void http_step(ims_loop_http_t *h)
{
    ims_http_server_run(h->srv);
    http_rearm(h);
}

static void http_timer_cb(su_root_magic_t *magic, su_timer_t *t, su_timer_arg_t *arg)
{
    http_step(arg);
}

/* The server has work its fd will not report: run it on the next loop turn. */
static void http_wake(void *arg)
{
    ims_loop_http_t *h = arg;
    su_timer_set_interval(h->timer, http_timer_cb, h, 0);
}

static int http_fd_cb(su_root_magic_t *magic, su_wait_t *w, su_wakeup_arg_t *arg)
{
    http_step(arg);
    return 0;
}

int ims_loop_attach_http(su_root_t *root, ims_http_server_t *srv, ims_loop_http_t **out)
{
    if (!root || !srv || !out)
        return EINVAL;
    int fd = ims_http_server_fd(srv);
    if (fd < 0)
        return EINVAL; /* not an external-mode server */
    ims_loop_http_t *h = calloc(1, sizeof(*h));
    if (!h)
        return ENOMEM;
    h->root = root;
    h->srv = srv;
    h->timer = su_timer_create(su_root_task(root), 0);
    if (!h->timer)
        goto fail;
    su_wait_t w;
    if (su_wait_create(&w, fd, SU_WAIT_IN) != 0)
        goto fail;
    h->index = su_root_register(root, &w, http_fd_cb, h, 0);
    if (h->index <= 0) {
        su_wait_destroy(&w);
        h->index = 0;
        goto fail;
    }
    ims_http_server_set_wake(srv, http_wake, h);
    /* Accept anything already pending and start the timeout clock. */
    http_step(h);
    *out = h;
    return 0;
fail:
    if (h->timer)
        su_timer_destroy(h->timer);
    free(h);
    return EIO;
}

void ims_loop_detach_http(ims_loop_http_t *h)
{
    if (!h)
        return;
    ims_http_server_set_wake(h->srv, NULL, NULL);
    if (h->index > 0)
        su_root_deregister(h->root, h->index);
    if (h->timer) {
        su_timer_reset(h->timer);
        su_timer_destroy(h->timer);
    }
    free(h);
}

struct ims_loop_signals {
    su_root_t *root;
    int fd;
    int index;
};

static int signal_cb(su_root_magic_t *magic, su_wait_t *w, su_wakeup_arg_t *arg)
{
    ims_loop_signals_t *s = arg;
    struct signalfd_siginfo si;
    bool stop = false;
    while (read(s->fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
        if (si.ssi_signo == SIGINT || si.ssi_signo == SIGTERM) {
            IMS_INFO("received %s, shutting down", si.ssi_signo == SIGINT ? "SIGINT" : "SIGTERM");
            stop = true;
        }
    }
    if (stop)
        su_root_break(s->root);
    return 0;
}

int ims_loop_signals_init(su_root_t *root, ims_loop_signals_t **out)
{
    if (!root || !out)
        return EINVAL;
    /* Writes to a vanished peer must fail with EPIPE, not kill the daemon. */
    signal(SIGPIPE, SIG_IGN);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    int rc = pthread_sigmask(SIG_BLOCK, &set, NULL);
    if (rc != 0)
        return rc;
    ims_loop_signals_t *s = calloc(1, sizeof(*s));
    if (!s)
        return ENOMEM;
    s->root = root;
    s->fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (s->fd < 0) {
        rc = errno;
        free(s);
        return rc;
    }
    su_wait_t w;
    if (su_wait_create(&w, s->fd, SU_WAIT_IN) != 0) {
        close(s->fd);
        free(s);
        return EIO;
    }
    s->index = su_root_register(root, &w, signal_cb, s, 0);
    if (s->index <= 0) {
        su_wait_destroy(&w);
        close(s->fd);
        free(s);
        return EIO;
    }
    *out = s;
    return 0;
}

void ims_loop_signals_free(ims_loop_signals_t *s)
{
    if (!s)
        return;
    /* The signals stay blocked: a late SIGTERM during teardown stays pending instead of
     * killing the process half-way through closing its sockets. */
    if (s->index > 0)
        su_root_deregister(s->root, s->index);
    close(s->fd);
    free(s);
}

/* Sofia's test hook, exported by the library but not declared in its headers: su_time()
 * reads the clock and then passes the result through it. */
extern void (*_su_time)(su_time_t *tv);

static void (*prev_su_time)(su_time_t *tv);

static void whole_ms_time(su_time_t *tv)
{
    if (prev_su_time)
        prev_su_time(tv);
    if (!tv || tv->tv_usec % 1000 == 0)
        return;
    tv->tv_usec += 1000 - tv->tv_usec % 1000;
    if (tv->tv_usec >= 1000000) {
        tv->tv_usec -= 1000000;
        tv->tv_sec++;
    }
}

void ims_loop_whole_ms_clock(void)
{
    if (_su_time == whole_ms_time)
        return;
    prev_su_time = _su_time;
    _su_time = whole_ms_time;
}

int ims_loop_tcp_idle(struct nta_agent_s *agent, long idle_s)
{
    tport_t *master = nta_agent_tports(agent);
    unsigned ms = idle_s > 0 ? (unsigned)idle_s * 1000U : UINT_MAX;
    int rc = 0;
    for (tport_t *tp = tport_primaries(master); tp; tp = tport_next(tp))
        if (tport_set_params(tp, TPTAG_IDLE(ms), TPTAG_TIMEOUT(ms), TAG_END()) < 0)
            rc = -1;
    return rc;
}
