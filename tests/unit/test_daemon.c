/* Unit tests for common/src/daemon.c: the loopback/token guard of the HTTP APIs and
 * mkdir -p of a data file's folders, on a real temporary directory. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "ims/daemon.h"

static void test_loopback(void **state)
{
    assert_true(ims_loopback_host("127.0.0.1"));
    assert_true(ims_loopback_host("127.1.2.3"));
    assert_true(ims_loopback_host("::1"));
    assert_true(ims_loopback_host("localhost"));
    assert_false(ims_loopback_host("0.0.0.0"));
    assert_false(ims_loopback_host("::"));
    assert_false(ims_loopback_host("192.0.2.1"));
    assert_false(ims_loopback_host("128.0.0.1"));
}

static void test_guard(void **state)
{
    char err[256];
    assert_int_equal(ims_http_guard("127.0.0.1:8081", 80, NULL, false, "x", err, sizeof err), 0);
    assert_int_equal(ims_http_guard("[::1]:8081", 80, NULL, false, "x", err, sizeof err), 0);
    assert_int_equal(ims_http_guard("192.0.2.1:80", 80, "t0k", false, "x", err, sizeof err), 0);
    assert_int_equal(ims_http_guard("192.0.2.1:80", 80, NULL, true, "x", err, sizeof err), 0);

    err[0] = 0;
    assert_int_equal(
        ims_http_guard("0.0.0.0:8081", 80, NULL, false, "the status API", err, sizeof err), EINVAL);
    assert_non_null(strstr(err, "--token"));
    assert_non_null(strstr(err, "the status API"));
    assert_non_null(strstr(err, "0.0.0.0:8081"));

    assert_int_equal(ims_http_guard("127.0.0.1:8081", 80, "", false, "x", err, sizeof err), EINVAL);
    assert_non_null(strstr(err, "--token must not be empty"));
    assert_int_equal(ims_http_guard("127.0.0.1:99999", 80, NULL, false, "x", err, sizeof err),
                     EINVAL);
    assert_non_null(strstr(err, "HOST:PORT"));
    assert_int_equal(ims_http_guard(NULL, 80, NULL, false, "x", err, sizeof err), EINVAL);
}

static void test_mkdir_parents(void **state)
{
    char base[] = "/tmp/ims_daemon_XXXXXX", path[512], err[256];
    struct stat sb;
    assert_non_null(mkdtemp(base));

    snprintf(path, sizeof path, "%s/a/b//c/file.db", base);
    assert_int_equal(ims_mkdir_parents(path, err, sizeof err), 0);
    snprintf(path, sizeof path, "%s/a/b/c", base);
    assert_int_equal(stat(path, &sb), 0);
    assert_true(S_ISDIR(sb.st_mode));
    /* existing folders are fine; the file itself is not created */
    snprintf(path, sizeof path, "%s/a/b/c/file.db", base);
    assert_int_equal(ims_mkdir_parents(path, err, sizeof err), 0);
    assert_int_not_equal(stat(path, &sb), 0);
    assert_int_equal(ims_mkdir_parents("file.db", err, sizeof err), 0);
    assert_int_equal(ims_mkdir_parents("/file.db", NULL, 0), 0);

    /* a file in the way: the folder cannot be made, and err names it */
    snprintf(path, sizeof path, "%s/plain", base);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fclose(f);
    snprintf(path, sizeof path, "%s/plain/sub/file.db", base);
    assert_int_not_equal(ims_mkdir_parents(path, err, sizeof err), 0);
    assert_non_null(strstr(err, "plain"));

    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", base);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_loopback),
        cmocka_unit_test(test_guard),
        cmocka_unit_test(test_mkdir_parents),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
