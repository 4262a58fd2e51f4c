/* Unit tests for common/src/pcap.c: files written from timeline entries are opened by
 * tshark (a real dissector), which must find every SIP message with its addresses. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "ims/pcap.h"
#include "ims/timeline.h"

static const char reg[] = "REGISTER sip:ims.example SIP/2.0\r\n"
                          "Via: SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bK776\r\n"
                          "Max-Forwards: 70\r\nTo: <sip:alice@ims.example>\r\n"
                          "From: <sip:alice@ims.example>;tag=1\r\nCall-ID: c1@h\r\n"
                          "CSeq: 1 REGISTER\r\nContact: <sip:alice@127.0.0.1:5062>\r\n"
                          "Content-Length: 0\r\n\r\n";
static const char c401[] = "SIP/2.0 401 Unauthorized\r\n"
                           "Via: SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bK776\r\n"
                           "To: <sip:alice@ims.example>;tag=2\r\n"
                           "From: <sip:alice@ims.example>;tag=1\r\nCall-ID: c1@h\r\n"
                           "CSeq: 1 REGISTER\r\nWWW-Authenticate: Digest realm=\"ims.example\", "
                           "nonce=\"abc\", ck=\"00112233445566778899aabbccddeeff\"\r\n"
                           "Content-Length: 0\r\n\r\n";
static const char ok200[] = "SIP/2.0 200 OK\r\n"
                            "Via: SIP/2.0/TCP [::1]:5062;branch=z9hG4bK777\r\n"
                            "To: <sip:alice@ims.example>;tag=3\r\n"
                            "From: <sip:alice@ims.example>;tag=1\r\nCall-ID: c1@h\r\n"
                            "CSeq: 2 REGISTER\r\nContent-Length: 0\r\n\r\n";

/* Writes p to a file, runs tshark on it and returns its output (fields, one line per
 * SIP packet). */
static char *tshark(const ims_pcap_t *p)
{
    char path[] = "/tmp/ims-pcap-test-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    size_t len;
    const uint8_t *d = ims_pcap_data(p, &len);
    assert_int_equal(write(fd, d, len), (ssize_t)len);
    close(fd);
    char cmd[512];
    /* TCP port 6060 (the S-CSCF's default) is registered to X11 in Wireshark: SIP over TCP
     * there needs the heuristic dissectors tried first (docs/testing-ues.md says so). */
    snprintf(cmd, sizeof(cmd),
             "tshark -o tcp.try_heuristic_first:TRUE -r %s -Y sip -T fields -E 'separator=|' -e "
             "sip.Method -e sip.Status-Code "
             "-e ip.src -e ipv6.src -e udp.srcport -e tcp.srcport -e sip.Call-ID "
             "-e sip.WWW-Authenticate 2>/dev/null",
             path);
    FILE *f = popen(cmd, "r");
    assert_non_null(f);
    static char out[8192];
    size_t n = fread(out, 1, sizeof(out) - 1, f);
    out[n] = '\0';
    int rc = pclose(f);
    unlink(path);
    if (rc != 0)
        fail_msg("tshark failed (%d): %s", rc, out);
    return out;
}

static void test_direct(void **state)
{
    ims_pcap_t *p = NULL;
    assert_int_equal(ims_pcap_new(&p), 0);
    int64_t t = 1764900000000000LL;
    assert_int_equal(
        ims_pcap_add(p, t, "127.0.0.1", 5062, "127.0.0.2", 6060, "UDP", reg, sizeof(reg) - 1), 0);
    assert_int_equal(ims_pcap_add(p, t + 1500, "127.0.0.2", 6060, "127.0.0.1", 5062, NULL, c401,
                                  sizeof(c401) - 1),
                     0);
    /* TCP over IPv6, in two segments of one message: reassembly must join them. */
    assert_int_equal(ims_pcap_add(p, t + 3000, "::1", 6060, "::1", 5062, "TCP", ok200, 40), 0);
    assert_int_equal(ims_pcap_add(p, t + 3001, "::1", 6060, "::1", 5062, "TCP", ok200 + 40,
                                  sizeof(ok200) - 1 - 40),
                     0);
    /* Mixed families: written IPv4-mapped. */
    assert_int_equal(
        ims_pcap_add(p, t + 4000, "127.0.0.1", 5062, "::1", 6061, "UDP", reg, sizeof(reg) - 1), 0);
    assert_int_equal(ims_pcap_add(p, t, "not-an-ip", 1, "::1", 2, "UDP", "x", 1), EINVAL);
    char *out = tshark(p);
    ims_pcap_free(p);
    if (!strstr(out, "REGISTER||127.0.0.1||5062||c1@h|\n") ||
        !strstr(out, "|401|127.0.0.2||6060||c1@h|Digest realm=\"ims.example\"") ||
        !strstr(out, "|200||::1||6060|c1@h|\n") || !strstr(out, "REGISTER|||::ffff:127.0.0.1|5062"))
        fail_msg("tshark saw:\n%s", out);
}

/* From the timeline: only message entries with addresses become packets, and the text in
 * them is the redacted one. */
static void test_from_timeline(void **state)
{
    ims_timeline_t *tl = NULL;
    ims_timeline_opts_t o = {.daemon = "scscf"};
    assert_int_equal(ims_timeline_new(&o, &tl), 0);
    ims_tl_record_t r = {.impu = "sip:alice@ims.example",
                         .kind = "request",
                         .direction = "in",
                         .src = "127.0.0.1",
                         .src_port = 5062,
                         .dst = "127.0.0.2",
                         .dst_port = 6060,
                         .transport = "UDP",
                         .sip = reg,
                         .sip_len = sizeof(reg) - 1};
    ims_timeline_record(tl, &r);
    ims_tl_record_t d = {.impu = "sip:alice@ims.example", .action = "challenge"};
    ims_timeline_record(tl, &d);
    r = (ims_tl_record_t){.impu = "sip:alice@ims.example",
                          .kind = "response",
                          .direction = "out",
                          .src = "127.0.0.2",
                          .src_port = 6060,
                          .dst = "127.0.0.1",
                          .dst_port = 5062,
                          .transport = "UDP",
                          .sip = c401,
                          .sip_len = sizeof(c401) - 1};
    ims_timeline_record(tl, &r);
    json_t *entries = ims_timeline_entries(tl, "sip:alice@ims.example", 0);
    assert_int_equal(json_array_size(entries), 3);
    ims_pcap_t *p = NULL;
    size_t count = 0;
    assert_int_equal(ims_pcap_from_timeline(entries, &p, &count), 0);
    assert_int_equal(count, 2);
    json_decref(entries);
    size_t len;
    const uint8_t *data = ims_pcap_data(p, &len);
    assert_null(memmem(data, len, "00112233445566778899aabbccddeeff", 32));
    char *out = tshark(p);
    ims_pcap_free(p);
    ims_timeline_free(tl);
    if (!strstr(out, "REGISTER||127.0.0.1||5062||c1@h|\n") ||
        !strstr(out, "|401|127.0.0.2||6060||c1@h|") || !strstr(out, "ck=\"redacted\""))
        fail_msg("tshark saw:\n%s", out);
}

int main(void)
{
    if (system("command -v tshark >/dev/null 2>&1") != 0) {
        fprintf(stderr, "tshark is not installed (scripts/install-deps test)\n");
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_direct),
        cmocka_unit_test(test_from_timeline),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
