"""The S-CSCF never blocks on the HSS: a fake HSS (the only way to make an HSS slow on
purpose) delays one subscriber's MAR while another UE registers; a dead or hanging HSS gets
the UE a 503 with Retry-After within the configured timeout."""

import hashlib
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402
from scscf_util import D, Ue  # noqa: E402


def ha1(user, pw):
    return hashlib.md5(f"{user}:{D}:{pw}".encode()).hexdigest()


class FakeHss(BaseHTTPRequestHandler):
    """Answers MAR for any IMPU with digest material (password = user part); IMPUs whose
    user part starts with 'slow' wait `delay` seconds first, 'hang' ones 30 s."""
    delay = 3.0

    def log_message(self, *a):
        pass

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        req = json.loads(self.rfile.read(n) or b"{}")
        if self.path == "/api/v1/cx/sar":
            return self.reply(200, {"imsi": "0", "state": req.get("state")})
        impu = req.get("impu", "")
        user = impu.split(":", 1)[1].split("@", 1)[0]
        if user.startswith("slow"):
            time.sleep(self.delay)
        if user.startswith("hang"):
            time.sleep(30)
        impi = f"{user}@{D}"
        self.reply(200, {"imsi": user, "impi": impi, "scheme": "digest",
                         "ha1": {"impi": ha1(impi, user), "user": ha1(user, user)},
                         "impus": [{"uri": impu, "barred": False}]})

    def reply(self, status, body):
        data = json.dumps(body).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except OSError:
            pass


class ScscfHssFaults(H.unittest.TestCase):
    def start_fake(self):
        srv = ThreadingHTTPServer(("127.0.0.1", 0), FakeHss)
        srv.daemon_threads = True
        t = threading.Thread(target=srv.serve_forever, daemon=True)
        t.start()
        self.addCleanup(srv.server_close)
        self.addCleanup(srv.shutdown)
        return srv, f"http://127.0.0.1:{srv.server_address[1]}"

    def test_slow_mar_does_not_block_others(self):
        _, url = self.start_fake()
        sc = H.Scscf(url, extra=["--hss-timeout-ms", "6000"])
        self.addCleanup(sc.kill)
        slow = Ue(sc.sip_port, "slow1")
        fast = Ue(sc.sip_port, "fast1")
        self.addCleanup(slow.close)
        self.addCleanup(fast.close)
        result = {}

        def slow_ue():
            t0 = time.time()
            result["reply"] = slow.register()
            result["elapsed"] = time.time() - t0

        th = threading.Thread(target=slow_ue)
        th.start()
        time.sleep(0.3)  # the slow MAR is now pending inside the scscf
        t0 = time.time()
        _, ok = fast.register_digest("fast1")
        fast_elapsed = time.time() - t0
        self.assertEqual(ok.status, 200, ok.text)
        self.assertLess(fast_elapsed, 1.0, "a pending HSS call must not delay other UEs")
        th.join(15)
        self.assertEqual(result["reply"].status, 401)
        self.assertGreater(result["elapsed"], 2.0)
        self.assertEqual(sc.stop(), 0, sc.log())

    def test_hanging_hss_gets_503_within_timeout(self):
        _, url = self.start_fake()
        sc = H.Scscf(url, extra=["--hss-timeout-ms", "500"])
        self.addCleanup(sc.kill)
        ue = Ue(sc.sip_port, "hang1")
        self.addCleanup(ue.close)
        t0 = time.time()
        r = ue.register(timeout=5)
        self.assertEqual(r.status, 503, r.text)
        self.assertLess(time.time() - t0, 3.0)
        self.assertTrue(r.h("retry-after"))
        self.assertTrue(r.h("warning"))
        self.assertEqual(sc.stop(), 0, sc.log())

    def test_dead_hss_gets_503(self):
        hss = H.Hss()
        sc = H.Scscf(hss.url, extra=["--hss-timeout-ms", "1000"])
        self.addCleanup(sc.kill)
        hss.kill()
        ue = Ue(sc.sip_port)
        self.addCleanup(ue.close)
        t0 = time.time()
        r = ue.register()
        self.assertEqual(r.status, 503, r.text)
        self.assertEqual(r.reason, "Service Unavailable - HSS Unreachable")
        self.assertTrue(r.h("retry-after"))
        self.assertLess(time.time() - t0, 3.0)
        # and it keeps serving
        self.assertEqual(ue.register().status, 503)
        self.assertEqual(sc.stop(), 0, sc.log())


if __name__ == "__main__":
    H.main()
