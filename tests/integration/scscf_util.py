"""Raw SIP helpers for the S-CSCF tests: a UDP/TCP 'UE' that builds REGISTERs with any
headers (including broken ones), parses replies, and computes Digest/AKA answers.
Standard library only."""

import base64
import hashlib
import hmac
import json
import os
import re
import socket
import subprocess
import uuid

import harness as H

D = H.DOMAIN


def md5(text):
    if isinstance(text, str):
        text = text.encode()
    return hashlib.md5(text).hexdigest()


def digest_response(username, password, nonce, uri="sip:" + D, nc="00000001", cnonce="0a4f113b",
                    qop="auth", realm=D, method="REGISTER"):
    """password may be str or bytes (AKA RES)."""
    pw = password.encode() if isinstance(password, str) else password
    ha1 = hashlib.md5(f"{username}:{realm}:".encode() + pw).hexdigest()
    ha2 = md5(f"{method}:{uri}")
    if qop:
        return md5(f"{ha1}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}")
    return md5(f"{ha1}:{nonce}:{ha2}")


def auth_header(username, nonce, response, uri="sip:" + D, nc="00000001", cnonce="0a4f113b",
                algorithm="MD5", realm=D, extra=""):
    return (f'Digest username="{username}", realm="{realm}", nonce="{nonce}", uri="{uri}", '
            f'response="{response}", algorithm={algorithm}, cnonce="{cnonce}", qop=auth, '
            f'nc={nc}{extra}')


class Reply:
    def __init__(self, text):
        self.text = text
        head = text.split("\r\n\r\n", 1)[0]
        lines = head.split("\r\n")
        m = re.match(r"SIP/2\.0 (\d{3}) (.*)", lines[0])
        if not m:
            raise ValueError("not a SIP response: " + lines[0])
        self.status = int(m.group(1))
        self.reason = m.group(2)
        self.headers = {}
        for line in lines[1:]:
            if ":" in line:
                k, v = line.split(":", 1)
                self.headers.setdefault(k.strip().lower(), []).append(v.strip())

    def h(self, name):
        v = self.headers.get(name.lower())
        return ", ".join(v) if v else None

    def param(self, header, name):
        v = self.h(header) or ""
        m = re.search(name + r'="?([^",]+)"?', v)
        return m.group(1) if m else None

    def contacts(self):
        v = self.h("contact")
        if not v:
            return []
        return [c.strip() for c in re.split(r",\s*(?=<)", v)]

    def __repr__(self):
        return f"<Reply {self.status} {self.reason}>"


class Ue:
    """One UE on a UDP (or TCP) loopback socket talking straight to the S-CSCF."""

    def __init__(self, scscf_port, user="432011123456791", tcp=False):
        self.dst = ("127.0.0.1", scscf_port)
        self.user = user
        self.tcp = tcp
        if tcp:
            self.sock = socket.create_connection(self.dst, timeout=5)
            self.buf = b""
        else:
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self.sock.bind(("127.0.0.1", 0))
            self.sock.settimeout(5)
        self.port = self.sock.getsockname()[1]
        self.call_id = uuid.uuid4().hex
        self.cseq = 1

    def close(self):
        self.sock.close()

    def contact(self, extra=""):
        return f"<sip:{self.user}@127.0.0.1:{self.port};ob>{extra}"

    def build(self, auth=None, contact=None, expires=300, to=None, ruri=None, extra=(),
              path=True, method="REGISTER"):
        to = to or f"sip:{self.user}@{D}"
        ruri = ruri or f"sip:{D}"
        lines = [f"{method} {ruri} SIP/2.0",
                 f"Via: SIP/2.0/{'TCP' if self.tcp else 'UDP'} 127.0.0.1:{self.port};rport;"
                 f"branch=z9hG4bK{uuid.uuid4().hex[:16]}",
                 "Max-Forwards: 70",
                 f"From: <{to}>;tag={uuid.uuid4().hex[:8]}",
                 f"To: <{to}>",
                 f"Call-ID: {self.call_id}",
                 f"CSeq: {self.cseq} {method}",
                 "User-Agent: scscf-test-ue"]
        self.cseq += 1
        if path:
            lines.append(f"Path: <sip:term@pcscf.{D};lr>")
        if contact is None:
            contact = self.contact()
        if contact:
            lines.append(f"Contact: {contact}")
        if expires is not None:
            lines.append(f"Expires: {expires}")
        if auth:
            lines.append(f"Authorization: {auth}")
        lines += list(extra)
        return "\r\n".join(lines) + "\r\nContent-Length: 0\r\n\r\n"

    def send_raw(self, text, expect_reply=True, timeout=5):
        data = text.encode() if isinstance(text, str) else text
        if self.tcp:
            self.sock.sendall(data)
        else:
            self.sock.sendto(data, self.dst)
        if not expect_reply:
            return None
        return self.recv(timeout)

    def recv(self, timeout=5):
        self.sock.settimeout(timeout)
        while True:
            if self.tcp:
                while b"\r\n\r\n" not in self.buf:
                    chunk = self.sock.recv(65535)
                    if not chunk:
                        raise ConnectionError("closed")
                    self.buf += chunk
                head, rest = self.buf.split(b"\r\n\r\n", 1)
                m = re.search(rb"(?i)content-length:\s*(\d+)", head)
                n = int(m.group(1)) if m else 0
                while len(rest) < n:
                    rest += self.sock.recv(65535)
                self.buf = rest[n:]
                r = Reply(head.decode() + "\r\n\r\n")
            else:
                data, _ = self.sock.recvfrom(65535)
                r = Reply(data.decode(errors="replace"))
            if r.status >= 200:
                return r

    def register(self, timeout=5, **kw):
        return self.send_raw(self.build(**kw), timeout=timeout)

    def register_digest(self, password="1234", username=None, **kw):
        """REGISTER -> 401 -> REGISTER with credentials; returns (401, final)."""
        c = self.register(**kw)
        if c.status != 401:
            return c, c
        nonce = c.param("www-authenticate", "nonce")
        username = username or self.user
        resp = digest_response(username, password, nonce)
        return c, self.register(auth=auth_header(username, nonce, resp), **kw)


def aka_ue(k, op_or_opc, nonce, opc=True, sqn_ms=None):
    """Plays the USIM with hss-aka-tool (ims_common Milenage): returns a dict with res, ck,
    ik, sqn and mac_ok (only mac_ok, False, when MAC-A does not verify) and, when sqn_ms is
    given, auts."""
    tool = os.path.join(H.BIN_DIR, "hss-aka-tool")
    if not os.path.exists(tool):
        raise H.unittest.SkipTest(f"{tool} is not built")

    def run(*args):
        return subprocess.run([tool, *args], capture_output=True, text=True, timeout=10)

    if not opc:
        p = run("opc", k, op_or_opc)
        p.check_returncode()
        op_or_opc = p.stdout.strip()
    raw = base64.b64decode(nonce)
    rand, autn = raw[:16].hex(), raw[16:32].hex()
    p = run("check", k, op_or_opc, rand, autn)
    if p.returncode == 1 and "MAC-A" in p.stderr:
        return {"mac_ok": False}
    p.check_returncode()
    out = dict(json.loads(p.stdout), mac_ok=True)
    if sqn_ms:
        p = run("auts", k, op_or_opc, rand, sqn_ms)
        p.check_returncode()
        out["auts"] = p.stdout.strip()
    return out


def aka_password(version, res, ik, ck):
    res, ik, ck = bytes.fromhex(res), bytes.fromhex(ik), bytes.fromhex(ck)
    if version == 1:
        return res
    mac = hmac.new(res + ik + ck, b"http-digest-akav2-password", hashlib.md5).digest()
    return base64.b64encode(mac)


def sipp_aka(test, run_once, k, op_or_opc, opc=False, tries=4):
    """Runs a SIPp AKA scenario via run_once() -> (rc, trace, out). SIPp 3.6 keeps the
    AKAv1 password (RES) as a C string, so it answers wrongly when RES contains a zero
    byte (~3% of random challenges). A failed run is retried only when the USIM
    computation proves that was the cause; any other failure is returned as is.
    Returns (rc, trace, out, attempts)."""
    for attempt in range(1, tries + 1):
        rc, trace, out = run_once()
        if rc == 0:
            return rc, trace, out, attempt
        nonces = re.findall(r'WWW-Authenticate:[^\r\n]*?[\s,]nonce="([^"]+)"[^\r\n]*AKAv1-MD5',
                            trace, re.I)
        if not nonces:
            return rc, trace, out, attempt
        res = bytes.fromhex(aka_ue(k, op_or_opc, nonces[-1], opc=opc)["res"])
        if 0 not in res:
            return rc, trace, out, attempt
    return rc, trace, out, attempt
