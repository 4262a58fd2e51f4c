/* The reply header-line buffer of the S-CSCF (stack first, heap when long, wiped when it
 * holds keys) and the Path text that the 401, the 200 and the stored bindings share. */
#include <stdlib.h>
#include <string.h>

#include "ims/util.h"
#include "register.h"

void scscf_hb_init(scscf_hbuf_t *b, bool secret)
{
    b->p = b->stack;
    b->len = 0;
    b->cap = sizeof(b->stack);
    b->heap = b->failed = false;
    b->secret = secret;
    b->stack[0] = 0;
}

/* Makes room for need more bytes and the terminating NUL. A secret buffer is never
 * realloc'ed, which could leave a copy of the keys in freed memory. */
static bool hb_room(scscf_hbuf_t *b, size_t need)
{
    if (b->failed)
        return false;
    if (b->len + need < b->cap)
        return true;
    size_t cap = 2 * (b->len + need + 1);
    char *np = b->heap && !b->secret ? realloc(b->p, cap) : malloc(cap);
    if (!np) {
        b->failed = true;
        return false;
    }
    if (!b->heap || b->secret) {
        memcpy(np, b->p, b->len + 1);
        if (b->heap) {
            ims_secure_zero(b->p, b->len);
            free(b->p);
        }
    }
    b->p = np;
    b->cap = cap;
    b->heap = true;
    return true;
}

void scscf_hb_put(scscf_hbuf_t *b, const char *s)
{
    size_t n = strlen(s);
    if (hb_room(b, n)) {
        memcpy(b->p + b->len, s, n + 1);
        b->len += n;
    }
}

/* Frees the buffer; a secret one is wiped first, with the stack part it may have
 * outgrown. */
void scscf_hb_free(scscf_hbuf_t *b)
{
    if (b->secret) {
        ims_secure_zero(b->p, b->len);
        if (b->heap)
            ims_secure_zero(b->stack, sizeof(b->stack));
    }
    if (b->heap)
        free(b->p);
    b->p = b->stack;
    b->len = 0;
}

/* Not sip_header_as_string: it encodes into a 128-byte guess first, and the parameter
 * encoder under-reports the length when the guess is short, so parameters past byte 128
 * were lost ("<sip:p;lr>;x=...;" echoed and stored cut). Here Sofia's encoder gets a
 * buffer bounded from above by the parts' lengths. */
char *scscf_path_string(su_home_t *home, sip_path_t const *p)
{
    char *url = url_as_string(home, p->r_url);
    if (!url)
        return NULL;
    size_t n = strlen(url) + (p->r_display ? strlen(p->r_display) : 0) + 16;
    for (int i = 0; p->r_params && p->r_params[i]; i++)
        n += strlen(p->r_params[i]) + 2;
    char *out = su_alloc(home, 2 * n);
    if (!out)
        return NULL;
    issize_t len = msg_header_field_e(out, (isize_t)(2 * n), (msg_header_t const *)p, 0);
    if (len <= 0 || (size_t)len >= 2 * n)
        return NULL;
    out[len] = 0;
    return out;
}

void scscf_hb_put_path(scscf_hbuf_t *b, sip_t const *sip, su_home_t *home)
{
    for (sip_path_t const *p = sip->sip_path; p; p = p->r_next) {
        char *v = scscf_path_string(home, p);
        if (v) {
            scscf_hb_put(b, "Path: ");
            scscf_hb_put(b, v);
            scscf_hb_put(b, "\r\n");
        }
    }
}
