/* esp-tool: drives the P-CSCF's ESP code (pcscf/esp*.c) from tests, so an independent ESP
 * implementation (scapy) can check it packet by packet (pipe) and end to end (tun). */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <arpa/inet.h>
#include <time.h>

#include <jansson.h>

#include "esp.h"
#include "esp_tun.h"
#include "ims/log.h"
#include "ims/loop.h"
#include "ims/util.h"

static const char *USAGE =
    "usage: esp-tool pipe|tun|bench [options]\n"
    "  common: --auth hmac-sha-1-96|hmac-md5-96 --enc null|aes-cbc|des-ede3-cbc\n"
    "          --ck HEX32 --ik HEX32 (AKA keys, expanded as TS 33.203 Annex I says)\n"
    "  pipe:   --spi-in N --spi-out N; JSON lines on stdin:\n"
    "          {\"op\":\"protect\",\"nh\":17,\"data\":HEX} | {\"op\":\"unprotect\",\"data\":HEX}\n"
    "  tun:    --local IP --remote IP --sa in|out:SPI:LOCALPORT:REMOTEPORT (repeatable)\n"
    "          [--ifname NAME] [--table N]; protects every LOCALPORT; runs until SIGTERM,\n"
    "          then prints the counters as JSON\n"
    "  bench:  --size BYTES --count N: protect+unprotect throughput\n";

typedef struct opts {
    const char *mode;
    pcscf_esp_sa_params_t base;
    uint32_t spi_in, spi_out;
    const char *local, *remote, *ifname;
    uint32_t table;
    char sa[16][64];
    size_t nsa;
    size_t size, count;
} opts_t;

static int die(const char *msg)
{
    fprintf(stderr, "esp-tool: %s\n%s", msg, USAGE);
    return 2;
}

static int parse(int argc, char **argv, opts_t *o)
{
    static const struct option lo[] = {
        {"auth", 1, 0, 'a'},   {"enc", 1, 0, 'e'},    {"ck", 1, 0, 'c'},
        {"ik", 1, 0, 'i'},     {"spi-in", 1, 0, 'I'}, {"spi-out", 1, 0, 'O'},
        {"local", 1, 0, 'l'},  {"remote", 1, 0, 'r'}, {"sa", 1, 0, 's'},
        {"ifname", 1, 0, 'n'}, {"table", 1, 0, 't'},  {"size", 1, 0, 'z'},
        {"count", 1, 0, 'k'},  {0, 0, 0, 0}};
    if (argc < 2)
        return EINVAL;
    o->mode = argv[1];
    o->base.family = AF_INET;
    memset(o->base.ck, 0x11, 16);
    memset(o->base.ik, 0x22, 16);
    o->size = 600;
    o->count = 100000;
    optind = 2;
    int ch;
    while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        int bad = 0;
        switch (ch) {
        case 'a':
            bad = pcscf_esp_auth_parse(optarg, strlen(optarg), &o->base.auth);
            break;
        case 'e':
            bad = pcscf_esp_enc_parse(optarg, strlen(optarg), &o->base.enc);
            break;
        case 'c':
            bad = ims_hex_decode(optarg, o->base.ck, 16);
            break;
        case 'i':
            bad = ims_hex_decode(optarg, o->base.ik, 16);
            break;
        case 'I':
            o->spi_in = (uint32_t)strtoul(optarg, NULL, 0);
            break;
        case 'O':
            o->spi_out = (uint32_t)strtoul(optarg, NULL, 0);
            break;
        case 'l':
            o->local = optarg;
            break;
        case 'r':
            o->remote = optarg;
            break;
        case 's':
            bad = o->nsa == 16;
            if (!bad)
                snprintf(o->sa[o->nsa++], 64, "%s", optarg);
            break;
        case 'n':
            o->ifname = optarg;
            break;
        case 't':
            o->table = (uint32_t)strtoul(optarg, NULL, 0);
            break;
        case 'z':
            o->size = strtoul(optarg, NULL, 0);
            break;
        case 'k':
            o->count = strtoul(optarg, NULL, 0);
            break;
        default:
            return EINVAL;
        }
        if (bad)
            return EINVAL;
    }
    return 0;
}

static int add_sa(pcscf_esp_table_t *t, const pcscf_esp_sa_params_t *base, pcscf_esp_dir_t dir,
                  uint32_t spi)
{
    pcscf_esp_sa_params_t p = *base;
    p.dir = dir;
    p.spi = spi;
    return t->ops->add(t->be, &p, NULL);
}

/* ---- pipe: one JSON request per line, one JSON answer per line ---- */

static json_t *pipe_one(pcscf_esp_table_t *t, const opts_t *o, json_t *req)
{
    const char *op = json_string_value(json_object_get(req, "op"));
    const char *hex = json_string_value(json_object_get(req, "data"));
    size_t hlen = hex ? strlen(hex) : 0;
    static uint8_t in[70000], out[70000 + PCSCF_ESP_OVERHEAD];
    char *ohex = NULL;
    if (!op || !hex || hlen % 2 || hlen / 2 > sizeof in || ims_hex_decode(hex, in, hlen / 2))
        return json_pack("{s:b,s:s}", "ok", 0, "error", "bad request");
    size_t n = 0;
    uint8_t nh = (uint8_t)json_integer_value(json_object_get(req, "nh"));
    int rc;
    if (strcmp(op, "protect") == 0) {
        pcscf_esp_sa_t *sa = NULL;
        uint8_t any[4] = {0};
        sa = pcscf_esp_user_lookup_out(t, any, 0, 0);
        rc = sa ? pcscf_esp_protect(sa, nh, in, hlen / 2, out, sizeof out, &n) : -1;
    } else {
        uint32_t spi = pcscf_esp_spi_of(in, hlen / 2);
        pcscf_esp_sa_t *sa = pcscf_esp_user_lookup_in(t, spi);
        if (!sa)
            return json_pack("{s:b,s:s}", "ok", 0, "error", "unknown-spi");
        rc = pcscf_esp_unprotect(sa, in, hlen / 2, out, sizeof out, &n, &nh);
    }
    if (rc)
        return json_pack("{s:b,s:s}", "ok", 0, "error", pcscf_esp_strerror(rc));
    ohex = malloc(2 * n + 1);
    ims_hex_encode(out, n, ohex);
    json_t *r = json_pack("{s:b,s:i,s:s}", "ok", 1, "nh", nh, "data", ohex);
    free(ohex);
    return r;
}

static int run_pipe(const opts_t *o)
{
    pcscf_esp_table_t t;
    if (pcscf_esp_user_create(&t))
        return 1;
    if ((o->spi_in && add_sa(&t, &o->base, PCSCF_ESP_IN, o->spi_in)) ||
        (o->spi_out && add_sa(&t, &o->base, PCSCF_ESP_OUT, o->spi_out)))
        return die("cannot install the SAs (SPI below 256?)");
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, stdin) > 0) {
        json_t *req = json_loads(line, 0, NULL);
        json_t *ans =
            req ? pipe_one(&t, o, req) : json_pack("{s:b,s:s}", "ok", 0, "error", "bad request");
        char *s = json_dumps(ans, JSON_COMPACT);
        printf("%s\n", s);
        fflush(stdout);
        free(s);
        json_decref(ans);
        json_decref(req);
    }
    free(line);
    t.ops->destroy(t.be);
    return 0;
}

/* ---- tun: the datapath with fixed SAs until SIGTERM ---- */

static int tun_sas(pcscf_esp_table_t *t, const opts_t *o, uint16_t *ports, size_t *nports)
{
    for (size_t i = 0; i < o->nsa; i++) {
        char dir[8];
        unsigned long spi;
        unsigned lport, rport;
        if (sscanf(o->sa[i], "%3[a-z]:%lu:%u:%u", dir, &spi, &lport, &rport) != 4)
            return EINVAL;
        pcscf_esp_sa_params_t p = o->base;
        p.dir = strcmp(dir, "in") == 0 ? PCSCF_ESP_IN : PCSCF_ESP_OUT;
        p.spi = (uint32_t)spi;
        const char *src = p.dir == PCSCF_ESP_IN ? o->remote : o->local;
        const char *dst = p.dir == PCSCF_ESP_IN ? o->local : o->remote;
        if (inet_pton(AF_INET, src, p.src) != 1 || inet_pton(AF_INET, dst, p.dst) != 1)
            return EINVAL;
        p.sport = (uint16_t)(p.dir == PCSCF_ESP_IN ? rport : lport);
        p.dport = (uint16_t)(p.dir == PCSCF_ESP_IN ? lport : rport);
        snprintf(p.owner, sizeof p.owner, "esp-tool");
        if (t->ops->add(t->be, &p, NULL))
            return EINVAL;
        ports[(*nports)++] = (uint16_t)lport;
    }
    return 0;
}

static void sa_json(void *arg, uint64_t id, const pcscf_esp_sa_params_t *p,
                    const pcscf_esp_counters_t *c, const pcscf_esp_keys_t *k)
{
    char line[320];
    pcscf_esp_wireshark_line(p, k, line, sizeof line);
    json_array_append_new(arg, json_pack("{s:s,s:I,s:I,s:I,s:I,s:I,s:s}", "dir",
                                         p->dir == PCSCF_ESP_IN ? "in" : "out", "spi",
                                         (json_int_t)p->spi, "packets", (json_int_t)c->packets,
                                         "bytes", (json_int_t)c->bytes, "auth_failures",
                                         (json_int_t)c->auth_failures, "replays",
                                         (json_int_t)c->replays, "esp_sa", line));
}

static void print_state(pcscf_esp_table_t *t, const pcscf_esp_tun_t *tun, bool ready)
{
    json_t *sas = json_array();
    t->ops->list(t->be, sa_json, sas);
    const pcscf_esp_tun_stats_t *s = pcscf_esp_tun_stats(tun);
    json_t *j = json_pack(
        "{s:b,s:s,s:o,s:{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I}}", "ready", ready, "ifname",
        pcscf_esp_tun_ifname(tun), "sas", sas, "stats", "in_packets", (json_int_t)s->in_packets,
        "out_packets", (json_int_t)s->out_packets, "unknown_spi", (json_int_t)s->unknown_spi,
        "auth_failures", (json_int_t)s->auth_failures, "replays", (json_int_t)s->replays,
        "malformed", (json_int_t)s->malformed, "policy_drops", (json_int_t)s->policy_drops,
        "no_sa_out", (json_int_t)s->no_sa_out, "io_errors", (json_int_t)s->io_errors, "in_bytes",
        (json_int_t)s->in_bytes);
    char *str = json_dumps(j, JSON_COMPACT);
    printf("%s\n", str);
    fflush(stdout);
    free(str);
    json_decref(j);
}

static int run_tun(const opts_t *o)
{
    if (!o->local || !o->remote || !o->nsa)
        return die("tun needs --local, --remote and --sa");
    su_init();
    su_root_t *root = su_root_create(NULL);
    ims_loop_signals_t *sig = NULL;
    pcscf_esp_table_t t;
    pcscf_esp_tun_t *tun = NULL;
    uint16_t ports[16];
    size_t nports = 0;
    char err[256] = "";
    int rc = !root || ims_loop_signals_init(root, &sig) || pcscf_esp_user_create(&t);
    if (rc)
        return die("cannot set up the event loop");
    if (tun_sas(&t, o, ports, &nports))
        rc = die("bad --sa (in|out:SPI>=256:LOCALPORT:REMOTEPORT) or address");
    pcscf_esp_tun_conf_t conf = {.ifname = o->ifname, .table = o->table};
    if (!rc && pcscf_esp_tun_create(root, &t, &conf, &tun, err, sizeof err))
        rc = 1;
    for (size_t i = 0; !rc && i < nports; i++)
        if (pcscf_esp_tun_protect_port(tun, ports[i], err, sizeof err))
            rc = 1;
    if (!rc) {
        print_state(&t, tun, true);
        su_root_run(root);
        print_state(&t, tun, false);
    } else if (*err) {
        fprintf(stderr, "esp-tool: %s\n", err);
    }
    pcscf_esp_tun_destroy(tun);
    t.ops->destroy(t.be);
    ims_loop_signals_free(sig);
    su_root_destroy(root);
    su_deinit();
    return rc;
}

/* ---- bench: how many packets a second one core protects and verifies ---- */

static int run_bench(const opts_t *o)
{
    pcscf_esp_table_t t;
    if (pcscf_esp_user_create(&t) || add_sa(&t, &o->base, PCSCF_ESP_IN, 4096) ||
        add_sa(&t, &o->base, PCSCF_ESP_OUT, 4096) || o->size > 60000)
        return die("bad bench parameters");
    uint8_t any[4] = {0};
    pcscf_esp_sa_t *out = pcscf_esp_user_lookup_out(&t, any, 0, 0);
    pcscf_esp_sa_t *in = pcscf_esp_user_lookup_in(&t, 4096);
    static uint8_t pay[60000], pkt[60000 + PCSCF_ESP_OVERHEAD], back[60000 + PCSCF_ESP_OVERHEAD];
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (size_t i = 0; i < o->count; i++) {
        size_t n, m;
        uint8_t nh;
        if (pcscf_esp_protect(out, 17, pay, o->size, pkt, sizeof pkt, &n) ||
            pcscf_esp_unprotect(in, pkt, n, back, sizeof back, &m, &nh))
            return die("round trip failed");
    }
    clock_gettime(CLOCK_MONOTONIC, &b);
    double s = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
    printf("{\"auth\":\"%s\",\"enc\":\"%s\",\"size\":%zu,\"count\":%zu,\"seconds\":%.3f,"
           "\"round_trips_per_s\":%.0f}\n",
           pcscf_esp_auth_name(o->base.auth), pcscf_esp_enc_name(o->base.enc), o->size, o->count, s,
           (double)o->count / s);
    t.ops->destroy(t.be);
    return 0;
}

int main(int argc, char **argv)
{
    opts_t o = {0};
    ims_log_init("esp-tool", IMS_LOG_WARN);
    if (parse(argc, argv, &o))
        return die("bad arguments");
    if (strcmp(o.mode, "pipe") == 0)
        return run_pipe(&o);
    if (strcmp(o.mode, "tun") == 0)
        return run_tun(&o);
    if (strcmp(o.mode, "bench") == 0)
        return run_bench(&o);
    return die("unknown mode");
}
