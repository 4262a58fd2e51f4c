"""Lab-level interop: real SIP clients (baresip, linphonec, SIPp replaying the reference
MicroSIP REGISTER) register the demo subscriber through a running `scripts/lab`
(pcscf -> scscf -> hss-stub) and show up in both status APIs. A client that is not
installed is skipped with a message, never passed."""

import os
import shutil
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (DEMO, DOMAIN, Daemon, bin_path, free_port, free_port_pair, http, main, sipp,  # noqa: E402
                     tmpdir)
from test_lab_runner import LabRun  # noqa: E402

IMSI = DEMO["imsi"]
PASSWORD = DEMO["auth"]["password"]
CAPTURE_CALL_ID = "25536ca319b24a59835915a2ee246ef7"

# The first REGISTER of the reference capture (MicroSIP 3.21.5 via a Kamailio P-CSCF),
# header for header; only the UE's address becomes SIPp's own. SIPp matches answers by
# its own [call_id], so the capture's Call-ID is handed to it with -cid_str.
MICROSIP_REGISTER = """REGISTER sip:{d} SIP/2.0
Via: SIP/2.0/UDP [local_ip]:[local_port];rport;branch=[branch]
Route: <sip:pcscf.{d};lr>
Max-Forwards: 70
From: <sip:{u}@{d}>;tag=20449c5f331b40df9ef397f36718ec25
To: <sip:{u}@{d}>
Call-ID: [call_id]
CSeq: {cseq} REGISTER
User-Agent: MicroSIP/3.21.5
Contact: <sip:{u}@[local_ip]:[local_port];ob>
Expires: 300
Allow: PRACK, INVITE, ACK, BYE, CANCEL, UPDATE, INFO, SUBSCRIBE, NOTIFY, REFER, MESSAGE, OPTIONS
{auth}Content-Length: 0
"""


def microsip_scenario():
    def send(cseq, auth):
        text = MICROSIP_REGISTER.format(d=DOMAIN, u=IMSI, cseq=cseq, auth=auth)
        return f'  <send retrans="500"><![CDATA[\n{text}\n  ]]></send>\n'
    return ('<?xml version="1.0" encoding="UTF-8" ?>\n<scenario name="microsip-replay">\n'
            + send(43598, "") + '  <recv response="100" optional="true"/>\n'
            + '  <recv response="401" auth="true"/>\n'
            + send(43599, "[authentication]\n") + '  <recv response="100" optional="true"/>\n'
            + '  <recv response="200"/>\n</scenario>\n')


class PipedClient:
    """A client driven through stdin; quit() asks politely, then kills by PID."""

    def __init__(self, proc, log_path):
        self.proc, self.log_path = proc, log_path

    def alive(self):
        return self.proc.poll() is None

    def log(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()[-4000:]

    def quit(self):
        if self.alive():
            try:
                self.proc.stdin.write(b"quit\n")
                self.proc.stdin.flush()
                self.proc.wait(10)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()


class Endpoint:
    def __init__(self, url, sip_port=None):
        self.url, self.sip_port = url, sip_port


class ThroughTheLab(unittest.TestCase):
    """One `scripts/lab` (free ports, temp db) for all clients: the lab provisions the
    demo subscriber itself, as it does for a user."""

    @classmethod
    def setUpClass(cls):
        for b in ("hss-stub", "scscf", "pcscf"):
            bin_path(b)
        cls.lab = LabRun(tmpdir("ims-interop-"))
        try:
            cls.lab.wait_for("IMS lab is ready")
        except AssertionError:
            cls.lab.kill()
            raise
        cls.pcscf = Endpoint(cls.lab.url("pcscf-http"), cls.lab.ports["listen"])
        cls.scscf = Endpoint(cls.lab.url("scscf-http"))

    @classmethod
    def tearDownClass(cls):
        rc = cls.lab.finish()
        if rc != 0:
            raise AssertionError(f"the lab did not stop cleanly ({rc}):\n{cls.lab.text()}")

    def logs(self):
        return self.lab.text()[-6000:]

    def wait_contact(self, port, client=None, timeout=20):
        """Both status APIs list a binding whose contact is the client's port."""
        needle = f"127.0.0.1:{port}"
        deadline = time.time() + timeout
        seen = {}
        while time.time() < deadline:
            for name, d in (("scscf", self.scscf), ("pcscf", self.pcscf)):
                st, _, body = http("GET", d.url + "/api/v1/registrations")
                if st == 200 and needle in str(body):
                    seen[name] = body
            if len(seen) == 2:
                return seen
            if client is not None and not client.alive():
                break
            time.sleep(0.2)
        extra = client.log() if client is not None else ""
        self.fail(f"no binding for {needle} in {sorted(seen)} of scscf/pcscf:\n"
                  f"{extra}\n{self.logs()}")

    def assert_demo_binding(self, seen, port):
        for name, body in seen.items():
            item = next(i for i in body["items"]
                        if any(f"127.0.0.1:{port}" in c["uri"] for c in i["contacts"]))
            self.assertIn(f"sip:{DEMO['msisdn']}@{DOMAIN}", item["associated_uris"], name)
            self.assertIn(f"tel:{DEMO['msisdn']}", item["associated_uris"], name)

    def test_baresip(self):
        if shutil.which("baresip") is None:
            self.skipTest("baresip (Debian package baresip) is not installed")
        conf = tmpdir("ims-baresip-")
        port = free_port_pair()
        with open(os.path.join(conf, "config"), "w") as f:
            f.write(f"sip_listen 127.0.0.1:{port}\nsip_transports udp\n"
                    "module_path /usr/lib/baresip/modules\nmodule g711.so\n"
                    "module_app account.so\naudio_player aubridge,nil\naudio_source aubridge,nil\n")
        with open(os.path.join(conf, "accounts"), "w") as f:
            f.write(f"<sip:{IMSI}@{DOMAIN}>;auth_pass={PASSWORD};"
                    f"outbound=\"sip:127.0.0.1:{self.pcscf.sip_port};transport=udp\";regint=300\n")
        ua = Daemon("baresip", ["baresip", "-f", conf], logdir=conf)
        try:
            self.assert_demo_binding(self.wait_contact(port, ua), port)
        finally:
            ua.stop()

    def test_linphonec(self):
        if shutil.which("linphonec") is None:
            self.skipTest("linphonec (Debian package linphone-cli) is not installed")
        home = tmpdir("ims-linphone-")
        # liblinphone refuses to start its core without a writable database directory.
        os.makedirs(os.path.join(home, ".local", "share", "linphone"))
        port = free_port()
        rc = os.path.join(home, "linphonerc")
        with open(rc, "w") as f:
            f.write(f"[sip]\nsip_port={port}\nsip_tcp_port=0\nsip_tls_port=0\ndefault_proxy=0\n"
                    "[video]\nenabled=0\ncapture=0\ndisplay=0\n"
                    f"[auth_info_0]\nusername={IMSI}\nuserid={IMSI}\npasswd={PASSWORD}\n"
                    f"realm={DOMAIN}\ndomain={DOMAIN}\n"
                    f"[proxy_0]\nreg_proxy=<sip:127.0.0.1:{self.pcscf.sip_port};transport=udp>\n"
                    f"reg_identity=sip:{IMSI}@{DOMAIN}\nreg_expires=300\nreg_sendregister=1\n"
                    "publish=0\n")
        # stdin must stay open (linphonec quits at end of input), so no harness Daemon.
        log = open(os.path.join(home, "linphonec.log"), "wb")
        proc = subprocess.Popen(["linphonec", "-c", rc, "-d", "0"], stdin=subprocess.PIPE,
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                                env=dict(os.environ, HOME=home))
        ua = PipedClient(proc, log.name)
        try:
            self.assert_demo_binding(self.wait_contact(port, ua), port)
        finally:
            ua.quit()
            proc.stdin.close()
            log.close()

    def test_sipp_replays_microsip_register(self):
        work = tmpdir("ims-microsip-")
        path = os.path.join(work, "microsip.xml")
        with open(path, "w") as f:
            f.write(microsip_scenario())
        rc, trace, out = sipp(path, f"127.0.0.1:{self.pcscf.sip_port}", cwd=work,
                              extra=["-au", IMSI, "-ap", PASSWORD, "-auth_uri", DOMAIN,
                                     "-cid_str", CAPTURE_CALL_ID])
        self.assertEqual(rc, 0, out + trace + self.logs())
        # The answer the real MicroSIP got from Kamailio, in our product's words.
        self.assertIn("SIP/2.0 200 OK", trace)
        self.assertIn(f"Call-ID: {CAPTURE_CALL_ID}", trace)
        self.assertIn(f"P-Associated-URI: <sip:{DEMO['msisdn']}@{DOMAIN}>, <tel:{DEMO['msisdn']}>",
                      trace)
        self.assertIn(f"<sip:term@pcscf.{DOMAIN};lr>", trace)
        st, _, body = http("GET", self.scscf.url + "/api/v1/registrations")
        self.assertEqual(st, 200)
        self.assertIn("MicroSIP/3.21.5", str(body))
        st, _, body = http("GET", self.pcscf.url + "/api/v1/registrations")
        self.assertEqual(st, 200)
        self.assertIn(f"tel:{DEMO['msisdn']}", str(body))


if __name__ == "__main__":
    main()
