/* Table-driven configuration: defaults -> JSON config file -> environment -> flags.
 * One table per daemon declares every key once; --help and docs are generated from it. */
#ifndef IMS_CFG_H
#define IMS_CFG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

typedef enum {
    IMS_CFG_STR,     /* any string */
    IMS_CFG_INT,     /* integer within [min, max] */
    IMS_CFG_BOOL,    /* flag: "--name" sets true; env/config accept true/false/1/0/yes/no */
    IMS_CFG_STRLIST, /* repeatable flag; env and config: comma-separated / JSON array */
} ims_cfg_type_t;

typedef struct ims_cfg_opt {
    const char *key; /* long flag without "--" and JSON config key, e.g. "min-expires" */
    const char *env; /* environment variable, e.g. "SCSCF_MIN_EXPIRES" */
    ims_cfg_type_t type;
    const char *def;  /* default as text; NULL = unset */
    long min, max;    /* range for IMS_CFG_INT */
    const char *help; /* one sentence for --help and docs/configuration.md */
    bool secret;      /* value never printed (tokens) */
} ims_cfg_opt_t;

typedef struct ims_cfg ims_cfg_t;

typedef enum {
    IMS_CFG_OK = 0,    /* *out set: run the program */
    IMS_CFG_EXIT = 1,  /* --help or --version printed to stdout: exit 0 */
    IMS_CFG_ERROR = 2, /* one-line reason in err: print it and exit non-zero */
} ims_cfg_result_t;

/* Parses argv with the table. Built in, not in the table: --help, --version,
 * --config FILE (JSON object of key -> value; also the env variable <ENVPREFIX>_CONFIG),
 * and the hidden --dump-config-markdown (prints the table as a Markdown table, for docs).
 * `envprefix` is e.g. "SCSCF". Unknown flags, unknown config keys, values of the wrong
 * type or out of range are errors (in any layer, even one a later layer overrides).
 * An empty environment variable counts as unset. The first occurrence of a STRLIST flag
 * replaces the list from lower layers; further occurrences append. `-h` = --help. */
ims_cfg_result_t ims_cfg_load(const ims_cfg_opt_t *opts, size_t nopts, const char *prog,
                              const char *summary, const char *envprefix, int argc, char **argv,
                              ims_cfg_t **out, char *err, size_t errlen);
void ims_cfg_free(ims_cfg_t *cfg);

/* Getters by key; asking for a key not in the table aborts (programming error). */
const char *ims_cfg_str(const ims_cfg_t *cfg, const char *key); /* NULL when unset */
long ims_cfg_int(const ims_cfg_t *cfg, const char *key);
bool ims_cfg_bool(const ims_cfg_t *cfg, const char *key);
/* Returns the number of items; *items stays owned by cfg. */
size_t ims_cfg_list(const ims_cfg_t *cfg, const char *key, const char *const **items);

/* Writes --help text (generated from the table) to f. */
void ims_cfg_usage(const ims_cfg_opt_t *opts, size_t nopts, const char *prog, const char *summary,
                   FILE *f);

#endif
