"""The docs cannot drift from the code: docs/configuration.md equals what
scripts/gen-config-doc makes from the built binaries, and docs/troubleshooting.md names
every SIP reason phrase and Warning text the S-CSCF and P-CSCF code can send."""

import glob
import os
import re
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import BIN_DIR, SRC_DIR, bin_path, main  # noqa: E402

# `401, "Unauthorized - Challenging the UE"` in a call, or a table row
# `{403, "Forbidden - ...", "warning text" "continued", "code"}` (C string concatenation).
LITERALS = r'((?:"(?:[^"\\]|\\.)*"\s*)+)'
PHRASE_RE = re.compile(r'\b([3-6]\d\d),\s*"([A-Z][^"]*)"')
ROW_RE = re.compile(r'\{\s*([3-6]\d\d),\s*' + LITERALS + r',\s*' + LITERALS)
SOFIA_MACRO_RE = re.compile(r'\bSIP_([3-6]\d\d)_[A-Z_]+')


def join_literals(text):
    return "".join(re.findall(r'"((?:[^"\\]|\\.)*)"', text)).replace('\\"', '"')


def code_replies():
    """(status, phrase) and warning texts found in scscf/*.c and pcscf/*.c."""
    phrases, warnings, macros = set(), set(), set()
    for path in sorted(glob.glob(os.path.join(SRC_DIR, "scscf", "*.c")) +
                       glob.glob(os.path.join(SRC_DIR, "pcscf", "*.c"))):
        with open(path) as f:
            src = f.read()
        for status, phrase in PHRASE_RE.findall(src):
            phrases.add((status, phrase, os.path.relpath(path, SRC_DIR)))
        for status, phrase_lits, warn_lits in ROW_RE.findall(src):
            warnings.add((join_literals(warn_lits), os.path.relpath(path, SRC_DIR)))
        for status in SOFIA_MACRO_RE.findall(src):
            macros.add((status, os.path.relpath(path, SRC_DIR)))
    return phrases, warnings, macros


class TroubleshootingCoversTheCode(unittest.TestCase):
    def setUp(self):
        with open(os.path.join(SRC_DIR, "docs", "troubleshooting.md")) as f:
            self.doc = " ".join(f.read().split())

    def test_reply_tables_are_found(self):
        # Guards the regexes: if the tables moved or changed shape, this test must say so
        # rather than pass over an empty list.
        phrases, warnings, _ = code_replies()
        files = {p[2] for p in phrases}
        self.assertIn("scscf/reply.c", files)
        self.assertIn("pcscf/reply.c", files)
        self.assertGreaterEqual(len(warnings), 10)
        self.assertIn(("403", "Forbidden - HSS User Unknown", "scscf/reply.c"), phrases)

    def test_every_reason_phrase_is_documented(self):
        phrases, _, _ = code_replies()
        missing = sorted(f"{s} {p}  ({where})" for s, p, where in phrases
                         if f"{s} {p}" not in self.doc)
        self.assertEqual(missing, [], "reason phrases missing from docs/troubleshooting.md")

    def test_every_warning_is_documented(self):
        _, warnings, _ = code_replies()
        missing = sorted(f"{w!r}  ({where})" for w, where in warnings
                         if " ".join(w.split()) not in self.doc)
        self.assertEqual(missing, [], "Warning texts missing from docs/troubleshooting.md")

    def test_stock_sofia_replies_are_documented(self):
        _, _, macros = code_replies()
        missing = sorted(f"{s} ({where})" for s, where in macros if f"`{s} " not in self.doc)
        self.assertEqual(missing, [], "status codes sent with SIP_xxx macros are undocumented")


class ConfigurationDocIsGenerated(unittest.TestCase):
    def test_committed_doc_equals_generated(self):
        for b in ("hss-stub", "scscf", "pcscf"):
            bin_path(b)
        r = subprocess.run([sys.executable, os.path.join(SRC_DIR, "scripts", "gen-config-doc"),
                            "--check", "--bin-dir", BIN_DIR], capture_output=True, text=True,
                           timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def test_every_env_variable_is_in_the_doc(self):
        # Independent of the generator: --help of each binary names its variables.
        for b in ("hss-stub", "scscf", "pcscf"):
            out = subprocess.run([bin_path(b), "--help"], capture_output=True, text=True,
                                 timeout=30).stdout
            with open(os.path.join(SRC_DIR, "docs", "configuration.md")) as f:
                doc = f.read()
            prefix = {"hss-stub": "HSS", "scscf": "SCSCF", "pcscf": "PCSCF"}[b]
            names = set(re.findall(rf"\b{prefix}_[A-Z_]+\b", out))
            self.assertTrue(names, f"{b} --help names no {prefix}_* variable")
            missing = sorted(n for n in names if f"`{n}`" not in doc)
            self.assertEqual(missing, [], f"{b}: run scripts/gen-config-doc --write")


if __name__ == "__main__":
    main()
