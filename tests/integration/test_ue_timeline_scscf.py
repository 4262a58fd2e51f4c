"""The S-CSCF's registration timeline, proven cause by cause: each hint appears because
the test caused it with a real UE (raw UDP client, digest and AKA with hss-aka-tool)
against the real scscf and hss-stub; the fault rules act and show; no secret leaks."""

import base64
import json
import os
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402
from scscf_util import D, Ue, aka_password, aka_ue, auth_header, digest_response  # noqa: E402

K = "465b5ce8b199b49faa5f0a2ee238a6bc"
OPC = "cd63cb71954a9f4e48a5994e37a02baf"  # TS 35.208 test set 1
PASSWORD = "s3cretPassw0rd"


class TimelineScscf(H.unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.hss = H.Hss()
        cls.scscf = H.Scscf(cls.hss.url, extra=["--timeline-401-timeout", "2",
                                                "--nonce-ttl", "2", "--min-expires", "60"])
        cls.n = 0

    @classmethod
    def tearDownClass(cls):
        rc = cls.scscf.stop()
        cls.hss.stop()
        if rc != 0:
            raise AssertionError(f"scscf exited {rc}:\n{cls.scscf.log()}")

    def setUp(self):
        st, _, _ = H.http("DELETE", self.scscf.url + "/api/v1/faults")
        self.assertEqual(st, 204)

    # ---- helpers ----

    def digest_sub(self, msisdn=None):
        TimelineScscf.n += 1
        imsi = f"4320119{TimelineScscf.n:08d}"
        doc = {"imsi": imsi, "auth": {"scheme": "digest", "password": PASSWORD}}
        if msisdn:
            doc["msisdn"] = msisdn
        self.hss.provision(doc)
        ue = Ue(self.scscf.sip_port, imsi)
        self.addCleanup(ue.close)
        return imsi, f"{imsi}@{D}", ue

    def aka_sub(self, sqn="000000000020"):
        TimelineScscf.n += 1
        imsi = f"4320118{TimelineScscf.n:08d}"
        self.hss.provision({"imsi": imsi, "auth": {"scheme": "aka", "k": K, "opc": OPC,
                                                   "amf": "8000", "sqn": sqn}})
        ue = Ue(self.scscf.sip_port, imsi)
        self.addCleanup(ue.close)
        return imsi, f"{imsi}@{D}", ue

    def timeline(self, key, value, limit=100):
        q = urllib.parse.urlencode({key: value, "limit": limit})
        st, _, doc = H.http("GET", f"{self.scscf.url}/api/v1/timeline?{q}")
        self.assertEqual(st, 200, doc)
        return doc

    def wait_hint(self, imsi, hint_id, timeout=8):
        """The first entry of imsi with hint_id (polls: some entries come from timers)."""
        end = time.time() + timeout
        while True:
            items = self.timeline("imsi", imsi)["items"]
            for e in items:
                if e.get("hint_id") == hint_id:
                    return e
            if time.time() > end:
                self.fail(f"no {hint_id} for {imsi}:\n" + json.dumps(items, indent=1))
            time.sleep(0.2)

    def fault(self, rule):
        st, _, r = H.http("POST", self.scscf.url + "/api/v1/faults", rule)
        self.assertEqual(st, 201, r)
        return r

    def digest_register(self, ue, impi, password=PASSWORD, **kw):
        c = ue.register()
        self.assertEqual(c.status, 401, c.text)
        nonce = c.param("www-authenticate", "nonce")
        resp = digest_response(impi, password, nonce, **kw)
        uri = kw.get("uri", "sip:" + D)
        return c, nonce, ue.register(auth=auth_header(impi, nonce, resp, uri=uri))

    # ---- the hints ----

    def test_challenged_and_registered(self):
        imsi, impi, ue = self.digest_sub()
        c, _, ok = self.digest_register(ue, impi)
        self.assertEqual(ok.status, 200, ok.text)
        items = self.timeline("impi", impi)["items"]
        kinds = [(e["kind"], e.get("direction"), e.get("status")) for e in items]
        self.assertEqual(kinds, [("request", "in", None), ("response", "out", 401),
                                 ("request", "in", None), ("response", "out", 200)])
        self.assertEqual(items[1]["hint_id"], "challenged")
        self.assertEqual(items[3]["hint_id"], "registered")
        req = items[0]
        self.assertEqual(req["src"], {"addr": "127.0.0.1", "port": ue.port})
        self.assertEqual(req["dst"]["port"], self.scscf.sip_port)
        self.assertEqual(req["transport"], "UDP")
        self.assertEqual(req["call_id"], ue.call_id)
        self.assertTrue(req["sip"].startswith(f"REGISTER sip:{D} SIP/2.0"))
        self.assertIn("SIP/2.0 401 Unauthorized", items[1]["sip"])
        self.assertEqual(items[1]["dst"], {"addr": "127.0.0.1", "port": ue.port})
        # IMSI and IMPU find the same entries
        self.assertEqual(self.timeline("imsi", imsi)["items"], items)
        self.assertEqual(self.timeline("impu", f"sip:{imsi}@{D}")["items"], items)
        # re-registration
        _, _, again = self.digest_register(ue, impi)
        self.assertEqual(again.status, 200)
        self.assertEqual(self.timeline("impi", impi, 1)["items"][0]["hint_id"], "reregistered")

    def test_wrong_password(self):
        imsi, impi, ue = self.digest_sub()
        _, _, r = self.digest_register(ue, impi, password="wrong")
        self.assertEqual(r.status, 403, r.text)
        e = self.wait_hint(imsi, "digest_password")
        self.assertEqual(e["status"], 403)
        self.assertIn("password", e["hint"])

    def test_digest_uri(self):
        """The UE hashes the Request-URI but reports another uri (SIPp's default)."""
        imsi, impi, ue = self.digest_sub()
        c = ue.register()
        nonce = c.param("www-authenticate", "nonce")
        resp = digest_response(impi, PASSWORD, nonce)  # hashed with sip:DOMAIN
        r = ue.register(auth=auth_header(impi, nonce, resp, uri="sip:127.0.0.1:5060"))
        self.assertEqual(r.status, 403, r.text)
        self.assertIn("uri", self.wait_hint(imsi, "digest_uri")["hint"])

    def test_digest_realm(self):
        imsi, impi, ue = self.digest_sub()
        r = ue.register(auth=auth_header(impi, "x", "0" * 32, realm="made.up.example"))
        self.assertEqual(r.status, 401, r.text)
        self.wait_hint(imsi, "digest_realm")

    def test_nonce_unknown_and_nc_replay(self):
        imsi, impi, ue = self.digest_sub()
        r = ue.register(auth=auth_header(impi, "00ff00ff", digest_response(impi, PASSWORD,
                                                                           "00ff00ff")))
        self.assertEqual(r.status, 401, r.text)
        self.wait_hint(imsi, "nonce_unknown")
        c, nonce, ok = self.digest_register(ue, impi)
        self.assertEqual(ok.status, 200)
        resp = digest_response(impi, PASSWORD, nonce)  # the same nc again
        r = ue.register(auth=auth_header(impi, nonce, resp))
        self.assertEqual(r.status, 401, r.text)
        self.wait_hint(imsi, "nc_replay")

    def test_stale_nonce(self):
        imsi, impi, ue = self.digest_sub()
        c = ue.register()
        nonce = c.param("www-authenticate", "nonce")
        time.sleep(2.5)  # --nonce-ttl 2
        r = ue.register(auth=auth_header(impi, nonce, digest_response(impi, PASSWORD, nonce)))
        self.assertEqual(r.status, 401, r.text)
        self.assertIn("stale=true", r.h("www-authenticate"))
        self.wait_hint(imsi, "stale_nonce")

    def test_no_answer_to_401(self):
        imsi, impi, ue = self.digest_sub()
        self.assertEqual(ue.register().status, 401)
        e = self.wait_hint(imsi, "no_answer_401", timeout=10)  # --timeline-401-timeout 2
        self.assertEqual(e["kind"], "decision")
        # an answered challenge never gets that hint
        imsi2, impi2, ue2 = self.digest_sub()
        self.digest_register(ue2, impi2)
        time.sleep(3.5)
        self.assertNotIn("no_answer_401",
                         [e.get("hint_id") for e in self.timeline("imsi", imsi2)["items"]])

    def test_foreign_domain(self):
        imsi, impi, ue = self.digest_sub()
        r = ue.register(ruri="sip:other.example")
        self.assertEqual(r.status, 403, r.text)
        self.wait_hint(imsi, "foreign_domain")

    def test_expires_too_brief(self):
        imsi, impi, ue = self.digest_sub()
        c = ue.register(expires=10)
        nonce = c.param("www-authenticate", "nonce")
        r = ue.register(expires=10, auth=auth_header(impi, nonce,
                                                     digest_response(impi, PASSWORD, nonce)))
        self.assertEqual(r.status, 423, r.text)
        self.wait_hint(imsi, "expires_too_brief")

    def test_barred_impu(self):
        TimelineScscf.n += 1
        imsi = f"4320117{TimelineScscf.n:08d}"
        self.hss.provision({"imsi": imsi, "auth": {"scheme": "digest", "password": "b"},
                            "impus": [{"uri": f"sip:alice-{imsi}@{D}", "barred": True},
                                      {"uri": f"sip:bob-{imsi}@{D}", "barred": False}]})
        ue = Ue(self.scscf.sip_port, f"alice-{imsi}")
        self.addCleanup(ue.close)
        r = ue.register()
        self.assertEqual((r.status, r.reason), (403, "Forbidden - IMPU Barred"), r.text)
        items = self.timeline("impu", f"sip:alice-{imsi}@{D}")["items"]
        self.assertEqual(items[-1]["hint_id"], "barred_impu", items)

    def test_user_unknown(self):
        ue = Ue(self.scscf.sip_port, "432019999999999")
        self.addCleanup(ue.close)
        r = ue.register()
        self.assertEqual(r.status, 403, r.text)
        self.wait_hint("432019999999999", "user_unknown")

    def test_res_mismatch(self):
        imsi, impi, ue = self.aka_sub()
        c = ue.register()
        self.assertEqual(c.status, 401, c.text)
        nonce = c.param("www-authenticate", "nonce")
        resp = digest_response(impi, b"\x00" * 8, nonce)
        r = ue.register(auth=auth_header(impi, nonce, resp, algorithm="AKAv1-MD5"))
        self.assertEqual(r.status, 403, r.text)
        self.assertIn("K/OPc", self.wait_hint(imsi, "res_mismatch")["hint"])

    def test_aka_resync(self):
        imsi, impi, ue = self.aka_sub()
        c = ue.register()
        nonce = c.param("www-authenticate", "nonce")
        v = aka_ue(K, OPC, nonce, sqn_ms="000000010000")
        auts = base64.b64encode(bytes.fromhex(v["auts"])).decode()
        r = ue.register(auth=auth_header(impi, nonce, "", algorithm="AKAv1-MD5",
                                         extra=f', auts="{auts}"'))
        self.assertEqual(r.status, 401, r.text)
        e = self.wait_hint(imsi, "aka_resync")
        self.assertIn("USIM 000000010000", e["hint"])
        self.assertIn(f"HSS had SQN {v['sqn']}", e["hint"])

    def test_aka_resync_failed(self):
        imsi, impi, ue = self.aka_sub()
        c = ue.register()
        nonce = c.param("www-authenticate", "nonce")
        auts = base64.b64encode(b"\x01" * 14).decode()  # MAC-S cannot verify
        r = ue.register(auth=auth_header(impi, nonce, "", algorithm="AKAv1-MD5",
                                         extra=f', auts="{auts}"'))
        self.assertEqual(r.status, 403, r.text)
        self.wait_hint(imsi, "aka_resync_failed")

    def test_deregistered(self):
        imsi, impi, ue = self.digest_sub()
        c, nonce, ok = self.digest_register(ue, impi)
        self.assertEqual(ok.status, 200, ok.text)
        resp = digest_response(impi, PASSWORD, nonce, nc="00000002")
        bye = ue.register(expires=0, auth=auth_header(impi, nonce, resp, nc="00000002"))
        self.assertEqual(bye.status, 200, bye.text)
        last = self.timeline("imsi", imsi, 1)["items"][0]
        self.assertEqual((last["hint_id"], last["action"]), ("deregistered", "deregistered"))

    def test_hss_unreachable(self):
        hss2 = H.Hss()
        scscf2 = H.Scscf(hss2.url, extra=["--hss-timeout-ms", "300"])
        try:
            hss2.stop()
            ue = Ue(scscf2.sip_port, "432011000000001")
            self.addCleanup(ue.close)
            r = ue.register()
            self.assertEqual(r.status, 503, r.text)
            st, _, doc = H.http("GET", scscf2.url + "/api/v1/timeline?imsi=432011000000001")
            self.assertEqual(doc["items"][-1]["hint_id"], "hss_unreachable", doc)
        finally:
            scscf2.stop()

    # ---- fault rules ----

    def test_fault_reply_503_retry_after(self):
        imsi, impi, ue = self.digest_sub()
        rule = self.fault({"match": {"imsi": imsi, "stage": "initial"},
                           "action": {"reply": 503, "reason": "Service Unavailable",
                                      "retry_after": 30}, "count": 1})
        r = ue.register()
        self.assertEqual((r.status, r.reason, r.h("retry-after")),
                         (503, "Service Unavailable", "30"), r.text)
        self.assertIn("Fault injection", r.h("warning"))
        e = self.wait_hint(imsi, "fault_fired")
        self.assertIn(f"fault rule {rule['id']}", e["hint"])
        self.assertEqual(ue.register().status, 401)  # count 1: used up
        st, _, m = H.http("GET", self.scscf.url + "/metrics")
        self.assertIn('scscf_faults_fired_total{action="reply"} ', m)

    def test_fault_stale_nonce(self):
        imsi, impi, ue = self.digest_sub()
        self.fault({"match": {"impi": impi, "stage": "auth"}, "action": {"stale_nonce": True}})
        c, nonce, r = self.digest_register(ue, impi)
        self.assertEqual(r.status, 401, r.text)
        self.assertIn("stale=true", r.h("www-authenticate"))
        nonce2 = r.param("www-authenticate", "nonce")
        ok = ue.register(auth=auth_header(impi, nonce2, digest_response(impi, PASSWORD, nonce2)))
        self.assertEqual(ok.status, 200, ok.text)

    def test_fault_sqn_out_of_sync(self):
        imsi, impi, ue = self.aka_sub()
        self.fault({"match": {"imsi": imsi, "stage": "initial"},
                    "action": {"sqn_out_of_sync": True}})
        c = ue.register()
        nonce = c.param("www-authenticate", "nonce")
        v = aka_ue(K, OPC, nonce)
        self.assertEqual(v["sqn"], "000000000000")  # the USIM must refuse it
        st, _, sub = H.http("GET", f"{self.hss.url}/api/v1/subscribers/{imsi}")
        auts = base64.b64encode(bytes.fromhex(
            aka_ue(K, OPC, nonce, sqn_ms=sub["auth"]["sqn"])["auts"])).decode()
        r = ue.register(auth=auth_header(impi, nonce, "", algorithm="AKAv1-MD5",
                                         extra=f', auts="{auts}"'))
        self.assertEqual(r.status, 401, r.text)
        nonce2 = r.param("www-authenticate", "nonce")
        v2 = aka_ue(K, OPC, nonce2)
        ok = ue.register(auth=auth_header(impi, nonce2, digest_response(
            impi, aka_password(1, v2["res"], v2["ik"], v2["ck"]), nonce2),
            algorithm="AKAv1-MD5"))
        self.assertEqual(ok.status, 200, ok.text)
        self.wait_hint(imsi, "aka_resync")
        self.wait_hint(imsi, "fault_fired")

    def test_fault_expires(self):
        imsi, impi, ue = self.digest_sub()
        self.fault({"match": {"imsi": imsi, "stage": "auth"}, "action": {"expires": 61}})
        _, _, ok = self.digest_register(ue, impi)
        self.assertEqual(ok.status, 200, ok.text)
        self.assertRegex(ok.h("contact"), r"expires=6[01]\b")

    def test_fault_drop_and_delay(self):
        imsi, impi, ue = self.digest_sub()
        self.fault({"match": {"imsi": imsi}, "action": {"drop": True}, "count": 1})
        with self.assertRaises(OSError):
            ue.register(timeout=1.5)
        self.assertEqual(ue.register().status, 401)  # count 1: the next one is answered
        self.fault({"match": {"imsi": imsi}, "action": {"delay_ms": 1200, "target": "answer"}})
        t0 = time.time()
        self.assertEqual(ue.register(timeout=5).status, 401)
        self.assertGreaterEqual(time.time() - t0, 1.1)

    def test_fault_reregister_stage(self):
        """Cookbook 10: only the refresh of a live registration is refused."""
        imsi, impi, ue = self.digest_sub()
        self.fault({"match": {"imsi": imsi, "stage": "reregister"},
                    "action": {"reply": 403, "reason": "Forbidden"}})
        _, _, ok = self.digest_register(ue, impi)  # initial + auth: the rule stays armed
        self.assertEqual(ok.status, 200, ok.text)
        r = ue.register()
        self.assertEqual((r.status, r.reason), (403, "Forbidden"), r.text)
        self.assertEqual(ue.register().status, 401)  # count 1: used up

    def test_fault_deregister_refused(self):
        st, _, e = H.http("POST", self.scscf.url + "/api/v1/faults",
                          {"action": {"deregister_after_s": 5}})
        self.assertEqual(st, 400, e)
        self.assertIn("reg-event", e["message"])

    def test_rule_count_under_concurrent_registers(self):
        """count 3 fires exactly three times when 20 UEs of the subscriber race."""
        imsi, impi, _ = self.digest_sub()
        self.fault({"match": {"imsi": imsi, "stage": "initial"},
                    "action": {"reply": 486}, "count": 3})
        import threading
        results = []
        ues = [Ue(self.scscf.sip_port, imsi) for _ in range(20)]

        def go(u):
            results.append(u.register(timeout=5).status)
        threads = [threading.Thread(target=go, args=(u,)) for u in ues]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for u in ues:
            u.close()
        self.assertEqual(sorted(results).count(486), 3, results)
        self.assertEqual(results.count(401), 17, results)
        st, _, doc = H.http("GET", self.scscf.url + "/api/v1/faults")
        self.assertEqual(doc["total"], 0)
        # ttl: a rule with plenty of count stops at its ttl
        self.fault({"match": {"imsi": imsi}, "action": {"reply": 486}, "count": 1000,
                    "ttl_s": 1})
        self.assertEqual(Ue(self.scscf.sip_port, imsi).register().status, 486)
        time.sleep(1.2)
        self.assertEqual(Ue(self.scscf.sip_port, imsi).register().status, 401)

    def test_no_secret_in_timeline_or_pcap(self):
        imsi, impi, ue = self.aka_sub()
        c = ue.register(path=True)  # behind a P-CSCF: the 401 carries CK/IK
        nonce = c.param("www-authenticate", "nonce")
        v = aka_ue(K, OPC, nonce)
        self.assertEqual(c.param("www-authenticate", "ck"), v["ck"])
        ok = ue.register(auth=auth_header(impi, nonce, digest_response(
            impi, aka_password(1, v["res"], v["ik"], v["ck"]), nonce), algorithm="AKAv1-MD5"))
        self.assertEqual(ok.status, 200, ok.text)
        st, _, text = H.http("GET", f"{self.scscf.url}/api/v1/timeline?imsi={imsi}")
        raw = json.dumps(text).lower()
        self.assertIn("ck=\\\"redacted\\\"", raw)
        st, h, pcap = H.http("GET", f"{self.scscf.url}/api/v1/timeline/pcap?imsi={imsi}")
        self.assertEqual(st, 200)
        blob = (raw + pcap).lower()
        for secret in (v["ck"], v["ik"], v["res"], K, OPC, PASSWORD.lower()):
            self.assertNotIn(secret.lower(), blob)


if __name__ == "__main__":
    H.main()
