"""IMS AKA registration with sec-agree and IPsec through the real pcscf, scscf and hss-stub
(SPEC §6). The daemons run in a network namespace made here, the UE in another one behind a
veth pair; the UE does ESP with scapy (an implementation we did not write) and its USIM is
hss-aka-tool. For each integrity × encryption pair: 401 with Security-Server (no ck/ik),
protected REGISTER over the SAs → 200 over the SAs; the S-CSCF never sees Security-* or
sec-agree and gets integrity-protected="yes"; bad inputs are refused with the right answer;
re-registration and deregistration; SAs gone at deregistration; the esp_sa export decrypts a
capture with tshark."""

import atexit
import ctypes
import json
import os
import re
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import esp_peer  # noqa: E402  (re-runs this test under Debian's python3 for scapy)
import harness as H  # noqa: E402

TAG = f"ipr{os.getpid() % 100000}"
NS_P, NS_U = f"{TAG}p", f"{TAG}u"
P_ADDR, U_ADDR = "10.79.0.1", "10.79.0.2"
K = "465b5ce8b199b49faa5f0a2ee238a6bc"
OPC = "cd63cb71954a9f4e48a5994e37a02baf"  # TS 35.208 test set 1
TOKEN = "ipsec-test-token"
HERE = os.path.dirname(os.path.abspath(__file__))
PORT_C, PORT_S = 5064, 5066


def run(*argv, check=True):
    r = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    if check and r.returncode:
        raise RuntimeError(f"{' '.join(argv)}: {r.stderr.strip()}")
    return r


def enter_netns(name):
    """Moves this (single-threaded) test process into the namespace, so the harness's
    daemons, free ports and HTTP calls all live there."""
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(f"/run/netns/{name}", os.O_RDONLY)
    if libc.setns(fd, 0x40000000) != 0:  # CLONE_NEWNET
        raise OSError(ctypes.get_errno(), "setns")
    os.close(fd)


def drop_namespaces():
    for ns in (NS_P, NS_U):
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def topology():
    drop_namespaces()
    atexit.register(drop_namespaces)  # also when the test dies half-way
    run("ip", "netns", "add", NS_P)
    run("ip", "netns", "add", NS_U)
    run("ip", "-n", NS_P, "link", "add", "vp", "type", "veth", "peer", "name", "vu", "netns",
        NS_U)
    for ns, dev, addr in ((NS_P, "vp", P_ADDR), (NS_U, "vu", U_ADDR)):
        run("ip", "-n", ns, "addr", "add", f"{addr}/24", "dev", dev)
        run("ip", "-n", ns, "link", "set", dev, "up")
        run("ip", "-n", ns, "link", "set", "lo", "up")


class IpsecRegister(unittest.TestCase):
    n = 0

    @classmethod
    def setUpClass(cls):
        if not os.path.exists("/dev/net/tun") or subprocess.run(
                ["ip", "netns", "add", f"{TAG}probe"], capture_output=True).returncode:
            raise unittest.SkipTest("network namespaces or /dev/net/tun unavailable")
        subprocess.run(["ip", "netns", "del", f"{TAG}probe"], capture_output=True)
        cls.host_ns = os.open("/proc/self/ns/net", os.O_RDONLY)
        topology()
        enter_netns(NS_P)
        cls.logdir = H.tmpdir()
        cls.hss = H.Hss(logdir=cls.logdir)
        cls.dump = os.path.join(cls.logdir, "scscf-messages.txt")
        scscf_port = cls.scscf_port = H.free_port()
        # TPORT_DUMP: Sofia writes every message the S-CSCF receives to this file.
        cls.scscf = H.Daemon("scscf", [H.bin_path("scscf"), "--sip", f"127.0.0.1:{scscf_port}",
                                       "--http", f"127.0.0.1:{H.free_port(both=False)}", "--hss", cls.hss.url, "--domain",
                                       H.DOMAIN, "--state", ":memory:"],
                             env={"TPORT_DUMP": cls.dump}, logdir=cls.logdir)
        cls.http_port = H.free_port(both=False)
        cls.url = f"http://127.0.0.1:{cls.http_port}"
        cls.pcscf = H.Daemon("pcscf", [
            H.bin_path("pcscf"), "--sip", f"{P_ADDR}:5060", "--http",
            f"127.0.0.1:{cls.http_port}", "--scscf", f"sip:127.0.0.1:{scscf_port}", "--domain",
            H.DOMAIN, "--state", ":memory:", "--token", TOKEN, "--ipsec-port-c", str(PORT_C),
            "--ipsec-port-s", str(PORT_S), "--ipsec-ealg", "null,aes-cbc"], logdir=cls.logdir)
        cls.pcscf.wait_http(cls.url + "/healthz")

    @classmethod
    def tearDownClass(cls):
        rc = cls.pcscf.stop()
        cls.scscf.stop()
        cls.hss.stop()
        drop_namespaces()
        if rc != 0:
            raise AssertionError(f"pcscf exited {rc}:\n{cls.pcscf.log()[-3000:]}")

    def sub(self, digest=False):
        IpsecRegister.n += 1
        imsi = f"00101{os.getpid() % 10000:04d}{IpsecRegister.n:06d}"
        auth = {"scheme": "digest", "password": "1234"} if digest else \
            {"scheme": "aka", "k": K, "opc": OPC, "amf": "8000", "sqn": "000000000020"}
        self.hss.provision({"imsi": imsi, "auth": auth})
        return imsi

    def ue(self, auth, enc, **extra):
        c = {"imsi": self.sub(extra.pop("digest", False)), "ue": U_ADDR, "pcscf": P_ADDR, "pcscf_sip_port": 5060,
             "ue_port_c": 50100 + IpsecRegister.n * 2, "ue_port_s": 50101 + IpsecRegister.n * 2,
             "ue_spi_c": 0x10000 + IpsecRegister.n * 2, "ue_spi_s": 0x10001 + IpsecRegister.n * 2,
             "auth": auth, "enc": enc, "k": K, "opc": OPC,
             "aka_tool": H.bin_path("hss-aka-tool"), **extra}
        r = subprocess.run(["ip", "netns", "exec", NS_U, sys.executable,
                            os.path.join(HERE, "ims_ue.py"), json.dumps(c)],
                           capture_output=True, text=True, timeout=90)
        self.assertEqual(r.returncode, 0, r.stderr[-3000:])
        return c, json.loads(r.stdout.strip().splitlines()[-1])

    def api(self, path, token=None):
        headers = {"Authorization": f"Bearer {token}"} if token else None
        return H.http("GET", self.url + path, headers=headers)

    def test_matrix(self):
        start = os.path.getsize(self.dump) if os.path.exists(self.dump) else 0
        passed = []
        for auth in ("hmac-sha-1-96", "hmac-md5-96"):
            for enc in ("null", "aes-cbc"):
                with self.subTest(auth=auth, enc=enc):
                    c, out = self.ue(auth, enc)
                    self.assertEqual(out["challenge"][0], 401, out)
                    self.assertTrue(out["ck_ik_hidden"])
                    self.assertIn(f"ealg={enc};alg={auth}", out["security_server"])
                    self.assertIn(f"port-c={PORT_C};port-s={PORT_S}", out["security_server"])
                    self.assertEqual(out["protected"], [200, "OK"], out)
                    passed.append(f"{auth}/{enc}")
        print("registered over IPsec (UDP): " + ", ".join(passed))
        for auth, enc in (("hmac-sha-1-96", "aes-cbc"), ("hmac-md5-96", "null")):
            with self.subTest(auth=auth, enc=enc, transport="tcp"):
                c, out = self.ue(auth, enc, tcp=True)
                self.assertEqual(out["protected"], [200, "OK"], out)
                passed.append(f"{auth}/{enc}/tcp")
        print("registered over IPsec (TCP): " + ", ".join(passed[4:]))
        with open(self.dump, errors="replace") as f:
            f.seek(start)  # only what this test sent
            seen = f.read()
        # what the S-CSCF received: no sec-agree, and the protected REGISTERs marked
        for word in ("Security-Client", "Security-Verify", "Security-Server", "sec-agree"):
            self.assertFalse(word in seen, f"the S-CSCF received {word}")
        self.assertEqual(seen.count('integrity-protected="yes"'), 6, seen[-2000:])
        self.assertEqual(seen.count('integrity-protected="no"'), 6)

    def test_probes_and_teardown(self):
        c, out = self.ue("hmac-sha-1-96", "aes-cbc", probes=True, bad_verify=True)
        self.assertEqual(out["bad_verify"][:2], [403, "Forbidden - Security Agreement Mismatch"])
        self.assertIn("Security-Verify differs from our Security-Server in SPIs",
                      out["bad_verify"][2])
        self.assertEqual(out["protected"], [200, "OK"])
        self.assertEqual(out["unprotected_message"][:2], [403, "Forbidden - Not Protected"])
        self.assertTrue(out["forged_unanswered"])
        self.assertEqual(out["reregister"], [200, "OK"])
        self.assertEqual(out["deregister"], [200, "OK"])
        # the SAs outlive the deregistration's 200 by a moment (it leaves over them)
        for _ in range(50):
            st, _, sas = self.api("/api/v1/ipsec/sas")
            self.assertEqual(st, 200)
            if not [s for s in sas["items"] if s["impi"].startswith(c["imsi"])]:
                break
            time.sleep(0.1)
        self.assertFalse([s for s in sas["items"] if s["impi"].startswith(c["imsi"])], sas)
        st, _, metrics = self.api("/metrics")
        drops = dict(re.findall(r'pcscf_esp_dropped_total\{reason="(\w+)"\} (\d+)', metrics))
        self.assertGreaterEqual(int(drops["auth"]), 1)
        self.assertGreaterEqual(int(drops["unknown_spi"]), 1)
        self.assertGreaterEqual(int(re.search(r"pcscf_ipsec_verify_failed_total (\d+)",
                                              metrics).group(1)), 1)

    def test_bad_security_client(self):
        cases = [
            ("spi-c=0", "spi-c=0 is not a valid SPI"),
            ("spi-c=255", "spi-c=255 is in the reserved SPI range 1..255"),
            ("port-c=70000", "port-c=70000 is out of range"),
        ]
        for bad, why in cases:
            with self.subTest(bad=bad):
                c, out = self.ue("hmac-sha-1-96", "null", client_override=bad)
                self.assertEqual(out["challenge"][0], 494, out)
                self.assertIn(why, out["challenge_text"])
        c, out = self.ue("hmac-sha-256-128", "null")
        self.assertEqual(out["challenge"][0], 494)
        self.assertIn("none of the offered algorithms is enabled here", out["challenge_text"])
        st, _, sas = self.api("/api/v1/ipsec/sas")
        self.assertFalse([s for s in sas["items"] if s["impi"].startswith(c["imsi"])])

    def test_digest_ue_asking_for_ipsec(self):
        """Softphones and VoLTE phones share the P-CSCF: a Digest subscriber that asks for
        sec-agree is challenged without IPsec, and told why."""
        c, out = self.ue("hmac-sha-1-96", "null", digest=True, challenge_only=True)
        self.assertEqual(out["challenge"][0], 401)
        self.assertEqual(out["security_server"], "")
        self.assertIn("sec-agree needs IMS AKA: registering without IPsec", out["warning"])

    def other_pcscf(self, mode):
        """A second P-CSCF on the same S-CSCF with --sec-agree mode; stopped (exit 0
        checked) at the end of the test. Returns its SIP port."""
        port, http = H.free_port(host=P_ADDR), H.free_port(both=False)
        p = H.Daemon(f"pcscf-{mode}", [
            H.bin_path("pcscf"), "--sip", f"{P_ADDR}:{port}", "--http", f"127.0.0.1:{http}",
            "--scscf", f"sip:127.0.0.1:{self.scscf_port}", "--domain", H.DOMAIN,
            "--state", ":memory:", "--sec-agree", mode], logdir=self.logdir)
        p.wait_http(f"http://127.0.0.1:{http}/healthz")
        self.addCleanup(lambda: self.assertEqual(p.stop(), 0, p.log()[-2000:]))
        return port

    def test_required_mode(self):
        port = self.other_pcscf("required")
        c, out = self.ue("hmac-sha-1-96", "null", no_sec=True, pcscf_sip_port=port)
        self.assertEqual(out["challenge"][0], 494, out)
        self.assertIn("requires IPsec for IMS AKA subscribers", out["challenge_text"])
        self.assertNotIn("ck=", out["challenge_text"])
        c, out = self.ue("hmac-sha-1-96", "null", pcscf_sip_port=port)
        self.assertEqual(out["protected"], [200, "OK"], out)

    def test_off_mode(self):
        port = self.other_pcscf("off")
        c, out = self.ue("hmac-sha-1-96", "null", pcscf_sip_port=port, challenge_only=True)
        self.assertEqual(out["challenge"][0], 401, out)
        self.assertEqual(out["security_server"], "")
        self.assertIn("IPsec is not available at this P-CSCF", out["warning"])

    def test_reauthentication_replaces_sas(self):
        c, out = self.ue("hmac-sha-1-96", "aes-cbc", probes=True, reauth=True)
        self.assertEqual(out["protected"], [200, "OK"], out)
        self.assertEqual(out["reauth_challenge"][0], 401, out)
        # a new agreement: new SPIs of ours, same protected ports
        self.assertIn(f"port-c={PORT_C};port-s={PORT_S}", out["reauth_server"])
        spis = lambda text: re.findall(r"spi-[cs]=(\d+)", text)  # noqa: E731
        self.assertFalse(set(spis(out["reauth_server"])) & set(spis(out["security_server"])))
        self.assertEqual(out["reauth_protected"], [200, "OK"], out)
        self.assertEqual(out["deregister"], [200, "OK"], out)
        for _ in range(50):  # gone two seconds after the deregistration's 200
            mine = [s for s in self.api("/api/v1/ipsec/sas")[2]["items"]
                    if s["impi"].startswith(c["imsi"])]
            if not mine:
                break
            time.sleep(0.1)
        self.assertEqual([(s["state"], s["dir"], s["spi"], s["sport"], s["dport"]) for s in mine],
                         [], out)

    def test_network_deregistration_removes_sas(self):
        c, out = self.ue("hmac-sha-1-96", "null")
        self.assertEqual(out["protected"], [200, "OK"])
        impu = f"sip:{c['imsi']}@{H.DOMAIN}"
        mine = lambda sas: [s for s in sas["items"] if s["impi"].startswith(c["imsi"])]  # noqa
        self.assertEqual(len(mine(self.api("/api/v1/ipsec/sas")[2])), 4)
        st, _, _ = H.http("DELETE", f"{self.url}/api/v1/registrations/{impu}",
                          headers={"Authorization": f"Bearer {TOKEN}"})
        self.assertEqual(st, 204)
        self.assertEqual(mine(self.api("/api/v1/ipsec/sas")[2]), [])

    def test_keys_only_with_token(self):
        pcap = os.path.join(self.logdir, "ipsec.pcap")
        cap = subprocess.Popen(["tshark", "-i", "vp", "-w", pcap, "-f", "ip proto 50"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.addCleanup(lambda: cap.poll() is None and cap.kill())
        for _ in range(200):  # tshark says so once it captures
            line = cap.stderr.readline()
            if not line or "Capturing on" in line:
                break
        c, out = self.ue("hmac-md5-96", "aes-cbc", probes=False)
        self.assertEqual(out["protected"], [200, "OK"])
        time.sleep(0.5)
        cap.terminate()
        cap.wait(timeout=20)
        cap.stderr.close()
        st, _, sas = self.api("/api/v1/ipsec/sas")
        mine = [s for s in sas["items"] if s["impi"].startswith(c["imsi"])]
        self.assertEqual(len(mine), 4)
        self.assertTrue(all(s["state"] == "registered" for s in mine))
        self.assertNotIn("auth_key", json.dumps(sas))
        st, _, body = self.api("/api/v1/ipsec/esp_sa")
        self.assertEqual(st, 401)
        st, _, body = self.api("/api/v1/ipsec/esp_sa", token="wrong")
        self.assertEqual(st, 401)
        st, _, keyed = self.api("/api/v1/ipsec/sas", token=TOKEN)
        self.assertIn("auth_key", json.dumps(keyed))
        st, _, text = self.api("/api/v1/ipsec/esp_sa", token=TOKEN)
        self.assertEqual(st, 200)
        self.assertEqual(text.count('"HMAC-MD5-96 [RFC2403]"'), len(sas["items"]))
        # Wireshark's own ESP decoder, given the export, reads the SIP inside with good ICVs
        argv = ["tshark", "-r", pcap, "-o", "esp.enable_encryption_decode:TRUE",
                "-o", "esp.enable_authentication_check:TRUE",
                "-d", f"udp.port=={PORT_S},sip"]
        for line in text.splitlines():
            argv += ["-o", esp_peer.wireshark_uat(line)]
        argv += ["-T", "fields", "-E", "separator=|", "-e", "esp.icv_good", "-e", "sip.Method",
                 "-e", "sip.Status-Code", "-e", "sip.Security-Verify"]
        rows = [r.split("|") for r in run(*argv).stdout.splitlines()]
        good = [r for r in rows if r[0] in ("1", "True")]
        self.assertTrue([r for r in good if r[1] == "REGISTER" and r[3]], rows)
        self.assertTrue([r for r in good if r[2] == "200"], rows)


if __name__ == "__main__":
    H.main()
