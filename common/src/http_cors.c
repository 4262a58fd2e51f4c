/* The origin check behind the HTTP server's CORS answers: loopback origins always, plus
 * the exact origins the operator lists (or "*"). */
#include "ims/http_cors.h"

#include <ctype.h>
#include <stddef.h>
#include <string.h>
#include <strings.h>

/* "127.a.b.c" with decimal octets, each 0-255. */
static bool ipv4_loopback(const char *h, size_t n)
{
    if (n < 9 || strncmp(h, "127.", 4) != 0)
        return false;
    int dots = 0;
    unsigned octet = 0, digits = 0;
    for (size_t i = 4; i < n; i++) {
        if (h[i] == '.') {
            if (digits == 0)
                return false;
            dots++;
            octet = digits = 0;
        } else if (isdigit((unsigned char)h[i]) && digits < 3) {
            octet = octet * 10 + (unsigned)(h[i] - '0');
            digits++;
            if (octet > 255)
                return false;
        } else {
            return false;
        }
    }
    return dots == 2 && digits > 0;
}

static bool loopback_origin(const char *origin)
{
    const char *h;
    if (strncasecmp(origin, "http://", 7) == 0)
        h = origin + 7;
    else if (strncasecmp(origin, "https://", 8) == 0)
        h = origin + 8;
    else
        return false;
    size_t n;
    if (h[0] == '[') {
        const char *e = strchr(h, ']');
        if (!e)
            return false;
        n = (size_t)(e - h) + 1;
    } else {
        n = strcspn(h, ":/");
    }
    const char *rest = h + n;
    /* An origin is scheme://host[:port], nothing after: "http://127.0.0.1.evil.example"
     * or "http://localhost@evil" must not pass. */
    if (*rest == ':') {
        size_t d = strspn(rest + 1, "0123456789");
        if (d == 0 || d > 5 || rest[1 + d] != '\0')
            return false;
    } else if (*rest != '\0') {
        return false;
    }
    return (n == 9 && strncasecmp(h, "localhost", 9) == 0) ||
           (n == 5 && strncmp(h, "[::1]", 5) == 0) || ipv4_loopback(h, n);
}

bool ims_cors_origin_allowed(const char *origin, const char *extra)
{
    if (!origin || !*origin)
        return false;
    if (loopback_origin(origin))
        return true;
    size_t olen = strlen(origin);
    for (const char *p = extra; p && *p;) {
        p += strspn(p, ", ");
        size_t n = strcspn(p, ", ");
        if ((n == 1 && *p == '*' && strcmp(origin, "null") != 0) ||
            (n == olen && n > 0 && strncasecmp(p, origin, n) == 0))
            return true;
        p += n;
    }
    return false;
}
