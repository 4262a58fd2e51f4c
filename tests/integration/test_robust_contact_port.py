"""A Contact whose port is above 65535 is refused with 400, a reason and a Warning, and
nothing is stored. (Regression: pcscf/path.c read ports with atoi() into uint16_t, so port
65536+N compared equal to a source port N and got no ;alias, and the S-CSCF stored it.)"""

import os
import sys
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402
import robust_util as R  # noqa: E402


class ContactPort(unittest.TestCase):
    def test_port_above_65535_is_refused(self):
        ch = R.Chain(self)
        ue = R.pcscf_ue(self, ch.pcscf.sip_port)
        contact = f"<sip:{R.USER}@127.0.0.1:{ue.port + 65536}>"
        first, final = R.register(ue, contact=contact)
        R.assert_explained(self, final, (400,), ch.logs())
        st, _, body = H.http("GET", ch.scscf.url + "/api/v1/registrations/"
                             + urllib.parse.quote(R.IMPU, safe=""))
        self.assertEqual(st, 404, body)


if __name__ == "__main__":
    H.main()
