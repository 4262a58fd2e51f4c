"""Crash restarts: the HSS store survives kill -9 (subscribers, AKA SQN, registration state);
the S-CSCF with --state PATH keeps its bindings across kill -9 with their remaining expiry
(write-behind is at most 1 s, so the test waits 1.5 s before killing), forgets what was
deregistered, and drops what expired while it was down. Checked through the status APIs."""

import os
import subprocess
import sys
import time
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402
import robust_util as R  # noqa: E402
from scscf_util import Ue  # noqa: E402

D = H.DOMAIN
AKA_SUB = {"imsi": "432011000000007",
           "auth": {"scheme": "aka", "k": "465b5ce8b199b49faa5f0a2ee238a6bc",
                    "opc": "cd63cb71954a9f4e48a5994e37a02baf", "sqn": "0000000000a0"}}
WRITE_BEHIND_S = 1.5


def q(impu):
    return urllib.parse.quote(impu, safe="")


class HssRestart(unittest.TestCase):
    def test_store_survives_kill9(self):
        d = H.tmpdir()
        db = os.path.join(d, "hss.db")
        hss = H.Hss(db=db, logdir=d)
        self.addCleanup(hss.kill)
        hss.provision(H.DEMO)
        hss.provision(AKA_SUB)
        # Advance the AKA SQN through Cx (an acknowledged write) and report a registration.
        st, _, mar = H.http("POST", hss.url + "/api/v1/cx/mar",
                            {"impu": f"sip:{AKA_SUB['imsi']}@{D}", "realm": D})
        self.assertEqual(st, 200, mar)
        st, _, sar = H.http("POST", hss.url + "/api/v1/cx/sar",
                            {"impi": f"{R.USER}@{D}", "impu": R.IMPU, "state": "registered",
                             "scscf": f"sip:scscf.{D}:6060"})
        self.assertEqual(st, 200, sar)
        st, _, before = H.http("GET", hss.url + "/api/v1/subscribers/" + AKA_SUB["imsi"])
        self.assertEqual(st, 200, before)
        hss.kill()

        hss2 = H.Hss(db=db, logdir=d, port=hss.port)
        self.addCleanup(hss2.kill)
        st, _, body = H.http("GET", hss2.url + "/api/v1/subscribers")
        self.assertEqual(st, 200, body)
        self.assertEqual(body["total"], 2, body)
        st, _, after = H.http("GET", hss2.url + "/api/v1/subscribers/" + AKA_SUB["imsi"])
        self.assertEqual(after["auth"]["sqn"], before["auth"]["sqn"], after)
        self.assertNotEqual(after["auth"]["sqn"], "0000000000a0", "the MAR's SQN was lost")
        st, _, demo = H.http("GET", hss2.url + "/api/v1/subscribers/" + R.USER)
        self.assertEqual(demo["registration"]["state"], "registered", demo)
        # Still fully usable: a MAR for the digest subscriber works after the crash.
        st, _, mar = H.http("POST", hss2.url + "/api/v1/cx/mar", {"impu": R.IMPU, "realm": D})
        self.assertEqual(st, 200, mar)
        self.assertEqual(hss2.stop(), 0, hss2.log()[-3000:])


class ScscfRestart(unittest.TestCase):
    def setUp(self):
        self.dir = H.tmpdir()
        self.state = os.path.join(self.dir, "scscf.db")
        self.hss = H.Hss(logdir=self.dir)
        self.addCleanup(self.hss.kill)
        self.hss.provision(H.DEMO)
        self.hss.provision({"imsi": "432011123456792", "auth": {"scheme": "digest",
                                                                "password": "abcd"}})

    def scscf(self, port=None):
        sc = H.Scscf(self.hss.url, sip_port=port, state=self.state, logdir=self.dir,
                     extra=["--min-expires", "1"])
        self.addCleanup(sc.kill)
        return sc

    def ue(self, sc, user=R.USER):
        ue = Ue(sc.sip_port, user=user)
        self.addCleanup(ue.close)
        return ue

    def reg(self, sc, impu):
        st, _, body = H.http("GET", sc.url + "/api/v1/registrations/" + q(impu))
        return st, body

    def test_bindings_survive_kill9_with_remaining_expiry(self):
        sc = self.scscf()
        a = self.ue(sc)
        b = self.ue(sc)  # a second contact of the same IMPU
        c = self.ue(sc, user="432011123456792")
        for ue, pw, exp in ((a, "1234", 300), (b, "1234", 600), (c, "abcd", 300)):
            _, r = ue.register_digest(password=pw, expires=exp)
            self.assertEqual(r.status, 200, r.text + sc.log()[-2000:])
        short = self.ue(sc, user="432011123456792")  # expires while the S-CSCF is down
        _, r = short.register_digest(password="abcd", expires=2)
        self.assertEqual(r.status, 200, r.text)
        # c deregisters: that must be persisted too.
        _, r = c.register_digest(password="abcd", expires=0)
        self.assertEqual(r.status, 200, r.text)
        st, before = self.reg(sc, R.IMPU)
        self.assertEqual(st, 200, before)
        self.assertEqual(len(before["contacts"]), 2, before)

        time.sleep(WRITE_BEHIND_S)
        killed_at = time.time()
        port = sc.sip_port
        sc.kill()
        time.sleep(2.5)  # the 2 s binding expires while nobody runs
        sc2 = self.scscf(port)
        down = time.time() - killed_at

        st, after = self.reg(sc2, R.IMPU)
        self.assertEqual(st, 200, f"bindings lost across kill -9: {after}\n{sc2.log()[-3000:]}")
        self.assertEqual(sorted(x["uri"] for x in after["contacts"]),
                         sorted(x["uri"] for x in before["contacts"]), after)
        for x in after["contacts"]:
            old = next(y for y in before["contacts"] if y["uri"] == x["uri"])
            # Remaining expiry: counted down while the S-CSCF was dead, not reset.
            self.assertLessEqual(x["expires_in"], old["expires_in"] - int(down) + 1, (old, x))
            self.assertGreater(x["expires_in"], old["expires_in"] - down - 30, (old, x))
        self.assertEqual(after["associated_uris"], before["associated_uris"], after)
        # The deregistered and the expired bindings of the second subscriber are gone.
        st, other = self.reg(sc2, "sip:432011123456792@" + D)
        self.assertEqual(st, 404, other)

        # The restored registration is live: a re-REGISTER from the same contact updates
        # it rather than adding a third binding.
        _, r = a.register_digest(expires=300)
        self.assertEqual(r.status, 200, r.text)
        self.assertEqual(len(R.contact_expires(r)), 2, r.text)
        # And the status API DELETE of a restored record works and is persisted.
        st, _, _ = H.http("DELETE", sc2.url + "/api/v1/registrations/" + q(R.IMPU))
        self.assertIn(st, (200, 204))
        time.sleep(WRITE_BEHIND_S)
        sc2.kill()
        sc3 = self.scscf(port)
        st, gone = self.reg(sc3, R.IMPU)
        self.assertEqual(st, 404, f"a deleted registration came back: {gone}")
        self.assertEqual(sc3.stop(), 0, sc3.log()[-3000:])

    def test_sigterm_flushes_at_once(self):
        """A clean stop right after a REGISTER must not lose it (flush on shutdown)."""
        sc = self.scscf()
        ue = self.ue(sc)
        _, r = ue.register_digest(expires=300)
        self.assertEqual(r.status, 200, r.text)
        port = sc.sip_port
        self.assertEqual(sc.stop(), 0, sc.log()[-3000:])
        sc2 = self.scscf(port)
        st, body = self.reg(sc2, R.IMPU)
        self.assertEqual(st, 200, body)

    def test_corrupt_state_file_is_refused_clearly(self):
        """A state file that is not SQLite: exit non-zero with a one-line reason naming the
        file, never a crash (and never silently overwriting it)."""
        with open(self.state, "wb") as f:
            f.write(b"this is not a database" * 100)
        with open(self.state, "rb") as f:
            original = f.read()
        p = subprocess.run([H.bin_path("scscf"), "--sip", f"127.0.0.1:{H.free_port()}",
                            "--http", f"127.0.0.1:{H.free_port(both=False)}", "--hss",
                            self.hss.url, "--state", self.state],
                           capture_output=True, timeout=20)
        self.assertNotEqual(p.returncode, 0)
        self.assertLess(p.returncode, 128, "crashed on a corrupt state file")
        err = (p.stderr + p.stdout).decode(errors="replace")
        self.assertIn(os.path.basename(self.state), err)
        with open(self.state, "rb") as f:
            self.assertEqual(f.read(), original, "the corrupt file was overwritten")


if __name__ == "__main__":
    H.main()
