"""The independent ESP peer for the IPsec tests: scapy's SecurityAssociation (Debian
python3-scapy) keyed the way TS 33.203 Annex I says, and a driver for our esp-tool."""

import json
import os
import socket
import subprocess
import sys
import time

# scapy is a Debian package: the python3 on PATH may be another interpreter that does not
# see it (docs: TOOL-NOTES), so re-run the test under Debian's own.
try:
    from scapy.config import conf as _scapy_conf
    _scapy_conf.verb = 0
    from scapy.layers.inet import IP, TCP, UDP  # noqa: F401
    from scapy.layers.ipsec import ESP, SecurityAssociation  # noqa: F401
    from scapy.packet import Raw  # noqa: F401
except ImportError:
    if os.path.exists("/usr/bin/python3") and os.path.realpath(sys.executable) != \
            os.path.realpath("/usr/bin/python3"):
        os.execv("/usr/bin/python3", ["/usr/bin/python3"] + sys.argv)
    raise

AUTHS = {"hmac-sha-1-96": "HMAC-SHA1-96", "hmac-md5-96": "HMAC-MD5-96"}
ENCS = {"null": "NULL", "aes-cbc": "AES-CBC", "des-ede3-cbc": "3DES"}


def esp_keys(auth, enc, ck, ik):
    """(crypt_key, auth_key) as ESP uses them, written here independently of the C code:
    IK || 32 zero bits for HMAC-SHA-1-96, IK for HMAC-MD5-96; CK for AES-CBC;
    CK1 || CK2 || CK1 for DES-EDE3-CBC; nothing for NULL."""
    auth_key = ik + bytes(4) if auth == "hmac-sha-1-96" else ik
    crypt_key = {"null": None, "aes-cbc": ck, "des-ede3-cbc": ck + ck[:8]}[enc]
    return crypt_key, auth_key


def scapy_sa(spi, auth, enc, ck, ik):
    crypt_key, auth_key = esp_keys(auth, enc, ck, ik)
    return SecurityAssociation(ESP, spi=spi, crypt_algo=ENCS[enc], crypt_key=crypt_key,
                               auth_algo=AUTHS[auth], auth_key=auth_key)


def wireshark_uat(line):
    """One esp_sa line (as esp-tool / the status API give it) as a tshark -o option."""
    return f"uat:esp_sa:{line}"


class EspPipe:
    """esp-tool pipe: our ESP code behind JSON lines (protect / unprotect one packet)."""

    def __init__(self, tool, auth, enc, ck, ik, spi_in, spi_out):
        self.p = subprocess.Popen(
            [tool, "pipe", "--auth", auth, "--enc", enc, "--ck", ck.hex(), "--ik", ik.hex(),
             "--spi-in", str(spi_in), "--spi-out", str(spi_out)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def call(self, **req):
        self.p.stdin.write(json.dumps(req) + "\n")
        self.p.stdin.flush()
        line = self.p.stdout.readline()
        if not line:
            raise RuntimeError("esp-tool pipe died")
        return json.loads(line)

    def unprotect(self, esp):
        return self.call(op="unprotect", data=bytes(esp).hex())

    def protect(self, nh, segment):
        return self.call(op="protect", nh=nh, data=bytes(segment).hex())

    def close(self):
        self.p.stdin.close()
        rc = self.p.wait(timeout=10)
        self.p.stdout.close()
        return rc


class EspLink:
    """A UE's ESP toward one P-CSCF address over a raw protocol-50 socket: packets protected
    by scapy SAs, answers decrypted by the SA their SPI names, and a TCP exchange by hand
    (the UE's kernel never sees the inner segments, so it cannot do TCP for us)."""

    def __init__(self, ue, peer):
        self.ue, self.peer = ue, peer
        self.raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, 50)
        self.raw.settimeout(0.2)
        self.by_spi = {}  # our inbound SPI -> scapy SA

    def send(self, sa, seg, tamper=False):
        """Protects IP(ue -> peer)/seg with sa and sends it; returns the outer packet."""
        pkt = IP(bytes(IP(src=self.ue, dst=self.peer) / seg))
        outer = bytearray(bytes(sa.encrypt(pkt)))
        if tamper:
            outer[-1] ^= 0x55  # inside the ICV
        self.send_outer(bytes(outer))
        return bytes(outer)

    def send_outer(self, outer):
        self.raw.sendto(outer[20:], (self.peer, 0))  # the kernel writes the IP header

    def recv(self, timeout=5):
        """The next ESP packet from the peer, decrypted (raises on a bad ICV or an SPI
        we did not give out); None after timeout seconds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                data = self.raw.recv(70000)
            except socket.timeout:
                continue
            pkt = IP(data)
            if pkt.src != self.peer or pkt.proto != 50:
                continue
            spi = int.from_bytes(bytes(pkt.payload)[:4], "big")
            if spi not in self.by_spi:
                raise RuntimeError(f"ESP from {self.peer} with an SPI we never gave: {spi}")
            return self.by_spi[spi].decrypt(IP(data))
        return None

    def tcp(self, sa, sport, dport, payload, done, timeout=5):
        """SYN, ACK, payload, then the peer's stream (acknowledged as it comes) until
        done(stream) or timeout; ends with a RST. Returns the stream, None without SYN-ACK."""
        seq = 7000
        seg = lambda **kw: TCP(sport=sport, dport=dport, window=65000, **kw)  # noqa: E731
        self.send(sa, seg(flags="S", seq=seq))
        synack = self.recv(timeout)
        if synack is None or TCP not in synack or synack[TCP].flags & 0x12 != 0x12:
            return None
        ack, seq = synack[TCP].seq + 1, seq + 1
        self.send(sa, seg(flags="A", seq=seq, ack=ack))
        self.send(sa, seg(flags="PA", seq=seq, ack=ack) / Raw(payload))
        seq += len(payload)
        got, deadline = b"", time.monotonic() + timeout
        while time.monotonic() < deadline and not done(got):
            p = self.recv(deadline - time.monotonic())
            if p is None:
                break
            data = bytes(p[TCP].payload) if TCP in p else b""
            if data and p[TCP].seq == ack:
                got += data
                ack += len(data)
                self.send(sa, seg(flags="A", seq=seq, ack=ack))
        self.send(sa, seg(flags="R", seq=seq))
        return got
