"""The P-CSCF's own reg event subscription (TS 24.229 5.2.3, SPEC §7) against the real
S-CSCF: made after the 200, seen on the S-CSCF's status API, its NOTIFY empties the P-CSCF's
cache at a network-initiated deregistration, and it is made again after a P-CSCF restart."""

import os
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from regevent_util import D, IMPU, Lab, counter  # noqa: E402


class PcscfRegSubscribeTest(Lab):
    """The P-CSCF's own subscription (TS 24.229 5.2.3): made after the 200, seen on the
    S-CSCF, and its NOTIFY empties the P-CSCF's cache at a network-initiated
    deregistration; after a restart the P-CSCF subscribes again."""

    def pcscf_extra(self):
        return ["--state", os.path.join(harness.tmpdir(), "pcscf.db")]

    def pcscf_subscription(self, exclude=()):
        deadline = time.time() + 15
        while time.time() < deadline:
            st, body = self.registration()
            subs = [x for x in (body.get("subscriptions", []) if st == 200 else [])
                    if x["subscriber"] == "pcscf" and x["call_id"] not in exclude]
            if subs:
                return subs[0]
            time.sleep(0.1)
        self.fail("no subscription of the P-CSCF on the S-CSCF\n" + self.logs())

    def pcscf_registration(self):
        return harness.http("GET", self.pcscf.url + "/api/v1/registrations/"
                            + urllib.parse.quote(IMPU, safe=""))[0]

    def pcscf_metrics(self):
        return harness.http("GET", self.pcscf.url + "/metrics")[2]

    def wait_pcscf_dropped(self):
        deadline = time.time() + 10
        while time.time() < deadline and self.pcscf_registration() != 404:
            time.sleep(0.1)
        self.assertEqual(self.pcscf_registration(), 404, self.logs())

    def test_subscribes_and_drops_on_network_deregistration(self):
        rc, trace, out = self.ue("pcscf_uac_register.xml")
        self.assertEqual(rc, 0, out)
        sub = self.pcscf_subscription()
        self.assertEqual(sub["impu"], IMPU)
        self.assertEqual(sub["watcher"], f"sip:pcscf.{D}")
        self.assertEqual(sub["remote_target"], f"sip:127.0.0.1:{self.pcscf.sip_port}")
        self.assertEqual(self.pcscf_registration(), 200)
        deadline = time.time() + 5
        while time.time() < deadline and \
                counter(self.pcscf_metrics(), "pcscf_reg_subscriptions") != 1:
            time.sleep(0.1)
        self.assertEqual(counter(self.pcscf_metrics(), "pcscf_reg_subscriptions"), 1)
        st, _, reg = harness.http("GET", self.pcscf.url + "/api/v1/registrations/"
                                  + urllib.parse.quote(IMPU, safe=""))
        self.assertEqual(reg["reg_subscription"]["state"], "active")
        self.assertEqual(reg["reg_subscription"]["call_id"], sub["call_id"])
        self.assertGreater(reg["reg_subscription"]["expires_in"], 3000)
        st, _, _ = harness.http("DELETE", self.scscf.url + "/api/v1/registrations/"
                                + urllib.parse.quote(IMPU, safe="") + "?reason=deactivated")
        self.assertEqual(st, 204)
        self.wait_pcscf_dropped()
        m = self.pcscf_metrics()
        self.assertGreaterEqual(counter(m, "pcscf_reg_notify_total", 'dialog="ours"'), 2)
        self.assertEqual(counter(m, "pcscf_reg_dropped_total"), 1)
        self.assertEqual(counter(m, "pcscf_reg_subscriptions"), 0)

    def test_subscribes_again_after_restart(self):
        rc, trace, out = self.ue("pcscf_uac_register.xml")
        self.assertEqual(rc, 0, out)
        old = self.pcscf_subscription()
        # stopped only once its first NOTIFY is answered: a NOTIFY that finds the P-CSCF
        # gone (ICMP unreachable) would end the old dialog before the restart
        deadline = time.time() + 5
        while time.time() < deadline and \
                not counter(self.pcscf_metrics(), "pcscf_reg_notify_total", 'dialog="ours"'):
            time.sleep(0.05)
        self.assertEqual(self.pcscf.stop(), 0)
        self.pcscf = self.pcscf.respawn()
        self.addCleanup(self.pcscf.stop)
        self.assertEqual(self.pcscf_registration(), 200)  # restored from --state
        new = self.pcscf_subscription(exclude=(old["call_id"],))
        self.assertNotEqual(new["call_id"], old["call_id"])
        st, _, _ = harness.http("DELETE", self.scscf.url + "/api/v1/registrations/"
                                + urllib.parse.quote(IMPU, safe="") + "?reason=rejected")
        self.assertEqual(st, 204)
        self.wait_pcscf_dropped()
        # the dialog from before the restart is no longer ours: its NOTIFY got 481
        deadline = time.time() + 5
        while time.time() < deadline and \
                not counter(self.pcscf_metrics(), "pcscf_reg_notify_total", 'dialog="unknown"'):
            time.sleep(0.1)
        self.assertEqual(counter(self.pcscf_metrics(), "pcscf_reg_notify_total",
                                 'dialog="unknown"'), 1, self.logs())


if __name__ == "__main__":
    harness.main()
