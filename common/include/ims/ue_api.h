/* The UE test-control endpoints both CSCF status APIs serve the same way: the timeline,
 * its pcap export, the event stream and the fault-injection rules. */
#ifndef IMS_UE_API_H
#define IMS_UE_API_H

#include <stdbool.h>

#include "ims/events.h"
#include "ims/fault.h"
#include "ims/http_server.h"
#include "ims/timeline.h"

typedef struct ims_ue_api {
    ims_timeline_t *tl;   /* NULL: /timeline endpoints not served */
    ims_events_t *events; /* NULL: /events not served */
    ims_faults_t *faults; /* NULL: /faults not served */
} ims_ue_api_t;

/* Serves GET /api/v1/timeline?impi=|impu=|imsi=&limit=, GET /api/v1/timeline/pcap?...,
 * GET /api/v1/events, GET|POST /api/v1/faults and DELETE /api/v1/faults/{id}. Returns
 * false (resp untouched) when req is for another path, so the daemon's own handler goes
 * on. Token rules are the server's (ims_http_opts_t). */
bool ims_ue_api_handle(const ims_ue_api_t *api, const ims_http_req_t *req, ims_http_resp_t *resp);

#endif
