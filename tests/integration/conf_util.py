"""Raw SIP endpoints for the conformance tests (test_conf_*.py): a UDP peer that sends any
text and parses what comes back, replies built from a received request, and an S-CSCF
stand-in on a raw socket that registers a UE through the P-CSCF. Standard library only."""

import re
import socket
import time
import unittest
import uuid

import harness as H

D = H.DOMAIN
USER = H.DEMO["imsi"]
MSISDN = H.DEMO["msisdn"]
IMPU = f"sip:{USER}@{D}"
ASSOC = [f"sip:{MSISDN}@{D}", f"tel:{MSISDN}"]


class Msg:
    """One SIP message: start line, headers in order (name, value), body."""

    def __init__(self, data, peer=None):
        self.raw = data
        self.peer = peer
        text = data.decode("utf-8", "replace")
        self.text = text
        head, _, self.body = text.partition("\r\n\r\n")
        lines = head.split("\r\n")
        self.start = lines[0]
        self.headers = []
        for line in lines[1:]:
            if ":" in line:
                k, v = line.split(":", 1)
                self.headers.append((k.strip(), v.strip()))
        m = re.match(r"SIP/2\.0 (\d{3}) ?(.*)", self.start)
        self.status = int(m.group(1)) if m else 0
        self.reason = m.group(2) if m else ""
        m = re.match(r"(\S+) (\S+) SIP/2\.0", self.start)
        self.method = m.group(1) if m and not self.status else None
        self.ruri = m.group(2) if m and not self.status else None

    def all(self, name):
        """Every value of a header, split at top-level commas for list headers."""
        out = []
        for k, v in self.headers:
            if k.lower() == name.lower():
                out += [x.strip() for x in re.split(r",(?=(?:[^\"<]|<[^>]*>|\"[^\"]*\")*$)", v)
                        if x.strip()]
        return out

    def h(self, name):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    def reply(self, status, reason, extra=(), to_tag="stand1", contact=None, rr=True):
        """A response to this request: its Vias, From, To (+tag), Call-ID, CSeq and (when rr)
        Record-Route, then extra header lines."""
        lines = [f"SIP/2.0 {status} {reason}"]
        for k, v in self.headers:
            kl = k.lower()
            if kl in ("via", "from", "call-id", "cseq") or (rr and kl == "record-route"):
                lines.append(f"{k}: {v}")
            elif kl == "to":
                lines.append(f"{k}: {v}" + ("" if "tag=" in v or status == 100 else
                                            f";tag={to_tag}"))
        if contact:
            lines.append(f"Contact: {contact}")
        lines += list(extra)
        return "\r\n".join(lines) + "\r\nContent-Length: 0\r\n\r\n"

    def __repr__(self):
        return f"<Msg {self.start!r}>"


class Peer:
    """A UDP socket on 127.0.0.1 that sends text ("LPORT" replaced by its port, bare LFs
    turned into CRLF) and reads messages."""

    def __init__(self, test=None):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        if test:
            test.addCleanup(self.sock.close)

    def send(self, text, dst):
        if isinstance(text, str):
            if "\r\n" not in text:
                text = text.replace("\n", "\r\n")
            text = text.replace("LPORT", str(self.port)).encode()
        self.sock.sendto(text, dst)

    def recv(self, timeout=5.0, want=None):
        """The next message (want(msg) true, when given) within timeout; None on timeout."""
        deadline = time.time() + timeout
        while True:
            left = deadline - time.time()
            if left <= 0:
                return None
            self.sock.settimeout(left)
            try:
                data, peer = self.sock.recvfrom(65535)
            except (socket.timeout, TimeoutError):
                return None
            m = Msg(data, peer)
            if want is None or want(m):
                return m

    def request(self, text, dst, timeout=5.0):
        """Sends a request and returns its final response (or None)."""
        self.send(text, dst)
        return self.recv(timeout, want=lambda m: m.status >= 200)

    def drain(self, timeout=0.3):
        out = []
        while True:
            m = self.recv(timeout)
            if m is None:
                return out
            out.append(m)


def request(method, ruri, extra=(), user=USER, call_id=None, cseq=1, mf=70, route=True,
            transport="UDP", from_tag=None, to=None):
    """A request from a UE at 127.0.0.1:LPORT; extra is a list of header lines."""
    lines = [f"{method} {ruri} SIP/2.0",
             f"Via: SIP/2.0/{transport} 127.0.0.1:LPORT;rport;branch=z9hG4bK{uuid.uuid4().hex}",
             f"Max-Forwards: {mf}",
             f"From: <sip:{user}@{D}>;tag={from_tag or uuid.uuid4().hex[:8]}",
             f"To: {to or f'<sip:{user}@{D}>'}",
             f"Call-ID: {call_id or uuid.uuid4().hex}",
             f"CSeq: {cseq} {method}"]
    if route:
        lines.append(f"Route: <sip:pcscf.{D};lr>")
    lines += list(extra)
    return "\r\n".join(lines) + "\r\nContent-Length: 0\r\n\r\n"


def top_via(msg):
    vias = msg.all("via")
    return vias[0] if vias else ""


class StandinScscf(Peer):
    """The S-CSCF seen by a P-CSCF under test, on a raw UDP socket: the test reads what the
    P-CSCF forwards and answers it by hand. Its Service-Route leads back to this socket."""

    def __init__(self, test):
        super().__init__(test)
        self.service_route = f"<sip:orig@127.0.0.1:{self.port};lr>"

    def uri(self):
        return f"sip:127.0.0.1:{self.port};transport=udp"

    def accept_register(self, timeout=5.0, assoc=ASSOC):
        """Answers the next REGISTER 200 with P-Associated-URI and Service-Route; returns
        the REGISTER as forwarded."""
        reg = self.recv(timeout, want=lambda m: m.method == "REGISTER")
        if reg is None:
            raise AssertionError("no REGISTER reached the S-CSCF stand-in")
        contact = reg.h("contact") or ""
        self.send(reg.reply(200, "OK", rr=False, extra=(
            f"Contact: {contact};expires=600",
            f"Path: {reg.h('path')}",
            "P-Associated-URI: " + ", ".join(f"<{u}>" for u in assoc),
            f"Service-Route: {self.service_route}")), reg.peer)
        return reg


def register_via_pcscf(test, pcscf, standin, ue, contact_port=None):
    """Registers the demo IMPU from ue (a Peer) through the P-CSCF to the stand-in."""
    dst = ("127.0.0.1", pcscf.sip_port)
    ue.send(request("REGISTER", f"sip:{D}", extra=(
        f"Contact: <sip:{USER}@127.0.0.1:{contact_port or 'LPORT'}>", "Expires: 600")), dst)
    standin.accept_register()
    r = ue.recv(5, want=lambda m: m.status >= 200)
    test.assertIsNotNone(r, pcscf.log())
    test.assertEqual(r.status, 200, r.text)
    return r


class ScscfCase(unittest.TestCase):
    """One hss-stub (demo subscriber) and one S-CSCF shared by the tests of a class; ue() is
    a raw UE talking straight to the S-CSCF."""

    @classmethod
    def setUpClass(cls):
        cls.hss = H.Hss()
        cls.hss.provision(H.DEMO)
        cls.scscf = H.Scscf(cls.hss.url)

    @classmethod
    def tearDownClass(cls):
        cls.scscf.stop()
        cls.hss.stop()

    def ue(self):
        from scscf_util import Ue
        u = Ue(self.scscf.sip_port)
        self.addCleanup(u.close)
        return u


class PcscfCase(unittest.TestCase):
    """A P-CSCF in front of an S-CSCF stand-in, a raw UE; registered first when REGISTERED."""

    REGISTERED = False
    PCSCF_EXTRA = None

    def setUp(self):
        self.sc = StandinScscf(self)
        self.pcscf = H.Pcscf(self.sc.uri(), extra=self.PCSCF_EXTRA)
        self.addCleanup(self.pcscf.stop)
        self.ue = Peer(self)
        self.dst = ("127.0.0.1", self.pcscf.sip_port)
        if self.REGISTERED:
            register_via_pcscf(self, self.pcscf, self.sc, self.ue)
