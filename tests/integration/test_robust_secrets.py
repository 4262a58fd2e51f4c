"""No secret leaks anywhere: a full digest and a full IMS AKA registration through the
P-CSCF, every daemon at --log-level debug, then the logs, the status APIs (registrations,
metrics, the per-UE timelines and their pcaps, the event streams read live with curl -N),
the HSS views and every SIP message the UE received are searched for the password, K, OP,
OPc, both HA1 forms and the AKA RES/XRES, CK and IK (hex, either case)."""

import base64
import hashlib
import os
import shutil
import subprocess
import sys
import unittest
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402
import robust_util as R  # noqa: E402
from scscf_util import aka_password, aka_ue, auth_header, digest_response  # noqa: E402
from test_ue_timeline_chain import Curl  # noqa: E402

D = H.DOMAIN
PASSWORD = "Pw-7xq9Zr4mK2-robust"
DIGEST_SUB = {"imsi": "432011555000001", "msisdn": "98055500000001",
              "auth": {"scheme": "digest", "password": PASSWORD}}
K = "8baf473f2f8fd09487cccbd7097c6862"
OP = "cdc202d5123e20f62b6d676ac72cb318"
OPC_GIVEN = "e8ed289deba952e4283b54e88e6183ca"
K2 = "3e5a9b0c71d24f6e8a1b2c3d4e5f6071"
AKA_OP_SUB = {"imsi": "432011555000002", "msisdn": "98055500000002",
              "auth": {"scheme": "aka", "k": K, "op": OP}}
AKA_OPC_SUB = {"imsi": "432011555000003",
               "auth": {"scheme": "aka", "k": K2, "opc": OPC_GIVEN,
                        "algorithm": "AKAv2-MD5"}}


def md5(s):
    return hashlib.md5(s.encode() if isinstance(s, str) else s).hexdigest()


def opc_of(k, op):
    """OPc = AES-128_K(OP) xor OP (TS 35.206), via the openssl tool (no AES in stdlib)."""
    if shutil.which("openssl") is None:
        return None
    p = subprocess.run(["openssl", "enc", "-aes-128-ecb", "-nopad", "-K", k],
                       input=bytes.fromhex(op), capture_output=True, timeout=10)
    if p.returncode != 0 or len(p.stdout) != 16:
        return None
    return bytes(a ^ b for a, b in zip(p.stdout, bytes.fromhex(op))).hex()


class NoSecretLeaks(unittest.TestCase):
    def test_full_flow_leaks_nothing(self):
        debug = ["--log-level", "debug"]
        ch = R.Chain(self, hss_extra=debug, scscf_extra=debug, pcscf_extra=debug)
        for sub in (DIGEST_SUB, AKA_OP_SUB, AKA_OPC_SUB):
            ch.hss.provision(sub)
        secrets = {"password": PASSWORD, "K": K, "OP": OP, "OPc(given)": OPC_GIVEN, "K2": K2}
        derived = opc_of(K, OP)
        if derived:
            secrets["OPc(derived)"] = derived
        received = []
        streams = {}
        for name, base in (("scscf", ch.scscf.url), ("pcscf", ch.pcscf.url)):
            streams[name] = Curl(base + "/api/v1/events")
            self.addCleanup(streams[name].stop)
            streams[name].wait_for(": connected")

        # Digest, both username forms (the bare user part, then the full IMPI).
        user = DIGEST_SUB["imsi"]
        impi = f"{user}@{D}"
        secrets["HA1(user)"] = md5(f"{user}:{D}:{PASSWORD}")
        secrets["HA1(impi)"] = md5(f"{impi}:{D}:{PASSWORD}")
        for username in (user, impi):
            ue = R.pcscf_ue(self, ch.pcscf.sip_port, user=user)
            first, final = R.register(ue, password=PASSWORD, username=username)
            received += [first.text, final.text]
            self.assertEqual(final.status, 200, final.text + ch.logs())
        # A wrong password too: failure paths log more.
        ue = R.pcscf_ue(self, ch.pcscf.sip_port, user=user)
        first, final = R.register(ue, password=PASSWORD + "x")
        received += [first.text, final.text]
        self.assertEqual(final.status, 403, final.text)

        # IMS AKA, v1 with OP and v2 with OPc.
        for sub, k, op_or_opc, opc, version in (
                (AKA_OP_SUB, K, OP, False, 1), (AKA_OPC_SUB, K2, OPC_GIVEN, True, 2)):
            user = sub["imsi"]
            ue = R.pcscf_ue(self, ch.pcscf.sip_port, user=user)
            kw = {"path": False, "extra": (R.ROUTE,)}
            c = R.send(ue, ue.build(**kw))
            received.append(c.text)
            self.assertEqual(c.status, 401, c.text + ch.logs())
            nonce = c.param("www-authenticate", "nonce")
            usim = aka_ue(k, op_or_opc, nonce, opc=opc)
            self.assertTrue(usim.get("mac_ok", True), usim)
            tag = f"AKAv{version}"
            secrets[f"{tag} RES"] = usim["res"]
            secrets[f"{tag} CK"] = usim["ck"]
            secrets[f"{tag} IK"] = usim["ik"]
            pw = aka_password(version, usim["res"], usim["ik"], usim["ck"])
            if version == 2:
                secrets[f"{tag} password"] = pw.decode()
            secrets[f"{tag} HA1"] = hashlib.md5(f"{user}:{D}:".encode() + pw).hexdigest()
            resp = digest_response(user, pw, nonce)
            final = R.send(ue, ue.build(auth=auth_header(user, nonce, resp,
                                                         algorithm=f"AKAv{version}-MD5"), **kw))
            received.append(final.text)
            self.assertEqual(final.status, 200, final.text + ch.logs())

        # Everything an operator or a UE can read.
        outputs = {}
        for name, base in (("scscf", ch.scscf.url), ("pcscf", ch.pcscf.url)):
            for p in ("/api/v1/registrations", "/metrics"):
                outputs[name + p] = str(H.http("GET", base + p)[2])
            for sub in (DIGEST_SUB, AKA_OP_SUB, AKA_OPC_SUB):
                impu = urllib.parse.quote(f"sip:{sub['imsi']}@{D}", safe="")
                outputs[f"{name} reg {sub['imsi']}"] = str(
                    H.http("GET", f"{base}/api/v1/registrations/{impu}")[2])
            for sub in (DIGEST_SUB, AKA_OP_SUB, AKA_OPC_SUB):
                q = f"imsi={sub['imsi']}"
                tl = H.http("GET", f"{base}/api/v1/timeline?{q}&limit=1000")[2]
                self.assertTrue(tl["items"], f"no {name} timeline for {sub['imsi']}")
                outputs[f"{name} timeline {sub['imsi']}"] = str(tl)
                with urllib.request.urlopen(f"{base}/api/v1/timeline/pcap?{q}") as r:
                    outputs[f"{name} pcap {sub['imsi']}"] = r.read().decode("latin-1")
            streams[name].wait_for('"status":200')
            outputs[f"{name} event stream"] = streams[name].text()
        for sub in (DIGEST_SUB, AKA_OP_SUB, AKA_OPC_SUB):
            outputs["hss " + sub["imsi"]] = str(
                H.http("GET", f"{ch.hss.url}/api/v1/subscribers/{sub['imsi']}")[2])
        outputs["hss list"] = str(H.http("GET", ch.hss.url + "/api/v1/subscribers")[2])
        outputs["hss metrics"] = str(H.http("GET", ch.hss.url + "/metrics")[2])
        for i, t in enumerate(received):
            outputs[f"SIP message {i} to the UE"] = t
        for d in ch.daemons():
            self.assertEqual(d.stop(), 0, d.log()[-3000:])
            outputs[d.name + " log (debug)"] = d.log()
        # The flag must have taken effect somewhere, or the test proves nothing. (The
        # S-CSCF has no debug lines today; the HSS and the P-CSCF have.)
        self.assertTrue(any(" debug" in outputs[d.name + " log (debug)"].lower()
                            for d in ch.daemons()), "no daemon logged at debug")

        for what, text in outputs.items():
            low = text.lower()
            for name, value in secrets.items():
                forms = {value.lower()}
                if all(c in "0123456789abcdefABCDEF" for c in value) and len(value) % 2 == 0:
                    forms.add(base64.b64encode(bytes.fromhex(value)).decode().lower())
                for f in forms:
                    self.assertNotIn(f, low, f"{name} appears in {what}")


if __name__ == "__main__":
    H.main()
