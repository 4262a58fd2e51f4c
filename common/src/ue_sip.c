/* Identities and message text for the timeline, from Sofia's parsed request: the same
 * rules in both CSCFs, so their timelines file a UE under the same names. */
#include "ims/ue_sip.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <sofia-sip/msg.h>
#include <sofia-sip/sip_header.h>

void ims_ue_sip_ids(sip_t const *sip, const char *domain, char *impi, size_t impilen, char *impu,
                    size_t impulen)
{
    url_t const *to = sip && sip->sip_to ? sip->sip_to->a_url : NULL;
    impi[0] = impu[0] = '\0';
    if (to && to->url_host && (to->url_type == url_sip || to->url_type == url_sips))
        snprintf(impu, impulen, "%s:%s%s%s", to->url_type == url_sips ? "sips" : "sip",
                 to->url_user ? to->url_user : "", to->url_user ? "@" : "", to->url_host);
    else if (to && to->url_type == url_tel && to->url_host)
        snprintf(impu, impulen, "tel:%s", to->url_host);
    const char *user = NULL;
    for (sip_authorization_t const *a = sip ? sip->sip_authorization : NULL; a && !user;
         a = a->au_next)
        for (int i = 0; a->au_params && a->au_params[i] && !user; i++)
            if (strncasecmp(a->au_params[i], "username=", 9) == 0)
                user = a->au_params[i] + 9;
    if (user) {
        size_t n = strlen(user);
        if (n >= 2 && user[0] == '"' && user[n - 1] == '"') {
            user++;
            n -= 2;
        }
        bool full = memchr(user, '@', n) != NULL;
        snprintf(impi, impilen, "%.*s%s%s", (int)n, user, full ? "" : "@", full ? "" : domain);
    } else if (to && to->url_user && to->url_host) {
        snprintf(impi, impilen, "%s@%s", to->url_user, to->url_host);
    }
}

char *ims_ue_sip_text(msg_t *msg, size_t *len)
{
    *len = 0;
    if (!msg)
        return NULL;
    size_t n = 0;
    char *t = msg_as_string(msg_home(msg), msg, msg_object(msg), 0, &n);
    *len = t ? n : 0;
    return t;
}
