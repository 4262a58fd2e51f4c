/* The SIP side of the UE test controls both CSCFs share: which identities a request is
 * about, and a message's text for the timeline. */
#ifndef IMS_UE_SIP_H
#define IMS_UE_SIP_H

#include <stddef.h>

#include <sofia-sip/sip.h>

/* impu: To's AOR (sip:user@host, or tel:number). impi: the Authorization username (with
 * "@domain" added to a bare user part), else To's user@host. "" when unknown. */
void ims_ue_sip_ids(sip_t const *sip, const char *domain, char *impi, size_t impilen, char *impu,
                    size_t impulen);
/* The message as text, allocated from the message's own home (freed with it, or with
 * su_free(msg_home(msg), text)); NULL when msg is NULL or out of memory. */
char *ims_ue_sip_text(msg_t *msg, size_t *len);

#endif
