/* Unit tests for common/src/loop.c: external-mode HTTP on a su_root loop (requests from
 * another thread), SIGTERM through the signalfd, and the no-spin whole-ms clock. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cmocka.h>

#include <sofia-sip/su.h>
#include <sofia-sip/su_wait.h>

#include "ims/http_server.h"
#include "ims/log.h"
#include "ims/loop.h"

static pthread_t loop_thread;
static atomic_int handled_elsewhere;

static void handler(void *ctx, const ims_http_req_t *req, ims_http_resp_t *resp)
{
    /* External mode promises that handlers run on the loop thread. */
    if (!pthread_equal(pthread_self(), loop_thread))
        atomic_fetch_add(&handled_elsewhere, 1);
    ims_http_resp_json(resp, 200, json_pack("{s:s}", "path", req->path));
}

typedef struct client {
    unsigned port;
    int ok;          /* responses with status 200 and the right body */
    bool signal_end; /* send SIGTERM to the process when done */
} client_t;

/* One request on fd; returns true for "200" carrying the path in the body. */
static bool one_request(int fd, const char *path)
{
    char req[256], buf[4096];
    int n = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: t\r\n\r\n", path);
    if (send(fd, req, (size_t)n, MSG_NOSIGNAL) != n)
        return false;
    size_t have = 0;
    char want[128];
    snprintf(want, sizeof(want), "{\"path\":\"%s\"}", path);
    while (have < sizeof(buf) - 1) {
        ssize_t r = recv(fd, buf + have, sizeof(buf) - 1 - have, 0);
        if (r <= 0)
            return false;
        have += (size_t)r;
        buf[have] = '\0';
        if (strstr(buf, want))
            return strncmp(buf, "HTTP/1.1 200", 12) == 0;
    }
    return false;
}

static int connect_port(unsigned port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct timeval tv = {.tv_sec = 5};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static void *client_main(void *arg)
{
    client_t *c = arg;
    int fd = connect_port(c->port);
    if (fd >= 0) {
        for (int i = 0; i < 20; i++) {
            char path[32];
            snprintf(path, sizeof(path), "/r%d", i);
            c->ok += one_request(fd, path);
        }
        close(fd);
    }
    fd = connect_port(c->port); /* a second connection after the first closed */
    if (fd >= 0) {
        c->ok += one_request(fd, "/second");
        /* Two pipelined requests in one segment: the loop must answer both without any
         * further input arriving (MHD's buffered work is driven by its timeout). */
        const char *two = "GET /pa HTTP/1.1\r\nHost: t\r\n\r\nGET /pb HTTP/1.1\r\nHost: t\r\n\r\n";
        char buf[4096];
        size_t have = 0;
        if (send(fd, two, strlen(two), MSG_NOSIGNAL) == (ssize_t)strlen(two)) {
            while (have < sizeof(buf) - 1) {
                ssize_t r = recv(fd, buf + have, sizeof(buf) - 1 - have, 0);
                if (r <= 0)
                    break;
                have += (size_t)r;
                buf[have] = '\0';
                if (strstr(buf, "{\"path\":\"/pb\"}")) {
                    c->ok += strstr(buf, "{\"path\":\"/pa\"}") != NULL;
                    break;
                }
            }
        }
        close(fd);
    }
    if (c->signal_end)
        kill(getpid(), SIGTERM); /* process-directed, so the loop's signalfd sees it */
    return NULL;
}

static atomic_bool watchdog_fired;

static void watchdog_cb(su_root_magic_t *m, su_timer_t *t, su_timer_arg_t *arg)
{
    atomic_store(&watchdog_fired, true);
    su_root_break(arg);
}

static void raise_cb(su_root_magic_t *m, su_timer_t *t, su_timer_arg_t *arg)
{
    raise(SIGTERM);
}

static su_root_t *root;
static ims_loop_signals_t *sigs;

static int setup(void **state)
{
    assert_int_equal(su_init(), 0);
    root = su_root_create(NULL);
    assert_non_null(root);
    assert_int_equal(ims_loop_signals_init(root, &sigs), 0);
    loop_thread = pthread_self();
    return 0;
}

static int teardown(void **state)
{
    ims_loop_signals_free(sigs);
    su_root_destroy(root);
    su_deinit();
    return 0;
}

/* Runs the loop until it breaks; fails the test if the watchdog had to break it. */
static void run_loop_bounded(void)
{
    atomic_store(&watchdog_fired, false);
    su_timer_t *wd = su_timer_create(su_root_task(root), 0);
    assert_non_null(wd);
    su_timer_set_interval(wd, watchdog_cb, root, 15000);
    su_root_run(root);
    su_timer_destroy(wd);
    assert_false(atomic_load(&watchdog_fired));
}

static void test_http_on_loop_and_sigterm(void **state)
{
    ims_http_opts_t o = {.bind = "127.0.0.1:0", .threads = 0, .handler = handler};
    ims_http_server_t *srv;
    char err[256];
    assert_int_equal(ims_http_server_start(&o, &srv, err, sizeof(err)), 0);
    ims_loop_http_t *lh;
    assert_int_equal(ims_loop_attach_http(root, srv, &lh), 0);

    client_t c = {.port = ims_http_server_port(srv), .signal_end = true};
    pthread_t th;
    atomic_store(&handled_elsewhere, 0);
    assert_int_equal(pthread_create(&th, NULL, client_main, &c), 0);
    run_loop_bounded(); /* ends only through the client's SIGTERM */
    pthread_join(th, NULL);
    assert_int_equal(c.ok, 22);
    assert_int_equal(atomic_load(&handled_elsewhere), 0);

    ims_loop_detach_http(lh);
    ims_http_server_stop(srv);
}

static void test_raise_breaks_loop(void **state)
{
    su_timer_t *t = su_timer_create(su_root_task(root), 0);
    assert_non_null(t);
    su_timer_set_interval(t, raise_cb, NULL, 50);
    run_loop_bounded();
    su_timer_destroy(t);
}

static int prepolls, ticks;

static void count_prepoll(su_prepoll_magic_t *m, su_root_t *r)
{
    prepolls++;
}

static void tick_cb(su_root_magic_t *m, su_timer_t *t, su_timer_arg_t *arg)
{
    if (++ticks == 10)
        su_root_break(arg);
    else
        su_timer_set_interval(t, tick_cb, arg, 3);
}

/* A timer due in under a millisecond made su_root call epoll_wait(0) over and over until
 * the deadline passed; with the whole-millisecond clock a timer costs a loop turn or two.
 * Counts loop turns, not time: ten 3 ms timers spun hundreds of turns before. */
static void test_whole_ms_clock_no_spin(void **state)
{
    ims_loop_whole_ms_clock();
    ims_loop_whole_ms_clock(); /* a second call must not chain the hook onto itself */
    for (int i = 0; i < 100; i++)
        assert_int_equal(su_now().tv_usec % 1000, 0);
    su_timer_t *t = su_timer_create(su_root_task(root), 0);
    assert_non_null(t);
    assert_int_equal(su_root_add_prepoll(root, count_prepoll, NULL), 0);
    prepolls = ticks = 0;
    su_timer_set_interval(t, tick_cb, root, 3);
    run_loop_bounded();
    su_root_remove_prepoll(root);
    su_timer_destroy(t);
    assert_int_equal(ticks, 10);
    assert_true(prepolls <= 40);
}

int main(void)
{
    ims_log_init("test_loop", IMS_LOG_WARN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_http_on_loop_and_sigterm, setup, teardown),
        cmocka_unit_test_setup_teardown(test_raise_breaks_loop, setup, teardown),
        /* last: the clock hook stays installed for the rest of the process */
        cmocka_unit_test_setup_teardown(test_whole_ms_clock_no_spin, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
