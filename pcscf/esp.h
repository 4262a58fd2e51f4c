/* ESP (RFC 4303) transport mode done by the P-CSCF itself for IMS IPsec with the UE: key
 * expansion from AKA CK/IK (TS 33.203 Annex I), per-packet protect/verify, the SA table. */
#ifndef PCSCF_ESP_H
#define PCSCF_ESP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Integrity algorithms of TS 33.203 §6.3 (the 3GPP names are the sec-agree `alg` values). */
typedef enum {
    PCSCF_ESP_AUTH_HMAC_SHA1_96, /* RFC 2404, "hmac-sha-1-96" */
    PCSCF_ESP_AUTH_HMAC_MD5_96,  /* RFC 2403, "hmac-md5-96" */
    PCSCF_ESP_AUTH_COUNT
} pcscf_esp_auth_t;

/* Encryption algorithms (sec-agree `ealg`). */
typedef enum {
    PCSCF_ESP_ENC_NULL,         /* RFC 2410, "null" */
    PCSCF_ESP_ENC_AES_CBC,      /* RFC 3602, "aes-cbc" (128-bit key) */
    PCSCF_ESP_ENC_DES_EDE3_CBC, /* RFC 2451, "des-ede3-cbc" */
    PCSCF_ESP_ENC_COUNT
} pcscf_esp_enc_t;

/* Names as sec-agree writes them; NULL for an out-of-range value. The *_parse functions
 * return 0 or EINVAL (case-insensitive, whole string). */
const char *pcscf_esp_auth_name(pcscf_esp_auth_t a);
const char *pcscf_esp_enc_name(pcscf_esp_enc_t e);
int pcscf_esp_auth_parse(const char *name, size_t len, pcscf_esp_auth_t *out);
int pcscf_esp_enc_parse(const char *name, size_t len, pcscf_esp_enc_t *out);
/* The names Wireshark's esp_sa table uses ("HMAC-SHA-1-96 [RFC2404]", "AES-CBC [RFC3602]"). */
const char *pcscf_esp_auth_wireshark(pcscf_esp_auth_t a);
const char *pcscf_esp_enc_wireshark(pcscf_esp_enc_t e);

#define PCSCF_ESP_ICV_LEN  12 /* both integrity algorithms truncate to 96 bits */
#define PCSCF_ESP_KEY_MAX  24
#define PCSCF_ESP_OVERHEAD (8 + 16 + 15 + 2 + PCSCF_ESP_ICV_LEN) /* worst case, AES-CBC */

/* Keys of one SA as ESP uses them, expanded from the 128-bit AKA keys (TS 33.203 Annex I):
 * HMAC-MD5-96 takes IK as it is; HMAC-SHA-1-96 takes IK followed by 32 zero bits;
 * AES-CBC takes CK; DES-EDE3-CBC takes CK1 || CK2 || CK1 where CK = CK1 || CK2. */
typedef struct pcscf_esp_keys {
    uint8_t auth[PCSCF_ESP_KEY_MAX];
    size_t auth_len;
    uint8_t enc[PCSCF_ESP_KEY_MAX];
    size_t enc_len; /* 0 for NULL encryption */
} pcscf_esp_keys_t;

/* Returns 0 or EINVAL (unknown algorithm). */
int pcscf_esp_keys_derive(pcscf_esp_auth_t auth, pcscf_esp_enc_t enc, const uint8_t ck[16],
                          const uint8_t ik[16], pcscf_esp_keys_t *out);

/* The 96-bit ICV of data under key (the first 12 bytes of the HMAC, RFC 2403/2404). */
int pcscf_esp_icv(pcscf_esp_auth_t auth, const uint8_t *key, size_t keylen, const uint8_t *data,
                  size_t len, uint8_t icv[PCSCF_ESP_ICV_LEN]);

/* ---- one security association ---- */

typedef enum {
    PCSCF_ESP_IN, /* the UE protects, we verify: outer src = UE, dst = us */
    PCSCF_ESP_OUT /* we protect toward the UE: outer src = us, dst = UE */
} pcscf_esp_dir_t;

typedef struct pcscf_esp_sa_params {
    pcscf_esp_dir_t dir;
    uint32_t spi; /* 256..2^32-1 (0 and 1..255 are reserved, RFC 4303 §2.1) */
    pcscf_esp_auth_t auth;
    pcscf_esp_enc_t enc;
    uint8_t ck[16], ik[16];   /* as AKA produced them; expanded by pcscf_esp_keys_derive */
    int family;               /* AF_INET (AF_INET6 stored and listed, no datapath yet) */
    uint8_t src[16], dst[16]; /* outer addresses, network order (IPv4 in the first 4) */
    uint16_t sport, dport;    /* the transport ports this SA carries (the selector) */
    char owner[128];          /* who it belongs to (an IMPI), for listing and teardown */
} pcscf_esp_sa_params_t;

typedef struct pcscf_esp_counters {
    uint64_t packets;       /* protected (out) or accepted (in) */
    uint64_t bytes;         /* ESP bytes (SPI to ICV) of those packets */
    uint64_t auth_failures; /* ICV did not verify */
    uint64_t replays;       /* sequence number seen before or left of the window */
    uint64_t malformed;     /* too short, bad length or padding */
} pcscf_esp_counters_t;

typedef struct pcscf_esp_sa pcscf_esp_sa_t;

/* Returns 0, EINVAL (reserved SPI, unknown algorithm) or ENOMEM. */
int pcscf_esp_sa_create(const pcscf_esp_sa_params_t *p, pcscf_esp_sa_t **out);
void pcscf_esp_sa_free(pcscf_esp_sa_t *sa); /* wipes the keys */
const pcscf_esp_sa_params_t *pcscf_esp_sa_params(const pcscf_esp_sa_t *sa);
const pcscf_esp_counters_t *pcscf_esp_sa_counters(const pcscf_esp_sa_t *sa);
void pcscf_esp_sa_keys(const pcscf_esp_sa_t *sa, pcscf_esp_keys_t *out);
/* Last sequence number sent (out) or the right edge of the replay window (in). */
uint32_t pcscf_esp_sa_seq(const pcscf_esp_sa_t *sa);

/* Results of protect/unprotect besides 0. */
enum {
    PCSCF_ESP_E_MALFORMED = 1, /* truncated, misaligned, impossible padding */
    PCSCF_ESP_E_AUTH,          /* ICV mismatch */
    PCSCF_ESP_E_REPLAY,        /* sequence number replayed or too old */
    PCSCF_ESP_E_SPACE,         /* output buffer too small */
    PCSCF_ESP_E_SEQ,           /* outbound sequence number space used up: the SA must go */
    PCSCF_ESP_E_CRYPTO,        /* OpenSSL failed */
    PCSCF_ESP_E_DIR            /* protect on an inbound SA or the reverse */
};
const char *pcscf_esp_strerror(int rc);

/* Builds SPI | seq | IV | E(payload | padding | pad length | next header) | ICV into out
 * (needs len + PCSCF_ESP_OVERHEAD bytes). Padding is 1, 2, 3, ... (RFC 4303 §2.4); the IV
 * is random. */
int pcscf_esp_protect(pcscf_esp_sa_t *sa, uint8_t next_header, const uint8_t *in, size_t len,
                      uint8_t *out, size_t cap, size_t *outlen);
/* The same with a given IV (ignored for NULL): only for checking published vectors. */
int pcscf_esp_protect_iv(pcscf_esp_sa_t *sa, uint8_t next_header, const uint8_t *in, size_t len,
                         const uint8_t *iv, uint8_t *out, size_t cap, size_t *outlen);
/* Verifies (replay window first, then the ICV in constant time) and decrypts an ESP packet
 * (from the SPI on); writes the payload to out (cap >= len suffices). Counts the outcome. */
int pcscf_esp_unprotect(pcscf_esp_sa_t *sa, const uint8_t *in, size_t len, uint8_t *out, size_t cap,
                        size_t *outlen, uint8_t *next_header);
/* SPI of an ESP packet, 0 when shorter than a header. */
uint32_t pcscf_esp_spi_of(const uint8_t *esp, size_t len);

/* ---- the SA table, behind an interface so that a kernel XFRM back-end can replace the
 * user-space one where the host kernel has ESP ---- */

typedef void (*pcscf_esp_visit_cb)(void *arg, uint64_t id, const pcscf_esp_sa_params_t *p,
                                   const pcscf_esp_counters_t *c, const pcscf_esp_keys_t *keys);

typedef struct pcscf_esp_ops {
    const char *name; /* "userspace" */
    /* Installs an SA; *id identifies it for del. 0, EEXIST (inbound SPI in use), EINVAL or
     * ENOMEM. An outbound SA with the selector of an older one takes its place in lookups
     * until it is removed. */
    int (*add)(void *be, const pcscf_esp_sa_params_t *p, uint64_t *id);
    /* 0 or ENOENT. */
    int (*del)(void *be, uint64_t id);
    /* Removes every SA of owner; returns how many. */
    size_t (*del_owner)(void *be, const char *owner);
    /* Calls cb for each SA in installation order; returns how many. */
    size_t (*list)(void *be, pcscf_esp_visit_cb cb, void *arg);
    size_t (*count)(void *be);
    bool (*spi_in_use)(void *be, uint32_t spi); /* as an inbound SPI */
    void (*destroy)(void *be);
} pcscf_esp_ops_t;

typedef struct pcscf_esp_table {
    const pcscf_esp_ops_t *ops;
    void *be;
} pcscf_esp_table_t;

/* The user-space back-end: the SAs live here and the datapath (esp_tun.c) looks them up. */
int pcscf_esp_user_create(pcscf_esp_table_t *out);
/* The table's inbound SA for spi, NULL when none. */
pcscf_esp_sa_t *pcscf_esp_user_lookup_in(const pcscf_esp_table_t *t, uint32_t spi);
/* The outbound SA toward dst:dport from our sport (IPv4 address in network order). */
pcscf_esp_sa_t *pcscf_esp_user_lookup_out(const pcscf_esp_table_t *t, const uint8_t dst[4],
                                          uint16_t dport, uint16_t sport);

/* One line of Wireshark's esp_sa table (Preferences → Protocols → ESP), for an export that
 * lets a capture of the lab decrypt: "IPv4","src","dst","0xSPI","enc","0xkey","auth","0xkey".
 * Returns the length snprintf would. */
int pcscf_esp_wireshark_line(const pcscf_esp_sa_params_t *p, const pcscf_esp_keys_t *k, char *out,
                             size_t cap);

#endif
