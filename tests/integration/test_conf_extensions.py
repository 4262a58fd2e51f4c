"""Option tags (RFC 3261 §8.2.2.3, §16.3): an option tag we do not support in Proxy-Require
(P-CSCF) or Require (S-CSCF) gets 420 Bad Extension with Unsupported listing exactly the
unsupported ones, and nothing is registered. `path` and `sec-agree` are supported at the
P-CSCF (with --sec-agree off the latter is ignored and stripped before the S-CSCF sees it);
the S-CSCF, which does no IPsec, refuses `sec-agree` in Require."""

import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402
import robust_util as R  # noqa: E402
from scscf_util import Ue, auth_header, digest_response  # noqa: E402

D = H.DOMAIN
SEC_CLIENT = ("Security-Client: ipsec-3gpp;alg=hmac-sha-1-96;ealg=null;spi-c=1111;spi-s=2222;"
              "port-c=5062;port-s=5064")


def tags(value):
    return sorted(t.strip() for t in (value or "").split(",") if t.strip())


class Extensions(unittest.TestCase):
    def chain(self, pcscf_extra=None):
        self.ch = R.Chain(self, pcscf_extra=pcscf_extra)
        return self.ch

    def registrations(self, daemon):
        st, _, body = H.http("GET", daemon.url + "/api/v1/registrations")
        self.assertEqual(st, 200, body)
        return body["total"]

    def second_leg(self, ue, extra):
        """First REGISTER plain (gets the nonce), the answer with credentials carries extra."""
        first = R.send(ue, ue.build(path=False, extra=(R.ROUTE,)))
        self.assertEqual(first.status, 401, first.text)
        nonce = first.param("www-authenticate", "nonce")
        auth = auth_header(ue.user, nonce, digest_response(ue.user, "1234", nonce))
        return R.send(ue, ue.build(path=False, auth=auth, extra=(R.ROUTE,) + tuple(extra)))

    def assert_420(self, r, unsupported):
        R.assert_explained(self, r, (420,))
        self.assertEqual(tags(r.h("unsupported")), sorted(unsupported), r.text)

    def test_pcscf_proxy_require_unknown_tag(self):
        ch = self.chain()
        ue = R.pcscf_ue(self, ch.pcscf.sip_port)
        r = self.second_leg(ue, ("Proxy-Require: path, foo, 100rel-x",))
        self.assert_420(r, ["100rel-x", "foo"])
        self.assertEqual(self.registrations(ch.pcscf), 0)
        self.assertEqual(self.registrations(ch.scscf), 0)

    def test_pcscf_proxy_require_path_is_supported(self):
        ch = self.chain()
        ue = R.pcscf_ue(self, ch.pcscf.sip_port)
        r = self.second_leg(ue, ("Proxy-Require: path", "Require: path"))
        self.assertEqual(r.status, 200, f"{r.text}\n{ch.logs()}")

    def test_pcscf_sec_agree_is_supported(self):
        # IPsec exists now (SPEC §6), so sec-agree is an option tag the P-CSCF supports in
        # every mode: never a 420 for it. A digest UE that asks for it registers
        # unprotected (ipsec_sip.c says so in a Warning; test_ipsec_register covers AKA).
        for extra in ([], ["--sec-agree", "required"]):
            with self.subTest(extra=extra):
                ch = self.chain(pcscf_extra=extra)
                ue = R.pcscf_ue(self, ch.pcscf.sip_port)
                r = self.second_leg(ue, ("Proxy-Require: sec-agree", "Require: sec-agree",
                                         SEC_CLIENT))
                self.assertNotEqual(r.status, 420, r.text)
                self.assertEqual(r.status, 200, f"{r.text}\n{ch.logs()}")
                self.assertEqual(self.registrations(ch.scscf), 1)

    def test_pcscf_sec_agree_off_ignores_and_strips_it(self):
        ch = self.chain(pcscf_extra=["--sec-agree", "off"])
        ue = R.pcscf_ue(self, ch.pcscf.sip_port)
        r = self.second_leg(ue, ("Proxy-Require: sec-agree", "Require: sec-agree", SEC_CLIENT))
        self.assertEqual(r.status, 200, f"{r.text}\n{ch.logs()}")
        self.assertEqual(self.registrations(ch.scscf), 1)

    def test_pcscf_bad_sec_agree_value_is_a_startup_error(self):
        argv = [H.bin_path("pcscf"), "--sip", f"127.0.0.1:{H.free_port()}",
                "--http", f"127.0.0.1:{H.free_port(both=False)}", "--state", ":memory:",
                "--sec-agree", "maybe"]
        p = subprocess.run(argv, capture_output=True, timeout=20)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn(b"off, optional or required", p.stderr)

    def test_scscf_require_unknown_tag(self):
        hss = H.Hss()
        self.addCleanup(hss.kill)
        hss.provision(H.DEMO)
        s = H.Scscf(hss.url)
        self.addCleanup(s.kill)
        ue = Ue(s.sip_port)
        self.addCleanup(ue.close)
        r = ue.register(extra=("Require: foo, path",))
        self.assert_420(r, ["foo"])
        r = ue.register(extra=("Require: sec-agree",))
        self.assert_420(r, ["sec-agree"])
        # With valid credentials too: refused, nothing stored.
        c = ue.register()
        nonce = c.param("www-authenticate", "nonce")
        auth = auth_header(ue.user, nonce, digest_response(ue.user, "1234", nonce))
        r = ue.register(auth=auth, extra=("Require: foo",))
        self.assert_420(r, ["foo"])
        self.assertEqual(self.registrations(s), 0)
        # Proxy-Require is for proxies: the registrar ignores it; Require: path is fine.
        _, ok = ue.register_digest(extra=("Require: path", "Proxy-Require: foo"))
        self.assertEqual(ok.status, 200, ok.text)


if __name__ == "__main__":
    H.main()
