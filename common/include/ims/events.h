/* The live event stream (Server-Sent Events) of the timeline: GET /api/v1/events, each
 * client with an identity filter and a bounded queue, served from the loop thread. */
#ifndef IMS_EVENTS_H
#define IMS_EVENTS_H

#include <stddef.h>
#include <stdint.h>

#include <sofia-sip/su_wait.h>

#include "ims/http_server.h"
#include "ims/timeline.h"

typedef struct ims_events ims_events_t;

typedef struct ims_events_opts {
    size_t max_clients;   /* streams open at once; more get 503; 0 = 16 */
    size_t queue_bytes;   /* per client; a client further behind is dropped; 0 = 256 KiB */
    unsigned keepalive_s; /* comment line sent this often (finds clients that left); 0 = 15 */
} ims_events_opts_t;

/* Listens to tl (its only listener). root drives the keep-alive timer (NULL: none).
 * Returns 0 or ENOMEM. */
int ims_events_new(ims_timeline_t *tl, su_root_t *root, const ims_events_opts_t *opts,
                   ims_events_t **out);
/* Ends every stream and detaches from the timeline; safe before or after the HTTP server
 * stops. */
void ims_events_free(ims_events_t *ev);

/* Handles GET /api/v1/events[?impi=|impu=|imsi=|filter=IDENTITY]: each timeline entry of
 * the subscriber of that identity (every entry without a filter) is sent as
 * "id: SEQ\nevent: timeline\ndata: JSON\n\n". */
void ims_events_serve(ims_events_t *ev, const ims_http_req_t *req, ims_http_resp_t *resp);

size_t ims_events_clients(const ims_events_t *ev);
uint64_t ims_events_dropped(const ims_events_t *ev);

#endif
