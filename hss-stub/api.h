/* The hss-stub's request handlers as the route table (router.c) calls them: provisioning
 * (http_api.c, SPEC §3) and the Cx stand-in (cx_api.c, docs/cx-api.md). */
#ifndef HSS_API_H
#define HSS_API_H

#include "http_util.h"

/* Runs after the router has checked the path, the method and the body's media type. tail
 * is the URL segment after a prefix route (the IMSI, the IMPU; "" for an exact route), not
 * yet URL-decoded. */
typedef void (*hss_route_cb)(hss_ctx_t *ctx, const char *tail, const ims_http_req_t *req,
                             ims_http_resp_t *resp);
#define HSS_ROUTE_HANDLER(name)                                                                    \
    void name(hss_ctx_t *ctx, const char *tail, const ims_http_req_t *req, ims_http_resp_t *resp)

/* http_api.c */
HSS_ROUTE_HANDLER(hss_rest_list);
HSS_ROUTE_HANDLER(hss_rest_create);
HSS_ROUTE_HANDLER(hss_rest_get);     /* tail: IMSI */
HSS_ROUTE_HANDLER(hss_rest_replace); /* tail: IMSI */
HSS_ROUTE_HANDLER(hss_rest_patch);   /* tail: IMSI */
HSS_ROUTE_HANDLER(hss_rest_delete);  /* tail: IMSI */
HSS_ROUTE_HANDLER(hss_rest_impu);    /* tail: URL-encoded IMPU */

/* cx_api.c */
HSS_ROUTE_HANDLER(hss_cx_mar);
HSS_ROUTE_HANDLER(hss_cx_sar);
HSS_ROUTE_HANDLER(hss_cx_users);

#endif
