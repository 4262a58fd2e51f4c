/* libFuzzer target for the configuration loader (ims_cfg_load over common/src/cfg.c): any
 * config file and flag list must load or fail with a one-line reason, never crash or leak. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ims/cfg.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* One option of every type, plus secret ones, so every branch of set_json/set_text is
 * reachable. Environment names use a prefix nobody sets, so the run is reproducible. */
static const ims_cfg_opt_t opts[] = {
    {"sip", "FUZZCFG_SIP", IMS_CFG_STR, "127.0.0.1:6060", 0, 0, "SIP address", false},
    {"min-expires", "FUZZCFG_MIN_EXPIRES", IMS_CFG_INT, "60", 1, 86400, "min", false},
    {"neg", NULL, IMS_CFG_INT, "-5", -100, 100, "negative range", false},
    {"insecure", "FUZZCFG_INSECURE", IMS_CFG_BOOL, NULL, 0, 0, "flag", false},
    {"alias", "FUZZCFG_ALIAS", IMS_CFG_STRLIST, "a, b", 0, 0, "list", false},
    {"token", "FUZZCFG_TOKEN", IMS_CFG_STR, NULL, 0, 0, "secret string", true},
    {"pin", "FUZZCFG_PIN", IMS_CFG_INT, NULL, 0, 9999, "secret integer", true},
    {"secret-flag", NULL, IMS_CFG_BOOL, NULL, 0, 0, "secret boolean", true},
};
#define NOPTS (sizeof(opts) / sizeof(opts[0]))

/* Seeds mark secret values with this; an error about a secret option must not echo it. */
#define SECRET_MARK "S3CR3T"

static char cfg_path[64];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    snprintf(cfg_path, sizeof(cfg_path), "/tmp/fuzz_cfg.%ld.json", (long)getpid());
    /* --help/--version print to stdout; keep the fuzzer's output readable. */
    if (!freopen("/dev/null", "w", stdout))
        abort();
    return 0;
}

static int write_file(const uint8_t *data, size_t size)
{
    int fd = open(cfg_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0)
        return -1;
    size_t off = 0;
    while (off < size) {
        ssize_t n = write(fd, data + off, size - off);
        if (n <= 0) {
            close(fd);
            return -1;
        }
        off += (size_t)n;
    }
    close(fd);
    return 0;
}

/* The error must be one NUL-terminated line naming what is wrong. */
static void check_error(const char *err, size_t errlen)
{
    size_t n = strnlen(err, errlen);
    if (n == errlen || n == 0)
        abort();
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)err[i] < 0x20)
            abort(); /* one line, even when it quotes hostile input */
    /* An error that names a secret option (as config key, flag or variable) must not
     * repeat its value. */
    static const char *const secret_keys[] = {"token", "pin", "secret-flag"};
    static const char *const secret_envs[] = {"FUZZCFG_TOKEN", "FUZZCFG_PIN"};
    bool about_secret = false;
    char prefix[160];
    for (size_t i = 0; i < 3; i++) {
        snprintf(prefix, sizeof(prefix), "config %s: %s:", cfg_path, secret_keys[i]);
        about_secret |= strncmp(err, prefix, strlen(prefix)) == 0;
        snprintf(prefix, sizeof(prefix), "--%s:", secret_keys[i]);
        about_secret |= strncmp(err, prefix, strlen(prefix)) == 0;
    }
    for (size_t i = 0; i < 2; i++) {
        snprintf(prefix, sizeof(prefix), "%s:", secret_envs[i]);
        about_secret |= strncmp(err, prefix, strlen(prefix)) == 0;
    }
    if (about_secret && strstr(err, SECRET_MARK))
        abort();
}

/* A loaded configuration must answer every getter consistently. */
static void check_loaded(const ims_cfg_t *cfg)
{
    (void)ims_cfg_str(cfg, "sip");
    (void)ims_cfg_str(cfg, "token");
    long n = ims_cfg_int(cfg, "min-expires");
    if (n < 1 || n > 86400)
        abort();
    n = ims_cfg_int(cfg, "neg");
    if (n < -100 || n > 100)
        abort();
    n = ims_cfg_int(cfg, "pin");
    if (n < 0 || n > 9999)
        abort();
    (void)ims_cfg_bool(cfg, "insecure");
    (void)ims_cfg_bool(cfg, "secret-flag");
    const char *const *items = NULL;
    size_t count = ims_cfg_list(cfg, "alias", &items);
    if (!items || items[count] != NULL)
        abort();
    for (size_t i = 0; i < count; i++)
        if (!items[i])
            abort();
}

/* Input: the config file, then optionally a NUL byte and NUL-separated extra argv tokens,
 * so the fuzzer also explores flags and their layering over the file. Tokens that would
 * name another config file are dropped: reading /dev/stdin or a FIFO would hang the run. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nul = memchr(data, '\0', size);
    size_t file_len = nul ? (size_t)(nul - data) : size;
    if (write_file(data, file_len) != 0)
        return 0;

    char *args = NULL;
    size_t args_len = 0;
    if (nul) {
        args_len = size - file_len - 1;
        args = malloc(args_len + 1);
        if (!args)
            return 0;
        memcpy(args, nul + 1, args_len);
        args[args_len] = '\0';
    }
    char *argv[64];
    int argc = 0;
    argv[argc++] = "fuzzd";
    argv[argc++] = "--config";
    argv[argc++] = cfg_path;
    for (size_t off = 0; args && off <= args_len && argc < 63;) {
        char *tok = args + off;
        size_t len = strlen(tok);
        if (strncmp(tok, "--config", 8) != 0)
            argv[argc++] = tok;
        off += len + 1;
    }
    argv[argc] = NULL;

    ims_cfg_t *cfg = NULL;
    char err[256];
    memset(err, 'x', sizeof(err));
    ims_cfg_result_t r = ims_cfg_load(opts, NOPTS, "fuzzd", "fuzz target", "FUZZCFG", argc, argv,
                                      &cfg, err, sizeof(err));
    switch (r) {
    case IMS_CFG_OK:
        if (!cfg)
            abort();
        check_loaded(cfg);
        ims_cfg_free(cfg);
        break;
    case IMS_CFG_ERROR:
        if (cfg)
            abort();
        check_error(err, sizeof(err));
        break;
    case IMS_CFG_EXIT:
        if (cfg)
            abort();
        break;
    default:
        abort();
    }
    free(args);
    return 0;
}
