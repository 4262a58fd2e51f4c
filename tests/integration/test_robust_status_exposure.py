"""Like the HSS API, a CSCF status API on a non-loopback address without --token refuses
to start (anyone on the network could otherwise DELETE registrations). Checked without
listening off loopback: 192.0.2.1 (TEST-NET-1) cannot be bound, so a daemon that did not
refuse first would fail with a bind error instead of the expected '--token' reason."""

import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402


class StatusApiExposure(unittest.TestCase):
    def run_bin(self, name, argv):
        p = subprocess.run([H.bin_path(name)] + argv, capture_output=True, timeout=20)
        return p.returncode, (p.stderr + p.stdout).decode(errors="replace")

    def test_non_loopback_status_api_needs_token(self):
        port = H.free_port(both=False)
        for name, extra in (("scscf", ["--hss", "http://127.0.0.1:1", "--state", ":memory:"]),
                            ("pcscf", ["--scscf", "sip:127.0.0.1:6060"])):
            with self.subTest(daemon=name):
                rc, out = self.run_bin(name, ["--sip", f"127.0.0.1:{H.free_port()}",
                                              "--http", f"192.0.2.1:{port}"] + extra)
                self.assertNotEqual(rc, 0, out)
                self.assertIn("--token", out)
                self.assertEqual(len(out.strip().splitlines()), 1, out)


if __name__ == "__main__":
    H.main()
