/* Plain-words hints for a UE tester: one row per cause the CSCFs can recognise, so the
 * timeline says why a registration went the way it did. */
#ifndef IMS_HINT_H
#define IMS_HINT_H

#include <stddef.h>

/* Keep in the order of the table in hint.c (a unit test checks every row). */
typedef enum ims_hint {
    IMS_HINT_NONE = 0,
    IMS_HINT_CHALLENGED,          /* first REGISTER answered with a 401 */
    IMS_HINT_REGISTERED,          /* 200 OK: bindings saved */
    IMS_HINT_REREGISTERED,        /* 200 OK to a refresh */
    IMS_HINT_DEREGISTERED,        /* Expires 0 or Contact * */
    IMS_HINT_RES_MISMATCH,        /* AKA: RES != XRES */
    IMS_HINT_AKA_RESYNC,          /* AKA: AUTS received, SQN resynchronised */
    IMS_HINT_AKA_RESYNC_FAILED,   /* AKA: AUTS did not verify */
    IMS_HINT_DIGEST_PASSWORD,     /* digest response wrong with our realm/nonce/uri */
    IMS_HINT_DIGEST_URI,          /* response matches the Request-URI, not the uri sent */
    IMS_HINT_DIGEST_REALM,        /* realm in Authorization is not ours */
    IMS_HINT_NONCE_UNKNOWN,       /* nonce never issued, or forgotten */
    IMS_HINT_STALE_NONCE,         /* nonce expired: 401 stale=true */
    IMS_HINT_NC_REPLAY,           /* nc not above the last one */
    IMS_HINT_NO_ANSWER_401,       /* the UE never answered the 401 */
    IMS_HINT_FOREIGN_DOMAIN,      /* Request-URI outside the home domain */
    IMS_HINT_EXPIRES_TOO_BRIEF,   /* Expires below min-expires: 423 */
    IMS_HINT_BARRED_IMPU,         /* registration or request with a barred IMPU */
    IMS_HINT_USER_UNKNOWN,        /* HSS does not know the IMPI/IMPU */
    IMS_HINT_HSS_UNREACHABLE,     /* HSS down, slow or garbled */
    IMS_HINT_SEC_VERIFY_MISSING,  /* protected REGISTER without Security-Verify */
    IMS_HINT_SEC_VERIFY_MISMATCH, /* Security-Verify differs from Security-Server */
    IMS_HINT_ESP_UNKNOWN_SPI,     /* ESP packet for an SPI we never allocated */
    IMS_HINT_ESP_ICV_FAILED,      /* ESP packet whose integrity check failed */
    IMS_HINT_FAULT_FIRED,         /* a fault-injection rule changed what we did */
    IMS_HINT_FORWARDED,           /* P-CSCF: request forwarded */
    IMS_HINT_MALFORMED,           /* 400: a header missing or unparsable */
    IMS_HINT_COUNT
} ims_hint_t;

typedef struct ims_hint_row {
    ims_hint_t hint;
    const char *id;   /* stable machine name, e.g. "res_mismatch" */
    const char *text; /* plain words; the detail (when any) is appended after ": " */
} ims_hint_row_t;

/* The row of hint; NULL for IMS_HINT_NONE or out of range. */
const ims_hint_row_t *ims_hint_row(ims_hint_t hint);
/* hint by id; IMS_HINT_NONE when unknown. */
ims_hint_t ims_hint_by_id(const char *id);
/* "<text>" or "<text>: <detail>" into out (always NUL-terminated, cut to fit). Returns
 * the length written. IMS_HINT_NONE gives "" (or the detail alone when there is one). */
size_t ims_hint_format(ims_hint_t hint, const char *detail, char *out, size_t cap);

#endif
