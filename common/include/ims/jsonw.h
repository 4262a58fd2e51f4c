/* A small JSON writer for hot paths (the timeline records every message): objects built
 * straight into one buffer, strings escaped and made valid UTF-8, no tree in between. */
#ifndef IMS_JSONW_H
#define IMS_JSONW_H

#include <stdbool.h>
#include <stddef.h>

#define IMS_JW_DEPTH 8

typedef struct ims_jw {
    char *p;
    size_t n, cap;
    bool oom;                 /* sticks: check once at the end (ims_jw_take) */
    bool first[IMS_JW_DEPTH]; /* no member written yet at this depth */
    int depth;
} ims_jw_t;

/* An empty writer; the first ims_jw_begin opens the top-level object. */
void ims_jw_init(ims_jw_t *w);
/* Opens an object: the top-level one (key NULL) or a member object. */
void ims_jw_begin(ims_jw_t *w, const char *key);
void ims_jw_end(ims_jw_t *w);
/* Members. A NULL or empty string is left out. Strings are escaped; bytes that are not
 * valid UTF-8 (and NUL) become '?'. */
void ims_jw_str(ims_jw_t *w, const char *key, const char *val);
void ims_jw_strn(ims_jw_t *w, const char *key, const char *val, size_t len);
void ims_jw_int(ims_jw_t *w, const char *key, long long val);
void ims_jw_bool(ims_jw_t *w, const char *key, bool val);
/* A value already in JSON (e.g. json_dumps output), written as it is. */
void ims_jw_raw(ims_jw_t *w, const char *key, const char *json);
/* The text (malloc'd, NUL-terminated) and its length; NULL when memory ran out. The
 * writer is empty afterwards. */
char *ims_jw_take(ims_jw_t *w, size_t *len);

#endif
