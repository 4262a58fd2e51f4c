"""scripts/lab fault|timeline|pcap against real daemons: the commands of the
docs/testing-ues.md cookbook arm, list and disarm rules, print the timeline with its
hints, and write a pcap that tshark reads."""

import os
import shutil
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402
from scscf_util import Ue  # noqa: E402

LAB = os.path.join(H.SRC_DIR, "scripts", "lab")
USER = "432011123456791"


class LabUeControls(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.hss = H.Hss()
        cls.hss.provision(H.DEMO)
        cls.scscf = H.Scscf(cls.hss.url)
        cls.pcscf = H.Pcscf(f"sip:127.0.0.1:{cls.scscf.sip_port}")

    @classmethod
    def tearDownClass(cls):
        for d in (cls.pcscf, cls.scscf, cls.hss):
            d.stop()

    def lab(self, *args, pcscf=False, ok=True):
        url = self.pcscf.url if pcscf else self.scscf.url
        p = subprocess.run([sys.executable, LAB, *args, "--url", url], capture_output=True,
                           text=True, timeout=30)
        if ok:
            self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        return p

    def test_fault_cycle_and_timeline(self):
        out = self.lab("fault", "add", "--imsi", USER, "--stage", "initial", "--reply", "503",
                       "--reason", "Service Unavailable", "--retry-after", "30").stdout
        self.assertRegex(out, r"rule \d+ armed: fault rule \d+: reply 503 Service Unavailable")
        self.assertIn("reply 503", self.lab("fault", "list").stdout)
        ue = Ue(self.scscf.sip_port, USER)
        self.addCleanup(ue.close)
        r = ue.register()
        self.assertEqual((r.status, r.h("retry-after")), (503, "30"), r.text)
        self.assertIn("no fault rules armed", self.lab("fault", "list").stdout)  # count 1
        out = self.lab("timeline", USER).stdout
        self.assertIn("503 Service Unavailable (REGISTER)", out)
        self.assertIn("why: a fault-injection rule fired", out)
        # a refused rule: the API's sentence, non-zero exit
        p = self.lab("fault", "add", "--pcscf", "--reply", "500", pcscf=True, ok=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("transport faults only", p.stderr)
        self.lab("fault", "add", "--drop", "--answer", "--imsi", USER, pcscf=True)
        self.assertIn("disarmed every rule", self.lab("fault", "del", "all", pcscf=True).stdout)
        self.assertIn("no fault rules armed", self.lab("fault", "list", pcscf=True).stdout)

    def test_pcap(self):
        if shutil.which("tshark") is None:
            self.skipTest("tshark is not installed")
        ue = Ue(self.scscf.sip_port, USER)
        self.addCleanup(ue.close)
        self.assertEqual(ue.register().status, 401)
        path = os.path.join(H.tmpdir("ims-lab-pcap-"), "ue.pcap")
        self.assertIn("wrote", self.lab("pcap", USER, "-o", path).stdout)
        p = subprocess.run(["tshark", "-r", path, "-Y", "sip"], capture_output=True, text=True,
                           timeout=60)
        self.assertIn("Request: REGISTER", p.stdout)
        self.assertIn("Status: 401", p.stdout)


if __name__ == "__main__":
    H.main()
