/* libFuzzer target for the reginfo+xml writer (scscf/reginfo.c): whatever a UE put in its
 * Contact, AOR or Call-ID, the body must be a document libxml2 parses without an error. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>

#include "reginfo.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void quiet(void *ctx, const char *msg, ...)
{
    (void)ctx;
    (void)msg;
}

/* The input is up to five fields separated by NUL bytes: aor, uri, params, call-id, and
 * one byte choosing the event and the optional attributes. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int init;
    if (!init) {
        xmlSetGenericErrorFunc(NULL, quiet);
        init = 1;
    }
    char *copy = malloc(size + 1);
    if (!copy)
        return 0;
    memcpy(copy, data, size);
    copy[size] = 0;
    const char *field[5] = {"", "", NULL, NULL, ""};
    char *p = copy, *end = copy + size;
    for (int i = 0; i < 5 && p <= end; i++) {
        field[i] = p;
        p += strlen(p) + 1;
    }
    unsigned sel = (unsigned char)field[4][0];
    scscf_reginfo_contact_t c = {
        .uri = field[1],
        .params = field[2],
        .id_key = sel & 0x80 ? field[2] : NULL,
        .call_id = field[3],
        .cseq = sel,
        .event = (scscf_reg_event_t)(sel % SCSCF_EV_COUNT),
        .expires = sel & 0x10 ? -1 : (long)sel * 1000,
        .retry_after = sel & 0x20 ? (long)sel : -1,
    };
    scscf_reginfo_reg_t r = {.aor = field[0],
                             .state = (scscf_reg_state_t)(sel % 3),
                             .contacts = &c,
                             .ncontacts = sel & 0x40 ? 0 : 1};
    char *body = NULL;
    size_t len = 0;
    if (scscf_reginfo_write(sel, sel & 1, &r, 1, &body, &len) != 0)
        abort(); /* nothing here is missing: only ENOMEM could fail, and it does not */
    if (strlen(body) != len)
        abort();
    xmlDocPtr doc = xmlReadMemory(body, (int)len, "fuzz.xml", NULL,
                                  XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    if (!doc) {
        fprintf(stderr, "not well-formed:\n%s\n", body);
        abort();
    }
    xmlNodePtr root = xmlDocGetRootElement(doc);
    if (!root || strcmp((const char *)root->name, "reginfo") != 0 || !root->ns ||
        strcmp((const char *)root->ns->href, SCSCF_REGINFO_NS) != 0)
        abort();
    xmlFreeDoc(doc);
    free(body);
    free(copy);
    return 0;
}
