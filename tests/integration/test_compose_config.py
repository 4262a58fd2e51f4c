"""docker/ without a Docker engine, part 1: Debian's docker-compose validates
docker/docker-compose.yml, and the file has what the lab promises (three services on
fixed addresses, env-only settings, HSS volume, published ports, `ue` profile)."""

import ipaddress
import os
import re
import shutil
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import compose_lite  # noqa: E402
from harness import SRC_DIR, bin_path, main, tmpdir  # noqa: E402

DOCKER_DIR = os.path.join(SRC_DIR, "docker")
COMPOSE = os.path.join(DOCKER_DIR, "docker-compose.yml")


def compose(*args, path=COMPOSE):
    return subprocess.run(["docker-compose", "-f", path, *args], capture_output=True,
                          text=True, timeout=60, cwd=DOCKER_DIR)


class ComposeValidates(unittest.TestCase):
    def setUp(self):
        if shutil.which("docker-compose") is None:
            self.skipTest("docker-compose (Debian package docker-compose) is not installed")

    def test_config_is_valid(self):
        for args in (["config", "-q"], ["--profile", "ue", "config", "-q"]):
            r = compose(*args)
            self.assertEqual(r.returncode, 0, f"docker-compose {' '.join(args)}: {r.stderr}")

    def test_validation_is_real(self):
        # A copy with a misspelt key must be refused, or the check above proves nothing.
        with open(COMPOSE) as f:
            text = f.read()
        self.assertIn("    hostname: pcscf\n", text)
        bad = os.path.join(tmpdir(), "docker-compose.yml")
        with open(bad, "w") as f:
            f.write(text.replace("    hostname: pcscf\n", "    hostnme: pcscf\n"))
        r = compose("config", "-q", path=bad)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("hostnme", r.stderr)

    def test_our_parser_agrees_with_docker_compose(self):
        # The namespace test reads the file with compose_lite; make sure it sees the
        # same services and volumes as docker-compose does.
        doc = compose_lite.load(COMPOSE)
        r = compose("--profile", "ue", "config", "--services")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(sorted(r.stdout.split()), sorted(doc["services"]))
        r = compose("config", "--volumes")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(sorted(r.stdout.split()), sorted(doc["volumes"]))


class ComposeContents(unittest.TestCase):
    def setUp(self):
        self.doc = compose_lite.load(COMPOSE)
        self.svcs = self.doc["services"]

    def test_three_services_on_fixed_addresses(self):
        net = ipaddress.ip_network(self.doc["networks"]["ims"]["ipam"]["config"][0]["subnet"])
        self.assertTrue(net.is_private)
        seen = set()
        for name in ("hss", "scscf", "pcscf", "ue"):
            addr = ipaddress.ip_address(self.svcs[name]["networks"]["ims"]["ipv4_address"])
            self.assertIn(addr, net, name)
            self.assertNotIn(addr, seen)
            seen.add(addr)
        self.assertEqual(self.svcs["ue"]["profiles"], ["ue"])
        self.assertEqual(self.doc["networks"]["ims"]["driver"], "bridge")

    def test_settings_come_from_environment(self):
        # No flags on the command lines: every setting is an env variable the daemon reads.
        for name, prefix in (("hss", "HSS_"), ("scscf", "SCSCF_"), ("pcscf", "PCSCF_")):
            svc = self.svcs[name]
            self.assertEqual(len(svc["command"]), 1, f"{name} passes flags: {svc['command']}")
            self.assertTrue(svc["environment"])
            for key in svc["environment"]:
                self.assertTrue(key.startswith(prefix), f"{name}: {key}")
        self.assertEqual(self.svcs["scscf"]["environment"]["SCSCF_HSS"], "http://hss:8080")
        self.assertTrue(self.svcs["pcscf"]["environment"]["PCSCF_SCSCF"].startswith("sip:scscf:"))

    def test_every_variable_is_one_the_daemon_reads(self):
        # A misspelt variable would be ignored silently and the default used instead.
        for name, binary in (("hss", "hss-stub"), ("scscf", "scscf"), ("pcscf", "pcscf")):
            out = subprocess.run([bin_path(binary), "--dump-config-markdown"],
                                 capture_output=True, text=True, timeout=30).stdout
            known = set(re.findall(r"`([A-Z][A-Z0-9_]+)`", out))
            self.assertTrue(known, f"{binary} --dump-config-markdown lists no variables")
            unknown = sorted(set(self.svcs[name]["environment"]) - known)
            self.assertEqual(unknown, [], f"{name}: {binary} does not read these")

    def test_hss_db_on_named_volume(self):
        db = self.svcs["hss"]["environment"]["HSS_DB"]
        vols = [v.split(":") for v in self.svcs["hss"]["volumes"]]
        self.assertTrue(any(src in self.doc["volumes"] and db.startswith(dst + "/")
                            for src, dst in vols), f"{db} is not on a named volume: {vols}")

    def test_published_ports(self):
        self.assertIn("5060:5060/udp", self.svcs["pcscf"]["ports"])
        self.assertIn("5060:5060/tcp", self.svcs["pcscf"]["ports"])
        hss_port = self.svcs["hss"]["environment"]["HSS_HTTP"].rsplit(":", 1)[1]
        self.assertTrue(any(p.split("/")[0].endswith(f":{hss_port}")
                            for p in self.svcs["hss"]["ports"]))

    def test_dockerfile(self):
        with open(os.path.join(DOCKER_DIR, "Dockerfile")) as f:
            text = f.read()
        froms = [line.split()[1] for line in text.splitlines() if line.startswith("FROM ")]
        self.assertEqual(froms[0], "debian:12")
        self.assertIn("debian:12-slim", froms)
        self.assertRegex(text, r"(?m)^USER ims$")
        self.assertRegex(text, r"(?m)^HEALTHCHECK .*\n?.*ims-healthcheck")
        for target in {s["build"]["target"] for s in self.svcs.values() if "build" in s}:
            self.assertRegex(text, rf"(?m)^FROM \S+ AS {target}$")
        for script in ("entrypoint.sh", "healthcheck.sh"):
            r = subprocess.run(["bash", "-n", os.path.join(DOCKER_DIR, script)],
                               capture_output=True, text=True)
            self.assertEqual(r.returncode, 0, r.stderr)

    def test_runtime_stage_has_every_shared_library(self):
        # No engine to build the image, so check the runtime stage's package list against
        # the libraries the built binaries actually link (sanitizer runtimes aside).
        with open(os.path.join(DOCKER_DIR, "Dockerfile")) as f:
            text = f.read()
        runtime = text[text.index("AS runtime"):text.index("AS ue")]
        installed = set(re.findall(r"[a-z0-9][a-z0-9.+-]+", runtime.split("install -y")[1]
                                   .split("&&")[0]))
        base = {"libc6", "libgcc-s1", "libstdc++6", "zlib1g"}  # in debian:12-slim already
        needed = {}
        for b in ("hss-stub", "scscf", "pcscf"):
            elf = subprocess.run(["readelf", "-d", bin_path(b)], capture_output=True,
                                 text=True, timeout=30).stdout
            for lib in re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", elf):
                if not lib.startswith(("libasan", "libubsan")):
                    needed.setdefault(lib, set()).add(b)
        self.assertIn("libsofia-sip-ua.so.0", needed)
        r = subprocess.run(["dpkg", "-S"] + [f"*/{lib}" for lib in needed], capture_output=True,
                           text=True, timeout=60)
        owners = {}
        for line in r.stdout.splitlines():
            pkgs, _, path = line.partition(": ")
            for pkg in pkgs.split(", "):
                owners.setdefault(os.path.basename(path), set()).add(pkg.split(":")[0])
        for lib, users in sorted(needed.items()):
            pkgs = owners.get(lib, set())
            self.assertTrue(pkgs & (installed | base),
                            f"{sorted(users)} need {lib} from {pkgs or '?'}, "
                            "not installed in the runtime stage")

if __name__ == "__main__":
    main()
