"""SIPVicious (Debian package sipvicious) against the P-CSCF on loopback, each run bounded:
svmap finds the device, svwar scans an extension range, svcrack runs a password dictionary.
Nothing crashes, no account is found without its password (a positive control shows svcrack
does find it when the dictionary holds it), and the real UE still registers afterwards."""

import os
import re
import shutil
import socket
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402
import robust_util as R  # noqa: E402

D = H.DOMAIN
WRONG = [f"{w}{i}" for i in range(60) for w in ("pass", "1234x", "admin", "x")] + \
    ["0000", "1111", "12345", "4321", "password", "letmein", "123", "12340", "01234"]


@unittest.skipIf(shutil.which("svcrack") is None, "sipvicious is not installed")
class SipVicious(unittest.TestCase):
    def setUp(self):
        self.ch = R.Chain(self)
        self.home = H.tmpdir("ims-sipvicious-")  # svmap & co. keep session files in $HOME

    def sv(self, tool, *args, limit=60):
        # -P: a free source port; SIPVicious would otherwise take 5060 (a lab P-CSCF's port).
        argv = [tool, "-p", str(self.ch.pcscf.sip_port), "127.0.0.1", "-b", "127.0.0.1",
                "-P", str(H.free_port()), "--maximumtime", str(limit)] \
            + list(args)
        if tool == "svmap":
            argv.remove("--maximumtime")
            argv.remove(str(limit))
        try:
            p = subprocess.run(argv, capture_output=True, timeout=limit + 30,
                               env=dict(os.environ, HOME=self.home))
        except subprocess.TimeoutExpired as e:
            if tool != "svcrack":
                raise
            # Once the S-CSCF refuses its address (403 Too Many Failed Attempts) svcrack
            # waits for a 401 that never comes, past its own --maximumtime.
            return None, (e.stdout or b"").decode(errors="replace") + \
                (e.stderr or b"").decode(errors="replace")
        return p.returncode, p.stdout.decode(errors="replace") + p.stderr.decode(errors="replace")

    def dictionary(self, words):
        path = os.path.join(self.home, "dict.txt")
        with open(path, "w") as f:
            f.write("\n".join(words) + "\n")
        return path

    def still_serving(self, addr="127.0.0.1"):
        for d in self.ch.daemons():
            self.assertTrue(d.alive(), f"{d.name} died:\n{d.log()[-3000:]}")
        ue = R.pcscf_ue(self, self.ch.pcscf.sip_port)
        if addr != "127.0.0.1":
            ue.sock.close()
            ue.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            ue.sock.bind((addr, 0))
            ue.port = ue.sock.getsockname()[1]
        _, r = R.register(ue)
        self.assertEqual(r.status, 200, r.text + self.ch.logs())
        for d in (self.ch.pcscf, self.ch.scscf):
            self.assertEqual(d.stop(), 0, f"{d.name} exit (ASan/LSan):\n{d.log()[-3000:]}")

    def test_svmap_finds_the_pcscf(self):
        rc, out = self.sv("svmap")
        self.assertEqual(rc, 0, out)
        self.assertIn(f"127.0.0.1:{self.ch.pcscf.sip_port}", out)
        self.still_serving()

    def test_svwar_extension_scan(self):
        rc, out = self.sv("svwar", "-e", "432011123456700-432011123456799", "-m", "REGISTER",
                          "--domain", D, "--force", limit=40)
        self.assertEqual(rc, 0, out)
        self.still_serving()

    def test_svcrack_without_the_password_finds_nothing(self):
        rc, out = self.sv("svcrack", "-u", R.USER, "-d", self.dictionary(WRONG), "--domain", D,
                          limit=20)
        self.assertIn(rc, (0, None), out)
        self.assertNotIn("The password for", out)
        self.assertNotRegex(out, r"\|\s*" + R.USER + r"\s*\|", out)
        # Nothing svcrack sent got a binding.
        st, _, body = H.http("GET", self.ch.scscf.url + "/api/v1/registrations")
        self.assertEqual(body["total"], 0, body)
        # The S-CSCF's guessing brake (--auth-fail-limit, default 10) stopped it ...
        self.assertIn("Too Many Failed Attempts", self.ch.scscf.log())
        # ... without locking out the real UE on another address.
        self.still_serving(addr="127.0.0.2")

    def test_svcrack_positive_control(self):
        """With the password in its dictionary svcrack does find it: the negative result
        above is about our answers, not a tool that cannot talk to us."""
        rc, out = self.sv("svcrack", "-u", R.USER, "-d", self.dictionary(["0000", "1234"]),
                          "--domain", D, limit=30)
        self.assertEqual(rc, 0, out)
        self.assertRegex(out, r"(?s)" + re.escape(R.USER) + r".*1234", out)
        self.still_serving()


if __name__ == "__main__":
    H.main()
