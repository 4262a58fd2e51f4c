"""Access control: the HSS API refuses a non-loopback listen address without --token unless
--insecure (checked without ever listening off loopback: the refusal comes before the bind,
and with --insecure the TEST-NET address simply cannot be bound); the status APIs of both
CSCFs refuse DELETE without the bearer token while GET stays open; tokens are compared
whole (no prefix, no other scheme, no empty token)."""

import os
import subprocess
import sys
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402
import robust_util as R  # noqa: E402
from scscf_util import Ue  # noqa: E402

TOKEN = "robust-token-6d1f0c"
UNBINDABLE = "192.0.2.1"  # RFC 5737 TEST-NET-1: never configured here, so bind() fails


def run(argv, timeout=20):
    p = subprocess.run(argv, capture_output=True, timeout=timeout)
    return p.returncode, (p.stderr + p.stdout).decode(errors="replace")


class HssListenPolicy(unittest.TestCase):
    def hss(self, addr, extra=()):
        return run([H.bin_path("hss-stub"), "--http", addr, "--db", ":memory:"] + list(extra))

    def test_refuses_non_loopback_without_token(self):
        port = H.free_port(both=False)
        for addr in (f"0.0.0.0:{port}", f"[::]:{port}", f"{UNBINDABLE}:{port}"):
            with self.subTest(addr=addr):
                rc, out = self.hss(addr)
                self.assertNotEqual(rc, 0, out)
                self.assertLess(rc, 128, f"crashed: {out}")
                self.assertIn("--token", out)
                self.assertEqual(len(out.strip().splitlines()), 1, out)

    def test_env_cannot_sneak_past(self):
        """The same rule through the environment (docker) and a config file."""
        port = H.free_port(both=False)
        env = dict(os.environ, HSS_HTTP=f"0.0.0.0:{port}", HSS_DB=":memory:")
        p = subprocess.run([H.bin_path("hss-stub")], capture_output=True, timeout=20, env=env)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn(b"--token", p.stderr + p.stdout)
        cfg = os.path.join(H.tmpdir(), "hss.json")
        with open(cfg, "w") as f:
            f.write('{"http": "0.0.0.0:%d", "db": ":memory:", "token": ""}' % port)
        rc, out = run([H.bin_path("hss-stub"), "--config", cfg])
        self.assertNotEqual(rc, 0, out)  # an empty token is no token

    def test_insecure_or_token_lift_the_refusal(self):
        """With --insecure (or a token) the policy no longer objects: what stops the start
        is then only the unbindable address, and the message says so."""
        port = H.free_port(both=False)
        for extra in (["--insecure"], ["--token", TOKEN]):
            with self.subTest(extra=extra[0]):
                rc, out = self.hss(f"{UNBINDABLE}:{port}", extra)
                self.assertNotEqual(rc, 0, out)
                self.assertLess(rc, 128, f"crashed: {out}")
                self.assertNotIn("--token", out.replace(TOKEN, ""), out)
                self.assertNotIn(TOKEN, out, "the token was printed")

    def test_loopback_needs_no_token(self):
        hss = H.Hss()
        self.addCleanup(hss.kill)
        st, _, _ = H.http("GET", hss.url + "/api/v1/subscribers")
        self.assertEqual(st, 200)
        self.assertEqual(hss.stop(), 0)


class StatusApiToken(unittest.TestCase):
    def setUp(self):
        self.ch = R.Chain(self, scscf_extra=["--token", TOKEN], pcscf_extra=["--token", TOKEN])
        ue = R.pcscf_ue(self, self.ch.pcscf.sip_port)
        _, r = R.register(ue)
        self.assertEqual(r.status, 200, r.text + self.ch.logs())

    def check(self, daemon):
        path = daemon.url + "/api/v1/registrations/" + urllib.parse.quote(R.IMPU, safe="")
        bad = [None, {"Authorization": "Bearer"}, {"Authorization": "Bearer "},
               {"Authorization": "Bearer wrong"},
               {"Authorization": f"Bearer {TOKEN[:-1]}"},       # prefix
               {"Authorization": f"Bearer {TOKEN}x"},           # extension
               {"Authorization": f"Basic {TOKEN}"},             # other scheme
               {"Authorization": TOKEN},
               {"X-Token": TOKEN}]
        for h in bad:
            with self.subTest(daemon=daemon.name, headers=h):
                st, rh, body = H.http("DELETE", path, headers=h)
                self.assertEqual(st, 401, body)
                self.assertIn("error", body if isinstance(body, dict) else {}, body)
                st, _, view = H.http("GET", path)
                self.assertEqual(st, 200, f"a refused DELETE removed the binding: {view}")
        for p in ("/api/v1/registrations", "/metrics", "/healthz"):
            st, _, out = H.http("GET", daemon.url + p)
            self.assertEqual(st, 200, out)
            self.assertNotIn(TOKEN, str(out))
        st, _, _ = H.http("DELETE", path, headers={"Authorization": f"Bearer {TOKEN}"})
        self.assertIn(st, (200, 204))
        st, _, _ = H.http("GET", path)
        self.assertEqual(st, 404)
        self.assertNotIn(TOKEN, daemon.log())

    def test_scscf_delete_needs_token(self):
        self.check(self.ch.scscf)

    def test_pcscf_delete_needs_token(self):
        self.check(self.ch.pcscf)


class HssToken(unittest.TestCase):
    def test_cx_and_api_need_token_scscf_sends_it(self):
        """With --token on the HSS, Cx calls without it fail (401) and an S-CSCF given
        --hss-token registers fine; one without the token gets an explained 5xx, not a
        200 and not a crash."""
        hss = H.Hss(token=TOKEN)
        self.addCleanup(hss.kill)
        hss.provision(H.DEMO, token=TOKEN)
        st, _, body = H.http("POST", hss.url + "/api/v1/cx/mar", {"impu": R.IMPU})
        self.assertEqual(st, 401, body)
        st, _, body = H.http("GET", hss.url + "/api/v1/subscribers/" + R.USER)
        self.assertEqual(st, 401, body)

        good = H.Scscf(hss.url, extra=["--hss-token", TOKEN])
        self.addCleanup(good.kill)
        ue = Ue(good.sip_port)
        self.addCleanup(ue.close)
        _, r = ue.register_digest()
        self.assertEqual(r.status, 200, r.text + good.log()[-2000:])

        bad = H.Scscf(hss.url, extra=["--hss-token", "not-" + TOKEN])
        self.addCleanup(bad.kill)
        ue2 = Ue(bad.sip_port)
        self.addCleanup(ue2.close)
        r = ue2.register(timeout=10)
        R.assert_explained(self, r, range(500, 600), bad.log()[-2000:])
        for d in (good, bad, hss):
            self.assertNotIn(TOKEN, d.log().replace("not-" + TOKEN, ""), d.name)


if __name__ == "__main__":
    H.main()
