/* The user-space ESP datapath (see esp_tun.h): raw protocol-50 socket for the outer packets,
 * a TUN device and policy-routing rules (set up over rtnetlink) for the inner ones. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/fib_rules.h>
#include <linux/if_tun.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "esp_tun.h"
#include "ims/log.h"

#define BATCH     64 /* packets handled per wake-up, so one busy fd cannot starve the loop */
#define MAX_PORTS 16
#define BUFSZ     (65536 + PCSCF_ESP_OVERHEAD + 64)

struct pcscf_esp_tun {
    su_root_t *root;
    pcscf_esp_table_t *table;
    pcscf_esp_tun_conf_t conf;
    char ifname[IFNAMSIZ];
    int ifindex;
    int tun_fd, raw_fd;
    su_wait_t tun_wait, raw_wait;
    int tun_reg, raw_reg; /* su_root registration indexes, 0 = none */
    bool route_added;
    uint16_t ports[MAX_PORTS];
    size_t nports;
    pcscf_esp_tun_stats_t st;
    uint8_t in[BUFSZ], out[BUFSZ];
};

/* ---- rtnetlink: one request, one acknowledgement ---- */

typedef struct nlreq {
    struct nlmsghdr h;
    char body[256];
} nlreq_t;

static void nl_attr(nlreq_t *r, unsigned short type, const void *data, size_t len)
{
    struct rtattr *a = (struct rtattr *)((char *)r + NLMSG_ALIGN(r->h.nlmsg_len));
    a->rta_type = type;
    a->rta_len = (unsigned short)RTA_LENGTH(len);
    memcpy(RTA_DATA(a), data, len);
    r->h.nlmsg_len = NLMSG_ALIGN(r->h.nlmsg_len) + RTA_ALIGN(a->rta_len);
}

static int nl_talk(nlreq_t *r)
{
    int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (fd < 0)
        return errno;
    struct sockaddr_nl sa = {.nl_family = AF_NETLINK};
    r->h.nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;
    r->h.nlmsg_seq = 1;
    int rc = 0;
    if (sendto(fd, r, r->h.nlmsg_len, 0, (struct sockaddr *)&sa, sizeof sa) < 0) {
        rc = errno;
    } else {
        /* The kernel answers at once: the ack is in the socket when sendto returns. */
        char buf[1024];
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        struct nlmsghdr *h = (struct nlmsghdr *)buf;
        if (n < 0)
            rc = errno;
        else if (n < (ssize_t)sizeof *h || h->nlmsg_type != NLMSG_ERROR)
            rc = EPROTO;
        else
            rc = -((struct nlmsgerr *)NLMSG_DATA(h))->error;
    }
    close(fd);
    return rc;
}

static int nl_rule(pcscf_esp_tun_t *t, uint16_t port, bool add)
{
    nlreq_t r = {0};
    r.h.nlmsg_len = NLMSG_LENGTH(sizeof(struct fib_rule_hdr));
    r.h.nlmsg_type = add ? RTM_NEWRULE : RTM_DELRULE;
    r.h.nlmsg_flags = add ? NLM_F_CREATE | NLM_F_EXCL : 0;
    struct fib_rule_hdr *frh = NLMSG_DATA(&r.h);
    frh->family = AF_INET;
    frh->action = FR_ACT_TO_TBL;
    struct fib_rule_port_range range = {port, port};
    nl_attr(&r, FRA_PRIORITY, &t->conf.rule_pref, 4);
    nl_attr(&r, FRA_TABLE, &t->conf.table, 4);
    nl_attr(&r, FRA_SPORT_RANGE, &range, sizeof range);
    return nl_talk(&r);
}

static int nl_route(pcscf_esp_tun_t *t, bool add)
{
    nlreq_t r = {0};
    r.h.nlmsg_len = NLMSG_LENGTH(sizeof(struct rtmsg));
    r.h.nlmsg_type = add ? RTM_NEWROUTE : RTM_DELROUTE;
    r.h.nlmsg_flags = add ? NLM_F_CREATE | NLM_F_REPLACE : 0;
    struct rtmsg *rt = NLMSG_DATA(&r.h);
    rt->rtm_family = AF_INET;
    rt->rtm_table = RT_TABLE_UNSPEC;
    rt->rtm_protocol = RTPROT_STATIC;
    rt->rtm_scope = RT_SCOPE_LINK;
    rt->rtm_type = RTN_UNICAST;
    uint32_t oif = (uint32_t)t->ifindex;
    nl_attr(&r, RTA_TABLE, &t->conf.table, 4);
    nl_attr(&r, RTA_OIF, &oif, 4);
    return nl_talk(&r);
}

/* ---- the TUN device ---- */

/* A pcscf started by a non-root user gets NET_ADMIN and NET_RAW as permitted (not
 * effective) file capabilities (docker/Dockerfile): make them effective before use. Root
 * has them already; without them the open below fails with a clear reason. */
static void caps_raise(void)
{
    struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3};
    struct __user_cap_data_struct d[2];
    uint32_t want = (1u << CAP_NET_ADMIN) | (1u << CAP_NET_RAW);
    if (syscall(SYS_capget, &h, d) != 0 || (d[0].effective & want) == want)
        return;
    d[0].effective |= d[0].permitted & want;
    if (syscall(SYS_capset, &h, d) != 0)
        IMS_DEBUG("esp: could not raise NET_ADMIN/NET_RAW: %s", strerror(errno));
}

static int sysctl_write(const char *path, const char *value)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return errno;
    int rc = write(fd, value, strlen(value)) < 0 ? errno : 0;
    close(fd);
    return rc;
}

static int tun_open(pcscf_esp_tun_t *t, char *err, size_t errlen)
{
    caps_raise();
    t->tun_fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (t->tun_fd < 0) {
        int rc = errno;
        snprintf(err, errlen, "cannot open /dev/net/tun: %s", strerror(rc));
        return rc;
    }
    struct ifreq ifr = {0};
    ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
    snprintf(ifr.ifr_name, IFNAMSIZ, "%s", t->conf.ifname);
    if (ioctl(t->tun_fd, TUNSETIFF, &ifr) < 0) {
        int rc = errno;
        snprintf(err, errlen, "cannot create TUN device %s: %s (needs CAP_NET_ADMIN)",
                 t->conf.ifname, strerror(rc));
        return rc;
    }
    snprintf(t->ifname, sizeof t->ifname, "%s", ifr.ifr_name);
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    int rc = s < 0 ? errno : 0;
    ifr.ifr_mtu = t->conf.mtu;
    if (!rc && ioctl(s, SIOCSIFMTU, &ifr) < 0)
        rc = errno;
    if (!rc && ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
        rc = errno;
    ifr.ifr_flags |= IFF_UP;
    if (!rc && ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
        rc = errno;
    if (s >= 0)
        close(s);
    if (rc) {
        snprintf(err, errlen, "cannot bring TUN device %s up: %s", t->ifname, strerror(rc));
        return rc;
    }
    t->ifindex = (int)if_nametoindex(t->ifname);
    /* Decrypted packets come in on the TUN from the UE's address, which routes elsewhere:
     * strict reverse-path filtering on this device would drop them. */
    char path[128];
    snprintf(path, sizeof path, "/proc/sys/net/ipv4/conf/%s/rp_filter", t->ifname);
    if ((rc = sysctl_write(path, "0")) != 0)
        IMS_WARN("esp: cannot turn rp_filter off on %s: %s", t->ifname, strerror(rc));
    /* The datapath is IPv4: no IPv6 addresses, router solicitations or MLD on the device. */
    snprintf(path, sizeof path, "/proc/sys/net/ipv6/conf/%s/disable_ipv6", t->ifname);
    sysctl_write(path, "1");
    return 0;
}

/* ---- packets ---- */

static uint16_t ip_checksum(const uint8_t *p, size_t len)
{
    uint32_t sum = 0;
    for (size_t i = 0; i + 1 < len; i += 2)
        sum += (uint32_t)(p[i] << 8 | p[i + 1]);
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)~sum;
}

static uint16_t rd16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

/* Inbound ESP in t->in (a whole IPv4 packet from the raw socket). */
static void esp_in(pcscf_esp_tun_t *t, size_t n)
{
    const uint8_t *ip = t->in;
    size_t ihl = (size_t)(ip[0] & 15) * 4;
    if (n < 20 || (ip[0] >> 4) != 4 || ihl < 20 || n < ihl + 8) {
        t->st.malformed++;
        return;
    }
    const uint8_t *esp = ip + ihl;
    size_t elen = n - ihl;
    uint32_t spi = pcscf_esp_spi_of(esp, elen);
    pcscf_esp_sa_t *sa = pcscf_esp_user_lookup_in(t->table, spi);
    if (!sa) {
        t->st.unknown_spi++;
        IMS_DEBUG("esp: dropped a packet for unknown SPI 0x%08x", spi);
        return;
    }
    const pcscf_esp_sa_params_t *p = pcscf_esp_sa_params(sa);
    if (memcmp(ip + 12, p->src, 4) != 0) {
        t->st.policy_drops++;
        return;
    }
    uint8_t *pkt = t->out, nh = 0;
    size_t len = 0;
    int rc = pcscf_esp_unprotect(sa, esp, elen, pkt + 20, BUFSZ - 20, &len, &nh);
    if (rc) {
        if (rc == PCSCF_ESP_E_AUTH)
            t->st.auth_failures++;
        else if (rc == PCSCF_ESP_E_REPLAY)
            t->st.replays++;
        else
            t->st.malformed++;
        return;
    }
    /* Transport mode: the segment must be what the SA was made for. */
    if ((nh != IPPROTO_UDP && nh != IPPROTO_TCP) || len < 8 || rd16(pkt + 20) != p->sport ||
        rd16(pkt + 22) != p->dport) {
        t->st.policy_drops++;
        return;
    }
    size_t total = 20 + len;
    memset(pkt, 0, 20);
    pkt[0] = 0x45;
    pkt[1] = ip[1];
    pkt[2] = (uint8_t)(total >> 8);
    pkt[3] = (uint8_t)total;
    pkt[6] = 0x40; /* DF */
    pkt[8] = ip[8];
    pkt[9] = nh;
    memcpy(pkt + 12, ip + 12, 8); /* inner addresses are the outer ones in transport mode */
    uint16_t ck = ip_checksum(pkt, 20);
    pkt[10] = (uint8_t)(ck >> 8);
    pkt[11] = (uint8_t)ck;
    if (write(t->tun_fd, pkt, total) < 0) {
        t->st.io_errors++;
        return;
    }
    t->st.in_packets++;
    t->st.in_bytes += elen;
}

/* Outbound: an inner IPv4 packet in t->in read from the TUN. */
static void esp_out(pcscf_esp_tun_t *t, size_t n)
{
    const uint8_t *ip = t->in;
    size_t ihl = (size_t)(ip[0] & 15) * 4;
    if (n < 20 || (ip[0] >> 4) != 4)
        return; /* the kernel's own IPv6 chatter on the device: nothing of ours */
    size_t total = rd16(ip + 2);
    /* ESP in transport mode goes on whole datagrams; fragments cannot be matched to an SA. */
    if (ihl < 20 || total > n || total < ihl + 8 || (rd16(ip + 6) & 0x3fff) ||
        (ip[9] != IPPROTO_UDP && ip[9] != IPPROTO_TCP)) {
        t->st.malformed++;
        return;
    }
    const uint8_t *l4 = ip + ihl;
    pcscf_esp_sa_t *sa = pcscf_esp_user_lookup_out(t->table, ip + 16, rd16(l4 + 2), rd16(l4));
    if (!sa) {
        t->st.no_sa_out++;
        return;
    }
    size_t elen = 0;
    if (pcscf_esp_protect(sa, ip[9], l4, total - ihl, t->out, BUFSZ, &elen)) {
        t->st.malformed++;
        return;
    }
    const pcscf_esp_sa_params_t *p = pcscf_esp_sa_params(sa);
    struct sockaddr_in dst = {.sin_family = AF_INET};
    memcpy(&dst.sin_addr, p->dst, 4);
    /* The outer source is our address of the SA, whatever the route would pick. */
    char cbuf[CMSG_SPACE(sizeof(struct in_pktinfo))] = {0};
    struct iovec iov = {t->out, elen};
    struct msghdr mh = {.msg_name = &dst,
                        .msg_namelen = sizeof dst,
                        .msg_iov = &iov,
                        .msg_iovlen = 1,
                        .msg_control = cbuf,
                        .msg_controllen = sizeof cbuf};
    struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
    cm->cmsg_level = IPPROTO_IP;
    cm->cmsg_type = IP_PKTINFO;
    cm->cmsg_len = CMSG_LEN(sizeof(struct in_pktinfo));
    struct in_pktinfo *pi = (struct in_pktinfo *)CMSG_DATA(cm);
    memcpy(&pi->ipi_spec_dst, p->src, 4);
    if (sendmsg(t->raw_fd, &mh, MSG_DONTWAIT) < 0) {
        t->st.io_errors++;
        return;
    }
    t->st.out_packets++;
    t->st.out_bytes += elen;
}

static int on_raw(su_root_magic_t *m, su_wait_t *w, su_wakeup_arg_t *arg)
{
    pcscf_esp_tun_t *t = (pcscf_esp_tun_t *)arg;
    for (int i = 0; i < BATCH; i++) {
        ssize_t n = recv(t->raw_fd, t->in, sizeof t->in, MSG_DONTWAIT);
        if (n < 0)
            break;
        esp_in(t, (size_t)n);
    }
    return 0;
}

static int on_tun(su_root_magic_t *m, su_wait_t *w, su_wakeup_arg_t *arg)
{
    pcscf_esp_tun_t *t = (pcscf_esp_tun_t *)arg;
    for (int i = 0; i < BATCH; i++) {
        ssize_t n = read(t->tun_fd, t->in, sizeof t->in);
        if (n < 0)
            break;
        esp_out(t, (size_t)n);
    }
    return 0;
}

/* ---- life cycle ---- */

static int raw_open(pcscf_esp_tun_t *t, char *err, size_t errlen)
{
    t->raw_fd = socket(AF_INET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_ESP);
    if (t->raw_fd < 0) {
        int rc = errno;
        snprintf(err, errlen, "cannot open a raw ESP socket: %s (needs CAP_NET_RAW)", strerror(rc));
        return rc;
    }
    int big = 1 << 20;
    setsockopt(t->raw_fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
    return 0;
}

static int attach(pcscf_esp_tun_t *t, int fd, su_wait_t *w, su_wakeup_f cb, int *reg)
{
    if (su_wait_create(w, fd, SU_WAIT_IN) < 0)
        return EIO;
    *reg = su_root_register(t->root, w, cb, (su_wakeup_arg_t *)t, 0);
    if (*reg < 0) {
        su_wait_destroy(w);
        *reg = 0;
        return EIO;
    }
    return 0;
}

int pcscf_esp_tun_create(su_root_t *root, pcscf_esp_table_t *table,
                         const pcscf_esp_tun_conf_t *conf, pcscf_esp_tun_t **out, char *err,
                         size_t errlen)
{
    pcscf_esp_tun_t *t = calloc(1, sizeof *t);
    if (!t) {
        snprintf(err, errlen, "out of memory");
        return ENOMEM;
    }
    t->root = root;
    t->table = table;
    t->conf = *conf;
    t->conf.ifname = conf->ifname ? conf->ifname : "imsesp%d";
    t->conf.table = conf->table ? conf->table : 1050;
    t->conf.rule_pref = conf->rule_pref ? conf->rule_pref : 1050;
    t->conf.mtu = conf->mtu ? conf->mtu : 1400;
    t->tun_fd = t->raw_fd = -1;
    int rc = tun_open(t, err, errlen);
    if (!rc)
        rc = raw_open(t, err, errlen);
    if (!rc && (attach(t, t->raw_fd, &t->raw_wait, on_raw, &t->raw_reg) ||
                attach(t, t->tun_fd, &t->tun_wait, on_tun, &t->tun_reg))) {
        rc = EIO;
        snprintf(err, errlen, "cannot register the ESP sockets with the event loop");
    }
    if (rc) {
        pcscf_esp_tun_destroy(t);
        return rc;
    }
    *out = t;
    return 0;
}

int pcscf_esp_tun_protect_port(pcscf_esp_tun_t *t, uint16_t port, char *err, size_t errlen)
{
    for (size_t i = 0; i < t->nports; i++)
        if (t->ports[i] == port)
            return 0;
    if (t->nports == MAX_PORTS) {
        snprintf(err, errlen, "too many protected ports (at most %d)", MAX_PORTS);
        return ENOSPC;
    }
    /* The table's route comes with the first rule: a datapath whose sockets are bound to
     * the device (pcscf_esp_tun_bind_port) needs neither. */
    int rc = 0;
    if (!t->route_added && (rc = nl_route(t, true)) != 0) {
        snprintf(err, errlen, "cannot add the default route of table %u via %s: %s", t->conf.table,
                 t->ifname, strerror(rc));
        return rc;
    }
    t->route_added = true;
    rc = nl_rule(t, port, true);
    if (rc == EEXIST) /* left by a previous run that was killed: reuse it */
        rc = 0;
    if (rc) {
        snprintf(err, errlen, "cannot add the routing rule for protected port %u: %s", port,
                 strerror(rc));
        return rc;
    }
    t->ports[t->nports++] = port;
    return 0;
}

/* Our port of an IPv4 UDP socket or listening TCP socket; 0 for anything else. */
static uint16_t bound_port(int fd)
{
    int type = 0, listening = 0;
    socklen_t len = sizeof type;
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0 ||
        getsockname(fd, (struct sockaddr *)&ss, &sl) != 0 || ss.ss_family != AF_INET)
        return 0;
    len = sizeof listening;
    if (type == SOCK_STREAM &&
        (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) != 0 || !listening))
        return 0;
    if (type != SOCK_DGRAM && type != SOCK_STREAM)
        return 0;
    return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

int pcscf_esp_tun_bind_port(pcscf_esp_tun_t *t, uint16_t port, char *err, size_t errlen)
{
    int n = 0;
    for (int fd = 3; fd < 4096; fd++) {
        if (fd == t->tun_fd || fd == t->raw_fd || bound_port(fd) != port)
            continue;
        if (setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, t->ifname,
                       (socklen_t)strlen(t->ifname) + 1) != 0) {
            int rc = errno;
            snprintf(err, errlen, "cannot bind the sockets of port %u to %s: %s", port, t->ifname,
                     strerror(rc));
            return rc;
        }
        n++;
    }
    if (n == 0) {
        snprintf(err, errlen, "no IPv4 socket listens on protected port %u", port);
        return ENOENT;
    }
    return 0;
}

const pcscf_esp_tun_stats_t *pcscf_esp_tun_stats(const pcscf_esp_tun_t *t)
{
    return &t->st;
}

const char *pcscf_esp_tun_ifname(const pcscf_esp_tun_t *t)
{
    return t->ifname;
}

void pcscf_esp_tun_destroy(pcscf_esp_tun_t *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->nports; i++)
        nl_rule(t, t->ports[i], false);
    if (t->route_added)
        nl_route(t, false);
    if (t->raw_reg)
        su_root_deregister(t->root, t->raw_reg);
    if (t->tun_reg)
        su_root_deregister(t->root, t->tun_reg);
    if (t->raw_fd >= 0)
        close(t->raw_fd);
    if (t->tun_fd >= 0)
        close(t->tun_fd); /* a non-persistent TUN device disappears with its last fd */
    free(t);
}
