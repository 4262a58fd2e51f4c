"""The user-space ESP datapath (pcscf/esp_tun.c, through esp-tool) between two network
namespaces made here: the P-CSCF side runs the datapath and plain UDP/TCP servers on the
protected ports, scapy plays the UE in the other namespace. UDP both ways on both port
pairs and TCP through ESP; unknown SPI, bad ICV and replay dropped and counted; tshark
decrypts the capture with the esp_sa lines the datapath printed."""

import json
import os
import signal
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import esp_peer  # noqa: E402,F401  (re-runs this test under Debian's python3 for scapy)
from harness import bin_path, main, tmpdir  # noqa: E402

TAG = f"esp{os.getpid() % 100000}"
NS_P, NS_U = f"{TAG}p", f"{TAG}u"
P_ADDR, U_ADDR = "10.77.0.1", "10.77.0.2"
HERE = os.path.dirname(os.path.abspath(__file__))

# Plain sockets on the protected ports: they never see ESP, only what the TUN hands over.
SERVER = r"""
import socket, select, sys, time
host, ps, pc = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
def answer(req):
    line = req.split(b"\r\n")[0]
    return b"SIP/2.0 200 OK\r\nX-Echo: " + line + b"\r\nContent-Length: 0\r\n\r\n"
udp = []
for port in (ps, pc):
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.bind((host, port))
    udp.append(u)
t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
t.bind((host, ps))
t.listen(4)
print("listening", flush=True)
conns, end = [], time.monotonic() + 120
while time.monotonic() < end:
    r, _, _ = select.select(udp + [t] + conns, [], [], 0.5)
    for s in r:
        if s is t:
            conns.append(t.accept()[0])
        elif s in udp:
            data, peer = s.recvfrom(65535)
            s.sendto(answer(data), peer)
        else:
            data = s.recv(65535)
            if data:
                s.sendall(answer(data))
            else:
                conns.remove(s)
                s.close()
"""


def run(*argv, check=True):
    r = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    if check and r.returncode:
        raise RuntimeError(f"{' '.join(argv)}: {r.stderr.strip()}")
    return r


def netns_ok():
    r = subprocess.run(["ip", "netns", "add", f"{TAG}probe"], capture_output=True)
    subprocess.run(["ip", "netns", "del", f"{TAG}probe"], capture_output=True)
    return r.returncode == 0 and os.path.exists("/dev/net/tun")


class EspNetns(unittest.TestCase):
    procs = []

    @classmethod
    def setUpClass(cls):
        if not netns_ok():
            raise unittest.SkipTest("network namespaces or /dev/net/tun unavailable")
        cls.tool = bin_path("esp-tool")
        cls.addClassCleanup(cls.teardown_topology)
        run("ip", "netns", "add", NS_P)
        run("ip", "netns", "add", NS_U)
        run("ip", "-n", NS_P, "link", "add", "vp", "type", "veth", "peer", "name", "vu",
            "netns", NS_U)
        for ns, dev, addr in ((NS_P, "vp", P_ADDR), (NS_U, "vu", U_ADDR)):
            run("ip", "-n", ns, "addr", "add", f"{addr}/24", "dev", dev)
            run("ip", "-n", ns, "link", "set", dev, "up")
            run("ip", "-n", ns, "link", "set", "lo", "up")

    @classmethod
    def teardown_topology(cls):
        for p in cls.procs:
            if p.poll() is None:
                p.kill()
                p.wait(timeout=10)
        for ns in (NS_P, NS_U):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)

    @classmethod
    def spawn(cls, ns, argv, **kw):
        p = subprocess.Popen(["ip", "netns", "exec", ns] + argv, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, **kw)
        cls.procs.append(p)
        return p

    def datapath(self, c):
        argv = [self.tool, "tun", "--local", P_ADDR, "--remote", U_ADDR, "--auth", c["auth"],
                "--enc", c["enc"], "--ck", c["ck"], "--ik", c["ik"], "--ifname", "imsesp0",
                "--sa", f"in:{c['pcscf_spi_s']}:{c['pcscf_port_s']}:{c['ue_port_c']}",
                "--sa", f"in:{c['pcscf_spi_c']}:{c['pcscf_port_c']}:{c['ue_port_s']}",
                "--sa", f"out:{c['ue_spi_c']}:{c['pcscf_port_s']}:{c['ue_port_c']}",
                "--sa", f"out:{c['ue_spi_s']}:{c['pcscf_port_c']}:{c['ue_port_s']}"]
        p = self.spawn(NS_P, argv)
        ready = json.loads(p.stdout.readline() or "{}")
        self.assertTrue(ready.get("ready"), p.stderr.read() if p.poll() is not None else ready)
        return p, ready

    def capture(self, pcap):
        p = self.spawn(NS_P, ["tshark", "-i", "vp", "-w", pcap, "-f", "ip proto 50"])
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:  # tshark says so on stderr once it captures
            line = p.stderr.readline()
            if "Capturing on" in line or not line:
                break
        return p

    def stop(self, p):
        p.send_signal(signal.SIGTERM)
        out, err = p.communicate(timeout=20)
        return out, err

    def exchange(self, auth, enc):
        c = {"ue": U_ADDR, "pcscf": P_ADDR, "auth": auth, "enc": enc,
             "ck": os.urandom(16).hex(), "ik": os.urandom(16).hex(),
             "pcscf_spi_c": 0x3001, "pcscf_spi_s": 0x3002, "ue_spi_c": 0x7001,
             "ue_spi_s": 0x7002, "pcscf_port_c": 5064, "pcscf_port_s": 5066,
             "ue_port_c": 50100, "ue_port_s": 50101}
        pcap = os.path.join(tmpdir(), "esp.pcap")
        server = self.spawn(NS_P, [sys.executable, "-c", SERVER, P_ADDR,
                                   str(c["pcscf_port_s"]), str(c["pcscf_port_c"])])
        self.assertEqual(server.stdout.readline().strip(), "listening")
        dp, ready = self.datapath(c)
        cap = self.capture(pcap)
        ue = subprocess.run(["ip", "netns", "exec", NS_U, sys.executable,
                             os.path.join(HERE, "esp_ue.py"), json.dumps(c)],
                            capture_output=True, text=True, timeout=60)
        time.sleep(0.5)  # let tshark write the last packets
        self.stop(cap)
        final = json.loads(self.stop(dp)[0].strip().splitlines()[-1])
        server.kill()
        server.wait(timeout=10)
        self.assertEqual(ue.returncode, 0, ue.stderr[-2000:])
        return c, json.loads(ue.stdout), final, ready, pcap

    def check_tshark(self, pcap, ready, port_s, port_c):
        argv = ["tshark", "-r", pcap, "-o", "esp.enable_encryption_decode:TRUE",
                "-o", "esp.enable_authentication_check:TRUE",
                "-d", f"udp.port=={port_s},sip", "-d", f"udp.port=={port_c},sip",
                "-d", f"tcp.port=={port_s},sip"]
        for sa in ready["sas"]:
            argv += ["-o", esp_peer.wireshark_uat(sa["esp_sa"])]
        argv += ["-T", "fields", "-E", "separator=|", "-e", "esp.spi", "-e", "esp.icv_good",
                 "-e", "sip.Method", "-e", "sip.Status-Code"]
        rows = [r.split("|") for r in run(*argv).stdout.splitlines()]
        good = [r for r in rows if r[1] in ("1", "True")]
        registers = [r for r in good if r[2] == "REGISTER"]
        oks = [r for r in good if r[3] == "200"]
        return rows, registers, oks

    def test_udp_tcp_through_esp(self):
        matrix = []
        for auth, enc in (("hmac-sha-1-96", "aes-cbc"), ("hmac-md5-96", "null"),
                          ("hmac-sha-1-96", "null"), ("hmac-md5-96", "aes-cbc")):
            with self.subTest(auth=auth, enc=enc):
                c, ue, final, ready, pcap = self.exchange(auth, enc)
                self.assertEqual(ue, {"udp_to_port_s": True, "udp_to_port_c": True,
                                      "tcp_to_port_s": True, "refused_dropped": True})
                st = final["stats"]
                self.assertGreaterEqual(st["unknown_spi"], 1)
                self.assertGreaterEqual(st["auth_failures"], 1)
                self.assertGreaterEqual(st["replays"], 1)
                self.assertGreaterEqual(st["in_packets"], 5)
                self.assertGreaterEqual(st["out_packets"], 4)
                self.assertEqual(st["policy_drops"], 0)
                per_sa = {(s["dir"], s["spi"]): s for s in final["sas"]}
                self.assertGreaterEqual(per_sa[("in", c["pcscf_spi_s"])]["packets"], 4)
                self.assertEqual(per_sa[("in", c["pcscf_spi_c"])]["packets"], 1)
                self.assertGreaterEqual(per_sa[("out", c["ue_spi_c"])]["packets"], 2)
                self.assertEqual(per_sa[("out", c["ue_spi_s"])]["packets"], 1)
                self.assertGreaterEqual(per_sa[("in", c["pcscf_spi_s"])]["replays"], 1)
                self.assertGreaterEqual(per_sa[("in", c["pcscf_spi_s"])]["auth_failures"], 1)
                rows, registers, oks = self.check_tshark(pcap, ready, c["pcscf_port_s"],
                                                         c["pcscf_port_c"])
                # UDP to both ports and the TCP REGISTER, decrypted with a good ICV; the
                # answers too. The forged packet shows as a bad ICV.
                self.assertGreaterEqual(len(registers), 3, rows)
                self.assertGreaterEqual(len(oks), 3, rows)
                self.assertTrue(any(r[1] in ("0", "False") for r in rows), rows)
                matrix.append(f"{auth}/{enc}")
        print("netns datapath passed (UDP both port pairs + TCP): " + ", ".join(matrix))


if __name__ == "__main__":
    main()
