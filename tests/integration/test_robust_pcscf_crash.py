"""One unauthenticated datagram must not kill the P-CSCF: a request with a singleton header
twice gets a 400 (with Warning where our code answers). (Regression: Sofia lists the
duplicate, with its own header class, on sip->sip_error; pcscf/proxy.c read every entry as a
msg_error_t and strcasecmp()'d er_name, really the duplicate's first field: SEGV at 0x46 =
70, the Max-Forwards value.) Also runs the REGISTER mutator of test_robust_sipfuzz.py through
the P-CSCF, which found it."""

import os
import random
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402
import robust_util as R  # noqa: E402
import test_robust_sipfuzz as F  # noqa: E402
from scscf_util import Ue  # noqa: E402

DUPLICATES = ["Max-Forwards: 70", "Expires: 300", "Content-Length: 0", "CSeq: 7 REGISTER",
              "Call-ID: dup-call-id", "To: <sip:other@x>", "From: <sip:other@x>;tag=2"]


class PcscfDuplicateHeaders(unittest.TestCase):
    def test_duplicate_singleton_headers(self):
        for dup in DUPLICATES:
            with self.subTest(duplicate=dup):
                pc = H.Pcscf("sip:127.0.0.1:9")
                self.addCleanup(pc.kill)
                ue = Ue(pc.sip_port)
                self.addCleanup(ue.close)
                text = ue.build(path=False, extra=(R.ROUTE, dup))
                try:
                    reply = R.send(ue, text, timeout=5)
                except TimeoutError:
                    reply = None
                time.sleep(0.2)
                self.assertTrue(pc.alive(), f"P-CSCF died on a duplicate '{dup}':\n"
                                f"{pc.log()[-3000:]}")
                self.assertIsNotNone(reply, f"no answer to a duplicate '{dup}'")
                if dup.startswith("Content-Length"):
                    # Sofia's nta answers this one itself (no Warning), as at the S-CSCF.
                    self.assertEqual(reply.status, 400, reply.text)
                else:
                    R.assert_explained(self, reply, (400,), pc.log()[-2000:])


class PcscfSipFuzz(unittest.TestCase):
    def test_mutated_registers_through_pcscf(self):
        ch = R.Chain(self, scscf_extra=["--hss-timeout-ms", "10000"],
                     pcscf_extra=["--timeout-ms", "15000"])
        fz = F.Fuzzer(self, ch.pcscf.sip_port, True)
        fz.run(random.Random(F.SEED + 1), F.ROUNDS, "pcscf")
        self.assertTrue(ch.pcscf.alive(), ch.pcscf.log()[-4000:])
        ue = R.pcscf_ue(self, ch.pcscf.sip_port)
        _, r = R.register(ue)
        self.assertEqual(r.status, 200, r.text + ch.logs())
        self.assertEqual(ch.pcscf.stop(), 0, ch.pcscf.log()[-4000:])


if __name__ == "__main__":
    H.main()
