/* Per-UE IPsec state of the P-CSCF: the SA set a challenge creates (pending), the set a
 * protected REGISTER confirmed (registered), their SPIs, ports and lifetimes. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "ims/log.h"
#include "ims/util.h"
#include "ipsec.h"

#define SERVER_MAX 256
/* How long a deregistered set outlives the 200 that ends it: the answer is queued in the
 * TUN device and protected on the loop's next turn, so it needs the SAs a little longer. */
#define GRACE_MS 2000

/* The four SAs of one agreement (TS 33.203 §7.1): UE port-c → our port-s and UE port-s →
 * our port-c inbound (our SPIs), and the two reverse directions (the UE's SPIs). */
typedef struct sa_set {
    uint64_t gen; /* owner tag "impi#gen" in the SA table */
    char ue_ip[INET_ADDRSTRLEN];
    uint16_t ue_port_c, ue_port_s;
    uint32_t our_spi_c, our_spi_s, ue_spi_c, ue_spi_s;
    pcscf_esp_auth_t auth;
    pcscf_esp_enc_t enc;
    pcscf_sec_list_t server; /* what we sent, for Security-Verify */
    uint64_t expires_ms;
    bool ending; /* deregistered: kept a moment so the answer can still leave over it */
} sa_set_t;

typedef struct ue {
    char *impi;
    sa_set_t *pending, *registered;
    struct ue *next;
} ue_t;

struct pcscf_ipsec {
    pcscf_esp_table_t *table;
    pcscf_sec_prefs_t prefs;
    uint16_t port_c, port_s;
    uint8_t addr[4];
    long pending_s;
    uint64_t gen;
    ue_t *ues;
    pcscf_ipsec_stats_t st;
};

int pcscf_sec_agree_parse(const char *text, pcscf_sec_agree_t *out)
{
    static const char *const names[] = {"off", "optional", "required"};
    for (int i = 0; i < 3; i++)
        if (text && strcmp(text, names[i]) == 0) {
            *out = (pcscf_sec_agree_t)i;
            return 0;
        }
    return EINVAL;
}

const char *pcscf_sec_agree_name(pcscf_sec_agree_t m)
{
    return m == PCSCF_SEC_AGREE_OFF        ? "off"
           : m == PCSCF_SEC_AGREE_REQUIRED ? "required"
                                           : "optional";
}

int pcscf_ipsec_create(const pcscf_ipsec_conf_t *conf, pcscf_esp_table_t *table,
                       pcscf_ipsec_t **out, char *err, size_t errlen)
{
    pcscf_ipsec_t *x = calloc(1, sizeof *x);
    if (!x) {
        snprintf(err, errlen, "out of memory");
        return ENOMEM;
    }
    x->table = table;
    x->port_c = conf->port_c;
    x->port_s = conf->port_s;
    x->pending_s = conf->pending_s > 0 ? conf->pending_s : 300;
    int rc = pcscf_sec_prefs_parse(conf->auth_prefs, conf->enc_prefs, &x->prefs, err, errlen);
    if (!rc && (!x->port_c || !x->port_s || x->port_c == x->port_s)) {
        snprintf(err, errlen, "the protected ports must be two different ports");
        rc = EINVAL;
    }
    if (!rc && conf->addr && inet_pton(AF_INET, conf->addr, x->addr) != 1) {
        snprintf(err, errlen, "IPsec address %s is not an IPv4 address", conf->addr);
        rc = EINVAL;
    }
    if (rc) {
        free(x);
        return EINVAL;
    }
    *out = x;
    return 0;
}

static void owner_of(const char *impi, uint64_t gen, char *out, size_t cap)
{
    snprintf(out, cap, "%s#%llu", impi, (unsigned long long)gen);
}

static void set_drop(pcscf_ipsec_t *x, const char *impi, sa_set_t **sp)
{
    if (!*sp)
        return;
    char owner[sizeof(((pcscf_esp_sa_params_t *)0)->owner)];
    owner_of(impi, (*sp)->gen, owner, sizeof owner);
    x->table->ops->del_owner(x->table->be, owner);
    x->st.sets_removed++;
    free(*sp);
    *sp = NULL;
}

static ue_t **ue_find(pcscf_ipsec_t *x, const char *impi)
{
    ue_t **pp = &x->ues;
    while (*pp && strcmp((*pp)->impi, impi) != 0)
        pp = &(*pp)->next;
    return pp;
}

static void ue_drop(pcscf_ipsec_t *x, ue_t **pp)
{
    ue_t *u = *pp;
    set_drop(x, u->impi, &u->pending);
    set_drop(x, u->impi, &u->registered);
    *pp = u->next;
    free(u->impi);
    free(u);
}

void pcscf_ipsec_destroy(pcscf_ipsec_t *x)
{
    if (!x)
        return;
    while (x->ues)
        ue_drop(x, &x->ues);
    free(x);
}

/* A random SPI of ours: not reserved, not used by another inbound SA, not `other`. */
static uint32_t spi_new(pcscf_ipsec_t *x, uint32_t other)
{
    for (int i = 0; i < 64; i++) {
        uint32_t v = 0;
        if (ims_random_bytes((uint8_t *)&v, sizeof v))
            return 0;
        if (v >= 256 && v != other && !x->table->ops->spi_in_use(x->table->be, v))
            return v;
    }
    return 0;
}

/* The four SAs of s; 0 or the first error (the caller removes what went in). */
static int set_install(pcscf_ipsec_t *x, const char *impi, const sa_set_t *s, const uint8_t ck[16],
                       const uint8_t ik[16])
{
    const struct {
        pcscf_esp_dir_t dir;
        uint32_t spi;
        uint16_t ours, theirs;
    } four[4] = {
        {PCSCF_ESP_IN, s->our_spi_s, x->port_s, s->ue_port_c},
        {PCSCF_ESP_IN, s->our_spi_c, x->port_c, s->ue_port_s},
        {PCSCF_ESP_OUT, s->ue_spi_c, x->port_s, s->ue_port_c},
        {PCSCF_ESP_OUT, s->ue_spi_s, x->port_c, s->ue_port_s},
    };
    pcscf_esp_sa_params_t p = {.auth = s->auth, .enc = s->enc, .family = AF_INET};
    memcpy(p.ck, ck, 16);
    memcpy(p.ik, ik, 16);
    owner_of(impi, s->gen, p.owner, sizeof p.owner);
    uint8_t ue[4];
    inet_pton(AF_INET, s->ue_ip, ue);
    int rc = 0;
    for (int i = 0; i < 4 && !rc; i++) {
        bool in = four[i].dir == PCSCF_ESP_IN;
        p.dir = four[i].dir;
        p.spi = four[i].spi;
        memcpy(in ? p.src : p.dst, ue, 4);
        memcpy(in ? p.dst : p.src, x->addr, 4);
        p.sport = in ? four[i].theirs : four[i].ours;
        p.dport = in ? four[i].ours : four[i].theirs;
        rc = x->table->ops->add(x->table->be, &p, NULL);
    }
    memset(&p, 0, sizeof p);
    return rc;
}

static int set_make(pcscf_ipsec_t *x, const char *ue_ip, const pcscf_sec_offer_t *o, sa_set_t **out)
{
    uint8_t tmp[4];
    if (inet_pton(AF_INET, ue_ip, tmp) != 1)
        return EINVAL;
    sa_set_t *s = calloc(1, sizeof *s);
    if (!s)
        return ENOMEM;
    s->gen = ++x->gen;
    snprintf(s->ue_ip, sizeof s->ue_ip, "%s", ue_ip);
    s->ue_port_c = o->port_c;
    s->ue_port_s = o->port_s;
    s->ue_spi_c = o->spi_c;
    s->ue_spi_s = o->spi_s;
    s->auth = o->auth;
    s->enc = o->enc;
    s->our_spi_c = spi_new(x, 0);
    s->our_spi_s = spi_new(x, s->our_spi_c);
    if (!s->our_spi_c || !s->our_spi_s) {
        free(s);
        return EIO;
    }
    *out = s;
    return 0;
}

int pcscf_ipsec_challenge(pcscf_ipsec_t *x, const char *impi, const char *ue_ip,
                          const pcscf_sec_list_t *client, const char *ck_hex, const char *ik_hex,
                          char *server, size_t cap, char *why, size_t whylen)
{
    int k = pcscf_sec_choose(client, &x->prefs, why, whylen);
    if (k < 0)
        return ENOTSUP;
    uint8_t ck[16], ik[16];
    if (!ck_hex || !ik_hex || ims_hex_decode(ck_hex, ck, 16) || ims_hex_decode(ik_hex, ik, 16)) {
        snprintf(why, whylen, "the S-CSCF's challenge carried no usable CK/IK");
        return EINVAL;
    }
    ue_t **pp = ue_find(x, impi);
    if (!*pp) {
        ue_t *u = calloc(1, sizeof *u);
        if (!u || !(u->impi = strdup(impi))) {
            free(u);
            return ENOMEM;
        }
        *pp = u;
    }
    ue_t *u = *pp;
    set_drop(x, impi, &u->pending); /* a newer challenge replaces an unanswered one */
    sa_set_t *s = NULL;
    int rc = set_make(x, ue_ip, &client->o[k], &s);
    char text[SERVER_MAX];
    if (!rc)
        rc = pcscf_sec_server_build(&client->o[k], s->our_spi_c, s->our_spi_s, x->port_c, x->port_s,
                                    text, sizeof text);
    if (!rc && pcscf_sec_parse(text, &s->server, why, whylen))
        rc = EINVAL;
    if (!rc && (rc = set_install(x, impi, s, ck, ik)) != 0)
        snprintf(why, whylen, "the SAs could not be installed (%s)", strerror(rc));
    explicit_bzero(ck, sizeof ck);
    explicit_bzero(ik, sizeof ik);
    if (!rc && snprintf(server, cap, "%s", text) >= (int)cap)
        rc = E2BIG;
    if (rc) {
        if (s) {
            u->pending = s;
            set_drop(x, impi, &u->pending);
        }
        if (!u->registered)
            ue_drop(x, ue_find(x, impi));
        return rc == ENOMEM || rc == EINVAL || rc == E2BIG ? rc : EEXIST;
    }
    s->expires_ms = ims_now_ms() + (uint64_t)x->pending_s * 1000;
    u->pending = s;
    x->st.sets_installed++;
    return 0;
}

static bool came_over(const pcscf_ipsec_t *x, const sa_set_t *s, const char *src_ip,
                      uint16_t src_port, uint16_t local_port)
{
    return s && strcmp(s->ue_ip, src_ip) == 0 && src_port == s->ue_port_c &&
           local_port == x->port_s;
}

int pcscf_ipsec_verify(pcscf_ipsec_t *x, const char *impi, const char *src_ip, uint16_t src_port,
                       uint16_t local_port, const pcscf_sec_list_t *verify, char *why,
                       size_t whylen)
{
    ue_t *u = impi ? *ue_find(x, impi) : NULL;
    sa_set_t *s = NULL;
    if (u && came_over(x, u->pending, src_ip, src_port, local_port))
        s = u->pending;
    else if (u && came_over(x, u->registered, src_ip, src_port, local_port))
        s = u->registered;
    if (!s) {
        x->st.verify_failed++;
        snprintf(why, whylen, "%s",
                 u ? "the REGISTER did not come over the SAs of this UE"
                   : "no IPsec security agreement for this IMPI");
        return EACCES;
    }
    if (!verify || verify->n == 0) {
        x->st.verify_failed++;
        snprintf(why, whylen, "Security-Verify missing in the protected REGISTER");
        return EACCES;
    }
    if (!pcscf_sec_verify_matches(verify, &s->server, why, whylen)) {
        x->st.verify_failed++;
        return EACCES;
    }
    if (s == u->pending) { /* the new agreement is in use: the old one goes */
        set_drop(x, impi, &u->registered);
        u->registered = s;
        u->pending = NULL;
    }
    return 0;
}

void pcscf_ipsec_registered(pcscf_ipsec_t *x, const char *impi, long expires_s)
{
    ue_t **pp = ue_find(x, impi);
    if (!*pp || !(*pp)->registered)
        return;
    sa_set_t *s = (*pp)->registered;
    s->ending = expires_s <= 0;
    s->expires_ms = ims_now_ms() + (s->ending ? GRACE_MS : (uint64_t)expires_s * 1000);
}

bool pcscf_ipsec_is_protected(const pcscf_ipsec_t *x, const char *src_ip)
{
    for (const ue_t *u = x->ues; u; u = u->next)
        if (u->registered && !u->registered->ending && strcmp(u->registered->ue_ip, src_ip) == 0)
            return true;
    return false;
}

bool pcscf_ipsec_remove(pcscf_ipsec_t *x, const char *impi)
{
    ue_t **pp = ue_find(x, impi);
    if (!*pp)
        return false;
    ue_drop(x, pp);
    return true;
}

size_t pcscf_ipsec_expire(pcscf_ipsec_t *x, uint64_t now_ms)
{
    size_t n = 0;
    for (ue_t **pp = &x->ues; *pp;) {
        ue_t *u = *pp;
        if (u->pending && u->pending->expires_ms <= now_ms) {
            set_drop(x, u->impi, &u->pending);
            n++;
        }
        if (u->registered && u->registered->expires_ms <= now_ms) {
            set_drop(x, u->impi, &u->registered);
            n++;
        }
        if (!u->pending && !u->registered)
            ue_drop(x, pp);
        else
            pp = &u->next;
    }
    return n;
}

const pcscf_ipsec_stats_t *pcscf_ipsec_stats(const pcscf_ipsec_t *x)
{
    return &x->st;
}

size_t pcscf_ipsec_sa_count(const pcscf_ipsec_t *x)
{
    return x->table->ops->count(x->table->be);
}

/* Who an SA belongs to, from its owner tag "impi#gen". */
static const ue_t *owner_ue(const pcscf_ipsec_t *x, const char *owner, const char **state)
{
    const char *hash = strrchr(owner, '#');
    if (!hash)
        return NULL;
    unsigned long long gen = strtoull(hash + 1, NULL, 10);
    for (const ue_t *u = x->ues; u; u = u->next) {
        if (strlen(u->impi) != (size_t)(hash - owner) || strncmp(u->impi, owner, hash - owner))
            continue;
        *state = u->registered && u->registered->gen == gen ? "registered" : "pending";
        return u;
    }
    return NULL;
}

typedef struct list_ctx {
    const pcscf_ipsec_t *x;
    bool keys;
    json_t *items;
    char *text;
    size_t len;
} list_ctx_t;

static void sa_item(void *arg, uint64_t id, const pcscf_esp_sa_params_t *p,
                    const pcscf_esp_counters_t *c, const pcscf_esp_keys_t *k)
{
    list_ctx_t *ctx = arg;
    const char *state = "unknown";
    const ue_t *u = owner_ue(ctx->x, p->owner, &state);
    char src[INET_ADDRSTRLEN], dst[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, p->src, src, sizeof src);
    inet_ntop(AF_INET, p->dst, dst, sizeof dst);
    json_t *o =
        json_pack("{s:s?,s:s,s:s,s:I,s:s,s:s,s:i,s:i,s:s,s:s,s:I,s:I,s:I,s:I}", "impi",
                  u ? u->impi : NULL, "state", state, "dir", p->dir == PCSCF_ESP_IN ? "in" : "out",
                  "spi", (json_int_t)p->spi, "src", src, "dst", dst, "sport", p->sport, "dport",
                  p->dport, "alg", pcscf_esp_auth_name(p->auth), "ealg", pcscf_esp_enc_name(p->enc),
                  "packets", (json_int_t)c->packets, "bytes", (json_int_t)c->bytes, "auth_failures",
                  (json_int_t)c->auth_failures, "replays", (json_int_t)c->replays);
    if (o && ctx->keys) {
        char hex[2 * PCSCF_ESP_KEY_MAX + 1];
        ims_hex_encode(k->auth, k->auth_len, hex);
        json_object_set_new(o, "auth_key", json_string(hex));
        ims_hex_encode(k->enc, k->enc_len, hex);
        json_object_set_new(o, "enc_key", json_string(hex));
        explicit_bzero(hex, sizeof hex);
    }
    json_array_append_new(ctx->items, o);
}

json_t *pcscf_ipsec_json(const pcscf_ipsec_t *x, bool keys)
{
    list_ctx_t ctx = {.x = x, .keys = keys, .items = json_array()};
    size_t n = x->table->ops->list(x->table->be, sa_item, &ctx);
    return json_pack("{s:o,s:I}", "items", ctx.items, "total", (json_int_t)n);
}

static void sa_line(void *arg, uint64_t id, const pcscf_esp_sa_params_t *p,
                    const pcscf_esp_counters_t *c, const pcscf_esp_keys_t *k)
{
    list_ctx_t *ctx = arg;
    char line[320];
    int n = pcscf_esp_wireshark_line(p, k, line, sizeof line);
    char *t = n > 0 ? realloc(ctx->text, ctx->len + (size_t)n + 2) : NULL;
    if (!t)
        return;
    memcpy(t + ctx->len, line, (size_t)n);
    ctx->len += (size_t)n;
    t[ctx->len++] = '\n';
    t[ctx->len] = 0;
    ctx->text = t;
    explicit_bzero(line, sizeof line);
}

char *pcscf_ipsec_esp_sa(const pcscf_ipsec_t *x)
{
    list_ctx_t ctx = {.x = x};
    x->table->ops->list(x->table->be, sa_line, &ctx);
    return ctx.text ? ctx.text : strdup("");
}
