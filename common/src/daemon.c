/* Start-up helpers every daemon shares (see ims/daemon.h): the HTTP API exposure guard
 * and mkdir -p for the folders of data files. */
#include "ims/daemon.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "ims/util.h"

bool ims_loopback_host(const char *host)
{
    return strncmp(host, "127.", 4) == 0 || strcmp(host, "::1") == 0 ||
           strcmp(host, "localhost") == 0;
}

int ims_http_guard(const char *bind, uint16_t defport, const char *token, bool insecure,
                   const char *what, char *err, size_t errlen)
{
    char host[256];
    uint16_t port;
    if (!bind || ims_parse_hostport(bind, host, sizeof host, &port, defport) != 0) {
        snprintf(err, errlen, "--http %s is not HOST:PORT", bind ? bind : "(none)");
        return EINVAL;
    }
    if (token && !*token) {
        snprintf(err, errlen, "--token must not be empty");
        return EINVAL;
    }
    if (!ims_loopback_host(host) && !token && !insecure) {
        snprintf(err, errlen, "refusing to serve %s on %s without --token (or pass --insecure)",
                 what, bind);
        return EINVAL;
    }
    return 0;
}

int ims_mkdir_parents(const char *path, char *err, size_t errlen)
{
    char buf[4096];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf) {
        if (err)
            snprintf(err, errlen, "path too long: %.64s...", path);
        return ENAMETOOLONG;
    }
    char *slash = strrchr(buf, '/');
    if (!slash || slash == buf)
        return 0;
    *slash = '\0';
    for (char *p = buf + 1;; p++) {
        bool end = *p == '\0';
        if (!end && *p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0755) != 0 && errno != EEXIST) {
            int e = errno;
            if (err)
                snprintf(err, errlen, "cannot create folder %s: %s", buf, strerror(e));
            return e;
        }
        if (end)
            return 0;
        *p = '/';
    }
}
