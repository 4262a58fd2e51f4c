"""Dialogs through the P-CSCF (RFC 3261 §16.6, §16.12, TS 24.229 §5.2.6.3): it Record-Routes
the dialog-creating requests it forwards (both directions), sends an initial request along
the Service-Route once even when the UE already put it in its Route, sends in-dialog
requests along their route set (not the Service-Route), and forwards ACK for a 2xx and
CANCEL downstream. The far side is an S-CSCF stand-in on a raw socket."""

import os
import re
import sys
import unittest
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import conf_util as C  # noqa: E402
import harness as H  # noqa: E402

D = H.DOMAIN


def uris(values):
    return [re.sub(r"^.*<([^>]*)>.*$", r"\1", v) for v in values]


class Dialogs(C.PcscfCase):
    REGISTERED = True

    def setUp(self):
        super().setUp()
        self.sr_uri = f"sip:orig@127.0.0.1:{self.sc.port};lr"
        self.sc_rr = f"sip:127.0.0.1:{self.sc.port};lr"
        self.callee = f"sip:callee@127.0.0.1:{self.sc.port}"

    def me(self, uri):
        return re.match(rf"sips?:(\w+@)?127\.0\.0\.1:{self.pcscf.sip_port}(;|$)", uri)

    def invite(self, extra_route=True):
        self.call_id = uuid.uuid4().hex
        self.tag = uuid.uuid4().hex[:8]
        route = [f"<sip:pcscf.{D};lr>"] + ([f"<{self.sr_uri}>"] if extra_route else [])
        text = C.request("INVITE", f"sip:{C.MSISDN}@{D}", call_id=self.call_id,
                         from_tag=self.tag, route=False,
                         extra=("Route: " + ", ".join(route),
                                f"Contact: <sip:{C.USER}@127.0.0.1:LPORT>"))
        self.invite_text = text
        self.ue.send(text, self.dst)
        got = self.sc.recv(5, want=lambda m: m.method == "INVITE")
        self.assertIsNotNone(got, self.pcscf.log())
        return got

    def in_dialog(self, method, cseq, rr, to_tag):
        route = ", ".join(f"<{u}>" for u in reversed(rr))
        return C.request(method, self.callee, call_id=self.call_id, from_tag=self.tag,
                         cseq=cseq, route=False, to=f"<sip:{C.MSISDN}@{D}>;tag={to_tag}",
                         extra=(f"Route: {route}",))

    def test_invite_record_routed_service_route_once_then_ack_and_bye_follow_route_set(self):
        inv = self.invite(extra_route=True)
        self.assertEqual(uris(inv.all("route")), [self.sr_uri], inv.text)
        rr = uris(inv.all("record-route"))
        self.assertTrue(rr and self.me(rr[0]), f"no Record-Route of the P-CSCF:\n{inv.text}")
        self.assertIn(";lr", rr[0])
        # The far side adds its own Record-Route on top and answers 200.
        full_rr = [self.sc_rr] + rr
        ok = inv.reply(200, "OK", rr=False, contact=f"<{self.callee}>",
                       extra=["Record-Route: " + ", ".join(f"<{u}>" for u in full_rr)])
        self.sc.send(ok, inv.peer)
        r = self.ue.recv(5, want=lambda m: m.status >= 200)
        self.assertEqual(r.status, 200, r.text)
        self.assertEqual(uris(r.all("record-route")), full_rr, r.text)
        to_tag = re.search(r"tag=([^;>\s]+)", r.h("to")).group(1)
        # ACK for the 2xx: end to end, along the route set.
        self.ue.send(self.in_dialog("ACK", 1, full_rr, to_tag), self.dst)
        ack = self.sc.recv(5, want=lambda m: m.method == "ACK")
        self.assertIsNotNone(ack, f"ACK for 2xx not forwarded\n{self.pcscf.log()}")
        self.assertEqual(ack.ruri, self.callee)
        self.assertEqual(uris(ack.all("route")), [self.sc_rr], ack.text)
        # BYE: route set, no Service-Route put in front.
        self.ue.send(self.in_dialog("BYE", 2, full_rr, to_tag), self.dst)
        bye = self.sc.recv(5, want=lambda m: m.method == "BYE")
        self.assertIsNotNone(bye, self.pcscf.log())
        self.assertEqual(uris(bye.all("route")), [self.sc_rr], bye.text)
        self.assertEqual(bye.all("record-route"), [], "in-dialog requests are not Record-Routed")
        self.sc.send(bye.reply(200, "OK", rr=False), bye.peer)
        r = self.ue.recv(5, want=lambda m: m.status >= 200)
        self.assertEqual(r.status, 200, r.text)

    def test_service_route_added_when_the_ue_did_not(self):
        inv = self.invite(extra_route=False)
        self.assertEqual(uris(inv.all("route")), [self.sr_uri], inv.text)
        self.sc.send(inv.reply(486, "Busy Here", rr=False), inv.peer)
        r = self.ue.recv(5, want=lambda m: m.status >= 200)
        self.assertEqual(r.status, 486, r.text)

    def test_cancel_is_forwarded(self):
        inv = self.invite()
        self.sc.send(inv.reply(180, "Ringing", rr=False), inv.peer)
        ring = self.ue.recv(5, want=lambda m: m.status == 180)
        self.assertIsNotNone(ring, self.pcscf.log())
        cancel = self.invite_text.replace("INVITE sip:", "CANCEL sip:", 1).replace(
            "CSeq: 1 INVITE", "CSeq: 1 CANCEL")
        self.ue.send(cancel, self.dst)
        r = self.ue.recv(5, want=lambda m: m.status >= 200 and "CANCEL" in (m.h("cseq") or ""))
        self.assertIsNotNone(r, self.pcscf.log())
        self.assertEqual(r.status, 200, r.text)
        got = self.sc.recv(5, want=lambda m: m.method == "CANCEL")
        self.assertIsNotNone(got, f"CANCEL not forwarded\n{self.pcscf.log()}")
        self.assertEqual(C.top_via(got).split("branch=")[1].split(";")[0],
                         C.top_via(inv).split("branch=")[1].split(";")[0])
        self.sc.send(got.reply(200, "OK", rr=False), got.peer)
        self.sc.send(inv.reply(487, "Request Terminated", rr=False), inv.peer)
        r = self.ue.recv(5, want=lambda m: m.status >= 200 and "INVITE" in (m.h("cseq") or ""))
        self.assertIsNotNone(r, self.pcscf.log())
        self.assertEqual(r.status, 487, r.text)

    def test_terminating_invite_is_record_routed(self):
        # The S-CSCF reaches the UE through the Path it stored.
        text = (f"INVITE sip:{C.USER}@127.0.0.1:{self.ue.port} SIP/2.0\r\n"
                f"Via: SIP/2.0/UDP 127.0.0.1:{self.sc.port};branch=z9hG4bK{uuid.uuid4().hex}\r\n"
                f"Route: <sip:term@pcscf.{D};lr>\r\nMax-Forwards: 69\r\n"
                f"Record-Route: <{self.sc_rr}>\r\n"
                f"From: <sip:caller@{D}>;tag=abc\r\nTo: <{C.ASSOC[0]}>\r\n"
                f"Call-ID: {uuid.uuid4().hex}\r\nCSeq: 7 INVITE\r\n"
                f"Contact: <sip:caller@127.0.0.1:{self.sc.port}>\r\nContent-Length: 0\r\n\r\n")
        self.sc.send(text, self.dst)
        got = self.ue.recv(5, want=lambda m: m.method == "INVITE")
        self.assertIsNotNone(got, self.pcscf.log())
        rr = uris(got.all("record-route"))
        self.assertEqual(len(rr), 2, got.text)
        self.assertTrue(self.me(rr[0]), got.text)
        self.assertEqual(rr[1], self.sc_rr)
        self.ue.send(got.reply(486, "Busy Here", rr=False), self.dst)


if __name__ == "__main__":
    H.main()
