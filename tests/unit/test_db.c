/* Unit tests for common/src/db.c: the SQLite opener on real files: application id stamped
 * and checked, migrations run once and in order, integrity and version checks, 0600 files,
 * folders created, an exclusive file refused to a second opener. */
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

#include "ims/db.h"

static const char *const v2[] = {
    "CREATE TABLE t(a INTEGER)",
    "ALTER TABLE t ADD COLUMN b TEXT",
};

static ims_db_spec_t spec(size_t nmig)
{
    ims_db_spec_t s = {
        .label = "test file",
        .hint = "move it away",
        .foreign = "not a test file",
        .app_id = 0x54455354,
        .migrations = v2,
        .nmigrations = nmig,
        .busy_ms = 100,
        .private_file = true,
    };
    return s;
}

static char dir[64];

static int setup(void **state)
{
    snprintf(dir, sizeof dir, "/tmp/ims_db_XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void path_of(char *out, size_t len, const char *name)
{
    snprintf(out, len, "%s/%s", dir, name);
}

static int pragma(sqlite3 *db, const char *q)
{
    int v = -1;
    assert_int_equal(ims_db_int(db, q, &v), 0);
    return v;
}

static void test_fresh_and_migrate(void **state)
{
    char path[256], err[512];
    sqlite3 *db = NULL;
    struct stat sb;
    ims_db_spec_t s1 = spec(1), s2 = spec(2);

    path_of(path, sizeof path, "sub/dir/a.db"); /* folders made */
    assert_int_equal(ims_db_open(path, &s1, &db, err, sizeof err), 0);
    assert_int_equal(pragma(db, "PRAGMA application_id"), 0x54455354);
    assert_int_equal(pragma(db, "PRAGMA user_version"), 1);
    assert_int_equal(ims_db_exec(db, "INSERT INTO t(a) VALUES (7)", "insert", err, sizeof err), 0);
    sqlite3_close(db);
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 077, 0);

    /* reopened with one more migration: only that one runs, the data stays */
    db = NULL;
    assert_int_equal(ims_db_open(path, &s2, &db, err, sizeof err), 0);
    assert_int_equal(pragma(db, "PRAGMA user_version"), 2);
    assert_int_equal(pragma(db, "SELECT a FROM t"), 7);
    assert_int_equal(ims_db_exec(db, "UPDATE t SET b = 'x'", "update", err, sizeof err), 0);
    assert_int_equal(ims_db_exec(db, "SELECT nope FROM t", "select", err, sizeof err), EIO);
    assert_non_null(strstr(err, "select: "));
    sqlite3_close(db);

    /* a program that knows fewer migrations refuses the newer file */
    db = NULL;
    assert_int_equal(ims_db_open(path, &s1, &db, err, sizeof err), EINVAL);
    assert_null(db);
    assert_non_null(strstr(err, "schema version 2"));
}

static void make_plain(const char *path, const char *sql)
{
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
}

static void test_foreign(void **state)
{
    char path[256], err[512];
    sqlite3 *db = NULL;
    ims_db_spec_t s = spec(1);

    path_of(path, sizeof path, "other.db");
    make_plain(path, "PRAGMA application_id = 1; CREATE TABLE x(y)");
    assert_int_equal(ims_db_open(path, &s, &db, err, sizeof err), EINVAL);
    assert_non_null(strstr(err, "not a test file"));
    assert_non_null(strstr(err, path));

    /* tables but no id: foreign unless the spec adopts files made before the id */
    path_of(path, sizeof path, "legacy.db");
    make_plain(path, "CREATE TABLE t(a INTEGER)");
    assert_int_equal(ims_db_open(path, &s, &db, err, sizeof err), EINVAL);
    s.adopt_unstamped = true;
    s.migrations = (const char *const[]){"CREATE TABLE IF NOT EXISTS t(a INTEGER)"};
    assert_int_equal(ims_db_open(path, &s, &db, err, sizeof err), 0);
    assert_int_equal(pragma(db, "PRAGMA application_id"), 0x54455354);
    sqlite3_close(db);
}

static void test_corrupt(void **state)
{
    char path[256], err[512], buf[64];
    sqlite3 *db = NULL;
    ims_db_spec_t s = spec(1);
    const char junk[] = "this is not an SQLite database, just text that stays as it is\n";

    path_of(path, sizeof path, "junk.db");
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(junk, f);
    fclose(f);
    assert_int_not_equal(ims_db_open(path, &s, &db, err, sizeof err), 0);
    assert_null(db);
    assert_non_null(strstr(err, path));
    assert_non_null(strstr(err, "move it away"));
    f = fopen(path, "r");
    assert_non_null(fgets(buf, sizeof buf, f));
    fclose(f);
    assert_int_equal(strncmp(buf, junk, strlen(buf)), 0); /* untouched */
}

static void test_exclusive(void **state)
{
    char path[256], err[512];
    sqlite3 *a = NULL, *b = NULL;
    ims_db_spec_t s = spec(1);
    s.exclusive = true;

    path_of(path, sizeof path, "excl.db");
    assert_int_equal(ims_db_open(path, &s, &a, err, sizeof err), 0);
    /* EXCLUSIVE takes its lock at the first write */
    assert_int_equal(ims_db_exec(a, "INSERT INTO t(a) VALUES (1)", "insert", err, sizeof err), 0);
    assert_int_equal(ims_db_open(path, &s, &b, err, sizeof err), EBUSY);
    assert_null(b);
    sqlite3_close(a);
    assert_int_equal(ims_db_open(path, &s, &b, err, sizeof err), 0);
    sqlite3_close(b);
}

static void test_memory(void **state)
{
    char err[512];
    sqlite3 *db = NULL;
    ims_db_spec_t s = spec(2);
    s.exclusive = true;
    assert_int_equal(ims_db_open(":memory:", &s, &db, err, sizeof err), 0);
    assert_int_equal(pragma(db, "PRAGMA user_version"), 2);
    sqlite3_close(db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fresh_and_migrate),
        cmocka_unit_test(test_foreign),
        cmocka_unit_test(test_corrupt),
        cmocka_unit_test(test_exclusive),
        cmocka_unit_test(test_memory),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
