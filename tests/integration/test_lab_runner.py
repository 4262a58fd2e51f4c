"""scripts/lab end to end: starts the three real daemons on free ports with temp files,
prints the ready banner, provisions the demo subscriber once, registers it with the
documented `scripts/lab register` one-liner, and stops cleanly on SIGINT or a crash."""

import atexit
import os
import re
import signal
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (BIN_DIR, DEMO, DOMAIN, SRC_DIR, bin_path, free_port, http, main,  # noqa: E402
                     tmpdir)

LAB = os.path.join(SRC_DIR, "scripts", "lab")
READY = "IMS lab is ready"


class LabRun:
    """One scripts/lab process; its output collected by a thread so the pipe never fills."""

    def __init__(self, work, extra=None):
        self.ports = {k: free_port() if k in ("listen", "scscf-sip") else free_port(both=False)
                      for k in ("listen", "scscf-sip", "hss-http", "scscf-http", "pcscf-http")}
        argv = [sys.executable, LAB, "--bin-dir", BIN_DIR, "--db", os.path.join(work, "hss.db"),
                "--state", os.path.join(work, "scscf.db"), "--log-level", "info"]
        for k, port in self.ports.items():
            argv += [f"--{k}", f"127.0.0.1:{port}"]
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen(argv + (extra or []), stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, env=env, start_new_session=True)
        self.lines = []
        self.cond = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()
        atexit.register(self.kill)  # also when a test dies half-way

    def _read(self):
        for raw in iter(self.proc.stdout.readline, b""):
            with self.cond:
                self.lines.append(raw.decode(errors="replace").rstrip("\n"))
                self.cond.notify_all()
        with self.cond:
            self.lines.append(None)  # EOF marker
            self.cond.notify_all()
        self.proc.stdout.close()

    def text(self):
        with self.cond:
            return "\n".join(line for line in self.lines if line is not None)

    def wait_for(self, needle, timeout=60):
        deadline = time.time() + timeout
        with self.cond:
            while time.time() < deadline:
                if any(line is not None and needle in line for line in self.lines):
                    return
                if None in self.lines:
                    break
                self.cond.wait(0.5)
        raise AssertionError(f"no {needle!r} from scripts/lab:\n{self.text()}")

    def pids(self):
        return {m.group(1): int(m.group(2)) for m in
                re.finditer(r"lab: started (\S+) \(pid (\d+)\)", self.text())}

    def url(self, key):
        return f"http://127.0.0.1:{self.ports[key]}"

    def finish(self, sig=signal.SIGINT, timeout=30):
        if self.proc.poll() is None:
            # To the whole process group, as a terminal's Ctrl-C does.
            os.killpg(self.proc.pid, sig)
        try:
            return self.proc.wait(timeout)
        finally:
            self.kill()

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        for pid in self.pids().values():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


class LabRunner(unittest.TestCase):
    def setUp(self):
        self.work = tmpdir("ims-lab-")
        self.runs = []

    def tearDown(self):
        for r in self.runs:
            r.kill()

    def start(self, extra=None):
        for b in ("hss-stub", "scscf", "pcscf"):
            bin_path(b)
        r = LabRun(self.work, extra)
        self.runs.append(r)
        r.wait_for(READY)
        return r

    def assert_gone(self, pid):
        # The lab reaps its children, so a stopped daemon's PID no longer exists.
        deadline = time.time() + 5
        while time.time() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.05)
        self.fail(f"pid {pid} still exists")

    def test_ready_provisioned_healthy_then_sigint(self):
        lab = self.start()
        out = lab.text()
        self.assertIn(f"provisioned the demo subscriber {DEMO['imsi']}", out)
        st, _, sub = http("GET", lab.url("hss-http") + f"/api/v1/subscribers/{DEMO['imsi']}")
        self.assertEqual(st, 200, sub)
        self.assertEqual(sub["msisdn"], DEMO["msisdn"])
        self.assertEqual(sub["auth"]["scheme"], "digest")
        for key in ("hss-http", "scscf-http", "pcscf-http"):
            st, _, body = http("GET", lab.url(key) + "/healthz")
            self.assertEqual((st, body), (200, {"status": "ok"}), key)
        # The softphone block names everything a user types into the account dialog.
        for needle in (f"SIP proxy           : 127.0.0.1:{lab.ports['listen']}",
                       f"SIP server / domain : {DOMAIN}", f"Username            : {DEMO['imsi']}",
                       f"Password            : {DEMO['auth']['password']}", "Transport"):
            self.assertIn(needle, out)
        # The web console: printed, served, and told where the lab's status APIs are.
        console = lab.url("hss-http") + "/console/"
        self.assertIn(f"Web console    {console}", out)
        self.assertEqual(http("GET", console)[0], 200)
        st, _, cfg = http("GET", console + "config.json")
        self.assertEqual((cfg["scscf"], cfg["pcscf"]),
                         (lab.url("scscf-http"), lab.url("pcscf-http")))
        # Interleaved logs, each line prefixed by its process.
        for name in ("hss-stub", "scscf", "pcscf"):
            self.assertRegex(out, rf"(?m)^{re.escape(name.ljust(8))} \| ")
        pids = lab.pids()
        self.assertEqual(sorted(pids), ["hss-stub", "pcscf", "scscf"])

        self.assertEqual(lab.finish(signal.SIGINT), 0, lab.text())
        out = lab.text()
        for name, pid in pids.items():
            self.assertIn(f"lab: {name} stopped cleanly", out)
            self.assert_gone(pid)

    def test_demo_one_liner_registers_and_subscribers_survive_restart(self):
        lab = self.start()
        r = subprocess.run([sys.executable, LAB, "register", f"127.0.0.1:{lab.ports['listen']}"],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr + lab.text())
        self.assertIn("SIP/2.0 200 OK", r.stdout)
        st, _, regs = http("GET", lab.url("scscf-http") + "/api/v1/registrations")
        self.assertEqual(st, 200)
        self.assertIn(f"sip:{DEMO['msisdn']}@{DOMAIN}", str(regs))
        st, _, regs = http("GET", lab.url("pcscf-http") + "/api/v1/registrations")
        self.assertEqual(st, 200)
        self.assertIn(f"sip:{DEMO['msisdn']}@{DOMAIN}", str(regs))
        self.assertEqual(lab.finish(), 0, lab.text())

        # Same db: the subscriber is still there and is not provisioned twice.
        lab2 = self.start()
        out = lab2.text()
        self.assertNotIn("provisioned the demo subscriber", out)
        self.assertIn("demo subscriber present", out)
        st, _, body = http("GET", lab2.url("hss-http") + "/api/v1/subscribers")
        self.assertEqual((st, body["total"]), (200, 1), body)
        self.assertEqual(lab2.finish(signal.SIGTERM), 0, lab2.text())

    def test_aka_one_liner(self):
        # The AKA path of docs/softphones.md: provision the lab test key, register with it.
        lab = self.start()
        aka = {"imsi": "001010000000001", "auth": {
            "scheme": "aka", "k": "494d536c61624b657930313233343536",
            "op": "494d536c61624f7056616c7565373839", "amf": "4142"}}
        st, _, body = http("POST", lab.url("hss-http") + "/api/v1/subscribers", aka)
        self.assertEqual(st, 201, body)
        r = subprocess.run([sys.executable, LAB, "register", f"127.0.0.1:{lab.ports['listen']}",
                            "--aka", "--user", aka["imsi"]],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr + lab.text())
        self.assertIn('algorithm=AKAv1-MD5', r.stdout)
        self.assertIn("SIP/2.0 200 OK", r.stdout)
        self.assertEqual(lab.finish(), 0, lab.text())

    def test_crash_of_one_stops_the_lab(self):
        lab = self.start()
        pids = lab.pids()
        os.kill(pids["scscf"], signal.SIGKILL)
        rc = lab.proc.wait(30)
        out = lab.text()
        self.assertEqual(rc, 1, out)
        self.assertIn("lab: scscf stopped unexpectedly (killed by SIGKILL); stopping the lab", out)
        for name in ("hss-stub", "pcscf"):
            self.assertIn(f"lab: {name} stopped cleanly", out)
            self.assert_gone(pids[name])

    def test_daemons_die_with_a_killed_lab(self):
        # SIGKILL gives the lab no chance to clean up; the kernel must still stop them.
        lab = self.start()
        pids = lab.pids()
        os.kill(lab.proc.pid, signal.SIGKILL)
        lab.proc.wait(10)
        for pid in pids.values():
            self.assert_gone_or_zombie(pid)

    def assert_gone_or_zombie(self, pid):
        # Orphans are re-parented and reaped by init (or a subreaper); either way the
        # process must stop running within a few seconds.
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                with open(f"/proc/{pid}/stat") as f:
                    if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                        return
            except FileNotFoundError:
                return
            time.sleep(0.05)
        self.fail(f"pid {pid} still runs after its lab was killed")

    def test_bad_option_is_a_clear_error(self):
        r = subprocess.run([sys.executable, LAB, "--mcc", "43", "--mnc", "11"],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 2)
        self.assertIn("--mcc needs 3 digits", r.stderr)
        r = subprocess.run([sys.executable, LAB, "--listen", "nowhere"],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 2)
        self.assertIn("expected HOST:PORT", r.stderr)

    def test_mcc_mnc_set_the_domain(self):
        lab = self.start(["--mcc", "001", "--mnc", "01"])
        self.assertIn("SIP server / domain : ims.mnc001.mcc001.3gppnetwork.org", lab.text())
        st, _, sub = http("GET", lab.url("hss-http") + f"/api/v1/subscribers/{DEMO['imsi']}")
        self.assertEqual(sub["impi"], f"{DEMO['imsi']}@ims.mnc001.mcc001.3gppnetwork.org")
        self.assertEqual(lab.finish(), 0, lab.text())
        # Same db, default domain again: the stale demo subscriber is pointed out.
        lab2 = self.start()
        self.assertIn("belongs to ims.mnc001.mcc001.3gppnetwork.org, not " + DOMAIN, lab2.text())
        self.assertEqual(lab2.finish(), 0, lab2.text())


if __name__ == "__main__":
    main()
