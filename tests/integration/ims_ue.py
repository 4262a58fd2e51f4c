"""A VoLTE-style UE for the IPsec tests, run inside the UE's network namespace: registers
through the P-CSCF with IMS AKA (the USIM is hss-aka-tool) and sec-agree, then talks over
ESP done by scapy (an implementation we did not write). One JSON command on argv, one JSON
result on stdout.

Steps (TS 33.203 §7, TS 24.229 §5.1.1): unprotected REGISTER with Security-Client ->
401 with Security-Server -> SAs from CK/IK -> protected REGISTER with Security-Verify
over ESP -> 200 over ESP; then the extra probes the test asks for."""

import base64
import hashlib
import json
import os
import re
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from esp_peer import UDP, EspLink, Raw, scapy_sa  # noqa: E402

D = "ims.mnc011.mcc432.3gppnetwork.org"


def md5(s):
    return hashlib.md5(s.encode() if isinstance(s, str) else s).hexdigest()


class Sip:
    """Parsed answer: status, reason and headers (lower-case names, all values)."""

    def __init__(self, data):
        self.text = data.decode("utf-8", "replace")
        head = self.text.split("\r\n\r\n")[0].split("\r\n")
        m = re.match(r"SIP/2.0 (\d+) (.*)", head[0])
        self.status, self.reason = (int(m.group(1)), m.group(2)) if m else (0, head[0])
        self.headers = {}
        for line in head[1:]:
            name, _, value = line.partition(":")
            self.headers.setdefault(name.strip().lower(), []).append(value.strip())

    def h(self, name):
        return ", ".join(self.headers.get(name.lower(), []))


class Ue:
    def __init__(self, c):
        self.c = c
        self.impi = f"{c['imsi']}@{D}"
        self.seq = 0
        self.call_id = f"ipsec-{os.getpid()}-{time.monotonic_ns()}"
        self.plain = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.plain.bind((c["ue"], c["ue_port_c"]))
        self.plain.settimeout(0.5)
        self.link = EspLink(c["ue"], c["pcscf"])
        self.spi_c, self.spi_s = c["ue_spi_c"], c["ue_spi_s"]
        self.nc = 0

    # ---- SIP text ----

    def register(self, auth, expires=600, extra=(), port=None, tcp=False):
        self.seq += 1
        c = self.c
        port = port or c["ue_port_c"]
        proto = "TCP" if tcp else "UDP"
        lines = [
            f"REGISTER sip:{D} SIP/2.0",
            f"Via: SIP/2.0/{proto} {c['ue']}:{port};branch=z9hG4bK{self.call_id}{self.seq};rport",
            "Max-Forwards: 70",
            f"Route: <sip:{c['pcscf']}:{c['pcscf_sip_port']};lr>",
            f"From: <sip:{c['imsi']}@{D}>;tag=ue{self.seq}",
            f"To: <sip:{c['imsi']}@{D}>",
            f"Call-ID: {self.call_id}",
            f"CSeq: {self.seq} REGISTER",
            f"Contact: <sip:{c['imsi']}@{c['ue']}:{c['ue_port_s']}>;expires={expires}",
            *(["Supported: path"] if c.get("no_sec") else
              ["Supported: path, sec-agree", "Require: sec-agree", "Proxy-Require: sec-agree"]),
            auth,
            *extra,
            "User-Agent: scapy-ims-ue",
            "Content-Length: 0", "", ""]
        return "\r\n".join(lines).encode()

    def client_hdr(self):
        c = self.c
        h = (f"Security-Client: ipsec-3gpp;alg={c['auth']};ealg={c['enc']};"
             f"spi-c={self.spi_c};spi-s={self.spi_s};port-c={c['ue_port_c']};"
             f"port-s={c['ue_port_s']};prot=esp;mod=trans")
        if c.get("client_override"):  # a deliberately bad parameter
            name = c["client_override"].split("=")[0]
            h = re.sub(rf";{name}=[^;]*", ";" + c["client_override"], h)
        return h

    def auth_empty(self):
        return (f'Authorization: Digest username="{self.impi}",realm="{D}",uri="sip:{D}",'
                'nonce="",response=""')

    def auth_answer(self, nonce, res):
        self.nc += 1  # the nonce may be reused with a strictly increasing nc
        nc = f"{self.nc:08x}"
        ha1 = md5(f"{self.impi}:{D}:".encode() + res)
        ha2 = md5(f"REGISTER:sip:{D}")
        resp = md5(f"{ha1}:{nonce}:{nc}:0a4f113b:auth:{ha2}")
        return (f'Authorization: Digest username="{self.impi}",realm="{D}",nonce="{nonce}",'
                f'uri="sip:{D}",response="{resp}",algorithm=AKAv1-MD5,qop=auth,'
                f'nc={nc},cnonce="0a4f113b"')

    # ---- transports ----

    def plain_exchange(self, msg, want_final=True, timeout=5):
        self.plain.sendto(msg, (self.c["pcscf"], self.c["pcscf_sip_port"]))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                data = self.plain.recv(65535)
            except socket.timeout:
                continue
            ans = Sip(data)
            if ans.status >= 200 or not want_final:
                return ans
        return None

    def make_sas(self, ck, ik, server):
        c = self.c
        self.p_spi_c = int(re.search(r"spi-c=(\d+)", server).group(1))
        self.p_spi_s = int(re.search(r"spi-s=(\d+)", server).group(1))
        self.p_port_c = int(re.search(r"port-c=(\d+)", server).group(1))
        self.p_port_s = int(re.search(r"port-s=(\d+)", server).group(1))
        sa = lambda spi: scapy_sa(spi, c["auth"], c["enc"], ck, ik)  # noqa: E731
        self.to_ps, self.to_pc = sa(self.p_spi_s), sa(self.p_spi_c)
        self.link.by_spi = {self.spi_c: sa(self.spi_c), self.spi_s: sa(self.spi_s)}

    def esp_sip(self, msg, timeout=5):
        """A SIP request over UDP in ESP (UE port-c -> P-CSCF port-s); its final answer."""
        self.link.send(self.to_ps, UDP(sport=self.c["ue_port_c"], dport=self.p_port_s) / Raw(msg))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            p = self.link.recv(deadline - time.monotonic())
            if p is None:
                return None
            if UDP in p and p[UDP].sport == self.p_port_s and p[UDP].dport == self.c["ue_port_c"]:
                ans = Sip(bytes(p[UDP].payload))
                if ans.status >= 200:
                    return ans
        return None

    def esp_tcp_sip(self, msg, timeout=5):
        """The same over TCP in ESP (a connection made by hand): the final answer."""
        def final(stream):  # the answers have no body: one per blank line
            for part in stream.split(b"\r\n\r\n")[:-1]:
                if Sip(part).status >= 200:
                    return Sip(part)
            return None

        got = self.link.tcp(self.to_ps, self.c["ue_port_c"], self.p_port_s, msg, final, timeout)
        return final(got) if got else None


def usim(c, nonce):
    raw = base64.b64decode(nonce)
    p = subprocess.run([c["aka_tool"], "check", c["k"], c["opc"], raw[:16].hex(),
                        raw[16:32].hex()], capture_output=True, text=True, timeout=10)
    p.check_returncode()
    v = json.loads(p.stdout)
    return bytes.fromhex(v["res"]), bytes.fromhex(v["ck"]), bytes.fromhex(v["ik"])


def main():
    c = json.loads(sys.argv[1])
    ue = Ue(c)
    out = {}
    first = ue.plain_exchange(ue.register(ue.auth_empty(),
                                          extra=[] if c.get("no_sec") else [ue.client_hdr()]))
    out["challenge"] = [first.status, first.reason] if first else None
    out["warning"] = first.h("warning") if first else None
    out["security_server"] = first.h("security-server") if first else None
    if not first or first.status != 401 or c.get("challenge_only"):
        out["challenge_text"] = first.text if first else None
        print(json.dumps(out))
        return
    server = first.h("security-server")
    out["security_server"] = server
    out["ck_ik_hidden"] = "ck=" not in first.h("www-authenticate") and \
        "ik=" not in first.h("www-authenticate")
    nonce = re.search(r'nonce="([^"]+)"', first.h("www-authenticate")).group(1)
    res, ck, ik = usim(c, nonce)
    ue.make_sas(ck, ik, server)
    verify = "Security-Verify: " + server
    if c.get("bad_verify"):
        wrong = re.sub(r"spi-s=(\d+)", lambda m: f"spi-s={int(m.group(1)) + 1}", server)
        ans = ue.esp_sip(ue.register(ue.auth_answer(nonce, res), extra=[ue.client_hdr(),
                                                                         "Security-Verify: " +
                                                                         wrong]))
        out["bad_verify"] = [ans.status, ans.reason, ans.h("warning")] if ans else None
    if c.get("tcp"):
        ans = ue.esp_tcp_sip(ue.register(ue.auth_answer(nonce, res), tcp=True,
                                         extra=[ue.client_hdr(), verify]))
    else:
        ans = ue.esp_sip(ue.register(ue.auth_answer(nonce, res),
                                     extra=[ue.client_hdr(), verify]))
    out["protected"] = [ans.status, ans.reason] if ans else None
    if c.get("probes") and ans and ans.status == 200:
        probes(ue, c, nonce, res, verify, out)
    print(json.dumps(out))


def probes(ue, c, nonce, res, verify, out):
    # an unprotected request from a UE that registered with IPsec
    ue.seq += 1
    msg = (f"MESSAGE sip:someone@{D} SIP/2.0\r\nVia: SIP/2.0/UDP {c['ue']}:{c['ue_port_c']};"
           f"branch=z9hG4bKm{ue.seq};rport\r\nMax-Forwards: 70\r\nFrom: <sip:{c['imsi']}@{D}>;"
           f"tag=m\r\nTo: <sip:someone@{D}>\r\nCall-ID: m{ue.call_id}\r\nCSeq: 1 MESSAGE\r\n"
           "Content-Length: 0\r\n\r\n").encode()
    ans = ue.plain_exchange(msg)
    out["unprotected_message"] = [ans.status, ans.reason, ans.h("warning")] if ans else None
    # bad ICV, unknown SPI and plain UDP to the protected port: no answer
    ue.link.send(ue.to_ps, UDP(sport=c["ue_port_c"], dport=ue.p_port_s) /
                 Raw(ue.register(ue.auth_answer(nonce, res), extra=[verify])), tamper=True)
    stranger = scapy_sa(0x5151, c["auth"], c["enc"], bytes(16), bytes(16))
    ue.link.send(stranger, UDP(sport=c["ue_port_c"], dport=ue.p_port_s) / Raw(b"x"))
    ue.plain.sendto(ue.register(ue.auth_answer(nonce, res), extra=[verify]),
                    (c["pcscf"], ue.p_port_s))
    out["forged_unanswered"] = ue.link.recv(1.0) is None
    # re-registration over the same SAs, then deregistration
    ans = ue.esp_sip(ue.register(ue.auth_answer(nonce, res), extra=[ue.client_hdr(), verify]))
    out["reregister"] = [ans.status, ans.reason] if ans else None
    if c.get("reauth"):
        reauth(ue, c, verify, out)
        return
    ans = ue.esp_sip(ue.register(ue.auth_answer(nonce, res), expires=0,
                                 extra=[ue.client_hdr(), verify]))
    out["deregister"] = [ans.status, ans.reason] if ans else None


def reauth(ue, c, verify, out):
    """Re-authentication (TS 33.203 §7.4): a REGISTER over the old SAs with new SPIs and a
    new port-c gets a new challenge over the old SAs; the new SAs then carry the REGISTER
    that answers it, and the deregistration."""
    ue.spi_c, ue.spi_s = ue.spi_c + 0x100, ue.spi_s + 0x100
    old_port_c = c["ue_port_c"]
    new_client = ue.client_hdr().replace(f"port-c={old_port_c}", f"port-c={old_port_c + 1000}")
    chal = ue.esp_sip(ue.register(ue.auth_empty(), extra=[new_client, verify]))
    out["reauth_challenge"] = [chal.status, chal.reason] if chal else None
    if not chal or chal.status != 401:
        return
    server = chal.h("security-server")
    out["reauth_server"] = server
    nonce = re.search(r'nonce="([^"]+)"', chal.h("www-authenticate")).group(1)
    res, ck, ik = usim(c, nonce)
    old_by_spi = dict(ue.link.by_spi)
    ue.make_sas(ck, ik, server)
    ue.link.by_spi.update(old_by_spi)  # answers may still come over the old SAs
    c["ue_port_c"] = old_port_c + 1000
    ue.nc = 0
    verify = "Security-Verify: " + server
    ans = ue.esp_sip(ue.register(ue.auth_answer(nonce, res),
                                 extra=[ue.client_hdr(), verify]))
    out["reauth_protected"] = [ans.status, ans.reason] if ans else None
    ans = ue.esp_sip(ue.register(ue.auth_answer(nonce, res), expires=0,
                                 extra=[ue.client_hdr(), verify]))
    out["deregister"] = [ans.status, ans.reason] if ans else None


if __name__ == "__main__":
    main()
