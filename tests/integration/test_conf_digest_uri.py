"""Digest `uri` against the Request-URI (RFC 2617 §3.2.2.5, RFC 7616 §3.4.6): credentials
computed over another resource are refused with their own 403 reason, even when the hash
itself is right; the same URI written differently (case of the host, default port,
parameters) is the same resource."""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import conf_util as C  # noqa: E402
import harness as H  # noqa: E402
import robust_util as R  # noqa: E402
from scscf_util import auth_header, digest_response  # noqa: E402

D = H.DOMAIN


class DigestUri(C.ScscfCase):
    def answer(self, uri):
        ue = self.ue()
        c = ue.register()
        self.assertEqual(c.status, 401, c.text)
        nonce = c.param("www-authenticate", "nonce")
        resp = digest_response(ue.user, "1234", nonce, uri=uri)
        return ue.register(auth=auth_header(ue.user, nonce, resp, uri=uri))

    def test_other_resource_is_403_with_its_own_reason(self):
        for uri in ("sip:other.example.net", f"sip:{H.DEMO['imsi']}@{D}", "sip:127.0.0.1:5060",
                    "tel:+15555550100"):
            with self.subTest(uri=uri):
                r = self.answer(uri)
                R.assert_explained(self, r, (403,))
                self.assertEqual(r.reason, "Forbidden - Digest URI Mismatch", r.text)
                self.assertIn("uri", r.h("warning"))
        st, _, body = H.http("GET", self.scscf.url + "/api/v1/registrations")
        self.assertEqual(body["total"], 0, body)

    def test_same_resource_written_differently_is_accepted(self):
        for uri in (f"sip:{D}", f"sip:{D.upper()}", f"sip:{D}:5060", f"sip:{D};transport=udp"):
            with self.subTest(uri=uri):
                r = self.answer(uri)
                self.assertEqual(r.status, 200, r.text)


if __name__ == "__main__":
    H.main()
