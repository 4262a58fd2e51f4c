/* scscf-aka-ue: a test USIM for the S-CSCF tests. From K, OP/OPc and an AKA nonce it prints
 * RES, CK, IK, the SQN and whether MAC-A verifies, and optionally an AUTS for resync. */
#include <stdio.h>
#include <string.h>

#include "ims/aka.h"
#include "ims/milenage.h"
#include "ims/util.h"

static int usage(void)
{
    fprintf(stderr, "usage: scscf-aka-ue --k HEX32 (--opc|--op) HEX32 --nonce BASE64 "
                    "[--resync-sqn HEX12]\n");
    return 2;
}

int main(int argc, char **argv)
{
    const char *k_hex = NULL, *op_hex = NULL, *nonce = NULL, *sqn_hex = NULL;
    int is_opc = 1;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--k"))
            k_hex = argv[i + 1];
        else if (!strcmp(argv[i], "--opc"))
            op_hex = argv[i + 1], is_opc = 1;
        else if (!strcmp(argv[i], "--op"))
            op_hex = argv[i + 1], is_opc = 0;
        else if (!strcmp(argv[i], "--nonce"))
            nonce = argv[i + 1];
        else if (!strcmp(argv[i], "--resync-sqn"))
            sqn_hex = argv[i + 1];
        else
            return usage();
    }
    uint8_t k[16], op[16], opc[16], rand[16], autn[16];
    if (!k_hex || !op_hex || !nonce || ims_hex_decode(k_hex, k, 16) ||
        ims_hex_decode(op_hex, op, 16) || ims_aka_nonce_parse(nonce, rand, autn))
        return usage();
    if (is_opc)
        memcpy(opc, op, 16);
    else if (ims_milenage_opc(k, op, opc))
        return 1;
    uint8_t res[8], ck[16], ik[16], ak[6], ak_star[6], sqn[6], mac_a[8];
    if (ims_milenage_f2345(k, opc, rand, res, ck, ik, ak, ak_star))
        return 1;
    for (int i = 0; i < 6; i++)
        sqn[i] = autn[i] ^ ak[i];
    if (ims_milenage_f1(k, opc, rand, sqn, autn + 6, mac_a, NULL))
        return 1;
    char hres[17], hck[33], hik[33], hsqn[13];
    ims_hex_encode(res, 8, hres);
    ims_hex_encode(ck, 16, hck);
    ims_hex_encode(ik, 16, hik);
    ims_hex_encode(sqn, 6, hsqn);
    printf("{\"res\": \"%s\", \"ck\": \"%s\", \"ik\": \"%s\", \"sqn\": \"%s\", \"mac_ok\": %s",
           hres, hck, hik, hsqn, memcmp(mac_a, autn + 8, 8) == 0 ? "true" : "false");
    if (sqn_hex) {
        uint8_t sqn_ms[6], mac_s[8], auts[14];
        const uint8_t amf0[2] = {0, 0};
        if (ims_hex_decode(sqn_hex, sqn_ms, 6))
            return usage();
        if (ims_milenage_f1(k, opc, rand, sqn_ms, amf0, NULL, mac_s))
            return 1;
        for (int i = 0; i < 6; i++)
            auts[i] = sqn_ms[i] ^ ak_star[i];
        memcpy(auts + 6, mac_s, 8);
        char hauts[29];
        ims_hex_encode(auts, 14, hauts);
        printf(", \"auts\": \"%s\"", hauts);
    }
    printf("}\n");
    return 0;
}
