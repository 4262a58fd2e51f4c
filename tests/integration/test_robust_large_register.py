"""REGISTERs over ~1300 bytes (a real IMS UE's feature tags, +sip.instance, Security-Client
easily get there) register through the P-CSCF, whose hop to the S-CSCF then moves onto TCP
(RFC 3261 18.1.1); and every header the P-CSCF adds sits inside the header block.
(Regression: pcscf/proxy.c added 'Supported: path' and 'Max-Forwards: 70' with
msg_header_add_str(), which put them after the blank line; on TCP those bytes started the
next message, so the authenticated REGISTER after the 401 was discarded and the UE got
'504 Server Time-out'; on UDP the S-CSCF never saw them.)"""

import socket

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402
import robust_util as R  # noqa: E402

D = H.DOMAIN


class LargeRegister(unittest.TestCase):
    def setUp(self):
        self.ch = R.Chain(self)

    def test_sipp_ue_with_many_feature_tags(self):
        port = H.free_port()
        contact = (f'<sip:{R.USER}@127.0.0.1:{port};ob>;+sip.instance="<urn:gsma:imei:'
                   '35399006-051500-0>";+g.3gpp.icsi-ref="urn%3Aurn-7%3A3gpp-service.ims.'
                   'icsi.mmtel";+g.3gpp.smsip;audio;video;+sip.cnt=1;x-pad="' + "p" * 1200 + '"')
        rc, trace, out = H.sipp(
            "pcscf_uac_register.xml", f"127.0.0.1:{self.ch.pcscf.sip_port}",
            extra=["-key", "domain", D, "-key", "user", R.USER, "-key", "expires", "300",
                   "-key", "contact", contact, "-p", str(port), "-au", R.USER, "-ap", "1234",
                   "-auth_uri", D])
        self.assertEqual(rc, 0, f"{out}\n{trace[-3000:]}\n{self.ch.logs()}")

    def test_raw_ue_with_padding(self):
        ue = R.pcscf_ue(self, self.ch.pcscf.sip_port)
        first, final = R.register(ue, extra=(R.ROUTE, "X-Pad: " + "p" * 1500), timeout=15)
        self.assertEqual(first.status, 401, first.text)
        self.assertEqual(final.status, 200, final.text + self.ch.logs())


class ForwardedFraming(unittest.TestCase):
    """A fake S-CSCF (a UDP socket) receives what the P-CSCF forwards: every header the
    P-CSCF adds must be before the blank line, and the body must match Content-Length."""

    def forwarded(self, drop_max_forwards):
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(10)
        self.addCleanup(sock.close)
        pc = H.Pcscf(f"sip:127.0.0.1:{sock.getsockname()[1]};transport=udp")
        self.addCleanup(pc.kill)
        ue = R.pcscf_ue(self, pc.sip_port)
        text = ue.build(path=False, extra=(R.ROUTE,))
        if drop_max_forwards:
            text = text.replace("Max-Forwards: 70\r\n", "")
        ue.sock.sendto(text.encode(), ue.dst)
        data, _ = sock.recvfrom(65535)
        return data.decode(errors="replace"), pc

    def check(self, msg, pc):
        head, _, body = msg.partition("\r\n\r\n")
        self.assertEqual(body, "", f"bytes after the header block:\n{msg}\n{pc.log()[-2000:]}")
        self.assertRegex(head, r"(?mi)^Supported:.*\bpath\b", msg)
        self.assertRegex(head, r"(?mi)^Max-Forwards:\s*\d+", msg)

    def test_supported_path_is_a_header(self):
        self.check(*self.forwarded(False))

    def test_added_max_forwards_is_a_header(self):
        self.check(*self.forwarded(True))


if __name__ == "__main__":
    H.main()
