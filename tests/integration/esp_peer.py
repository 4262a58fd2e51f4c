"""The independent ESP peer for the IPsec tests: scapy's SecurityAssociation (Debian
python3-scapy) keyed the way TS 33.203 Annex I says, and a driver for our esp-tool."""

import json
import os
import subprocess
import sys

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
