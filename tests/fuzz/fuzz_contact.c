/* libFuzzer target for the P-CSCF header surgery (pcscf/path.c): whole SIP messages parsed
 * by Sofia, then Route consumption, Contact alias rewriting and ck/ik stripping, re-encoded. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sofia-sip/msg.h>
#include <sofia-sip/msg_mclass.h>
#include <sofia-sip/sip.h>
#include <sofia-sip/sip_header.h>
#include <sofia-sip/su_alloc.h>

#include "pcscf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define DOMAIN "ims.mnc011.mcc432.3gppnetwork.org"

static size_t count_contacts(const sip_t *sip)
{
    size_t n = 0;
    for (const sip_contact_t *m = sip->sip_contact; m; m = m->m_next)
        n++;
    return n;
}

/* The first input byte picks the packet's source (IPv4/IPv6, port, transport), as a NAT
 * would; the rest is the message. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    uint8_t sel = data[0];
    data++;
    size--;

    static const char *const sources[] = {"127.0.0.1", "10.0.0.7", "::1", "2001:db8::5"};
    const char *src_ip = sources[sel & 3];
    uint16_t src_port = (sel & 4) ? 5060 : (uint16_t)(40000 + sel);
    bool tcp = (sel & 8) != 0;

    msg_t *msg = msg_make(sip_default_mclass(), 0, data, (isize_t)size);
    if (!msg)
        return 0;
    sip_t *sip = sip_object(msg);
    if (!sip || (!sip->sip_request && !sip->sip_status)) {
        msg_destroy(msg);
        return 0;
    }

    su_home_t home[1] = {SU_HOME_INIT(home)};
    static const char *const aliases[] = {"edge.example.net", "[2001:db8::1]"};
    pcscf_self_t *self = NULL;
    if (pcscf_self_create(home, DOMAIN, "127.0.0.1", 5060, "pcscf.example.org", aliases, 2,
                          &self) != 0)
        abort();

    (void)pcscf_route_consume(self, msg, sip);
    if (sip->sip_route && pcscf_self_is_me(self, sip->sip_route->r_url))
        abort(); /* a leading Route naming us must be gone */

    size_t before = count_contacts(sip);
    int changed = pcscf_contact_alias(msg, sip, src_ip, src_port, tcp);
    if (changed < -1 || (changed >= 0 && (size_t)changed > before))
        abort();
    if (changed >= 0 && count_contacts(sip) != before)
        abort();

    char ck[33] = "", ik[33] = "";
    (void)pcscf_strip_ck_ik(msg, sip, ck, ik, sizeof ck);
    if (memchr(ck, '\0', sizeof ck) == NULL || memchr(ik, '\0', sizeof ik) == NULL)
        abort();
    for (sip_www_authenticate_t *au = sip->sip_www_authenticate; au; au = au->au_next)
        for (size_t i = 0; au->au_params && au->au_params[i]; i++)
            if (!strncasecmp(au->au_params[i], "ck=", 3) ||
                !strncasecmp(au->au_params[i], "ik=", 3))
                abort(); /* a key would reach the UE */
    pcscf_unknown_remove(msg, sip, "P-Charging-Vector");
    if (pcscf_unknown_get(sip, "P-Charging-Vector"))
        abort();

    /* What the P-CSCF would send: it must encode, and the encoding must parse again with
     * the same number of contacts. */
    if (msg_serialize(msg, (msg_pub_t *)sip) == 0 && msg_prepare(msg) > 0) {
        size_t len = 0;
        char *out = msg_as_string(home, msg, NULL, 0, &len);
        if (out && len > 0) {
            msg_t *again = msg_make(sip_default_mclass(), 0, out, (isize_t)len);
            if (again) {
                sip_t *s2 = sip_object(again);
                if (s2 && (s2->sip_request || s2->sip_status) && !s2->sip_error &&
                    count_contacts(s2) != count_contacts(sip) && !sip->sip_error)
                    abort();
                msg_destroy(again);
            }
        }
    }

    su_home_deinit(home);
    msg_destroy(msg);
    return 0;
}
