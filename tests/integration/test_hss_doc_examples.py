"""Runs every curl example of docs/hss-api.md's Endpoints section against a real
hss-stub, block by block from a known state (the two subscribers the create example
makes), and checks each answers 2xx: the documented examples cannot drift from the
server."""

import os
import re
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402

DOC = os.path.join(H.SRC_DIR, "docs", "hss-api.md")


def blocks():
    with open(DOC, encoding="utf-8") as f:
        text = f.read()
    text = text[text.index("## Endpoints"):]
    text = text[:text.index("\n## ", 1)] if "\n## " in text[1:] else text
    out = []
    for body in re.findall(r"```sh\n(.*?)```", text, re.S):
        cmds = []
        for line in body.replace("\\\n", " ").splitlines():
            line = line.strip()
            if line.startswith("curl "):
                cmds.append(line)
        out.append(cmds)
    return out


def run(hss_url, cmd):
    # Drop the trailing shell comment, then ask curl for the status code only.
    shell = re.sub(r"\s+#[^'\"]*$", "", cmd)
    shell = shell.replace("curl -i ", "curl ", 1).replace(
        "curl ", "curl -s -o /dev/null -w '%{http_code}' ", 1)
    p = subprocess.run(["bash", "-c", shell], capture_output=True, text=True, timeout=20,
                       env=dict(os.environ, H=hss_url))
    return p.stdout.strip()


class HssDocExamples(unittest.TestCase):
    def test_every_curl_example_succeeds(self):
        all_blocks = blocks()
        create = next(b for b in all_blocks if any("-d '{\"imsi\"" in c for c in b))
        self.assertGreaterEqual(len(all_blocks), 8, "the Endpoints section lost its examples")
        hss = H.Hss()
        self.addCleanup(hss.stop)
        ran = 0
        for cmds in all_blocks:
            # known state: exactly the subscribers of the create example
            st, _, body = H.http("GET", hss.url + "/api/v1/subscribers?limit=1000")
            for item in body["items"]:
                H.http("DELETE", hss.url + "/api/v1/subscribers/" + item["imsi"])
            if cmds is not create:
                for c in create:
                    self.assertEqual(run(hss.url, c), "201", c)
            for c in cmds:
                if "@" in c.split("--data-binary")[-1] and "--data-binary" in c:
                    continue  # needs a file of the reader's own
                with self.subTest(example=c):
                    code = run(hss.url, c)
                    self.assertRegex(code, r"^2\d\d$", f"{c} -> {code}\n{hss.log()[-2000:]}")
                    ran += 1
        self.assertGreaterEqual(ran, 10)


if __name__ == "__main__":
    H.main()
