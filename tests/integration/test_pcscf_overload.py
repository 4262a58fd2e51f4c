"""P-CSCF overload control (--max-pending): past the limit a new REGISTER gets an immediate
503 with Retry-After and a Warning, is not forwarded, and REGISTERs flow again once the
S-CSCF's answers bring the pending count back under the limit. --max-backlog-kb does the
same when datagrams pile up on the P-CSCF's UDP socket faster than it reads them."""

import os
import re
import signal
import socket
import sys
import time
import unittest
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

D = harness.DOMAIN
USER = "432011123456791"
OVERLOADED = (503, "Service Unavailable - P-CSCF Overloaded")


def register(port, user=USER, auth=False):
    """A REGISTER as a UE sends it, for a UE socket bound to port."""
    lines = ["REGISTER sip:%s SIP/2.0" % D,
             f"Via: SIP/2.0/UDP 127.0.0.1:{port};rport;branch=z9hG4bK" + uuid.uuid4().hex,
             "Max-Forwards: 70",
             f"From: <sip:{user}@{D}>;tag=" + uuid.uuid4().hex[:8],
             f"To: <sip:{user}@{D}>",
             "Call-ID: " + uuid.uuid4().hex,
             "CSeq: 1 REGISTER",
             f"Route: <sip:pcscf.{D};lr>",
             f"Contact: <sip:{user}@127.0.0.1:{port}>",
             "Expires: 300"]
    if auth:
        lines.append(f'Authorization: Digest username="{user}@{D}", realm="{D}", '
                     f'nonce="abc", uri="sip:{D}", response="00000000000000000000000000000000"')
    lines += ["Content-Length: 0", "", ""]
    return "\r\n".join(lines).encode()


def status_of(resp):
    m = re.match(r"SIP/2.0 (\d{3}) ([^\r\n]*)", resp)
    return (int(m.group(1)), m.group(2)) if m else (0, "")


def udp(timeout=10):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.settimeout(timeout)
    return s


class Ue:
    def __init__(self, test, pcscf_port, rcvbuf=None):
        self.sock = udp()
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        test.addCleanup(self.sock.close)
        self.port = self.sock.getsockname()[1]
        self.dest = ("127.0.0.1", pcscf_port)

    def send_register(self, **kw):
        self.sock.sendto(register(self.port, **kw), self.dest)

    def recv(self):
        return self.sock.recv(65535).decode(errors="replace")


class ScscfStandin:
    """A UDP S-CSCF that answers only when told to (it is silent until then)."""

    def __init__(self, test):
        self.sock = udp()
        test.addCleanup(self.sock.close)
        self.port = self.sock.getsockname()[1]

    def take(self, ue_port):
        """The next request forwarded for the UE on ue_port (the P-CSCF's retransmissions
        of other, unanswered requests are skipped)."""
        while True:
            data, addr = self.sock.recvfrom(65535)
            text = data.decode(errors="replace")
            if f"Via: SIP/2.0/UDP 127.0.0.1:{ue_port};" in text:
                return text, addr

    def answer(self, request, addr, status=401, phrase="Unauthorized"):
        """Answers a received request: every Via, From, To (with a tag), Call-ID, CSeq."""
        head = request.split("\r\n\r\n", 1)[0].split("\r\n")[1:]
        keep = [h for h in head if re.match(r"(?i)(via|from|call-id|cseq):", h)]
        to = next(h for h in head if re.match(r"(?i)to:", h))
        lines = [f"SIP/2.0 {status} {phrase}"] + keep + [to + ";tag=standin"]
        if status == 401:
            lines.append(f'WWW-Authenticate: Digest realm="{D}", nonce="n1", algorithm=MD5')
        lines += ["Content-Length: 0", "", ""]
        self.sock.sendto("\r\n".join(lines).encode(), addr)


def metric(p, name):
    st, _, text = harness.http("GET", p.url + "/metrics")
    if st != 200 or not isinstance(text, str):
        raise AssertionError(f"/metrics: {st} {text}")
    m = re.search(r"(?m)^" + re.escape(name) + r" (\d+)$", text)
    if not m:
        raise AssertionError(f"{name} missing from /metrics: {text[:500]}")
    return int(m.group(1))


class PcscfOverloadTest(unittest.TestCase):
    def start(self, max_pending, timeout_ms=20000, extra=None):
        self.scscf = ScscfStandin(self)
        self.pcscf = harness.Pcscf(f"sip:127.0.0.1:{self.scscf.port};transport=udp",
                                   extra=["--max-pending", str(max_pending), "--timeout-ms",
                                          str(timeout_ms)] + (extra or []))
        self.addCleanup(self.pcscf.stop)
        return self.pcscf

    def forwarded(self):
        return metric(self.pcscf, 'pcscf_forwarded_total{method="REGISTER"}')

    def test_limit_answers_503_at_once_and_recovers(self):
        p = self.start(max_pending=1)
        a, b = Ue(self, p.sip_port), Ue(self, p.sip_port)

        # A's REGISTER reaches the (silent) S-CSCF and stays pending: the limit is reached.
        a.send_register()
        self.assertEqual(status_of(a.recv())[0], 100)
        req_a, addr = self.scscf.take(a.port)
        self.assertTrue(req_a.startswith("REGISTER "), req_a)
        self.assertEqual(metric(p, "pcscf_pending_transactions"), 1)

        # B is refused at once, with the reason, Retry-After and a Warning; no 100 first.
        b.send_register()
        resp = b.recv()
        self.assertEqual(status_of(resp), OVERLOADED, resp)
        self.assertRegex(resp, r"(?m)^Retry-After: \d+")
        self.assertRegex(resp, r'(?m)^Warning: 399 \S+ "too many requests are waiting for the '
                         r'S-CSCF; retry later"')
        self.assertEqual(self.forwarded(), 1, "the refused REGISTER was forwarded")
        self.assertEqual(metric(p, "pcscf_pending_transactions"), 1)
        self.assertEqual(metric(p, "pcscf_overload_rejected_total"), 1)
        self.assertIn("overloaded", p.log())

        # The S-CSCF answers A: A gets the 401, the pending count drops, B gets through.
        self.scscf.answer(req_a, addr)
        resp = a.recv()
        self.assertEqual(status_of(resp)[0], 401, resp)
        self.assertEqual(metric(p, "pcscf_pending_transactions"), 0)
        b.send_register()
        self.assertEqual(status_of(b.recv())[0], 100)
        req_b, addr = self.scscf.take(b.port)
        self.assertIn(f"Via: SIP/2.0/UDP 127.0.0.1:{b.port}", req_b)
        self.scscf.answer(req_b, addr, 401, "Unauthorized")
        self.assertEqual(status_of(b.recv())[0], 401)
        self.assertEqual(self.forwarded(), 2)

    def test_credentials_get_headroom_over_new_registrations(self):
        # Limit 4: four new registrations fill it; a fifth is refused, while the second
        # leg of a registration (with Authorization) still has a quarter more room.
        p = self.start(max_pending=4)
        ues = [Ue(self, p.sip_port) for _ in range(4)]
        for ue in ues:
            ue.send_register()
            self.assertEqual(status_of(ue.recv())[0], 100)
            self.scscf.take(ue.port)
        late = Ue(self, p.sip_port)
        late.send_register()
        self.assertEqual(status_of(late.recv()), OVERLOADED)
        late.send_register(auth=True)
        self.assertEqual(status_of(late.recv())[0], 100)
        req, _ = self.scscf.take(late.port)
        self.assertRegex(req, r"(?m)^Authorization: Digest ")
        self.assertEqual(metric(p, "pcscf_pending_transactions"), 5)
        # The headroom has an end too.
        other = Ue(self, p.sip_port)
        other.send_register(auth=True)
        self.assertEqual(status_of(other.recv()), OVERLOADED)

    def test_zero_means_no_limit(self):
        p = self.start(max_pending=0)
        for _ in range(3):
            ue = Ue(self, p.sip_port)
            ue.send_register()
            self.assertEqual(status_of(ue.recv())[0], 100)
            self.scscf.take(ue.port)
        self.assertEqual(metric(p, "pcscf_pending_transactions"), 3)
        self.assertEqual(self.forwarded(), 3)

    def test_limit_frees_when_the_silent_scscf_times_out(self):
        # The S-CSCF never answers: the 504 after --timeout-ms also frees the slot.
        p = self.start(max_pending=1, timeout_ms=1000)
        a, b = Ue(self, p.sip_port), Ue(self, p.sip_port)
        a.send_register()
        self.assertEqual(status_of(a.recv())[0], 100)
        self.scscf.take(a.port)
        b.send_register()
        self.assertEqual(status_of(b.recv()), OVERLOADED)
        resp = a.recv()
        self.assertEqual(status_of(resp), (504, "Server Time-out - S-CSCF Did Not Answer"))
        b.send_register()
        self.assertEqual(status_of(b.recv())[0], 100)
        req_b, _ = self.scscf.take(b.port)
        self.assertIn(f"Via: SIP/2.0/UDP 127.0.0.1:{b.port}", req_b)

    def _queue_while_stopped(self, p, ue, batches, pause, hold=0.0):
        """Sends batches of REGISTERs to the stopped P-CSCF, `pause` seconds apart, then
        after `hold` seconds lets it run; returns (Call-IDs in order, {Call-ID: answer})
        once every request has its answer."""
        ids = []
        os.kill(p.pid, signal.SIGSTOP)
        self.addCleanup(lambda: p.alive() and os.kill(p.pid, signal.SIGCONT))
        for i, batch in enumerate(batches):
            if i:
                time.sleep(pause)
            # a batch: a count of new REGISTERs, or [(count, with credentials), ...]
            for n, auth in batch if isinstance(batch, list) else [(batch, False)]:
                for _ in range(n):
                    req = register(ue.port, auth=auth)
                    ids.append(re.search(rb"Call-ID: (\S+)", req).group(1).decode())
                    ue.sock.sendto(req, ue.dest)
        time.sleep(hold)
        os.kill(p.pid, signal.SIGCONT)
        answers = {}
        while len(answers) < len(ids):
            r = ue.recv()
            answers[re.search(r"(?m)^Call-ID: (\S+)", r).group(1)] = r
        return ids, answers

    def test_queueing_time_on_the_socket_sheds_new_registrations(self):
        # While the P-CSCF is stopped, 300 REGISTERs wait on its socket for 1.5 s, then 50
        # more arrive. Running again, it forwards old ones until 128 are pending (the
        # silent S-CSCF answers none) and 32 more (a short pause is not overload), then
        # answers old ones 503 (the head of its queue has waited past --max-queue-ms 500
        # for 32 REGISTERs in a row) except those with credentials, and forwards the young.
        p = self.start(max_pending=0, extra=["--max-queue-ms", "500"])
        ue = Ue(self, p.sip_port, rcvbuf=4 << 20)
        ids, answers = self._queue_while_stopped(p, ue, [[(300, False), (20, True)], 50], 1.5)
        st = {i: status_of(answers[i]) for i in ids}
        shed = [i for i in ids if st[i] == OVERLOADED]
        trying = [i for i in ids if st[i][0] == 100]
        self.assertEqual(len(shed) + len(trying), len(ids), sorted(set(st.values())))
        self.assertEqual([st[i][0] for i in ids[:160]], [100] * 160, "shed too early")
        self.assertGreater(len(shed), 0, "an old queue shed nothing")
        self.assertEqual([st[i][0] for i in ids[300:320]], [100] * 20,
                         "an old second leg (with credentials) was shed")
        self.assertEqual([st[i][0] for i in ids[320:]], [100] * 50, "a young request was shed")
        for i in shed:
            self.assertRegex(answers[i], r"(?m)^Retry-After: \d+")
        self.assertEqual(self.forwarded(), len(trying))
        self.assertEqual(metric(p, "pcscf_overload_rejected_total"), len(shed))
        self.assertRegex(p.log(), r"overloaded: .* waited \d+ ms \(--max-queue-ms 500\)")

    def test_a_short_pause_sheds_nothing(self):
        # Twenty REGISTERs queued during a 1 s stop: old, but too few to be overload.
        p = self.start(max_pending=0, extra=["--max-queue-ms", "200"])
        ue = Ue(self, p.sip_port, rcvbuf=4 << 20)
        ids, answers = self._queue_while_stopped(p, ue, [20], 0, hold=1.0)
        self.assertEqual([status_of(answers[i])[0] for i in ids], [100] * len(ids))
        self.assertEqual(metric(p, "pcscf_overload_rejected_total"), 0)

    def test_queue_limit_zero_sheds_nothing(self):
        p = self.start(max_pending=0, extra=["--max-queue-ms", "0"])
        ue = Ue(self, p.sip_port, rcvbuf=4 << 20)
        ids, answers = self._queue_while_stopped(p, ue, [20, 20], 1.0)
        self.assertEqual([status_of(answers[i])[0] for i in ids], [100] * len(ids))
        self.assertEqual(metric(p, "pcscf_overload_rejected_total"), 0)


if __name__ == "__main__":
    harness.main()
