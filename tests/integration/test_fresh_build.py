"""First contact on a machine that has only the build and lab packages: a fresh copy of the
checkout, a pkg-config that reports cmocka missing, then `make build` and `make lab` as the
README says. Both must work, say that the tests were skipped, and start a working lab."""

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import SRC_DIR, free_port, http, main, tmpdir  # noqa: E402
from test_lab_runner import READY, LabRun  # noqa: E402

# Answers like a machine where libcmocka-dev was never installed; everything else goes to
# the real pkg-config.
FAKE_PKG_CONFIG = """#!/bin/sh
for a in "$@"; do
    case "$a" in
    cmocka*) exit 1 ;;
    esac
done
exec {real} "$@"
"""


def copy_checkout(dst):
    """The files a clone would have (tracked, plus new files not ignored), from the working
    tree so the change under test is what gets built."""
    try:
        out = subprocess.run(["git", "-C", SRC_DIR, "ls-files", "-z", "-co", "--exclude-standard"],
                             capture_output=True, check=True).stdout
        files = [f for f in out.decode().split("\0") if f]
    except (OSError, subprocess.CalledProcessError):
        raise unittest.SkipTest("the source tree is not a git checkout")
    for rel in files:
        src = os.path.join(SRC_DIR, rel)
        if not os.path.isfile(src):
            continue  # deleted in the working tree
        os.makedirs(os.path.dirname(os.path.join(dst, rel)), exist_ok=True)
        shutil.copy2(src, os.path.join(dst, rel))


class MakeLabRun(LabRun):
    """`make lab` (not scripts/lab directly) on free ports, output collected like LabRun."""

    def __init__(self, tree, env, build_dir):
        self.ports = {k: free_port() if k in ("listen", "scscf-sip") else free_port(both=False)
                      for k in ("listen", "scscf-sip", "hss-http", "scscf-http", "pcscf-http")}
        work = tmpdir("ims-fresh-lab-")
        args = [f"--bin-dir {build_dir}/bin", f"--db {work}/hss.db",
                f"--state {work}/scscf.db"]
        args += [f"--{k} 127.0.0.1:{p}" for k, p in self.ports.items()]
        argv = ["make", "-C", tree, "lab", f"BUILD_DIR={build_dir}", "JOBS=2",
                "LAB_ARGS=" + " ".join(args)]
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     env=env, start_new_session=True)
        self.lines = []
        self.cond = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()


class FreshBuild(unittest.TestCase):
    def setUp(self):
        for tool in ("git", "make", "cmake", "pkg-config"):
            if shutil.which(tool) is None:
                self.skipTest(f"{tool} is not installed")
        self.tree = tmpdir("ims-fresh-")
        copy_checkout(self.tree)
        fake = tmpdir("ims-fake-pc-")
        with open(os.path.join(fake, "pkg-config"), "w") as f:
            f.write(FAKE_PKG_CONFIG.format(real=shutil.which("pkg-config")))
        os.chmod(os.path.join(fake, "pkg-config"), 0o755)
        self.env = {k: v for k, v in os.environ.items()
                    if k not in ("IMS_BIN_DIR", "PKG_CONFIG", "MAKEFLAGS", "MFLAGS")}
        self.env["PATH"] = fake + os.pathsep + os.environ.get("PATH", "")
        self.env["PYTHONUNBUFFERED"] = "1"
        self.build = os.path.join(self.tree, "build")

    def run_make(self, *args, timeout=280):
        p = subprocess.run(["make", "-C", self.tree, *args], env=self.env,
                           capture_output=True, timeout=timeout)
        return p.returncode, (p.stdout + p.stderr).decode(errors="replace")

    def test_make_build_then_make_lab_without_cmocka(self):
        # The fake really hides cmocka (or the test proves nothing).
        p = subprocess.run(["pkg-config", "--exists", "cmocka"], env=self.env)
        self.assertNotEqual(p.returncode, 0)

        rc, out = self.run_make("build", "JOBS=2")
        self.assertEqual(rc, 0, out[-4000:])
        self.assertIn("Tests skipped: cmocka not found", out)
        self.assertIn("libcmocka-dev", out)
        for name in ("hss-stub", "scscf", "pcscf"):
            exe = os.path.join(self.build, "bin", name)
            self.assertTrue(os.access(exe, os.X_OK), f"{exe} was not built:\n{out[-4000:]}")
            v = subprocess.run([exe, "--version"], capture_output=True, timeout=10)
            self.assertEqual(v.returncode, 0, v.stderr)
        # No test was configured, so nothing refers to the missing library.
        n = subprocess.run(["ctest", "--test-dir", self.build, "-N"], capture_output=True,
                           env=self.env, timeout=30)
        self.assertIn(b"Total Tests: 0", n.stdout)

        lab = MakeLabRun(self.tree, self.env, self.build)
        self.addCleanup(lab.kill)
        lab.wait_for(READY, timeout=120)
        for key in ("hss-http", "scscf-http", "pcscf-http"):
            st, _, body = http("GET", lab.url(key) + "/healthz")
            self.assertEqual((st, body), (200, {"status": "ok"}), key)
        pids = lab.pids()
        self.assertEqual(set(pids), {"hss-stub", "scscf", "pcscf"}, lab.text())
        # Ctrl-C stops the lab; make passes the lab's exit status through.
        os.killpg(lab.proc.pid, signal.SIGINT)
        lab.proc.wait(30)
        deadline = time.time() + 10
        alive = set(pids)
        while alive and time.time() < deadline:
            for name in list(alive):
                try:
                    os.kill(pids[name], 0)
                except ProcessLookupError:
                    alive.discard(name)
            time.sleep(0.1)
        self.assertFalse(alive, f"still running after Ctrl-C: {alive}")

    def test_tests_asked_for_without_cmocka_is_a_clear_error(self):
        build = os.path.join(self.tree, "build-t")
        p = subprocess.run(["cmake", "-S", self.tree, "-B", build, "-DIMS_TESTS=ON"],
                           capture_output=True, env=self.env, timeout=120)
        out = (p.stdout + p.stderr).decode(errors="replace")
        self.assertNotEqual(p.returncode, 0, out)
        self.assertIn("IMS_TESTS=ON needs cmocka", out)
        self.assertIn("libcmocka-dev", out)


if __name__ == "__main__":
    main()
