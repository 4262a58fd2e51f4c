/* Start-up helpers every daemon shares: the guard that keeps an HTTP API holding secrets
 * or write access on loopback unless a token protects it, and mkdir -p for data files. */
#ifndef IMS_DAEMON_H
#define IMS_DAEMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* True for 127.0.0.0/8, ::1 and "localhost". */
bool ims_loopback_host(const char *host);

/* Checks an --http address before anything is bound: it must be HOST:PORT (defport when
 * no port), --token may be absent but not empty, and off loopback a token (or insecure)
 * is required since anyone reaching the API could use it. what names what the API would
 * expose ("the status API"). Returns 0, or EINVAL with a one-line reason in err. */
int ims_http_guard(const char *bind, uint16_t defport, const char *token, bool insecure,
                   const char *what, char *err, size_t errlen);

/* Creates the folders leading to the file path (mkdir -p of its dirname); existing ones
 * are fine. Returns 0 or an errno code (err names the folder that failed; may be NULL). */
int ims_mkdir_parents(const char *path, char *err, size_t errlen);

#endif
