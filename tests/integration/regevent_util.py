"""Shared by the reg event tests (test_scscf_regevent.py, test_pcscf_regevent.py): the lab of
three daemons with SIPp UEs, a raw SIP watcher, and the RFC 3680 check of a reginfo body."""

import os
import re
import socket
import sys
import threading
import time
import unittest
import urllib.parse
import uuid
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

D = harness.DOMAIN
USER = "432011123456791"
IMPU = f"sip:{USER}@{D}"
UNBARRED = [f"sip:98098765432100@{D}", "tel:98098765432100"]
NS = "{urn:ietf:params:xml:ns:reginfo}"
EVENTS = {"registered", "created", "refreshed", "shortened", "expired", "deactivated",
          "probation", "unregistered", "rejected"}


def notifies(trace):
    """Every NOTIFY request in a SIPp message trace, as (headers, body) text."""
    out = []
    for m in re.finditer(r"(?ms)^NOTIFY [^\n]*\n(.*?)\r?\n\r?\n(.*?)(?=\n-{10,}|\Z)", trace):
        head, rest = m.group(1), m.group(2)
        clen = re.search(r"(?mi)^Content-Length:\s*(\d+)", head)
        body = rest[: int(clen.group(1))] if clen else rest
        out.append((head, body))
    return out


def header(head, name):
    m = re.search(r"(?mi)^" + re.escape(name) + r":\s*([^\r\n]*)", head)
    return m.group(1).strip() if m else None


def check_reginfo(test, body):
    """Parses body and checks it against RFC 3680 §5.4: returns the root element."""
    root = ET.fromstring(body.encode())
    test.assertEqual(root.tag, NS + "reginfo")
    test.assertRegex(root.get("version", ""), r"^\d+$")
    test.assertIn(root.get("state"), ("full", "partial"))
    for reg in root:
        test.assertEqual(reg.tag, NS + "registration")
        test.assertTrue(reg.get("aor"))
        test.assertTrue(reg.get("id"))
        test.assertIn(reg.get("state"), ("init", "active", "terminated"))
        ids = set()
        for c in reg:
            test.assertEqual(c.tag, NS + "contact")
            test.assertTrue(c.get("id"))
            test.assertNotIn(c.get("id"), ids)
            ids.add(c.get("id"))
            test.assertIn(c.get("state"), ("active", "terminated"))
            test.assertIn(c.get("event"), EVENTS)
            for num in ("expires", "duration-registered", "retry-after", "cseq"):
                if c.get(num) is not None:
                    test.assertRegex(c.get(num), r"^\d+$")
            kids = list(c)
            test.assertEqual(kids[0].tag, NS + "uri")
            test.assertTrue(kids[0].text)
            for k in kids[1:]:
                test.assertIn(k.tag, (NS + "display-name", NS + "unknown-param"))
                if k.tag == NS + "unknown-param":
                    test.assertTrue(k.get("name"))
        if reg.get("state") == "active":
            test.assertTrue(any(c.get("state") == "active" for c in reg))
    return root


class Watcher:
    """A raw SIP endpoint on its own UDP socket that subscribes straight to the S-CSCF and
    reads what comes back: responses and NOTIFYs, answered 200 or left unanswered."""

    def __init__(self, scscf_port, user="98098765432100"):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.scscf = ("127.0.0.1", scscf_port)
        self.user = user

    def close(self):
        self.sock.close()

    def subscribe(self, extra, ruri=IMPU):
        self.call_id = uuid.uuid4().hex
        lines = [f"SUBSCRIBE {ruri} SIP/2.0",
                 f"Via: SIP/2.0/UDP 127.0.0.1:{self.port};rport;branch=z9hG4bK"
                 + uuid.uuid4().hex,
                 "Max-Forwards: 70",
                 f"From: <sip:{self.user}@{D}>;tag=" + uuid.uuid4().hex[:8],
                 f"To: <{ruri}>", f"Call-ID: {self.call_id}", "CSeq: 1 SUBSCRIBE",
                 f"Contact: <sip:ue@127.0.0.1:{self.port}>"] + extra
        self.sock.sendto(("\r\n".join(lines + ["Content-Length: 0", "", ""])).encode(),
                         self.scscf)
        return self.read(lambda m: m.startswith("SIP/2.0") and self.call_id in m)

    def read(self, want, timeout=10):
        """The first message for which want(text) is true (others are dropped)."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            self.sock.settimeout(max(0.05, deadline - time.time()))
            try:
                data, _ = self.sock.recvfrom(65535)
            except socket.timeout:
                break
            text = data.decode(errors="replace")
            if want(text):
                return text
        return None

    def notify(self, answer=True, timeout=10):
        n = self.read(lambda m: m.startswith("NOTIFY "), timeout)
        if n and answer:
            head = n.split("\r\n\r\n", 1)[0].split("\r\n")
            keep = [h for h in head[1:] if re.match(r"(?i)(Via|From|To|Call-ID|CSeq):", h)]
            resp = "\r\n".join(["SIP/2.0 200 OK"] + keep + ["Content-Length: 0", "", ""])
            self.sock.sendto(resp.encode(), self.scscf)
        return n


def counter(text, name, label=None):
    pat = re.escape(name) + (r"\{[^}]*" + re.escape(label) + r"[^}]*\}" if label else "")
    m = re.search(r"(?m)^" + pat + r" (\d+)", text)
    return int(m.group(1)) if m else None


class Lab(unittest.TestCase):
    """hss-stub, scscf and pcscf with the demo subscriber; SIPp UEs through the P-CSCF."""

    def setUp(self):
        self.hss = harness.Hss()
        self.addCleanup(self.hss.stop)
        self.hss.provision(harness.DEMO)
        self.state = self.scscf_state()
        self.scscf = harness.Scscf(self.hss.url, extra=self.scscf_extra(), state=self.state)
        self.addCleanup(self.scscf.stop)
        self.pcscf = harness.Pcscf(f"sip:127.0.0.1:{self.scscf.sip_port}",
                                   extra=self.pcscf_extra())
        self.addCleanup(self.pcscf.stop)

    def scscf_extra(self):
        return []

    def pcscf_extra(self):
        # the P-CSCF's own subscription has its tests below; here only the UE's counts
        return ["--reg-subscribe", "off"]

    def scscf_state(self):
        return ":memory:"

    def logs(self):
        return "\n".join(f"--- {d.name}\n{d.log()[-4000:]}" for d in (self.pcscf, self.scscf))

    def ue(self, scenario, port=None, expires=600, instance="0-1", transport="u1"):
        port = port or harness.free_port()
        contact = (f"<sip:{USER}@127.0.0.1:{port};ob>"
                   f";+sip.instance=\"<urn:uuid:{instance}>\";reg-id=1")
        return harness.sipp(scenario, f"127.0.0.1:{self.pcscf.sip_port}", timeout=40,
                            extra=["-key", "domain", D, "-key", "user", USER, "-key", "expires",
                                   str(expires), "-key", "contact", contact, "-p", str(port),
                                   "-t", transport, "-au", USER, "-ap", "1234", "-auth_uri", D])

    def ue_background(self, scenario):
        result = {}
        t = threading.Thread(target=lambda: result.update(out=self.ue(scenario)))
        t.start()
        return t, result

    def registration(self):
        st, _, body = harness.http("GET", self.scscf.url + "/api/v1/registrations/"
                                   + urllib.parse.quote(IMPU, safe=""))
        return st, body

    def metrics(self):
        return harness.http("GET", self.scscf.url + "/metrics")[2]

    def wait_subscribed(self, t):
        """Until the UE's subscription exists and its first NOTIFY was answered."""
        deadline = time.time() + 20
        while time.time() < deadline and t.is_alive():
            st, body = self.registration()
            if st == 200 and body.get("subscriptions") and \
                    (counter(self.metrics(), "scscf_reg_notify_total", 'result="answered"') or 0):
                return body
            time.sleep(0.1)
        self.fail("the UE never got subscribed\n" + self.logs())

    def finish(self, t, result):
        t.join(60)
        rc, trace, out = result["out"]
        self.assertEqual(rc, 0, f"UE scenario failed:\n{out}\n{trace}\n{self.logs()}")
        ns = notifies(trace)
        for _, body in ns:
            check_reginfo(self, body)
        return trace, ns
