"""The UE test controls on the real chain UE -> pcscf -> scscf -> hss-stub: SIPp registers
(digest and AKA) while `curl -N` reads the event streams of both CSCFs; both timelines
export pcaps that tshark opens and finds the REGISTER, 401 and 200 in; the P-CSCF's
transport faults (drop, delay) act on real UEs; no secret reaches a timeline, event or pcap."""

import json
import os
import re
import shutil
import subprocess
import sys
import time
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402
from scscf_util import Ue, aka_ue, sipp_aka  # noqa: E402

D = H.DOMAIN
USER = "432011123456791"
AKA_SUB = {"imsi": "432011000000001", "msisdn": "98000000000001",
           "auth": {"scheme": "aka", "k": "494d536c61624b657930313233343536",
                    "op": "494d536c61624f7056616c7565373839", "amf": "4142"}}


class Curl:
    """`curl -N` on an event stream, its output collected in a file."""

    def __init__(self, url):
        if shutil.which("curl") is None:
            raise unittest.SkipTest("curl is not installed")
        self.path = os.path.join(H.tmpdir("ims-sse-"), "events.txt")
        self.out = open(self.path, "wb")
        self.p = subprocess.Popen(["curl", "-sN", "--max-time", "60", url], stdout=self.out,
                                  stderr=subprocess.DEVNULL)

    def text(self):
        with open(self.path, "rb") as f:
            return f.read().decode(errors="replace")

    def wait_for(self, needle, timeout=10):
        end = time.time() + timeout
        while time.time() < end:
            if needle in self.text():
                return self.text()
            time.sleep(0.1)
        raise AssertionError(f"{needle!r} not in the stream:\n{self.text()}")

    def events(self):
        return [json.loads(line[6:]) for line in self.text().splitlines()
                if line.startswith("data: ")]

    def stop(self):
        if self.p.poll() is None:
            self.p.terminate()
            self.p.wait(timeout=5)
        self.out.close()


def tshark(pcap_bytes):
    if shutil.which("tshark") is None:
        raise unittest.SkipTest("tshark is not installed")
    path = os.path.join(H.tmpdir("ims-pcap-"), "ue.pcap")
    with open(path, "wb") as f:
        f.write(pcap_bytes)
    p = subprocess.run(["tshark", "-o", "tcp.try_heuristic_first:TRUE", "-r", path, "-Y", "sip",
                        "-T", "fields", "-e", "sip.Method", "-e", "sip.Status-Code",
                        "-e", "ip.src", "-e", "udp.srcport", "-e", "sip.CSeq"],
                       capture_output=True, text=True, timeout=60)
    if p.returncode != 0:
        raise AssertionError(f"tshark failed: {p.stderr}")
    return [line.split("\t") for line in p.stdout.splitlines()]


class ChainTimeline(unittest.TestCase):
    def setUp(self):
        self.hss = H.Hss()
        self.addCleanup(self.hss.stop)
        self.hss.provision(H.DEMO)
        self.scscf = H.Scscf(self.hss.url)
        self.addCleanup(self.scscf.stop)
        # These tests count the REGISTER exchange; the reg event subscription the P-CSCF
        # makes after it (on by default) is in the S-CSCF's timeline too, tested in
        # test_ue_timeline_regevent.py.
        self.pcscf = H.Pcscf(f"sip:127.0.0.1:{self.scscf.sip_port}",
                             extra=["--reg-subscribe", "off"])
        self.addCleanup(self.pcscf.stop)

    def sipp_register(self, user=USER, scenario="pcscf_uac_register.xml", password="1234"):
        port = H.free_port()
        return H.sipp(scenario, f"127.0.0.1:{self.pcscf.sip_port}",
                      extra=["-key", "domain", D, "-key", "user", user, "-key", "expires", "300",
                             "-key", "contact", f"<sip:{user}@127.0.0.1:{port};ob>",
                             "-p", str(port), "-t", "u1", "-au", user, "-ap", password,
                             "-auth_uri", D])

    def pcap(self, daemon, imsi):
        st, h, body = H.http("GET", f"{daemon.url}/api/v1/timeline/pcap?imsi={imsi}")
        self.assertEqual(st, 200, body)
        self.assertEqual(h["content-type"], "application/vnd.tcpdump.pcap")
        return body

    def raw_pcap(self, daemon, imsi):
        import urllib.request
        with urllib.request.urlopen(f"{daemon.url}/api/v1/timeline/pcap?imsi={imsi}") as r:
            return r.read()

    def test_sse_pcap_digest(self):
        scscf_ev = Curl(f"{self.scscf.url}/api/v1/events?imsi={USER}")
        self.addCleanup(scscf_ev.stop)
        pcscf_ev = Curl(f"{self.pcscf.url}/api/v1/events?impu=" +
                        urllib.parse.quote(f"sip:{USER}@{D}", safe=""))
        self.addCleanup(pcscf_ev.stop)
        other_ev = Curl(f"{self.scscf.url}/api/v1/events?imsi=001010000000999")
        self.addCleanup(other_ev.stop)
        for c in (scscf_ev, pcscf_ev, other_ev):
            c.wait_for(": connected")
        rc, trace, out = self.sipp_register()
        self.assertEqual(rc, 0, out + trace)
        scscf_ev.wait_for('"status":200')
        pcscf_ev.wait_for('"status":200')
        ev = scscf_ev.events()
        self.assertEqual([e.get("status") for e in ev if e["kind"] == "response"], [401, 200])
        self.assertEqual([e.get("hint_id") for e in ev if e["kind"] == "response"],
                         ["challenged", "registered"])
        self.assertTrue(all(e["daemon"] == "scscf" for e in ev))
        pev = pcscf_ev.events()
        self.assertEqual([e.get("status") for e in pev if e["kind"] == "response"], [401, 200])
        self.assertTrue(all(e["daemon"] == "pcscf" for e in pev))
        self.assertEqual({e.get("hint_id") for e in pev if e["kind"] == "response"},
                         {"forwarded"})
        self.assertNotIn("data:", other_ev.text())  # another UE's stream stays quiet
        # ids: one sequence, strictly increasing
        ids = [int(x) for x in re.findall(r"(?m)^id: (\d+)$", scscf_ev.text())]
        self.assertEqual(ids, sorted(set(ids)))
        # pcaps from both CSCFs: tshark finds REGISTER, 401, REGISTER, 200
        for daemon, ue_side in ((self.pcscf, True), (self.scscf, False)):
            rows = tshark(self.raw_pcap(daemon, USER))
            seen = [r[0] or r[1] for r in rows]
            self.assertEqual(seen, ["REGISTER", "401", "REGISTER", "200"], rows)
        # the P-CSCF's view: the UE's own address and port in the capture
        rows = tshark(self.raw_pcap(self.pcscf, USER))
        self.assertEqual(rows[0][2], "127.0.0.1")
        self.assertNotEqual(rows[0][3], str(self.scscf.sip_port))
        st, _, m = H.http("GET", self.scscf.url + "/metrics")
        self.assertRegex(m, r"(?m)^scscf_timeline_entries [1-9]")
        self.assertRegex(m, r"(?m)^scscf_event_streams 2$")

    def test_aka_no_secrets_anywhere(self):
        self.hss.provision(AKA_SUB)
        user = AKA_SUB["imsi"]
        s_ev = Curl(f"{self.scscf.url}/api/v1/events")
        self.addCleanup(s_ev.stop)
        p_ev = Curl(f"{self.pcscf.url}/api/v1/events")
        self.addCleanup(p_ev.stop)
        s_ev.wait_for(": connected")
        p_ev.wait_for(": connected")
        rc, trace, out, attempts = sipp_aka(
            self, lambda: self.sipp_register(user=user, scenario="e2e_uac_register_aka.xml",
                                             password="unused"),
            AKA_SUB["auth"]["k"], AKA_SUB["auth"]["op"])
        self.assertEqual(rc, 0, out + trace)
        s_ev.wait_for('"status":200')
        nonce = re.search(r'nonce="([^"]+)"', trace).group(1)
        v = aka_ue(AKA_SUB["auth"]["k"], AKA_SUB["auth"]["op"], nonce, opc=False)
        blobs = [s_ev.text(), p_ev.text()]
        for d in (self.scscf, self.pcscf):
            st, _, doc = H.http("GET", f"{d.url}/api/v1/timeline?imsi={user}")
            blobs.append(json.dumps(doc))
            blobs.append(self.raw_pcap(d, user).decode("latin-1"))
        everything = "\n".join(blobs).lower()
        self.assertIn('ck=\\"redacted\\"', s_ev.text())  # the S-CSCF's 401 toward the P-CSCF
        for secret in (v["ck"], v["ik"], v["res"], AKA_SUB["auth"]["k"], AKA_SUB["auth"]["op"]):
            self.assertNotIn(secret.lower(), everything)

    def test_pcscf_transport_faults(self):
        st, _, r = H.http("POST", self.pcscf.url + "/api/v1/faults",
                          {"match": {"imsi": USER, "stage": "initial"}, "action": {"drop": True}})
        self.assertEqual(st, 201, r)
        st, _, e = H.http("POST", self.pcscf.url + "/api/v1/faults",
                          {"action": {"reply": 503}})
        self.assertEqual(st, 400, e)
        self.assertIn("transport faults only", e["message"])
        ue = Ue(self.pcscf.sip_port, USER)
        self.addCleanup(ue.close)
        with self.assertRaises(OSError):
            ue.register(path=False, timeout=1.5)
        self.assertEqual(ue.register(path=False).status, 401)
        st, _, r = H.http("POST", self.pcscf.url + "/api/v1/faults",
                          {"match": {"imsi": USER}, "action": {"delay_ms": 1500,
                                                               "target": "answer"}})
        self.assertEqual(st, 201, r)
        t0 = time.time()
        self.assertEqual(ue.register(path=False, timeout=5).status, 401)
        self.assertGreaterEqual(time.time() - t0, 1.4)
        st, _, doc = H.http("GET", f"{self.pcscf.url}/api/v1/timeline?imsi={USER}")
        hints = [e.get("hint_id") for e in doc["items"]]
        self.assertGreaterEqual(hints.count("fault_fired"), 2, doc)
        st, _, m = H.http("GET", self.pcscf.url + "/metrics")
        self.assertIn('pcscf_faults_fired_total{action="drop"} 1', m)
        self.assertIn('pcscf_faults_fired_total{action="delay_ms"} 1', m)


if __name__ == "__main__":
    H.main()
