"""IMS AKA through the real scscf and hss-stub: AKAv1-MD5, AKAv2-MD5, a wrong RES, and SQN
resynchronisation with AUTS. The UE side is a raw UDP client plus hss-aka-tool
(Milenage from ims_common), because SIPp can do neither AKAv2 nor resync."""

import base64
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402
from scscf_util import D, Ue, aka_password, aka_ue, auth_header, digest_response  # noqa: E402

K = "465b5ce8b199b49faa5f0a2ee238a6bc"
OPC = "cd63cb71954a9f4e48a5994e37a02baf"  # TS 35.208 test set 1


class ScscfAka(H.unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.hss = H.Hss()
        cls.scscf = H.Scscf(cls.hss.url)
        cls.n = 0

    @classmethod
    def tearDownClass(cls):
        rc = cls.scscf.stop()
        cls.hss.stop()
        if rc != 0:
            raise AssertionError(f"scscf exited {rc}:\n{cls.scscf.log()}")

    def sub(self, algorithm="AKAv1-MD5", sqn="000000000020"):
        ScscfAka.n += 1
        imsi = f"4320110000{ScscfAka.n:05d}"
        self.hss.provision({"imsi": imsi, "auth": {"scheme": "aka", "k": K, "opc": OPC,
                                                   "amf": "8000", "sqn": sqn,
                                                   "algorithm": algorithm}})
        ue = Ue(self.scscf.sip_port, imsi)
        self.addCleanup(ue.close)
        return imsi, f"{imsi}@{D}", ue

    def challenge(self, ue, algorithm):
        c = ue.register()
        self.assertEqual(c.status, 401, c.text)
        www = c.h("www-authenticate")
        self.assertIn(f"algorithm={algorithm}", www)
        self.assertIn('qop="auth"', www)
        nonce = c.param("www-authenticate", "nonce")
        self.assertEqual(len(base64.b64decode(nonce)), 32)
        return nonce

    def answer(self, ue, impi, nonce, password, algorithm):
        resp = digest_response(impi, password, nonce)
        return ue.register(auth=auth_header(impi, nonce, resp, algorithm=algorithm))

    def run_version(self, version):
        alg = f"AKAv{version}-MD5"
        imsi, impi, ue = self.sub(alg)
        nonce = self.challenge(ue, alg)
        v = aka_ue(K, OPC, nonce)
        self.assertTrue(v["mac_ok"], "MAC-A in AUTN must verify at the UE")
        ok = self.answer(ue, impi, nonce, aka_password(version, v["res"], v["ik"], v["ck"]), alg)
        self.assertEqual(ok.status, 200, ok.text)
        self.assertIn(f"<sip:{imsi}@{D}>", ok.h("p-associated-uri"))
        # secrets never reach the log
        log = self.scscf.log()
        for secret in (v["res"], v["ck"], v["ik"], K, OPC):
            self.assertNotIn(secret, log)

    def test_akav1(self):
        self.run_version(1)

    def test_akav2(self):
        self.run_version(2)

    def test_ck_ik_only_toward_a_pcscf(self):
        """TS 24.229 5.4.1.2: with a Path (the REGISTER came through a P-CSCF) the 401
        carries ck/ik for the P-CSCF; a UE talking to the S-CSCF directly never gets them.
        Neither is ever logged."""
        imsi, impi, ue = self.sub()
        c = ue.register(path=True)
        self.assertEqual(c.status, 401, c.text)
        nonce = c.param("www-authenticate", "nonce")
        v = aka_ue(K, OPC, nonce)
        self.assertEqual(c.param("www-authenticate", "ck"), v["ck"], c.text)
        self.assertEqual(c.param("www-authenticate", "ik"), v["ik"], c.text)
        direct = ue.register(path=False)
        self.assertEqual(direct.status, 401, direct.text)
        self.assertNotRegex(direct.h("www-authenticate"), r"(?i)\b(ck|ik)=", direct.text)
        v2 = aka_ue(K, OPC, direct.param("www-authenticate", "nonce"))
        log = self.scscf.log().lower()
        for secret in (v["ck"], v["ik"], v2["ck"], v2["ik"]):
            self.assertNotIn(secret.lower(), log)
            self.assertNotIn(secret.lower(), direct.text.lower())

    def test_akav1_wrong_res(self):
        imsi, impi, ue = self.sub()
        nonce = self.challenge(ue, "AKAv1-MD5")
        r = self.answer(ue, impi, nonce, b"\x00" * 8, "AKAv1-MD5")
        self.assertEqual(r.status, 403, r.text)
        self.assertEqual(r.reason, "Forbidden - Authentication Failed")
        self.assertTrue(r.h("warning"))

    def test_resync(self):
        imsi, impi, ue = self.sub()
        nonce = self.challenge(ue, "AKAv1-MD5")
        sqn_ms = "000000010000"  # the USIM is ahead of the HSS
        v = aka_ue(K, OPC, nonce, sqn_ms=sqn_ms)
        auts = base64.b64encode(bytes.fromhex(v["auts"])).decode()
        r = ue.register(auth=auth_header(impi, nonce, "", algorithm="AKAv1-MD5",
                                         extra=f', auts="{auts}"'))
        self.assertEqual(r.status, 401, r.text)
        nonce2 = r.param("www-authenticate", "nonce")
        self.assertNotEqual(nonce2, nonce)
        v2 = aka_ue(K, OPC, nonce2)
        self.assertTrue(v2["mac_ok"])
        self.assertGreater(int(v2["sqn"], 16), int(sqn_ms, 16))
        ok = self.answer(ue, impi, nonce2, aka_password(1, v2["res"], v2["ik"], v2["ck"]),
                         "AKAv1-MD5")
        self.assertEqual(ok.status, 200, ok.text)

    def test_resync_bad_auts(self):
        imsi, impi, ue = self.sub()
        nonce = self.challenge(ue, "AKAv1-MD5")
        auts = base64.b64encode(b"\x01" * 14).decode()
        r = ue.register(auth=auth_header(impi, nonce, "", algorithm="AKAv1-MD5",
                                         extra=f', auts="{auts}"'))
        self.assertEqual(r.status, 403, r.text)
        self.assertEqual(r.reason, "Forbidden - Resynchronisation Failed")


if __name__ == "__main__":
    H.main()
