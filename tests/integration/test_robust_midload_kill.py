"""kill -9 of each daemon in the middle of a SIPp registration load through the P-CSCF, with
file-backed state (hss-stub --db, scscf --state, pcscf --state in a temp dir), then a
restart on the same files and ports, checked through the status APIs and the HSS REST API.

Guarantees tested (docs/architecture.md, "Restarts"):
- scscf or pcscf killed: every UE whose 200 OK arrived at least WRITE_BEHIND_S (1.5 s) before
  the kill is still registered in both the S-CSCF and the P-CSCF, with the same contact and
  its remaining expiry (600 s minus the time since its 200, never reset to 600, not expired).
  The daemons write behind at most 1 s after a change; the extra 0.5 s absorbs timer jitter
  of an ASan build under load. UEs answered inside that last window may be lost (they
  re-register). Every UE answered after the restart is registered too.
- hss-stub killed: the S-CSCF and P-CSCF keep every registration; REGISTERs during the
  outage get 503 with Retry-After, quickly (SIPp finishes within its bounds); once the HSS
  is back, registrations succeed again without restarting anything.
- In every case: the HSS still holds every subscriber, the AKA subscriber's SQN is what it
  was and its credentials still authenticate; a new registration and a re-registration of
  a UE registered before the kill both succeed afterwards."""

import os
import re
import socket
import subprocess
import sys
import time
import unittest
import urllib.parse
from datetime import datetime

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402
import robust_util as R  # noqa: E402
from scscf_util import aka_password, aka_ue, auth_header, digest_response  # noqa: E402

D = H.DOMAIN
N = 360  # subscribers in the load, each registering once
RATE = 60  # registrations started per second: 6 s of load
EXPIRES = 600
WRITE_BEHIND_S = 1.5
PREFIX = "43201177"  # + 7 digits
K = "465b5ce8b199b49faa5f0a2ee238a6bc"
OPC = "cd63cb71954a9f4e48a5994e37a02baf"
AKA_SUB = {"imsi": "432011000000077", "auth": {"scheme": "aka", "k": K, "opc": OPC}}
FRESH = {"imsi": "432011000000078", "auth": {"scheme": "digest", "password": "fresh-pw"}}

SCENARIO = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="midload_register">
  <send retrans="500">
    <![CDATA[

      REGISTER sip:[domain] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];rport;branch=[branch]
      Route: <sip:pcscf.[domain];lr>
      Max-Forwards: 70
      From: <sip:[field0]@[domain]>;tag=[pid]SIPpTag[call_number]
      To: <sip:[field0]@[domain]>
      Call-ID: [call_id]
      CSeq: 1 REGISTER
      User-Agent: midload-ue
      Contact: <sip:[field0]@[local_ip]:[local_port];ob>
      Expires: %(expires)d
      Content-Length: 0

    ]]>
  </send>
  <recv response="100" optional="true"/>
  <recv response="401" auth="true"/>
  <send retrans="500">
    <![CDATA[

      REGISTER sip:[domain] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];rport;branch=[branch]
      Route: <sip:pcscf.[domain];lr>
      Max-Forwards: 70
      From: <sip:[field0]@[domain]>;tag=[pid]SIPpTag[call_number]
      To: <sip:[field0]@[domain]>
      Call-ID: [call_id]
      CSeq: 2 REGISTER
      User-Agent: midload-ue
      Contact: <sip:[field0]@[local_ip]:[local_port];ob>
      Expires: %(expires)d
      [authentication]
      Content-Length: 0

    ]]>
  </send>
  <recv response="100" optional="true"/>
  <recv response="200"/>
</scenario>
""" % {"expires": EXPIRES}


def q(impu):
    return urllib.parse.quote(impu, safe="")


def impu_of(user):
    return f"sip:{user}@{D}"


def parse_trace(path):
    """SIPp's -trace_msg file -> list of (unix time, 'sent'|'received', message text)."""
    if not os.path.exists(path):
        return []
    with open(path, errors="replace") as f:
        text = f.read()
    out = []
    for block in re.split(r"(?m)^-{20,} ", text)[1:]:
        stamp, _, rest = block.partition("\n")
        try:
            t = datetime.strptime(stamp.strip()[:26], "%Y-%m-%d %H:%M:%S.%f").timestamp()
        except ValueError:
            continue
        kind = "received" if "received" in rest.split("\n", 1)[0] else "sent"
        msg = rest.split("\n", 1)[1].lstrip("\n") if "\n" in rest else ""
        out.append((t, kind, msg))
    return out


def header(msg, name):
    m = re.search(rf"(?mi)^{name}:\s*(.*?)\s*$", msg)
    return m.group(1) if m else None


def to_user(msg):
    m = re.search(r"(?mi)^(?:To|t):\s*<?sip:(\d+)@", msg)
    return m.group(1) if m else None


class MidloadKill(unittest.TestCase):
    def setUp(self):
        self.dir = H.tmpdir("ims-midload-")
        self.users = [(f"{PREFIX}{i:07d}", f"pw-{i}") for i in range(N)]
        self.hss = self.track(H.Hss(db=os.path.join(self.dir, "hss.db"), logdir=self.dir))
        st, _, body = H.http("POST", self.hss.url + "/api/v1/subscribers",
                             [{"imsi": u, "auth": {"scheme": "digest", "password": p}}
                              for u, p in self.users])
        self.assertEqual(st, 201, body)
        self.hss.provision(AKA_SUB)
        self.hss.provision(FRESH)
        # One SIPp address carries every UE, and a restart loses pending nonces: the
        # per-address failure guard must not take that for a password attack.
        self.scscf = self.track(H.Scscf(self.hss.url, logdir=self.dir,
                                        state=os.path.join(self.dir, "scscf.db"),
                                        extra=["--auth-fail-limit", "100000"]))
        self.pcscf = self.track(H.Pcscf(f"sip:127.0.0.1:{self.scscf.sip_port}", logdir=self.dir,
                                        state=os.path.join(self.dir, "pcscf.db"),
                                        extra=["--timeout-ms", "2000"]))
        # One AKA registration first: the SQN the HSS stored must survive.
        self.aka_register()
        self.sqn_before = self.sqn()
        self.assertNotEqual(self.sqn_before, "000000000000")

    def track(self, d):
        self.addCleanup(d.kill)
        return d

    def logs(self):
        return "\n".join(f"--- {d.name}\n{d.log()[-2500:]}"
                         for d in (self.hss, self.scscf, self.pcscf))

    def sqn(self):
        st, _, body = H.http("GET", f"{self.hss.url}/api/v1/subscribers/{AKA_SUB['imsi']}")
        self.assertEqual(st, 200, body)
        return body["auth"]["sqn"]

    def aka_register(self):
        user = AKA_SUB["imsi"]
        ue = R.pcscf_ue(self, self.pcscf.sip_port, user=user)
        kw = {"path": False, "extra": (R.ROUTE,), "expires": EXPIRES}
        c = R.send(ue, ue.build(**kw))
        self.assertEqual(c.status, 401, c.text + self.logs())
        nonce = c.param("www-authenticate", "nonce")
        usim = aka_ue(K, OPC, nonce, opc=True)
        self.assertTrue(usim.get("mac_ok", True), usim)
        pw = aka_password(1, usim["res"], usim["ik"], usim["ck"])
        final = R.send(ue, ue.build(auth=auth_header(user, nonce, digest_response(user, pw, nonce),
                                                     algorithm="AKAv1-MD5"), **kw))
        self.assertEqual(final.status, 200, final.text + self.logs())

    def listing(self, d):
        st, _, body = H.http("GET", d.url + "/api/v1/registrations", timeout=20)
        self.assertEqual(st, 200, body)
        return {item["impu"]: item for item in body["items"]}

    def start_load(self):
        work = H.tmpdir("ims-midload-sipp-")
        scen = os.path.join(work, "register.xml")
        with open(scen, "w") as f:
            f.write(SCENARIO)
        csv = os.path.join(work, "users.csv")
        with open(csv, "w") as f:
            f.write("SEQUENTIAL\n" + "".join(f"{u};{p};\n" for u, p in self.users))
        self.trace = os.path.join(work, "msg.log")
        self.sipp_port = H.free_port()
        argv = ["sipp", f"127.0.0.1:{self.pcscf.sip_port}", "-sf", scen, "-inf", csv,
                "-i", "127.0.0.1", "-p", str(self.sipp_port), "-t", "u1", "-m", str(N),
                "-r", str(RATE), "-rp", "1000", "-l", "200", "-au", "[field0]",
                "-ap", "[field1]", "-auth_uri", D, "-key", "domain", D, "-timeout", "30s",
                # -nd: a failed call just ends (no BYE toward a registrar)
                "-timeout_error", "-recv_timeout", "4000", "-nd", "-nostdin", "-trace_msg",
                "-message_file", self.trace, "-trace_err", "-error_file",
                os.path.join(work, "err.log")]
        self.sipp_log = open(os.path.join(work, "sipp.out"), "wb")
        self.addCleanup(self.sipp_log.close)
        self.sipp = subprocess.Popen(argv, cwd=work, stdout=self.sipp_log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        self.addCleanup(lambda: self.sipp.poll() is None and self.sipp.kill())
        self.t_start = time.time()

    def wait_registered(self, n, timeout=20):
        """Blocks until the S-CSCF holds n registrations from the load (progress, not
        timing: the kill must land in the middle of the load, whatever the machine's speed)."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            _, _, m = H.http("GET", self.scscf.url + "/metrics")
            got = re.search(r"(?m)^scscf_registrations (\d+)", m if isinstance(m, str) else "")
            if got and int(got.group(1)) >= n + 1:  # + the AKA subscriber
                return
            if self.sipp.poll() is not None:
                break
            time.sleep(0.05)
        self.fail(f"the load did not reach {n} registrations:\n{self.logs()}")

    def finish_load(self):
        try:
            self.sipp.wait(60)
        except subprocess.TimeoutExpired:
            self.fail("SIPp hung past its own -timeout")
        return parse_trace(self.trace)

    def oks(self, msgs):
        """user -> time its 200 OK to REGISTER arrived."""
        got = {}
        for t, kind, msg in msgs:
            if kind == "received" and msg.startswith("SIP/2.0 200") and "REGISTER" in (
                    header(msg, "CSeq") or ""):
                u = to_user(msg)
                if u and u.startswith(PREFIX):
                    got.setdefault(u, t)
        return got

    def check_registered(self, users, oks, now):
        """Each user in both status APIs with its SIPp contact and remaining expiry."""
        for d in (self.scscf, self.pcscf):
            regs = self.listing(d)
            missing = sorted(u for u in users if impu_of(u) not in regs)
            self.assertFalse(missing, f"{d.name} lost {len(missing)} of {len(users)} "
                                      f"registrations, e.g. {missing[:3]}:\n{self.logs()}")
            for u in users:
                contacts = regs[impu_of(u)]["contacts"]
                self.assertEqual(len(contacts), 1, contacts)
                c = contacts[0]
                self.assertTrue(c["uri"].startswith(f"sip:{u}@127.0.0.1:"), c)
                # Remaining, not reset: 600 s minus the time since the 200 (whole seconds,
                # rounding either way), and certainly alive.
                remaining = EXPIRES - (now - oks[u])
                self.assertLessEqual(c["expires_in"], remaining + 1.5, (d.name, u, c))
                self.assertGreaterEqual(c["expires_in"], remaining - 5, (d.name, u, c))
                if now - oks[u] >= 2:
                    self.assertLess(c["expires_in"], EXPIRES, (d.name, u, c))

    def check_after(self, pre_kill_users):
        """HSS intact, AKA still works, a new UE and a re-registration succeed."""
        st, _, body = H.http("GET", self.hss.url + "/api/v1/subscribers?limit=1")
        self.assertEqual(st, 200, body)
        self.assertEqual(body["total"], N + 2, body)
        self.assertEqual(self.sqn(), self.sqn_before, "the AKA SQN changed across the kill")
        self.aka_register()  # K/OPc intact: SIPp-free USIM computation still authenticates
        self.assertNotEqual(self.sqn(), self.sqn_before)

        ue = R.pcscf_ue(self, self.pcscf.sip_port, user=FRESH["imsi"])
        _, final = R.register(ue, password="fresh-pw", expires=EXPIRES)
        self.assertEqual(final.status, 200, final.text + self.logs())
        for d in (self.scscf, self.pcscf):
            st, _, body = H.http("GET", f"{d.url}/api/v1/registrations/{q(impu_of(FRESH['imsi']))}")
            self.assertEqual(st, 200, (d.name, body))

        # Re-registration of a UE registered before the kill, from the same address and
        # port (SIPp has exited and freed it): same binding, fresh expiry.
        user, password = next((u, p) for u, p in self.users if u in pre_kill_users)
        ue = R.pcscf_ue(self, self.pcscf.sip_port, user=user)
        ue.sock.close()
        ue.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        ue.sock.bind(("127.0.0.1", self.sipp_port))
        ue.port = self.sipp_port
        _, final = R.register(ue, password=password, expires=EXPIRES)
        self.assertEqual(final.status, 200, final.text + self.logs())
        for d in (self.scscf, self.pcscf):
            st, _, body = H.http("GET", f"{d.url}/api/v1/registrations/{q(impu_of(user))}")
            self.assertEqual(st, 200, (d.name, body))
            self.assertEqual(len(body["contacts"]), 1, body)
            self.assertGreater(body["contacts"][0]["expires_in"], EXPIRES - 10, body)

    def kill_midload(self, name, downtime, settle=WRITE_BEHIND_S):
        """Starts the load, kills `name` once enough UEs are registered and `settle` s more
        have passed (the write-behind window), restarts it on the same files and ports.
        Returns (kill time, restart-ready time, parsed SIPp trace)."""
        self.start_load()
        self.wait_registered(40)
        time.sleep(settle)
        self.assertIsNone(self.sipp.poll(), "the load ended before the kill")
        victim = getattr(self, name)
        t_kill = time.time()
        victim.kill()
        time.sleep(downtime)
        setattr(self, name, self.track(victim.respawn()))
        t_back = time.time()
        self.assertIsNone(self.sipp.poll(), "the load ended before the restart")
        return t_kill, t_back, self.finish_load()

    def registrar_kill(self, name):
        t_kill, t_back, msgs = self.kill_midload(name, downtime=0.5)
        oks = self.oks(msgs)
        guaranteed = {u for u, t in oks.items() if t <= t_kill - WRITE_BEHIND_S}
        after = {u for u, t in oks.items() if t > t_back}
        self.assertGreaterEqual(len(guaranteed), 20, f"too few UEs before the kill: {len(oks)}")
        self.assertTrue(after, "no UE registered after the restart")
        self.check_registered(guaranteed | after, oks, time.time())
        self.check_after(guaranteed)
        for d in (self.hss, self.scscf, self.pcscf):
            self.assertEqual(d.stop(), 0, d.log()[-3000:])

    def test_kill_scscf_midload(self):
        self.registrar_kill("scscf")

    def test_kill_pcscf_midload(self):
        self.registrar_kill("pcscf")

    def test_kill_hss_midload(self):
        # The HSS commits before it answers: no write-behind window to wait for.
        t_kill, t_back, msgs = self.kill_midload("hss", downtime=1.0, settle=0.2)
        oks = self.oks(msgs)
        # Nothing registered was lost anywhere: the HSS is not where bindings live.
        self.check_registered(set(oks), oks, time.time())
        # During the outage: 503 with Retry-After, never another failure and never silence.
        errors = [(t, msg) for t, kind, msg in msgs
                  if kind == "received" and re.match(r"SIP/2.0 (?!401)[3-6]\d\d", msg)
                  and "REGISTER" in (header(msg, "CSeq") or "")]
        self.assertTrue(errors, "no REGISTER hit the outage")
        for t, msg in errors:
            first = msg.split("\r\n", 1)[0].split("\n", 1)[0]
            self.assertTrue(first.startswith("SIP/2.0 503"), msg)
            self.assertRegex(header(msg, "Retry-After") or "", r"^\d+", msg)
            self.assertTrue(header(msg, "Warning"), msg)
            self.assertLess(t, t_back + 5, f"a 503 long after the HSS was back:\n{msg}")
        # Recovery by itself: UEs that started well after the restart all registered.
        started = {}
        for t, kind, msg in msgs:
            if kind == "sent" and msg.startswith("REGISTER") and (
                    header(msg, "CSeq") or "").split()[:1] == ["1"]:
                started.setdefault(to_user(msg), t)
        late = [u for u, t in started.items() if t > t_back + 1.0]
        self.assertTrue(late, "the load ended too soon after the restart to show recovery: "
                        f"start {self.t_start:.1f} kill {t_kill:.1f} back {t_back:.1f} last call "
                        f"{max(started.values(), default=0):.1f}")
        self.assertFalse([u for u in late if u not in oks],
                         f"UEs failing after the HSS came back:\n{self.logs()}")
        self.assertTrue([u for u, t in oks.items() if t < t_kill], "no UE before the kill")
        self.check_after({u for u, t in oks.items() if t < t_kill})
        for d in (self.hss, self.scscf, self.pcscf):
            self.assertEqual(d.stop(), 0, d.log()[-3000:])


if __name__ == "__main__":
    H.main()
