"""hss-stub provisioning API (SPEC §3): every endpoint, status code, default derivation
and validation rule, and that rejected requests change nothing and secrets never leak."""

import http.client as http_client
import json
import os
import sqlite3
import subprocess
import sys
import time
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(__file__))
from harness import DEMO, DOMAIN, Hss, bin_path, free_port, http, main, tmpdir  # noqa: E402

K = "465b5ce8b199b49faa5f0a2ee238a6bc"
OP = "cdc202d5123e20f62b6d676ac72cb318"
OPC = "cd63cb71954a9f4e48a5994e37a02baf"  # TS 35.208 test set 1: OPc of K/OP above
SECRET_PW = "s3cr3t-Pa55word-xyz"


def aka_sub(imsi, **auth):
    a = {"scheme": "aka", "k": K, "opc": OPC}
    a.update(auth)
    return {"imsi": imsi, "auth": a}


class Base(unittest.TestCase):
    token = None
    extra = None

    def setUp(self):
        self.hss = Hss(token=self.token, extra=self.extra)
        self.api = self.hss.url + "/api/v1"

    def tearDown(self):
        self.hss.stop()

    def req(self, method, path, body=None, **kw):
        return http(method, self.api + path, body, **kw)

    def post(self, body, **kw):
        return self.req("POST", "/subscribers", body, **kw)

    def snapshot(self):
        """Everything the API shows, to prove a rejected request changed nothing."""
        st, _, b = self.req("GET", "/subscribers?limit=1000")
        self.assertEqual(st, 200)
        return b

    def assert_error(self, resp, status, code=None):
        st, h, b = resp
        self.assertEqual(st, status, b)
        self.assertIn("application/json", h.get("content-type", ""))
        self.assertIsInstance(b, dict, b)
        self.assertIn("error", b)
        self.assertIsInstance(b.get("message"), str)
        self.assertTrue(b["message"])
        if code:
            self.assertEqual(b["error"], code, b)
        return b


class TestCreateAndRead(Base):
    def test_healthz(self):
        st, _, b = http("GET", self.hss.url + "/healthz")
        self.assertEqual((st, b), (200, {"status": "ok"}))

    def test_demo_subscriber_defaults(self):
        st, h, b = self.post(DEMO)
        self.assertEqual(st, 201, b)
        self.assertEqual(h["location"], "/api/v1/subscribers/432011123456791")
        self.assertEqual(b["impi"], f"432011123456791@{DOMAIN}")
        self.assertEqual(b["msisdn"], "98098765432100")
        self.assertEqual(b["impus"], [
            {"uri": f"sip:432011123456791@{DOMAIN}", "barred": True},
            {"uri": f"sip:98098765432100@{DOMAIN}", "barred": False},
            {"uri": "tel:98098765432100", "barred": False}])
        self.assertEqual(b["auth"], {"scheme": "digest"})
        self.assertEqual(b["registration"], {"state": "unregistered"})
        st, _, got = self.req("GET", "/subscribers/432011123456791")
        self.assertEqual((st, got), (200, b))

    def test_without_msisdn_imsi_impu_unbarred(self):
        st, _, b = self.post({"imsi": "00101", "auth": {"scheme": "digest", "password": "p"}})
        self.assertEqual(st, 201, b)
        self.assertEqual(b["impus"], [{"uri": f"sip:00101@{DOMAIN}", "barred": False}])
        self.assertNotIn("msisdn", b)

    def test_explicit_impi_and_impus_kept_in_order(self):
        doc = {"imsi": "001010000000001", "impi": "alice@example.org",
               "impus": [{"uri": "tel:+15551234", "barred": False},
                         {"uri": "sips:alice@example.org"}],
               "auth": {"scheme": "digest", "password": "x"}}
        st, _, b = self.post(doc)
        self.assertEqual(st, 201, b)
        self.assertEqual(b["impi"], "alice@example.org")
        self.assertEqual(b["impus"], [{"uri": "tel:+15551234", "barred": False},
                                      {"uri": "sips:alice@example.org", "barred": False}])
        # '+' survives in the path (it is not form encoding); %2B decodes to it.
        for form in ["tel:+15551234", "tel%3A%2B15551234"]:
            st, _, got = self.req("GET", "/impus/" + form)
            self.assertEqual((st, got.get("imsi")), (200, "001010000000001"), form)

    def test_aka_view_defaults_no_secrets(self):
        st, _, b = self.post(aka_sub("001010000000002"))
        self.assertEqual(st, 201, b)
        self.assertEqual(b["auth"], {"scheme": "aka", "amf": "8000", "sqn": "000000000000",
                                     "algorithm": "AKAv1-MD5"})
        st, _, b = self.post(aka_sub("001010000000003", amf="b9b9", sqn="0000000000ff",
                                     algorithm="AKAv2-MD5"))
        self.assertEqual(st, 201, b)
        self.assertEqual(b["auth"], {"scheme": "aka", "amf": "b9b9", "sqn": "0000000000ff",
                                     "algorithm": "AKAv2-MD5"})

    def test_get_unknown_404(self):
        self.assert_error(self.req("GET", "/subscribers/999999999"), 404, "not_found")
        self.assert_error(self.req("GET", "/subscribers/notanimsi"), 404, "not_found")

    def test_delete(self):
        self.hss.provision(DEMO)
        st, _, b = self.req("DELETE", "/subscribers/432011123456791")
        self.assertEqual(st, 204)
        self.assertEqual(b, "")
        self.assert_error(self.req("GET", "/subscribers/432011123456791"), 404)
        self.assert_error(self.req("DELETE", "/subscribers/432011123456791"), 404)
        # Its identities are free again.
        self.assert_error(self.req("GET", "/impus/tel:98098765432100"), 404)
        self.assertEqual(self.post(DEMO)[0], 201)

    def test_list_ordered_paged(self):
        imsis = ["310150123456789", "00101", "262019876543210", "001010000000009"]
        for i in imsis:
            self.hss.provision({"imsi": i, "auth": {"scheme": "digest", "password": "p"}})
        st, _, b = self.req("GET", "/subscribers")
        self.assertEqual(st, 200)
        self.assertEqual(b["total"], 4)
        self.assertEqual([s["imsi"] for s in b["items"]], sorted(imsis))
        st, _, b = self.req("GET", "/subscribers?limit=2&offset=1")
        self.assertEqual([s["imsi"] for s in b["items"]], sorted(imsis)[1:3])
        self.assertEqual(b["total"], 4)
        st, _, b = self.req("GET", "/subscribers?offset=10")
        self.assertEqual((st, b["items"], b["total"]), (200, [], 4))
        st, _, b = self.req("GET", "/subscribers?limit=0")
        self.assertEqual((st, b["items"], b["total"]), (200, [], 4))
        st, _, b = self.req("GET", "/subscribers?limit=&offset=")  # empty = defaults
        self.assertEqual((st, len(b["items"]), b["total"]), (200, 4, 4))
        for q in ["limit=-1", "limit=abc", "limit=1001", "offset=-5", "offset=1.5",
                  "limit=99999999999", "limit=+5"]:
            self.assert_error(self.req("GET", "/subscribers?" + q), 400, "invalid_query")

    def test_list_imsi_prefix(self):
        imsis = ["00101", "001010000000009", "001020000000001", "310150123456789"]
        for i in imsis:
            self.hss.provision({"imsi": i, "auth": {"scheme": "digest", "password": "p"}})
        st, _, b = self.req("GET", "/subscribers?imsi_prefix=00101")
        self.assertEqual((st, b["total"]), (200, 2))
        self.assertEqual([s["imsi"] for s in b["items"]], ["00101", "001010000000009"])
        st, _, b = self.req("GET", "/subscribers?imsi_prefix=001&limit=1&offset=2")
        self.assertEqual((b["total"], [s["imsi"] for s in b["items"]]), (3, ["001020000000001"]))
        st, _, b = self.req("GET", "/subscribers?imsi_prefix=9")
        self.assertEqual((st, b["items"], b["total"]), (200, [], 0))
        st, _, b = self.req("GET", "/subscribers?imsi_prefix=")  # empty = everyone
        self.assertEqual(b["total"], 4)
        for q in ["abc", "0010%25", "1234567890123456", "00_01", "%3A"]:
            self.assert_error(self.req("GET", "/subscribers?imsi_prefix=" + q), 400,
                              "invalid_query")

    def test_console_served(self):
        st, h, b = http("GET", self.hss.url + "/console/")
        self.assertEqual(st, 200)
        self.assertIn("text/html", h["content-type"])
        self.assertIn("<!doctype html>", b.lower())
        self.assertIn("default-src 'self'", h["content-security-policy"])
        st, h, _ = http("GET", self.hss.url + "/console/app.js")
        self.assertEqual((st, h["content-type"].split(";")[0]), (200, "text/javascript"))
        st, _, cfg = http("GET", self.hss.url + "/console/config.json")
        self.assertEqual(st, 200)
        self.assertEqual(cfg["hss"], "")
        self.assertEqual((cfg["scscf"], cfg["pcscf"]),
                         ("http://127.0.0.1:8082", "http://127.0.0.1:8081"))
        self.assert_error(http("GET", self.hss.url + "/console/nothing.js"), 404, "not_found")
        self.assert_error(http("GET", self.hss.url + "/console/../hss.db"), 404)
        self.assert_error(http("POST", self.hss.url + "/console/", {}), 405)
        # Without following the redirect (urllib would).
        c = http_client.HTTPConnection("127.0.0.1", self.hss.port, timeout=10)
        c.request("GET", "/console")
        r = c.getresponse()
        self.assertEqual((r.status, r.getheader("Location")), (301, "/console/"))
        c.close()

    def test_cors_for_console_origins(self):
        pre = {"Origin": "http://127.0.0.1:8082", "Access-Control-Request-Method": "DELETE",
               "Access-Control-Request-Headers": "authorization,content-type"}
        st, h, _ = http("OPTIONS", self.api + "/subscribers/00101", headers=pre)
        self.assertEqual(st, 204)
        self.assertEqual(h["access-control-allow-origin"], "http://127.0.0.1:8082")
        self.assertIn("Authorization", h["access-control-allow-headers"])
        self.assertIn("PATCH", h["access-control-allow-methods"])
        self.assert_error(http("OPTIONS", self.api + "/subscribers",
                               headers=dict(pre, Origin="http://evil.example")), 403,
                          "origin_not_allowed")
        st, h, _ = self.req("GET", "/subscribers", headers={"Origin": "http://localhost:9"})
        self.assertEqual((st, h["access-control-allow-origin"]), (200, "http://localhost:9"))
        st, h, _ = self.req("GET", "/subscribers", headers={"Origin": "http://evil.example"})
        self.assertNotIn("access-control-allow-origin", h)

    def test_impu_lookup(self):
        self.hss.provision(DEMO)
        for form in ["tel:98098765432100", urllib.parse.quote("tel:98098765432100", safe=""),
                     urllib.parse.quote(f"sip:98098765432100@{DOMAIN}", safe="")]:
            st, _, b = self.req("GET", "/impus/" + form)
            self.assertEqual(st, 200, form)
            self.assertEqual(b["imsi"], "432011123456791")
            self.assertNotIn("password", json.dumps(b))
        self.assert_error(self.req("GET", "/impus/tel:111"), 404, "not_found")
        self.assert_error(self.req("GET", "/impus/" + urllib.parse.quote("sip:x@y", safe="")),
                          404)
        # Decoded once only: a double-encoded URI is not the same identity.
        twice = urllib.parse.quote(urllib.parse.quote("tel:98098765432100", safe=""), safe="")
        self.assert_error(self.req("GET", "/impus/" + twice), 404)

    def test_openapi_served(self):
        st, h, b = http("GET", self.api + "/openapi.yaml")
        self.assertEqual(st, 200)
        self.assertIn("yaml", h["content-type"])
        self.assertIn("openapi: 3", b)
        self.assertIn("/api/v1/subscribers", b)
        self.assertIn("/api/v1/cx/mar", b)


class TestModify(Base):
    def test_put_replaces(self):
        self.hss.provision(DEMO)
        new = {"imsi": "432011123456791", "msisdn": "111222",
               "auth": {"scheme": "digest", "password": "new"}}
        st, _, b = self.req("PUT", "/subscribers/432011123456791", new)
        self.assertEqual(st, 200, b)
        self.assertEqual(b["msisdn"], "111222")
        self.assertEqual([i["uri"] for i in b["impus"]],
                         [f"sip:432011123456791@{DOMAIN}", f"sip:111222@{DOMAIN}", "tel:111222"])
        # The old IMPUs are gone with the replace.
        self.assert_error(self.req("GET", "/impus/tel:98098765432100"), 404)
        # Body without imsi takes the path's.
        del new["imsi"]
        self.assertEqual(self.req("PUT", "/subscribers/432011123456791", new)[0], 200)

    def test_put_errors(self):
        self.hss.provision(DEMO)
        before = self.snapshot()
        other = dict(DEMO, imsi="432011123456792")
        self.assert_error(self.req("PUT", "/subscribers/432011123456791", other), 400,
                          "imsi_mismatch")
        self.assert_error(self.req("PUT", "/subscribers/432011123456792", other), 404)
        self.assert_error(self.req("PUT", "/subscribers/432011123456791",
                                   {"auth": {"scheme": "digest"}}), 400)
        self.assertEqual(self.snapshot(), before)

    def test_patch_merge(self):
        self.hss.provision(DEMO)
        st, _, b = self.req("PATCH", "/subscribers/432011123456791", {"msisdn": "5550100"},
                            headers={"Content-Type": "application/merge-patch+json"})
        self.assertEqual(st, 200, b)
        self.assertEqual(b["msisdn"], "5550100")
        # IMPUs are kept as stored until removed with null, then derived again.
        self.assertEqual(b["impus"][2]["uri"], "tel:98098765432100")
        st, _, b = self.req("PATCH", "/subscribers/432011123456791", {"impus": None})
        self.assertEqual(st, 200, b)
        self.assertEqual(b["impus"][2]["uri"], "tel:5550100")
        st, _, b = self.req("PATCH", "/subscribers/432011123456791", {"msisdn": None,
                                                                      "impus": None})
        self.assertNotIn("msisdn", b)
        self.assertEqual(b["impus"], [{"uri": f"sip:432011123456791@{DOMAIN}", "barred": False}])

    def test_patch_scheme_change_needs_secrets(self):
        self.hss.provision(DEMO)
        before = self.snapshot()
        path = "/subscribers/432011123456791"
        self.assert_error(self.req("PATCH", path, {"auth": {"scheme": "aka"}}), 400)
        self.assert_error(self.req("PATCH", path, {"auth": {"scheme": "aka", "k": K}}), 400)
        self.assertEqual(self.snapshot(), before)
        st, _, b = self.req("PATCH", path, {"auth": {"scheme": "aka", "k": K, "op": OP}})
        self.assertEqual(st, 200, b)
        self.assertEqual(b["auth"]["scheme"], "aka")
        st, _, b = self.req("PATCH", path, {"auth": {"scheme": "digest", "password": "x"}})
        self.assertEqual((st, b["auth"]), (200, {"scheme": "digest"}))

    def test_patch_sqn_keeps_keys(self):
        self.hss.provision(aka_sub("001010000000001", algorithm="AKAv2-MD5"))
        path = "/subscribers/001010000000001"
        st, _, b = self.req("PATCH", path, {"auth": {"sqn": "000000000fe0"}})
        self.assertEqual(st, 200, b)
        self.assertEqual(b["auth"], {"scheme": "aka", "amf": "8000", "sqn": "000000000fe0",
                                     "algorithm": "AKAv2-MD5"})
        # Keys still there: a vector is produced with the reset SQN + 32.
        st, _, v = self.req("POST", "/cx/mar", {"impu": f"sip:001010000000001@{DOMAIN}"})
        self.assertEqual((st, v["sqn"]), (200, "000000001000"), v)
        # op replaces the stored opc; giving both is rejected; k alone is rejected.
        self.assertEqual(self.req("PATCH", path, {"auth": {"op": OP}})[0], 200)
        self.assert_error(self.req("PATCH", path, {"auth": {"op": OP, "opc": OPC}}), 400)
        self.assert_error(self.req("PATCH", path, {"auth": {"k": OPC}}), 400, "missing_field")

    def test_patch_errors_change_nothing(self):
        self.hss.provision(DEMO)
        before = self.snapshot()
        path = "/subscribers/432011123456791"
        self.assert_error(self.req("PATCH", path, {"imsi": "432011123456792"}), 400)
        self.assert_error(self.req("PATCH", path, {"msisdn": "12ab"}), 400)
        self.assert_error(self.req("PATCH", path, {"bogus": 1}), 400, "unknown_field")
        self.assert_error(self.req("PATCH", path, raw=b"[1]",
                                   headers={"Content-Type": "application/json"}), 400)
        self.assert_error(self.req("PATCH", path, {"msisdn": "1"},
                                   headers={"Content-Type": "text/plain"}), 415)
        self.assert_error(self.req("PATCH", "/subscribers/00101", {"msisdn": "1"}), 404)
        self.assertEqual(self.snapshot(), before)


class TestBulk(Base):
    def subs(self, n, start=0):
        return [{"imsi": "00101%010d" % (start + i), "msisdn": "4470%07d" % (start + i),
                 "auth": {"scheme": "digest", "password": "p%d" % i}} for i in range(n)]

    def test_bulk_import(self):
        st, h, b = self.post(self.subs(50))
        self.assertEqual(st, 201, b)
        self.assertEqual(b["total"], 50)
        self.assertEqual(len(b["items"]), 50)
        self.assertEqual(b["items"][7]["impus"][2]["uri"], "tel:44700000007")
        self.assertNotIn("password", json.dumps(b))
        self.assertEqual(self.snapshot()["total"], 50)

    def test_bulk_bad_item_stores_nothing(self):
        self.hss.provision(DEMO)
        before = self.snapshot()
        items = self.subs(10)
        items[6]["auth"]["scheme"] = "md5"
        b = self.assert_error(self.post(items), 400)
        self.assertEqual(b.get("index"), 6)
        self.assertIn("item 6", b["message"])
        items = self.subs(10)
        items[4]["imsi"] = "12"
        self.assertEqual(self.assert_error(self.post(items), 400)["index"], 4)
        items = self.subs(10)
        items[3] = "not an object"
        self.assertEqual(self.assert_error(self.post(items), 400)["index"], 3)
        self.assertEqual(self.snapshot(), before)

    def test_bulk_conflicts_store_nothing(self):
        self.hss.provision(DEMO)
        before = self.snapshot()
        items = self.subs(10)
        items[8]["msisdn"] = items[2]["msisdn"]  # same derived IMPUs inside the batch
        b = self.assert_error(self.post(items), 409, "conflict")
        self.assertEqual(b["index"], 8)
        items = self.subs(10)
        items[5] = dict(DEMO, imsi="00101999")  # IMPUs of the stored demo subscriber
        self.assertEqual(self.assert_error(self.post(items), 409)["index"], 5)
        items = self.subs(10)
        items[9]["imsi"] = items[0]["imsi"]
        self.assertEqual(self.assert_error(self.post(items), 409)["index"], 9)
        self.assertEqual(self.snapshot(), before)

    def test_bulk_may_exceed_64k_single_may_not(self):
        items = self.subs(1200)
        raw = json.dumps(items).encode()
        self.assertGreater(len(raw), 65536)
        st, _, b = self.post(None, raw=raw, headers={"Content-Type": "application/json"})
        self.assertEqual((st, b["total"]), (201, 1200))


class TestRejections(Base):
    def test_conflicts(self):
        self.hss.provision(DEMO)
        before = self.snapshot()
        pw = {"scheme": "digest", "password": "p"}
        self.assert_error(self.post(DEMO), 409, "conflict")
        self.assert_error(self.post({"imsi": "00101", "impi": f"432011123456791@{DOMAIN}",
                                     "auth": pw}), 409, "conflict")
        b = self.assert_error(self.post({"imsi": "00101", "impus": [
            {"uri": "sip:free@x"}, {"uri": "tel:98098765432100"}], "auth": pw}), 409)
        self.assertIn("tel:98098765432100", b["message"])
        self.assert_error(self.post({"imsi": "00101", "msisdn": "98098765432100", "auth": pw}),
                          409)
        self.assertEqual(self.snapshot(), before)
        # PUT/PATCH taking another subscriber's IMPU: 409 too.
        self.hss.provision({"imsi": "00102", "auth": pw})
        before = self.snapshot()
        self.assert_error(self.req("PATCH", "/subscribers/00102",
                                   {"impus": [{"uri": "tel:98098765432100"}]}), 409)
        self.assert_error(self.req("PUT", "/subscribers/00102",
                                   {"impi": f"432011123456791@{DOMAIN}", "auth": pw}), 409)
        self.assertEqual(self.snapshot(), before)

    BAD = [
        ("imsi short", {"imsi": "1234", "auth": {"scheme": "digest", "password": "p"}}),
        ("imsi long", {"imsi": "1234567890123456", "auth": {"scheme": "digest", "password": "p"}}),
        ("imsi letters", {"imsi": "12345a", "auth": {"scheme": "digest", "password": "p"}}),
        ("imsi number", {"imsi": 123456, "auth": {"scheme": "digest", "password": "p"}}),
        ("imsi missing", {"auth": {"scheme": "digest", "password": "p"}}),
        ("msisdn letters", {"imsi": "00101", "msisdn": "+4470", "auth": {"scheme": "digest",
                                                                        "password": "p"}}),
        ("msisdn number", {"imsi": "00101", "msisdn": 4470, "auth": {"scheme": "digest",
                                                                    "password": "p"}}),
        ("impu scheme", {"imsi": "00101", "impus": [{"uri": "http://x"}],
                         "auth": {"scheme": "digest", "password": "p"}}),
        ("impu space", {"imsi": "00101", "impus": [{"uri": "sip:a b@x"}],
                        "auth": {"scheme": "digest", "password": "p"}}),
        ("impu string", {"imsi": "00101", "impus": ["sip:a@x"],
                         "auth": {"scheme": "digest", "password": "p"}}),
        ("impus empty", {"imsi": "00101", "impus": [],
                         "auth": {"scheme": "digest", "password": "p"}}),
        ("impus dup", {"imsi": "00101", "impus": [{"uri": "sip:a@x"}, {"uri": "sip:a@x"}],
                       "auth": {"scheme": "digest", "password": "p"}}),
        ("barred type", {"imsi": "00101", "impus": [{"uri": "sip:a@x", "barred": "yes"}],
                         "auth": {"scheme": "digest", "password": "p"}}),
        ("auth missing", {"imsi": "00101"}),
        ("auth string", {"imsi": "00101", "auth": "digest"}),
        ("scheme unknown", {"imsi": "00101", "auth": {"scheme": "md5", "password": "p"}}),
        ("password missing", {"imsi": "00101", "auth": {"scheme": "digest"}}),
        ("password number", {"imsi": "00101", "auth": {"scheme": "digest", "password": 1234}}),
        ("digest with k", {"imsi": "00101", "auth": {"scheme": "digest", "password": "p",
                                                     "k": K}}),
        ("k short", aka_sub("00101", k=K[:30])),
        ("k long", aka_sub("00101", k=K + "00")),
        ("k not hex", aka_sub("00101", k="g" * 32)),
        ("opc short", aka_sub("00101", opc=OPC[:31])),
        ("amf long", aka_sub("00101", amf="80000")),
        ("sqn short", aka_sub("00101", sqn="0000")),
        ("sqn number", aka_sub("00101", sqn=0)),
        ("op and opc", aka_sub("00101", op=OP)),
        ("no op or opc", {"imsi": "00101", "auth": {"scheme": "aka", "k": K}}),
        ("no k", {"imsi": "00101", "auth": {"scheme": "aka", "opc": OPC}}),
        ("algorithm", aka_sub("00101", algorithm="AKAv3-MD5")),
        ("unknown field", {"imsi": "00101", "nickname": "bob",
                           "auth": {"scheme": "digest", "password": "p"}}),
        ("unknown auth field", aka_sub("00101", sqn_ms="000000000000")),
        ("not object", "a string"),
        ("number", 42),
    ]

    def test_bad_documents_400(self):
        self.hss.provision(DEMO)
        before = self.snapshot()
        for name, doc in self.BAD:
            with self.subTest(name):
                self.assert_error(self.post(doc), 400)
        self.assertEqual(self.snapshot(), before)

    def test_bad_json_400(self):
        before = self.snapshot()
        for raw in [b"{", b"{\"imsi\": }", b"not json", b"", b"{\"imsi\": \"00101\",}",
                    b"{\"imsi\":\"00101\",\"imsi\":\"00102\",\"auth\":{\"scheme\":\"digest\","
                    b"\"password\":\"p\"}}", b"\xff\xfe{}"]:
            with self.subTest(raw):
                self.assert_error(self.post(None, raw=raw,
                                            headers={"Content-Type": "application/json"}), 400)
        self.assertEqual(self.snapshot(), before)

    def test_content_type_415(self):
        for ct in [None, "text/plain", "application/x-www-form-urlencoded",
                   "application/merge-patch+json", "application/jsonx"]:
            with self.subTest(ct):
                h = {"Content-Type": ct} if ct else {}
                self.assert_error(self.post(None, raw=json.dumps(DEMO).encode(), headers=h),
                                  415, "unsupported_media_type")
        self.assertEqual(self.snapshot()["total"], 0)
        st, _, _ = self.post(None, raw=json.dumps(DEMO).encode(),
                             headers={"Content-Type": "Application/JSON; charset=utf-8"})
        self.assertEqual(st, 201)

    def test_oversize_413(self):
        doc = dict(DEMO, auth={"scheme": "digest", "password": "x" * 70000})
        self.assert_error(self.post(doc), 413)
        raw = b"{" + b" " * 70000 + b"}"
        self.assert_error(self.req("PATCH", "/subscribers/432011123456791", raw=raw,
                                   headers={"Content-Type": "application/json"}), 413)
        self.assertEqual(self.snapshot()["total"], 0)

    def test_405_with_allow(self):
        cases = [("DELETE", "/subscribers", "GET, POST"),
                 ("POST", "/subscribers/00101", "GET, PUT, PATCH, DELETE"),
                 ("PUT", "/impus/tel:1", "GET"), ("GET", "/cx/mar", "POST"),
                 ("DELETE", "/cx/users", "GET")]
        for method, path, allow in cases:
            with self.subTest(method + path):
                st, h, b = self.req(method, path)
                self.assert_error((st, h, b), 405, "method_not_allowed")
                self.assertEqual(h.get("allow"), allow)
        st, h, b = http("POST", self.hss.url + "/healthz", raw=b"")
        self.assertEqual((st, h.get("allow")), (405, "GET"))

    def test_unknown_paths_404_json(self):
        for path in ["/api/v1/nothing", "/api/v2/subscribers", "/", "/api/v1/subscribers/1/x"]:
            with self.subTest(path):
                self.assert_error(http("GET", self.hss.url + path), 404, "not_found")


class TestCorsOrigins(Base):
    extra = ["--cors-origins", "http://lab.example:8080", "--console-scscf",
             "http://10.0.0.2:8082"]

    def test_listed_origin_and_console_urls(self):
        pre = {"Origin": "http://lab.example:8080", "Access-Control-Request-Method": "POST"}
        st, h, _ = http("OPTIONS", self.api + "/subscribers", headers=pre)
        self.assertEqual((st, h["access-control-allow-origin"]), (204, "http://lab.example:8080"))
        self.assert_error(http("OPTIONS", self.api + "/subscribers",
                               headers=dict(pre, Origin="http://lab.example:8081")), 403)
        cfg = http("GET", self.hss.url + "/console/config.json")[2]
        self.assertEqual((cfg["scscf"], cfg["pcscf"]),
                         ("http://10.0.0.2:8082", "http://127.0.0.1:8081"))


class TestToken(Base):
    token = "t0k3n-abc"

    def test_token_required(self):
        self.assertEqual(http("GET", self.hss.url + "/healthz")[0], 200)
        self.assert_error(self.req("GET", "/subscribers"), 401)
        self.assert_error(self.req("GET", "/subscribers",
                                   headers={"Authorization": "Bearer wrong"}), 401)
        self.assert_error(self.req("GET", "/subscribers",
                                   headers={"Authorization": "Basic dDBrM24tYWJj"}), 401)
        self.assert_error(self.post(DEMO), 401)
        self.assert_error(self.req("POST", "/cx/mar", {"impu": "tel:1"}), 401)
        good = {"Authorization": "Bearer " + self.token}
        self.assertEqual(self.req("GET", "/subscribers", headers=good)[2]["total"], 0)
        self.hss.provision(DEMO, token=self.token)
        self.assertEqual(self.req("GET", "/subscribers", headers=good)[2]["total"], 1)
        self.assert_error(self.req("DELETE", "/subscribers/432011123456791"), 401)
        self.assertEqual(self.req("GET", "/subscribers/432011123456791", headers=good)[0], 200)
        # The console page itself loads without a token (a browser cannot send one when
        # it opens a URL); everything it then asks the API for needs the token.
        self.assertEqual(http("GET", self.hss.url + "/console/")[0], 200)
        self.assertEqual(http("GET", self.hss.url + "/console/config.json")[0], 200)
        self.assertEqual(http("GET", self.hss.url + "/console")[0], 200)  # via the redirect
        self.assert_error(http("POST", self.hss.url + "/console/", {}), 401)
        # Outside the console's files the token is still needed to learn more than "no".
        self.assert_error(http("GET", self.hss.url + "/consolex"), 404)
        self.assert_error(http("GET", self.hss.url + "/api/v1/subscribers"), 401)


class TestSecrets(Base):
    extra = ["--log-level", "debug"]  # the chattiest level must not leak either

    def test_secrets_never_returned_nor_logged(self):
        outputs = []
        outputs.append(self.post(dict(DEMO, imsi="00101", msisdn="1",
                                      auth={"scheme": "digest", "password": SECRET_PW})))
        outputs.append(self.post(aka_sub("00102")))
        outputs.append(self.post({"imsi": "00103", "auth": {"scheme": "aka", "k": K, "op": OP}}))
        outputs.append(self.req("GET", "/subscribers"))
        outputs.append(self.req("GET", "/subscribers/00102"))
        outputs.append(self.req("PATCH", "/subscribers/00102", {"auth": {"sqn": "000000000040"}}))
        outputs.append(self.req("PUT", "/subscribers/00101",
                                {"auth": {"scheme": "digest", "password": SECRET_PW}}))
        outputs.append(self.req("GET", "/impus/sip:00103@" + DOMAIN))
        outputs.append(self.req("GET", "/cx/users?username=00103"))
        outputs.append(self.req("POST", "/cx/mar", {"impu": "sip:00103@" + DOMAIN}))
        outputs.append(self.req("POST", "/cx/mar", {"impu": "tel:1"}))
        outputs.append(self.post(dict(DEMO, imsi="bad", auth={"scheme": "digest",
                                                              "password": SECRET_PW})))
        outputs.append(self.post({"imsi": "00104", "auth": {"scheme": "aka", "k": K, "op": OP,
                                                            "opc": OPC}}))
        self.hss.stop()
        texts = [json.dumps(o[2]) for o in outputs] + [self.hss.log()]
        for t in texts:
            for secret in [SECRET_PW, K, OP, OPC, K.upper(), OPC.upper()]:
                self.assertNotIn(secret, t)


class TestLogging(Base):
    def test_one_info_line_per_request(self):
        self.hss.provision(DEMO)
        self.req("PATCH", "/subscribers/432011123456791", {"msisdn": "1234"})
        self.req("POST", "/cx/mar", {"impu": "tel:1234"})
        self.req("POST", "/cx/sar", {"impu": "tel:1234", "state": "registered",
                                     "scscf": "sip:s.example"})
        self.post([{"imsi": "00102", "auth": {"scheme": "digest", "password": "p"}}])
        self.req("DELETE", "/subscribers/432011123456791")
        self.req("GET", "/nothing")
        self.assertEqual(self.hss.stop(), 0)
        lines = [ln for ln in self.hss.log().splitlines() if " info: " in ln]
        http_lines = [ln for ln in lines if " info: http " in ln]
        self.assertEqual(len([ln for ln in http_lines if "/healthz" not in ln]), 7, lines)
        other = [ln for ln in lines if ln not in http_lines]
        self.assertEqual(len(other), 2, other)  # "ready" and the shutdown line


class TestProcess(unittest.TestCase):
    def run_bin(self, args, env=None, timeout=10):
        e = dict(os.environ)
        e.update(env or {})
        return subprocess.run([bin_path("hss-stub")] + args, capture_output=True, text=True,
                              timeout=timeout, env=e)

    def test_bad_flags_one_line(self):
        for args in [["--bogus"], ["--threads", "0"], ["--log-level", "loud"],
                     ["--http", "127.0.0.1:notaport"], ["--db", "/proc/forbidden/x/hss.db"]]:
            with self.subTest(args):
                p = self.run_bin(args + ([] if "--db" in args else ["--db", ":memory:"]))
                self.assertNotEqual(p.returncode, 0)
                self.assertEqual(len(p.stderr.strip().splitlines()), 1, p.stderr)

    def test_non_loopback_needs_token(self):
        p = self.run_bin(["--http", "0.0.0.0:1", "--db", ":memory:"])
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("--token", p.stderr)
        self.assertEqual(len(p.stderr.strip().splitlines()), 1)

    def test_port_in_use(self):
        hss = Hss()
        try:
            p = self.run_bin(["--http", f"127.0.0.1:{hss.port}", "--db", ":memory:"])
            self.assertNotEqual(p.returncode, 0)
            self.assertEqual(len(p.stderr.strip().splitlines()), 1, p.stderr)
        finally:
            hss.stop()

    def test_help_version(self):
        p = self.run_bin(["--help"])
        self.assertEqual(p.returncode, 0)
        for flag in ["--http", "--db", "--token", "--domain", "--insecure", "--threads",
                     "--log-level", "HSS_DB"]:
            self.assertIn(flag, p.stdout)
        self.assertEqual(self.run_bin(["--version"]).returncode, 0)

    def test_sigterm_and_sigint_exit_0(self):
        import signal
        for sig in [signal.SIGTERM, signal.SIGINT]:
            hss = Hss()
            hss.proc.send_signal(sig)
            self.assertEqual(hss.proc.wait(10), 0, hss.log())
            hss.stop()

    def test_env_settings(self):
        d = tmpdir()
        port = free_port(both=False)
        db = os.path.join(d, "sub", "dir", "hss.db")
        env = dict(os.environ, HSS_HTTP=f"127.0.0.1:{port}", HSS_DB=db, HSS_DOMAIN="lab.test")
        p = subprocess.Popen([bin_path("hss-stub")], env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            url = f"http://127.0.0.1:{port}"
            for _ in range(200):
                try:
                    if http("GET", url + "/healthz", timeout=1)[0] == 200:
                        break
                except OSError:
                    time.sleep(0.05)
            st, _, b = http("POST", url + "/api/v1/subscribers",
                            {"imsi": "00101", "auth": {"scheme": "digest", "password": "p"}})
            self.assertEqual(st, 201, b)
            self.assertEqual(b["impi"], "00101@lab.test")
            self.assertTrue(os.path.exists(db))
        finally:
            p.terminate()
            self.assertEqual(p.wait(10), 0)


class TestPersistence(unittest.TestCase):
    def test_restart_and_kill9_keep_acknowledged_writes(self):
        d = tmpdir()
        db = os.path.join(d, "hss.db")
        hss = Hss(db=db)
        hss.provision(DEMO)
        hss.provision(aka_sub("001010000000001"))
        self.assertEqual(hss.stop(), 0)
        hss = Hss(db=db)
        st, _, b = http("GET", hss.url + "/api/v1/subscribers/432011123456791")
        self.assertEqual((st, b["msisdn"]), (200, "98098765432100"))
        # Acknowledged writes, then SIGKILL with no chance to flush anything.
        for i in range(20):
            hss.provision({"imsi": "00102%05d" % i, "auth": {"scheme": "digest", "password": "p"}})
        st, _, v = http("POST", hss.url + "/api/v1/cx/mar",
                        {"impu": f"sip:001010000000001@{DOMAIN}"})
        self.assertEqual(v["sqn"], "000000000020")
        self.assertEqual(http("DELETE", hss.url + "/api/v1/subscribers/432011123456791")[0], 204)
        hss.kill()
        hss = Hss(db=db)
        try:
            st, _, b = http("GET", hss.url + "/api/v1/subscribers?limit=100")
            self.assertEqual(b["total"], 21)
            self.assertTrue(all(s["imsi"] != "432011123456791" for s in b["items"]))
            st, _, s = http("GET", hss.url + "/api/v1/subscribers/001010000000001")
            self.assertEqual(s["auth"]["sqn"], "000000000020")
        finally:
            self.assertEqual(hss.stop(), 0)
        con = sqlite3.connect(db)
        try:
            self.assertEqual(con.execute("PRAGMA user_version").fetchone()[0], 1)
            self.assertEqual(con.execute("PRAGMA journal_mode").fetchone()[0], "wal")
        finally:
            con.close()

    def test_second_daemon_on_same_file_refused(self):
        db = os.path.join(tmpdir(), "hss.db")
        hss = Hss(db=db)
        try:
            hss.provision(DEMO)
            p = subprocess.run([bin_path("hss-stub"), "--db", db, "--http",
                                f"127.0.0.1:{free_port(both=False)}"], capture_output=True,
                               text=True, timeout=30)
            self.assertNotEqual(p.returncode, 0)
            self.assertIn("locked", p.stderr)
            self.assertEqual(len(p.stderr.strip().splitlines()), 1, p.stderr)
            # The first one is unaffected.
            st, _, b = http("GET", hss.url + "/api/v1/subscribers/432011123456791")
            self.assertEqual(st, 200)
        finally:
            self.assertEqual(hss.stop(), 0)

    def test_newer_schema_refused(self):
        d = tmpdir()
        db = os.path.join(d, "hss.db")
        con = sqlite3.connect(db)
        con.execute("PRAGMA user_version = 99")
        con.commit()
        con.close()
        p = subprocess.run([bin_path("hss-stub"), "--db", db, "--http",
                            f"127.0.0.1:{free_port(both=False)}"], capture_output=True,
                           text=True, timeout=10)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("schema version 99", p.stderr)


if __name__ == "__main__":
    main()
