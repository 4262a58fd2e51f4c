# The Kamailio benchmark peer: renders pcscf.cfg/scscf.cfg into a temp dir with the
# subscriber files, runs both instances in the foreground on loopback, stops them by PID.

import os
import re
import secrets
import shutil
import subprocess
import time

import benchlib

PEER_DIR = os.path.dirname(os.path.abspath(__file__))
KAMAILIO = "/usr/sbin/kamailio"
# Sizing per TOOL-NOTES: big shared memory (a stateful proxy holds ~13 KB per
# transaction for seconds), 16 MB private memory per process, fm allocator for both.
MEM_ARGS = ["-m", "4096", "-M", "16", "-x", "fm", "-X", "fm", "-b", "4194304"]


def available():
    return os.access(KAMAILIO, os.X_OK)


def _dbtext_escape(s):
    # db_text: ':' separates fields; these characters must be backslash-escaped.
    return (s.replace("\\", "\\\\").replace(":", "\\:").replace("\n", "\\n")
            .replace("\r", "\\r").replace("\t", "\\t"))


def write_subscribers(dbdir, users, domain):
    """db_text tables for htable: subs (IMSI -> password), pau (IMSI ->
    P-Associated-URI value). Loaded once at startup, then memory only."""
    cols = "id(int,auto) key_name(str) key_type(int) value_type(int) key_value(str) expires(int)\n"
    with open(os.path.join(dbdir, "version"), "w") as f:
        f.write("table_name(str) table_version(int)\nsubs:2\npau:2\n")
    with open(os.path.join(dbdir, "subs"), "w") as subs, \
            open(os.path.join(dbdir, "pau"), "w") as pau:
        subs.write(cols)
        pau.write(cols)
        for i, (imsi, pw) in enumerate(users, 1):
            # key_type 0 = plain key, value_type 0 = string value, expires 0 = never
            subs.write(f"{i}:{imsi}:0:0:{_dbtext_escape(pw)}:0\n")
            pau.write(f"{i}:{imsi}:0:0:{_dbtext_escape(f'<sip:{imsi}@{domain}>')}:0\n")


def _render(name, out_path, tokens):
    with open(os.path.join(PEER_DIR, name)) as f:
        text = f.read()
    for k, v in tokens.items():
        text = text.replace(f"@@{k}@@", str(v))
    if re.search(r"@@[A-Z_]+@@", text):
        raise RuntimeError(f"{name}: unfilled template token")
    with open(out_path, "w") as f:
        f.write(text)


class KamailioPair(benchlib.ProcGroup):
    """Edge (P-CSCF role) + registrar (S-CSCF role). edge_port is where the UE sends."""

    name = "kamailio"

    def __init__(self, users, domain, workdir, children=4):
        self.domain = domain
        self.dir = os.path.join(workdir, "kamailio")
        dbdir = os.path.join(self.dir, "db")
        os.makedirs(dbdir)
        write_subscribers(dbdir, users, domain)
        self.edge_port = benchlib.free_port()
        self.reg_port = benchlib.free_port()
        common = {"DOMAIN": domain, "CHILDREN": children}
        _render("scscf.cfg", os.path.join(self.dir, "scscf.cfg"),
                dict(common, PORT=self.reg_port, DBDIR=dbdir, SECRET=secrets.token_hex(16)))
        _render("pcscf.cfg", os.path.join(self.dir, "pcscf.cfg"),
                dict(common, PORT=self.edge_port, SCSCF_PORT=self.reg_port))
        self.procs = []

    def _start_one(self, role):
        cfg = os.path.join(self.dir, f"{role}.cfg")
        check = subprocess.run([KAMAILIO, "-c", "-f", cfg] + MEM_ARGS, capture_output=True,
                               timeout=30)
        if check.returncode != 0:
            raise RuntimeError(f"kamailio {role}.cfg does not parse:\n"
                               + check.stderr.decode(errors="replace")[-2000:])
        rundir = os.path.join(self.dir, f"run-{role}")
        os.makedirs(rundir, exist_ok=True)
        # -DD: stay in the foreground (children still forked); -E: log to stderr.
        argv = [KAMAILIO, "-f", cfg, "-DD", "-E", "-Y", rundir, "-w", self.dir] + MEM_ARGS
        return benchlib.Proc(f"kamailio-{role}", argv, self.dir, cwd=self.dir)

    def start(self):
        self.procs.append(self._start_one("scscf"))
        self.procs.append(self._start_one("pcscf"))
        # Ready when both listen on UDP (all children forked and bound).
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            for p in self.procs:
                if not p.alive():
                    raise RuntimeError(f"{p.name} exited:\n{p.log_text()}")
            if all(_udp_listening(port) for port in (self.edge_port, self.reg_port)):
                time.sleep(0.5)  # workers finish forking after the bind
                return
            time.sleep(0.1)
        raise RuntimeError("kamailio did not start listening:\n"
                           + "\n".join(p.log_text() for p in self.procs))


def _udp_listening(port):
    want = f":{port:04X}"
    try:
        with open("/proc/net/udp") as f:
            return any(line.split()[1].endswith(want) for line in list(f)[1:])
    except OSError:
        return False


def cleanup_dir(path):
    shutil.rmtree(path, ignore_errors=True)
