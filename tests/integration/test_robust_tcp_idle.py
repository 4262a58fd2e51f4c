"""--tcp-idle: the P-CSCF and the S-CSCF close SIP TCP connections that went idle after
traffic, and connections that stopped in the middle of a message, so abandoned
connections do not pile up. Without the limit Sofia keeps them open forever."""

import os
import socket
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402

D = H.DOMAIN


def options(port):
    return (f"OPTIONS sip:{D} SIP/2.0\r\n"
            f"Via: SIP/2.0/TCP 127.0.0.1:{port};branch=z9hG4bK-idle-{time.monotonic_ns()}\r\n"
            f"From: <sip:probe@{D}>;tag=idle\r\nTo: <sip:{D}>\r\n"
            f"Call-ID: idle-{time.monotonic_ns()}@127.0.0.1\r\nCSeq: 1 OPTIONS\r\n"
            "Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n").encode()


def closed_within(sock, seconds):
    """Seconds until the server closed sock (recv returned b''), or None if it stayed
    open for `seconds`. Any bytes received before the close are skipped."""
    t0 = time.monotonic()
    sock.settimeout(0.2)
    while time.monotonic() - t0 < seconds:
        try:
            if sock.recv(4096) == b"":
                return time.monotonic() - t0
        except socket.timeout:
            continue
        except ConnectionResetError:
            return time.monotonic() - t0
    return None


class TcpIdleTest(unittest.TestCase):
    def daemons(self, idle):
        extra = ["--tcp-idle", str(idle)] if idle is not None else []
        hss = H.Hss()
        self.addCleanup(hss.stop)
        sc = H.Scscf(hss.url, extra=extra)
        self.addCleanup(sc.stop)
        pc = H.Pcscf(f"sip:127.0.0.1:{sc.sip_port}", extra=extra)
        self.addCleanup(pc.stop)
        return {"scscf": sc, "pcscf": pc}

    def connect(self, daemon):
        s = socket.create_connection(("127.0.0.1", daemon.sip_port), timeout=5)
        self.addCleanup(s.close)
        return s

    def test_idle_and_stalled_connections_are_closed(self):
        for name, d in self.daemons(idle=1).items():
            with self.subTest(daemon=name, case="idle after a request"):
                s = self.connect(d)
                s.sendall(options(s.getsockname()[1]))
                s.settimeout(5)
                self.assertTrue(s.recv(4096).startswith(b"SIP/2.0 "), "no answer over TCP")
                took = closed_within(s, 8)
                self.assertIsNotNone(took, f"{name} kept an idle TCP connection open")
            with self.subTest(daemon=name, case="message never finished"):
                s = self.connect(d)
                s.sendall(f"REGISTER sip:{D} SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1".encode())
                took = closed_within(s, 8)
                self.assertIsNotNone(took, f"{name} kept a stalled TCP connection open")
            with self.subTest(daemon=name, case="still serving"):
                s = self.connect(d)
                s.sendall(options(s.getsockname()[1]))
                s.settimeout(5)
                self.assertTrue(s.recv(4096).startswith(b"SIP/2.0 "))

    def test_zero_keeps_connections(self):
        """--tcp-idle 0 switches the limit off: the connection outlives several seconds of
        silence (this is also what makes the test above able to fail)."""
        for name, d in self.daemons(idle=0).items():
            with self.subTest(daemon=name):
                s = self.connect(d)
                s.sendall(options(s.getsockname()[1]))
                s.settimeout(5)
                self.assertTrue(s.recv(4096).startswith(b"SIP/2.0 "))
                self.assertIsNone(closed_within(s, 3), f"{name} closed with --tcp-idle 0")


if __name__ == "__main__":
    unittest.main()
