/* The application/reginfo+xml body of a reg event NOTIFY (RFC 3680 §5.3, TS 24.229
 * §5.4.2.1.2): a plain description of the registrations in, well-formed XML out. */
#ifndef SCSCF_REGINFO_H
#define SCSCF_REGINFO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SCSCF_REGINFO_NS "urn:ietf:params:xml:ns:reginfo"

/* <registration state="...">: init (no binding yet), active, terminated. */
typedef enum {
    SCSCF_REG_INIT = 0,
    SCSCF_REG_ACTIVE,
    SCSCF_REG_TERMINATED,
} scscf_reg_state_t;

/* <contact event="...">: what last changed that contact (RFC 3680 §5.3 and the state
 * machine of §5.1). Active contacts: registered, created, refreshed, shortened; terminated
 * ones: expired, deactivated, probation, unregistered, rejected. */
typedef enum {
    SCSCF_EV_REGISTERED = 0,
    SCSCF_EV_CREATED,
    SCSCF_EV_REFRESHED,
    SCSCF_EV_SHORTENED,
    SCSCF_EV_EXPIRED,
    SCSCF_EV_DEACTIVATED,
    SCSCF_EV_PROBATION,
    SCSCF_EV_UNREGISTERED,
    SCSCF_EV_REJECTED,
    SCSCF_EV_COUNT
} scscf_reg_event_t;

/* The attribute value of an event, and its inverse (-1 for an unknown name). */
const char *scscf_reg_event_name(scscf_reg_event_t ev);
int scscf_reg_event_parse(const char *name);
/* True for the events that leave a contact terminated. */
bool scscf_reg_event_terminates(scscf_reg_event_t ev);

/* One <contact>. Strings are borrowed for the duration of the write; any byte sequence is
 * accepted (the writer escapes markup and replaces what XML 1.0 cannot carry). */
typedef struct scscf_reginfo_contact {
    const char *uri;     /* the Contact URI, without angle brackets */
    const char *params;  /* Contact header parameters ";a=b;c;+sip.instance=\"<urn:..>\"" or
                            NULL: each becomes an <unknown-param>, except expires (the expires
                            attribute says it) and q (the q attribute when it is a valid
                            qvalue, else left out) */
    const char *id_key;  /* what identifies the binding (the +sip.instance and reg-id, or
                            NULL: the URI): the contact id is derived from it, so it stays the
                            same in every NOTIFY and across restarts */
    const char *call_id; /* callid attribute, or NULL */
    uint32_t cseq;       /* cseq attribute when call_id is given */
    scscf_reg_event_t event;
    long expires;     /* seconds left, or -1 to leave the attribute out; a terminated
                         contact says 0 */
    long retry_after; /* seconds, or -1: for probation and rejected */
} scscf_reginfo_contact_t;

/* One <registration>: an IMPU of the implicit set and its contacts. The state comes from
 * the caller: active while a contact is active, terminated when the last one went. */
typedef struct scscf_reginfo_reg {
    const char *aor;
    scscf_reg_state_t state;
    const scscf_reginfo_contact_t *contacts;
    size_t ncontacts;
} scscf_reginfo_reg_t;

/* Writes <reginfo version=... state=full|partial> with one <registration> per entry of
 * regs, in order. *out (NUL-terminated, *outlen bytes, free() it) is set only on success.
 * Returns 0, EINVAL (an aor or uri is NULL) or ENOMEM. */
int scscf_reginfo_write(uint32_t version, bool full, const scscf_reginfo_reg_t *regs, size_t nregs,
                        char **out, size_t *outlen);

/* The stable id of a registration (from its aor) or of a contact (from aor and id key):
 * "r" or "c" and 16 hex digits of a 64-bit FNV-1a hash; buf holds at least 18 bytes. */
void scscf_reginfo_reg_id(const char *aor, char *buf, size_t len);
void scscf_reginfo_contact_id(const char *aor, const char *key, char *buf, size_t len);

#endif
