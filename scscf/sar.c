/* SAR reporting of the S-CSCF: the HSS learns of every set that becomes registered or
 * unregistered (by the UE, the status API or expiry), after the UE has its answer. */
#include "ims/log.h"
#include "register.h"

static void on_sar(void *ctx, long status, json_t *body)
{
    scscf_t *s = ctx;
    IMS_DEBUG("SAR answered %ld", status);
    if (status != 200) {
        s->m.sar_failed++;
        IMS_WARN("SAR not accepted by the HSS (status %ld)", status);
    }
}

void scscf_sar_send(scscf_t *s, const char *impi, const char *impu, bool registered)
{
    json_t *b = json_pack("{s:s, s:s, s:s, s:s}", "impi", impi, "impu", impu ? impu : "", "state",
                          registered ? "registered" : "unregistered", "scscf", s->cfg.scscf_uri);
    s->m.sar_sent++;
    if (!b || s->hss_post(s->hss_ctx, "/api/v1/cx/sar", b, on_sar, s)) {
        s->m.sar_failed++;
        IMS_WARN("SAR for %s could not be sent", impu ? impu : impi);
    }
}

void scscf_registrar_deregister(scscf_t *s, scscf_record_t *rec, const char *why)
{
    const char *impi = scscf_record_impi(rec), *impu = scscf_record_impu(rec);
    IMS_INFO("deregistering %s (%s)", impu ? impu : impi, why);
    scscf_sar_send(s, impi, impu, false);
    s->m.deregistrations++;
    scscf_location_remove(s->loc, rec);
}

static void on_expired(void *ctx, scscf_record_t *rec)
{
    scscf_t *s = ctx;
    s->m.expired++;
    scscf_sar_send(s, scscf_record_impi(rec), scscf_record_impu(rec), false);
}

void scscf_registrar_expire(scscf_t *s, int64_t now)
{
    scscf_location_expire(s->loc, now, on_expired, s);
}
