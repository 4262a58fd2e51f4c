/* The identity the P-CSCF asserts for a registered UE (TS 24.229 §5.2.6.3.3, SPEC §4): the
 * P-Preferred-Identity when it is in the P-Associated-URI set, else that set's first entry. */
#include "pcscf.h"

#include <string.h>

#include <sofia-sip/su_alloc.h>
#include <sofia-sip/url.h>

#include "ims/sip_conform.h"

/* Whether uri (text) is one of the associated URIs, compared as resources. */
static const char *in_set(su_home_t *home, const char *uri, const char *const *assoc, size_t n)
{
    url_t *u = url_make(home, uri);
    for (size_t i = 0; u && i < n; i++) {
        url_t *a = url_make(home, assoc[i]);
        if (a && ims_sip_same_resource(u, a))
            return assoc[i];
    }
    return NULL;
}

/* Each URI of a P-Preferred-Identity value: `"Name" <uri>, <tel:...>` or a bare URI. */
static const char *preferred_in_set(su_home_t *home, const char *ppi, const char *const *assoc,
                                    size_t n)
{
    char *v = su_strdup(home, ppi);
    for (char *p = v; p && *p;) {
        char *lt = strchr(p, '<'), *uri, *end;
        if (lt) {
            uri = lt + 1;
            end = strchr(uri, '>');
            if (!end)
                return NULL;
        } else {
            uri = p + strspn(p, " \t");
            end = uri + strcspn(uri, ",; \t");
        }
        char *next = strchr(end, ',');
        *end = '\0';
        const char *hit = in_set(home, uri, assoc, n);
        if (hit)
            return hit;
        p = next ? next + 1 : NULL;
    }
    return NULL;
}

const char *pcscf_asserted_identity(su_home_t *home, const sip_t *sip, const char *const *assoc,
                                    size_t nassoc, const char *impu)
{
    const char *ppi = pcscf_unknown_get(sip, "P-Preferred-Identity");
    const char *hit = ppi && nassoc ? preferred_in_set(home, ppi, assoc, nassoc) : NULL;
    if (hit)
        return hit;
    /* Without a P-Associated-URI (an S-CSCF that sent none) the registered IMPU is all we
     * know the UE by. */
    return nassoc ? assoc[0] : impu;
}
