/* Table-driven configuration: applies defaults, a JSON config file, the environment and
 * command-line flags in that order, and generates --help and the docs table from the table. */
#include "ims/cfg.h"

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef struct cfg_val {
    char *str;   /* STR: NULL = unset */
    long num;    /* INT */
    bool flag;   /* BOOL */
    char **list; /* STRLIST: NULL-terminated, never NULL after load */
    size_t nlist;
} cfg_val_t;

struct ims_cfg {
    const ims_cfg_opt_t *opts;
    size_t nopts;
    cfg_val_t *vals;
};

/* Where a value came from, so an error names the flag, variable or config key at fault. */
typedef struct cfg_src {
    char what[512];
} cfg_src_t;

static void seterr(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void seterr(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    /* Errors quote user input (flags, keys, values) and must stay one line. */
    for (char *c = err; *c; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f)
            *c = '?';
}

static void list_clear(cfg_val_t *v)
{
    if (v->list) {
        for (size_t i = 0; i < v->nlist; i++)
            free(v->list[i]);
        free(v->list);
    }
    v->list = NULL;
    v->nlist = 0;
}

static int list_append(cfg_val_t *v, const char *item, size_t len)
{
    char **nl = realloc(v->list, (v->nlist + 2) * sizeof(*nl));
    if (!nl)
        return ENOMEM;
    v->list = nl;
    v->list[v->nlist] = strndup(item, len);
    if (!v->list[v->nlist])
        return ENOMEM;
    v->nlist++;
    v->list[v->nlist] = NULL;
    return 0;
}

/* Comma-separated list: items are trimmed of blanks, empty items are skipped. */
static int list_set_csv(cfg_val_t *v, const char *text)
{
    list_clear(v);
    const char *p = text;
    while (*p) {
        const char *end = strchr(p, ',');
        if (!end)
            end = p + strlen(p);
        const char *a = p, *b = end;
        while (a < b && (*a == ' ' || *a == '\t'))
            a++;
        while (b > a && (b[-1] == ' ' || b[-1] == '\t'))
            b--;
        if (b > a && list_append(v, a, (size_t)(b - a)) != 0)
            return ENOMEM;
        p = *end ? end + 1 : end;
    }
    return 0;
}

static int parse_bool(const char *text, bool *out)
{
    static const char *const yes[] = {"true", "1", "yes", "on"};
    static const char *const no[] = {"false", "0", "no", "off"};
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(text, yes[i]) == 0) {
            *out = true;
            return 0;
        }
        if (strcasecmp(text, no[i]) == 0) {
            *out = false;
            return 0;
        }
    }
    return EINVAL;
}

static int check_range(const ims_cfg_opt_t *o, long n, const cfg_src_t *src, char *err,
                       size_t errlen)
{
    if (n < o->min) {
        seterr(err, errlen, "%s: %ld is below the minimum %ld", src->what, n, o->min);
        return EINVAL;
    }
    if (n > o->max) {
        seterr(err, errlen, "%s: %ld is above the maximum %ld", src->what, n, o->max);
        return EINVAL;
    }
    return 0;
}

/* Applies a textual value (default, environment, flag). `append` is for repeated flags. */
static int set_text(const ims_cfg_opt_t *o, cfg_val_t *v, const char *text, bool append,
                    const cfg_src_t *src, char *err, size_t errlen)
{
    switch (o->type) {
    case IMS_CFG_STR: {
        char *s = strdup(text);
        if (!s)
            return ENOMEM;
        free(v->str);
        v->str = s;
        return 0;
    }
    case IMS_CFG_INT: {
        char *end = NULL;
        errno = 0;
        long n = strtol(text, &end, 10);
        if (*text == '\0' || *end != '\0' || errno == ERANGE) {
            if (o->secret)
                seterr(err, errlen, "%s: the value is not an integer", src->what);
            else
                seterr(err, errlen, "%s: '%s' is not an integer", src->what, text);
            return EINVAL;
        }
        if (check_range(o, n, src, err, errlen) != 0)
            return EINVAL;
        v->num = n;
        return 0;
    }
    case IMS_CFG_BOOL:
        if (parse_bool(text, &v->flag) != 0) {
            seterr(err, errlen, "%s: '%s' is not a boolean (use true or false)", src->what,
                   o->secret ? "***" : text);
            return EINVAL;
        }
        return 0;
    case IMS_CFG_STRLIST:
        if (append)
            return list_append(v, text, strlen(text));
        return list_set_csv(v, text);
    }
    return EINVAL;
}

static int set_json(const ims_cfg_opt_t *o, cfg_val_t *v, json_t *j, const cfg_src_t *src,
                    char *err, size_t errlen)
{
    if (json_is_null(j)) {
        if (o->type == IMS_CFG_STR) {
            free(v->str);
            v->str = NULL;
            return 0;
        }
        if (o->type == IMS_CFG_STRLIST) {
            list_clear(v);
            return 0;
        }
    }
    switch (o->type) {
    case IMS_CFG_STR:
        if (!json_is_string(j)) {
            seterr(err, errlen, "%s: expected a string", src->what);
            return EINVAL;
        }
        return set_text(o, v, json_string_value(j), false, src, err, errlen);
    case IMS_CFG_INT:
        if (!json_is_integer(j)) {
            seterr(err, errlen, "%s: expected an integer", src->what);
            return EINVAL;
        }
        if (json_integer_value(j) < LONG_MIN || json_integer_value(j) > LONG_MAX) {
            seterr(err, errlen, "%s: integer out of range", src->what);
            return EINVAL;
        }
        if (check_range(o, (long)json_integer_value(j), src, err, errlen) != 0)
            return EINVAL;
        v->num = (long)json_integer_value(j);
        return 0;
    case IMS_CFG_BOOL:
        if (!json_is_boolean(j)) {
            seterr(err, errlen, "%s: expected true or false", src->what);
            return EINVAL;
        }
        v->flag = json_is_true(j);
        return 0;
    case IMS_CFG_STRLIST:
        if (json_is_string(j))
            return list_set_csv(v, json_string_value(j));
        if (!json_is_array(j)) {
            seterr(err, errlen, "%s: expected an array of strings", src->what);
            return EINVAL;
        }
        list_clear(v);
        size_t i;
        json_t *item;
        json_array_foreach(j, i, item)
        {
            if (!json_is_string(item)) {
                seterr(err, errlen, "%s: item %zu is not a string", src->what, i);
                return EINVAL;
            }
            if (list_append(v, json_string_value(item), strlen(json_string_value(item))) != 0)
                return ENOMEM;
        }
        return 0;
    }
    return EINVAL;
}

static const ims_cfg_opt_t *find_opt(const ims_cfg_opt_t *opts, size_t nopts, const char *key,
                                     size_t keylen, size_t *idx)
{
    for (size_t i = 0; i < nopts; i++) {
        if (strlen(opts[i].key) == keylen && strncmp(opts[i].key, key, keylen) == 0) {
            *idx = i;
            return &opts[i];
        }
    }
    return NULL;
}

void ims_cfg_free(ims_cfg_t *cfg)
{
    if (!cfg)
        return;
    for (size_t i = 0; i < cfg->nopts; i++) {
        free(cfg->vals[i].str);
        list_clear(&cfg->vals[i]);
    }
    free(cfg->vals);
    free(cfg);
}

static const char *type_name(ims_cfg_type_t t)
{
    switch (t) {
    case IMS_CFG_STR:
        return "string";
    case IMS_CFG_INT:
        return "integer";
    case IMS_CFG_BOOL:
        return "boolean";
    case IMS_CFG_STRLIST:
        return "list";
    }
    return "?";
}

static const char *metavar(ims_cfg_type_t t)
{
    switch (t) {
    case IMS_CFG_STR:
        return " VALUE";
    case IMS_CFG_INT:
        return " N";
    case IMS_CFG_BOOL:
        return "";
    case IMS_CFG_STRLIST:
        return " VALUE";
    }
    return "";
}

/* Default as shown to users; secrets are never shown. */
static const char *shown_default(const ims_cfg_opt_t *o)
{
    if (o->secret)
        return o->def ? "(secret)" : "(none)";
    if (o->def)
        return o->def;
    if (o->type == IMS_CFG_BOOL)
        return "false";
    return "(none)";
}

static void usage_impl(const ims_cfg_opt_t *opts, size_t nopts, const char *prog,
                       const char *summary, const char *envprefix, FILE *f);

void ims_cfg_usage(const ims_cfg_opt_t *opts, size_t nopts, const char *prog, const char *summary,
                   FILE *f)
{
    usage_impl(opts, nopts, prog, summary, NULL, f);
}

static void usage_impl(const ims_cfg_opt_t *opts, size_t nopts, const char *prog,
                       const char *summary, const char *envprefix, FILE *f)
{
    fprintf(f, "Usage: %s [OPTIONS]\n", prog);
    if (summary && *summary)
        fprintf(f, "%s\n", summary);
    fprintf(f, "\nOptions (flags win over environment, environment over the config file):\n");
    for (size_t i = 0; i < nopts; i++) {
        const ims_cfg_opt_t *o = &opts[i];
        char flag[128];
        snprintf(flag, sizeof(flag), "--%s%s", o->key, metavar(o->type));
        fprintf(f, "  %-26s %s\n", flag, o->help ? o->help : "");
        fprintf(f, "  %-26s env %s, default %s", "", o->env ? o->env : "(none)", shown_default(o));
        if (o->type == IMS_CFG_INT)
            fprintf(f, ", range %ld..%ld", o->min, o->max);
        if (o->type == IMS_CFG_STRLIST)
            fprintf(f, ", repeatable (env: comma-separated)");
        fprintf(f, "\n");
    }
    fprintf(f, "  %-26s %s\n", "--config FILE",
            "JSON config file: an object of option name -> value.");
    if (envprefix)
        fprintf(f, "  %-26s env %s_CONFIG\n", "", envprefix);
    fprintf(f, "  %-26s %s\n", "--help", "Print this help and exit.");
    fprintf(f, "  %-26s %s\n", "--version", "Print the version and exit.");
}

static void md_cell(FILE *f, const char *s)
{
    fputs(" ", f);
    for (; s && *s; s++) {
        if (*s == '|')
            fputs("\\|", f);
        else if (*s == '\n')
            fputc(' ', f);
        else
            fputc(*s, f);
    }
    fputs(" |", f);
}

static void dump_markdown(const ims_cfg_opt_t *opts, size_t nopts, const char *envprefix, FILE *f)
{
    fprintf(f, "| flag | env | type | default | range | description |\n");
    fprintf(f, "|---|---|---|---|---|---|\n");
    char buf[256];
    for (size_t i = 0; i < nopts; i++) {
        const ims_cfg_opt_t *o = &opts[i];
        fputc('|', f);
        snprintf(buf, sizeof(buf), "`--%s`", o->key);
        md_cell(f, buf);
        if (o->env)
            snprintf(buf, sizeof(buf), "`%s`", o->env);
        else
            snprintf(buf, sizeof(buf), "—");
        md_cell(f, buf);
        md_cell(f, type_name(o->type));
        const char *d = shown_default(o);
        if (o->def && !o->secret)
            snprintf(buf, sizeof(buf), "`%s`", d);
        else
            snprintf(buf, sizeof(buf), "%s", d);
        md_cell(f, buf);
        if (o->type == IMS_CFG_INT)
            snprintf(buf, sizeof(buf), "%ld..%ld", o->min, o->max);
        else
            snprintf(buf, sizeof(buf), "—");
        md_cell(f, buf);
        md_cell(f, o->help);
        fputc('\n', f);
    }
    fprintf(f,
            "| `--config` | `%s_CONFIG` | string | (none) | — | JSON config file (object of "
            "option name -> value). |\n",
            envprefix ? envprefix : "IMS");
}

/* One flag from argv, resolved against the table during the first pass. */
typedef struct flag_item {
    size_t idx;
    const char *value; /* NULL for a bare bool flag */
    char name[128];
} flag_item_t;

static int load_config_file(ims_cfg_t *cfg, const char *path, char *err, size_t errlen)
{
    json_error_t jerr;
    json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        if (jerr.line <= 0 && jerr.position == 0)
            seterr(err, errlen, "config %s: %s", path, jerr.text);
        else
            seterr(err, errlen, "config %s: invalid JSON at line %d, column %d: %s", path,
                   jerr.line, jerr.column, jerr.text);
        return EINVAL;
    }
    int rc = 0;
    if (!json_is_object(root)) {
        seterr(err, errlen, "config %s: the top level must be a JSON object", path);
        rc = EINVAL;
        goto out;
    }
    const char *key;
    json_t *val;
    json_object_foreach(root, key, val)
    {
        size_t idx;
        const ims_cfg_opt_t *o = find_opt(cfg->opts, cfg->nopts, key, strlen(key), &idx);
        if (!o) {
            seterr(err, errlen, "config %s: unknown key '%s'", path, key);
            rc = EINVAL;
            goto out;
        }
        cfg_src_t src;
        snprintf(src.what, sizeof(src.what), "config %s: %s", path, key);
        rc = set_json(o, &cfg->vals[idx], val, &src, err, errlen);
        if (rc != 0)
            goto out;
    }
out:
    json_decref(root);
    return rc;
}

ims_cfg_result_t ims_cfg_load(const ims_cfg_opt_t *opts, size_t nopts, const char *prog,
                              const char *summary, const char *envprefix, int argc, char **argv,
                              ims_cfg_t **out, char *err, size_t errlen)
{
    if (err && errlen)
        err[0] = '\0';
    ims_cfg_result_t res = IMS_CFG_ERROR;
    flag_item_t *flags = calloc((size_t)(argc > 0 ? argc : 1), sizeof(*flags));
    ims_cfg_t *cfg = calloc(1, sizeof(*cfg));
    if (!flags || !cfg) {
        seterr(err, errlen, "out of memory");
        goto fail_early;
    }
    cfg->opts = opts;
    cfg->nopts = nopts;
    cfg->vals = calloc(nopts ? nopts : 1, sizeof(*cfg->vals));
    if (!cfg->vals) {
        seterr(err, errlen, "out of memory");
        goto fail_early;
    }

    /* Pass 1: resolve every flag so unknown ones fail before anything else happens, and
     * --help / --version win wherever they appear. */
    size_t nflags = 0;
    const char *config_path = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage_impl(opts, nopts, prog, summary, envprefix, stdout);
            res = IMS_CFG_EXIT;
            goto fail_early;
        }
        if (strcmp(a, "--version") == 0) {
            printf("%s %s\n", prog, IMS_VERSION);
            res = IMS_CFG_EXIT;
            goto fail_early;
        }
        if (strcmp(a, "--dump-config-markdown") == 0) {
            dump_markdown(opts, nopts, envprefix, stdout);
            res = IMS_CFG_EXIT;
            goto fail_early;
        }
        if (strncmp(a, "--", 2) != 0 || a[2] == '\0') {
            seterr(err, errlen, "unexpected argument '%s' (try --help)", a);
            goto fail_early;
        }
        const char *name = a + 2;
        const char *eq = strchr(name, '=');
        size_t namelen = eq ? (size_t)(eq - name) : strlen(name);
        if (namelen == 6 && strncmp(name, "config", 6) == 0) {
            if (eq) {
                config_path = eq + 1;
            } else if (i + 1 < argc) {
                config_path = argv[++i];
            } else {
                seterr(err, errlen, "--config: missing value (a file name)");
                goto fail_early;
            }
            continue;
        }
        size_t idx;
        const ims_cfg_opt_t *o = find_opt(opts, nopts, name, namelen, &idx);
        if (!o) {
            seterr(err, errlen, "unknown flag '--%.*s' (try --help)", (int)namelen, name);
            goto fail_early;
        }
        flag_item_t *fi = &flags[nflags++];
        fi->idx = idx;
        snprintf(fi->name, sizeof(fi->name), "--%s", o->key);
        if (eq) {
            fi->value = eq + 1;
        } else if (o->type == IMS_CFG_BOOL) {
            fi->value = NULL;
        } else if (i + 1 < argc) {
            fi->value = argv[++i];
        } else {
            seterr(err, errlen, "--%s: missing value", o->key);
            goto fail_early;
        }
    }

    /* Defaults. */
    for (size_t i = 0; i < nopts; i++) {
        cfg_src_t src;
        snprintf(src.what, sizeof(src.what), "default of --%s", opts[i].key);
        if (opts[i].def &&
            set_text(&opts[i], &cfg->vals[i], opts[i].def, false, &src, err, errlen) != 0)
            goto fail_early;
        if (opts[i].type == IMS_CFG_STRLIST && !cfg->vals[i].list) {
            /* Getters hand out a NULL-terminated array even when empty. */
            cfg->vals[i].list = calloc(1, sizeof(char *));
            if (!cfg->vals[i].list)
                goto fail_early;
        }
    }

    /* Config file: the flag wins over <PREFIX>_CONFIG. */
    char envname[128];
    if (!config_path && envprefix) {
        snprintf(envname, sizeof(envname), "%s_CONFIG", envprefix);
        const char *e = getenv(envname);
        if (e && *e)
            config_path = e;
    }
    if (config_path && load_config_file(cfg, config_path, err, errlen) != 0)
        goto fail_early;

    /* Environment; an empty variable counts as unset (docker-compose "${X:-}" idiom). */
    for (size_t i = 0; i < nopts; i++) {
        if (!opts[i].env)
            continue;
        const char *e = getenv(opts[i].env);
        if (!e || !*e)
            continue;
        cfg_src_t src;
        snprintf(src.what, sizeof(src.what), "%s", opts[i].env);
        if (set_text(&opts[i], &cfg->vals[i], e, false, &src, err, errlen) != 0)
            goto fail_early;
    }

    /* Flags; the first occurrence of a list flag replaces lower layers, later ones append. */
    bool *seen = calloc(nopts ? nopts : 1, sizeof(bool));
    if (!seen)
        goto fail_early;
    for (size_t k = 0; k < nflags; k++) {
        flag_item_t *fi = &flags[k];
        const ims_cfg_opt_t *o = &opts[fi->idx];
        cfg_val_t *v = &cfg->vals[fi->idx];
        cfg_src_t src;
        snprintf(src.what, sizeof(src.what), "%s", fi->name);
        if (o->type == IMS_CFG_STRLIST && !seen[fi->idx]) {
            list_clear(v);
            v->list = calloc(1, sizeof(char *));
            if (!v->list) {
                free(seen);
                goto fail_early;
            }
        }
        seen[fi->idx] = true;
        int rc = set_text(o, v, fi->value ? fi->value : "true", o->type == IMS_CFG_STRLIST, &src,
                          err, errlen);
        if (rc != 0) {
            if (rc == ENOMEM)
                seterr(err, errlen, "out of memory");
            free(seen);
            goto fail_early;
        }
    }
    free(seen);
    free(flags);
    *out = cfg;
    return IMS_CFG_OK;

fail_early:
    if (res == IMS_CFG_ERROR && err && errlen && err[0] == '\0')
        seterr(err, errlen, "out of memory");
    free(flags);
    ims_cfg_free(cfg);
    return res;
}

static const cfg_val_t *lookup(const ims_cfg_t *cfg, const char *key, ims_cfg_type_t type)
{
    for (size_t i = 0; i < cfg->nopts; i++) {
        if (strcmp(cfg->opts[i].key, key) == 0) {
            if (cfg->opts[i].type != type) {
                fprintf(stderr, "ims_cfg: key '%s' read with the wrong type\n", key);
                abort();
            }
            return &cfg->vals[i];
        }
    }
    fprintf(stderr, "ims_cfg: key '%s' is not in the table\n", key);
    abort();
}

const char *ims_cfg_str(const ims_cfg_t *cfg, const char *key)
{
    return lookup(cfg, key, IMS_CFG_STR)->str;
}

long ims_cfg_int(const ims_cfg_t *cfg, const char *key)
{
    return lookup(cfg, key, IMS_CFG_INT)->num;
}

bool ims_cfg_bool(const ims_cfg_t *cfg, const char *key)
{
    return lookup(cfg, key, IMS_CFG_BOOL)->flag;
}

size_t ims_cfg_list(const ims_cfg_t *cfg, const char *key, const char *const **items)
{
    static const char *const empty[] = {NULL};
    const cfg_val_t *v = lookup(cfg, key, IMS_CFG_STRLIST);
    if (items)
        *items = v->list ? (const char *const *)v->list : empty;
    return v->nlist;
}
