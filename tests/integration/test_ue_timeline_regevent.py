"""The timeline and the reg event package together, on the real chain UE -> pcscf ->
scscf -> hss-stub: the SUBSCRIBE the P-CSCF sends after a registration shows in the
S-CSCF's timeline of that UE, and its 200 is not mistaken for a registration."""

import os
import sys
import time
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402
from regevent_util import IMPU, Lab  # noqa: E402


class TimelineRegevent(Lab):
    def pcscf_extra(self):
        return ["--reg-subscribe", "on"]

    def items(self):
        q = urllib.parse.urlencode({"impu": IMPU, "limit": 100})
        st, _, doc = H.http("GET", f"{self.scscf.url}/api/v1/timeline?{q}")
        self.assertEqual(st, 200, doc)
        return doc["items"]

    def test_pcscf_subscribe_in_the_scscf_timeline(self):
        rc, trace, out = self.ue("pcscf_uac_register.xml")
        self.assertEqual(rc, 0, out + trace + self.logs())
        end = time.time() + 10
        while True:
            items = self.items()
            subs = [e for e in items if e.get("method") == "SUBSCRIBE"]
            if any(e["kind"] == "response" for e in subs) or time.time() > end:
                break
            time.sleep(0.2)
        self.assertIn("request", [e["kind"] for e in subs], items)
        answers = [e for e in subs if e["kind"] == "response"]
        self.assertEqual([e.get("status") for e in answers], [200], items)
        self.assertNotIn(answers[0].get("hint_id"), ("registered", "challenged"))
        regs = [e.get("hint_id") for e in items
                if e["kind"] == "response" and e.get("method") == "REGISTER"]
        self.assertEqual(regs, ["challenged", "registered"])


if __name__ == "__main__":
    unittest.main()
