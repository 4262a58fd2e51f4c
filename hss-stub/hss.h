/* Internal contracts of the hss-stub: the subscriber record, its JSON form and
 * validation, the SQLite store, authentication vectors and the HTTP entry point. */
#ifndef HSS_H
#define HSS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ims/aka.h"
#include "ims/http_server.h"

/* Limits, documented in docs/hss-api.md. */
#define HSS_IMSI_MAX     15
#define HSS_MSISDN_MAX   15
#define HSS_URI_MAX      255 /* IMPI and IMPU length */
#define HSS_PASSWORD_MAX 128
#define HSS_IMPUS_MAX    32
#define HSS_BODY_MAX     (64 * 1024)        /* a single document or any other request */
#define HSS_BULK_MAX     (64 * 1024 * 1024) /* a bulk import array */
#define HSS_LIST_DEFAULT 100
#define HSS_LIST_MAX     1000

typedef enum { HSS_DIGEST = 1, HSS_AKA = 2 } hss_scheme_t;

typedef struct hss_impu {
    char uri[HSS_URI_MAX + 1];
    bool barred;
} hss_impu_t;

typedef struct hss_sub {
    char imsi[HSS_IMSI_MAX + 1];
    char msisdn[HSS_MSISDN_MAX + 1]; /* "" when absent */
    char impi[HSS_URI_MAX + 1];
    size_t nimpus;
    hss_impu_t impus[HSS_IMPUS_MAX];
    hss_scheme_t scheme;
    char password[HSS_PASSWORD_MAX + 1]; /* digest */
    uint8_t k[16], opc[16], amf[2];      /* aka */
    uint64_t sqn;                        /* aka: the last SQN handed out (48 bits) */
    ims_aka_version_t algorithm;
    /* Live registration state reported by the S-CSCF through Cx SAR (read-only view). */
    bool registered;
    char scscf[HSS_URI_MAX + 1];
    int64_t reg_updated; /* unix seconds; 0 = never reported */
} hss_sub_t;

/* Wipes secrets before the memory is reused or released. */
void hss_sub_clear(hss_sub_t *s);

/* ---- subscriber.c: JSON <-> record ---- */

/* Validates a provisioning document and fills *out (defaults derived with domain).
 * On failure returns 400 or 409-style HTTP status with a short code and a sentence
 * (never containing a secret). `what` prefixes messages, e.g. "item 3: ". */
typedef struct hss_err {
    int status;
    char code[32];
    char message[768];
} hss_err_t;

int hss_sub_from_json(const json_t *doc, const char *domain, hss_sub_t *out, hss_err_t *err);
/* The public view: secrets left out, registration state included. */
json_t *hss_sub_to_json(const hss_sub_t *s);
/* The IMPU list as [{"uri", "barred"}], shared by the REST and Cx answers. */
json_t *hss_impus_json(const hss_sub_t *s);
/* The full stored document including secrets (hex), used as the PATCH merge base only;
 * never sent out. */
json_t *hss_sub_to_doc(const hss_sub_t *s);
/* RFC 7396 merge of patch into target (target modified); returns target or a new value. */
json_t *hss_merge_patch(json_t *target, const json_t *patch);
/* Length-checked validators shared with the Cx handlers. */
bool hss_valid_imsi(const char *s);
bool hss_valid_uri(const char *s);
/* The user part of an IMPI (before '@'), copied into out. */
void hss_user_part(const char *impi, char *out, size_t outlen);

/* ---- subscriber_db.c: SQLite store, thread-safe (one connection behind a mutex) ---- */

typedef struct hss_db hss_db_t;

int hss_db_open(const char *path, hss_db_t **out, char *err, size_t errlen);
void hss_db_close(hss_db_t *db);

/* Inserts n records produced one at a time by next() (validation errors abort) in one
 * transaction, so a 100k import needs one record of memory. Conflicts (IMSI, IMPI or IMPU already
 * stored or repeated inside the batch) -> 409 naming the index; nothing is stored then. Returns 0
 * or fills err. */
typedef int (*hss_sub_next_cb)(void *arg, size_t index, hss_sub_t *out, hss_err_t *err);
int hss_db_insert(hss_db_t *db, size_t n, hss_sub_next_cb next, void *arg, bool bulk,
                  hss_err_t *err);
/* Replaces the stored record with the same IMSI, keeping the registration state. */
int hss_db_replace(hss_db_t *db, const hss_sub_t *sub, hss_err_t *err);
/* 0, ENOENT, or EIO. */
int hss_db_get(hss_db_t *db, const char *imsi, hss_sub_t *out);
int hss_db_delete(hss_db_t *db, const char *imsi);
/* Calls each() for up to limit records ordered by IMSI (the record is only valid during
 * the call) whose IMSI starts with prefix (NULL or "" = all, else digits); *total gets
 * the number of such records. */
typedef void (*hss_sub_each_cb)(void *arg, const hss_sub_t *sub);
int hss_db_list(hss_db_t *db, const char *prefix, long limit, long offset, hss_sub_each_cb each,
                void *arg, long *total);
/* IMSI owning an IMPU, or owning a username (IMPI, IMSI, or IMPI user part). */
int hss_db_find_impu(hss_db_t *db, const char *uri, char imsi[HSS_IMSI_MAX + 1]);
int hss_db_find_user(hss_db_t *db, const char *username, char imsi[HSS_IMSI_MAX + 1]);
/* Atomically moves the subscriber's SQN to ims_sqn_next(base) where base is *resync_sqn
 * when given, else the stored SQN, and commits before returning it in *sqn. */
int hss_db_advance_sqn(hss_db_t *db, const char *imsi, const uint64_t *resync_sqn, uint64_t *sqn);
int hss_db_set_registration(hss_db_t *db, const char *imsi, bool registered, const char *scscf);

/* ---- vectors.c: authentication material ---- */

/* Fills json with "ha1": {"impi", "user"} for a digest subscriber. */
void hss_vector_digest(const hss_sub_t *s, const char *realm, json_t *out);
/* Draws RAND and builds one AKA vector for SQN sqn into out (rand/autn/xres/ck/ik).
 * Returns 0 or EIO. */
int hss_vector_aka(const hss_sub_t *s, uint64_t sqn, json_t *out);

/* ---- router.c: the daemon's HTTP entry point (handlers in api.h) ---- */

typedef struct hss_ctx {
    hss_db_t *db;
    const char *domain;
    const char *console_scscf, *console_pcscf; /* status API base URLs for the console */
} hss_ctx_t;

/* The ims_http_handler_cb of the daemon: routes every request through the route table. */
void hss_http_handler(void *ctx, const ims_http_req_t *req, ims_http_resp_t *resp);
/* The embedded docs/openapi.yaml (openapi_yaml.c, generated at build time). */
extern const char hss_openapi_yaml[];
/* console.c: the daemon's handler: the web console under /console/ (with its config.json),
 * everything else to hss_http_handler. */
void hss_console_handler(void *ctx, const ims_http_req_t *req, ims_http_resp_t *resp);

#endif
