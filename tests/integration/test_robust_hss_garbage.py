"""An HSS answering garbage gets the UE a 500/503 that carries Retry-After, like an
unreachable HSS does (issue "Robustness and security": "HSS killed, slow, or answering
garbage -> 503/500 with Retry-After"). (Regression: the 500 used to lack Retry-After.)"""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402
import robust_util as R  # noqa: E402
from scscf_util import Ue  # noqa: E402


class HssGarbageRetryAfter(unittest.TestCase):
    def test_garbage_answers_carry_retry_after(self):
        fake = R.FakeHss(self, mode="good")
        sc = H.Scscf(fake.url, extra=["--hss-timeout-ms", "1000"])
        self.addCleanup(sc.kill)
        ue = Ue(sc.sip_port)
        self.addCleanup(ue.close)
        for mode in R.GARBAGE:
            if mode == "teapot":
                continue  # a 4xx from the HSS may be an answer (403), not an outage
            fake.mode = mode
            with self.subTest(garbage=mode):
                reply = ue.register(timeout=10)
                R.assert_explained(self, reply, (500, 503), sc.log()[-2000:])
                self.assertRegex(reply.h("retry-after") or "", r"^\d+", reply.text)


if __name__ == "__main__":
    H.main()
