/* Network-initiated shortening of a registration (SPEC §7, RFC 3680 "shortened"): the
 * bindings are made to expire sooner and the reg event subscribers are told so. */
#include "ims/log.h"
#include "ims/util.h"
#include "regevent.h"

size_t scscf_registrar_shorten(scscf_t *s, scscf_record_t *rec, long secs)
{
    int64_t due = ims_wall_s() + secs;
    scscf_regevent_batch_t *bt = scscf_regevent_begin(s, rec);
    size_t n = 0;
    for (const scscf_binding_t *b = scscf_record_bindings(rec); b; b = b->next) {
        if (b->expires_at <= due)
            continue;
        scscf_location_set_expiry(s->loc, rec, b, due);
        scscf_regevent_note(bt, b, SCSCF_EV_SHORTENED);
        n++;
    }
    const char *impu = scscf_record_impu(rec);
    IMS_INFO("shortened %zu bindings of %s to %ld s (network-initiated)", n,
             impu ? impu : scscf_record_impi(rec), secs);
    scscf_regevent_commit(s, bt, rec);
    return n;
}
