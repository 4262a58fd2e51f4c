# Our lab for benchmarks: hss-stub + scscf + pcscf from a build's bin/ on free loopback
# ports, in-memory state, users bulk-provisioned over the HSS API; stopped by PID.

import json
import os
import subprocess
import time
import urllib.error
import urllib.request

import benchlib

BATCH = 400  # subscribers per bulk POST: keeps each body well under the 64 KiB limit


class NotReady(Exception):
    """Our daemons are missing or do not work yet: the caller skips our side."""


def _http(method, url, body=None, timeout=30):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": "application/json"} if data else {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read().decode(errors="replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")


def _has_option(bin_dir, name, option):
    """Whether `name --help` lists `option` (daemons gain options over time)."""
    try:
        p = subprocess.run([os.path.join(bin_dir, name), "--help"], capture_output=True,
                           timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return f"{option} ".encode() in p.stdout + p.stderr


class OurLab(benchlib.ProcGroup):
    name = "ours"

    def __init__(self, bin_dir, users, domain, workdir, log_level="warn", wrap=None):
        self.bin_dir = os.path.abspath(bin_dir)
        self.users = users
        self.domain = domain
        self.dir = os.path.join(workdir, "ours")
        os.makedirs(self.dir)
        self.log_level = log_level
        # {daemon: argv prefix}, e.g. valgrind for an instruction count
        self.wrap = wrap or {}
        self.procs = []
        for b in ("hss-stub", "scscf", "pcscf"):
            if not os.access(os.path.join(bin_dir, b), os.X_OK):
                raise NotReady(f"{os.path.join(bin_dir, b)} is not built")
        self.hss_port = benchlib.free_port(udp_too=False)
        self.scscf_sip = benchlib.free_port()
        self.scscf_http = benchlib.free_port(udp_too=False)
        self.edge_port = benchlib.free_port()
        self.pcscf_http = benchlib.free_port(udp_too=False)

    def _start(self, name, args, health_url):
        p = benchlib.Proc(name, self.wrap.get(name, []) + [os.path.join(self.bin_dir, name)]
                          + args, self.dir, cwd=self.dir)
        self.procs.append(p)
        deadline = time.monotonic() + (60 if name in self.wrap else 15)
        while time.monotonic() < deadline:
            if not p.alive():
                raise NotReady(f"{name} exited at startup:\n{p.log_text(1500)}")
            try:
                if _http("GET", health_url, timeout=1)[0] == 200:
                    return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.05)
        raise NotReady(f"{name} not healthy at {health_url}:\n{p.log_text(1500)}")

    def start(self):
        ll = ["--log-level", self.log_level]
        hss = f"http://127.0.0.1:{self.hss_port}"
        self._start("hss-stub", ["--http", f"127.0.0.1:{self.hss_port}", "--db", ":memory:",
                                 "--domain", self.domain] + ll, hss + "/healthz")
        self._provision(hss)
        self._start("scscf", ["--sip", f"127.0.0.1:{self.scscf_sip}",
                              "--http", f"127.0.0.1:{self.scscf_http}", "--hss", hss,
                              "--domain", self.domain, "--state", ":memory:"] + ll,
                    f"http://127.0.0.1:{self.scscf_http}/healthz")
        # A pcscf that persists its cache (--state, default var/pcscf.db) runs with
        # in-memory state here like the scscf; older builds have no such option.
        state = ["--state", ":memory:"] if _has_option(self.bin_dir, "pcscf", "--state") \
            else []
        self._start("pcscf", ["--sip", f"127.0.0.1:{self.edge_port}",
                              "--http", f"127.0.0.1:{self.pcscf_http}",
                              "--scscf", f"sip:127.0.0.1:{self.scscf_sip}",
                              "--domain", self.domain] + state + ll,
                    f"http://127.0.0.1:{self.pcscf_http}/healthz")

    def _provision(self, hss):
        for i in range(0, len(self.users), BATCH):
            items = [{"imsi": imsi, "auth": {"scheme": "digest", "password": pw}}
                     for imsi, pw in self.users[i:i + BATCH]]
            st, body = _http("POST", hss + "/api/v1/subscribers", items, timeout=60)
            if st != 201:
                raise NotReady(f"hss-stub bulk import failed: {st} {body[:300]}")

    def _status_port(self, daemon):
        return {"scscf": self.scscf_http, "pcscf": self.pcscf_http}[daemon]

    def registrations(self, daemon="scscf", timeout=10):
        """The "total" the scscf's (or pcscf's) GET /api/v1/registrations reports (None
        if its status API does not answer)."""
        try:
            st, body = _http("GET", f"http://127.0.0.1:{self._status_port(daemon)}"
                             "/api/v1/registrations?limit=1", timeout=timeout)
            return json.loads(body).get("total") if st == 200 else None
        except (ValueError, OSError, urllib.error.URLError):
            return None

    def registration_listing(self, daemon, timeout=120):
        """(total, items listed, contacts listed) from the full GET /api/v1/registrations
        of the scscf or pcscf; None if it does not answer. Heavy with many bindings (the
        daemon builds the whole JSON on its loop thread): for an end-of-run check."""
        try:
            st, body = _http("GET", f"http://127.0.0.1:{self._status_port(daemon)}"
                             "/api/v1/registrations", timeout=timeout)
            if st != 200:
                return None
            j = json.loads(body)
        except (ValueError, OSError, urllib.error.URLError):
            return None
        items = j.get("items") or []
        return (j.get("total"), len(items),
                sum(len(i.get("contacts") or []) for i in items))

    def metrics(self, daemon):
        """The scscf's or pcscf's GET /metrics as {name: value} (None if no answer)."""
        try:
            st, body = _http("GET", f"http://127.0.0.1:{self._status_port(daemon)}/metrics",
                             timeout=10)
        except (OSError, urllib.error.URLError):
            return None
        return benchlib.parse_prometheus(body) if st == 200 else None

