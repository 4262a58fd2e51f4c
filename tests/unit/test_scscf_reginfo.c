/* Unit tests for the reginfo+xml writer (scscf/reginfo.c): every body is parsed back with
 * libxml2 and checked against the RFC 3680 structure, hostile Contacts included. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include "test_rng.h"
#include <libxml/parser.h>
#include <libxml/tree.h>

#include "reginfo.h"

#define NS SCSCF_REGINFO_NS

/* Parses strictly (no recovery, no network, no entity expansion tricks): NULL on any
 * error, which the tests turn into a failure. */
static xmlDocPtr parse(const char *body, size_t len)
{
    return xmlReadMemory(body, (int)len, "reginfo.xml", "UTF-8",
                         XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
}

static bool is_el(xmlNodePtr n, const char *name)
{
    return n && n->type == XML_ELEMENT_NODE && strcmp((const char *)n->name, name) == 0 && n->ns &&
           strcmp((const char *)n->ns->href, NS) == 0;
}

static xmlNodePtr first_el(xmlNodePtr n)
{
    while (n && n->type != XML_ELEMENT_NODE)
        n = n->next;
    return n;
}

static xmlNodePtr next_el(xmlNodePtr n)
{
    return first_el(n ? n->next : NULL);
}

/* An attribute's value (copied into buf), or NULL when absent. */
static const char *attr(xmlNodePtr n, const char *name, char *buf, size_t len)
{
    xmlChar *v = xmlGetProp(n, (const xmlChar *)name);
    if (!v)
        return NULL;
    snprintf(buf, len, "%s", (const char *)v);
    xmlFree(v);
    return buf;
}

static char *text(xmlNodePtr n)
{
    xmlChar *v = xmlNodeGetContent(n);
    char *s = strdup(v ? (const char *)v : "");
    xmlFree(v);
    return s;
}

static bool one_of(const char *v, const char *const *set)
{
    for (; v && *set; set++)
        if (strcmp(v, *set) == 0)
            return true;
    return false;
}

static const char *const reg_states[] = {"init", "active", "terminated", NULL};
static const char *const contact_states[] = {"active", "terminated", NULL};
static const char *const events[] = {"registered", "created",     "refreshed", "shortened",
                                     "expired",    "deactivated", "probation", "unregistered",
                                     "rejected",   NULL};

static bool digits(const char *v)
{
    if (!v || !*v)
        return false;
    for (; *v; v++)
        if (*v < '0' || *v > '9')
            return false;
    return true;
}

/* Checks one <contact> against RFC 3680 §5.4: required id/state/event, numeric attributes,
 * children <uri> first (exactly one), then only <display-name>/<unknown-param name=..>. */
static void check_contact(xmlNodePtr c)
{
    char b[256];
    assert_non_null(attr(c, "id", b, sizeof(b)));
    assert_true(one_of(attr(c, "state", b, sizeof(b)), contact_states));
    assert_true(one_of(attr(c, "event", b, sizeof(b)), events));
    if (attr(c, "expires", b, sizeof(b)))
        assert_true(digits(b));
    if (attr(c, "cseq", b, sizeof(b)))
        assert_true(digits(b));
    if (attr(c, "retry-after", b, sizeof(b)))
        assert_true(digits(b));
    xmlNodePtr k = first_el(c->children);
    assert_true(is_el(k, "uri"));
    for (k = next_el(k); k; k = next_el(k)) {
        assert_true(is_el(k, "unknown-param") || is_el(k, "display-name"));
        if (is_el(k, "unknown-param"))
            assert_non_null(attr(k, "name", b, sizeof(b)));
    }
}

/* Checks a whole body; returns the document for more specific checks. */
static xmlDocPtr check_body(const char *body, size_t len, uint32_t version, size_t nregs)
{
    assert_int_equal(strlen(body), len);
    xmlDocPtr doc = parse(body, len);
    assert_non_null(doc);
    xmlNodePtr root = xmlDocGetRootElement(doc);
    assert_true(is_el(root, "reginfo"));
    char b[64], want[32];
    snprintf(want, sizeof(want), "%u", version);
    assert_string_equal(attr(root, "version", b, sizeof(b)), want);
    assert_true(
        one_of(attr(root, "state", b, sizeof(b)), (const char *const[]){"full", "partial", NULL}));
    size_t n = 0;
    for (xmlNodePtr r = first_el(root->children); r; r = next_el(r), n++) {
        assert_true(is_el(r, "registration"));
        assert_non_null(attr(r, "aor", b, sizeof(b)));
        assert_non_null(attr(r, "id", b, sizeof(b)));
        assert_true(one_of(attr(r, "state", b, sizeof(b)), reg_states));
        for (xmlNodePtr c = first_el(r->children); c; c = next_el(c)) {
            assert_true(is_el(c, "contact"));
            check_contact(c);
        }
    }
    assert_int_equal(n, nregs);
    return doc;
}

static xmlNodePtr nth_contact(xmlDocPtr doc, size_t reg, size_t contact)
{
    xmlNodePtr r = first_el(xmlDocGetRootElement(doc)->children);
    while (reg--)
        r = next_el(r);
    xmlNodePtr c = first_el(r->children);
    while (contact--)
        c = next_el(c);
    return c;
}

/* The <unknown-param> siblings after uri: exactly n, with these names and values. */
static void check_params(xmlNodePtr uri, const char *const *names, const char *const *values,
                         size_t n)
{
    char b[256];
    size_t i = 0;
    for (xmlNodePtr p = next_el(uri); p; p = next_el(p), i++) {
        assert_true(i < n);
        assert_true(is_el(p, "unknown-param"));
        assert_string_equal(attr(p, "name", b, sizeof(b)), names[i]);
        char *v = text(p);
        assert_string_equal(v, values[i]);
        free(v);
    }
    assert_int_equal(i, n);
}

static void test_full_state(void **st)
{
    scscf_reginfo_contact_t cs[] = {
        {.uri = "sip:432011123456791@10.0.0.5:5060;transport=udp",
         .params = ";+sip.instance=\"<urn:gsma:imei:35209900-176148-0>\";reg-id=1;"
                   "+g.3gpp.icsi-ref=\"urn%3Aurn-7%3A3gpp-service.ims.icsi.mmtel\";video;q=0.5;"
                   "expires=600000",
         .id_key = "<urn:gsma:imei:35209900-176148-0>;1",
         .call_id = "abc@10.0.0.5",
         .cseq = 7,
         .event = SCSCF_EV_CREATED,
         .expires = 3599,
         .retry_after = -1},
        {.uri = "sip:ue2@10.0.0.6", .event = SCSCF_EV_EXPIRED, .expires = 30, .retry_after = -1},
    };
    scscf_reginfo_reg_t regs[] = {
        {.aor = "sip:98098765432100@ims.test",
         .state = SCSCF_REG_ACTIVE,
         .contacts = cs,
         .ncontacts = 2},
        {.aor = "tel:+98098765432100", .state = SCSCF_REG_ACTIVE, .contacts = cs, .ncontacts = 1},
    };
    char *body;
    size_t len;
    assert_int_equal(scscf_reginfo_write(5, true, regs, 2, &body, &len), 0);
    xmlDocPtr doc = check_body(body, len, 5, 2);
    char b[256];
    xmlNodePtr root = xmlDocGetRootElement(doc);
    assert_string_equal(attr(root, "state", b, sizeof(b)), "full");
    xmlNodePtr r0 = first_el(root->children);
    assert_string_equal(attr(r0, "aor", b, sizeof(b)), "sip:98098765432100@ims.test");
    assert_string_equal(attr(r0, "state", b, sizeof(b)), "active");
    xmlNodePtr c = nth_contact(doc, 0, 0);
    assert_string_equal(attr(c, "state", b, sizeof(b)), "active");
    assert_string_equal(attr(c, "event", b, sizeof(b)), "created");
    assert_string_equal(attr(c, "expires", b, sizeof(b)), "3599");
    assert_string_equal(attr(c, "q", b, sizeof(b)), "0.5");
    assert_string_equal(attr(c, "callid", b, sizeof(b)), "abc@10.0.0.5");
    assert_string_equal(attr(c, "cseq", b, sizeof(b)), "7");
    assert_null(attr(c, "retry-after", b, sizeof(b)));
    xmlNodePtr k = first_el(c->children);
    char *u = text(k);
    assert_string_equal(u, "sip:432011123456791@10.0.0.5:5060;transport=udp");
    free(u);
    /* the unknown-params, in order, quotes removed; expires and q are not among them */
    static const char *const names[] = {"+sip.instance", "reg-id", "+g.3gpp.icsi-ref", "video"};
    static const char *const values[] = {"<urn:gsma:imei:35209900-176148-0>", "1",
                                         "urn%3Aurn-7%3A3gpp-service.ims.icsi.mmtel", ""};
    check_params(k, names, values, 4);
    /* a terminated contact says expires 0 whatever it was given */
    c = nth_contact(doc, 0, 1);
    assert_string_equal(attr(c, "state", b, sizeof(b)), "terminated");
    assert_string_equal(attr(c, "event", b, sizeof(b)), "expired");
    assert_string_equal(attr(c, "expires", b, sizeof(b)), "0");
    /* contact ids: stable per (aor, key), different between contacts and registrations */
    char id0[32], id1[32], id2[32];
    attr(nth_contact(doc, 0, 0), "id", id0, sizeof(id0));
    attr(nth_contact(doc, 0, 1), "id", id1, sizeof(id1));
    attr(nth_contact(doc, 1, 0), "id", id2, sizeof(id2));
    assert_string_not_equal(id0, id1);
    assert_string_not_equal(id0, id2);
    char want[32];
    scscf_reginfo_contact_id("sip:98098765432100@ims.test", "<urn:gsma:imei:35209900-176148-0>;1",
                             want, sizeof(want));
    assert_string_equal(id0, want);
    xmlFreeDoc(doc);
    free(body);
    (void)st;
}

static void test_terminated_and_init(void **st)
{
    scscf_reginfo_contact_t c = {
        .uri = "sip:ue@10.0.0.5", .event = SCSCF_EV_REJECTED, .expires = 100, .retry_after = 3600};
    scscf_reginfo_reg_t regs[] = {
        {.aor = "sip:a@ims.test", .state = SCSCF_REG_TERMINATED, .contacts = &c, .ncontacts = 1},
        {.aor = "sip:b@ims.test", .state = SCSCF_REG_INIT},
    };
    char *body;
    size_t len;
    assert_int_equal(scscf_reginfo_write(0, false, regs, 2, &body, &len), 0);
    xmlDocPtr doc = check_body(body, len, 0, 2);
    char b[64];
    xmlNodePtr root = xmlDocGetRootElement(doc);
    assert_string_equal(attr(root, "state", b, sizeof(b)), "partial");
    xmlNodePtr r0 = first_el(root->children), r1 = next_el(r0);
    assert_string_equal(attr(r0, "state", b, sizeof(b)), "terminated");
    assert_string_equal(attr(r1, "state", b, sizeof(b)), "init");
    assert_null(first_el(r1->children));
    xmlNodePtr k = nth_contact(doc, 0, 0);
    assert_string_equal(attr(k, "event", b, sizeof(b)), "rejected");
    assert_string_equal(attr(k, "retry-after", b, sizeof(b)), "3600");
    xmlFreeDoc(doc);
    free(body);
    /* no registrations at all is still a document */
    assert_int_equal(scscf_reginfo_write(9, true, NULL, 0, &body, &len), 0);
    doc = check_body(body, len, 9, 0);
    xmlFreeDoc(doc);
    free(body);
    (void)st;
}

static void test_rejects_missing(void **st)
{
    char *body = (char *)"untouched";
    size_t len = 0;
    scscf_reginfo_contact_t c = {.uri = NULL};
    scscf_reginfo_reg_t r = {.aor = "sip:a@b", .contacts = &c, .ncontacts = 1};
    assert_int_equal(scscf_reginfo_write(0, true, &r, 1, &body, &len), EINVAL);
    r.aor = NULL;
    r.ncontacts = 0;
    assert_int_equal(scscf_reginfo_write(0, true, &r, 1, &body, &len), EINVAL);
    assert_string_equal(body, "untouched");
    (void)st;
}

/* Hostile Contacts: markup, quotes, CDATA ends, entities, control characters, CR/LF,
 * invalid UTF-8 and U+FFFF must neither break the document nor change markup-safe text. */
static void test_hostile_contact(void **st)
{
    const char *uri = "sip:x\"'<y>&amp;]]><!--@h;a=\"<reginfo>\"\x01\x1b\x7f\r\n\t\xff\xc0\xaf"
                      "\xed\xa0\x80\xef\xbf\xbf\xf4\x90\x80\x80 caf\xc3\xa9 \xf0\x9f\x93\x9e";
    const char *expect = "sip:x\"'<y>&amp;]]><!--@h;a=\"<reginfo>\"\xef\xbf\xbd\xef\xbf\xbd\x7f"
                         "\r\n\t\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"
                         "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"
                         "\xef\xbf\xbd\xef\xbf\xbd caf\xc3\xa9 \xf0\x9f\x93\x9e";
    scscf_reginfo_contact_t c = {
        .uri = uri,
        .params = ";+sip.instance=\"<urn:uuid:\\\"x\\\";&lt;>\";na<me=\"v;w\";=novalue;;"
                  ";<evil>=\"</unknown-param><x>\";reg-id=\x02;q=2;unterminated=\"abc",
        .call_id = "id\"<>&\x03",
        .cseq = 1,
        .event = SCSCF_EV_REGISTERED,
        .expires = 10,
        .retry_after = -1};
    scscf_reginfo_reg_t r = {.aor = "sip:\"<a>&'@ims.test\r\n",
                             .state = SCSCF_REG_ACTIVE,
                             .contacts = &c,
                             .ncontacts = 1};
    char *body;
    size_t len;
    assert_int_equal(scscf_reginfo_write(1, true, &r, 1, &body, &len), 0);
    xmlDocPtr doc = check_body(body, len, 1, 1);
    char b[256];
    xmlNodePtr reg = first_el(xmlDocGetRootElement(doc)->children);
    assert_string_equal(attr(reg, "aor", b, sizeof(b)), "sip:\"<a>&'@ims.test\r\n");
    xmlNodePtr k = nth_contact(doc, 0, 0);
    assert_string_equal(attr(k, "callid", b, sizeof(b)), "id\"<>&\xef\xbf\xbd");
    assert_null(attr(k, "q", b, sizeof(b))); /* 2 is no qvalue */
    char *u = text(first_el(k->children));
    assert_string_equal(u, expect);
    free(u);
    /* the instance value keeps its escaped quotes unescaped and its markup as text; an
     * unnamed parameter is dropped, an unterminated quote kept as it came */
    static const char *const names[] = {"+sip.instance", "na<me", "<evil>", "reg-id",
                                        "unterminated"};
    static const char *const values[] = {"<urn:uuid:\"x\";&lt;>", "v;w", "</unknown-param><x>",
                                         "\xef\xbf\xbd", "\"abc"};
    check_params(first_el(k->children), names, values, 5);
    xmlFreeDoc(doc);
    free(body);
    (void)st;
}

static test_rng_t rng = {0x243f6a8885a308d3ULL};

static unsigned rnd(unsigned n)
{
    return test_rnd(&rng, n);
}

static void random_bytes(char *buf, size_t cap)
{
    static const char pool[] = "<>&\"';=\\ \t\r\n\x01\x7f\x80\xbf\xc3\xa9\xe2\x82\xac\xed\xef\xf0"
                               "\xf4\xff]]>abc:@";
    size_t n = rnd((unsigned)cap - 1);
    for (size_t i = 0; i < n; i++)
        buf[i] = rnd(3) ? pool[rnd(sizeof(pool) - 1)] : (char)(1 + rnd(255));
    buf[n] = 0;
}

/* A few thousand random Contacts, each of which must give a document libxml2 accepts. */
static void test_random_contacts(void **st)
{
    char uri[80], params[120], aor[40];
    for (int i = 0; i < 3000; i++) {
        random_bytes(uri, sizeof(uri));
        random_bytes(params, sizeof(params));
        random_bytes(aor, sizeof(aor));
        scscf_reginfo_contact_t c = {.uri = uri,
                                     .params = params,
                                     .event = (scscf_reg_event_t)rnd(SCSCF_EV_COUNT),
                                     .expires = (long)rnd(5) - 1,
                                     .retry_after = -1};
        scscf_reginfo_reg_t r = {
            .aor = aor, .state = SCSCF_REG_ACTIVE, .contacts = &c, .ncontacts = 1};
        char *body;
        size_t len;
        assert_int_equal(scscf_reginfo_write((uint32_t)i, true, &r, 1, &body, &len), 0);
        xmlDocPtr doc = check_body(body, len, (uint32_t)i, 1);
        xmlFreeDoc(doc);
        free(body);
    }
    (void)st;
}

static void test_event_names(void **st)
{
    for (int e = 0; e < SCSCF_EV_COUNT; e++) {
        assert_string_equal(scscf_reg_event_name((scscf_reg_event_t)e), events[e]);
        assert_int_equal(scscf_reg_event_parse(events[e]), e);
        assert_int_equal(scscf_reg_event_terminates((scscf_reg_event_t)e), e >= SCSCF_EV_EXPIRED);
    }
    assert_int_equal(scscf_reg_event_parse("bogus"), -1);
    assert_int_equal(scscf_reg_event_parse(NULL), -1);
    char a[32], b[32];
    scscf_reginfo_reg_id("sip:a@b", a, sizeof(a));
    scscf_reginfo_reg_id("sip:a@b", b, sizeof(b));
    assert_string_equal(a, b);
    assert_int_equal(strlen(a), 17);
    scscf_reginfo_contact_id("ab", "c", a, sizeof(a));
    scscf_reginfo_contact_id("a", "bc", b, sizeof(b));
    assert_string_not_equal(a, b);
    (void)st;
}

int main(void)
{
    LIBXML_TEST_VERSION
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full_state),      cmocka_unit_test(test_terminated_and_init),
        cmocka_unit_test(test_rejects_missing), cmocka_unit_test(test_hostile_contact),
        cmocka_unit_test(test_random_contacts), cmocka_unit_test(test_event_names),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    xmlCleanupParser();
    return rc;
}
