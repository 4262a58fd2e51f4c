"""Online password guessing is refused: after --auth-fail-limit failed authentications for
one IMPI from one source, or from one source across IMPIs, the S-CSCF answers
'403 Forbidden - Too Many Failed Attempts' (with a Warning) for --auth-cooldown seconds, even
to the right password, while the legitimate UE on another address still registers. The
source is the UE's address: the packet source when the UE talks to the S-CSCF directly, else
the bottom Via's received/rport the P-CSCF added. (Found missing by this suite: svcrack used
to try ~1000 passwords a second.)"""

import os
import socket
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402
import robust_util as R  # noqa: E402
from scscf_util import Ue  # noqa: E402

LIMIT = 5
COOLDOWN_S = 3
SUBS = [{"imsi": f"4320115550001{i:02d}", "auth": {"scheme": "digest", "password": f"pw{i}"}}
        for i in range(LIMIT + 2)]


def ue_at(test, port, addr, user=R.USER):
    """A raw UE whose socket is bound to addr (127.0.0.x) instead of 127.0.0.1."""
    ue = Ue(port, user=user)
    ue.sock.close()
    ue.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    ue.sock.bind((addr, 0))
    ue.port = ue.sock.getsockname()[1]
    test.addCleanup(ue.close)
    return ue


class BruteForce(unittest.TestCase):
    def setUp(self):
        extra = ["--auth-fail-limit", str(LIMIT), "--auth-cooldown", str(COOLDOWN_S)]
        self.ch = R.Chain(self, scscf_extra=extra)
        for s in SUBS:
            self.ch.hss.provision(s)

    def refused(self, reply):
        R.assert_explained(self, reply, (403,), self.ch.logs())
        self.assertRegex(reply.reason, r"(?i)too many|attempts|locked|cooldown", reply.text)

    def attempt(self, ue, password, username=None, direct=False):
        if direct:
            return ue.register_digest(password=password, username=username)[1]
        return R.register(ue, password=password, username=username)[1]

    def guess(self, ue, direct):
        for i in range(LIMIT):
            r = self.attempt(ue, f"wrong{i}", direct=direct)
            self.assertEqual(r.status, 403, r.text)

    def check_one_impi(self, direct):
        port = self.ch.scscf.sip_port if direct else self.ch.pcscf.sip_port
        attacker = ue_at(self, port, "127.0.0.2")
        self.guess(attacker, direct)
        # Even the right password is refused from the attacker's address now ...
        self.refused(self.attempt(attacker, "1234", direct=direct))
        # ... but the real UE on another address is not locked out.
        ue = ue_at(self, port, "127.0.0.1")
        r = self.attempt(ue, "1234", direct=direct)
        self.assertEqual(r.status, 200, r.text + self.ch.logs())
        # The cooldown ends by itself.
        time.sleep(COOLDOWN_S + 1)
        r = self.attempt(attacker, "1234", direct=direct)
        self.assertEqual(r.status, 200, r.text)

    def test_one_impi_direct(self):
        self.check_one_impi(direct=True)

    def test_one_impi_through_pcscf(self):
        """Through the P-CSCF every request comes from the P-CSCF's address: the S-CSCF must
        tell UEs apart by the Via the P-CSCF stamped, or it would lock everybody out."""
        self.check_one_impi(direct=False)

    def test_one_source_many_impis(self):
        port = self.ch.scscf.sip_port
        for s in SUBS[:LIMIT]:
            ue = ue_at(self, port, "127.0.0.3", user=s["imsi"])
            r = ue.register_digest(password="wrong")[1]
            self.assertEqual(r.status, 403, r.text)
        last = SUBS[LIMIT]
        ue = ue_at(self, port, "127.0.0.3", user=last["imsi"])
        self.refused(ue.register_digest(password=last["auth"]["password"])[1])
        other = ue_at(self, port, "127.0.0.4", user=last["imsi"])
        r = other.register_digest(password=last["auth"]["password"])[1]
        self.assertEqual(r.status, 200, r.text)


if __name__ == "__main__":
    H.main()
