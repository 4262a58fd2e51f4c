/* Unit tests for common/src/sip.c: URI port check, naming bad and duplicate headers on
 * messages Sofia really parsed, a packet's source, and finding real UDP sockets by port. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include <sofia-sip/msg_addr.h>
#include <sofia-sip/sip_header.h>
#include <sofia-sip/sip_parser.h>
#include <sofia-sip/su_alloc.h>

#include "ims/sip.h"

static msg_t *parse(const char *head)
{
    char text[2048];
    int n = snprintf(text, sizeof text,
                     "REGISTER sip:ims.example SIP/2.0\r\n"
                     "Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK1\r\n"
                     "From: <sip:a@ims.example>;tag=1\r\n"
                     "Call-ID: c1\r\nCSeq: 1 REGISTER\r\n%s"
                     "Content-Length: 0\r\n\r\n",
                     head);
    msg_t *msg = msg_make(sip_default_mclass(), 0, text, (size_t)n);
    assert_non_null(msg);
    return msg;
}

static void test_url_port(void **state)
{
    /* Sofia keeps the port as the text it read, whatever it is. */
    static const struct {
        const char *port;
        bool ok;
    } cases[] = {
        {NULL, true},
        {"", true},
        {"1", true},
        {"65535", true},
        {"5060", true},
        {"0", false},
        {"65536", false},
        {"-1", false},
        {"50a", false},
        {" 1", false},
        {"99999999999999999999", false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        url_t u = {.url_type = url_sip, .url_host = "h", .url_port = cases[i].port};
        assert_int_equal(ims_sip_url_port_ok(&u), cases[i].ok);
    }
    su_home_t home[1] = {SU_HOME_INIT(home)};
    url_t *u = url_make(home, "sip:a@[::1]:5060");
    assert_non_null(u);
    assert_true(ims_sip_url_port_ok(u));
    su_home_deinit(home);
}

static void test_clean_message(void **state)
{
    msg_t *msg = parse("To: <sip:a@ims.example>\r\nContact: <sip:a@127.0.0.1:5070>\r\n");
    sip_t *sip = sip_object(msg);
    assert_null(ims_sip_bad_header(sip));
    assert_false(ims_sip_header_error(sip, "Contact"));
    assert_false(ims_sip_duplicate_header(sip));
    msg_destroy(msg);
}

static void test_bad_header_named(void **state)
{
    msg_t *msg = parse("To: <sip:a@ims.example>\r\nContact: <sip:a@127.0.0.1:5070\r\n");
    sip_t *sip = sip_object(msg);
    assert_non_null(sip->sip_error);
    assert_string_equal(ims_sip_bad_header(sip), "Contact");
    assert_true(ims_sip_header_error(sip, "contact"));
    assert_false(ims_sip_header_error(sip, "To"));
    assert_false(ims_sip_duplicate_header(sip));
    msg_destroy(msg);
}

static void test_duplicate_singleton(void **state)
{
    msg_t *msg = parse("To: <sip:a@ims.example>\r\nTo: <sip:b@ims.example>\r\n");
    sip_t *sip = sip_object(msg);
    assert_true(ims_sip_duplicate_header(sip));
    assert_true(ims_sip_header_error(sip, "To"));
    assert_string_equal(ims_sip_bad_header(sip), "To");
    msg_destroy(msg);
}

static void test_source(void **state)
{
    msg_t *msg = parse("To: <sip:a@ims.example>\r\n");
    char ip[64];
    uint16_t port = 1;
    bool tcp = true;
    ims_sip_source(msg, ip, sizeof ip, &port, &tcp);
    assert_string_equal(ip, "?"); /* no address recorded */
    assert_int_equal(port, 0);
    assert_false(tcp);

    su_addrinfo_t *ai = msg_addrinfo(msg);
    struct sockaddr_in6 s6 = {.sin6_family = AF_INET6, .sin6_port = htons(5070)};
    inet_pton(AF_INET6, "::1", &s6.sin6_addr);
    memcpy(msg_addr(msg), &s6, sizeof s6);
    ai->ai_addrlen = sizeof s6;
    ai->ai_protocol = IPPROTO_TCP;
    ims_sip_source(msg, ip, sizeof ip, &port, &tcp);
    assert_string_equal(ip, "::1");
    assert_int_equal(port, 5070);
    assert_true(tcp);

    struct sockaddr_in s4 = {.sin_family = AF_INET, .sin_port = htons(5080)};
    inet_pton(AF_INET, "127.0.0.9", &s4.sin_addr);
    memcpy(msg_addr(msg), &s4, sizeof s4);
    ai->ai_addrlen = sizeof s4;
    ai->ai_protocol = IPPROTO_UDP;
    ims_sip_source(msg, ip, sizeof ip, &port, &tcp);
    assert_string_equal(ip, "127.0.0.9");
    assert_int_equal(port, 5080);
    assert_false(tcp);
    msg_destroy(msg);
}

/* A real UDP socket on a free loopback port (IPv4 or IPv6); returns its fd and port. */
static int udp_bound(int family, uint16_t want, uint16_t *port)
{
    int fd = socket(family, SOCK_DGRAM, 0);
    struct sockaddr_storage ss = {0};
    socklen_t sl;
    assert_true(fd >= 0);
    if (family == AF_INET) {
        struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
        s4->sin_family = AF_INET;
        s4->sin_port = htons(want);
        s4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        sl = sizeof *s4;
    } else {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons(want);
        s6->sin6_addr = in6addr_loopback;
        sl = sizeof *s6;
    }
    if (bind(fd, (struct sockaddr *)&ss, sl) != 0) {
        close(fd);
        return -1;
    }
    sl = sizeof ss;
    getsockname(fd, (struct sockaddr *)&ss, &sl);
    *port = ntohs(family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
                                    : ((struct sockaddr_in6 *)&ss)->sin6_port);
    return fd;
}

static void test_udp_sockets(void **state)
{
    uint16_t port, p6;
    int fd4 = udp_bound(AF_INET, 0, &port), fds[4], fam[4], by[2];
    assert_true(fd4 >= 0);
    /* A TCP socket on the same port is not a UDP socket (the TCP port may be taken by
     * another program on this machine: then there is simply no TCP socket to ignore). */
    int tcp = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in s4 = {.sin_family = AF_INET, .sin_port = htons(port)};
    s4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    (void)bind(tcp, (struct sockaddr *)&s4, sizeof s4);

    assert_int_equal(ims_sip_udp_sockets(port, fds, fam, 4), 1);
    assert_int_equal(fds[0], fd4);
    assert_int_equal(fam[0], 0);
    ims_sip_udp_sockets_by_family(port, by);
    assert_int_equal(by[0], fd4);
    assert_int_equal(by[1], -1);

    int fd6 = udp_bound(AF_INET6, port, &p6); /* may fail where IPv6 is off */
    if (fd6 >= 0) {
        assert_int_equal(ims_sip_udp_sockets(port, fds, fam, 4), 2);
        ims_sip_udp_sockets_by_family(port, by);
        assert_int_equal(by[0], fd4);
        assert_int_equal(by[1], fd6);
        close(fd6);
    }
    close(fd4);
    /* Two IPv4 sockets on one port (SO_REUSEPORT): ambiguous, so none is picked. */
    int one = 1, fd4b = socket(AF_INET, SOCK_DGRAM, 0);
    socklen_t sl = sizeof s4;
    fd4 = socket(AF_INET, SOCK_DGRAM, 0);
    setsockopt(fd4, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    setsockopt(fd4b, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    s4.sin_port = 0;
    assert_int_equal(bind(fd4, (struct sockaddr *)&s4, sizeof s4), 0);
    assert_int_equal(getsockname(fd4, (struct sockaddr *)&s4, &sl), 0);
    port = ntohs(s4.sin_port);
    assert_int_equal(bind(fd4b, (struct sockaddr *)&s4, sizeof s4), 0);
    assert_int_equal(ims_sip_udp_sockets(port, fds, fam, 4), 2);
    ims_sip_udp_sockets_by_family(port, by);
    assert_int_equal(by[0], -1);
    assert_int_equal(ims_sip_udp_sockets(0, fds, fam, 4), 0);
    close(fd4);
    close(fd4b);
    close(tcp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_url_port),         cmocka_unit_test(test_clean_message),
        cmocka_unit_test(test_bad_header_named), cmocka_unit_test(test_duplicate_singleton),
        cmocka_unit_test(test_source),           cmocka_unit_test(test_udp_sockets),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
