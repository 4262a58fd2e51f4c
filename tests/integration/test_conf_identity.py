"""P-Asserted-Identity at the P-CSCF (TS 24.229 §5.2.6.3.3, SPEC §4): on a request from a
registered UE it asserts the P-Preferred-Identity when that is in the UE's P-Associated-URI,
otherwise the first P-Associated-URI entry — never the barred IMSI-based IMPU the UE
registered with, and never an identity the UE merely claims."""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import conf_util as C  # noqa: E402
import harness as H  # noqa: E402

D = H.DOMAIN


class AssertedIdentity(C.PcscfCase):
    REGISTERED = True

    def message(self, extra=()):
        """A MESSAGE from the UE; returns the P-Asserted-Identity values the S-CSCF got."""
        self.ue.send(C.request("MESSAGE", f"sip:someone@{D}", extra=extra), self.dst)
        got = self.sc.recv(5, want=lambda m: m.method == "MESSAGE")
        self.assertIsNotNone(got, self.pcscf.log())
        self.sc.send(got.reply(200, "OK"), got.peer)
        r = self.ue.recv(5, want=lambda m: m.status >= 200)
        self.assertEqual(r.status, 200, r.text)
        self.assertEqual(got.all("p-preferred-identity"), [], got.text)
        return got.all("p-asserted-identity")

    def test_without_preference_the_first_associated_uri(self):
        self.assertEqual(self.message(), [f"<{C.ASSOC[0]}>"])

    def test_preferred_identity_in_the_set_is_asserted(self):
        self.assertEqual(self.message((f"P-Preferred-Identity: <{C.ASSOC[1]}>",)),
                         [f"<{C.ASSOC[1]}>"])
        self.assertEqual(self.message((f'P-Preferred-Identity: "Bob" <{C.ASSOC[0]}>',)),
                         [f"<{C.ASSOC[0]}>"])

    def test_preferred_identity_outside_the_set_is_ignored(self):
        for ppi in (f"<{C.IMPU}>", f"<sip:999@{D}>", "<tel:+15555550100>"):
            with self.subTest(ppi=ppi):
                self.assertEqual(self.message((f"P-Preferred-Identity: {ppi}",)),
                                 [f"<{C.ASSOC[0]}>"])

    def test_ue_supplied_asserted_identity_is_replaced(self):
        pai = self.message((f"P-Asserted-Identity: <sip:999@{D}>",))
        self.assertEqual(len(pai), 1, pai)
        self.assertNotEqual(pai, [f"<sip:999@{D}>"])


if __name__ == "__main__":
    H.main()
