"""A UE's side of IMS IPsec done by scapy, run inside the UE's network namespace by the
ESP tests: UDP and a hand-made TCP exchange through ESP over a raw protocol-50 socket,
plus packets the P-CSCF must drop. Prints one JSON object with what it saw.

usage: esp_ue.py JSON  (ue, pcscf, auth, enc, ck, ik, spis, ports; see test_esp_netns.py)"""

import json
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from esp_peer import IP, TCP, UDP, Raw, scapy_sa  # noqa: E402

SIP = ("REGISTER sip:ims.mnc011.mcc432.3gppnetwork.org SIP/2.0\r\n"
       "Via: SIP/2.0/{t} {ue}:{port};branch=z9hG4bK{n}\r\nContent-Length: 0\r\n\r\n")


class Ue:
    def __init__(self, c):
        self.c = c
        ck, ik = bytes.fromhex(c["ck"]), bytes.fromhex(c["ik"])
        sa = lambda spi: scapy_sa(spi, c["auth"], c["enc"], ck, ik)  # noqa: E731
        # Toward the P-CSCF the SPI is the one the P-CSCF chose (it receives); back, ours.
        self.to_ps, self.to_pc = sa(c["pcscf_spi_s"]), sa(c["pcscf_spi_c"])
        self.from_ps, self.from_pc = sa(c["ue_spi_c"]), sa(c["ue_spi_s"])
        self.raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, 50)
        self.raw.settimeout(0.2)
        self.sent = []

    def send(self, sa, seg):
        pkt = IP(bytes(IP(src=self.c["ue"], dst=self.c["pcscf"]) / seg))
        outer = bytes(sa.encrypt(pkt))
        self.raw.sendto(outer[20:], (self.c["pcscf"], 0))
        self.sent.append(outer)
        return outer

    def recv(self, deadline):
        """The next ESP packet from the P-CSCF, decrypted by the SA its SPI names."""
        by_spi = {self.c["ue_spi_c"]: self.from_ps, self.c["ue_spi_s"]: self.from_pc}
        while time.monotonic() < deadline:
            try:
                data = self.raw.recv(70000)
            except socket.timeout:
                continue
            pkt = IP(data)
            if pkt.src != self.c["pcscf"] or pkt.proto != 50:
                continue
            spi = int.from_bytes(bytes(pkt.payload)[:4], "big")
            if spi not in by_spi:
                return {"unexpected_spi": spi}
            return by_spi[spi].decrypt(IP(data))  # raises on a bad ICV
        return None

    def udp(self, sa, sport, dport, n):
        text = SIP.format(t="UDP", ue=self.c["ue"], port=sport, n=n).encode()
        first = self.send(sa, UDP(sport=sport, dport=dport) / Raw(text))
        ans = self.recv(time.monotonic() + 5)
        ok = ans is not None and UDP in ans and ans[UDP].sport == dport and \
            ans[UDP].dport == sport and text.split(b"\r\n")[0] in bytes(ans[UDP].payload)
        return ok, first

    def tcp(self, sa, sport, dport):
        """SYN, ACK with a REGISTER, then collect the echo; ends with a RST."""
        seq = 1000
        self.send(sa, TCP(sport=sport, dport=dport, flags="S", seq=seq, window=65000))
        synack = self.recv(time.monotonic() + 5)
        if synack is None or TCP not in synack or synack[TCP].flags & 0x12 != 0x12:
            return False
        ack = synack[TCP].seq + 1
        text = SIP.format(t="TCP", ue=self.c["ue"], port=sport, n="tcp").encode()
        seq += 1
        self.send(sa, TCP(sport=sport, dport=dport, flags="A", seq=seq, ack=ack, window=65000))
        self.send(sa, TCP(sport=sport, dport=dport, flags="PA", seq=seq, ack=ack,
                          window=65000) / Raw(text))
        seq += len(text)
        got, deadline = b"", time.monotonic() + 5
        while time.monotonic() < deadline and text.split(b"\r\n")[0] not in got:
            p = self.recv(deadline)
            if p is None or TCP not in p:
                break
            data = bytes(p[TCP].payload)
            if data and p[TCP].seq == ack:
                got += data
                ack += len(data)
                self.send(sa, TCP(sport=sport, dport=dport, flags="A", seq=seq, ack=ack,
                                  window=65000))
        self.send(sa, TCP(sport=sport, dport=dport, flags="R", seq=seq))
        return text.split(b"\r\n")[0] in got

    def refused(self, replay_of):
        """Packets the P-CSCF must drop: each would be echoed if it got through."""
        c = self.c
        seg = UDP(sport=c["ue_port_c"], dport=c["pcscf_port_s"]) / Raw(b"OPTIONS x SIP/2.0\r\n")
        stranger = scapy_sa(0x7777, c["auth"], c["enc"], bytes.fromhex(c["ck"]),
                            bytes.fromhex(c["ik"]))
        self.send(stranger, seg)
        bad = bytearray(bytes(self.to_ps.encrypt(IP(bytes(
            IP(src=c["ue"], dst=c["pcscf"]) / seg)))))
        bad[-1] ^= 0x80
        self.raw.sendto(bytes(bad)[20:], (c["pcscf"], 0))
        self.raw.sendto(replay_of[20:], (c["pcscf"], 0))
        return self.recv(time.monotonic() + 1.0) is None


def main():
    c = json.loads(sys.argv[1])
    ue = Ue(c)
    out = {}
    out["udp_to_port_s"], first = ue.udp(ue.to_ps, c["ue_port_c"], c["pcscf_port_s"], 1)
    out["udp_to_port_c"], _ = ue.udp(ue.to_pc, c["ue_port_s"], c["pcscf_port_c"], 2)
    out["tcp_to_port_s"] = ue.tcp(ue.to_ps, c["ue_port_c"], c["pcscf_port_s"])
    out["refused_dropped"] = ue.refused(first)
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
