/* A pcap file written in memory: SIP messages framed in synthesised IPv4/IPv6 and UDP
 * or TCP headers (link type raw IP) from the addresses seen, so Wireshark dissects them. */
#ifndef IMS_PCAP_H
#define IMS_PCAP_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

typedef struct ims_pcap ims_pcap_t;

/* A new file holding the pcap global header (LINKTYPE_RAW, microsecond stamps). Returns
 * 0 or ENOMEM. */
int ims_pcap_new(ims_pcap_t **out);
void ims_pcap_free(ims_pcap_t *p);

/* Appends one packet carrying data[0..len) from src:sport to dst:dport at ts_us
 * (microseconds since the epoch). Addresses are numeric IPv4 or IPv6 (NULL or "" = the
 * unspecified address); when the two families differ the IPv4 one is written
 * IPv4-mapped. transport "UDP" (or NULL) gives UDP; "TCP"/"TLS" give TCP segments whose
 * sequence numbers continue per direction of each connection, so TCP reassembly works.
 * Returns 0, EINVAL (an address that is not numeric), E2BIG (over 65000 bytes) or
 * ENOMEM. */
int ims_pcap_add(ims_pcap_t *p, int64_t ts_us, const char *src, uint16_t sport, const char *dst,
                 uint16_t dport, const char *transport, const void *data, size_t len);

/* The file so far. */
const uint8_t *ims_pcap_data(const ims_pcap_t *p, size_t *len);

/* Writes every message entry of a timeline selection (ims_timeline_entries: those with
 * "sip", "src" and "dst") into a new pcap. Returns 0 or ENOMEM; *count (may be NULL)
 * gets the number of packets. */
int ims_pcap_from_timeline(const json_t *entries, ims_pcap_t **out, size_t *count);

#endif
