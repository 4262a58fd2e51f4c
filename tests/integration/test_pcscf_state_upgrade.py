"""A P-CSCF state file written before schema versions (application id set, user_version 0,
IMPU key COLLATE NOCASE) is upgraded in place at start: its live registrations are
restored and route requests, and the file ends at the current schema (user_version 2, an
exact IMPU key, so IMPUs differing in the user part's case are two rows)."""

import json
import os
import sqlite3
import sys
import time
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

D = harness.DOMAIN
APP_ID = 0x50435343  # "PCSC"


def old_file(path, docs):
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA application_id={APP_ID}")
        db.execute("CREATE TABLE registrations(impu TEXT PRIMARY KEY COLLATE NOCASE, "
                   "doc TEXT NOT NULL)")
        for impu, doc in docs:
            db.execute("INSERT INTO registrations VALUES(?, ?)", (impu, json.dumps(doc)))
    db.close()


def doc(impu, received, wall_ms):
    return {"impu": impu, "impi": "u@" + D, "path": f"sip:term@pcscf.{D};lr",
            "associated_uris": [impu], "service_route": [f"sip:orig@scscf.{D}:6060;lr"],
            "bindings": [{"contact": f"{impu.replace('sip:', 'sip:c-')}:5060",
                          "received": received, "transport": "udp", "user_agent": "t",
                          "expires_at_ms": wall_ms + 600000}]}


class StateUpgrade(unittest.TestCase):
    def test_old_file_upgraded_and_restored(self):
        path = os.path.join(harness.tmpdir(), "pcscf.db")
        wall = int(time.time() * 1000)
        old_file(path, [(f"sip:alice@{D}", doc(f"sip:alice@{D}", "127.0.0.1:7001", wall)),
                        (f"sip:bob@{D}", doc(f"sip:bob@{D}", "127.0.0.1:7002", wall))])
        p = harness.Pcscf(f"sip:127.0.0.1:{harness.free_port()}", state=path)
        self.addCleanup(p.stop)
        st, _, body = harness.http("GET", p.url + "/api/v1/registrations")
        self.assertEqual(st, 200, body)
        self.assertEqual(body["total"], 2, body)
        q = urllib.parse.quote(f"sip:bob@{D}", safe="")
        st, _, one = harness.http("GET", f"{p.url}/api/v1/registrations/{q}")
        self.assertEqual(st, 200, one)
        self.assertEqual(one["contacts"][0]["received"], "127.0.0.1:7002", one)
        self.assertIn("restored 2 registration(s)", p.log())
        self.assertEqual(p.stop(), 0, p.log())
        with sqlite3.connect(path) as db:
            self.assertEqual(db.execute("PRAGMA user_version").fetchone()[0], 2)
            self.assertEqual(db.execute("PRAGMA application_id").fetchone()[0], APP_ID)
            self.assertEqual(db.execute("SELECT count(*) FROM registrations").fetchone()[0], 2)
            # the key is exact now: another user part spelling is another row
            db.execute("INSERT INTO registrations VALUES(?, ?)", (f"sip:ALICE@{D}", "{}"))
            self.assertEqual(db.execute("SELECT count(*) FROM registrations").fetchone()[0], 3)
        db.close()


if __name__ == "__main__":
    unittest.main()
