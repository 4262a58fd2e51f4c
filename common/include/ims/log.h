/* Logging with levels for every daemon: one line per event on stderr.
 * Never pass a password, K, OP or OPc to these functions. Thread-safe. */
#ifndef IMS_LOG_H
#define IMS_LOG_H

#include <stdbool.h>

typedef enum {
    IMS_LOG_DEBUG = 0,
    IMS_LOG_INFO = 1,
    IMS_LOG_WARN = 2,
    IMS_LOG_ERROR = 3,
} ims_log_level_t;

/* Sets the program name shown on each line and the minimum level. */
void ims_log_init(const char *progname, ims_log_level_t level);
void ims_log_set_level(ims_log_level_t level);
bool ims_log_enabled(ims_log_level_t level);

/* "debug" | "info" | "warn" | "error" -> level; returns 0 or EINVAL. */
int ims_log_level_parse(const char *text, ims_log_level_t *out);
const char *ims_log_level_name(ims_log_level_t level);

/* Line format: "2026-11-22T05:30:00.123Z scscf info: <message>\n", written with a
 * single write(2) so lines of concurrent threads and processes never interleave. */
void ims_log(ims_log_level_t level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define IMS_DEBUG(...)                                                                             \
    do {                                                                                           \
        if (ims_log_enabled(IMS_LOG_DEBUG))                                                        \
            ims_log(IMS_LOG_DEBUG, __VA_ARGS__);                                                   \
    } while (0)
#define IMS_INFO(...)  ims_log(IMS_LOG_INFO, __VA_ARGS__)
#define IMS_WARN(...)  ims_log(IMS_LOG_WARN, __VA_ARGS__)
#define IMS_ERROR(...) ims_log(IMS_LOG_ERROR, __VA_ARGS__)

#endif
