/* Unit tests for common/src/cfg.c: layer precedence, ranges, lists, bools, unknown flags
 * and config keys, bad JSON, and the generated --help / --version / Markdown output. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "ims/cfg.h"

static const ims_cfg_opt_t opts[] = {
    {"sip", "TST_SIP", IMS_CFG_STR, "127.0.0.1:6060", 0, 0, "SIP listen address.", false},
    {"domain", "TST_DOMAIN", IMS_CFG_STR, "ims.example.org", 0, 0, "Home domain.", false},
    {"min-expires", "TST_MIN_EXPIRES", IMS_CFG_INT, "60", 10, 86400, "Minimum | expiry.", false},
    {"insecure", "TST_INSECURE", IMS_CFG_BOOL, NULL, 0, 0, "Allow no token.", false},
    {"alias", "TST_ALIAS", IMS_CFG_STRLIST, NULL, 0, 0, "Another name of this host.", false},
    {"token", "TST_TOKEN", IMS_CFG_STR, "s3cr3t-default", 0, 0, "Bearer token.", true},
    {"state", "TST_STATE", IMS_CFG_STR, NULL, 0, 0, "State file.", false},
};
#define NOPTS (sizeof(opts) / sizeof(opts[0]))

static char tmpdir[64];

static int setup(void **state)
{
    static const char *vars[] = {"TST_SIP",   "TST_DOMAIN", "TST_MIN_EXPIRES", "TST_INSECURE",
                                 "TST_ALIAS", "TST_TOKEN",  "TST_STATE",       "TST_CONFIG"};
    for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
        unsetenv(vars[i]);
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_cfg_XXXXXX");
    assert_non_null(mkdtemp(tmpdir));
    return 0;
}

static int teardown(void **state)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
    assert_int_equal(system(cmd), 0);
    return 0;
}

static const char *write_file(const char *name, const char *text)
{
    static char path[128];
    snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return path;
}

/* Runs ims_cfg_load on a NULL-terminated argument list after the program name. */
static ims_cfg_result_t load(ims_cfg_t **cfg, char *err, size_t errlen, ...)
{
    char *argv[32] = {"tst"};
    int argc = 1;
    va_list ap;
    va_start(ap, errlen);
    for (char *a; (a = va_arg(ap, char *)) != NULL;)
        argv[argc++] = a;
    va_end(ap);
    *cfg = NULL;
    return ims_cfg_load(opts, NOPTS, "tst", "Test program.", "TST", argc, argv, cfg, err, errlen);
}

/* Captures what ims_cfg_load prints to stdout (--help, --version, markdown). */
static char *capture_stdout(ims_cfg_result_t *res, const char *flag)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/stdout", tmpdir);
    fflush(stdout);
    int saved = dup(1);
    FILE *f = fopen(path, "w+");
    assert_non_null(f);
    dup2(fileno(f), 1);
    char err[256];
    ims_cfg_t *cfg;
    *res = load(&cfg, err, sizeof(err), "--domain", "x", (char *)flag, "--bogus", NULL);
    assert_null(cfg);
    fflush(stdout);
    dup2(saved, 1);
    close(saved);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    rewind(f);
    char *buf = calloc(1, (size_t)n + 1);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    return buf;
}

static void test_defaults(void **state)
{
    ims_cfg_t *cfg;
    char err[256];
    assert_int_equal(load(&cfg, err, sizeof(err), NULL), IMS_CFG_OK);
    assert_string_equal(ims_cfg_str(cfg, "sip"), "127.0.0.1:6060");
    assert_int_equal(ims_cfg_int(cfg, "min-expires"), 60);
    assert_false(ims_cfg_bool(cfg, "insecure"));
    assert_null(ims_cfg_str(cfg, "state"));
    const char *const *items = NULL;
    assert_int_equal(ims_cfg_list(cfg, "alias", &items), 0);
    assert_non_null(items);
    assert_null(items[0]);
    ims_cfg_free(cfg);
}

static void test_precedence(void **state)
{
    const char *path = write_file("c.json", "{\"sip\": \"file:1\", \"domain\": \"file.org\", "
                                            "\"min-expires\": 100, \"alias\": [\"fa\", \"fb\"]}");
    char pathcopy[128];
    snprintf(pathcopy, sizeof(pathcopy), "%s", path);
    ims_cfg_t *cfg;
    char err[256];

    /* File over defaults. */
    assert_int_equal(load(&cfg, err, sizeof(err), "--config", pathcopy, NULL), IMS_CFG_OK);
    assert_string_equal(ims_cfg_str(cfg, "sip"), "file:1");
    assert_int_equal(ims_cfg_int(cfg, "min-expires"), 100);
    const char *const *items;
    assert_int_equal(ims_cfg_list(cfg, "alias", &items), 2);
    assert_string_equal(items[1], "fb");
    ims_cfg_free(cfg);

    /* Environment over file (file named by TST_CONFIG), flags over environment. */
    setenv("TST_CONFIG", pathcopy, 1);
    setenv("TST_SIP", "env:2", 1);
    setenv("TST_DOMAIN", "env.org", 1);
    setenv("TST_ALIAS", " ea , eb,,ec ", 1);
    assert_int_equal(load(&cfg, err, sizeof(err), "--domain=flag.org", NULL), IMS_CFG_OK);
    assert_string_equal(ims_cfg_str(cfg, "sip"), "env:2");
    assert_string_equal(ims_cfg_str(cfg, "domain"), "flag.org");
    assert_int_equal(ims_cfg_int(cfg, "min-expires"), 100);
    assert_int_equal(ims_cfg_list(cfg, "alias", &items), 3);
    assert_string_equal(items[0], "ea");
    assert_string_equal(items[1], "eb");
    assert_string_equal(items[2], "ec");
    ims_cfg_free(cfg);

    /* --config wins over TST_CONFIG. */
    const char *p2 = write_file("d.json", "{\"min-expires\": 200}");
    char p2copy[128];
    snprintf(p2copy, sizeof(p2copy), "%s", p2);
    assert_int_equal(load(&cfg, err, sizeof(err), "--config=", NULL), IMS_CFG_ERROR);
    assert_int_equal(load(&cfg, err, sizeof(err), "--config", p2copy, NULL), IMS_CFG_OK);
    assert_int_equal(ims_cfg_int(cfg, "min-expires"), 200);
    assert_string_equal(ims_cfg_str(cfg, "domain"), "env.org");
    ims_cfg_free(cfg);
    unsetenv("TST_CONFIG");
    unsetenv("TST_SIP");
    unsetenv("TST_DOMAIN");
    unsetenv("TST_ALIAS");
}

static void test_int_ranges(void **state)
{
    ims_cfg_t *cfg;
    char err[256];
    assert_int_equal(load(&cfg, err, sizeof(err), "--min-expires", "5", NULL), IMS_CFG_ERROR);
    assert_string_equal(err, "--min-expires: 5 is below the minimum 10");
    assert_null(cfg);
    assert_int_equal(load(&cfg, err, sizeof(err), "--min-expires=90000", NULL), IMS_CFG_ERROR);
    assert_string_equal(err, "--min-expires: 90000 is above the maximum 86400");
    assert_int_equal(load(&cfg, err, sizeof(err), "--min-expires", "12x", NULL), IMS_CFG_ERROR);
    assert_string_equal(err, "--min-expires: '12x' is not an integer");
    assert_int_equal(load(&cfg, err, sizeof(err), "--min-expires", "", NULL), IMS_CFG_ERROR);
    setenv("TST_MIN_EXPIRES", "3", 1);
    assert_int_equal(load(&cfg, err, sizeof(err), NULL), IMS_CFG_ERROR);
    assert_string_equal(err, "TST_MIN_EXPIRES: 3 is below the minimum 10");
    /* A flag does not rescue a bad lower layer: bad input is reported, not hidden. */
    unsetenv("TST_MIN_EXPIRES");
    const char *p = write_file("r.json", "{\"min-expires\": 1}");
    char pc[128];
    snprintf(pc, sizeof(pc), "%s", p);
    assert_int_equal(load(&cfg, err, sizeof(err), "--config", pc, NULL), IMS_CFG_ERROR);
    assert_non_null(strstr(err, "min-expires: 1 is below the minimum 10"));
    assert_non_null(strstr(err, "r.json"));
    assert_int_equal(load(&cfg, err, sizeof(err), "--min-expires", "10", NULL), IMS_CFG_OK);
    assert_int_equal(ims_cfg_int(cfg, "min-expires"), 10);
    ims_cfg_free(cfg);
}

static void test_bools(void **state)
{
    ims_cfg_t *cfg;
    char err[256];
    assert_int_equal(load(&cfg, err, sizeof(err), "--insecure", "--domain", "d", NULL), IMS_CFG_OK);
    assert_true(ims_cfg_bool(cfg, "insecure"));
    assert_string_equal(ims_cfg_str(cfg, "domain"), "d");
    ims_cfg_free(cfg);
    setenv("TST_INSECURE", "yes", 1);
    assert_int_equal(load(&cfg, err, sizeof(err), NULL), IMS_CFG_OK);
    assert_true(ims_cfg_bool(cfg, "insecure"));
    ims_cfg_free(cfg);
    assert_int_equal(load(&cfg, err, sizeof(err), "--insecure=false", NULL), IMS_CFG_OK);
    assert_false(ims_cfg_bool(cfg, "insecure"));
    ims_cfg_free(cfg);
    setenv("TST_INSECURE", "maybe", 1);
    assert_int_equal(load(&cfg, err, sizeof(err), NULL), IMS_CFG_ERROR);
    assert_non_null(strstr(err, "TST_INSECURE"));
    unsetenv("TST_INSECURE");
    const char *p = write_file("b.json", "{\"insecure\": \"true\"}");
    char pc[128];
    snprintf(pc, sizeof(pc), "%s", p);
    assert_int_equal(load(&cfg, err, sizeof(err), "--config", pc, NULL), IMS_CFG_ERROR);
    assert_non_null(strstr(err, "insecure: expected true or false"));
    p = write_file("b2.json", "{\"insecure\": true}");
    snprintf(pc, sizeof(pc), "%s", p);
    assert_int_equal(load(&cfg, err, sizeof(err), "--config", pc, NULL), IMS_CFG_OK);
    assert_true(ims_cfg_bool(cfg, "insecure"));
    ims_cfg_free(cfg);
}

static void test_lists(void **state)
{
    ims_cfg_t *cfg;
    char err[256];
    setenv("TST_ALIAS", "e1,e2", 1);
    /* Repeated flags replace the environment's list and accumulate in order. */
    assert_int_equal(
        load(&cfg, err, sizeof(err), "--alias", "a", "--alias=b", "--alias", "c,d", NULL),
        IMS_CFG_OK);
    const char *const *items;
    assert_int_equal(ims_cfg_list(cfg, "alias", &items), 3);
    assert_string_equal(items[0], "a");
    assert_string_equal(items[1], "b");
    assert_string_equal(items[2], "c,d");
    assert_null(items[3]);
    ims_cfg_free(cfg);
    unsetenv("TST_ALIAS");
    const char *p = write_file("l.json", "{\"alias\": [\"x\", 3]}");
    char pc[128];
    snprintf(pc, sizeof(pc), "%s", p);
    assert_int_equal(load(&cfg, err, sizeof(err), "--config", pc, NULL), IMS_CFG_ERROR);
    assert_non_null(strstr(err, "alias: item 1 is not a string"));
}

static void test_unknown_and_missing(void **state)
{
    ims_cfg_t *cfg;
    char err[256];
    assert_int_equal(load(&cfg, err, sizeof(err), "--domian", "x", NULL), IMS_CFG_ERROR);
    assert_string_equal(err, "unknown flag '--domian' (try --help)");
    assert_int_equal(load(&cfg, err, sizeof(err), "--nope=1", NULL), IMS_CFG_ERROR);
    assert_string_equal(err, "unknown flag '--nope' (try --help)");
    /* User input quoted in an error cannot break it into several lines. */
    assert_int_equal(load(&cfg, err, sizeof(err), "--a\nb\r", NULL), IMS_CFG_ERROR);
    assert_string_equal(err, "unknown flag '--a?b?' (try --help)");
    assert_int_equal(load(&cfg, err, sizeof(err), "stray", NULL), IMS_CFG_ERROR);
    assert_non_null(strstr(err, "'stray'"));
    assert_int_equal(load(&cfg, err, sizeof(err), "--domain", NULL), IMS_CFG_ERROR);
    assert_string_equal(err, "--domain: missing value");
    const char *p = write_file("u.json", "{\"domain\": \"a\", \"colour\": \"red\"}");
    char pc[128];
    snprintf(pc, sizeof(pc), "%s", p);
    assert_int_equal(load(&cfg, err, sizeof(err), "--config", pc, NULL), IMS_CFG_ERROR);
    assert_non_null(strstr(err, "unknown key 'colour'"));
    p = write_file("t.json", "{\"domain\": 7}");
    snprintf(pc, sizeof(pc), "%s", p);
    assert_int_equal(load(&cfg, err, sizeof(err), "--config", pc, NULL), IMS_CFG_ERROR);
    assert_non_null(strstr(err, "domain: expected a string"));
}

static void test_bad_json(void **state)
{
    ims_cfg_t *cfg;
    char err[256];
    const char *p = write_file("bad.json", "{\"domain\": \"a\",\n \"sip\": }");
    char pc[128];
    snprintf(pc, sizeof(pc), "%s", p);
    assert_int_equal(load(&cfg, err, sizeof(err), "--config", pc, NULL), IMS_CFG_ERROR);
    assert_non_null(strstr(err, "invalid JSON at line 2"));
    assert_null(strchr(err, '\n'));
    p = write_file("arr.json", "[1, 2]");
    snprintf(pc, sizeof(pc), "%s", p);
    assert_int_equal(load(&cfg, err, sizeof(err), "--config", pc, NULL), IMS_CFG_ERROR);
    assert_non_null(strstr(err, "must be a JSON object"));
    assert_int_equal(load(&cfg, err, sizeof(err), "--config", "/nonexistent/x.json", NULL),
                     IMS_CFG_ERROR);
    assert_non_null(strstr(err, "/nonexistent/x.json"));
}

static void test_help_version_markdown(void **state)
{
    ims_cfg_result_t res;
    char *out = capture_stdout(&res, "--help");
    assert_int_equal(res, IMS_CFG_EXIT);
    assert_non_null(strstr(out, "Usage: tst"));
    assert_non_null(strstr(out, "Test program."));
    assert_non_null(strstr(out, "--min-expires N"));
    assert_non_null(strstr(out, "env TST_MIN_EXPIRES, default 60, range 10..86400"));
    assert_non_null(strstr(out, "Minimum | expiry."));
    assert_non_null(strstr(out, "--alias VALUE"));
    assert_non_null(strstr(out, "--config FILE"));
    assert_non_null(strstr(out, "env TST_CONFIG"));
    assert_null(strstr(out, "s3cr3t"));
    free(out);

    out = capture_stdout(&res, "--version");
    assert_int_equal(res, IMS_CFG_EXIT);
    assert_string_equal(out, "tst " IMS_VERSION "\n");
    free(out);

    out = capture_stdout(&res, "--dump-config-markdown");
    assert_int_equal(res, IMS_CFG_EXIT);
    assert_non_null(strstr(out, "| flag | env | type | default | range | description |\n"));
    assert_non_null(strstr(out, "| `--min-expires` | `TST_MIN_EXPIRES` | integer | `60` | "
                                "10..86400 | Minimum \\| expiry. |\n"));
    assert_non_null(strstr(out, "`TST_CONFIG`"));
    assert_null(strstr(out, "s3cr3t"));
    free(out);

    /* ims_cfg_usage on its own stream. */
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    ims_cfg_usage(opts, NOPTS, "tst", NULL, f);
    fclose(f);
    assert_non_null(strstr(buf, "--insecure "));
    assert_non_null(strstr(buf, "env TST_TOKEN, default (secret)"));
    free(buf);
}

static void test_secret_not_echoed(void **state)
{
    ims_cfg_t *cfg;
    char err[256];
    assert_int_equal(load(&cfg, err, sizeof(err), "--token", "tok-123", NULL), IMS_CFG_OK);
    assert_string_equal(ims_cfg_str(cfg, "token"), "tok-123");
    ims_cfg_free(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_defaults, setup, teardown),
        cmocka_unit_test_setup_teardown(test_precedence, setup, teardown),
        cmocka_unit_test_setup_teardown(test_int_ranges, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bools, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lists, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_and_missing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_json, setup, teardown),
        cmocka_unit_test_setup_teardown(test_help_version_markdown, setup, teardown),
        cmocka_unit_test_setup_teardown(test_secret_not_echoed, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
