"""hss-stub Cx stand-in (docs/cx-api.md): MAR digest HA1s and AKA vectors checked with
the UE-side Milenage of hss-aka-tool, SQN advance and persistence, AUTS resync, SAR
registration state in the subscriber view, and the users look-up."""

import hashlib
import json
import os
import subprocess
import sys
import threading
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import DEMO, DOMAIN, Hss, bin_path, http, main, tmpdir  # noqa: E402

K = "465b5ce8b199b49faa5f0a2ee238a6bc"
OP = "cdc202d5123e20f62b6d676ac72cb318"
OPC = "cd63cb71954a9f4e48a5994e37a02baf"
IMPI = f"432011123456791@{DOMAIN}"
AKA_IMSI = "001010000000001"
AKA_IMPU = f"sip:{AKA_IMSI}@{DOMAIN}"


def tool(*args):
    p = subprocess.run([bin_path("hss-aka-tool")] + list(args), capture_output=True, text=True,
                       timeout=10)
    return p.returncode, p.stdout.strip(), p.stderr.strip()


def md5(s):
    return hashlib.md5(s.encode()).hexdigest()


def sqn_next(sqn):
    return (((sqn >> 5) + 1) << 5) & 0xFFFFFFFFFFFF


class CxBase(unittest.TestCase):
    db = ":memory:"

    def setUp(self):
        self.hss = Hss(db=self.db)
        self.api = self.hss.url + "/api/v1"
        self.hss.provision(DEMO)
        self.hss.provision({"imsi": AKA_IMSI, "auth": {"scheme": "aka", "k": K, "op": OP}})

    def tearDown(self):
        self.assertEqual(self.hss.stop(), 0, self.hss.log())

    def mar(self, body):
        return http("POST", self.api + "/cx/mar", body)

    def check_vector(self, v, k=K, opc=OPC):
        """The UE side accepts the vector: MAC-A verifies, RES/CK/IK match. Returns SQN."""
        rc, out, err = tool("check", k, opc, v["rand"], v["autn"])
        self.assertEqual(rc, 0, err)
        ue = json.loads(out)
        self.assertEqual(ue["res"], v["xres"])
        self.assertEqual(ue["ck"], v["ck"])
        self.assertEqual(ue["ik"], v["ik"])
        self.assertEqual(ue["sqn"], v["sqn"])
        return int(ue["sqn"], 16)


# 3GPP TS 35.208 test set 1 (K, OPc as above): RAND, SQN, AMF and the published outputs.
TS_RAND = "23553cbe9637a89d218ae64dae47bf35"
TS_SQN = "ff9bb4d0b607"
TS_AUTN = "55f328b43577" + "b9b9" + "4a9ffac354dfafb3"  # (SQN^AK) || AMF || f1
# (SQN^AK*) || f1* with the set's AMF b9b9 (a real AUTS uses the dummy AMF 0000).
TS_AUTS_B9B9 = "ba853f3c123c" + "01cfaf9ec4e871e9"


class TestPublishedVectors(unittest.TestCase):
    """The UE-side tool and the HSS's AUTS check against TS 35.208 set 1, so the vector
    checks above do not rest on the Milenage code checking itself."""

    def test_tool_matches_ts_35_208(self):
        rc, out, err = tool("check", K, OPC, TS_RAND, TS_AUTN)
        self.assertEqual(rc, 0, err)
        self.assertEqual(json.loads(out), {"sqn": TS_SQN, "res": "a54211d5e3ba50bf",
                                           "ck": "b40ba9a3c58b2a05bbf0d987b21bf8cb",
                                           "ik": "f769bcd751044604127672711c6d3441"})
        self.assertEqual(tool("auts", K, OPC, TS_RAND, TS_SQN, "b9b9")[1], TS_AUTS_B9B9)
        self.assertEqual(tool("opc", K, OP)[1], OPC)

    def test_hss_resync_uses_dummy_amf(self):
        hss = Hss()
        try:
            hss.provision({"imsi": AKA_IMSI, "auth": {"scheme": "aka", "k": K, "op": OP}})
            url = hss.url + "/api/v1/cx/mar"
            # f1* over AMF b9b9 is a valid test-set MAC but not a valid AUTS MAC-S.
            st, _, v = http("POST", url, {"impu": AKA_IMPU, "resync": {
                "rand": TS_RAND, "auts": TS_AUTS_B9B9}})
            self.assertEqual((st, v["error"]), (403, "resync_failed"))
            # The same SQN_MS with the dummy AMF 0000 (the tool's f1*, checked above).
            rc, auts, err = tool("auts", K, OPC, TS_RAND, TS_SQN)
            self.assertEqual(auts[:12], TS_AUTS_B9B9[:12])  # SQN^AK* does not depend on AMF
            st, _, v = http("POST", url, {"impu": AKA_IMPU, "resync": {
                "rand": TS_RAND, "auts": auts}})
            self.assertEqual(st, 200, v)
            self.assertEqual(v["sqn"], "%012x" % sqn_next(int(TS_SQN, 16)))
        finally:
            self.assertEqual(hss.stop(), 0)


class TestMarDigest(CxBase):
    def test_ha1_for_both_username_forms(self):
        for username in [None, "432011123456791", IMPI]:
            body = {"impu": f"sip:98098765432100@{DOMAIN}", "realm": DOMAIN}
            if username:
                body["username"] = username
            st, _, b = self.mar(body)
            self.assertEqual(st, 200, b)
            self.assertEqual(b["scheme"], "digest")
            self.assertEqual(b["imsi"], "432011123456791")
            self.assertEqual(b["impi"], IMPI)
            self.assertEqual(b["ha1"]["impi"], md5(f"{IMPI}:{DOMAIN}:1234"))
            self.assertEqual(b["ha1"]["user"], md5(f"432011123456791:{DOMAIN}:1234"))
            self.assertEqual([i["barred"] for i in b["impus"]], [True, False, False])
            self.assertNotIn("password", b)

    def test_realm_defaults_to_domain_and_is_used(self):
        st, _, b = self.mar({"impu": "tel:98098765432100"})
        self.assertEqual(b["ha1"]["user"], md5(f"432011123456791:{DOMAIN}:1234"))
        st, _, b = self.mar({"impu": "tel:98098765432100", "realm": "other.realm"})
        self.assertEqual(b["ha1"]["user"], md5("432011123456791:other.realm:1234"))

    def test_errors(self):
        e = self.mar({"impu": "sip:nobody@" + DOMAIN})
        self.assertEqual((e[0], e[2]["error"]), (404, "user_unknown"))
        e = self.mar({"impu": "tel:98098765432100", "username": "nobody"})
        self.assertEqual((e[0], e[2]["error"]), (404, "user_unknown"))
        e = self.mar({"impu": AKA_IMPU, "username": "432011123456791"})
        self.assertEqual((e[0], e[2]["error"]), (403, "identity_mismatch"))
        e = self.mar({"username": "432011123456791"})
        self.assertEqual((e[0], e[2]["error"]), (400, "bad_request"))
        e = self.mar({"impu": 5})
        self.assertEqual(e[0], 400)
        e = self.mar({"impu": "tel:98098765432100", "resync": {"rand": "00" * 16,
                                                              "auts": "00" * 14}})
        self.assertEqual((e[0], e[2]["error"]), (409, "wrong_scheme"))
        e = http("POST", self.api + "/cx/mar", raw=b"{nope",
                 headers={"Content-Type": "application/json"})
        self.assertEqual(e[0], 400)
        e = http("POST", self.api + "/cx/mar", raw=b"{}", headers={"Content-Type": "text/plain"})
        self.assertEqual(e[0], 415)


class TestMarAka(CxBase):
    def test_vector_verifies_and_sqn_advances(self):
        last = 0
        for _ in range(3):
            st, _, v = self.mar({"impu": AKA_IMPU})
            self.assertEqual(st, 200, v)
            self.assertEqual(v["scheme"], "aka")
            self.assertEqual(v["algorithm"], "AKAv1-MD5")
            for f, n in [("rand", 32), ("autn", 32), ("xres", 16), ("ck", 32), ("ik", 32)]:
                self.assertEqual(len(v[f]), n)
            sqn = self.check_vector(v)  # OPc derived from OP on write matches TS 35.208
            self.assertEqual(sqn, sqn_next(last))
            self.assertEqual(v["autn"][12:16], "8000")  # AMF default
            last = sqn
        st, _, s = http("GET", self.api + f"/subscribers/{AKA_IMSI}")
        self.assertEqual(int(s["auth"]["sqn"], 16), last)

    def test_username_forms_find_aka_subscriber(self):
        for u in [AKA_IMSI, f"{AKA_IMSI}@{DOMAIN}"]:
            st, _, v = self.mar({"impu": AKA_IMPU, "username": u})
            self.assertEqual(st, 200, v)
            self.check_vector(v)

    def test_wrong_key_does_not_verify(self):
        st, _, v = self.mar({"impu": AKA_IMPU})
        rc, _, _ = tool("check", K, "00" * 16, v["rand"], v["autn"])
        self.assertNotEqual(rc, 0)

    def test_rands_are_fresh(self):
        rands = {self.mar({"impu": AKA_IMPU})[2]["rand"] for _ in range(5)}
        self.assertEqual(len(rands), 5)

    def test_resync(self):
        st, _, v = self.mar({"impu": AKA_IMPU})
        sqn_ms = 0x000000012340
        rc, auts, err = tool("auts", K, OPC, v["rand"], "%012x" % sqn_ms)
        self.assertEqual(rc, 0, err)
        st, _, v2 = self.mar({"impu": AKA_IMPU, "resync": {"rand": v["rand"], "auts": auts}})
        self.assertEqual(st, 200, v2)
        self.assertEqual(self.check_vector(v2), sqn_next(sqn_ms))
        # The answer says what was resynchronised: the HSS's SQN before and the USIM's.
        self.assertEqual(v2["resync"], {"sqn_before": v["sqn"], "sqn_ms": "%012x" % sqn_ms})
        st, _, s = http("GET", self.api + f"/subscribers/{AKA_IMSI}")
        self.assertEqual(int(s["auth"]["sqn"], 16), sqn_next(sqn_ms))
        # A forged AUTS (MAC-S flipped) is refused and changes nothing.
        bad = auts[:-1] + ("0" if auts[-1] != "0" else "1")
        e = self.mar({"impu": AKA_IMPU, "resync": {"rand": v["rand"], "auts": bad}})
        self.assertEqual((e[0], e[2]["error"]), (403, "resync_failed"))
        st, _, s2 = http("GET", self.api + f"/subscribers/{AKA_IMSI}")
        self.assertEqual(s2["auth"]["sqn"], s["auth"]["sqn"])
        for resync in [{"rand": v["rand"]}, {"rand": "zz" * 16, "auts": auts},
                       {"rand": v["rand"], "auts": auts[:20]}, "x"]:
            e = self.mar({"impu": AKA_IMPU, "resync": resync})
            self.assertEqual((e[0], e[2]["error"]), (400, "bad_request"), resync)

    def test_sqn_out_of_sync(self):
        """The fault-injection vector: SQN 0 (which a USIM refuses), MAC-A still right,
        and the stored SQN untouched, so the resynchronisation that follows is normal."""
        st, _, v = self.mar({"impu": AKA_IMPU})
        self.assertEqual(st, 200, v)
        st, _, bad = self.mar({"impu": AKA_IMPU, "sqn_out_of_sync": True})
        self.assertEqual(st, 200, bad)
        self.assertTrue(bad["sqn_out_of_sync"])
        self.assertEqual(self.check_vector(bad), 0)
        st, _, s = http("GET", self.api + f"/subscribers/{AKA_IMSI}")
        self.assertEqual(s["auth"]["sqn"], v["sqn"])
        rc, auts, err = tool("auts", K, OPC, bad["rand"], v["sqn"])
        self.assertEqual(rc, 0, err)
        st, _, v2 = self.mar({"impu": AKA_IMPU, "resync": {"rand": bad["rand"], "auts": auts}})
        self.assertEqual(st, 200, v2)
        self.assertEqual(self.check_vector(v2), sqn_next(int(v["sqn"], 16)))
        e = self.mar({"impu": AKA_IMPU, "sqn_out_of_sync": True,
                      "resync": {"rand": bad["rand"], "auts": auts}})
        self.assertEqual((e[0], e[2]["error"]), (400, "bad_request"))
        st, _, d = self.mar({"impu": "sip:432011123456791@" + DOMAIN, "sqn_out_of_sync": True})
        self.assertEqual(st, 200, d)  # digest subscribers: ignored, an HA1 as always
        self.assertIn("ha1", d)

    def test_akav2_and_amf(self):
        st, _, b = http("PATCH", self.api + f"/subscribers/{AKA_IMSI}",
                        {"auth": {"algorithm": "AKAv2-MD5", "amf": "b9b9"}})
        self.assertEqual(st, 200, b)
        st, _, v = self.mar({"impu": AKA_IMPU})
        self.assertEqual(v["algorithm"], "AKAv2-MD5")
        self.assertEqual(v["autn"][12:16], "b9b9")
        self.check_vector(v)

    def test_concurrent_mars_never_share_an_sqn(self):
        sqns, errors = [], []

        def worker():
            for _ in range(10):
                st, _, v = self.mar({"impu": AKA_IMPU})
                if st != 200:
                    errors.append(st)
                else:
                    sqns.append(v["sqn"])

        threads = [threading.Thread(target=worker) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        self.assertEqual(errors, [])
        self.assertEqual(len(sqns), 40)
        self.assertEqual(len(set(sqns)), 40)
        self.assertEqual(max(int(s, 16) for s in sqns), 40 * 32)


class TestSqnPersists(unittest.TestCase):
    def test_sqn_survives_kill9(self):
        db = os.path.join(tmpdir(), "hss.db")
        hss = Hss(db=db)
        hss.provision({"imsi": AKA_IMSI, "auth": {"scheme": "aka", "k": K, "opc": OPC}})
        for _ in range(3):
            st, _, v = http("POST", hss.url + "/api/v1/cx/mar", {"impu": AKA_IMPU})
        self.assertEqual(v["sqn"], "%012x" % 96)
        hss.kill()
        hss = Hss(db=db)
        try:
            st, _, v = http("POST", hss.url + "/api/v1/cx/mar", {"impu": AKA_IMPU})
            self.assertEqual((st, v["sqn"]), (200, "%012x" % 128))
        finally:
            self.assertEqual(hss.stop(), 0)


class TestSar(CxBase):
    def sar(self, body):
        return http("POST", self.api + "/cx/sar", body)

    def test_registration_state_in_view(self):
        scscf = f"sip:scscf.{DOMAIN}:6060"
        st, _, b = self.sar({"impi": IMPI, "impu": f"sip:98098765432100@{DOMAIN}",
                             "state": "registered", "scscf": scscf})
        self.assertEqual((st, b), (200, {"imsi": "432011123456791", "state": "registered"}))
        st, _, s = http("GET", self.api + "/subscribers/432011123456791")
        reg = s["registration"]
        self.assertEqual(reg["state"], "registered")
        self.assertEqual(reg["scscf"], scscf)
        self.assertEqual(reg["impus"], [i["uri"] for i in s["impus"]])
        self.assertRegex(reg["updated_at"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
        # The live state is read-only: a PUT of the view keeps it, a PATCH cannot set it.
        doc = dict(s, auth={"scheme": "digest", "password": "1234"},
                   registration={"state": "unregistered"})
        st, _, s2 = http("PUT", self.api + "/subscribers/432011123456791", doc)
        self.assertEqual((st, s2["registration"]["state"]), (200, "registered"))
        st, _, b = self.sar({"impu": "tel:98098765432100", "state": "unregistered"})
        self.assertEqual(st, 200, b)
        st, _, s = http("GET", self.api + "/subscribers/432011123456791")
        self.assertEqual(s["registration"]["state"], "unregistered")
        self.assertNotIn("scscf", s["registration"])

    def test_scscf_request_shape(self):
        # What scscf sends: every field present, "" for an IMPU it does not have.
        st, _, b = self.sar({"impi": IMPI, "impu": "", "state": "registered",
                             "scscf": "sip:scscf.x:6060"})
        self.assertEqual((st, b["state"]), (200, "registered"), b)
        st, _, b = self.sar({"impi": IMPI, "impu": "", "state": "unregistered",
                             "scscf": "sip:scscf.x:6060"})
        self.assertEqual(st, 200, b)
        e = self.sar({"impi": IMPI, "impu": AKA_IMPU, "state": "unregistered"})
        self.assertEqual((e[0], e[2]["error"]), (403, "identity_mismatch"))

    def test_errors(self):
        e = self.sar({"impu": "sip:nobody@x", "state": "registered", "scscf": "sip:s"})
        self.assertEqual((e[0], e[2]["error"]), (404, "user_unknown"))
        for body in [{"impi": IMPI, "state": "gone"}, {"impi": IMPI},
                     {"state": "registered", "scscf": "sip:s"},
                     {"impi": IMPI, "state": "registered"},
                     {"impi": IMPI, "state": "registered", "scscf": 7}]:
            e = self.sar(body)
            self.assertEqual((e[0], e[2]["error"]), (400, "bad_request"), body)
        st, _, s = http("GET", self.api + "/subscribers/432011123456791")
        self.assertEqual(s["registration"], {"state": "unregistered"})


class TestUsers(CxBase):
    def test_lookup(self):
        for q in ["username=432011123456791", "username=" + IMPI,
                  "impu=tel%3A98098765432100", "impu=sip:98098765432100@" + DOMAIN]:
            st, _, b = http("GET", self.api + "/cx/users?" + q)
            self.assertEqual(st, 200, q)
            self.assertEqual(set(b), {"imsi", "impi", "scheme", "impus"})
            self.assertEqual(b["imsi"], "432011123456791")
        st, _, b = http("GET", self.api + f"/cx/users?username={AKA_IMSI}")
        self.assertEqual(b["scheme"], "aka")
        self.assertNotIn(K, json.dumps(b))
        e = http("GET", self.api + "/cx/users?username=nobody")
        self.assertEqual((e[0], e[2]["error"]), (404, "user_unknown"))
        e = http("GET", self.api + "/cx/users")
        self.assertEqual((e[0], e[2]["error"]), (400, "bad_request"))


if __name__ == "__main__":
    main()
