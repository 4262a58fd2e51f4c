"""The reg event package end to end (SPEC §7, RFC 3680, TS 24.229 5.4.2.1): SIPp as the UE
through the real P-CSCF to the real S-CSCF (subscribe, NOTIFYs, unsubscribe, network-initiated
deregistration and shortening on the status API, expiry, restart), every NOTIFY body checked
against the RFC 3680 structure with xml.etree, and the SUBSCRIBE errors sent raw."""

import os
import sys
import time
import urllib.parse
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from regevent_util import (D, IMPU, NS, UNBARRED, USER, Lab, Watcher,  # noqa: E402
                           check_reginfo, counter, header, notifies)
from test_pcscf_proxy import sip_raw, status_of  # noqa: E402


class RegEventTest(Lab):
    def test_subscribe_notify_unsubscribe(self):
        rc, trace, out = self.ue("ue_regevent_unsubscribe.xml")
        self.assertEqual(rc, 0, f"UE scenario failed:\n{out}\n{trace}\n{self.logs()}")
        ns = notifies(trace)
        self.assertEqual(len(ns), 2, trace)
        first, last = (check_reginfo(self, b) for _, b in ns)
        self.assertEqual([first.get("version"), last.get("version")], ["0", "1"])
        self.assertEqual(first.get("state"), "full")
        # to the UE: the unbarred IMPUs of its set, each active with its one contact
        self.assertEqual([r.get("aor") for r in first], UNBARRED)
        for reg in first:
            self.assertEqual(reg.get("state"), "active")
            (c,) = list(reg)
            self.assertEqual(c.get("state"), "active")
            self.assertEqual(c.get("event"), "registered")
            self.assertTrue(0 < int(c.get("expires")) <= 600)
            self.assertRegex(c.find(NS + "uri").text, rf"^sip:{USER}@127\.0\.0\.1:\d+;ob$")
            params = {p.get("name"): p.text for p in c.findall(NS + "unknown-param")}
            self.assertEqual(params.get("+sip.instance"), "<urn:uuid:0-1>")
            self.assertEqual(params.get("reg-id"), "1")
        head0, head1 = ns[0][0], ns[1][0]
        self.assertEqual(header(head0, "Event"), "reg")
        self.assertEqual(header(head0, "Content-Type"), "application/reginfo+xml")
        self.assertRegex(header(head0, "Subscription-State"), r"^active;expires=\d+$")
        self.assertTrue(header(head1, "Subscription-State").startswith("terminated"))
        # the NOTIFYs went along the Path, through the P-CSCF
        self.assertIn(f"Via: SIP/2.0/UDP 127.0.0.1:{self.pcscf.sip_port}", head0)
        st, body = self.registration()
        self.assertEqual(st, 200)
        self.assertEqual(body["subscriptions"], [])
        m = self.metrics()
        self.assertEqual(counter(m, "scscf_reg_notify_total", 'result="sent"'), 2)
        self.assertEqual(counter(m, "scscf_reg_notify_total", 'result="answered"'), 2)
        self.assertEqual(counter(m, "scscf_reg_subscribe_total", 'result="unsubscribed"'), 1)

    def test_over_tcp(self):
        rc, trace, out = self.ue("ue_regevent_unsubscribe.xml", transport="t1")
        self.assertEqual(rc, 0, f"UE scenario failed:\n{out}\n{trace}\n{self.logs()}")
        ns = notifies(trace)
        self.assertEqual([check_reginfo(self, b).get("version") for _, b in ns], ["0", "1"])
        self.assertIn("Via: SIP/2.0/TCP", ns[0][0])

    def network_deregistration(self, reason, event, state_reason):
        t, result = self.ue_background("ue_regevent_netdereg.xml")
        body = self.wait_subscribed(t)
        sub = body["subscriptions"][0]
        self.assertEqual(sub["subscriber"], "ue")
        self.assertEqual(sub["impu"], IMPU)
        self.assertEqual(sub["version"], 1)
        q = f"?reason={reason}" if reason else ""
        st, _, _ = harness.http("DELETE", self.scscf.url + "/api/v1/registrations/"
                                + urllib.parse.quote(IMPU, safe="") + q)
        self.assertEqual(st, 204)
        trace, ns = self.finish(t, result)
        self.assertEqual(len(ns), 2, trace)
        head, body = ns[1]
        self.assertEqual(header(head, "Subscription-State"), f"terminated;reason={state_reason}")
        root = check_reginfo(self, body)
        self.assertEqual(root.get("version"), "1")
        for reg in root:
            self.assertEqual(reg.get("state"), "terminated")
            for c in reg:
                self.assertEqual((c.get("state"), c.get("event")), ("terminated", event))
        self.assertEqual(self.registration()[0], 404)

    def test_network_deregistration_deactivated(self):
        self.network_deregistration(None, "deactivated", "noresource")

    def test_network_deregistration_rejected(self):
        self.network_deregistration("rejected", "rejected", "rejected")

    def test_shorten(self):
        t, result = self.ue_background("ue_regevent_shorten.xml")
        self.wait_subscribed(t)
        url = self.scscf.url + "/api/v1/registrations/" + urllib.parse.quote(IMPU, safe="")
        st, _, body = harness.http("POST", url + "/shorten", body={"expires": 0})
        self.assertEqual(st, 400)
        st, _, body = harness.http("POST", url + "/shorten", body={"expires": 120})
        self.assertEqual(st, 200, body)
        self.assertEqual(body["shortened"], 1)
        self.assertLessEqual(body["contacts"][0]["expires_in"], 120)
        trace, ns = self.finish(t, result)
        self.assertEqual(len(ns), 3, trace)
        root = check_reginfo(self, ns[1][1])
        for reg in root:
            (c,) = list(reg)
            self.assertEqual((c.get("state"), c.get("event")), ("active", "shortened"))
            self.assertLessEqual(int(c.get("expires")), 120)
        # the registration itself lives on, shortened
        st, body = self.registration()
        self.assertEqual(st, 200)
        self.assertLessEqual(body["contacts"][0]["expires_in"], 120)


class RegEventErrorsTest(Lab):
    """SUBSCRIBEs sent raw to the S-CSCF, next to a UE registered through the P-CSCF."""

    def scscf_extra(self):
        return ["--reg-sub-max-per-impu", "2", "--reg-sub-min-expires", "60"]

    def setUp(self):
        super().setUp()
        rc, trace, out = self.ue("pcscf_uac_register.xml")
        self.assertEqual(rc, 0, out + trace)

    def subscribe(self, extra, ruri=IMPU, user="98098765432100", to_tag=None):
        lines = [f"SUBSCRIBE {ruri} SIP/2.0",
                 "Via: SIP/2.0/UDP 127.0.0.1:LPORT;rport;branch=z9hG4bK" + uuid.uuid4().hex,
                 "Max-Forwards: 70",
                 f"From: <sip:{user}@{D}>;tag=" + uuid.uuid4().hex[:8],
                 f"To: <{ruri}>" + (f";tag={to_tag}" if to_tag else ""),
                 f"Call-ID: {uuid.uuid4().hex}", "CSeq: 1 SUBSCRIBE",
                 "Contact: <sip:ue@127.0.0.1:LPORT>"] + extra + ["Content-Length: 0", "", ""]
        resps = sip_raw(self.scscf.sip_port, "\n".join(lines))
        self.assertTrue(resps, self.logs())
        return resps[0]

    def assert_refused(self, resp, code):
        self.assertEqual(status_of(resp)[0], code, resp)
        self.assertRegex(resp, r'(?m)^Warning: 399 \S+ "[^"]+"')

    def test_errors(self):
        self.assert_refused(self.subscribe([]), 489)
        r = self.subscribe(["Event: presence"])
        self.assert_refused(r, 489)
        self.assertRegex(r, r"(?mi)^Allow-Events: reg")
        self.assert_refused(self.subscribe(["Event: reg", "Accept: application/sdp"]), 406)
        self.assert_refused(self.subscribe(["Event: reg", "Expires: soon"]), 400)
        r = self.subscribe(["Event: reg", "Expires: 10"])
        self.assert_refused(r, 423)
        self.assertRegex(r, r"(?mi)^Min-Expires: 60")
        self.assert_refused(self.subscribe(["Event: reg"], ruri=f"sip:nobody@{D}"), 480)
        self.assert_refused(self.subscribe(["Event: reg"], user="intruder"), 403)
        self.assert_refused(self.subscribe(["Event: reg"], to_tag="nosuchdialog"), 481)
        # nothing of it became a subscription
        st, body = self.registration()
        self.assertEqual(body["subscriptions"], [])

    def watcher(self):
        w = Watcher(self.scscf.sip_port)
        self.addCleanup(w.close)
        return w

    def test_caps(self):
        # watchers that stay (their NOTIFYs answered), so the cap of 2 per IMPU is in use
        ws = [self.watcher() for _ in range(3)]
        ok = ws[0].subscribe(["Event: reg", "Accept: application/reginfo+xml", "Expires: 300"])
        self.assertEqual(status_of(ok)[0], 200, ok)
        self.assertRegex(ok, r"(?mi)^Expires: 300")
        self.assertRegex(ok, r"(?mi)^Contact: <sip:127\.0\.0\.1:\d+>")
        self.assertIsNotNone(ws[0].notify())
        self.assertEqual(status_of(ws[1].subscribe(["Event: reg"]))[0], 200)
        self.assertIsNotNone(ws[1].notify())
        r = ws[2].subscribe(["Event: reg"])
        self.assert_refused(r, 503)
        self.assertRegex(r, r"(?mi)^Retry-After: \d+")
        st, body = self.registration()
        self.assertEqual(len(body["subscriptions"]), 2)
        self.assertEqual(counter(self.metrics(), "scscf_reg_subscriptions"), 2)


class RegEventTimersTest(Lab):
    """Subscriptions and bindings running out, and a watcher that never answers."""

    def scscf_extra(self):
        return ["--reg-sub-min-expires", "1", "--min-expires", "1"]

    def watcher(self):
        w = Watcher(self.scscf.sip_port)
        self.addCleanup(w.close)
        return w

    def test_subscription_expires(self):
        rc, trace, out = self.ue("pcscf_uac_register.xml")
        self.assertEqual(rc, 0, out)
        w = self.watcher()
        r = w.subscribe(["Event: reg", "Expires: 2"])
        self.assertEqual(status_of(r)[0], 200, r)
        self.assertRegex(r, r"(?mi)^Expires: 2")
        n = w.notify()
        self.assertRegex(n, r"(?mi)^Subscription-State: active;expires=[12]\r")
        n = w.notify(timeout=8)
        self.assertIsNotNone(n, self.logs())
        self.assertRegex(n, r"(?mi)^Subscription-State: terminated;reason=timeout\r")
        root = check_reginfo(self, n.split("\r\n\r\n", 1)[1])
        self.assertEqual(root.get("version"), "1")
        self.assertEqual(self.registration()[1]["subscriptions"], [])
        self.assertEqual(counter(self.metrics(), "scscf_reg_subscriptions_expired_total"), 1)

    def test_unanswered_notify_ends_subscription(self):
        rc, trace, out = self.ue("pcscf_uac_register.xml")
        self.assertEqual(rc, 0, out)
        w = self.watcher()
        self.assertEqual(status_of(w.subscribe(["Event: reg"]))[0], 200)
        self.assertIsNotNone(w.notify(answer=False))
        # nta retransmits, then gives up (Timer F: 64*T1, 4 s in the S-CSCF)
        deadline = time.time() + 20
        while time.time() < deadline and self.registration()[1]["subscriptions"]:
            time.sleep(0.2)
        self.assertEqual(self.registration()[1]["subscriptions"], [], self.logs())
        m = self.metrics()
        self.assertEqual(counter(m, "scscf_reg_notify_total", 'result="timed_out"'), 1)
        self.assertEqual(counter(m, "scscf_reg_subscriptions_lost_total"), 1)

    def test_binding_expires(self):
        rc, trace, out = self.ue("pcscf_uac_register.xml", expires=3)
        self.assertEqual(rc, 0, out)
        w = self.watcher()
        self.assertEqual(status_of(w.subscribe(["Event: reg"]))[0], 200)
        first = w.notify()
        self.assertIn('state="active"', first)
        n = w.notify(timeout=8)
        self.assertIsNotNone(n, self.logs())
        self.assertRegex(n, r"(?mi)^Subscription-State: terminated;reason=noresource\r")
        root = check_reginfo(self, n.split("\r\n\r\n", 1)[1])
        for reg in root:
            self.assertEqual(reg.get("state"), "terminated")
            (c,) = list(reg)
            self.assertEqual((c.get("state"), c.get("event")), ("terminated", "expired"))
        self.assertEqual(self.registration()[0], 404)


class RegEventContactsTest(Lab):
    """Two contacts of one IMPU: one leaving changes only its own <contact>."""

    def test_one_contact_unregisters(self):
        ports = [harness.free_port(), harness.free_port()]
        for port in ports:  # two devices: two instances
            rc, trace, out = self.ue("pcscf_uac_register.xml", port=port, instance=str(port))
            self.assertEqual(rc, 0, out)
        w = Watcher(self.scscf.sip_port)
        self.addCleanup(w.close)
        self.assertEqual(status_of(w.subscribe(["Event: reg"]))[0], 200)
        first = check_reginfo(self, w.notify().split("\r\n\r\n", 1)[1])
        for reg in first:
            self.assertEqual([c.get("state") for c in reg], ["active", "active"])
        # the second UE leaves: Expires 0 on its contact
        rc, trace, out = self.ue("pcscf_uac_register.xml", port=ports[1], expires=0,
                                 instance=str(ports[1]))
        self.assertEqual(rc, 0, out)
        n = w.notify()
        self.assertIsNotNone(n, self.logs())
        self.assertRegex(n, r"(?mi)^Subscription-State: active;expires=\d+\r")
        root = check_reginfo(self, n.split("\r\n\r\n", 1)[1])
        self.assertEqual(root.get("version"), "1")
        for reg in root:
            self.assertEqual(reg.get("state"), "active")
            got = {c.find(NS + "uri").text.split(":")[-1].split(";")[0]:
                   (c.get("state"), c.get("event")) for c in reg}
            self.assertEqual(got, {str(ports[0]): ("active", "registered"),
                                   str(ports[1]): ("terminated", "unregistered")})
        # ...and a refresh of the first is told as such
        rc, trace, out = self.ue("pcscf_uac_register.xml", port=ports[0], instance=str(ports[0]))
        self.assertEqual(rc, 0, out)
        root = check_reginfo(self, w.notify().split("\r\n\r\n", 1)[1])
        for reg in root:
            self.assertEqual([(c.get("state"), c.get("event")) for c in reg],
                             [("active", "refreshed")])


class RegEventRestartTest(Lab):
    """Subscriptions survive an S-CSCF restart with --state: the next NOTIFY continues the
    version count and reaches the UE along the same dialog."""

    def scscf_state(self):
        return os.path.join(harness.tmpdir(), "scscf.db")

    def test_restart_keeps_subscription(self):
        t, result = self.ue_background("ue_regevent_shorten.xml")
        before = self.wait_subscribed(t)["subscriptions"][0]
        self.assertEqual(self.scscf.stop(), 0)
        self.scscf = self.scscf.respawn()
        self.addCleanup(self.scscf.stop)
        st, body = self.registration()
        self.assertEqual(st, 200, self.logs())
        (after,) = body["subscriptions"]
        for k in ("call_id", "from_tag", "to_tag", "version", "remote_target", "route"):
            self.assertEqual(after[k], before[k], k)
        url = self.scscf.url + "/api/v1/registrations/" + urllib.parse.quote(IMPU, safe="")
        st, _, _ = harness.http("POST", url + "/shorten", body={"expires": 100})
        self.assertEqual(st, 200)
        trace, ns = self.finish(t, result)
        versions = [check_reginfo(self, b).get("version") for _, b in ns]
        self.assertEqual(versions, ["0", "1", "2"])


if __name__ == "__main__":
    harness.main()
