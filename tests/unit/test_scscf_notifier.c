/* Unit tests for the reg event notifier (scscf/notifier.c) over real sockets: a Sofia nta
 * agent on loopback sends NOTIFYs to a plain UDP socket that answers 200, 481 or nothing. */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cmocka.h>
#include <libxml/parser.h>

#include <sofia-sip/nta.h>
#include <sofia-sip/nta_tag.h>
#include <sofia-sip/su.h>
#include <sofia-sip/su_wait.h>

#include "notifier.h"

typedef struct fixture {
    su_root_t *root;
    nta_agent_t *agent;
    nta_leg_t *leg;
    scscf_subs_t *subs;
    scscf_notifier_t *n;
    int ue;           /* the watcher's UDP socket */
    uint16_t ue_port; /* and its port */
    char target[64], hop[80];
} fixture_t;

static int on_request(nta_leg_magic_t *m, nta_leg_t *leg, nta_incoming_t *irq, sip_t const *sip)
{
    return 501;
}

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof(*f));
    su_init();
    f->root = su_root_create(NULL);
    /* Timer F after 1 s instead of 32 s, so the unanswered NOTIFY times out quickly */
    f->agent = nta_agent_create(f->root, URL_STRING_MAKE("sip:127.0.0.1:*"), NULL, NULL,
                                NTATAG_SIP_T1(100), NTATAG_SIP_T1X64(1000), TAG_END());
    assert_non_null(f->agent);
    f->leg = nta_leg_tcreate(f->agent, on_request, NULL, NTATAG_NO_DIALOG(1), TAG_END());
    assert_int_equal(scscf_subs_create(NULL, &f->subs), 0);
    assert_int_equal(
        scscf_notifier_create(f->agent, f->subs, "sip:scscf.ims.test:6060", "test-scscf", &f->n),
        0);
    f->ue = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(f->ue, (struct sockaddr *)&a, sizeof(a)), 0);
    socklen_t al = sizeof(a);
    getsockname(f->ue, (struct sockaddr *)&a, &al);
    f->ue_port = ntohs(a.sin_port);
    snprintf(f->target, sizeof(f->target), "sip:ue@127.0.0.1:%u", f->ue_port);
    snprintf(f->hop, sizeof(f->hop), "sip:127.0.0.1:%u;transport=udp", f->ue_port);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    scscf_notifier_free(f->n);
    scscf_subs_free(f->subs);
    nta_leg_destroy(f->leg);
    nta_agent_destroy(f->agent);
    su_root_destroy(f->root);
    su_deinit();
    close(f->ue);
    free(f);
    return 0;
}

static scscf_sub_t *subscribe(fixture_t *f, const char *callid)
{
    static const char *const route[] = {"<sip:term@pcscf.ims.test;lr>"};
    scscf_sub_init_t in = {.impu = "sip:a@ims.test",
                           .watcher = "sip:a@ims.test",
                           .kind = SCSCF_SUB_UE,
                           .call_id = callid,
                           .local_tag = "scscf-tag",
                           .remote_tag = "ue-tag",
                           .local_uri = "sip:a@ims.test",
                           .remote_uri = "sip:a@ims.test",
                           .remote_target = f->target,
                           .route = route,
                           .nroute = 1,
                           .next_hop = f->hop,
                           .remote_cseq = 1};
    scscf_sub_t *sub;
    assert_int_equal(scscf_subs_add(f->subs, &in, 600, 1000, &sub), 0);
    return sub;
}

/* Runs the loop until the watcher socket has a datagram (into buf) or ms pass; returns its
 * length, 0 on timeout. */
static size_t receive(fixture_t *f, char *buf, size_t cap, int ms, struct sockaddr_in *from)
{
    for (int waited = 0; waited < ms; waited += 10) {
        su_root_step(f->root, 10);
        struct pollfd p = {.fd = f->ue, .events = POLLIN};
        if (poll(&p, 1, 0) == 1) {
            socklen_t fl = sizeof(*from);
            ssize_t n = recvfrom(f->ue, buf, cap - 1, 0, (struct sockaddr *)from, &fl);
            assert_true(n > 0);
            buf[n] = 0;
            return (size_t)n;
        }
    }
    return 0;
}

static void run_until_idle(fixture_t *f, int ms)
{
    for (int waited = 0; waited < ms && scscf_notifier_pending(f->n); waited += 10)
        su_root_step(f->root, 10);
}

/* The value of header name in a request (copied into out), NULL when absent. */
static const char *header(const char *msg, const char *name, char *out, size_t len)
{
    char pat[64];
    snprintf(pat, sizeof(pat), "\r\n%s:", name);
    const char *p = strstr(msg, pat);
    if (!p)
        return NULL;
    p += strlen(pat);
    while (*p == ' ')
        p++;
    size_t n = strcspn(p, "\r\n");
    snprintf(out, len, "%.*s", (int)n, p);
    return out;
}

/* Answers a request with status, echoing Via, From, To, Call-ID and CSeq. */
static void answer(fixture_t *f, const char *req, const struct sockaddr_in *to, int status)
{
    char via[512], from[256], tot[256], cid[256], cseq[64], resp[2048];
    assert_non_null(header(req, "Via", via, sizeof(via)));
    assert_non_null(header(req, "From", from, sizeof(from)));
    assert_non_null(header(req, "To", tot, sizeof(tot)));
    assert_non_null(header(req, "Call-ID", cid, sizeof(cid)));
    assert_non_null(header(req, "CSeq", cseq, sizeof(cseq)));
    int n = snprintf(resp, sizeof(resp),
                     "SIP/2.0 %d Answer\r\nVia: %s\r\nFrom: %s\r\nTo: %s\r\nCall-ID: %s\r\n"
                     "CSeq: %s\r\nContent-Length: 0\r\n\r\n",
                     status, via, from, tot, cid, cseq);
    assert_int_equal(sendto(f->ue, resp, (size_t)n, 0, (const struct sockaddr *)to, sizeof(*to)),
                     n);
}

static void check_body(const char *msg, unsigned version, const char *state)
{
    const char *body = strstr(msg, "\r\n\r\n");
    assert_non_null(body);
    body += 4;
    xmlDocPtr doc = xmlReadMemory(body, (int)strlen(body), "n.xml", NULL,
                                  XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    assert_non_null(doc);
    xmlNodePtr root = xmlDocGetRootElement(doc);
    assert_string_equal((const char *)root->name, "reginfo");
    xmlChar *v = xmlGetProp(root, (const xmlChar *)"version");
    char want[16];
    snprintf(want, sizeof(want), "%u", version);
    assert_string_equal((const char *)v, want);
    xmlFree(v);
    xmlNodePtr reg = root->children;
    while (reg && reg->type != XML_ELEMENT_NODE)
        reg = reg->next;
    assert_non_null(reg);
    v = xmlGetProp(reg, (const xmlChar *)"state");
    assert_string_equal((const char *)v, state);
    xmlFree(v);
    xmlFreeDoc(doc);
}

static const scscf_reginfo_contact_t contact = {.uri = "sip:ue@10.0.0.5",
                                                .params = ";+sip.instance=\"<urn:uuid:1>\"",
                                                .event = SCSCF_EV_REGISTERED,
                                                .expires = 600,
                                                .retry_after = -1};

static void test_dialog_and_answers(void **state)
{
    fixture_t *f = *state;
    scscf_sub_t *sub = subscribe(f, "c1@ue");
    scscf_reginfo_reg_t reg = {
        .aor = "sip:a@ims.test", .state = SCSCF_REG_ACTIVE, .contacts = &contact, .ncontacts = 1};
    assert_int_equal(scscf_notifier_send(f->n, sub, &reg, 1, SCSCF_NOTIFY_ACTIVE, 1000), 0);
    char msg[8192], h[512];
    struct sockaddr_in from;
    assert_true(receive(f, msg, sizeof(msg), 3000, &from) > 0);
    char line[128];
    snprintf(line, sizeof(line), "NOTIFY %s SIP/2.0\r\n", f->target);
    assert_memory_equal(msg, line, strlen(line));
    assert_string_equal(header(msg, "Route", h, sizeof(h)), "<sip:term@pcscf.ims.test;lr>");
    assert_string_equal(header(msg, "Event", h, sizeof(h)), "reg");
    assert_string_equal(header(msg, "Subscription-State", h, sizeof(h)), "active;expires=600");
    assert_string_equal(header(msg, "Content-Type", h, sizeof(h)), "application/reginfo+xml");
    assert_string_equal(header(msg, "Call-ID", h, sizeof(h)), "c1@ue");
    assert_string_equal(header(msg, "CSeq", h, sizeof(h)), "1 NOTIFY");
    assert_string_equal(header(msg, "From", h, sizeof(h)), "<sip:a@ims.test>;tag=scscf-tag");
    assert_string_equal(header(msg, "To", h, sizeof(h)), "<sip:a@ims.test>;tag=ue-tag");
    assert_string_equal(header(msg, "Contact", h, sizeof(h)), "<sip:scscf.ims.test:6060>");
    check_body(msg, 0, "active");
    answer(f, msg, &from, 200);
    run_until_idle(f, 3000);
    assert_int_equal(scscf_notifier_pending(f->n), 0);
    assert_int_equal(scscf_notifier_stats(f->n)->answered, 1);
    assert_ptr_equal(scscf_subs_find(f->subs, "c1@ue", "ue-tag", "scscf-tag"), sub);

    /* the next NOTIFY counts up; a 481 ends the subscription */
    assert_int_equal(scscf_notifier_send(f->n, sub, &reg, 1, SCSCF_NOTIFY_ACTIVE, 1100), 0);
    assert_true(receive(f, msg, sizeof(msg), 3000, &from) > 0);
    assert_string_equal(header(msg, "CSeq", h, sizeof(h)), "2 NOTIFY");
    assert_string_equal(header(msg, "Subscription-State", h, sizeof(h)), "active;expires=500");
    check_body(msg, 1, "active");
    answer(f, msg, &from, 481);
    run_until_idle(f, 3000);
    assert_null(scscf_subs_find(f->subs, "c1@ue", "ue-tag", "scscf-tag"));
    const scscf_notifier_stats_t *st = scscf_notifier_stats(f->n);
    assert_int_equal(st->sent, 2);
    assert_int_equal(st->failed, 1);
    assert_int_equal(st->ended, 1);
}

static void test_timeout_ends(void **state)
{
    fixture_t *f = *state;
    scscf_sub_t *sub = subscribe(f, "c2@ue");
    scscf_reginfo_reg_t reg = {
        .aor = "sip:a@ims.test", .state = SCSCF_REG_ACTIVE, .contacts = &contact, .ncontacts = 1};
    assert_int_equal(scscf_notifier_send(f->n, sub, &reg, 1, SCSCF_NOTIFY_ACTIVE, 1000), 0);
    /* never answered: nta retransmits, then gives up at Timer F */
    char msg[8192];
    struct sockaddr_in from;
    int copies = 0;
    while (receive(f, msg, sizeof(msg), 300, &from) > 0 || scscf_notifier_pending(f->n)) {
        copies++;
        assert_true(copies < 100);
    }
    assert_true(copies >= 2); /* the first send and at least one retransmission */
    assert_int_equal(scscf_notifier_stats(f->n)->timed_out, 1);
    assert_int_equal(scscf_notifier_stats(f->n)->ended, 1);
    assert_null(scscf_subs_find(f->subs, "c2@ue", "ue-tag", "scscf-tag"));
}

static void test_terminated(void **state)
{
    fixture_t *f = *state;
    scscf_sub_t *sub = subscribe(f, "c3@ue");
    scscf_reginfo_contact_t gone = contact;
    gone.event = SCSCF_EV_DEACTIVATED;
    scscf_reginfo_reg_t reg = {
        .aor = "sip:a@ims.test", .state = SCSCF_REG_TERMINATED, .contacts = &gone, .ncontacts = 1};
    assert_int_equal(scscf_notifier_send(f->n, sub, &reg, 1, SCSCF_NOTIFY_NORESOURCE, 1000), 0);
    /* the store forgets it at once; the NOTIFY still goes out and is answered */
    assert_null(scscf_subs_find(f->subs, "c3@ue", "ue-tag", "scscf-tag"));
    char msg[8192], h[256];
    struct sockaddr_in from;
    assert_true(receive(f, msg, sizeof(msg), 3000, &from) > 0);
    assert_string_equal(header(msg, "Subscription-State", h, sizeof(h)),
                        "terminated;reason=noresource");
    check_body(msg, 0, "terminated");
    assert_non_null(strstr(msg, "event=\"deactivated\""));
    answer(f, msg, &from, 200);
    run_until_idle(f, 3000);
    assert_int_equal(scscf_notifier_stats(f->n)->answered, 1);
    /* one left waiting when the notifier goes: freed without a leak (teardown) */
    sub = subscribe(f, "c4@ue");
    assert_int_equal(scscf_notifier_send(f->n, sub, &reg, 1, SCSCF_NOTIFY_UNSUBSCRIBED, 1000), 0);
    assert_int_equal(scscf_notifier_pending(f->n), 1);
}

int main(void)
{
    LIBXML_TEST_VERSION
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_dialog_and_answers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timeout_ends, setup, teardown),
        cmocka_unit_test_setup_teardown(test_terminated, setup, teardown),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    xmlCleanupParser();
    return rc;
}
