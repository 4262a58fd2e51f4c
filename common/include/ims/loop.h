/* Glue between Sofia's su_root event loop and the rest: the HTTP server in external
 * mode, and SIGINT/SIGTERM delivered through a signalfd so shutdown is a loop event. */
#ifndef IMS_LOOP_H
#define IMS_LOOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sofia-sip/su_wait.h>

#include "ims/http_server.h"

typedef struct ims_loop_http ims_loop_http_t;

/* Registers the server's fd and a timer with root so requests are served by the loop
 * thread. Returns 0 or an errno code. */
int ims_loop_attach_http(su_root_t *root, ims_http_server_t *srv, ims_loop_http_t **out);
void ims_loop_detach_http(ims_loop_http_t *h);

typedef struct ims_loop_signals ims_loop_signals_t;

/* Blocks SIGINT and SIGTERM for the process, reads them from a signalfd registered with
 * root, and calls su_root_break(root) when one arrives (logged at info). SIGPIPE is
 * ignored. Call before creating any thread. */
int ims_loop_signals_init(su_root_t *root, ims_loop_signals_t **out);
void ims_loop_signals_free(ims_loop_signals_t *s);

/* Makes Sofia's clock (su_now, which every su_timer uses) read whole milliseconds,
 * rounded up. su_root waits in whole milliseconds and truncates: a timer due in less
 * than 1 ms made it call epoll_wait(0) in a loop until the deadline passed, thousands
 * of empty wake-ups a second while transactions were pending. With whole-millisecond
 * deadlines the wait is exact. Timers may fire up to 1 ms early. Call once, after
 * su_init() and before creating timers or the nta agent. */
void ims_loop_whole_ms_clock(void);

struct nta_agent_s;

/* Closes SIP TCP connections of agent that stay idle for idle_s seconds (Sofia keeps
 * them forever by default, so half-open and abandoned connections would pile up).
 * TPTAG_IDLE given to nta_agent_create does not reach the listening transports; this sets
 * it on each of them. Returns 0, or -1 if one refused. */
int ims_loop_tcp_idle(struct nta_agent_s *agent, long idle_s);

/* Gives the heap a burst left behind back to the kernel. Each transaction holds its
 * messages (~10 KiB) until Timer J; glibc keeps what they freed, so RSS stayed at the
 * high-water mark of the busiest second forever. Trimming while the load lasts would
 * only turn the same pages into page faults again, so it waits until the live
 * transactions have halved since their peak, then once more at each further halving. */
typedef struct ims_loop_trim {
    size_t peak;    /* most live transactions since the last trim */
    uint64_t trims; /* malloc_trim calls so far */
} ims_loop_trim_t;

/* Call about once a second from the loop thread. Returns true when it trimmed. */
bool ims_loop_trim_tick(ims_loop_trim_t *t, struct nta_agent_s *agent);
/* The rule alone: live transactions now; true when a trim is due (updates t). */
bool ims_loop_trim_due(ims_loop_trim_t *t, size_t live);

#endif
