/* Authentication material for Cx MAR: digest HA1s for both username forms, and
 * Milenage AKA vectors (RAND drawn here, SQN supplied by the store). */
#include <errno.h>
#include <string.h>

#include "hss.h"
#include "ims/aka.h"
#include "ims/digest.h"
#include "ims/util.h"

void hss_vector_digest(const hss_sub_t *s, const char *realm, json_t *out)
{
    char user[HSS_URI_MAX + 1], ha1_impi[33], ha1_user[33];
    hss_user_part(s->impi, user, sizeof(user));
    /* The UE may send either the full IMPI or its user part as the digest username;
     * the S-CSCF gets both HA1s so it needs no second round trip. */
    ims_digest_ha1(s->impi, realm, s->password, ha1_impi);
    ims_digest_ha1(user, realm, s->password, ha1_user);
    json_object_set_new(out, "ha1", json_pack("{s:s,s:s}", "impi", ha1_impi, "user", ha1_user));
}

int hss_vector_aka(const hss_sub_t *s, uint64_t sqn, json_t *out)
{
    uint8_t rand[16], sqnb[6];
    ims_aka_vector_t v;
    if (ims_random_bytes(rand, sizeof(rand)) != 0)
        return EIO;
    ims_sqn_to_bytes(sqn, sqnb);
    if (ims_aka_vector(s->k, s->opc, sqnb, s->amf, rand, &v) != 0)
        return EIO;
    char h_rand[33], h_autn[33], h_xres[17], h_ck[33], h_ik[33], h_sqn[13];
    ims_hex_encode(v.rand, 16, h_rand);
    ims_hex_encode(v.autn, 16, h_autn);
    ims_hex_encode(v.xres, 8, h_xres);
    ims_hex_encode(v.ck, 16, h_ck);
    ims_hex_encode(v.ik, 16, h_ik);
    ims_hex_encode(sqnb, 6, h_sqn);
    json_object_set_new(out, "algorithm", json_string(ims_aka_version_name(s->algorithm)));
    json_object_set_new(out, "rand", json_string(h_rand));
    json_object_set_new(out, "autn", json_string(h_autn));
    json_object_set_new(out, "xres", json_string(h_xres));
    json_object_set_new(out, "ck", json_string(h_ck));
    json_object_set_new(out, "ik", json_string(h_ik));
    json_object_set_new(out, "sqn", json_string(h_sqn));
    ims_secure_zero(&v, sizeof(v));
    return 0;
}
