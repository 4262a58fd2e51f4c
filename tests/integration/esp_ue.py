"""A UE's side of IMS IPsec done by scapy, run inside the UE's network namespace by the
ESP tests: UDP and a hand-made TCP exchange through ESP over a raw protocol-50 socket,
plus packets the P-CSCF must drop. Prints one JSON object with what it saw.

usage: esp_ue.py JSON  (ue, pcscf, auth, enc, ck, ik, spis, ports; see test_esp_netns.py)"""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from esp_peer import UDP, EspLink, Raw, scapy_sa  # noqa: E402

SIP = ("REGISTER sip:ims.mnc011.mcc432.3gppnetwork.org SIP/2.0\r\n"
       "Via: SIP/2.0/{t} {ue}:{port};branch=z9hG4bK{n}\r\nContent-Length: 0\r\n\r\n")


class Ue:
    def __init__(self, c):
        self.c = c
        ck, ik = bytes.fromhex(c["ck"]), bytes.fromhex(c["ik"])
        sa = lambda spi: scapy_sa(spi, c["auth"], c["enc"], ck, ik)  # noqa: E731
        # Toward the P-CSCF the SPI is the one the P-CSCF chose (it receives); back, ours.
        self.to_ps, self.to_pc = sa(c["pcscf_spi_s"]), sa(c["pcscf_spi_c"])
        self.link = EspLink(c["ue"], c["pcscf"])
        self.link.by_spi = {c["ue_spi_c"]: sa(c["ue_spi_c"]), c["ue_spi_s"]: sa(c["ue_spi_s"])}

    def udp(self, sa, sport, dport, n):
        text = SIP.format(t="UDP", ue=self.c["ue"], port=sport, n=n).encode()
        first = self.link.send(sa, UDP(sport=sport, dport=dport) / Raw(text))
        ans = self.link.recv(5)
        ok = ans is not None and UDP in ans and ans[UDP].sport == dport and \
            ans[UDP].dport == sport and text.split(b"\r\n")[0] in bytes(ans[UDP].payload)
        return ok, first

    def tcp(self, sa, sport, dport):
        """A REGISTER over a hand-made TCP connection; its echo must come back."""
        text = SIP.format(t="TCP", ue=self.c["ue"], port=sport, n="tcp").encode()
        line = text.split(b"\r\n")[0]
        got = self.link.tcp(sa, sport, dport, text, lambda stream: line in stream)
        return got is not None and line in got

    def refused(self, replay_of):
        """Packets the P-CSCF must drop: each would be echoed if it got through."""
        c = self.c
        seg = UDP(sport=c["ue_port_c"], dport=c["pcscf_port_s"]) / Raw(b"OPTIONS x SIP/2.0\r\n")
        stranger = scapy_sa(0x7777, c["auth"], c["enc"], bytes.fromhex(c["ck"]),
                            bytes.fromhex(c["ik"]))
        self.link.send(stranger, seg)
        self.link.send(self.to_ps, seg, tamper=True)
        self.link.send_outer(replay_of)
        return self.link.recv(1.0) is None


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
