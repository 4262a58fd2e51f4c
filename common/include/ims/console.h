/* The web console (console/ in the source tree), embedded into libims_common at build
 * time and served by a daemon's HTTP handler under /console/. */
#ifndef IMS_CONSOLE_H
#define IMS_CONSOLE_H

#include <stdbool.h>
#include <stddef.h>

#include "ims/http_server.h"

#define IMS_CONSOLE_PREFIX "/console/"

typedef struct ims_console_asset {
    const char *name; /* file name inside console/, e.g. "index.html" */
    const unsigned char *data;
    size_t len;
} ims_console_asset_t;

/* Generated table, ended by an entry whose name is NULL. */
extern const ims_console_asset_t ims_console_assets[];

/* The asset called name, or NULL. */
const ims_console_asset_t *ims_console_find(const char *name);

/* Answers the request when its path is /console or under /console/ and returns true;
 * returns false (resp untouched) for any other path. "/console" redirects to
 * "/console/", which serves index.html; "/console/config.json" serves config_json (the
 * daemon's own answer: where the other APIs are) or 404 when it is NULL; other methods
 * than GET/HEAD get 405. */
bool ims_console_serve(const ims_http_req_t *req, ims_http_resp_t *resp, const char *config_json);

#endif
