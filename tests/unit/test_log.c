/* Unit tests for common/src/log.c: line format, level filter, level parsing, newline
 * neutralisation, truncation, and that concurrent threads never interleave lines. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <pthread.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "ims/log.h"

static char capture_path[64];
static int saved_stderr = -1;

/* Points fd 2 at a fresh temp file so the test can read back what ims_log wrote. */
static void capture_begin(void)
{
    snprintf(capture_path, sizeof(capture_path), "/tmp/test_log_XXXXXX");
    int fd = mkstemp(capture_path);
    assert_true(fd >= 0);
    fflush(stderr);
    saved_stderr = dup(2);
    assert_true(saved_stderr >= 0);
    assert_int_equal(dup2(fd, 2), 2);
    close(fd);
}

/* Restores stderr and returns the captured text (caller frees). */
static char *capture_end(void)
{
    fflush(stderr);
    dup2(saved_stderr, 2);
    close(saved_stderr);
    FILE *f = fopen(capture_path, "r");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = calloc(1, (size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    unlink(capture_path);
    return buf;
}

static bool line_matches(const char *line, const char *pattern)
{
    regex_t re;
    assert_int_equal(regcomp(&re, pattern, REG_EXTENDED | REG_NOSUB), 0);
    bool ok = regexec(&re, line, 0, NULL, 0) == 0;
    regfree(&re);
    return ok;
}

static void test_format(void **state)
{
    ims_log_init("/usr/bin/scscf", IMS_LOG_INFO);
    capture_begin();
    IMS_INFO("hello %d", 42);
    char *out = capture_end();
    assert_true(line_matches(out,
                             "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z "
                             "scscf info: hello 42\n$"));
    free(out);
}

static void test_level_filter(void **state)
{
    ims_log_init("hss-stub", IMS_LOG_WARN);
    assert_false(ims_log_enabled(IMS_LOG_INFO));
    assert_true(ims_log_enabled(IMS_LOG_ERROR));
    capture_begin();
    IMS_DEBUG("no-debug");
    IMS_INFO("no-info");
    IMS_WARN("yes-warn");
    IMS_ERROR("yes-error");
    char *out = capture_end();
    assert_null(strstr(out, "no-debug"));
    assert_null(strstr(out, "no-info"));
    assert_non_null(strstr(out, "hss-stub warn: yes-warn\n"));
    assert_non_null(strstr(out, "hss-stub error: yes-error\n"));
    free(out);

    ims_log_set_level(IMS_LOG_DEBUG);
    capture_begin();
    IMS_DEBUG("now-debug");
    out = capture_end();
    assert_non_null(strstr(out, "hss-stub debug: now-debug\n"));
    free(out);
}

static void test_level_parse(void **state)
{
    ims_log_level_t l = IMS_LOG_ERROR;
    assert_int_equal(ims_log_level_parse("debug", &l), 0);
    assert_int_equal(l, IMS_LOG_DEBUG);
    assert_int_equal(ims_log_level_parse("INFO", &l), 0);
    assert_int_equal(l, IMS_LOG_INFO);
    assert_int_equal(ims_log_level_parse("warn", &l), 0);
    assert_int_equal(l, IMS_LOG_WARN);
    assert_int_equal(ims_log_level_parse("error", &l), 0);
    assert_int_equal(l, IMS_LOG_ERROR);
    assert_int_equal(ims_log_level_parse("loud", &l), EINVAL);
    assert_int_equal(ims_log_level_parse("", &l), EINVAL);
    assert_int_equal(ims_log_level_parse(NULL, &l), EINVAL);
    assert_string_equal(ims_log_level_name(IMS_LOG_WARN), "warn");
    assert_string_equal(ims_log_level_name(IMS_LOG_DEBUG), "debug");
}

static void test_newlines_and_truncation(void **state)
{
    ims_log_init("pcscf", IMS_LOG_INFO);
    char *big = malloc(10000);
    assert_non_null(big);
    memset(big, 'x', 9999);
    big[9999] = '\0';
    capture_begin();
    IMS_INFO("a\nfake 2026 line\r");
    IMS_INFO("%s", big);
    char *out = capture_end();
    /* Exactly two lines: the embedded newline did not start a third. */
    int lines = 0;
    for (char *p = out; *p; p++)
        lines += *p == '\n';
    assert_int_equal(lines, 2);
    assert_non_null(strstr(out, "pcscf info: a fake 2026 line \n"));
    char *second = strchr(out, '\n') + 1;
    assert_true(strlen(second) < 4200);
    assert_non_null(strstr(second, "xxx...\n"));
    free(out);
    free(big);
}

static void test_errno_preserved(void **state)
{
    capture_begin();
    errno = ERANGE;
    IMS_ERROR("keep errno");
    assert_int_equal(errno, ERANGE);
    free(capture_end());
}

#define NTHREADS 4
#define NLINES   500

static void *writer(void *arg)
{
    long id = (long)arg;
    char pad[300];
    memset(pad, 'a' + (int)id, sizeof(pad) - 1);
    pad[sizeof(pad) - 1] = '\0';
    for (int i = 0; i < NLINES; i++)
        IMS_INFO("t%ld n%d %s end", id, i, pad);
    return NULL;
}

static void test_threads_no_interleave(void **state)
{
    ims_log_init("scscf", IMS_LOG_INFO);
    capture_begin();
    pthread_t th[NTHREADS];
    for (long i = 0; i < NTHREADS; i++)
        assert_int_equal(pthread_create(&th[i], NULL, writer, (void *)i), 0);
    for (int i = 0; i < NTHREADS; i++)
        pthread_join(th[i], NULL);
    char *out = capture_end();
    int count = 0;
    char *save = NULL;
    for (char *line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        count++;
        assert_true(line_matches(line, "^[0-9T:.Z-]+ scscf info: t[0-3] n[0-9]+ [a-d]{299} end$"));
    }
    assert_int_equal(count, NTHREADS * NLINES);
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format),          cmocka_unit_test(test_level_filter),
        cmocka_unit_test(test_level_parse),     cmocka_unit_test(test_newlines_and_truncation),
        cmocka_unit_test(test_errno_preserved), cmocka_unit_test(test_threads_no_interleave),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
