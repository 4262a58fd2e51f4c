/* The UE test-control endpoints both CSCF status APIs serve the same way: the timeline,
 * its pcap export, the event stream and the fault-injection rules. */
#ifndef IMS_UE_API_H
#define IMS_UE_API_H

#include <stdbool.h>

#include <stdio.h>

#include "ims/cfg.h"
#include "ims/events.h"
#include "ims/fault.h"
#include "ims/http_server.h"
#include "ims/timeline.h"

typedef struct ims_ue_api { /* struct tag: other headers may name it without this one */
    ims_timeline_t *tl;     /* NULL: /timeline endpoints not served */
    ims_events_t *events;   /* NULL: /events not served */
    ims_faults_t *faults;   /* NULL: /faults not served */
} ims_ue_api_t;

/* The settings both CSCFs take for the timeline (entries of their ims_cfg_opt_t table;
 * PFX is the environment prefix, "SCSCF" or "PCSCF"). docs/testing-ues.md explains them. */
#define IMS_UE_CFG_OPTS(PFX)                                                                       \
    {"timeline",                                                                                   \
     PFX "_TIMELINE",                                                                              \
     IMS_CFG_STR,                                                                                  \
     "on",                                                                                         \
     0,                                                                                            \
     0,                                                                                            \
     "Per-UE registration timeline, its event stream and pcap export: on or off",                  \
     false},                                                                                       \
        {"timeline-per-ue",                                                                        \
         PFX "_TIMELINE_PER_UE",                                                                   \
         IMS_CFG_INT,                                                                              \
         "200",                                                                                    \
         1,                                                                                        \
         100000,                                                                                   \
         "Timeline entries kept per subscriber (the oldest go first)",                             \
         false},                                                                                   \
        {"timeline-total", PFX "_TIMELINE_TOTAL",          IMS_CFG_INT, "20000", 1,                \
         10000000,         "Timeline entries kept in all", false},                                 \
        {"timeline-bytes",                                                                         \
         PFX "_TIMELINE_BYTES",                                                                    \
         IMS_CFG_INT,                                                                              \
         "16777216",                                                                               \
         65536,                                                                                    \
         4294967296L,                                                                              \
         "Memory the timeline may use, in bytes",                                                  \
         false},                                                                                   \
    {                                                                                              \
        "timeline-sip-max", PFX "_TIMELINE_SIP_MAX", IMS_CFG_INT, "4096", 256, 65000,              \
            "Bytes of each SIP message kept in the timeline (redacted, then cut)", false           \
    }

/* Creates the timeline (unless --timeline off), its event stream on root and the fault
 * rules (fo) from the IMS_UE_CFG_OPTS settings in cfg. Returns 0, or EINVAL/ENOMEM with a
 * one-line reason in err. */
int ims_ue_api_create(const ims_cfg_t *cfg, const char *daemon, su_root_t *root,
                      const ims_faults_opts_t *fo, ims_ue_api_t *out, char *err, size_t errlen);
/* Frees what ims_ue_api_create made (after the HTTP server stopped, or before: both work). */
void ims_ue_api_free(ims_ue_api_t *api);
/* Prometheus lines of the timeline (<daemon>_timeline_*), streams and fault rules. */
void ims_ue_api_metrics(const ims_ue_api_t *api, const char *daemon, FILE *f);

/* Serves GET /api/v1/timeline?impi=|impu=|imsi=&limit=, GET /api/v1/timeline/pcap?...,
 * GET /api/v1/events, GET|POST /api/v1/faults and DELETE /api/v1/faults/{id}. Returns
 * false (resp untouched) when req is for another path, so the daemon's own handler goes
 * on. Token rules are the server's (ims_http_opts_t). */
bool ims_ue_api_handle(const ims_ue_api_t *api, const ims_http_req_t *req, ims_http_resp_t *resp);

#endif
