"""docker/ without a Docker engine, part 2: the compose topology rebuilt from network
namespaces (one per service, a bridge in a fifth), daemons started by docker/entrypoint.sh
with the compose file's own environment, and a UE registering through `pcscf` by name."""

import atexit
import ipaddress
import os
import re
import shutil
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import compose_lite  # noqa: E402
from harness import BIN_DIR, DEMO, SRC_DIR, Daemon, bin_path, main, tmpdir  # noqa: E402

ENTRYPOINT = os.path.join(SRC_DIR, "docker", "entrypoint.sh")
SCENARIO = os.path.join(SRC_DIR, "docker", "sipp", "ue-register.xml")
HEALTHCHECK = os.path.join(SRC_DIR, "docker", "healthcheck.sh")
TAG = f"imslab{os.getpid()}"
SERVICES = ("hss", "scscf", "pcscf", "ue")
# Sanitizer settings are the only host variables a daemon gets besides the compose ones.
PASS_ENV = ("ASAN_OPTIONS", "LSAN_OPTIONS", "UBSAN_OPTIONS")


def run(*argv, check=True, timeout=20):
    r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({r.returncode}): {r.stderr.strip()}")
    return r


class Topology:
    """Namespaces, veths, a bridge and /etc/netns/*/hosts; teardown() undoes all of it
    and is safe to call twice (it also runs at exit if the test dies half-way)."""

    def __init__(self, doc):
        self.doc = doc
        self.namespaces = []
        self.etc_dirs = []
        net = doc["networks"]["ims"]["ipam"]["config"][0]["subnet"]
        self.prefixlen = ipaddress.ip_network(net).prefixlen
        self.addr = {s: doc["services"][s]["networks"]["ims"]["ipv4_address"] for s in SERVICES}
        for a in self.addr.values():
            # Private addresses are used only inside the namespaces made here.
            assert ipaddress.ip_address(a).is_private, a
        atexit.register(self.teardown)

    def ns(self, svc):
        return f"{TAG}-{svc}"

    def build(self):
        sw = self.ns("sw")
        self._add_ns(sw)
        # The bridge lives inside the switch namespace, so the host's own interfaces
        # and routes never see these addresses.
        run("ip", "-n", sw, "link", "add", "br0", "type", "bridge")
        run("ip", "-n", sw, "link", "set", "br0", "up")
        hosts = "127.0.0.1 localhost\n" + "".join(
            f"{self.addr[s]} {self.doc['services'][s].get('hostname', s)} {s}\n" for s in SERVICES)
        for i, svc in enumerate(SERVICES):
            ns = self.ns(svc)
            self._add_ns(ns)
            etc = f"/etc/netns/{ns}"
            os.makedirs(etc, exist_ok=True)
            self.etc_dirs.append(etc)
            with open(f"{etc}/hosts", "w") as f:
                f.write(hosts)
            # No DNS server is reachable from here; point the resolver at the namespace's
            # own loopback so a stray lookup never leaves it.
            with open(f"{etc}/resolv.conf", "w") as f:
                f.write("nameserver 127.0.0.1\noptions timeout:1 attempts:1\n")
            port = f"p{i}"
            run("ip", "-n", sw, "link", "add", port, "type", "veth", "peer", "name", "eth0",
                "netns", ns)
            run("ip", "-n", sw, "link", "set", port, "master", "br0", "up")
            run("ip", "-n", ns, "addr", "add", f"{self.addr[svc]}/{self.prefixlen}", "dev", "eth0")
            run("ip", "-n", ns, "link", "set", "eth0", "up")
            run("ip", "-n", ns, "link", "set", "lo", "up")

    def _add_ns(self, name):
        run("ip", "netns", "add", name)
        self.namespaces.append(name)

    def exec_argv(self, svc, env, argv):
        return ["ip", "netns", "exec", self.ns(svc), "env", "-i"] + \
            [f"{k}={v}" for k, v in env.items()] + argv

    def teardown(self):
        for ns in reversed(self.namespaces):
            run("ip", "netns", "del", ns, check=False)
        self.namespaces = []
        for d in self.etc_dirs:
            shutil.rmtree(d, ignore_errors=True)
        self.etc_dirs = []
        try:
            os.rmdir("/etc/netns")  # only when empty: other users' entries stay
        except OSError:
            pass


def remove_stale():
    """Namespaces left by a run that was SIGKILLed (e.g. a CTest timeout) before its
    cleanup could run: their owner PID is gone."""
    r = run("ip", "netns", "list", check=False)
    for line in r.stdout.splitlines():
        name = line.split()[0] if line.split() else ""
        m = re.match(r"imslab(\d+)-", name)
        if m and not os.path.exists(f"/proc/{m.group(1)}"):
            run("ip", "netns", "del", name, check=False)
            shutil.rmtree(f"/etc/netns/{name}", ignore_errors=True)


def start_order(doc, services):
    """The compose file's depends_on order: each service after what it depends on."""
    order = []

    def visit(svc, path=()):
        if svc in path:
            raise AssertionError(f"depends_on cycle: {path + (svc,)}")
        deps = doc["services"][svc].get("depends_on") or []
        for dep in (deps if isinstance(deps, list) else list(deps)):
            visit(dep, path + (svc,))
        if svc not in order:
            order.append(svc)

    for svc in services:
        visit(svc)
    return order


def namespaces_work():
    if os.geteuid() != 0:
        return "needs root to create network namespaces"
    if shutil.which("ip") is None:
        return "iproute2 (ip) is not installed"
    probe = f"{TAG}-probe"
    r = run("ip", "netns", "add", probe, check=False)
    if r.returncode != 0:
        return f"cannot create a network namespace here: {r.stderr.strip()}"
    run("ip", "netns", "del", probe, check=False)
    return None


class ComposeTopologyInNamespaces(unittest.TestCase):
    def setUp(self):
        why = namespaces_work()
        if why:
            self.skipTest(why)
        remove_stale()
        for b in ("hss-stub", "scscf", "pcscf"):
            bin_path(b)
        if shutil.which("sipp") is None:
            self.skipTest("sipp (Debian package sip-tester) is not installed")
        self.doc = compose_lite.load()
        self.topo = Topology(self.doc)
        self.addCleanup(self.topo.teardown)
        self.daemons = []
        self.work = tmpdir("ims-netns-")
        self.topo.build()

    def tearDown(self):
        for d in reversed(self.daemons):
            d.kill()

    def service_env(self, svc):
        """The container's environment: the compose `environment`, named volumes mapped
        to temp dirs (the only rewrite), plus what runs the entrypoint on this host."""
        spec = self.doc["services"][svc]
        env = dict(spec.get("environment") or {})
        for vol in spec.get("volumes") or []:
            src, dst = vol.split(":")[:2]
            host_dir = os.path.join(self.work, src)
            os.makedirs(host_dir, exist_ok=True)
            env = {k: v.replace(dst, host_dir) if v else v for k, v in env.items()}
        env.update(PATH=os.environ.get("PATH", "/usr/bin:/bin"), IMS_BIN_DIR=BIN_DIR,
                   IMS_SIPP_SCENARIO=SCENARIO, TMPDIR=self.work)
        env.update({k: os.environ[k] for k in PASS_ENV if k in os.environ})
        return env

    def curl(self, url):
        argv = ["curl", "-sS", "--max-time", "3", "-w", "\n%{http_code}", url]
        r = run(*self.topo.exec_argv("ue", {"PATH": os.environ["PATH"]}, argv), check=False)
        body, _, code = r.stdout.rpartition("\n")
        return int(code or 0), body

    def wait_health(self, svc, port):
        url = f"http://{svc}:{port}/healthz"
        for _ in range(100):
            code, body = self.curl(url)
            if code == 200:
                return body
            d = self.by_name[svc]
            if not d.alive():
                self.fail(f"{svc} exited ({d.proc.returncode}):\n{d.log()}")
            subprocess.run(["sleep", "0.1"])
        self.fail(f"{url} never answered 200:\n{self.by_name[svc].log()}")

    def test_ue_registers_through_pcscf_by_name(self):
        self.by_name = {}
        for svc in start_order(self.doc, ("hss", "scscf", "pcscf")):
            spec = self.doc["services"][svc]
            argv = self.topo.exec_argv(svc, self.service_env(svc),
                                       ["bash", ENTRYPOINT] + spec["command"])
            d = Daemon(svc, argv, logdir=self.work)
            self.daemons.append(d)
            self.by_name[svc] = d
            port = spec["environment"][f"{svc.upper()}_HTTP"].rsplit(":", 1)[1]
            self.assertIn('"ok"', self.wait_health(svc, port))

        ue = self.doc["services"]["ue"]
        argv = self.topo.exec_argv("ue", self.service_env("ue"),
                                   ["bash", ENTRYPOINT] + ue["command"])
        r = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        out = r.stdout + r.stderr
        logs = "\n".join(f"--- {n}\n{d.log()}" for n, d in self.by_name.items())
        self.assertEqual(r.returncode, 0, f"UE registration failed:\n{out}\n{logs}")
        self.assertIn("SIP/2.0 401", out)
        self.assertIn("SIP/2.0 200 OK", out)
        # The UE resolved `pcscf` to the P-CSCF's compose address and was seen at its own.
        self.assertTrue(ue["environment"]["UE_PCSCF"].startswith("pcscf:"))
        self.assertIn(self.topo.addr["pcscf"], out)
        self.assertIn(self.topo.addr["ue"], out)

        impu = f"sip:{DEMO['msisdn']}@{ue['environment']['UE_DOMAIN']}"
        for svc in ("scscf", "pcscf"):
            port = self.doc["services"][svc]["environment"][f"{svc.upper()}_HTTP"].rsplit(":", 1)[1]
            code, body = self.curl(f"http://{svc}:{port}/api/v1/registrations")
            self.assertEqual(code, 200, body)
            self.assertIn(impu, body, f"{svc} does not list {impu}: {body}")
            self.assertIn(self.topo.addr["ue"], body)

        # The image's HEALTHCHECK script, run in each service's namespace with its env.
        for svc, role in (("hss", "hss-stub"), ("scscf", "scscf"), ("pcscf", "pcscf")):
            r = subprocess.run(self.topo.exec_argv(svc, self.service_env(svc),
                                                   ["bash", HEALTHCHECK, role]),
                               capture_output=True, text=True, timeout=30)
            self.assertEqual(r.returncode, 0, f"healthcheck {svc}: {r.stderr}")

        # Each daemon exits 0 on SIGTERM, as `docker stop` would ask.
        for d in reversed(self.daemons):
            self.assertEqual(d.stop(), 0, f"{d.name} did not exit cleanly:\n{d.log()}")
        r = subprocess.run(self.topo.exec_argv("hss", self.service_env("hss"),
                                               ["bash", HEALTHCHECK, "hss-stub"]),
                           capture_output=True, text=True, timeout=30)
        self.assertNotEqual(r.returncode, 0, "healthcheck passes with the hss-stub stopped")


if __name__ == "__main__":
    main()
