"""Our ESP (pcscf/esp.c through esp-tool) against an implementation we did not write,
scapy's SecurityAssociation: for every integrity × encryption pair scapy protects and we
verify and decrypt, we protect and scapy verifies and decrypts, UDP and TCP segments; a
wrong ICV, a wrong key, a replayed sequence number and an unknown SPI are refused."""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from esp_peer import AUTHS, ENCS, IP, TCP, UDP, EspPipe, Raw, scapy_sa  # noqa: E402
from harness import bin_path, main  # noqa: E402

UE, PCSCF = "10.99.0.2", "10.99.0.1"
SPI_IN, SPI_OUT = 0x10001, 0x20002
SIP = (b"REGISTER sip:ims.mnc011.mcc432.3gppnetwork.org SIP/2.0\r\n"
       b"Via: SIP/2.0/UDP 10.99.0.2:5080;branch=z9hG4bK1\r\nContent-Length: 0\r\n\r\n")


def segments():
    """Inner packets as the UE would send them (addresses are the outer ones in transport
    mode, so the L4 checksums are right for the P-CSCF's kernel)."""
    return [IP(src=UE, dst=PCSCF) / UDP(sport=5080, dport=5066) / Raw(SIP),
            IP(src=UE, dst=PCSCF) / TCP(sport=5081, dport=5064, flags="PA", seq=1000) / Raw(SIP),
            IP(src=UE, dst=PCSCF) / UDP(sport=5080, dport=5066) / Raw(b""),
            IP(src=UE, dst=PCSCF) / UDP(sport=5080, dport=5066) / Raw(bytes(range(256)) * 5)]


class EspInterop(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tool = bin_path("esp-tool")
        cls.ck = bytes.fromhex("a1b2c3d4e5f60718293a4b5c6d7e8f90")
        cls.ik = bytes.fromhex("0f1e2d3c4b5a69788796a5b4c3d2e1f0")

    def pair(self, auth, enc):
        pipe = EspPipe(self.tool, auth, enc, self.ck, self.ik, SPI_IN, SPI_OUT)
        self.addCleanup(pipe.close)
        return pipe, scapy_sa(SPI_IN, auth, enc, self.ck, self.ik), \
            scapy_sa(SPI_OUT, auth, enc, self.ck, self.ik)

    def check_scapy_to_us(self, pipe, ue_sa):
        for inner in segments():
            inner = IP(bytes(inner))  # checksums computed now
            outer = bytes(ue_sa.encrypt(inner))
            self.assertEqual(outer[9], 50)
            r = pipe.unprotect(outer[20:])
            self.assertTrue(r["ok"], r)
            self.assertEqual(r["nh"], inner.proto)
            self.assertEqual(bytes.fromhex(r["data"]), bytes(inner)[20:])
        return outer

    def check_us_to_scapy(self, pipe, our_sa):
        for inner in segments():
            inner = IP(bytes(IP(src=PCSCF, dst=UE, proto=inner.proto) / inner.payload))
            r = pipe.protect(inner.proto, bytes(inner)[20:])
            self.assertTrue(r["ok"], r)
            esp = bytes.fromhex(r["data"])
            outer = IP(bytes(IP(src=PCSCF, dst=UE, proto=50) / Raw(esp)))
            plain = our_sa.decrypt(IP(bytes(outer)))
            self.assertEqual(bytes(plain)[20:], bytes(inner)[20:])
            self.assertEqual(plain.proto, inner.proto)
            # scapy really checks our ICV: a flipped bit in it is an integrity error
            bad = bytearray(bytes(outer))
            bad[-1] ^= 1
            with self.assertRaises(Exception):
                our_sa.decrypt(IP(bytes(bad)))

    def check_refusals(self, pipe, ue_sa, last, auth, enc):
        # the packet already accepted, again: replay
        self.assertEqual(pipe.unprotect(last[20:]), {"ok": False, "error": "replay"})
        fresh = bytes(ue_sa.encrypt(IP(bytes(segments()[0]))))
        bad = bytearray(fresh)
        bad[-3] ^= 0x10  # inside the ICV
        self.assertEqual(pipe.unprotect(bytes(bad)[20:]), {"ok": False, "error": "auth"})
        bad = bytearray(fresh)
        bad[40] ^= 0x01  # inside the (encrypted) payload
        self.assertEqual(pipe.unprotect(bytes(bad)[20:]), {"ok": False, "error": "auth"})
        # the genuine one still goes through: failures moved nothing
        self.assertTrue(pipe.unprotect(fresh[20:])["ok"])
        other = scapy_sa(SPI_IN, auth, enc, self.ck, bytes(16))
        other.seq_num = 1000
        wrong_key = bytes(other.encrypt(IP(bytes(segments()[0]))))
        self.assertEqual(pipe.unprotect(wrong_key[20:]), {"ok": False, "error": "auth"})
        stranger = scapy_sa(0x4242, auth, enc, self.ck, self.ik)
        unknown = bytes(stranger.encrypt(IP(bytes(segments()[0]))))
        self.assertEqual(pipe.unprotect(unknown[20:]), {"ok": False, "error": "unknown-spi"})
        self.assertEqual(pipe.unprotect(b"\x00\x01\x00\x01\x00"),
                         {"ok": False, "error": "unknown-spi"})

    def test_matrix(self):
        passed = []
        for auth in AUTHS:
            for enc in ENCS:
                with self.subTest(auth=auth, enc=enc):
                    pipe, ue_sa, our_sa = self.pair(auth, enc)
                    last = self.check_scapy_to_us(pipe, ue_sa)
                    self.check_us_to_scapy(pipe, our_sa)
                    self.check_refusals(pipe, ue_sa, last, auth, enc)
                    passed.append(f"{auth}/{enc}")
        print("interop passed (udp+tcp segments both ways): " + ", ".join(passed))
        self.assertEqual(len(passed), len(AUTHS) * len(ENCS))

    def test_reordering_inside_window(self):
        pipe, ue_sa, _ = self.pair("hmac-sha-1-96", "aes-cbc")
        pkts = [bytes(ue_sa.encrypt(IP(bytes(segments()[0])))) for _ in range(70)]
        self.assertTrue(pipe.unprotect(pkts[69][20:])["ok"])    # seq 70
        self.assertTrue(pipe.unprotect(pkts[10][20:])["ok"])    # 59 behind: in the window
        self.assertEqual(pipe.unprotect(pkts[5][20:])["error"], "replay")  # 64 behind
        self.assertEqual(pipe.unprotect(pkts[10][20:])["error"], "replay")


if __name__ == "__main__":
    main()
