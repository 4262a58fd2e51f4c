"""End to end through the real chain UE -> pcscf -> scscf -> hss-stub: the captured
MicroSIP REGISTER replayed with SIPp (every header of the capture checked in the 100, 401
and 200), a second UE port, baresip, TCP, NAT alias, deregistration and IMS AKA."""

import os
import re
import shutil
import sys
import time
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from scscf_util import aka_ue, sipp_aka  # noqa: E402
from test_pcscf_proxy import request, sip_raw, status_of  # noqa: E402

D = harness.DOMAIN
USER = "432011123456791"
IMPU = f"sip:{USER}@{D}"
AKA_SUB = {"imsi": "432011000000001", "msisdn": "98000000000001",
           "auth": {"scheme": "aka", "k": "494d536c61624b657930313233343536",
                    "op": "494d536c61624f7056616c7565373839", "amf": "4142"}}


def message(trace, start):
    """Headers of the first message in a SIPp trace whose first line starts with start."""
    m = re.search(r"(?m)^" + re.escape(start) + r"[^\n]*\n(.*?)\r?\n\r?\n", trace, re.S)
    return m.group(0) if m else None


def header(msg, name):
    return re.findall(r"(?mi)^" + re.escape(name) + r":\s*([^\r\n]*)", msg)


class E2eTest(unittest.TestCase):
    def setUp(self):
        self.hss = harness.Hss()
        self.addCleanup(self.hss.stop)
        self.hss.provision(harness.DEMO)
        self.scscf = harness.Scscf(self.hss.url)
        self.addCleanup(self.scscf.stop)
        self.pcscf = harness.Pcscf(f"sip:127.0.0.1:{self.scscf.sip_port}")
        self.addCleanup(self.pcscf.stop)

    def logs(self):
        return "\n".join(f"--- {d.name}\n{d.log()[-3000:]}" for d in (self.pcscf, self.scscf, self.hss))

    def ue(self, contact_port=None, transport="u1", expires=300, contact=None, user=USER,
           scenario="pcscf_uac_register.xml", password="1234", port=None):
        port = port or harness.free_port()
        rc, trace, out = self.ue_run(contact_port, transport, expires, contact, user,
                                     scenario, password, port)
        self.assertEqual(rc, 0, f"UE scenario failed:\n{out}\n{trace}\n{self.logs()}")
        return trace, port

    def ue_run(self, contact_port=None, transport="u1", expires=300, contact=None, user=USER,
               scenario="pcscf_uac_register.xml", password="1234", port=None):
        port = port or harness.free_port()
        contact = contact or f"<sip:{user}@127.0.0.1:{contact_port or port};ob>"
        rc, trace, out = harness.sipp(
            scenario, f"127.0.0.1:{self.pcscf.sip_port}",
            extra=["-key", "domain", D, "-key", "user", user, "-key", "expires", str(expires),
                   "-key", "contact", contact, "-p", str(port), "-t", transport, "-au", user,
                   "-ap", password, "-auth_uri", D])
        return rc, trace, out

    def regs(self, which, impu=IMPU):
        st, _, body = harness.http("GET", which.url + "/api/v1/registrations/"
                                   + urllib.parse.quote(impu, safe=""))
        return st, body

    def test_microsip_capture_replay(self):
        trace, port = self.ue()
        t100 = message(trace, "SIP/2.0 100")
        self.assertIsNotNone(t100, trace)
        self.assertRegex(header(t100, "Via")[0], rf"127\.0\.0\.1:{port};.*rport={port}")
        self.assertRegex(header(t100, "From")[0], rf"<sip:{USER}@{re.escape(D)}>;tag=")
        self.assertEqual(header(t100, "To"), [f"<sip:{USER}@{D}>"])
        self.assertEqual(header(t100, "CSeq"), ["43598 REGISTER"])
        self.assertTrue(header(t100, "Call-ID"), t100)
        r401 = message(trace, "SIP/2.0 401")
        self.assertIsNotNone(r401, trace)
        www = header(r401, "WWW-Authenticate")[0]
        self.assertRegex(www, rf'^Digest realm="{re.escape(D)}", ?nonce="[^"]+", ?'
                              r'algorithm=MD5, ?qop="auth"')
        self.assertRegex(header(r401, "To")[0], r";tag=")
        self.assertEqual(header(r401, "Path"), [f"<sip:term@pcscf.{D};lr>"])
        self.assertTrue(header(r401, "Server"), r401)
        via = header(r401, "Via")
        self.assertEqual(len(via), 1, r401)
        self.assertRegex(via[0], rf"rport={port}")
        ok = message(trace, "SIP/2.0 200")
        self.assertIsNotNone(ok, trace)
        contacts = header(ok, "Contact")
        self.assertEqual(len(contacts), 1, ok)
        self.assertRegex(contacts[0], rf"<sip:{USER}@127\.0\.0\.1:{port};ob>;expires=\d+")
        self.assertEqual(header(ok, "Path"), [f"<sip:term@pcscf.{D};lr>"])
        self.assertEqual(header(ok, "P-Associated-URI"),
                         [f"<sip:98098765432100@{D}>, <tel:98098765432100>"])
        self.assertEqual(header(ok, "Service-Route"), [f"<sip:orig@scscf.{D}:6060;lr>"])
        self.assertTrue(header(ok, "Server"), ok)
        self.assertTrue(header(ok, "Date"), ok)
        self.assertRegex(header(ok, "To")[0], r";tag=")

        # A second UE port registering the same user: two bindings in the 200.
        trace2, port2 = self.ue()
        ok2 = message(trace2, "SIP/2.0 200")
        both = ", ".join(header(ok2, "Contact"))
        self.assertIn(f"127.0.0.1:{port};ob>", both)
        self.assertIn(f"127.0.0.1:{port2};ob>", both)
        self.assertEqual(len(re.findall(r";expires=\d+", both)), 2, both)

        st, body = self.regs(self.pcscf)
        self.assertEqual(st, 200, body)
        self.assertEqual(body["service_route"], [f"sip:orig@scscf.{D}:6060;lr"])
        self.assertEqual(body["associated_uris"], [f"sip:98098765432100@{D}", "tel:98098765432100"])
        self.assertEqual(len(body["contacts"]), 2, body)
        self.assertEqual(body["contacts"][0]["path"], [f"<sip:term@pcscf.{D};lr>"])
        st, body = self.regs(self.scscf)
        self.assertEqual(st, 200, body)
        self.assertEqual(len(body["contacts"]), 2, body)
        for c in body["contacts"]:
            self.assertEqual([x.strip("<>") for x in c["path"]], [f"sip:term@pcscf.{D};lr"], c)
            self.assertEqual(c["user_agent"], "MicroSIP/3.21.5")
        # Clean shutdown, and under the sanitizers nothing leaked.
        self.assertEqual(self.pcscf.stop(), 0, self.pcscf.log())

    def test_register_over_tcp(self):
        trace, port = self.ue(transport="t1")
        self.assertIsNotNone(message(trace, "SIP/2.0 200"), trace)
        st, body = self.regs(self.pcscf)
        self.assertEqual(st, 200, body)
        self.assertEqual(body["contacts"][0]["transport"], "tcp")

    def test_nat_alias_reaches_the_scscf(self):
        trace, port = self.ue(contact_port=5999)
        ok = message(trace, "SIP/2.0 200")
        self.assertIn(f"<sip:{USER}@127.0.0.1:5999;alias=127.0.0.1~{port}~1;ob>",
                      header(ok, "Contact")[0])
        st, body = self.regs(self.scscf)
        self.assertEqual(st, 200, body)
        self.assertIn(f"alias=127.0.0.1~{port}~1", body["contacts"][0]["uri"])

    def test_large_register_over_udp_reaches_scscf(self):
        # Over ~1300 bytes nta moves the hop to the S-CSCF onto TCP (RFC 3261 18.1.1).
        big = "X-Padding: " + "p" * 3000
        resps = sip_raw(self.pcscf.sip_port, request(
            "REGISTER", f"sip:{D}", extra=f"Contact: <sip:{USER}@127.0.0.1:LPORT>\n"
                                          f"Expires: 300\n{big}"), want=2)
        self.assertEqual([status_of(r)[0] for r in resps], [100, 401], f"{resps}\n{self.logs()}")

    def test_flawed_inputs_from_reference_get_clear_errors(self):
        # reference/asterisk-register-callflow.txt: "reponse=" instead of "response=", a
        # realm with mismatched quotes, a Via with protocol STP/2.0, NOTOFY in Allow.
        contact = f"Contact: <sip:{USER}@127.0.0.1:LPORT>\nAllow: INVITE,ACK,BYE,NOTOFY"
        no_response = request("REGISTER", f"sip:{D}", extra=contact + "\nAuthorization: Digest "
                              f'uri="sip:{D}",realm="{D}",username="{USER}",nonce="60f6cdd2",'
                              'algorithm=MD5,reponse="2f151a5627fc61af00eb47edf20a7257"')
        resps = sip_raw(self.pcscf.sip_port, no_response, want=2)
        fin = [r for r in resps if status_of(r)[0] >= 200]
        self.assertTrue(fin, f"{resps}\n{self.logs()}")
        code, phrase = status_of(fin[0])
        # SPEC 4: Authorization without response -> 400 with a reason, relayed as is.
        self.assertEqual(code, 400, fin[0])
        self.assertTrue(phrase.startswith("Bad Request - "), phrase)
        self.assertRegex(fin[0], r'(?m)^Warning: 399 \S+ "[^"]+"')
        bad_quotes = request("REGISTER", f"sip:{D}", extra=contact + "\nAuthorization: Digest "
                             f"realm='asterisk\",username=\"{USER}\",nonce=\"60f6cdd2\"")
        resps = sip_raw(self.pcscf.sip_port, bad_quotes, want=2)
        fin = [r for r in resps if status_of(r)[0] >= 200]
        self.assertTrue(fin, f"{resps}\n{self.logs()}")
        self.assertGreaterEqual(status_of(fin[0])[0], 400, fin[0])
        stp = request("REGISTER", f"sip:{D}", extra=contact).replace("SIP/2.0/UDP", "STP/2.0/UDP")
        sip_raw(self.pcscf.sip_port, stp, want=1, timeout=1)
        self.assertTrue(self.pcscf.alive() and self.scscf.alive(), self.logs())
        # And the chain still registers a real UE afterwards.
        trace, _ = self.ue()
        self.assertIsNotNone(message(trace, "SIP/2.0 200"), trace)

    def test_deregister_with_expires_zero(self):
        trace, port = self.ue()
        self.assertEqual(self.regs(self.pcscf)[0], 200)
        trace, _ = self.ue(port=port, expires=0)
        ok = message(trace, "SIP/2.0 200")
        self.assertNotIn(f"127.0.0.1:{port};ob>", " ".join(header(ok, "Contact")), ok)
        self.assertEqual(self.regs(self.pcscf)[0], 404)
        self.assertEqual(self.regs(self.scscf)[0], 404)

    def test_deregister_with_contact_star(self):
        self.ue()
        self.ue()
        st, body = self.regs(self.pcscf)
        self.assertEqual(len(body["contacts"]), 2, body)
        self.ue(contact="*", expires=0)
        self.assertEqual(self.regs(self.pcscf)[0], 404)
        self.assertEqual(self.regs(self.scscf)[0], 404)
        st, _, allregs = harness.http("GET", self.pcscf.url + "/api/v1/registrations")
        self.assertEqual(allregs["total"], 0, allregs)

    def test_aka_subscriber(self):
        # Debug logging on both CSCFs, so "CK/IK never logged" is checked at the most
        # talkative level.
        self.pcscf.stop()
        self.scscf.stop()
        self.scscf = harness.Scscf(self.hss.url, extra=["--log-level", "debug"])
        self.addCleanup(self.scscf.stop)
        self.pcscf = harness.Pcscf(f"sip:127.0.0.1:{self.scscf.sip_port}",
                                   extra=["--log-level", "debug"])
        self.addCleanup(self.pcscf.stop)
        self.hss.provision(AKA_SUB)
        user = AKA_SUB["imsi"]
        rc, trace, out, attempts = sipp_aka(
            self, lambda: self.ue_run(user=user, scenario="e2e_uac_register_aka.xml",
                                      password="unused"),
            AKA_SUB["auth"]["k"], AKA_SUB["auth"]["op"])
        self.assertEqual(rc, 0, f"UE scenario failed:\n{out}\n{trace}\n{self.logs()}")
        r401 = message(trace, "SIP/2.0 401")
        www = header(r401, "WWW-Authenticate")[0]
        self.assertIn("AKAv1-MD5", www)
        # The S-CSCF sent CK/IK toward the P-CSCF (TS 24.229 5.4.1.2), which kept and
        # removed them: the UE never sees them, and neither daemon logs them.
        self.assertNotRegex(www, r"(?i)\b(ck|ik)=")
        st, _, metrics = harness.http("GET", self.pcscf.url + "/metrics")
        # One challenge per attempt (see sipp_aka), each one stripped.
        self.assertRegex(metrics, rf"(?m)^pcscf_aka_keys_stripped_total {attempts}$", metrics)
        nonce = re.search(r'nonce="([^"]+)"', www).group(1)
        v = aka_ue(AKA_SUB["auth"]["k"], AKA_SUB["auth"]["op"], nonce, opc=False)
        self.assertTrue(v["mac_ok"], v)
        for d in (self.pcscf, self.scscf):
            log = d.log().lower()
            for name in ("ck", "ik"):
                self.assertNotIn(v[name].lower(), log, f"{name} in the {d.name} log")
        self.assertNotIn(v["ck"].lower(), trace.lower())
        self.assertNotIn(v["ik"].lower(), trace.lower())
        self.assertIsNotNone(message(trace, "SIP/2.0 200"), trace)
        st, body = self.regs(self.pcscf, f"sip:{user}@{D}")
        self.assertEqual(st, 200, body)
        self.assertEqual(body["associated_uris"], [f"sip:98000000000001@{D}", "tel:98000000000001"])

    @unittest.skipIf(shutil.which("baresip") is None, "baresip is not installed")
    def test_baresip_registers_through_pcscf(self):
        conf = harness.tmpdir("ims-baresip-")
        port = harness.free_port_pair()
        with open(os.path.join(conf, "config"), "w") as f:
            f.write("poll_method epoll\n"
                    f"sip_listen 127.0.0.1:{port}\n"
                    "sip_transports udp\n"
                    "module_path /usr/lib/baresip/modules\n"
                    "module_app account.so\n"
                    "audio_player nothing\naudio_source nothing\naudio_alert nothing\n")
        with open(os.path.join(conf, "accounts"), "w") as f:
            f.write(f"<sip:{USER}@{D}>;auth_user={USER};auth_pass=1234;"
                    f"outbound=\"sip:127.0.0.1:{self.pcscf.sip_port}\";regint=300\n")
        open(os.path.join(conf, "contacts"), "w").close()
        ua = harness.Daemon("baresip", ["baresip", "-f", conf], logdir=conf)
        self.addCleanup(ua.kill)
        # baresip backs off for a while after a failed attempt (e.g. a 5xx on a loaded
        # machine), so allow it a second try.
        deadline = time.time() + 60
        body = None
        while time.time() < deadline:
            st, body = self.regs(self.scscf)
            if st == 200:
                break
            time.sleep(0.2)
        self.assertEqual(st, 200, f"{body}\n{ua.log()}\n{self.logs()}")
        c = body["contacts"][0]
        self.assertIn("baresip", c["user_agent"])
        # baresip sends from the port its Contact names: no NAT alias is due.
        self.assertIn(f"127.0.0.1:{port}", c["uri"])
        self.assertNotIn("alias=", c["uri"])
        self.assertEqual(c["path"][0].strip("<>"), f"sip:term@pcscf.{D};lr")
        st, pbody = self.regs(self.pcscf)
        self.assertEqual(st, 200, pbody)
        self.assertIn("baresip", pbody["contacts"][0]["user_agent"])
        self.assertEqual(pbody["service_route"], [f"sip:orig@scscf.{D}:6060;lr"])


if __name__ == "__main__":
    harness.main()
