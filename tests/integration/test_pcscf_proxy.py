"""P-CSCF against a SIPp S-CSCF stand-in: what the P-CSCF adds on the wire (checked by
SIPp regexps in the stand-in and again here on the traces), what the UE gets back, the
status API, NAT alias, TCP, and the failure paths (silent/unreachable S-CSCF, bad input)."""

import os
import re
import socket
import subprocess
import sys
import time
import unittest
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

D = harness.DOMAIN
USER = "432011123456791"


class Standin:
    """SIPp UAS playing the S-CSCF, in the background, bounded by -timeout."""

    def __init__(self, transport="u1", scenario="pcscf_standin_scscf.xml", calls=1, granted=270):
        self.work = harness.tmpdir("ims-standin-")
        kind = socket.SOCK_STREAM if transport.startswith("t") else socket.SOCK_DGRAM
        # free_port() can race with other processes: retry on a fresh port if SIPp dies.
        for _ in range(3):
            self.port = harness.free_port()
            argv = ["sipp", "-sf", os.path.join(harness.SIPP_DIR, scenario), "-i", "127.0.0.1",
                    "-p", str(self.port), "-t", transport, "-m", str(calls), "-timeout", "40s",
                    "-timeout_error", "-nostdin", "-trace_msg", "-message_file",
                    os.path.join(self.work, "msg.log"), "-trace_err", "-error_file",
                    os.path.join(self.work, "err.log"), "-key", "granted", str(granted)]
            self.proc = subprocess.Popen(argv, cwd=self.work, stdout=subprocess.PIPE,
                                         stderr=subprocess.STDOUT, start_new_session=True)
            if self._wait_bound(kind):
                return
            if self.proc.poll() is None:
                self.proc.kill()
            out = self.proc.communicate()[0].decode(errors="replace")
        raise RuntimeError(f"SIPp stand-in did not start: {out}")

    def _wait_bound(self, kind, timeout=15):
        """Ready once SIPp holds its port (our own bind attempt fails)."""
        deadline = time.time() + timeout
        while time.time() < deadline and self.proc.poll() is None:
            probe = socket.socket(socket.AF_INET, kind)
            try:
                probe.bind(("127.0.0.1", self.port))
            except OSError:
                return True
            finally:
                probe.close()
            time.sleep(0.05)
        return False

    def wait(self, timeout=45):
        try:
            out = self.proc.communicate(timeout=timeout)[0].decode(errors="replace")
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out = self.proc.communicate()[0].decode(errors="replace")
        return self.proc.returncode, self.trace(), out

    def trace(self):
        p = os.path.join(self.work, "msg.log")
        if not os.path.exists(p):
            return ""
        with open(p, errors="replace") as f:
            return f.read()

    def errors(self):
        p = os.path.join(self.work, "err.log")
        return open(p, errors="replace").read() if os.path.exists(p) else ""

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate()


def sip_raw(port, text, transport="udp", want=1, timeout=5.0):
    """Sends one raw SIP message and returns the responses read (status lines first)."""
    data = text.replace("\n", "\r\n").encode()
    res = []
    if transport == "udp":
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", 0))
    else:
        s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.settimeout(timeout)
    try:
        lport = s.getsockname()[1]
        data = data.replace(b"LPORT", str(lport).encode())
        if transport == "udp":
            s.sendto(data, ("127.0.0.1", port))
        else:
            s.sendall(data)
        buf = b""
        deadline = time.time() + timeout
        while len(res) < want and time.time() < deadline:
            try:
                chunk = s.recv(65535)
            except socket.timeout:
                break
            if transport == "udp":
                res.append(chunk.decode(errors="replace"))
            else:
                buf += chunk
                while b"\r\n\r\n" in buf:
                    head, buf = buf.split(b"\r\n\r\n", 1)
                    res.append(head.decode(errors="replace"))
    finally:
        s.close()
    return res


def request(method, ruri, extra="", mf=70, user=USER, route=True, call_id=None):
    call_id = call_id or uuid.uuid4().hex
    lines = [f"{method} {ruri} SIP/2.0",
             "Via: SIP/2.0/UDP 127.0.0.1:LPORT;rport;branch=z9hG4bK" + uuid.uuid4().hex,
             f"Max-Forwards: {mf}",
             f"From: <sip:{user}@{D}>;tag=" + uuid.uuid4().hex[:8],
             f"To: <sip:{user}@{D}>",
             f"Call-ID: {call_id}",
             f"CSeq: 1 {method}"]
    if route:
        lines.append(f"Route: <sip:pcscf.{D};lr>")
    if extra:
        lines += extra.strip("\n").split("\n")
    lines += ["Content-Length: 0", "", ""]
    return "\n".join(lines)


def status_of(resp):
    m = re.match(r"SIP/2.0 (\d{3}) ([^\r\n]*)", resp)
    return (int(m.group(1)), m.group(2)) if m else (0, "")


def finals(resps):
    return [r for r in resps if status_of(r)[0] >= 200]


class PcscfStandinTest(unittest.TestCase):
    def start(self, standin_transport="u1", extra=None, scscf=None,
              scenario="pcscf_standin_scscf.xml", granted=270):
        self.standin = Standin(standin_transport, scenario=scenario, granted=granted)
        self.addCleanup(self.standin.kill)
        tp = ";transport=tcp" if standin_transport == "t1" else ""
        uri = scscf or f"sip:127.0.0.1:{self.standin.port}{tp}"
        self.pcscf = harness.Pcscf(uri, extra=extra)
        self.addCleanup(self.pcscf.stop)
        return self.pcscf

    def register(self, contact_port=None, transport="u1", expires=300):
        p = self.pcscf
        ue_port = harness.free_port()
        keys = ["-key", "domain", D, "-key", "user", USER, "-key", "expires", str(expires),
                "-key", "contact", f"<sip:{USER}@127.0.0.1:{contact_port or ue_port};ob>",
                "-p", str(ue_port),
                "-t", transport, "-au", USER, "-ap", "1234", "-auth_uri", D]
        rc, trace, out = harness.sipp("pcscf_uac_register.xml", f"127.0.0.1:{p.sip_port}",
                                      extra=keys)
        return rc, trace, out, ue_port

    def check_standin(self):
        rc, trace, out = self.standin.wait()
        self.assertEqual(rc, 0, f"stand-in failed:\n{out}\n{self.standin.errors()}\n{trace}")
        return trace

    def test_register_headers_on_the_wire_and_back(self):
        p = self.start()
        rc, ue_trace, out, ue_port = self.register()
        self.assertEqual(rc, 0, f"UE scenario failed:\n{out}\n{ue_trace}\n{p.log()}")
        sc = self.check_standin()
        regs = [b for b in sc.split("message received")[1:] if "REGISTER sip:" in b[:400]]
        self.assertEqual(len(regs), 2, sc)
        first = regs[0]
        self.assertNotIn(f"Route: <sip:pcscf.{D};lr>", first)
        self.assertIn(f"Path: <sip:term@pcscf.{D};lr>", first)
        self.assertRegex(first, r"(?m)^Max-Forwards: 69\r?$")
        self.assertRegex(first, r"(?m)^Supported: [^\r\n]*path")
        self.assertIn("User-Agent: MicroSIP/3.21.5", first)
        self.assertIn("Allow: PRACK, INVITE, ACK, BYE, CANCEL, UPDATE, INFO, SUBSCRIBE, NOTIFY, "
                      "REFER, MESSAGE, OPTIONS", first)
        vias = re.findall(r"(?m)^Via: ([^\r\n]*)", first)
        self.assertGreaterEqual(len(vias), 2, first)
        self.assertRegex(vias[-1], rf"127\.0\.0\.1:{ue_port};.*rport={ue_port}")
        # Contact equals the packet's source: no alias.
        self.assertIn(f"Contact: <sip:{USER}@127.0.0.1:{ue_port};ob>", first)
        icids = [re.search(r"icid-value=([0-9a-f]+)", r).group(1) for r in regs]
        self.assertNotEqual(icids[0], icids[1], "icid-value must be unique per request")
        # What the UE saw.
        self.assertRegex(ue_trace, r"SIP/2.0 100 Trying")
        m401 = re.search(r"SIP/2.0 401[^\n]*\n(.*?)\r?\n\r?\n", ue_trace, re.S)
        self.assertIsNotNone(m401, ue_trace)
        www = re.search(r"WWW-Authenticate: ([^\r\n]*)", m401.group(1)).group(1)
        self.assertIn('nonce="9141ed3a3de48a878ba1467f9cfa0a88"', www)
        self.assertNotRegex(www, r"(?i)\b(ck|ik)=")
        self.assertIn(f"Path: <sip:term@pcscf.{D};lr>", m401.group(1))
        m200 = re.search(r"SIP/2.0 200 OK[^\n]*\n(.*?)\r?\n\r?\n", ue_trace, re.S)
        self.assertIsNotNone(m200, ue_trace)
        ok = m200.group(1)
        self.assertIn(f"P-Associated-URI: <sip:98098765432100@{D}>, <tel:98098765432100>", ok)
        self.assertIn(f"Service-Route: <sip:orig@scscf.{D}:6060;lr>", ok)
        self.assertEqual(len(re.findall(r"(?m)^Via:", ok)), 1, ok)
        # Keys are never logged.
        log = p.log()
        self.assertNotIn("00112233445566778899aabbccddeeff", log)
        self.assertNotIn("ffeeddccbbaa99887766554433221100", log)
        # Status API.
        st, _, body = harness.http("GET", p.url + "/api/v1/registrations")
        self.assertEqual(st, 200)
        self.assertEqual(body["total"], 1, body)
        item = body["items"][0]
        self.assertEqual(item["impu"], f"sip:{USER}@{D}")
        self.assertEqual(item["impi"], f"{USER}@{D}")
        self.assertEqual(item["associated_uris"], [f"sip:98098765432100@{D}", "tel:98098765432100"])
        self.assertEqual(item["service_route"], [f"sip:orig@scscf.{D}:6060;lr"])
        c = item["contacts"][0]
        self.assertEqual(c["user_agent"], "MicroSIP/3.21.5")
        self.assertEqual(c["received"], f"127.0.0.1:{ue_port}")
        self.assertTrue(0 < c["expires_in"] <= 270, c)
        self.assertEqual(c["path"], [f"<sip:term@pcscf.{D};lr>"])
        st, _, one = harness.http("GET", p.url + f"/api/v1/registrations/sip:{USER}@{D}")
        self.assertEqual(st, 200, one)
        st, _, metrics = harness.http("GET", p.url + "/metrics")
        self.assertEqual(st, 200)
        self.assertRegex(metrics, r'pcscf_forwarded_total\{method="REGISTER"\} 2')
        self.assertRegex(metrics, r"(?m)^pcscf_bindings 1$")
        st, _, h = harness.http("GET", p.url + "/healthz")
        self.assertEqual((st, h), (200, {"status": "ok"}))
        self.assertEqual(p.stop(), 0, p.log())

    def test_binding_forgotten_at_expiry(self):
        p = self.start(granted=2)
        rc, ue_trace, out, ue_port = self.register()
        self.assertEqual(rc, 0, f"{out}\n{ue_trace}\n{p.log()}")
        self.check_standin()
        st, _, body = harness.http("GET", p.url + "/api/v1/registrations")
        self.assertEqual(body["total"], 1, body)
        deadline = time.time() + 15
        while time.time() < deadline and body["total"] != 0:
            time.sleep(0.25)
            st, _, body = harness.http("GET", p.url + "/api/v1/registrations")
        self.assertEqual(body["total"], 0, body)
        self.assertIn("expired", p.log())

    def test_status_api_delete_needs_token(self):
        p = self.start(extra=["--token", "s3cret"])
        rc, ue_trace, out, ue_port = self.register()
        self.assertEqual(rc, 0, f"{out}\n{ue_trace}\n{p.log()}")
        self.check_standin()
        url = p.url + f"/api/v1/registrations/sip:{USER}@{D}"
        st, _, body = harness.http("DELETE", url)
        self.assertEqual(st, 401, body)
        self.assertEqual(harness.http("GET", url)[0], 200)
        st, _, body = harness.http("DELETE", url, headers={"Authorization": "Bearer s3cret"})
        self.assertEqual(st, 204, body)
        self.assertEqual(harness.http("GET", url)[0], 404)
        st, _, body = harness.http("DELETE", url, headers={"Authorization": "Bearer s3cret"})
        self.assertEqual(st, 404, body)
        self.assertNotIn("s3cret", p.log())

    def test_nat_alias_when_source_differs_from_contact(self):
        p = self.start()
        rc, ue_trace, out, ue_port = self.register(contact_port=5999)
        self.assertEqual(rc, 0, f"{out}\n{ue_trace}\n{p.log()}")
        sc = self.check_standin()
        self.assertIn(f"Contact: <sip:{USER}@127.0.0.1:5999;alias=127.0.0.1~{ue_port}~1;ob>", sc)
        st, _, body = harness.http("GET", p.url + "/api/v1/registrations")
        self.assertIn(f"alias=127.0.0.1~{ue_port}~1", body["items"][0]["contacts"][0]["uri"])

    def test_ue_over_tcp_scscf_over_udp(self):
        p = self.start()
        rc, ue_trace, out, ue_port = self.register(transport="t1")
        self.assertEqual(rc, 0, f"{out}\n{ue_trace}\n{p.log()}")
        sc = self.check_standin()
        self.assertRegex(sc, r"Via: SIP/2.0/TCP 127\.0\.0\.1")
        st, _, body = harness.http("GET", p.url + "/api/v1/registrations")
        self.assertEqual(body["items"][0]["contacts"][0]["transport"], "tcp")

    def test_ue_over_udp_scscf_over_tcp_large_message(self):
        p = self.start(standin_transport="t1")
        # A 3 KB header makes the request too large for UDP framing on some hops.
        big = "X-Padding: " + "a" * 3000
        # Raw UE: REGISTER over UDP; the P-CSCF must reach the TCP-only stand-in.
        resps = sip_raw(p.sip_port, request("REGISTER", f"sip:{D}",
                        extra=f"Contact: <sip:{USER}@127.0.0.1:LPORT>\nExpires: 300\n{big}"),
                        want=2)
        self.assertTrue(any(status_of(r)[0] == 401 for r in resps), f"{resps}\n{p.log()}")
        self.standin.kill()

    def test_silent_scscf_gets_504_with_warning_in_bounded_time(self):
        hole = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        hole.bind(("127.0.0.1", 0))
        self.addCleanup(hole.close)
        port = hole.getsockname()[1]
        p = self.start(scscf=f"sip:127.0.0.1:{port};transport=udp",
                       extra=["--timeout-ms", "1500"])
        self.standin.kill()
        # While that REGISTER waits for the silent S-CSCF, another UE is served: its
        # OPTIONS answer arrives before the REGISTER's final answer.
        reg = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        reg.bind(("127.0.0.1", 0))
        self.addCleanup(reg.close)
        reg.settimeout(10)
        text = request("REGISTER", f"sip:{D}", extra=f"Contact: <sip:{USER}@127.0.0.1:LPORT>")
        reg.sendto(text.replace("LPORT", str(reg.getsockname()[1])).replace(
            "\n", "\r\n").encode(), ("127.0.0.1", p.sip_port))
        resps = [reg.recv(65535).decode()]
        self.assertEqual(status_of(resps[0])[0], 100, resps)
        ok = sip_raw(p.sip_port, request("OPTIONS", f"sip:pcscf.{D}", route=False))
        self.assertEqual(status_of(ok[0])[0], 200, ok)
        resps.append(reg.recv(65535).decode())
        fin = finals(resps)
        self.assertTrue(fin, f"no final answer: {resps}\n{p.log()}")
        self.assertEqual(status_of(fin[0]), (504, "Server Time-out - S-CSCF Did Not Answer"))
        self.assertRegex(fin[0], r'(?m)^Warning: 399 \S+ "[^"]+"')
        # Still serving others.
        ok = sip_raw(p.sip_port, request("OPTIONS", f"sip:pcscf.{D}", route=False))
        self.assertEqual(status_of(ok[0])[0], 200, ok)

    def test_sigterm_answers_pending_requests_and_exits_cleanly(self):
        hole = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        hole.bind(("127.0.0.1", 0))
        self.addCleanup(hole.close)
        p = self.start(scscf=f"sip:127.0.0.1:{hole.getsockname()[1]}")
        self.standin.kill()
        ue = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        ue.bind(("127.0.0.1", 0))
        self.addCleanup(ue.close)
        ue.settimeout(5)
        text = request("REGISTER", f"sip:{D}", extra=f"Contact: <sip:{USER}@127.0.0.1:LPORT>")
        ue.sendto(text.replace("LPORT", str(ue.getsockname()[1])).replace("\n", "\r\n")
                  .encode(), ("127.0.0.1", p.sip_port))
        self.assertEqual(status_of(ue.recv(65535).decode())[0], 100)
        hole.recv(65535)  # the REGISTER reached the (silent) S-CSCF: it is pending now
        self.assertEqual(p.stop(), 0, p.log())
        final = ue.recv(65535).decode()
        self.assertEqual(status_of(final), (503, "Service Unavailable - P-CSCF Shutting Down"))
        self.assertRegex(final, r'(?m)^Warning: 399 ')

    def test_unreachable_scscf_gets_503(self):
        port = harness.free_port()  # nothing listens on TCP there
        p = self.start(scscf=f"sip:127.0.0.1:{port};transport=tcp")
        self.standin.kill()
        resps = sip_raw(p.sip_port, request("REGISTER", f"sip:{D}",
                        extra=f"Contact: <sip:{USER}@127.0.0.1:LPORT>"), want=2, timeout=10)
        fin = finals(resps)
        self.assertTrue(fin, f"{resps}\n{p.log()}")
        self.assertEqual(status_of(fin[0]), (503, "Service Unavailable - S-CSCF Unreachable"))
        self.assertRegex(fin[0], r'(?m)^Warning: 399 \S+ "[^"]+"')

    def test_max_forwards_zero_gets_483(self):
        p = self.start()
        self.standin.kill()
        resps = sip_raw(p.sip_port, request("REGISTER", f"sip:{D}", mf=0,
                        extra=f"Contact: <sip:{USER}@127.0.0.1:LPORT>"), want=2)
        fin = finals(resps)
        self.assertTrue(fin, resps)
        self.assertEqual(status_of(fin[0]), (483, "Too Many Hops"))
        self.assertRegex(fin[0], r'(?m)^Warning: 399 ')

    def test_options_keepalive_and_unregistered_request(self):
        p = self.start()
        self.standin.kill()
        ok = sip_raw(p.sip_port, request("OPTIONS", f"sip:pcscf.{D}", route=False))
        self.assertEqual(status_of(ok[0])[0], 200, ok)
        ok = sip_raw(p.sip_port, request("OPTIONS", f"sip:127.0.0.1:{p.sip_port}"))
        self.assertEqual(status_of(ok[0])[0], 200, ok)
        no = sip_raw(p.sip_port, request("MESSAGE", f"sip:someone@{D}"))
        self.assertEqual(status_of(no[0]), (403, "Forbidden - Not Registered"), no)
        self.assertRegex(no[0], r'(?m)^Warning: 399 \S+ "[^"]+"')

    def test_alias_route_is_consumed(self):
        p = self.start(extra=["--alias", "edge.example.net"])
        # The Route names only the alias; the stand-in checks Max-Forwards etc.
        resps = sip_raw(p.sip_port, request("REGISTER", f"sip:{D}", route=False,
                        extra=f"Route: <sip:edge.example.net;lr>\n"
                              f"Contact: <sip:{USER}@127.0.0.1:LPORT>\nExpires: 300"
                              "\nUser-Agent: MicroSIP/3.21.5"), want=2)
        self.assertTrue(any(status_of(r)[0] == 401 for r in resps), f"{resps}\n{p.log()}")
        self.standin.kill()
        self.assertNotIn("Route: <sip:edge.example.net", self.standin.trace())
        self.assertIn("REGISTER sip:", self.standin.trace())

    def test_registered_ue_request_follows_service_route(self):
        p = self.start(scenario="pcscf_standin_message.xml")
        cid = uuid.uuid4().hex
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", 0))
        self.addCleanup(s.close)
        s.settimeout(5)
        lport = s.getsockname()[1]

        def exchange(text):
            s.sendto(text.replace("LPORT", str(lport)).replace("\n", "\r\n").encode(),
                     ("127.0.0.1", p.sip_port))
            while True:
                r = s.recv(65535).decode(errors="replace")
                if status_of(r)[0] >= 200:
                    return r

        r = exchange(request("REGISTER", f"sip:{D}", call_id=cid,
                             extra=f"Contact: <sip:{USER}@127.0.0.1:LPORT>\nExpires: 600"))
        self.assertEqual(status_of(r)[0], 200, f"{r}\n{p.log()}")
        r = exchange(request("MESSAGE", f"sip:someone@{D}", call_id=cid).replace(
            "CSeq: 1 MESSAGE", "CSeq: 2 MESSAGE"))
        self.assertEqual(status_of(r)[0], 200, f"{r}\n{p.log()}")
        self.check_standin()
        # A different source address is not that UE.
        no = sip_raw(p.sip_port, request("MESSAGE", f"sip:someone@{D}", user="999"))
        self.assertEqual(status_of(no[0])[0], 403, no)

    def test_terminating_request_reaches_ue_through_alias(self):
        p = self.start(scenario="pcscf_standin_terminating.xml")
        ue = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        ue.bind(("127.0.0.1", 0))
        self.addCleanup(ue.close)
        ue.settimeout(5)
        lport = ue.getsockname()[1]
        # The Contact names another port: only the alias leads back to this socket.
        text = request("REGISTER", f"sip:{D}", extra=f"Contact: <sip:{USER}@127.0.0.1:5999>")
        ue.sendto(text.replace("LPORT", str(lport)).replace("\n", "\r\n").encode(),
                  ("127.0.0.1", p.sip_port))
        got = None
        while True:
            data, peer = ue.recvfrom(65535)
            data = data.decode(errors="replace")
            if data.startswith("MESSAGE "):
                got = data
                break
        self.assertEqual(peer, ("127.0.0.1", p.sip_port))
        self.assertTrue(got.startswith(f"MESSAGE sip:{USER}@127.0.0.1:5999 SIP/2.0"), got)
        self.assertNotIn("term@pcscf", got)
        self.assertRegex(got, r"(?m)^Max-Forwards: 69\r$")
        head = got.split("\r\n\r\n")[0].split("\r\n")
        keep = [h for h in head[1:] if h.split(":")[0].lower() in
                ("via", "from", "to", "call-id", "cseq")]
        reply = "SIP/2.0 200 OK\r\n" + "\r\n".join(
            h + (";tag=ue1" if h.lower().startswith("to:") else "") for h in keep)
        ue.sendto((reply + "\r\nContent-Length: 0\r\n\r\n").encode(), ("127.0.0.1", p.sip_port))
        self.check_standin()
        st, _, metrics = harness.http("GET", p.url + "/metrics")
        self.assertRegex(metrics, r'pcscf_forwarded_total\{method="terminating"\} 1')

    def test_terminating_request_reuses_the_ue_tcp_connection(self):
        p = self.start(scenario="pcscf_standin_terminating.xml")
        ue = socket.create_connection(("127.0.0.1", p.sip_port), timeout=5)
        self.addCleanup(ue.close)
        lport = ue.getsockname()[1]
        text = request("REGISTER", f"sip:{D}", extra=f"Contact: <sip:{USER}@127.0.0.1:5999>")
        ue.sendall(text.replace("SIP/2.0/UDP", "SIP/2.0/TCP").replace("LPORT", str(lport))
                   .replace("\n", "\r\n").encode())
        buf = b""
        while b"MESSAGE sip:" not in buf or not buf.rstrip().endswith(b"hello UE"):
            chunk = ue.recv(65535)
            self.assertTrue(chunk, f"connection closed: {buf!r}\n{p.log()}")
            buf += chunk
        got = buf[buf.index(b"MESSAGE sip:"):].decode(errors="replace")
        self.assertTrue(got.startswith(f"MESSAGE sip:{USER}@127.0.0.1:5999 SIP/2.0"), got)
        head = got.split("\r\n\r\n")[0].split("\r\n")
        keep = [h for h in head[1:] if h.split(":")[0].lower() in
                ("via", "from", "to", "call-id", "cseq")]
        reply = "SIP/2.0 200 OK\r\n" + "\r\n".join(
            h + (";tag=ue1" if h.lower().startswith("to:") else "") for h in keep)
        ue.sendall((reply + "\r\nContent-Length: 0\r\n\r\n").encode())
        self.check_standin()

    def test_bad_contact_and_to_get_400_with_reason(self):
        p = self.start()
        self.standin.kill()
        r = sip_raw(p.sip_port, request("REGISTER", f"sip:{D}", extra="Contact: garbage <<<"))
        self.assertEqual(status_of(r[0]), (400, "Bad Request - Malformed Contact"), r)
        self.assertRegex(r[0], r'(?m)^Warning: 399 ')
        r = sip_raw(p.sip_port, request("REGISTER", f"sip:{D}").replace(
            f"To: <sip:{USER}@{D}>", "To: nonsense"))
        self.assertEqual(status_of(r[0]), (400, "Bad Request - Malformed To"), r)
        self.assertRegex(r[0], r'(?m)^Warning: 399 ')

    def test_scscf_by_name_from_etc_hosts(self):
        # "localhost" comes from /etc/hosts, which Sofia's own resolver ignores.
        self.standin = Standin()
        self.addCleanup(self.standin.kill)
        self.pcscf = harness.Pcscf(f"sip:localhost:{self.standin.port}")
        self.addCleanup(self.pcscf.stop)
        rc, ue_trace, out, ue_port = self.register()
        self.assertEqual(rc, 0, f"{out}\n{ue_trace}\n{self.pcscf.log()}")
        self.check_standin()

    def test_startup_errors_exit_nonzero_with_one_line(self):
        busy = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        busy.bind(("127.0.0.1", 0))
        self.addCleanup(busy.close)
        cases = [(["--sip", f"127.0.0.1:{busy.getsockname()[1]}"], "cannot bind SIP"),
                 (["--scscf", "http://example.net"], "is not a sip: URI"),
                 (["--timeout-ms", "abc"], "timeout-ms")]
        for args, reason in cases:
            argv = [harness.bin_path("pcscf"), "--sip", f"127.0.0.1:{harness.free_port()}",
                    "--http", f"127.0.0.1:{harness.free_port(both=False)}"] + args
            r = subprocess.run(argv, capture_output=True, timeout=20)
            self.assertNotEqual(r.returncode, 0, args)
            err = r.stderr.decode().strip()
            self.assertIn(reason, err)
            self.assertEqual(len(err.splitlines()), 1, err)

    def test_bad_input_never_crashes(self):
        p = self.start()
        self.standin.kill()
        bad = [
            "garbage\r\n\r\n",
            request("REGISTER", f"sip:{D}", extra="Contact: <sip:broken@@@:x:y;;>>"),
            request("REGISTER", f"sip:{D}").replace("SIP/2.0/UDP", "STP/2.0/UDP"),
            request("REGISTER", f"sip:{D}").replace("Call-ID", "X-No-Call-ID"),
            request("REGISTER", f"sip:{D}", extra="Max-Forwards: abc"),
            "REGISTER sip:" + "a" * 60000 + " SIP/2.0\r\n\r\n",
        ]
        for msg in bad:
            resps = sip_raw(p.sip_port, msg, want=1, timeout=1.0)
            for r in resps:
                code, phrase = status_of(r)
                if code >= 400:
                    self.assertTrue(phrase, r)
        # Over TCP: garbage, a message cut short, and a lying Content-Length.
        tcp_bad = ["\x00\xff garbage \r\n\r\n",
                   request("REGISTER", f"sip:{D}")[:60],
                   request("REGISTER", f"sip:{D}").replace("Content-Length: 0",
                                                         "Content-Length: 99999")]
        for msg in tcp_bad:
            try:
                sip_raw(p.sip_port, msg, transport="tcp", want=1, timeout=1.0)
            except OSError:
                pass  # the P-CSCF may close a connection that carries garbage
        self.assertTrue(p.alive(), p.log())
        ok = sip_raw(p.sip_port, request("OPTIONS", f"sip:pcscf.{D}", route=False))
        self.assertEqual(status_of(ok[0])[0], 200, ok)
        self.assertEqual(p.stop(), 0, p.log())


if __name__ == "__main__":
    harness.main()
