"""A subscriber whose IMSI equals its MSISDN gets a clean implicit set (no duplicate
sip:X@domain) or a clear 400 — never '500 storage_error'. (Regression found by
tests/fuzz/fuzz_hss_json.c: POST used to fail with UNIQUE constraint failed: impus.uri.)"""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402

SUB = {"imsi": "98098765432100", "msisdn": "98098765432100",
       "auth": {"scheme": "digest", "password": "1234"}}


class ImsiEqualsMsisdn(unittest.TestCase):
    def test_no_500_and_no_duplicate_impus(self):
        hss = H.Hss()
        self.addCleanup(hss.kill)
        st, _, body = H.http("POST", hss.url + "/api/v1/subscribers", SUB)
        self.assertIn(st, (201, 400), body)
        if st == 400:
            self.assertIn("error", body)
            st, _, _ = H.http("GET", hss.url + "/api/v1/subscribers/" + SUB["imsi"])
            self.assertEqual(st, 404)
            return
        uris = [i["uri"] for i in body["impus"]]
        self.assertEqual(len(uris), len(set(uris)), body)
        # The stored document must survive its own round trip (GET -> PUT).
        st, _, got = H.http("GET", hss.url + "/api/v1/subscribers/" + SUB["imsi"])
        got.pop("registration", None)
        got["auth"] = SUB["auth"]
        st, _, body = H.http("PUT", hss.url + "/api/v1/subscribers/" + SUB["imsi"], got)
        self.assertEqual(st, 200, body)
        # The same through a PATCH that makes MSISDN equal the IMSI.
        st, _, body = H.http("POST", hss.url + "/api/v1/subscribers",
                             {"imsi": "432011123450000", "msisdn": "1",
                              "auth": {"scheme": "digest", "password": "x"}})
        self.assertEqual(st, 201, body)
        st, _, body = H.http("PATCH", hss.url + "/api/v1/subscribers/432011123450000",
                             {"msisdn": "432011123450000", "impus": None})
        self.assertIn(st, (200, 400), body)


if __name__ == "__main__":
    H.main()
