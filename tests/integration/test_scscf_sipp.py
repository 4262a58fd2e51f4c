"""SIPp scenarios against the real scscf and hss-stub: the exact MicroSIP REGISTER of the
reference capture, an AKAv1 registration with SIPp's own Milenage, and a wrong password."""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402
from scscf_util import sipp_aka  # noqa: E402

D = H.DOMAIN
# SIPp takes K, OP and AMF as raw bytes in the scenario's [authentication aka_K=...]
# keyword (see scscf_aka_register.xml): printable bytes keep that simple.
AKA_K, AKA_OP, AKA_AMF = b"ABCDEFGHIJKLMNOP", b"abcdefghijklmnop", b"AB"


class ScscfSipp(H.unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.hss = H.Hss()
        cls.hss.provision(H.DEMO)
        cls.scscf = H.Scscf(cls.hss.url)
        cls.remote = f"127.0.0.1:{cls.scscf.sip_port}"

    @classmethod
    def tearDownClass(cls):
        rc = cls.scscf.stop()
        cls.hss.stop()
        if rc != 0:
            raise AssertionError(f"scscf exited {rc}:\n{cls.scscf.log()}")

    def run_sipp(self, scenario, extra):
        rc, trace, out = H.sipp(scenario, self.remote, extra=["-auth_uri", D] + extra,
                                timeout=20)
        self.assertEqual(rc, 0, f"{out}\n{trace}\n{self.scscf.log()}")
        return trace

    def test_microsip_reference_register(self):
        trace = self.run_sipp("scscf_microsip_register.xml",
                              ["-au", "432011123456791", "-ap", "1234"])
        self.assertIn('username="432011123456791"', trace)
        # the 200 was reported to the HSS (SAR after the reply)
        deadline = time.time() + 5
        state = None
        while time.time() < deadline and state != "registered":
            st, _, body = H.http("GET", f"{self.hss.url}/api/v1/subscribers/432011123456791")
            self.assertEqual(st, 200)
            state = body.get("registration", {}).get("state")
            time.sleep(0.05)
        self.assertEqual(state, "registered")

    def test_aka_register(self):
        imsi = "432011555000001"
        self.hss.provision({"imsi": imsi, "auth": {"scheme": "aka", "k": AKA_K.hex(),
                                                   "op": AKA_OP.hex(), "amf": AKA_AMF.hex()}})
        rc, trace, out, _ = sipp_aka(
            self, lambda: H.sipp("scscf_aka_register.xml", self.remote, timeout=20,
                                 extra=["-auth_uri", D, "-s", imsi, "-au", f"{imsi}@{D}",
                                        "-ap", "x"]),
            AKA_K.hex(), AKA_OP.hex())
        self.assertEqual(rc, 0, f"{out}\n{trace}\n{self.scscf.log()}")
        st, _, body = H.http("GET", f"{self.scscf.url}/api/v1/registrations/sip:{imsi}@{D}")
        self.assertEqual(st, 200)
        self.assertEqual(body["contacts"][0]["expires_in"] > 500, True)

    def test_wrong_password(self):
        imsi = "432011555000002"
        self.hss.provision({"imsi": imsi, "auth": {"scheme": "digest", "password": "good"}})
        self.run_sipp("scscf_wrong_password.xml", ["-s", imsi, "-au", imsi, "-ap", "bad"])


if __name__ == "__main__":
    H.main()
