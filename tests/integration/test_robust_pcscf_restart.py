"""P-CSCF restarts with --state PATH: the registration cache (IMPU, IMPI, Path,
P-Associated-URI, Service-Route, each binding's contact, received address, transport, user agent
and remaining expiry) survives kill -9 once the 1 s write-behind has run, and SIGTERM writes
every change at once; what expired while it was down is dropped; a restored registration
still routes the UE's requests; the AKA CK/IK never reach the file; a corrupt, foreign or
unreadable file is refused with a one-line reason and a non-zero exit."""

import os
import re
import socket
import sqlite3
import subprocess
import sys
import time
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402
import robust_util as R  # noqa: E402
from scscf_util import aka_password, aka_ue, auth_header, digest_response  # noqa: E402

D = H.DOMAIN
WRITE_BEHIND_S = 1.5  # the P-CSCF flushes at most 1 s after a change
SECOND = {"imsi": "432011123456792", "auth": {"scheme": "digest", "password": "abcd"}}
K = "465b5ce8b199b49faa5f0a2ee238a6bc"
OPC = "cd63cb71954a9f4e48a5994e37a02baf"
AKA_SUB = {"imsi": "432011000000009", "auth": {"scheme": "aka", "k": K, "opc": OPC}}


def q(impu):
    return urllib.parse.quote(impu, safe="")


def metric(text, name):
    m = re.search(rf"(?m)^{name} (\d+)$", text)
    return int(m.group(1)) if m else None


class PcscfRestart(unittest.TestCase):
    def setUp(self):
        self.dir = H.tmpdir("ims-pcscf-state-")
        self.state = os.path.join(self.dir, "pcscf.db")
        self.hss = H.Hss(logdir=self.dir)
        self.addCleanup(self.hss.kill)
        for sub in (H.DEMO, SECOND, AKA_SUB):
            self.hss.provision(sub)
        self.scscf = H.Scscf(self.hss.url, logdir=self.dir, extra=["--min-expires", "1"])
        self.addCleanup(self.scscf.kill)
        self.pcscf = self.track(H.Pcscf(f"sip:127.0.0.1:{self.scscf.sip_port}",
                                        logdir=self.dir, state=self.state))

    def track(self, d):
        self.addCleanup(d.kill)
        return d

    def logs(self):
        return "\n".join(f"--- {d.name}\n{d.log()[-3000:]}"
                         for d in (self.hss, self.scscf, self.pcscf))

    def register(self, user=R.USER, password="1234", expires=300):
        ue = R.pcscf_ue(self, self.pcscf.sip_port, user=user)
        _, final = R.register(ue, password=password, expires=expires)
        self.assertEqual(final.status, 200, final.text + self.logs())
        return ue

    def reg(self, impu=R.IMPU):
        st, _, body = H.http("GET", f"{self.pcscf.url}/api/v1/registrations/{q(impu)}")
        return st, body

    def message(self, ue):
        """A MESSAGE from the UE's registered address: the P-CSCF routes it along the
        stored Service-Route only when it knows the registration."""
        text = ue.build(method="MESSAGE", ruri=f"sip:{SECOND['imsi']}@{D}", contact="",
                        expires=None, path=False, extra=(R.ROUTE,))
        return R.send(ue, text)

    def test_cache_survives_kill9_with_remaining_expiry(self):
        ue = self.register()
        ue2 = self.register(user=SECOND["imsi"], password="abcd", expires=600)
        self.assertNotEqual(self.message(ue).reason, "Forbidden - Not Registered")
        time.sleep(WRITE_BEHIND_S)
        st, before = self.reg()
        self.assertEqual(st, 200, before)
        st, before2 = self.reg(f"sip:{SECOND['imsi']}@{D}")
        self.assertEqual(st, 200, before2)
        self.pcscf.kill()
        time.sleep(2.0)  # the expiry keeps running while the P-CSCF is down

        self.pcscf = self.track(self.pcscf.respawn())
        for impu, old in ((R.IMPU, before), (f"sip:{SECOND['imsi']}@{D}", before2)):
            st, after = self.reg(impu)
            self.assertEqual(st, 200, f"{impu} lost by kill -9:\n{self.pcscf.log()[-3000:]}")
            for key in ("impu", "impi", "associated_uris", "service_route"):
                self.assertEqual(after[key], old[key], key)
            self.assertEqual(len(after["contacts"]), 1, after)
            a, b = after["contacts"][0], old["contacts"][0]
            for key in ("uri", "received", "transport", "user_agent", "path"):
                self.assertEqual(a[key], b[key], key)
            # Remaining, not reset: at least the 2 s of downtime are gone, and still live.
            self.assertLessEqual(a["expires_in"], b["expires_in"] - 2, (old, after))
            self.assertGreater(a["expires_in"], 0, after)
        self.assertTrue(before["impi"] and before["service_route"] and before["associated_uris"],
                        before)
        _, _, m = H.http("GET", self.pcscf.url + "/metrics")
        self.assertEqual(metric(m, "pcscf_state_enabled"), 1, m)
        self.assertEqual(metric(m, "pcscf_state_restored_registrations"), 2, m)
        self.assertEqual(metric(m, "pcscf_registrations"), 2, m)
        # The restored cache is used: the UE's requests still route, without re-registering.
        reply = self.message(ue)
        self.assertNotEqual(reply.reason, "Forbidden - Not Registered", reply.text)
        # An unknown source is still refused, so the check above could fail.
        stranger = R.pcscf_ue(self, self.pcscf.sip_port, user="432011999999999")
        self.assertEqual(self.message(stranger).reason, "Forbidden - Not Registered")
        # Re-registering works and refreshes the expiry.
        _, final = R.register(ue2, password="abcd", expires=600)
        self.assertEqual(final.status, 200, final.text)
        st, fresh = self.reg(f"sip:{SECOND['imsi']}@{D}")
        self.assertGreater(fresh["contacts"][0]["expires_in"], 590, fresh)
        self.assertEqual(self.pcscf.stop(), 0, self.pcscf.log()[-3000:])

    def test_sigterm_writes_at_once(self):
        ue = self.register()
        ue2 = self.register(user=SECOND["imsi"], password="abcd")
        # Deregister the second one just before stopping: both changes must be on disk
        # even though the write-behind tick has not come yet.
        _, final = R.register(ue2, password="abcd", expires=0)
        self.assertEqual(final.status, 200, final.text)
        self.assertEqual(self.pcscf.stop(), 0, self.pcscf.log()[-3000:])
        self.assertIn("flushed", self.pcscf.log())

        self.pcscf = self.track(self.pcscf.respawn())
        st, body = self.reg()
        self.assertEqual(st, 200, self.pcscf.log()[-3000:])
        self.assertEqual(body["contacts"][0]["uri"].split(";")[0],
                         f"sip:{R.USER}@127.0.0.1:{ue.port}")
        st, body = self.reg(f"sip:{SECOND['imsi']}@{D}")
        self.assertEqual(st, 404, body)
        self.assertEqual(self.pcscf.stop(), 0)

    def test_expired_while_down_is_dropped(self):
        self.register(expires=2)
        self.register(user=SECOND["imsi"], password="abcd", expires=600)
        time.sleep(WRITE_BEHIND_S)
        self.pcscf.kill()
        time.sleep(2.0)
        self.pcscf = self.track(self.pcscf.respawn())
        st, body = self.reg()
        self.assertEqual(st, 404, body)
        st, body = self.reg(f"sip:{SECOND['imsi']}@{D}")
        self.assertEqual(st, 200, body)
        _, _, m = H.http("GET", self.pcscf.url + "/metrics")
        self.assertEqual(metric(m, "pcscf_state_dropped_registrations"), 1, m)
        self.assertEqual(self.pcscf.stop(), 0)
        # ...and the dropped row is gone from the file, not only from memory.
        with sqlite3.connect(self.state) as db:
            rows = [r[0] for r in db.execute("SELECT impu FROM registrations")]
        self.assertEqual(rows, [f"sip:{SECOND['imsi']}@{D}"])

    def test_aka_keys_never_reach_the_file(self):
        user = AKA_SUB["imsi"]
        ue = R.pcscf_ue(self, self.pcscf.sip_port, user=user)
        kw = {"path": False, "extra": (R.ROUTE,)}
        c = R.send(ue, ue.build(**kw))
        self.assertEqual(c.status, 401, c.text + self.logs())
        nonce = c.param("www-authenticate", "nonce")
        usim = aka_ue(K, OPC, nonce, opc=True)
        pw = aka_password(1, usim["res"], usim["ik"], usim["ck"])
        final = R.send(ue, ue.build(auth=auth_header(user, nonce, digest_response(user, pw, nonce),
                                                     algorithm="AKAv1-MD5"), **kw))
        self.assertEqual(final.status, 200, final.text + self.logs())
        _, _, m = H.http("GET", self.pcscf.url + "/metrics")
        self.assertGreaterEqual(metric(m, "pcscf_aka_keys_stripped_total"), 1, m)
        time.sleep(WRITE_BEHIND_S)
        self.pcscf.kill()  # the WAL file stays too: search every file SQLite left
        blob = b""
        for name in os.listdir(self.dir):
            if name.startswith("pcscf.db"):
                with open(os.path.join(self.dir, name), "rb") as f:
                    blob += f.read()
        self.assertIn(f"sip:{user}@{D}".encode(), blob, "the AKA registration was not stored")
        low = blob.lower()
        for name in ("ck", "ik"):
            self.assertNotIn(usim[name].lower().encode(), low, f"{name} written to the state file")
            self.assertNotIn(bytes.fromhex(usim[name]), blob, f"{name} written to the state file")
        mode = os.stat(self.state).st_mode & 0o777
        self.assertEqual(mode & 0o077, 0, f"state file mode {oct(mode)} is readable by others")


class BadStateFile(unittest.TestCase):
    def run_pcscf(self, state):
        argv = [H.bin_path("pcscf"), "--sip", f"127.0.0.1:{H.free_port()}",
                "--http", f"127.0.0.1:{H.free_port(both=False)}", "--state", state]
        p = subprocess.run(argv, capture_output=True, timeout=20)
        return p.returncode, p.stderr.decode(errors="replace").strip()

    def check_refused(self, state, reason):
        rc, err = self.run_pcscf(state)
        self.assertNotEqual(rc, 0, err)
        self.assertEqual(len(err.splitlines()), 1, err)
        self.assertIn(state, err)
        self.assertIn(reason, err)

    def test_garbage_file_refused(self):
        path = os.path.join(H.tmpdir(), "pcscf.db")
        with open(path, "wb") as f:
            f.write(b"this is not a database\n" * 400)
        self.check_refused(path, "not a database")

    def test_foreign_database_refused_and_untouched(self):
        path = os.path.join(H.tmpdir(), "hss.db")
        with sqlite3.connect(path) as db:
            db.execute("CREATE TABLE subscribers(imsi TEXT PRIMARY KEY)")
            db.execute("INSERT INTO subscribers VALUES('432011123456791')")
        before = open(path, "rb").read()
        self.check_refused(path, "not a P-CSCF state file")
        self.assertEqual(open(path, "rb").read(), before, "the foreign file was modified")

    def test_corrupt_row_refused(self):
        d = H.tmpdir()
        path = os.path.join(d, "pcscf.db")
        # A good file first (the daemon creates and stamps it), then a broken row in it.
        pc = H.Pcscf("sip:127.0.0.1:9", logdir=d, state=path)
        self.addCleanup(pc.kill)
        self.assertEqual(pc.stop(), 0, pc.log())
        with sqlite3.connect(path) as db:
            db.execute("INSERT INTO registrations VALUES('sip:x@y', '{not json')")
        self.check_refused(path, "corrupt row for sip:x@y")

    def test_unreadable_path_refused(self):
        d = H.tmpdir()
        blocker = os.path.join(d, "file")
        open(blocker, "w").close()
        # A folder where a file is: SQLite cannot create the database under it.
        self.check_refused(os.path.join(blocker, "pcscf.db"), "cannot open")

    def test_failed_start_creates_no_file(self):
        busy = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        busy.bind(("127.0.0.1", 0))
        self.addCleanup(busy.close)
        path = os.path.join(H.tmpdir(), "sub", "pcscf.db")
        argv = [H.bin_path("pcscf"), "--sip", f"127.0.0.1:{busy.getsockname()[1]}",
                "--http", f"127.0.0.1:{H.free_port(both=False)}", "--state", path]
        p = subprocess.run(argv, capture_output=True, timeout=20)
        self.assertNotEqual(p.returncode, 0, p.stderr)
        self.assertFalse(os.path.exists(os.path.dirname(path)), "a failed start left files")

    def test_memory_keeps_nothing(self):
        d = H.tmpdir()
        pc = H.Pcscf("sip:127.0.0.1:9", logdir=d)  # harness default: --state :memory:
        self.addCleanup(pc.kill)
        _, _, m = H.http("GET", pc.url + "/metrics")
        self.assertEqual(metric(m, "pcscf_state_enabled"), 0, m)
        self.assertEqual(pc.stop(), 0)
        self.assertEqual(os.listdir(d), ["pcscf.log"])


if __name__ == "__main__":
    H.main()
