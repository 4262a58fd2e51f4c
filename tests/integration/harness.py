"""Shared helpers for black-box tests: start the real daemons on free loopback ports,
talk HTTP to them, run SIPp, and clean every process up by PID even on failure.
Standard library only."""

import atexit
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest
import urllib.error
import urllib.request

SRC_DIR = os.environ.get("IMS_SOURCE_DIR",
                         os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
BIN_DIR = os.environ.get("IMS_BIN_DIR", os.path.join(SRC_DIR, "build", "bin"))
SIPP_DIR = os.path.join(SRC_DIR, "tests", "sipp")
DOMAIN = "ims.mnc011.mcc432.3gppnetwork.org"
DEMO = {"imsi": "432011123456791", "msisdn": "98098765432100",
        "auth": {"scheme": "digest", "password": "1234"}}

_live = []


def _cleanup():
    for d in list(_live):
        d.kill()


atexit.register(_cleanup)


def free_port(kind=socket.SOCK_STREAM, both=True, host="127.0.0.1"):
    """A port free for TCP (and UDP when both=True) on host."""
    for _ in range(200):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.bind((host, 0))
        port = s.getsockname()[1]
        s.close()
        if not both:
            return port
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            u.bind((host, port))
            return port
        except OSError:
            continue
        finally:
            u.close()
    raise RuntimeError("no free port")


def free_port_pair(host="127.0.0.1"):
    """A port free for UDP and TCP whose successor is free for TCP too: baresip listens
    for TLS on sip_listen's port + 1 even when told to use UDP only."""
    for _ in range(200):
        port = free_port(host=host)
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.bind((host, port + 1))
            return port
        except OSError:
            continue
        finally:
            s.close()
    raise RuntimeError("no free port pair")


def tmpdir(prefix="ims-test-"):
    d = tempfile.mkdtemp(prefix=prefix)
    atexit.register(shutil.rmtree, d, True)
    return d


class Daemon:
    """One real process with its log in a file. stop() sends SIGTERM and returns
    the exit code; kill() is SIGKILL."""

    def __init__(self, name, argv, env=None, logdir=None):
        self.name = name
        self.argv = argv
        self._env = env
        self.logdir = logdir or tmpdir()
        self.log_path = os.path.join(self.logdir, f"{name}.log")
        full_env = dict(os.environ)
        full_env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
        if env:
            full_env.update(env)
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(argv, stdout=self._log, stderr=subprocess.STDOUT,
                                     env=full_env, start_new_session=True)
        _live.append(self)

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc.poll() is None

    def log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def stop(self, timeout=10):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._done()
        return self.proc.returncode

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._done()

    def _done(self):
        if self in _live:
            _live.remove(self)
        self._log.close()

    def respawn(self, ready_path="/healthz", timeout=15):
        """Runs the same command line again after kill() or stop(): same ports, same
        --db/--state files, log appended. Returns the new process as an object of the same
        class (url and port attributes copied) and waits for ready_path on its url."""
        if self.alive():
            raise RuntimeError(f"{self.name} is still running; kill() or stop() it first")
        new = object.__new__(type(self))
        new.__dict__.update({k: v for k, v in self.__dict__.items() if k not in ("proc", "_log")})
        Daemon.__init__(new, self.name, self.argv, env=self._env, logdir=self.logdir)
        if ready_path and getattr(new, "url", None):
            new.wait_http(new.url + ready_path, timeout)
        return new

    def wait_http(self, url, timeout=15):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}:\n{self.log()}")
            try:
                with urllib.request.urlopen(url, timeout=1) as r:
                    if r.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, OSError):
                pass
            time.sleep(0.05)
        raise RuntimeError(f"{self.name} not ready at {url}:\n{self.log()}")


def http(method, url, body=None, headers=None, raw=None, timeout=10):
    """Returns (status, headers-dict-lowercase, parsed JSON or text)."""
    data = raw
    hdrs = dict(headers or {})
    if body is not None:
        data = json.dumps(body).encode()
        hdrs.setdefault("Content-Type", "application/json")
    req = urllib.request.Request(url, data=data, method=method, headers=hdrs)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            status, rh, payload = r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        status, rh, payload = e.code, e.headers, e.read()
    rh = {k.lower(): v for k, v in rh.items()}
    text = payload.decode("utf-8", "replace")
    if "json" in rh.get("content-type", "") and text:
        try:
            return status, rh, json.loads(text)
        except ValueError:
            pass
    return status, rh, text


def bin_path(name):
    p = os.path.join(BIN_DIR, name)
    if not os.path.exists(p):
        raise unittest.SkipTest(f"{p} is not built")
    return p


class Hss(Daemon):
    def __init__(self, db=":memory:", token=None, extra=None, logdir=None, port=None):
        self.port = port or free_port(both=False)
        self.url = f"http://127.0.0.1:{self.port}"
        argv = [bin_path("hss-stub"), "--http", f"127.0.0.1:{self.port}", "--db", db]
        if token:
            argv += ["--token", token]
        argv += extra or []
        super().__init__("hss-stub", argv, logdir=logdir)
        self.wait_http(self.url + "/healthz")

    def provision(self, sub, token=None):
        h = {"Authorization": f"Bearer {token}"} if token else None
        st, _, body = http("POST", self.url + "/api/v1/subscribers", sub, headers=h)
        if st != 201:
            raise RuntimeError(f"provisioning failed: {st} {body}")
        return body


class Scscf(Daemon):
    def __init__(self, hss_url, extra=None, logdir=None, sip_port=None, state=":memory:"):
        self.sip_port = sip_port or free_port()
        self.http_port = free_port(both=False)
        self.url = f"http://127.0.0.1:{self.http_port}"
        argv = [bin_path("scscf"), "--sip", f"127.0.0.1:{self.sip_port}",
                "--http", f"127.0.0.1:{self.http_port}", "--hss", hss_url,
                "--domain", DOMAIN, "--state", state] + (extra or [])
        super().__init__("scscf", argv, logdir=logdir)
        self.wait_http(self.url + "/healthz")


class Pcscf(Daemon):
    # state=":memory:" by default: the pcscf's own default (var/pcscf.db, relative to the
    # working directory) would be shared by tests running in parallel.
    def __init__(self, scscf_uri, extra=None, logdir=None, sip_port=None, state=":memory:"):
        self.sip_port = sip_port or free_port()
        self.http_port = free_port(both=False)
        self.url = f"http://127.0.0.1:{self.http_port}"
        argv = [bin_path("pcscf"), "--sip", f"127.0.0.1:{self.sip_port}",
                "--http", f"127.0.0.1:{self.http_port}", "--scscf", scscf_uri,
                "--domain", DOMAIN, "--state", state] + (extra or [])
        super().__init__("pcscf", argv, logdir=logdir)
        self.wait_http(self.url + "/healthz")


def sipp(scenario, remote, extra=None, timeout=30, cwd=None):
    """Runs one bounded SIPp scenario (file name relative to tests/sipp/ or absolute)
    against remote "host:port". Returns (returncode, message trace text, stdout)."""
    if shutil.which("sipp") is None:
        raise unittest.SkipTest("sipp (Debian package sip-tester) is not installed")
    work = cwd or tmpdir("ims-sipp-")
    path = scenario if os.path.isabs(scenario) else os.path.join(SIPP_DIR, scenario)
    port = free_port(both=False)
    argv = ["sipp", remote, "-sf", path, "-i", "127.0.0.1", "-p", str(port), "-m", "1",
            "-timeout", f"{timeout}s", "-timeout_error", "-recv_timeout", "5000",
            "-trace_msg", "-message_file", os.path.join(work, "msg.log"), "-nostdin",
            "-trace_err", "-error_file", os.path.join(work, "err.log")] + (extra or [])
    p = subprocess.run(argv, cwd=work, capture_output=True, timeout=timeout + 15)
    trace = ""
    if os.path.exists(os.path.join(work, "msg.log")):
        with open(os.path.join(work, "msg.log"), errors="replace") as f:
            trace = f.read()
    return p.returncode, trace, p.stdout.decode(errors="replace") + p.stderr.decode(errors="replace")


def main():
    unittest.main(verbosity=2)
