/* 3GPP Milenage (TS 35.206) over AES-128 from OpenSSL: f1, f1*, f2, f3, f4, f5, f5*
 * and OPc derivation. All buffers are raw bytes. Functions return 0 or EIO. */
#ifndef IMS_MILENAGE_H
#define IMS_MILENAGE_H

#include <stdint.h>

/* OPc = AES_K(OP) xor OP */
int ims_milenage_opc(const uint8_t k[16], const uint8_t op[16], uint8_t opc[16]);
/* f1 -> MAC-A (network authentication), f1* -> MAC-S (resynchronisation). */
int ims_milenage_f1(const uint8_t k[16], const uint8_t opc[16], const uint8_t rand[16],
                    const uint8_t sqn[6], const uint8_t amf[2], uint8_t mac_a[8], uint8_t mac_s[8]);
/* f2 -> RES, f3 -> CK, f4 -> IK, f5 -> AK, f5* -> AK* (any output may be NULL). */
int ims_milenage_f2345(const uint8_t k[16], const uint8_t opc[16], const uint8_t rand[16],
                       uint8_t res[8], uint8_t ck[16], uint8_t ik[16], uint8_t ak[6],
                       uint8_t ak_star[6]);
/* Everything from one RAND with a single AES key setup (what a vector generator wants):
 * f1/f1* need sqn and amf when mac_a or mac_s is wanted; any output may be NULL. */
int ims_milenage_all(const uint8_t k[16], const uint8_t opc[16], const uint8_t rand[16],
                     const uint8_t sqn[6], const uint8_t amf[2], uint8_t mac_a[8], uint8_t mac_s[8],
                     uint8_t res[8], uint8_t ck[16], uint8_t ik[16], uint8_t ak[6],
                     uint8_t ak_star[6]);

#endif
