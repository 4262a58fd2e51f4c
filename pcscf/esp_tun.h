/* The user-space ESP datapath of the P-CSCF for hosts whose kernel has no ESP: a raw IP
 * protocol 50 socket carries the outer packets, a TUN device the inner ones. */
#ifndef PCSCF_ESP_TUN_H
#define PCSCF_ESP_TUN_H

#include <stddef.h>
#include <stdint.h>

#include <sofia-sip/su_wait.h>

#include "esp.h"

/* How it works (IPv4):
 * - inbound: ESP from the raw socket → SA by SPI → replay window and ICV → decrypted segment
 *   checked against the SA's addresses and ports → a fresh IPv4 header → written to the
 *   TUN, where the kernel's own UDP/TCP deliver it to Sofia's sockets on the protected ports;
 * - outbound: a policy-routing rule per protected port (`ip rule sport PORT lookup TABLE`,
 *   TABLE holding `default dev TUN`) sends what those sockets emit into the TUN; it is read
 *   here, matched to its outbound SA by (UE address, UE port, our port), protected and sent
 *   through the raw socket.
 * Both fds are non-blocking and served by su_root; each wake-up handles a bounded batch.
 * Needs CAP_NET_ADMIN (TUN, rules, routes) and CAP_NET_RAW (the raw socket), and
 * /dev/net/tun. */

typedef struct pcscf_esp_tun_conf {
    const char *ifname; /* TUN device name, "%d" picked by the kernel (NULL = "imsesp%d") */
    uint32_t table;     /* routing table for the protected ports (0 = 1050) */
    uint32_t rule_pref; /* priority of our rules (0 = 1050) */
    int mtu;            /* TUN MTU (0 = 1400: room for ESP inside a 1500-byte link) */
} pcscf_esp_tun_conf_t;

typedef struct pcscf_esp_tun_stats {
    uint64_t in_packets, in_bytes;   /* ESP packets verified and handed to the kernel */
    uint64_t out_packets, out_bytes; /* ESP packets sent */
    uint64_t unknown_spi;            /* no inbound SA for the SPI */
    uint64_t auth_failures;          /* ICV did not verify */
    uint64_t replays;                /* replayed or too old sequence number */
    uint64_t malformed;              /* truncated, bad padding, not IPv4, fragments */
    uint64_t policy_drops;           /* decrypted, but addresses/ports not the SA's */
    uint64_t no_sa_out;              /* a packet from a protected port with no SA to its peer */
    uint64_t io_errors;              /* send/write failures (packet dropped) */
} pcscf_esp_tun_stats_t;

typedef struct pcscf_esp_tun pcscf_esp_tun_t;

/* Opens the TUN device (up, MTU set, rp_filter off on it) and the raw socket, and
 * registers both fds with root. The table must be a
 * user-space table (pcscf_esp_user_create) and outlive the datapath. Returns 0 or an errno
 * code with a one-line reason in err (missing capability, no /dev/net/tun, ...). */
int pcscf_esp_tun_create(su_root_t *root, pcscf_esp_table_t *table,
                         const pcscf_esp_tun_conf_t *conf, pcscf_esp_tun_t **out, char *err,
                         size_t errlen);

/* Routes what our sockets send from port into the TUN: one ip rule (the first one also
 * adds the table's default route via the TUN). 0 or an errno code. */
int pcscf_esp_tun_protect_port(pcscf_esp_tun_t *t, uint16_t port, char *err, size_t errlen);

/* The other way to the same end, for sockets of our own process: binds every IPv4 UDP
 * socket and listening TCP socket on port to the TUN device (SO_BINDTODEVICE), so they
 * receive only what came through ESP and everything they send goes into the TUN; no
 * routing rule or table is involved (accepted TCP connections inherit the binding).
 * 0, ENOENT (no such socket) or the setsockopt error. */
int pcscf_esp_tun_bind_port(pcscf_esp_tun_t *t, uint16_t port, char *err, size_t errlen);

const pcscf_esp_tun_stats_t *pcscf_esp_tun_stats(const pcscf_esp_tun_t *t);
const char *pcscf_esp_tun_ifname(const pcscf_esp_tun_t *t);

/* Removes the rules and the route, deregisters and closes everything (NULL is fine). */
void pcscf_esp_tun_destroy(pcscf_esp_tun_t *t);

#endif
