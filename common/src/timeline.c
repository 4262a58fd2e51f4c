/* The registration timeline: entries kept as compact JSON in one global list (oldest
 * first) and one list per subscriber, with a hash of identities (IMPI, IMPUs, IMSI). */
#include "ims/timeline.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ims/redact.h"
#include "ims/jsonw.h"
#include "ims/map.h"
#include "ims/util.h"

#define DEF_PER_SUB   200
#define DEF_TOTAL     20000
#define DEF_MAX_BYTES (16u * 1024 * 1024)
#define DEF_SIP_MAX   4096
#define MAX_ALIASES   8 /* identities per subscriber: IMPI, IMSI and a few IMPUs */
#define MAX_IDENT_LEN 256

typedef struct tl_sub tl_sub_t;

typedef struct tl_entry {
    struct tl_entry *gprev, *gnext; /* all entries, oldest first */
    struct tl_entry *snext;         /* the subscriber's entries, oldest first */
    tl_sub_t *sub;
    uint64_t seq;
    size_t len;
    char json[];
} tl_entry_t;

struct tl_sub {
    tl_entry_t *head, *tail;
    size_t n;
    char *aliases[MAX_ALIASES]; /* the identities filed for it in the map */
    size_t naliases;
};

struct ims_timeline {
    ims_timeline_opts_t o;
    char *daemon;
    tl_entry_t *head, *tail;
    size_t n, bytes, nsubs;
    uint64_t seq, evicted;
    ims_map_t *ids; /* identity -> tl_sub_t; the keys are the subscribers' alias strings */
    ims_timeline_listener_cb cb;
    void *cb_arg;
    tl_sub_t *pinned; /* the subscriber an entry is being added for: never freed */
};

/* Rough cost of one identity in the map, for the byte bound. */
#define ALIAS_COST(len) (2 * (len) + 48)

/* Files key for sub unless it is taken, too long or the subscriber has enough. */
static void alias_add(ims_timeline_t *tl, tl_sub_t *sub, const char *key)
{
    size_t len = strlen(key);
    if (len == 0 || len > MAX_IDENT_LEN || sub->naliases >= MAX_ALIASES ||
        ims_map_get(tl->ids, key))
        return;
    char *copy = strdup(key);
    if (!copy || ims_map_add(tl->ids, copy, sub) != 0) {
        free(copy);
        return;
    }
    sub->aliases[sub->naliases++] = copy;
    tl->bytes += ALIAS_COST(len);
}

static void sub_free(ims_timeline_t *tl, tl_sub_t *sub)
{
    for (size_t i = 0; i < sub->naliases; i++) {
        ims_map_del(tl->ids, sub->aliases[i]);
        tl->bytes -= ALIAS_COST(strlen(sub->aliases[i]));
        free(sub->aliases[i]);
    }
    tl->bytes -= sizeof(*sub);
    tl->nsubs--;
    free(sub);
}

/* Removes the subscriber's oldest entry (which is also the oldest of its entries in the
 * global list, as both are appended in the same order). */
static void evict_sub_head(ims_timeline_t *tl, tl_sub_t *sub)
{
    tl_entry_t *e = sub->head;
    sub->head = e->snext;
    if (!sub->head)
        sub->tail = NULL;
    sub->n--;
    if (e->gprev)
        e->gprev->gnext = e->gnext;
    else
        tl->head = e->gnext;
    if (e->gnext)
        e->gnext->gprev = e->gprev;
    else
        tl->tail = e->gprev;
    tl->n--;
    tl->bytes -= sizeof(*e) + e->len + 1;
    tl->evicted++;
    free(e);
    if (sub->n == 0 && sub != tl->pinned)
        sub_free(tl, sub);
}

int ims_timeline_new(const ims_timeline_opts_t *opts, ims_timeline_t **out)
{
    ims_timeline_opts_t o = opts ? *opts : (ims_timeline_opts_t){0};
    o.per_subscriber = o.per_subscriber ? o.per_subscriber : DEF_PER_SUB;
    o.total = o.total ? o.total : DEF_TOTAL;
    o.max_bytes = o.max_bytes ? o.max_bytes : DEF_MAX_BYTES;
    o.sip_max = o.sip_max ? o.sip_max : DEF_SIP_MAX;
    if (o.per_subscriber > o.total)
        return EINVAL;
    ims_timeline_t *tl = calloc(1, sizeof(*tl));
    if (!tl)
        return ENOMEM;
    tl->daemon = strdup(o.daemon ? o.daemon : "ims");
    if (!tl->daemon || ims_map_create(&ims_map_str_ref, 0, &tl->ids) != 0) {
        free(tl->daemon);
        free(tl);
        return ENOMEM;
    }
    o.daemon = tl->daemon;
    tl->o = o;
    *out = tl;
    return 0;
}

void ims_timeline_free(ims_timeline_t *tl)
{
    if (!tl)
        return;
    while (tl->head)
        evict_sub_head(tl, tl->head->sub);
    ims_map_free(tl->ids);
    free(tl->daemon);
    free(tl);
}

void ims_timeline_set_listener(ims_timeline_t *tl, ims_timeline_listener_cb cb, void *arg)
{
    tl->cb = cb;
    tl->cb_arg = arg;
}

const void *ims_timeline_find(const ims_timeline_t *tl, const char *ident)
{
    return ident && *ident ? ims_map_get(tl->ids, ident) : NULL;
}

/* The subscriber of the first known identity, else a new one; every identity given is
 * filed for it (those another subscriber holds stay with that one). */
static tl_sub_t *sub_for(ims_timeline_t *tl, const char *ids[3])
{
    tl_sub_t *sub = NULL;
    for (int i = 0; i < 3 && !sub; i++)
        sub = (tl_sub_t *)ims_timeline_find(tl, ids[i]);
    if (!sub) {
        sub = calloc(1, sizeof(*sub));
        if (!sub)
            return NULL;
        tl->nsubs++;
        tl->bytes += sizeof(*sub);
    }
    for (int i = 0; i < 3; i++)
        if (ids[i] && *ids[i])
            alias_add(tl, sub, ids[i]);
    if (sub->naliases == 0) { /* every identity was unusable */
        sub_free(tl, sub);
        return NULL;
    }
    return sub;
}

/* Now as ISO 8601 UTC with milliseconds; returns microseconds since the epoch. */
static int64_t iso_time(char *out, size_t cap)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(out, cap, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, cap - n, ".%03ldZ", ts.tv_nsec / 1000000);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void addr(ims_jw_t *w, const char *key, const char *ip, uint16_t port)
{
    if (!ip || !*ip)
        return;
    ims_jw_begin(w, key);
    ims_jw_str(w, "addr", ip);
    ims_jw_int(w, "port", port);
    ims_jw_end(w);
}

/* The entry as one line of JSON (takes rec->details). Written directly, not through a
 * jansson tree: this runs for every message a CSCF handles. */
static char *entry_json(ims_timeline_t *tl, const ims_tl_record_t *rec, const char *imsi,
                        uint64_t seq, size_t *len)
{
    char when[40];
    int64_t ts_us = iso_time(when, sizeof(when));
    ims_jw_t w;
    ims_jw_init(&w);
    ims_jw_begin(&w, NULL);
    ims_jw_int(&w, "seq", (long long)seq);
    ims_jw_str(&w, "time", when);
    ims_jw_int(&w, "ts_us", ts_us);
    ims_jw_str(&w, "daemon", tl->daemon);
    ims_jw_str(&w, "kind", rec->kind ? rec->kind : "decision");
    ims_jw_str(&w, "direction", rec->direction);
    ims_jw_str(&w, "impi", rec->impi);
    ims_jw_str(&w, "impu", rec->impu);
    ims_jw_str(&w, "imsi", imsi);
    ims_jw_str(&w, "method", rec->method);
    ims_jw_str(&w, "call_id", rec->call_id);
    if (rec->cseq)
        ims_jw_int(&w, "cseq", rec->cseq);
    if (rec->status)
        ims_jw_int(&w, "status", rec->status);
    ims_jw_str(&w, "reason", rec->reason);
    addr(&w, "src", rec->src, rec->src_port);
    addr(&w, "dst", rec->dst, rec->dst_port);
    ims_jw_str(&w, "transport", rec->transport);
    ims_jw_bool(&w, "protected", rec->protected_);
    ims_jw_str(&w, "action", rec->action);
    if (rec->details) {
        char *d = json_dumps(rec->details, JSON_COMPACT);
        ims_jw_raw(&w, "details", d);
        free(d);
        json_decref(rec->details);
    }
    const ims_hint_row_t *row = ims_hint_row(rec->hint);
    if (row || (rec->hint_detail && *rec->hint_detail)) {
        char hint[1024];
        ims_hint_format(rec->hint, rec->hint_detail, hint, sizeof(hint));
        ims_jw_str(&w, "hint_id", row ? row->id : NULL);
        ims_jw_str(&w, "hint", hint);
    }
    if (rec->sip && rec->sip_len) {
        size_t n = 0;
        char *text = ims_redact_sip(rec->sip, rec->sip_len, tl->o.sip_max, &n);
        ims_jw_strn(&w, "sip", text, n);
        free(text);
    }
    ims_jw_end(&w);
    return ims_jw_take(&w, len);
}

static void make_room(ims_timeline_t *tl, tl_sub_t *sub, size_t need)
{
    tl->pinned = sub; /* it may lose all its entries here but gets one at once */
    while (sub->n >= tl->o.per_subscriber)
        evict_sub_head(tl, sub);
    while (tl->head && (tl->n >= tl->o.total || tl->bytes + need > tl->o.max_bytes))
        evict_sub_head(tl, tl->head->sub);
    tl->pinned = NULL;
}

uint64_t ims_timeline_record(ims_timeline_t *tl, const ims_tl_record_t *rec)
{
    if (!tl || tl->o.disabled || !rec) {
        if (rec)
            json_decref(rec->details);
        return 0;
    }
    char imsi_buf[16];
    const char *imsi = rec->imsi;
    if ((!imsi || !*imsi) && ims_imsi_from_impi(rec->impi, imsi_buf))
        imsi = imsi_buf;
    const char *ids[3] = {rec->impi, imsi, rec->impu};
    tl_sub_t *sub = sub_for(tl, ids);
    if (!sub) {
        json_decref(rec->details);
        return 0;
    }
    uint64_t seq = tl->seq + 1;
    size_t len = 0;
    char *text = entry_json(tl, rec, imsi, seq, &len);
    tl_entry_t *e = text ? malloc(sizeof(*e) + len + 1) : NULL;
    if (!e) {
        free(text);
        if (sub->n == 0)
            sub_free(tl, sub);
        return 0;
    }
    make_room(tl, sub, sizeof(*e) + len + 1);
    memcpy(e->json, text, len + 1);
    free(text);
    *e = (tl_entry_t){.gprev = tl->tail, .sub = sub, .seq = seq, .len = len};
    if (tl->tail)
        tl->tail->gnext = e;
    else
        tl->head = e;
    tl->tail = e;
    if (sub->tail)
        sub->tail->snext = e;
    else
        sub->head = e;
    sub->tail = e;
    sub->n++;
    tl->n++;
    tl->bytes += sizeof(*e) + len + 1;
    tl->seq = seq;
    if (tl->cb)
        tl->cb(tl->cb_arg, sub, seq, e->json, e->len);
    return seq;
}

/* The first of the newest `limit` entries of sub. */
static const tl_entry_t *first_of_last(const tl_sub_t *sub, size_t limit)
{
    const tl_entry_t *e = sub->head;
    for (size_t skip = limit && sub->n > limit ? sub->n - limit : 0; skip > 0; skip--)
        e = e->snext;
    return e;
}

int ims_timeline_query(const ims_timeline_t *tl, const char *ident, size_t limit, char **out,
                       size_t *outlen)
{
    const tl_sub_t *sub = ims_timeline_find(tl, ident);
    if (!sub)
        return ENOENT;
    json_t *ids = json_array();
    for (size_t i = 0; i < sub->naliases; i++)
        json_array_append_new(ids, json_string(sub->aliases[i]));
    char *idtext = json_dumps(ids, JSON_COMPACT);
    json_decref(ids);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = idtext ? open_memstream(&buf, &len) : NULL;
    if (!f) {
        free(idtext);
        return ENOMEM;
    }
    fputs("{\"items\":[", f);
    size_t count = 0;
    for (const tl_entry_t *e = first_of_last(sub, limit); e; e = e->snext, count++) {
        if (count)
            fputc(',', f);
        fwrite(e->json, 1, e->len, f);
    }
    fprintf(f, "],\"total\":%zu,\"kept\":%zu,\"identities\":%s}", count, sub->n, idtext);
    free(idtext);
    if (fclose(f) != 0 || !buf) {
        free(buf);
        return ENOMEM;
    }
    *out = buf;
    if (outlen)
        *outlen = len;
    return 0;
}

json_t *ims_timeline_entries(const ims_timeline_t *tl, const char *ident, size_t limit)
{
    const tl_sub_t *sub = ims_timeline_find(tl, ident);
    if (!sub)
        return NULL;
    json_t *arr = json_array();
    for (const tl_entry_t *e = first_of_last(sub, limit); e && arr; e = e->snext) {
        json_t *j = json_loadb(e->json, e->len, 0, NULL);
        if (j)
            json_array_append_new(arr, j);
    }
    return arr;
}

void ims_timeline_stats(const ims_timeline_t *tl, ims_timeline_stats_t *st)
{
    *st = (ims_timeline_stats_t){.entries = tl->n,
                                 .subscribers = tl->nsubs,
                                 .bytes = tl->bytes,
                                 .recorded = tl->seq,
                                 .evicted = tl->evicted};
}
