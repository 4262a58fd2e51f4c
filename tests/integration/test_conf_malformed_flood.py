"""Malformed floods (issue: stateless rejects): 20,000 malformed datagrams in about 10 s to each
of the P-CSCF and the S-CSCF (random bytes, requests truncated before CSeq, huge bad headers,
NUL bytes in headers, bad Content-Length). They are rejected without keeping a transaction:
VmRSS grows by at most 20 MiB per daemon, a second flood does not grow it further, and a
valid UE registers afterwards. Set CONF_FLOOD_REPORT=1 to print the figures."""

import os
import random
import sys
import threading
import time
import unittest

# A small ASan quarantine, so VmRSS reflects memory really held rather than freed memory
# parked by the sanitizer (its default quarantine alone is 256 MB).
os.environ.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0:quarantine_size_mb=8")

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402
import robust_util as R  # noqa: E402
from test_robust_flood import valid_register  # noqa: E402

DATAGRAMS = 20000      # per daemon and flood
SECONDS = 10.0
GROWTH_KB = 20 * 1024  # the bound for one flood
AGAIN_KB = 4 * 1024    # allocator noise allowed on the second, identical flood


def malformed(rng, port, i):
    """One malformed request; the five kinds rotate. None of them is a valid request."""
    base = valid_register(port, f"mf{i}", f"malformed{i}")
    kind = i % 5
    if kind == 0:
        return rng.randbytes(rng.randint(1, 1400))
    if kind == 1:
        return base[:rng.randint(1, base.index(b"CSeq:"))]   # cut before CSeq and Contact
    if kind == 2:  # huge: a 20-60 KB header that does not parse
        junk = rng.randint(20000, 60000)
        return rng.choice((base.replace(b"Max-Forwards: 70", b"Max-Forwards: " + b"9" * junk),
                           base.replace(b"Route:", b"Via: SIP/2.0/UDP " + b"[" * junk + b"\r\n"
                                        b"Route:", 1),
                           base.replace(b"To: <sip:", b"To: <sip:" + b"%" * junk, 1)))
    if kind == 3:
        name = rng.choice((b"Contact: <sip:", b"To: <sip:", b"Route: <sip:"))
        return base.replace(name, name + b"\x00\x00" + rng.randbytes(8).replace(b">", b"x"), 1)
    cl = rng.choice((b"99999", b"-5", b"abc", b"1 2"))
    return base.replace(b"Content-Length: 0", b"Content-Length: " + cl)


class MalformedFlood(unittest.TestCase):
    def setUp(self):
        self.ch = R.Chain(self)
        self.targets = [self.ch.pcscf, self.ch.scscf]

    def flood(self, seed):
        """DATAGRAMS to each target in about SECONDS; returns the peak VmRSS seen per daemon."""
        rng = random.Random(seed)
        s = __import__("socket").socket(2, 2)  # AF_INET, SOCK_DGRAM
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        peak = {d.name: R.rss_kb(d.pid) for d in self.targets}
        stop = threading.Event()

        def sample():
            while not stop.is_set():
                for d in self.targets:
                    peak[d.name] = max(peak[d.name], R.rss_kb(d.pid))
                time.sleep(0.1)

        t = threading.Thread(target=sample, daemon=True)
        t.start()
        start = time.time()
        try:
            for i in range(DATAGRAMS):
                data = malformed(rng, port, i)
                for d in self.targets:
                    try:
                        s.sendto(data, ("127.0.0.1", d.sip_port))
                    except OSError:
                        pass  # EMSGSIZE/ENOBUFS: not sent
                if i % 200 == 199:  # pace: DATAGRAMS over SECONDS
                    ahead = start + SECONDS * (i + 1) / DATAGRAMS - time.time()
                    if ahead > 0:
                        time.sleep(ahead)
            time.sleep(2.0)  # let the daemons drain their sockets
            for d in self.targets:
                peak[d.name] = max(peak[d.name], R.rss_kb(d.pid))
        finally:
            stop.set()
            t.join(5)
            s.close()
        return peak

    def test_two_floods_bounded_memory(self):
        ue = R.pcscf_ue(self, self.ch.pcscf.sip_port)
        _, r = R.register(ue)
        self.assertEqual(r.status, 200, r.text)
        base = {d.name: R.rss_kb(d.pid) for d in self.targets}
        first = self.flood(1)
        second = self.flood(1)
        report = []
        for d in self.targets:
            self.assertTrue(d.alive(), d.log()[-3000:])
            g1 = first[d.name] - base[d.name]
            g2 = second[d.name] - first[d.name]
            report.append(f"{d.name}: VmRSS {base[d.name] // 1024} MiB -> {first[d.name] // 1024}"
                          f" MiB after flood 1 (+{g1} KiB) -> {second[d.name] // 1024} MiB after "
                          f"flood 2 (+{g2} KiB)")
        print("\n  " + "\n  ".join(report), file=sys.stderr)
        for d in self.targets:
            g1 = first[d.name] - base[d.name]
            g2 = second[d.name] - first[d.name]
            self.assertLessEqual(g1, GROWTH_KB, f"{d.name} grew {g1} KiB in one flood")
            self.assertLessEqual(g2, AGAIN_KB, f"{d.name} grew {g2} KiB more in a second flood")
        _, r = R.register(ue)
        self.assertEqual(r.status, 200, f"{r.text}\n{self.ch.logs()}")
        for d in self.targets:
            self.assertEqual(d.stop(), 0, d.log()[-3000:])


if __name__ == "__main__":
    H.main()
