"""P-CSCF /metrics: every family is introduced by HELP and TYPE, and the failure counters
count the side that failed: a UE that never answers a terminating request is a UE timeout,
not an S-CSCF one (the S-CSCF stand-in is SIPp, the UE a plain UDP socket)."""

import os
import re
import socket
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from test_pcscf_proxy import Standin, request  # noqa: E402

D = harness.DOMAIN
USER = "432011123456791"


def metric(text, sample):
    m = re.search(r"(?m)^" + re.escape(sample) + r" (\d+)$", text)
    return int(m.group(1)) if m else None


class PcscfMetricsTest(unittest.TestCase):
    def test_every_family_has_help_and_type(self):
        p = harness.Pcscf(f"sip:127.0.0.1:{harness.free_port()}")
        self.addCleanup(p.stop)
        st, _, text = harness.http("GET", p.url + "/metrics")
        self.assertEqual(st, 200, text)
        helps, types, samples = {}, {}, 0
        for line in text.splitlines():
            m = re.match(r"# HELP (\S+) (.+)$", line)
            if m:
                self.assertNotIn(m.group(1), helps, f"HELP twice for {m.group(1)}")
                helps[m.group(1)] = m.group(2)
                continue
            m = re.match(r"# TYPE (\S+) (counter|gauge)$", line)
            if m:
                self.assertIn(m.group(1), helps, f"TYPE before HELP: {line}")
                types[m.group(1)] = m.group(2)
                continue
            m = re.match(r"([a-z_]+)(\{[^}]*\})? \d+$", line)
            self.assertTrue(m, f"not a sample line: {line!r}")
            name = m.group(1)
            self.assertIn(name, helps, f"{name} has no HELP before it")
            self.assertIn(name, types, f"{name} has no TYPE before it")
            if types[name] == "counter":
                self.assertTrue(name.endswith("_total"), f"counter {name} not named _total")
            samples += 1
        self.assertGreaterEqual(samples, 20, text)
        for kind in ("timeout", "unreachable"):
            self.assertEqual(metric(text, f'pcscf_ue_failures_total{{kind="{kind}"}}'), 0, text)
            self.assertEqual(metric(text, f'pcscf_scscf_failures_total{{kind="{kind}"}}'), 0,
                             text)

    def test_silent_ue_is_a_ue_timeout_not_an_scscf_one(self):
        standin = Standin(scenario="pcscf_standin_terminating.xml")
        self.addCleanup(standin.kill)
        p = harness.Pcscf(f"sip:127.0.0.1:{standin.port}", extra=["--timeout-ms", "1000"])
        self.addCleanup(p.stop)
        ue = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        ue.bind(("127.0.0.1", 0))
        self.addCleanup(ue.close)
        ue.settimeout(5)
        text = request("REGISTER", f"sip:{D}", extra=f"Contact: <sip:{USER}@127.0.0.1:5999>")
        ue.sendto(text.replace("LPORT", str(ue.getsockname()[1])).replace("\n", "\r\n").encode(),
                  ("127.0.0.1", p.sip_port))
        got = None
        for _ in range(10):  # 100, 200, then the MESSAGE the UE leaves unanswered
            data = ue.recv(65535).decode(errors="replace")
            if data.startswith("MESSAGE "):
                got = data
                break
        self.assertIsNotNone(got, p.log())
        deadline, metrics = time.time() + 15, ""
        while time.time() < deadline:
            _, _, metrics = harness.http("GET", p.url + "/metrics")
            if metric(metrics, 'pcscf_ue_failures_total{kind="timeout"}'):
                break
            time.sleep(0.2)
        self.assertEqual(metric(metrics, 'pcscf_ue_failures_total{kind="timeout"}'), 1, metrics)
        self.assertEqual(metric(metrics, 'pcscf_ue_failures_total{kind="unreachable"}'), 0)
        self.assertEqual(metric(metrics, 'pcscf_scscf_failures_total{kind="timeout"}'), 0,
                         metrics)
        self.assertEqual(metric(metrics, 'pcscf_scscf_failures_total{kind="unreachable"}'), 0)
        self.assertEqual(metric(metrics, 'pcscf_forwarded_total{method="terminating"}'), 1)
        # The S-CSCF heard why, from the reply table.
        deadline = time.time() + 10
        while time.time() < deadline and "408 Request Timeout" not in standin.trace():
            time.sleep(0.2)
        self.assertRegex(standin.trace(), r"SIP/2.0 408 Request Timeout - UE Did Not Answer")
        self.assertIn("the UE did not answer", p.log())


if __name__ == "__main__":
    unittest.main()
