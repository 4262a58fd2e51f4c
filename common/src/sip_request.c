/* Requests built outside any nta leg (ims/sip_request.h): the request line and the headers
 * from a tag list, ready for nta_outgoing_mcreate. */
#include "ims/sip_request.h"

#include <sofia-sip/sip_header.h>
#include <sofia-sip/sip_tag.h>
#include <sofia-sip/su_tagarg.h>

msg_t *ims_sip_request_msg(nta_agent_t *agent, sip_method_t method, const char *name,
                           const char *ruri, tag_type_t tag, tag_value_t value, ...)
{
    msg_t *msg = agent && ruri ? nta_msg_create(agent, 0) : NULL;
    sip_t *sip = msg ? sip_object(msg) : NULL;
    if (!sip) {
        msg_destroy(msg);
        return NULL;
    }
    sip_request_t *rq =
        sip_request_create(msg_home(msg), method, name, URL_STRING_MAKE(ruri), NULL);
    ta_list ta;
    ta_start(ta, tag, value);
    int rc = rq ? sip_add_tl(msg, sip, SIPTAG_REQUEST(rq), ta_tags(ta)) : -1;
    ta_end(ta);
    if (rc >= 0 && !sip->sip_max_forwards)
        rc = sip_add_tl(msg, sip, SIPTAG_MAX_FORWARDS_STR("70"), TAG_END());
    if (rc < 0 || !sip->sip_request) {
        msg_destroy(msg);
        return NULL;
    }
    return msg;
}
