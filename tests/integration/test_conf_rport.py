"""RFC 3581 §4 at the P-CSCF: when the UE's top Via has rport, every response to it carries
both rport=<source port> and received=<source IP>, even when the IP equals sent-by: the
100 Trying, a relayed answer, a local error, and the Via the S-CSCF sees."""

import os
import re
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import conf_util as C  # noqa: E402
import harness as H  # noqa: E402


class ViaReceived(C.PcscfCase):

    def assert_received(self, msg, what):
        via = C.top_via(msg)
        self.assertRegex(via, rf"(^|;)rport={self.ue.port}(;|$)", f"{what}: {msg.text}")
        self.assertRegex(via, r"(^|;)received=127\.0\.0\.1(;|$)", f"{what}: {msg.text}")

    def test_trying_relayed_answer_and_forwarded_via(self):
        self.ue.send(C.request("REGISTER", f"sip:{C.D}", extra=(
            f"Contact: <sip:{C.USER}@127.0.0.1:LPORT>", "Expires: 600")), self.dst)
        trying = self.ue.recv(5, want=lambda m: m.status == 100)
        self.assertIsNotNone(trying, self.pcscf.log())
        self.assert_received(trying, "100 Trying")
        reg = self.sc.recv(5, want=lambda m: m.method == "REGISTER")
        self.assertIsNotNone(reg, self.pcscf.log())
        ue_via = reg.all("via")[-1]
        self.assertRegex(ue_via, r"received=127\.0\.0\.1", reg.text)
        self.assertRegex(ue_via, rf"rport={self.ue.port}", reg.text)
        self.sc.send(reg.reply(401, "Unauthorized - Challenging the UE", extra=(
            f'WWW-Authenticate: Digest realm="{C.D}", nonce="abc", algorithm=MD5, qop="auth"',)),
            reg.peer)
        final = self.ue.recv(5, want=lambda m: m.status >= 200)
        self.assertIsNotNone(final, self.pcscf.log())
        self.assertEqual(final.status, 401, final.text)
        self.assert_received(final, "relayed 401")

    def test_local_error_and_options(self):
        r = self.ue.request(C.request("REGISTER", f"sip:{C.D}", mf=0, extra=(
            f"Contact: <sip:{C.USER}@127.0.0.1:LPORT>",)), self.dst)
        self.assertIsNotNone(r, self.pcscf.log())
        self.assertEqual(r.status, 483, r.text)
        self.assert_received(r, "local 483")
        r = self.ue.request(C.request("OPTIONS", f"sip:pcscf.{C.D}", route=False), self.dst)
        self.assertEqual(r.status, 200, r.text)
        self.assert_received(r, "OPTIONS 200")

    def test_without_rport_the_pcscf_fills_both(self):
        # The P-CSCF answers every UE at the packet's source (NAT help, SPEC §4): it adds
        # rport itself, and with it received.
        text = C.request("OPTIONS", f"sip:pcscf.{C.D}", route=False).replace(";rport;", ";")
        r = self.ue.request(text, self.dst)
        self.assertIsNotNone(r, self.pcscf.log())
        self.assertEqual(r.status, 200, r.text)
        self.assert_received(r, "OPTIONS without rport")


if __name__ == "__main__":
    H.main()
