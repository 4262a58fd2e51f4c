"""Explained errors (SPEC §4): a 401 that re-challenges because the credentials were unusable
says which way in a Warning; requests the SIP stack itself rejects still get an answer (the
ones it answers before any application code runs are listed in docs/troubleshooting.md); a
request with a bad header is answered 400 naming the header; and a UE's answer with a bad
non-critical header still reaches the S-CSCF instead of being dropped by the stack."""

import os
import sys
import unittest
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import conf_util as C  # noqa: E402
import harness as H  # noqa: E402
import robust_util as R  # noqa: E402
from scscf_util import auth_header, digest_response  # noqa: E402

D = H.DOMAIN


class Rechallenge(C.ScscfCase):
    def assert_rechallenge(self, r, words):
        self.assertEqual(r.status, 401, r.text)
        self.assertIsNotNone(r.h("www-authenticate"), r.text)
        w = (r.h("warning") or "").lower()
        self.assertRegex(w, r'^399 \S+ ".+"', r.text)
        self.assertTrue(any(x in w for x in words), f"Warning does not say {words}: {w}")

    def test_unknown_nonce(self):
        u = self.ue()
        nonce = "0123456789abcdef0123456789abcdef"
        r = u.register(auth=auth_header(u.user, nonce, digest_response(u.user, "1234", nonce)))
        self.assert_rechallenge(r, ("nonce",))

    def test_wrong_realm(self):
        u = self.ue()
        c = u.register()
        nonce = c.param("www-authenticate", "nonce")
        realm = "other.example.net"
        resp = digest_response(u.user, "1234", nonce, realm=realm)
        r = u.register(auth=auth_header(u.user, nonce, resp, realm=realm))
        self.assert_rechallenge(r, ("realm",))

    def test_replayed_nc(self):
        u = self.ue()
        c, ok = u.register_digest()
        self.assertEqual(ok.status, 200, ok.text)
        nonce = c.param("www-authenticate", "nonce")
        r = u.register(auth=auth_header(u.user, nonce, digest_response(u.user, "1234", nonce)))
        self.assert_rechallenge(r, ("nc", "replay", "reused"))

    def test_bad_header_named(self):
        u = self.ue()
        r = u.register(extra=("Expires: soon",), expires=None)
        R.assert_explained(self, r, (400,))
        self.assertIn("Expires", r.reason + (r.h("warning") or ""))


def raw(call_id=True, cseq="1 REGISTER", version="SIP/2.0", via=True):
    lines = [f"REGISTER sip:{D} {version}"]
    if via:
        lines.append(f"Via: SIP/2.0/UDP 127.0.0.1:LPORT;rport;branch=z9hG4bK{uuid.uuid4().hex}")
    lines += ["Max-Forwards: 70", f"From: <{C.IMPU}>;tag=a1", f"To: <{C.IMPU}>"]
    if call_id:
        lines.append(f"Call-ID: {uuid.uuid4().hex}")
    lines += [f"CSeq: {cseq}", f"Contact: <sip:{C.USER}@127.0.0.1:LPORT>"]
    return "\r\n".join(lines) + "\r\nContent-Length: 0\r\n\r\n"


class StackRejects(unittest.TestCase):
    """What nta answers before our code runs: always an answer when there is a Via to send it
    to, and the daemon keeps serving."""

    def test_both_daemons_answer_what_the_stack_rejects(self):
        ch = R.Chain(self)
        for d in (ch.pcscf, ch.scscf):
            peer = C.Peer(self)
            dst = ("127.0.0.1", d.sip_port)
            for name, text, status in (("no Call-ID", raw(call_id=False), 400),
                                       ("bad CSeq", raw(cseq="one REGISTER"), 400),
                                       ("CSeq method", raw(cseq="1 INVITE"), 400),
                                       ("version", raw(version="SIP/3.0"), 505)):
                with self.subTest(daemon=d.name, case=name):
                    r = peer.request(text, dst, timeout=3)
                    self.assertIsNotNone(r, f"no answer to {name}\n{d.log()[-2000:]}")
                    self.assertEqual(r.status, status, r.text)
                    self.assertTrue(r.reason, r.text)
            peer.send(raw(via=False), dst)  # nowhere to answer: dropped, no crash
            self.assertTrue(d.alive())
        ue = R.pcscf_ue(self, ch.pcscf.sip_port)
        _, r = R.register(ue)
        self.assertEqual(r.status, 200, r.text)


class UeAnswerWithBadHeader(unittest.TestCase):
    # Out of reach: Sofia 1.12.11's nta drops an answer with any unparsable header before
    # the P-CSCF sees it, whatever NTATAG_BAD_RESP_MASK says (tried: 0, sip_mask_response,
    # an unused bit). Kept to notice when a Sofia update makes it pass; the limit is in
    # docs/troubleshooting.md.
    @unittest.expectedFailure
    def test_relayed_not_dropped(self):
        sc = C.StandinScscf(self)
        p = H.Pcscf(sc.uri(), extra=["--timeout-ms", "3000"])
        self.addCleanup(p.stop)
        ue = C.Peer(self)
        C.register_via_pcscf(self, p, sc, ue)
        text = (f"MESSAGE sip:{C.USER}@127.0.0.1:{ue.port} SIP/2.0\r\n"
                f"Via: SIP/2.0/UDP 127.0.0.1:{sc.port};branch=z9hG4bK{uuid.uuid4().hex}\r\n"
                f"Route: <sip:term@pcscf.{D};lr>\r\nMax-Forwards: 69\r\n"
                f"From: <sip:caller@{D}>;tag=abc\r\nTo: <{C.ASSOC[0]}>\r\n"
                f"Call-ID: {uuid.uuid4().hex}\r\nCSeq: 3 MESSAGE\r\nContent-Length: 0\r\n\r\n")
        sc.send(text, ("127.0.0.1", p.sip_port))
        got = ue.recv(5, want=lambda m: m.method == "MESSAGE")
        self.assertIsNotNone(got, p.log())
        ue.send(got.reply(200, "OK", extra=("Expires: whenever", "Contact: <<<garbage")),
                ("127.0.0.1", p.sip_port))
        r = sc.recv(2.5, want=lambda m: m.status >= 200)
        self.assertIsNotNone(r, f"the UE's 200 was dropped\n{p.log()}")
        self.assertEqual(r.status, 200, r.text)


if __name__ == "__main__":
    H.main()
