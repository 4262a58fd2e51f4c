/* Leveled logging to stderr: one formatted line per event, emitted with a single write(2)
 * so concurrent threads and processes sharing stderr never interleave within a line. */
#include "ims/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

/* Longer messages are truncated (marked with "...") rather than split over two writes. */
#define LOG_LINE_MAX 4096

static char log_prog[64] = "ims";
static atomic_int log_level = IMS_LOG_INFO;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void ims_log_init(const char *progname, ims_log_level_t level)
{
    if (progname) {
        const char *slash = strrchr(progname, '/');
        snprintf(log_prog, sizeof(log_prog), "%s", slash ? slash + 1 : progname);
    }
    ims_log_set_level(level);
}

void ims_log_set_level(ims_log_level_t level)
{
    if (level < IMS_LOG_DEBUG)
        level = IMS_LOG_DEBUG;
    if (level > IMS_LOG_ERROR)
        level = IMS_LOG_ERROR;
    atomic_store(&log_level, (int)level);
}

bool ims_log_enabled(ims_log_level_t level)
{
    return (int)level >= atomic_load(&log_level);
}

int ims_log_level_parse(const char *text, ims_log_level_t *out)
{
    if (!text)
        return EINVAL;
    for (int i = 0; i < 4; i++) {
        if (strcasecmp(text, level_names[i]) == 0) {
            *out = (ims_log_level_t)i;
            return 0;
        }
    }
    if (strcasecmp(text, "warning") == 0) {
        *out = IMS_LOG_WARN;
        return 0;
    }
    return EINVAL;
}

const char *ims_log_level_name(ims_log_level_t level)
{
    if ((int)level < 0 || (int)level > 3)
        return "?";
    return level_names[level];
}

void ims_log(ims_log_level_t level, const char *fmt, ...)
{
    if (!ims_log_enabled(level))
        return;
    int saved_errno = errno; /* callers often log and then inspect errno */
    char line[LOG_LINE_MAX];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    int n = snprintf(line, sizeof(line),
                     "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s %s: ", tm.tm_year + 1900,
                     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     ts.tv_nsec / 1000000L, log_prog, ims_log_level_name(level));
    if (n < 0)
        n = 0;
    size_t len = (size_t)n;
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + len, sizeof(line) - len - 1, fmt, ap);
    va_end(ap);
    if (m < 0)
        m = 0;
    if ((size_t)m >= sizeof(line) - len - 1) {
        len = sizeof(line) - 1;
        memcpy(line + len - 4, "...", 3);
        len -= 1;
    } else {
        len += (size_t)m;
    }
    /* A message must stay one line: embedded newlines would let input forge log lines. */
    for (size_t i = (size_t)n; i < len; i++) {
        if (line[i] == '\n' || line[i] == '\r')
            line[i] = ' ';
    }
    line[len++] = '\n';
    size_t off = 0;
    while (off < len) {
        ssize_t w = write(STDERR_FILENO, line + off, len - off);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        off += (size_t)w;
    }
    errno = saved_errno;
}
