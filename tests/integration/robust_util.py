"""Shared helpers of the robustness tests (test_robust_*.py): the three-daemon chain, a raw UE
registering through the P-CSCF, VmRSS from /proc, and a fake HSS whose behaviour a test can
switch at run time (slow, garbage, good). Standard library only."""

import hashlib
import json
import os
import re
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import harness as H
from scscf_util import Ue, auth_header, digest_response

D = H.DOMAIN
USER = H.DEMO["imsi"]
IMPU = f"sip:{USER}@{D}"
ROUTE = f"Route: <sip:pcscf.{D};lr>"


def rss_kb(pid):
    """Resident set size of a process in KiB (VmRSS from /proc/PID/status)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


class Chain:
    """hss-stub + scscf + pcscf on free loopback ports, the demo subscriber provisioned."""

    def __init__(self, test, hss_extra=None, scscf_extra=None, pcscf_extra=None, logdir=None,
                 hss_db=":memory:", scscf_state=":memory:"):
        self.logdir = logdir or H.tmpdir("ims-robust-")
        self.hss = H.Hss(db=hss_db, extra=hss_extra, logdir=self.logdir)
        test.addCleanup(self.hss.kill)
        self.hss.provision(H.DEMO)
        self.scscf = H.Scscf(self.hss.url, extra=scscf_extra, logdir=self.logdir,
                             state=scscf_state)
        test.addCleanup(self.scscf.kill)
        self.pcscf = H.Pcscf(f"sip:127.0.0.1:{self.scscf.sip_port}", extra=pcscf_extra,
                             logdir=self.logdir)
        test.addCleanup(self.pcscf.kill)

    def daemons(self):
        return [self.hss, self.scscf, self.pcscf]

    def logs(self, tail=3000):
        return "\n".join(f"--- {d.name}\n{d.log()[-tail:]}" for d in self.daemons())


def pcscf_ue(test, port, user=USER, tcp=False):
    """A raw UE whose REGISTERs go to the P-CSCF (Route to it, no Path of its own)."""
    ue = Ue(port, user=user, tcp=tcp)
    test.addCleanup(ue.close)
    return ue


def send(ue, text, timeout=10):
    """Sends a request and returns its final reply. Over UDP it retransmits like RFC 3261
    timer E (500 ms doubling, capped at 4 s) until timeout: under a flood the kernel may drop
    a datagram, and a real UE would retransmit too. Raises TimeoutError."""
    if ue.tcp:
        return ue.send_raw(text, timeout=timeout)
    data = text.encode() if isinstance(text, str) else text
    cseq = re.search(rb"(?mi)^CSeq:\s*(\d+)", data).group(1).decode()
    deadline = time.time() + timeout
    interval = 0.5
    while True:
        ue.sock.sendto(data, ue.dst)
        resend_at = min(time.time() + interval, deadline)
        while time.time() < resend_at:
            try:
                r = ue.recv(max(0.01, resend_at - time.time()))
            except (TimeoutError, socket.timeout):
                break
            # A late copy of an earlier transaction's answer is not ours.
            if (r.h("cseq") or "").split(" ")[0] == cseq:
                return r
        if time.time() >= deadline:
            raise TimeoutError(f"no final reply within {timeout} s")
        interval = min(interval * 2, 4.0)


def register(ue, password="1234", username=None, timeout=10, **kw):
    """REGISTER -> 401 -> REGISTER with Digest through the P-CSCF; returns (first, final)."""
    kw.setdefault("path", False)
    kw.setdefault("extra", (ROUTE,))
    first = send(ue, ue.build(**kw), timeout)
    if first.status != 401:
        return first, first
    nonce = first.param("www-authenticate", "nonce")
    username = username or ue.user
    resp = digest_response(username, password, nonce)
    return first, send(ue, ue.build(auth=auth_header(username, nonce, resp), **kw), timeout)


def assert_explained(test, reply, statuses, ctx=""):
    """A 4xx/5xx that says why: status in statuses, a reason phrase beyond the bare default
    and a 'Warning: 399 host "text"' header."""
    test.assertIn(reply.status, statuses, f"{reply.text}\n{ctx}")
    warning = reply.h("warning") or ""
    test.assertRegex(warning, r'^399 \S+ ".+"', f"no Warning 399 in:\n{reply.text}\n{ctx}")
    test.assertTrue(reply.reason.strip(), reply.text)


def ha1(user, pw, realm=D):
    return hashlib.md5(f"{user}:{realm}:{pw}".encode()).hexdigest()


class FakeHssHandler(BaseHTTPRequestHandler):
    """A Cx stand-in whose answers a test switches through server.mode:
    'good' (digest material for any IMPU, password = '1234'), 'slow' (good after
    server.delay seconds), or any key of GARBAGE (a broken answer)."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0") or 0)
        raw = self.rfile.read(n) if n else b""
        srv = self.server
        srv.requests += 1
        try:
            req = json.loads(raw or b"{}")
        except ValueError:
            req = {}
        mode = srv.mode
        if mode == "slow":
            time.sleep(srv.delay)
            mode = "good"
        if mode != "good":
            return GARBAGE[mode](self)
        if self.path.endswith("/sar"):
            return self.reply(200, {"imsi": USER, "state": req.get("state", "registered")})
        impu = req.get("impu") or IMPU
        impi = f"{USER}@{D}"
        return self.reply(200, {"imsi": USER, "impi": impi, "scheme": "digest",
                                "ha1": {"impi": ha1(impi, "1234"), "user": ha1(USER, "1234")},
                                "impus": [{"uri": impu, "barred": False}]})

    do_GET = do_POST

    def reply(self, status, body, ctype="application/json", length=None):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data) if length is None else length))
            self.end_headers()
            self.wfile.write(data)
            self.wfile.flush()
        except OSError:
            pass


def _close(h):
    h.close_connection = True
    try:
        h.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 500"
                      b"\r\n\r\n{\"imsi\": \"4320")
        h.wfile.flush()
    except OSError:
        pass


GARBAGE = {
    "not_json": lambda h: h.reply(200, b"this is not json", "application/json"),
    "html_500": lambda h: h.reply(500, b"<html>Internal Server Error</html>", "text/html"),
    "wrong_types": lambda h: h.reply(200, {"imsi": 5, "impi": [], "scheme": "digest",
                                           "ha1": "x", "impus": "sip:a@b"}),
    "missing_fields": lambda h: h.reply(200, {"imsi": USER}),
    "bad_hex": lambda h: h.reply(200, {"imsi": USER, "impi": f"{USER}@{D}", "scheme": "digest",
                                       "ha1": {"impi": "zz" * 16, "user": "q"},
                                       "impus": [{"uri": IMPU, "barred": False}]}),
    "unknown_scheme": lambda h: h.reply(200, {"imsi": USER, "impi": f"{USER}@{D}",
                                              "scheme": "rot13", "impus": [{"uri": IMPU}]}),
    "huge": lambda h: h.reply(200, {"imsi": USER, "impi": "x" * 300000, "scheme": "digest",
                                    "ha1": {"impi": "0" * 32, "user": "0" * 32},
                                    "impus": [{"uri": "sip:" + "y" * 100000 + "@" + D}] * 50}),
    "binary": lambda h: h.reply(200, bytes(range(256)) * 8, "application/json"),
    "truncated": _close,
    "array": lambda h: h.reply(200, [1, 2, 3]),
    "teapot": lambda h: h.reply(418, {"error": "teapot"}),
}


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        pass  # a client (the S-CSCF) hanging up on garbage is expected, not news


class FakeHss:
    """A ThreadingHTTPServer on a free loopback port running FakeHssHandler."""

    def __init__(self, test, mode="good", delay=5.0, port=0):
        self.srv = _QuietServer(("127.0.0.1", port), FakeHssHandler)
        self.srv.daemon_threads = True
        self.srv.mode = mode
        self.srv.delay = delay
        self.srv.requests = 0
        self.thread = threading.Thread(target=self.srv.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.srv.server_address[1]}"
        test.addCleanup(self.close)

    @property
    def mode(self):
        return self.srv.mode

    @mode.setter
    def mode(self, m):
        self.srv.mode = m

    def close(self):
        self.srv.shutdown()
        self.srv.server_close()


def until(fn, timeout=15, interval=0.2):
    """Calls fn until it returns a truthy value or timeout passes; returns the last value."""
    deadline = time.time() + timeout
    v = fn()
    while not v and time.time() < deadline:
        time.sleep(interval)
        v = fn()
    return v


def contact_expires(reply):
    return [int(m) for m in re.findall(r"expires=(\d+)", reply.h("contact") or "")]
