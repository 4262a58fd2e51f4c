"""Methods (RFC 3261 §8.2.1, RFC 6665 §4.2.2): the S-CSCF answers 405 with Allow for a method
it knows but does not handle (never 501), 501 only for a method it has never heard of, 489
for an event package it does not serve, and OPTIONS 200 only when addressed to itself. The
P-CSCF's OPTIONS Allow lists only what the chain handles."""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import conf_util as C  # noqa: E402
import harness as H  # noqa: E402
import robust_util as R  # noqa: E402
from scscf_util import Ue  # noqa: E402

D = H.DOMAIN
KNOWN_NOT_HANDLED = ("INVITE", "BYE", "MESSAGE", "INFO", "UPDATE", "PRACK", "REFER", "PUBLISH",
                     "NOTIFY")


def allow_set(r):
    return {m.strip().upper() for m in (r.h("allow") or "").split(",") if m.strip()}


class ScscfMethods(C.ScscfCase):
    def options_allow(self):
        u = self.ue()
        r = u.register(method="OPTIONS", ruri=f"sip:127.0.0.1:{self.scscf.sip_port}",
                       contact="", expires=None, path=False)
        self.assertEqual(r.status, 200, r.text)
        return allow_set(r)

    def test_known_methods_get_405_with_allow(self):
        allow = self.options_allow()
        self.assertTrue({"REGISTER", "OPTIONS"} <= allow, allow)
        for method in KNOWN_NOT_HANDLED:
            with self.subTest(method=method):
                u = self.ue()
                r = u.register(method=method, ruri=f"sip:{C.MSISDN}@{D}", contact="",
                               expires=None, path=False)
                R.assert_explained(self, r, (405,))
                self.assertEqual(allow_set(r), allow, r.text)
                self.assertNotIn(method, allow_set(r))

    def test_unknown_method_is_501(self):
        u = self.ue()
        r = u.register(method="FROBNICATE", ruri=f"sip:{D}", contact="", expires=None,
                       path=False)
        R.assert_explained(self, r, (501,))

    def test_subscribe_unknown_event_package_is_489(self):
        u = self.ue()
        r = u.register(method="SUBSCRIBE", ruri=f"sip:{C.USER}@{D}", expires=600, path=False,
                       extra=("Event: presence", "Accept: application/pidf+xml"))
        R.assert_explained(self, r, (489,))

    def test_options_only_for_itself(self):
        for ruri in (f"sip:127.0.0.1:{self.scscf.sip_port}", f"sip:scscf.{D}", f"sip:{D}"):
            with self.subTest(ruri=ruri):
                r = self.ue().register(method="OPTIONS", ruri=ruri, contact="", expires=None,
                                       path=False)
                self.assertEqual(r.status, 200, r.text)
                self.assertIn("REGISTER", allow_set(r))
        for ruri in (f"sip:{C.MSISDN}@{D}", "sip:somewhere.example.net",
                     f"sip:{C.USER}@127.0.0.1:{self.scscf.sip_port}"):
            with self.subTest(ruri=ruri):
                r = self.ue().register(method="OPTIONS", ruri=ruri, contact="", expires=None,
                                       path=False)
                R.assert_explained(self, r, (404,))


class PcscfOptions(unittest.TestCase):
    def test_allow_lists_only_what_the_chain_handles(self):
        hss = H.Hss()
        self.addCleanup(hss.kill)
        s = H.Scscf(hss.url)
        self.addCleanup(s.kill)
        p = H.Pcscf(f"sip:127.0.0.1:{s.sip_port}")
        self.addCleanup(p.kill)
        ue = C.Peer(self)
        r = ue.request(C.request("OPTIONS", f"sip:pcscf.{D}", route=False),
                       ("127.0.0.1", p.sip_port))
        self.assertEqual(r.status, 200, r.text)
        allow = {m.strip() for m in r.h("allow").split(",")}
        self.assertTrue({"REGISTER", "OPTIONS"} <= allow, allow)
        for m in ("INVITE", "MESSAGE", "BYE", "UPDATE", "PRACK", "INFO", "REFER"):
            self.assertNotIn(m, allow)
        # Everything the P-CSCF allows, the S-CSCF handles (not 405/501).
        u = Ue(s.sip_port)
        self.addCleanup(u.close)
        sr = u.register(method="OPTIONS", ruri=f"sip:127.0.0.1:{s.sip_port}", contact="",
                        expires=None, path=False)
        self.assertTrue(allow <= allow_set(sr) | {"ACK", "CANCEL", "NOTIFY"}, (allow, sr.text))


if __name__ == "__main__":
    H.main()
