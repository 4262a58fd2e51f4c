/* Cross-origin rules for the HTTP APIs, so the web console served by one daemon may call
 * the other daemons' APIs from the browser (CORS, https://fetch.spec.whatwg.org/). */
#ifndef IMS_HTTP_CORS_H
#define IMS_HTTP_CORS_H

#include <stdbool.h>

/* Methods and request headers a preflight may ask for (the console needs no others). */
#define IMS_CORS_METHODS "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"
#define IMS_CORS_HEADERS "Authorization, Content-Type"
/* Response headers a cross-origin script may read besides the CORS-safelisted ones. */
#define IMS_CORS_EXPOSE "Location, Retry-After, WWW-Authenticate"

/* True when origin (the Origin request header, e.g. "http://127.0.0.1:8080") may read
 * the answers. Loopback origins (http or https on 127.0.0.0/8, localhost, [::1]) are always
 * allowed: a page on the internet cannot have one. `extra` is NULL or a comma-separated
 * list of exact origins, or "*" for any origin. "null" (sandboxed or file pages) is never
 * allowed unless listed. */
bool ims_cors_origin_allowed(const char *origin, const char *extra);

#endif
