/* hss-aka-tool: the UE side of Milenage AKA for lab work and tests — check an AUTN and
 * print RES/CK/IK, build an AUTS for resynchronisation, or turn OP into OPc. */
#include <stdio.h>
#include <string.h>

#include "ims/aka.h"
#include "ims/milenage.h"
#include "ims/util.h"

static int usage(void)
{
    fprintf(stderr, "usage: hss-aka-tool check K OPC RAND AUTN   (prints JSON: sqn res ck ik)\n"
                    "       hss-aka-tool auts K OPC RAND SQN_MS [AMF]  (prints AUTS, 28 hex)\n"
                    "       hss-aka-tool opc K OP                (prints OPc)\n"
                    "All values are hex: K/OP/OPC/RAND/AUTN 32 digits, SQN_MS 12 digits, AMF 4\n"
                    "(default 0000, the dummy AMF of TS 33.102 resynchronisation).\n");
    return 2;
}

static int hex_arg(const char *name, const char *text, uint8_t *out, size_t len)
{
    if (strlen(text) != 2 * len || ims_hex_decode(text, out, len) != 0) {
        fprintf(stderr, "hss-aka-tool: %s must be %zu hex digits\n", name, 2 * len);
        return 1;
    }
    return 0;
}

static int check(char **a)
{
    uint8_t k[16], opc[16], rand[16], autn[16], res[8], ck[16], ik[16], ak[6], sqn[6], mac[8];
    if (hex_arg("K", a[0], k, 16) || hex_arg("OPC", a[1], opc, 16) ||
        hex_arg("RAND", a[2], rand, 16) || hex_arg("AUTN", a[3], autn, 16))
        return 2;
    if (ims_milenage_f2345(k, opc, rand, res, ck, ik, ak, NULL) != 0)
        return 1;
    for (int i = 0; i < 6; i++)
        sqn[i] = autn[i] ^ ak[i];
    if (ims_milenage_f1(k, opc, rand, sqn, autn + 6, mac, NULL) != 0)
        return 1;
    if (memcmp(mac, autn + 8, 8) != 0) {
        fprintf(stderr, "hss-aka-tool: MAC-A in AUTN does not match (wrong K/OPc?)\n");
        return 1;
    }
    char hs[13], hr[17], hc[33], hi[33];
    ims_hex_encode(sqn, 6, hs);
    ims_hex_encode(res, 8, hr);
    ims_hex_encode(ck, 16, hc);
    ims_hex_encode(ik, 16, hi);
    printf("{\"sqn\": \"%s\", \"res\": \"%s\", \"ck\": \"%s\", \"ik\": \"%s\"}\n", hs, hr, hc, hi);
    return 0;
}

static int auts(char **a, const char *amf_hex)
{
    uint8_t k[16], opc[16], rand[16], sqn[6], ak_star[6], mac_s[8], out[14];
    uint8_t amf0[2] = {0, 0}; /* TS 33.102 §6.3.3: AMF* is all zero */
    if (hex_arg("K", a[0], k, 16) || hex_arg("OPC", a[1], opc, 16) ||
        hex_arg("RAND", a[2], rand, 16) || hex_arg("SQN_MS", a[3], sqn, 6) ||
        (amf_hex && hex_arg("AMF", amf_hex, amf0, 2)))
        return 2;
    if (ims_milenage_f2345(k, opc, rand, NULL, NULL, NULL, NULL, ak_star) != 0 ||
        ims_milenage_f1(k, opc, rand, sqn, amf0, NULL, mac_s) != 0)
        return 1;
    for (int i = 0; i < 6; i++)
        out[i] = sqn[i] ^ ak_star[i];
    memcpy(out + 6, mac_s, 8);
    char h[29];
    ims_hex_encode(out, 14, h);
    printf("%s\n", h);
    return 0;
}

static int opc(char **a)
{
    uint8_t k[16], op[16], o[16];
    if (hex_arg("K", a[0], k, 16) || hex_arg("OP", a[1], op, 16))
        return 2;
    if (ims_milenage_opc(k, op, o) != 0)
        return 1;
    char h[33];
    ims_hex_encode(o, 16, h);
    printf("%s\n", h);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 6 && strcmp(argv[1], "check") == 0)
        return check(argv + 2);
    /* An explicit AMF reproduces the f1* of the TS 35.208 test sets. */
    if ((argc == 6 || argc == 7) && strcmp(argv[1], "auts") == 0)
        return auts(argv + 2, argc == 7 ? argv[6] : NULL);
    if (argc == 4 && strcmp(argv[1], "opc") == 0)
        return opc(argv + 2);
    return usage();
}
