/* The P-CSCF status API's IPsec resources: GET /api/v1/ipsec/sas (keys only with the token)
 * and GET /api/v1/ipsec/esp_sa (Wireshark's esp_sa table: keys, so the token is required). */
#include "core.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ims/http_server.h"
#include "ims/util.h"

/* True when the request carries "Authorization: Bearer <token>" and a token is set. */
static bool has_token(const char *token, const ims_http_req_t *req)
{
    static const char scheme[] = "Bearer ";
    const char *h = ims_http_req_header(req, "Authorization");
    return token && *token && h && strncmp(h, scheme, sizeof scheme - 1) == 0 &&
           ims_ct_streq(h + sizeof scheme - 1, token);
}

bool pcscf_ipsec_api_handle(pcscf_t *p, const char *token, const ims_http_req_t *req,
                            ims_http_resp_t *resp)
{
    bool sas = strcmp(req->path, "/api/v1/ipsec/sas") == 0;
    bool esp_sa = strcmp(req->path, "/api/v1/ipsec/esp_sa") == 0;
    if (!sas && !esp_sa)
        return false;
    if (strcmp(req->method, "GET") != 0 && strcmp(req->method, "HEAD") != 0) {
        ims_http_resp_error(resp, 405, "method_not_allowed", "use GET on %s", req->path);
        return true;
    }
    bool keys = has_token(token, req);
    if (sas) {
        json_t *j = pcscf_ipsec_sip_sas(p, keys);
        if (j)
            ims_http_resp_json(resp, 200, j);
        else
            ims_http_resp_error(resp, 500, "out_of_memory", "cannot list the SAs");
        return true;
    }
    if (!keys) {
        ims_http_resp_error(resp, 401, "token_required",
                            "the esp_sa table holds the ESP keys: send Authorization: Bearer "
                            "<token> (the pcscf's --token; without one keys are never exported)");
        return true;
    }
    char *text = pcscf_ipsec_sip_esp_sa(p);
    if (text)
        ims_http_resp_text(resp, 200, "text/plain; charset=utf-8", text);
    else
        ims_http_resp_error(resp, 500, "out_of_memory", "cannot export the SAs");
    ims_secure_zero(text, text ? strlen(text) : 0);
    free(text);
    return true;
}
