/* pcap writer for the timeline export: IPv4/IPv6 + UDP/TCP framing synthesised around
 * the kept SIP text, with valid checksums and per-direction TCP sequence numbers. */
#include "ims/pcap.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define LINKTYPE_RAW 101
#define MAX_PAYLOAD  65000
#define MAX_FLOWS    64

typedef struct flow {
    uint8_t key[38]; /* src(16) dst(16) sport(2) dport(2) family(1) pad */
    uint32_t next_seq;
} flow_t;

struct ims_pcap {
    uint8_t *buf;
    size_t len, cap;
    flow_t flows[MAX_FLOWS];
    size_t nflows;
    uint16_t ip_id;
};

static int grow(ims_pcap_t *p, size_t more)
{
    if (p->len + more <= p->cap)
        return 0;
    size_t cap = p->cap ? p->cap : 4096;
    while (cap < p->len + more)
        cap *= 2;
    uint8_t *b = realloc(p->buf, cap);
    if (!b)
        return ENOMEM;
    p->buf = b;
    p->cap = cap;
    return 0;
}

static void put(ims_pcap_t *p, const void *d, size_t n)
{
    memcpy(p->buf + p->len, d, n);
    p->len += n;
}

static void put32(ims_pcap_t *p, uint32_t v) /* pcap headers: host byte order */
{
    put(p, &v, 4);
}

int ims_pcap_new(ims_pcap_t **out)
{
    ims_pcap_t *p = calloc(1, sizeof(*p));
    if (!p || grow(p, 24) != 0) {
        free(p);
        return ENOMEM;
    }
    put32(p, 0xa1b2c3d4);
    uint16_t ver[2] = {2, 4};
    put(p, ver, 4);
    put32(p, 0); /* thiszone */
    put32(p, 0); /* sigfigs */
    put32(p, 65535);
    put32(p, LINKTYPE_RAW);
    *out = p;
    return 0;
}

void ims_pcap_free(ims_pcap_t *p)
{
    if (!p)
        return;
    free(p->buf);
    free(p);
}

const uint8_t *ims_pcap_data(const ims_pcap_t *p, size_t *len)
{
    *len = p->len;
    return p->buf;
}

/* Parses a numeric address into 16 bytes (IPv4 in the first 4); returns the family. */
static int parse_addr(const char *text, uint8_t out[16])
{
    memset(out, 0, 16);
    if (!text || !*text)
        return AF_UNSPEC;
    if (inet_pton(AF_INET, text, out) == 1)
        return AF_INET;
    if (inet_pton(AF_INET6, text, out) == 1)
        return AF_INET6;
    return -1;
}

static void map_v4(uint8_t a[16])
{
    uint8_t v4[4];
    memcpy(v4, a, 4);
    memset(a, 0, 16);
    a[10] = a[11] = 0xff;
    memcpy(a + 12, v4, 4);
}

static uint32_t sum16(uint32_t acc, const uint8_t *d, size_t n)
{
    for (size_t i = 0; i + 1 < n; i += 2)
        acc += (uint32_t)(d[i] << 8 | d[i + 1]);
    if (n & 1)
        acc += (uint32_t)(d[n - 1] << 8);
    return acc;
}

static uint16_t fold(uint32_t acc)
{
    while (acc >> 16)
        acc = (acc & 0xffff) + (acc >> 16);
    return (uint16_t)~acc;
}

/* Next sequence number of this direction of the connection, advanced by len. */
static uint32_t tcp_seq(ims_pcap_t *p, const uint8_t key[38], size_t len)
{
    for (size_t i = 0; i < p->nflows; i++) {
        if (memcmp(p->flows[i].key, key, 38) == 0) {
            uint32_t s = p->flows[i].next_seq;
            p->flows[i].next_seq += (uint32_t)len;
            return s;
        }
    }
    if (p->nflows == MAX_FLOWS)
        return 1; /* beyond the table: still a readable file, reassembly may complain */
    flow_t *f = &p->flows[p->nflows++];
    memcpy(f->key, key, 38);
    f->next_seq = 1 + (uint32_t)len;
    return 1;
}

static void flow_key(uint8_t key[38], const uint8_t *s, const uint8_t *d, uint16_t sp, uint16_t dp,
                     int fam)
{
    memset(key, 0, 38);
    memcpy(key, s, 16);
    memcpy(key + 16, d, 16);
    memcpy(key + 32, &sp, 2);
    memcpy(key + 34, &dp, 2);
    key[36] = (uint8_t)fam;
}

/* The transport header (UDP or TCP) with its checksum over the pseudo-header. */
static size_t l4_header(ims_pcap_t *p, uint8_t *h, bool tcp, int fam, const uint8_t *s,
                        const uint8_t *d, uint16_t sp, uint16_t dp, const uint8_t *data, size_t len)
{
    size_t hl = tcp ? 20 : 8, alen = fam == AF_INET ? 4 : 16;
    memset(h, 0, hl);
    h[0] = (uint8_t)(sp >> 8), h[1] = (uint8_t)sp, h[2] = (uint8_t)(dp >> 8), h[3] = (uint8_t)dp;
    if (tcp) {
        uint8_t key[38], rkey[38];
        flow_key(key, s, d, sp, dp, fam);
        flow_key(rkey, d, s, dp, sp, fam);
        uint32_t seq = htonl(tcp_seq(p, key, len)), ack = htonl(tcp_seq(p, rkey, 0));
        memcpy(h + 4, &seq, 4);
        memcpy(h + 8, &ack, 4);
        h[12] = 5 << 4;
        h[13] = 0x18; /* PSH, ACK */
        h[14] = h[15] = 0xff;
    } else {
        h[4] = (uint8_t)((hl + len) >> 8), h[5] = (uint8_t)(hl + len);
    }
    uint32_t acc = sum16(sum16(0, s, alen), d, alen);
    acc += (uint32_t)(tcp ? 6 : 17) + (uint32_t)(hl + len);
    acc = sum16(sum16(acc, h, hl), data, len);
    uint16_t ck = fold(acc);
    if (!tcp && ck == 0)
        ck = 0xffff;
    h[tcp ? 16 : 6] = (uint8_t)(ck >> 8), h[tcp ? 17 : 7] = (uint8_t)ck;
    return hl;
}

static size_t ip_header(ims_pcap_t *p, uint8_t *h, int fam, const uint8_t *s, const uint8_t *d,
                        bool tcp, size_t l4len)
{
    if (fam == AF_INET) {
        memset(h, 0, 20);
        h[0] = 0x45;
        size_t tot = 20 + l4len;
        h[2] = (uint8_t)(tot >> 8), h[3] = (uint8_t)tot;
        uint16_t id = p->ip_id++;
        h[4] = (uint8_t)(id >> 8), h[5] = (uint8_t)id;
        h[6] = 0x40; /* DF */
        h[8] = 64;
        h[9] = tcp ? 6 : 17;
        memcpy(h + 12, s, 4);
        memcpy(h + 16, d, 4);
        uint16_t ck = fold(sum16(0, h, 20));
        h[10] = (uint8_t)(ck >> 8), h[11] = (uint8_t)ck;
        return 20;
    }
    memset(h, 0, 40);
    h[0] = 0x60;
    h[4] = (uint8_t)(l4len >> 8), h[5] = (uint8_t)l4len;
    h[6] = tcp ? 6 : 17;
    h[7] = 64;
    memcpy(h + 8, s, 16);
    memcpy(h + 24, d, 16);
    return 40;
}

int ims_pcap_add(ims_pcap_t *p, int64_t ts_us, const char *src, uint16_t sport, const char *dst,
                 uint16_t dport, const char *transport, const void *data, size_t len)
{
    uint8_t s[16], d[16];
    int fs = parse_addr(src, s), fd = parse_addr(dst, d);
    if (fs < 0 || fd < 0)
        return EINVAL;
    if (len > MAX_PAYLOAD)
        return E2BIG;
    int fam = (fs == AF_INET6 || fd == AF_INET6) ? AF_INET6 : AF_INET;
    if (fam == AF_INET6 && fs == AF_INET)
        map_v4(s);
    if (fam == AF_INET6 && fd == AF_INET)
        map_v4(d);
    bool tcp =
        transport && (strcasecmp(transport, "TCP") == 0 || strcasecmp(transport, "TLS") == 0);
    uint8_t l4h[20];
    size_t l4 = l4_header(p, l4h, tcp, fam, s, d, sport, dport, data, len);
    uint8_t iph[40];
    size_t il = ip_header(p, iph, fam, s, d, tcp, l4 + len);
    size_t caplen = il + l4 + len;
    if (grow(p, 16 + caplen) != 0)
        return ENOMEM;
    if (ts_us < 0)
        ts_us = 0;
    put32(p, (uint32_t)(ts_us / 1000000));
    put32(p, (uint32_t)(ts_us % 1000000));
    put32(p, (uint32_t)caplen);
    put32(p, (uint32_t)caplen);
    put(p, iph, il);
    put(p, l4h, l4);
    put(p, data, len);
    return 0;
}

static const char *addr_of(const json_t *a, uint16_t *port)
{
    *port = (uint16_t)json_integer_value(json_object_get(a, "port"));
    return json_string_value(json_object_get(a, "addr"));
}

int ims_pcap_from_timeline(const json_t *entries, ims_pcap_t **out, size_t *count)
{
    ims_pcap_t *p = NULL;
    if (ims_pcap_new(&p) != 0)
        return ENOMEM;
    size_t n = 0, i;
    json_t *e;
    json_array_foreach(entries, i, e)
    {
        const char *sip = json_string_value(json_object_get(e, "sip"));
        json_t *src = json_object_get(e, "src"), *dst = json_object_get(e, "dst");
        if (!sip || !src || !dst)
            continue;
        uint16_t sp, dp;
        const char *sa = addr_of(src, &sp), *da = addr_of(dst, &dp);
        int64_t ts = (int64_t)json_integer_value(json_object_get(e, "ts_us"));
        const char *tr = json_string_value(json_object_get(e, "transport"));
        int rc = ims_pcap_add(p, ts, sa, sp, da, dp, tr, sip,
                              json_string_length(json_object_get(e, "sip")));
        if (rc == ENOMEM) {
            ims_pcap_free(p);
            return ENOMEM;
        }
        n += rc == 0;
    }
    if (count)
        *count = n;
    *out = p;
    return 0;
}
