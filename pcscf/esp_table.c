/* The user-space SA table behind pcscf_esp_ops_t: inbound SAs found by SPI, outbound SAs
 * by (UE address, UE port, our port), both in O(1); plus the Wireshark esp_sa export line. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "esp.h"
#include "ims/util.h"

#define NBUCKETS 1024

typedef struct entry {
    uint64_t id;
    pcscf_esp_sa_t *sa;
    struct entry *next_hash;   /* chain in byspi (in) or bysel (out) */
    struct entry *prev, *next; /* installation order, for listing */
} entry_t;

typedef struct user_be {
    entry_t *byspi[NBUCKETS];
    entry_t *bysel[NBUCKETS];
    entry_t *head, *tail;
    uint64_t next_id;
    size_t n;
} user_be_t;

static unsigned spi_hash(uint32_t spi)
{
    return (spi * 2654435761u) >> 22; /* top 10 bits of a multiplicative hash */
}

static unsigned sel_hash(const uint8_t dst[4], uint16_t dport, uint16_t sport)
{
    uint32_t a;
    memcpy(&a, dst, 4);
    return spi_hash(a ^ ((uint32_t)dport << 16) ^ sport ^ 0x9e3779b9u);
}

static entry_t **chain(user_be_t *be, const pcscf_esp_sa_params_t *p)
{
    return p->dir == PCSCF_ESP_IN ? &be->byspi[spi_hash(p->spi)]
                                  : &be->bysel[sel_hash(p->dst, p->dport, p->sport)];
}

static bool same_key(const pcscf_esp_sa_params_t *a, const pcscf_esp_sa_params_t *b)
{
    if (a->dir != b->dir)
        return false;
    if (a->dir == PCSCF_ESP_IN)
        return a->spi == b->spi;
    return a->family == b->family && memcmp(a->dst, b->dst, 16) == 0 && a->dport == b->dport &&
           a->sport == b->sport;
}

static int user_add(void *v, const pcscf_esp_sa_params_t *p, uint64_t *id)
{
    user_be_t *be = v;
    entry_t **pp = chain(be, p);
    /* Inbound SPIs are ours and unique. An outbound selector may repeat: at
     * re-authentication the UE keeps its port-s (TS 33.203 §7.4), so the new SA shadows the
     * old one (chains are searched newest first) until the old set is removed. */
    for (entry_t *e = *pp; e && p->dir == PCSCF_ESP_IN; e = e->next_hash)
        if (same_key(pcscf_esp_sa_params(e->sa), p))
            return EEXIST;
    entry_t *e = calloc(1, sizeof *e);
    if (!e)
        return ENOMEM;
    int rc = pcscf_esp_sa_create(p, &e->sa);
    if (rc) {
        free(e);
        return rc;
    }
    e->id = ++be->next_id;
    e->next_hash = *pp;
    *pp = e;
    e->prev = be->tail;
    if (be->tail)
        be->tail->next = e;
    else
        be->head = e;
    be->tail = e;
    be->n++;
    if (id)
        *id = e->id;
    return 0;
}

static void unlink_free(user_be_t *be, entry_t *e)
{
    entry_t **pp = chain(be, pcscf_esp_sa_params(e->sa));
    while (*pp != e)
        pp = &(*pp)->next_hash;
    *pp = e->next_hash;
    if (e->prev)
        e->prev->next = e->next;
    else
        be->head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        be->tail = e->prev;
    be->n--;
    pcscf_esp_sa_free(e->sa);
    free(e);
}

static int user_del(void *v, uint64_t id)
{
    user_be_t *be = v;
    for (entry_t *e = be->head; e; e = e->next)
        if (e->id == id) {
            unlink_free(be, e);
            return 0;
        }
    return ENOENT;
}

static size_t user_del_owner(void *v, const char *owner)
{
    user_be_t *be = v;
    size_t n = 0;
    for (entry_t *e = be->head, *next; e; e = next) {
        next = e->next;
        if (strcmp(pcscf_esp_sa_params(e->sa)->owner, owner) == 0) {
            unlink_free(be, e);
            n++;
        }
    }
    return n;
}

static size_t user_list(void *v, pcscf_esp_visit_cb cb, void *arg)
{
    user_be_t *be = v;
    size_t n = 0;
    for (entry_t *e = be->head; e; e = e->next, n++) {
        pcscf_esp_keys_t k;
        pcscf_esp_sa_keys(e->sa, &k);
        cb(arg, e->id, pcscf_esp_sa_params(e->sa), pcscf_esp_sa_counters(e->sa), &k);
        memset(&k, 0, sizeof k);
    }
    return n;
}

static size_t user_count(void *v)
{
    return ((user_be_t *)v)->n;
}

static bool user_spi_in_use(void *v, uint32_t spi)
{
    user_be_t *be = v;
    for (entry_t *e = be->byspi[spi_hash(spi)]; e; e = e->next_hash)
        if (pcscf_esp_sa_params(e->sa)->spi == spi)
            return true;
    return false;
}

static void user_destroy(void *v)
{
    user_be_t *be = v;
    while (be->head)
        unlink_free(be, be->head);
    free(be);
}

static const pcscf_esp_ops_t user_ops = {
    .name = "userspace",
    .add = user_add,
    .del = user_del,
    .del_owner = user_del_owner,
    .list = user_list,
    .count = user_count,
    .spi_in_use = user_spi_in_use,
    .destroy = user_destroy,
};

int pcscf_esp_user_create(pcscf_esp_table_t *out)
{
    user_be_t *be = calloc(1, sizeof *be);
    if (!be)
        return ENOMEM;
    out->ops = &user_ops;
    out->be = be;
    return 0;
}

pcscf_esp_sa_t *pcscf_esp_user_lookup_in(const pcscf_esp_table_t *t, uint32_t spi)
{
    if (t->ops != &user_ops)
        return NULL;
    user_be_t *be = t->be;
    for (entry_t *e = be->byspi[spi_hash(spi)]; e; e = e->next_hash)
        if (pcscf_esp_sa_params(e->sa)->spi == spi)
            return e->sa;
    return NULL;
}

pcscf_esp_sa_t *pcscf_esp_user_lookup_out(const pcscf_esp_table_t *t, const uint8_t dst[4],
                                          uint16_t dport, uint16_t sport)
{
    if (t->ops != &user_ops)
        return NULL;
    user_be_t *be = t->be;
    for (entry_t *e = be->bysel[sel_hash(dst, dport, sport)]; e; e = e->next_hash) {
        const pcscf_esp_sa_params_t *p = pcscf_esp_sa_params(e->sa);
        if (p->family == AF_INET && memcmp(p->dst, dst, 4) == 0 && p->dport == dport &&
            p->sport == sport)
            return e->sa;
    }
    return NULL;
}

int pcscf_esp_wireshark_line(const pcscf_esp_sa_params_t *p, const pcscf_esp_keys_t *k, char *out,
                             size_t cap)
{
    char src[INET6_ADDRSTRLEN] = "", dst[INET6_ADDRSTRLEN] = "";
    char ekey[2 * PCSCF_ESP_KEY_MAX + 1] = "", akey[2 * PCSCF_ESP_KEY_MAX + 1];
    static const uint8_t any[16];
    /* An SA whose address we leave to the kernel (wildcard bind) matches any address:
     * Wireshark's wildcard is "*". */
    size_t alen = p->family == AF_INET6 ? 16 : 4;
    if (memcmp(p->src, any, alen) == 0)
        strcpy(src, "*");
    else
        inet_ntop(p->family, p->src, src, sizeof src);
    if (memcmp(p->dst, any, alen) == 0)
        strcpy(dst, "*");
    else
        inet_ntop(p->family, p->dst, dst, sizeof dst);
    ims_hex_encode(k->enc, k->enc_len, ekey);
    ims_hex_encode(k->auth, k->auth_len, akey);
    return snprintf(out, cap, "\"%s\",\"%s\",\"%s\",\"0x%08x\",\"%s\",\"%s%s\",\"%s\",\"0x%s\"",
                    p->family == AF_INET6 ? "IPv6" : "IPv4", src, dst, p->spi,
                    pcscf_esp_enc_wireshark(p->enc), k->enc_len ? "0x" : "", ekey,
                    pcscf_esp_auth_wireshark(p->auth), akey);
}
