/* Fault-injection rules: strict validation of the POST document (every refusal names the
 * field), a small table of live rules bounded by count and TTL, and the match step. */
#include "ims/fault.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ims/util.h"

#define DEF_MAX_RULES 64
#define MAX_COUNT     100000
#define MAX_TTL_S     86400
#define DEF_COUNT     1
#define DEF_TTL_S     600
#define MAX_IDENT     256
#define NKINDS        7

#define ST(x) (1u << (x))
#define STAGES_ALL                                                                                 \
    (ST(IMS_STAGE_ANY) | ST(IMS_STAGE_INITIAL) | ST(IMS_STAGE_AUTH) | ST(IMS_STAGE_REREGISTER))

/* One row per action kind: its key in "action", the other keys it takes, the stages it
 * makes sense in, and whether it only applies to REGISTER. */
typedef struct kind_row {
    const char *key;
    ims_fault_kind_t kind;
    const char *extras[2];
    unsigned stages;
    bool register_only;
    const char *stage_why;
} kind_row_t;

static const kind_row_t kinds[NKINDS] = {
    {"reply", IMS_FAULT_REPLY, {"reason", "retry_after"}, STAGES_ALL, false, NULL},
    {"drop", IMS_FAULT_DROP, {"target", NULL}, STAGES_ALL, false, NULL},
    {"delay_ms", IMS_FAULT_DELAY, {"target", NULL}, STAGES_ALL, false, NULL},
    {"stale_nonce",
     IMS_FAULT_STALE_NONCE,
     {NULL, NULL},
     ST(IMS_STAGE_ANY) | ST(IMS_STAGE_AUTH) | ST(IMS_STAGE_REREGISTER),
     true,
     "stale_nonce acts on a REGISTER that answers a challenge: use stage auth, reregister or "
     "any"},
    {"sqn_out_of_sync",
     IMS_FAULT_SQN_OUT_OF_SYNC,
     {NULL, NULL},
     ST(IMS_STAGE_ANY) | ST(IMS_STAGE_INITIAL) | ST(IMS_STAGE_REREGISTER),
     true,
     "sqn_out_of_sync changes the challenge, which answers a REGISTER without credentials: use "
     "stage initial, reregister or any"},
    {"expires",
     IMS_FAULT_EXPIRES,
     {NULL, NULL},
     ST(IMS_STAGE_ANY) | ST(IMS_STAGE_AUTH) | ST(IMS_STAGE_REREGISTER),
     true,
     "expires changes what a successful REGISTER is granted: use stage auth, reregister or "
     "any"},
    {"deregister_after_s",
     IMS_FAULT_DEREGISTER,
     {"reason", NULL},
     ST(IMS_STAGE_ANY) | ST(IMS_STAGE_AUTH) | ST(IMS_STAGE_REREGISTER),
     true,
     "deregister_after_s follows a successful REGISTER: use stage auth, reregister or any"},
};

static const char *const stage_names[] = {"any", "initial", "auth", "reregister", "none"};

typedef struct rule {
    unsigned id;
    char impi[MAX_IDENT + 1], impu[MAX_IDENT + 1], imsi[16], method[32];
    ims_fault_stage_t stage;
    ims_fault_action_t act;
    unsigned count, remaining, fired, ttl_s;
    int64_t created_ms, expires_ms;
} rule_t;

struct ims_faults {
    ims_faults_opts_t o;
    char daemon[16];
    rule_t *rules; /* oldest first */
    size_t n;
    unsigned next_id;
    uint64_t fired[NKINDS], added, expired, exhausted;
};

int ims_fault_stage_parse(const char *s)
{
    for (int i = 0; s && i < IMS_STAGE_NONE; i++)
        if (strcmp(s, stage_names[i]) == 0)
            return i;
    return -1;
}

const char *ims_fault_stage_name(ims_fault_stage_t s)
{
    return (unsigned)s <= IMS_STAGE_NONE ? stage_names[s] : "?";
}

static int kind_index(ims_fault_kind_t k)
{
    for (int i = 0; i < NKINDS; i++)
        if (kinds[i].kind == k)
            return i;
    return 0;
}

int ims_faults_new(const ims_faults_opts_t *opts, ims_faults_t **out)
{
    ims_faults_t *f = calloc(1, sizeof(*f));
    if (!f)
        return ENOMEM;
    f->o = opts ? *opts : (ims_faults_opts_t){.allowed = IMS_FAULT_ALL};
    f->o.max_rules = f->o.max_rules ? f->o.max_rules : DEF_MAX_RULES;
    snprintf(f->daemon, sizeof(f->daemon), "%s", f->o.daemon ? f->o.daemon : "ims");
    f->o.daemon = f->daemon;
    f->rules = calloc(f->o.max_rules, sizeof(*f->rules));
    if (!f->rules) {
        free(f);
        return ENOMEM;
    }
    f->next_id = 1;
    *out = f;
    return 0;
}

void ims_faults_free(ims_faults_t *f)
{
    if (!f)
        return;
    free(f->rules);
    free(f);
}

size_t ims_faults_count(const ims_faults_t *f)
{
    return f ? f->n : 0;
}

static void remove_at(ims_faults_t *f, size_t i)
{
    memmove(&f->rules[i], &f->rules[i + 1], (f->n - i - 1) * sizeof(*f->rules));
    f->n--;
}

static void expire(ims_faults_t *f, int64_t now_ms)
{
    for (size_t i = 0; i < f->n;) {
        if (now_ms >= f->rules[i].expires_ms) {
            remove_at(f, i);
            f->expired++;
        } else {
            i++;
        }
    }
}

/* ---- validation ---- */

typedef struct verr {
    char *buf;
    size_t len;
} verr_t;

static bool fail(verr_t *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static bool fail(verr_t *e, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->buf, e->len, fmt, ap);
    va_end(ap);
    return false;
}

/* Every key of obj must be in names (NULL-terminated). */
static bool only_keys(const json_t *obj, const char *where, const char *const *names, verr_t *e)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)obj, k, v)
    {
        bool ok = false;
        for (const char *const *n = names; *n && !ok; n++)
            ok = strcmp(k, *n) == 0;
        if (!ok) {
            char list[200] = "";
            for (const char *const *n = names; *n; n++)
                snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s",
                         n == names ? "" : ", ", *n);
            return fail(e, "unknown field '%s%s%s' (%s takes: %s)", where, *where ? "." : "", k,
                        *where ? where : "the rule", list);
        }
    }
    return true;
}

/* An optional integer in [min, max]; def when absent. */
static bool get_int(const json_t *obj, const char *key, const char *where, long min, long max,
                    long def, long *out, verr_t *e)
{
    json_t *v = json_object_get(obj, key);
    if (!v) {
        *out = def;
        return true;
    }
    if (!json_is_integer(v))
        return fail(e, "%s%s%s must be an integer from %ld to %ld", where, *where ? "." : "", key,
                    min, max);
    json_int_t x = json_integer_value(v);
    if (x < min || x > max)
        return fail(e, "%s%s%s must be from %ld to %ld (got %lld)", where, *where ? "." : "", key,
                    min, max, (long long)x);
    *out = (long)x;
    return true;
}

/* A string of printable characters (no CR, LF or other controls) of 1..max bytes. */
static bool get_text(const json_t *obj, const char *key, const char *where, size_t max, char *out,
                     size_t cap, verr_t *e)
{
    json_t *v = json_object_get(obj, key);
    if (!v)
        return true;
    const char *s = json_string_value(v);
    if (!s)
        return fail(e, "%s.%s must be a string", where, key);
    size_t n = strlen(s);
    if (n == 0 || n > max || n >= cap)
        return fail(e, "%s.%s must be 1 to %zu characters (got %zu)", where, key, max, n);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            return fail(e, "%s.%s must not contain control characters (CR, LF, tabs)", where, key);
    memcpy(out, s, n + 1);
    return true;
}

static bool check_match(const json_t *m, rule_t *r, verr_t *e)
{
    static const char *const keys[] = {"impi", "impu", "imsi", "method", "stage", NULL};
    if (m && !json_is_object(m))
        return fail(e, "match must be an object");
    if (!m)
        return true;
    if (!only_keys(m, "match", keys, e) ||
        !get_text(m, "impi", "match", MAX_IDENT, r->impi, sizeof(r->impi), e) ||
        !get_text(m, "impu", "match", MAX_IDENT, r->impu, sizeof(r->impu), e) ||
        !get_text(m, "imsi", "match", 15, r->imsi, sizeof(r->imsi), e) ||
        !get_text(m, "method", "match", 31, r->method, sizeof(r->method), e))
        return false;
    if (*r->imsi && (strlen(r->imsi) < 5 || strspn(r->imsi, "0123456789") != strlen(r->imsi)))
        return fail(e, "match.imsi must be 5 to 15 digits (got '%s')", r->imsi);
    if (*r->impu && strncasecmp(r->impu, "sip:", 4) != 0 && strncasecmp(r->impu, "sips:", 5) &&
        strncasecmp(r->impu, "tel:", 4) != 0)
        return fail(e, "match.impu must be a sip:, sips: or tel: URI (got '%s')", r->impu);
    if (strpbrk(r->impi, " ") || strpbrk(r->impu, " "))
        return fail(e, "match.impi and match.impu must not contain spaces");
    for (char *p = r->method; *p; p++) {
        if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z')))
            return fail(e, "match.method must be a SIP method name such as REGISTER (got '%s')",
                        r->method);
        *p = (char)(*p & ~0x20);
    }
    json_t *st = json_object_get(m, "stage");
    if (st) {
        int s = ims_fault_stage_parse(json_string_value(st));
        if (s < 0)
            return fail(e, "match.stage must be one of initial, auth, reregister, any");
        r->stage = (ims_fault_stage_t)s;
    }
    return true;
}

/* Kind-specific fields of the action. */
static bool check_kind_fields(ims_faults_t *f, const json_t *a, const kind_row_t *k, rule_t *r,
                              verr_t *e)
{
    json_t *v = json_object_get(a, k->key);
    ims_fault_action_t *act = &r->act;
    long x;
    switch (k->kind) {
    case IMS_FAULT_REPLY:
        if (!get_int(a, "reply", "action", 300, 699, 0, &x, e))
            return false;
        act->code = (int)x;
        snprintf(act->reason, sizeof(act->reason), "Fault Injected");
        if (!get_text(a, "reason", "action", 100, act->reason, sizeof(act->reason), e) ||
            !get_int(a, "retry_after", "action", 0, 86400, -1, &x, e))
            return false;
        act->retry_after = (int)x;
        return true;
    case IMS_FAULT_DROP:
    case IMS_FAULT_STALE_NONCE:
    case IMS_FAULT_SQN_OUT_OF_SYNC:
        if (!json_is_true(v))
            return fail(e, "action.%s must be true", k->key);
        break;
    case IMS_FAULT_DELAY:
        if (!get_int(a, "delay_ms", "action", 1, 60000, 0, &x, e))
            return false;
        act->delay_ms = (unsigned)x;
        break;
    case IMS_FAULT_EXPIRES:
        if (!get_int(a, "expires", "action", 1, 86400, 0, &x, e))
            return false;
        act->expires = (unsigned)x;
        return true;
    case IMS_FAULT_DEREGISTER:
        if (!get_int(a, "deregister_after_s", "action", 0, 86400, 0, &x, e))
            return false;
        act->after_s = (unsigned)x;
        snprintf(act->reason, sizeof(act->reason), "deactivated");
        if (!get_text(a, "reason", "action", 11, act->reason, sizeof(act->reason), e))
            return false;
        if (strcmp(act->reason, "deactivated") != 0 && strcmp(act->reason, "rejected") != 0)
            return fail(e, "action.reason must be deactivated or rejected (got '%s')", act->reason);
        return true;
    default:
        break;
    }
    (void)f;
    json_t *t = json_object_get(a, "target");
    if (t) {
        const char *s = json_string_value(t);
        if (!s || (strcmp(s, "request") != 0 && strcmp(s, "answer") != 0))
            return fail(e, "action.target must be request or answer");
        act->on_answer = strcmp(s, "answer") == 0;
    }
    return true;
}

static bool check_action(ims_faults_t *f, const json_t *a, rule_t *r, verr_t *e)
{
    if (!json_is_object(a))
        return fail(e, "action must be an object with one of: reply, drop, delay_ms, "
                       "stale_nonce, sqn_out_of_sync, expires, deregister_after_s");
    const kind_row_t *k = NULL;
    for (int i = 0; i < NKINDS; i++) {
        if (!json_object_get(a, kinds[i].key))
            continue;
        if (k)
            return fail(e, "action has both '%s' and '%s': give exactly one", k->key, kinds[i].key);
        k = &kinds[i];
    }
    if (!k)
        return fail(e, "action names no known fault: give one of reply, drop, delay_ms, "
                       "stale_nonce, sqn_out_of_sync, expires, deregister_after_s");
    const char *keys[] = {k->key, k->extras[0], k->extras[1], NULL};
    if (!only_keys(a, "action", keys, e))
        return false;
    if (!(f->o.allowed & k->kind)) {
        const char *why = f->o.why_not[kind_index(k->kind)];
        return fail(e, "the %s does not carry out '%s'%s%s", f->daemon, k->key, why ? ": " : "",
                    why ? why : "");
    }
    r->act.kind = k->kind;
    if (!(k->stages & ST(r->stage)))
        return fail(e, "%s", k->stage_why);
    if (k->register_only && *r->method && strcmp(r->method, "REGISTER") != 0)
        return fail(e, "action.%s applies to REGISTER only (match.method is %s)", k->key,
                    r->method);
    return check_kind_fields(f, a, k, r, e);
}

static void summarise(rule_t *r)
{
    ims_fault_action_t *a = &r->act;
    char what[160];
    const char *on = a->on_answer ? "the answer" : "the request";
    switch (a->kind) {
    case IMS_FAULT_REPLY:
        snprintf(what, sizeof(what), "reply %d %s%s", a->code, a->reason,
                 a->retry_after >= 0 ? " with Retry-After" : "");
        break;
    case IMS_FAULT_DROP:
        snprintf(what, sizeof(what), "drop %s", on);
        break;
    case IMS_FAULT_DELAY:
        snprintf(what, sizeof(what), "delay %s by %u ms", on, a->delay_ms);
        break;
    case IMS_FAULT_STALE_NONCE:
        snprintf(what, sizeof(what), "treat the nonce as stale");
        break;
    case IMS_FAULT_SQN_OUT_OF_SYNC:
        snprintf(what, sizeof(what), "challenge with an out-of-range SQN");
        break;
    case IMS_FAULT_EXPIRES:
        snprintf(what, sizeof(what), "grant expires %u", a->expires);
        break;
    default:
        snprintf(what, sizeof(what), "deregister (%s) after %u s", a->reason, a->after_s);
        break;
    }
    snprintf(a->summary, sizeof(a->summary), "fault rule %u: %s", r->id, what);
}

static json_t *rule_json(const rule_t *r, int64_t now_ms)
{
    json_t *m = json_object(), *a = json_object();
    if (*r->impi)
        json_object_set_new(m, "impi", json_string(r->impi));
    if (*r->impu)
        json_object_set_new(m, "impu", json_string(r->impu));
    if (*r->imsi)
        json_object_set_new(m, "imsi", json_string(r->imsi));
    if (*r->method)
        json_object_set_new(m, "method", json_string(r->method));
    json_object_set_new(m, "stage", json_string(ims_fault_stage_name(r->stage)));
    const ims_fault_action_t *x = &r->act;
    const char *key = kinds[kind_index(x->kind)].key;
    switch (x->kind) {
    case IMS_FAULT_REPLY:
        json_object_set_new(a, key, json_integer(x->code));
        json_object_set_new(a, "reason", json_string(x->reason));
        if (x->retry_after >= 0)
            json_object_set_new(a, "retry_after", json_integer(x->retry_after));
        break;
    case IMS_FAULT_DELAY:
        json_object_set_new(a, key, json_integer(x->delay_ms));
        json_object_set_new(a, "target", json_string(x->on_answer ? "answer" : "request"));
        break;
    case IMS_FAULT_DROP:
        json_object_set_new(a, "target", json_string(x->on_answer ? "answer" : "request"));
        json_object_set_new(a, key, json_true());
        break;
    case IMS_FAULT_EXPIRES:
        json_object_set_new(a, key, json_integer(x->expires));
        break;
    case IMS_FAULT_DEREGISTER:
        json_object_set_new(a, key, json_integer(x->after_s));
        json_object_set_new(a, "reason", json_string(x->reason));
        break;
    default:
        json_object_set_new(a, key, json_true());
        break;
    }
    int64_t left = r->expires_ms - now_ms;
    return json_pack("{s:i, s:o, s:o, s:i, s:i, s:i, s:i, s:I, s:s}", "id", (int)r->id, "match", m,
                     "action", a, "count", (int)r->count, "remaining", (int)r->remaining, "fired",
                     (int)r->fired, "ttl_s", (int)r->ttl_s, "expires_in",
                     (json_int_t)(left > 0 ? (left + 999) / 1000 : 0), "summary", r->act.summary);
}

int ims_faults_add(ims_faults_t *f, const json_t *body, int64_t now_ms, json_t **out, char *err,
                   size_t errlen)
{
    static const char *const keys[] = {"match", "action", "count", "ttl_s", NULL};
    verr_t e = {err, errlen};
    rule_t r = {.act.retry_after = -1};
    long count, ttl;
    if (!json_is_object(body)) {
        fail(&e, "the rule must be a JSON object with match, action, count and ttl_s");
        return EINVAL;
    }
    if (!only_keys(body, "", keys, &e) || !check_match(json_object_get(body, "match"), &r, &e))
        return EINVAL;
    if (!json_object_get(body, "action")) {
        fail(&e, "action is required");
        return EINVAL;
    }
    if (!check_action(f, json_object_get(body, "action"), &r, &e) ||
        !get_int(body, "count", "", 1, MAX_COUNT, DEF_COUNT, &count, &e) ||
        !get_int(body, "ttl_s", "", 1, MAX_TTL_S, DEF_TTL_S, &ttl, &e))
        return EINVAL;
    expire(f, now_ms);
    if (f->n >= f->o.max_rules) {
        fail(&e, "the %s already holds %zu fault rules, its limit: delete some first", f->daemon,
             f->n);
        return ENOSPC;
    }
    r.id = f->next_id++;
    r.act.rule_id = r.id;
    r.count = r.remaining = (unsigned)count;
    r.ttl_s = (unsigned)ttl;
    r.created_ms = now_ms;
    r.expires_ms = now_ms + ttl * 1000;
    summarise(&r);
    f->rules[f->n++] = r;
    f->added++;
    if (out)
        *out = rule_json(&r, now_ms);
    return 0;
}

json_t *ims_faults_list(ims_faults_t *f, int64_t now_ms)
{
    expire(f, now_ms);
    json_t *items = json_array();
    for (size_t i = 0; i < f->n; i++)
        json_array_append_new(items, rule_json(&f->rules[i], now_ms));
    return json_pack("{s:o, s:i}", "items", items, "total", (int)f->n);
}

int ims_faults_delete(ims_faults_t *f, unsigned id, int64_t now_ms)
{
    expire(f, now_ms);
    for (size_t i = 0; i < f->n; i++) {
        if (f->rules[i].id == id) {
            remove_at(f, i);
            return 0;
        }
    }
    return ENOENT;
}

size_t ims_faults_clear(ims_faults_t *f)
{
    size_t n = f->n;
    f->n = 0;
    return n;
}

static bool imsi_of(const ims_fault_query_t *q, char out[16])
{
    if (q->imsi && *q->imsi) {
        snprintf(out, 16, "%s", q->imsi);
        return true;
    }
    return ims_imsi_from_impi(q->impi, out);
}

static bool field_ok(const char *want, const char *have)
{
    return !*want || (have && strcmp(want, have) == 0);
}

static bool rule_matches(const rule_t *r, const ims_fault_query_t *q, const char *imsi)
{
    if (!field_ok(r->impi, q->impi) || !field_ok(r->impu, q->impu) || !field_ok(r->imsi, imsi))
        return false;
    if (*r->method && (!q->method || strcasecmp(r->method, q->method) != 0))
        return false;
    return r->stage == IMS_STAGE_ANY || r->stage == q->stage;
}

bool ims_faults_match(ims_faults_t *f, const ims_fault_query_t *q, unsigned kinds_mask,
                      int64_t now_ms, ims_fault_action_t *out)
{
    if (!f || f->n == 0)
        return false;
    expire(f, now_ms);
    char imsi[16] = "";
    imsi_of(q, imsi);
    for (size_t i = 0; i < f->n; i++) {
        rule_t *r = &f->rules[i];
        if (!(r->act.kind & kinds_mask) || !rule_matches(r, q, imsi))
            continue;
        r->remaining--;
        r->fired++;
        f->fired[kind_index(r->act.kind)]++;
        *out = r->act;
        snprintf(out->summary + strlen(out->summary), sizeof(out->summary) - strlen(out->summary),
                 " (%u of %u)", r->fired, r->count);
        if (r->remaining == 0) {
            remove_at(f, i);
            f->exhausted++;
        }
        return true;
    }
    return false;
}

void ims_faults_metrics(const ims_faults_t *f, FILE *out)
{
    const char *d = f->daemon;
    fprintf(out,
            "# HELP %s_faults_rules Live fault-injection rules.\n# TYPE %s_faults_rules gauge\n"
            "%s_faults_rules %zu\n"
            "# HELP %s_faults_added_total Fault rules added.\n"
            "# TYPE %s_faults_added_total counter\n%s_faults_added_total %llu\n"
            "# HELP %s_faults_ended_total Fault rules ended by their count or their ttl.\n"
            "# TYPE %s_faults_ended_total counter\n"
            "%s_faults_ended_total{by=\"count\"} %llu\n%s_faults_ended_total{by=\"ttl\"} %llu\n"
            "# HELP %s_faults_fired_total Fault rules fired, by action.\n"
            "# TYPE %s_faults_fired_total counter\n",
            d, d, d, f->n, d, d, d, (unsigned long long)f->added, d, d, d,
            (unsigned long long)f->exhausted, d, (unsigned long long)f->expired, d, d);
    for (int i = 0; i < NKINDS; i++)
        fprintf(out, "%s_faults_fired_total{action=\"%s\"} %llu\n", d, kinds[i].key,
                (unsigned long long)f->fired[i]);
}
