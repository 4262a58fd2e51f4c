# Shared benchmark helpers: start/stop server processes by PID, run bounded SIPp loads,
# measure CPU/memory/steal from /proc, capture loopback traffic for latency. Stdlib only.
"""Reusable by any bench/ script: import it with
    sys.path.insert(0, os.path.join(REPO, "bench", "lib")); import benchlib
(ourlab.py beside it starts our three daemons the same way.)
"""

import atexit
import math
import os
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")
_live = []  # every Proc still running, stopped at exit whatever happens


def _cleanup():
    for p in list(_live):
        p.stop(timeout=3)


atexit.register(_cleanup)


def _on_signal(signum, _frame):
    raise SystemExit(128 + signum)


def cleanup_on_signals():
    """Call once from a bench script: SIGTERM/SIGHUP become SystemExit, so atexit
    still stops every child by PID and removes temp dirs (Ctrl-C already does)."""
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGHUP, _on_signal)


def log(msg):
    print(time.strftime("%H:%M:%S ") + msg, flush=True)


def tmpdir(prefix="ims-bench-", keep=False):
    """A temp dir removed at exit unless keep is set."""
    d = tempfile.mkdtemp(prefix=prefix)
    if not keep:
        atexit.register(shutil.rmtree, d, True)
    return d


def free_port(host="127.0.0.1", udp_too=True):
    """A port free for TCP (and UDP when udp_too) on host."""
    for _ in range(200):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.bind((host, 0))
        port = s.getsockname()[1]
        s.close()
        if not udp_too:
            return port
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            u.bind((host, port))
            return port
        except OSError:
            continue
        finally:
            u.close()
    raise RuntimeError("no free port")


class Proc:
    """One server process, output to a log file, in its own session so a signal to
    us does not reach it; stopped by its PID only."""

    def __init__(self, name, argv, logdir, cwd=None, env=None):
        self.name = name
        self.argv = argv
        self.log_path = os.path.join(logdir, f"{name}.log")
        self._log = open(self.log_path, "ab")
        full_env = dict(os.environ)
        full_env.update(env or {})
        self.proc = subprocess.Popen(argv, stdout=self._log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, cwd=cwd, env=full_env,
                                     start_new_session=True)
        _live.append(self)

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc.poll() is None

    def log_text(self, tail=4000):
        try:
            with open(self.log_path, "rb") as f:
                data = f.read()
        except OSError:
            return ""
        return data[-tail:].decode("utf-8", "replace")

    def pids(self):
        """This process and all its descendants (Kamailio forks its workers)."""
        return proc_tree(self.pid) if self.alive() else []

    def stop(self, timeout=10):
        """SIGTERM, then SIGKILL after timeout; then SIGKILL any descendant that
        outlived it (a forking server's worker stuck in shutdown). Returns the exit code."""
        tree = [(pid, _start_time(pid)) for pid in proc_tree(self.pid)[1:]] \
            if self.proc.poll() is None else []
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        deadline = time.monotonic() + 2
        for pid, started in tree:
            # Same PID and same start time: still our child, not a reused PID.
            while _start_time(pid) == started and started is not None:
                if time.monotonic() > deadline:
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except OSError:
                        pass
                    break
                time.sleep(0.05)
        if self in _live:
            _live.remove(self)
        if not self._log.closed:
            self._log.close()
        return self.proc.returncode


def _start_time(pid):
    """Start time of a live (non-zombie) PID, None if it is gone."""
    try:
        f = _stat_fields(pid)
    except OSError:
        return None
    return None if f[0] in ("Z", "X") else f[19]


def _stat_fields(pid):
    with open(f"/proc/{pid}/stat") as f:
        data = f.read()
    # comm may hold spaces and parentheses: split after the last ')'
    return data[data.rindex(")") + 2:].split()


def proc_tree(root):
    """root and every descendant PID, from /proc/*/stat parent links."""
    children = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            ppid = int(_stat_fields(name)[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(name))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, []))
    return out


def cpu_seconds(pids):
    """user+system CPU seconds of the PIDs, including reaped children (cutime/cstime)."""
    total = 0
    for pid in pids:
        try:
            f = _stat_fields(pid)
        except OSError:
            continue
        # fields after ')': state=0 ... utime=11 stime=12 cutime=13 cstime=14
        total += int(f[11]) + int(f[12]) + int(f[13]) + int(f[14])
    return total / CLK_TCK


def memory_kb(pids):
    """(sum of Pss, sum of Rss) in KiB. Pss splits shared pages among the processes
    that map them, so a multi-process server (Kamailio's shared memory) is not
    counted once per worker; for a single process Pss ~= Rss."""
    pss = rss = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Pss:"):
                        pss += int(line.split()[1])
                    elif line.startswith("Rss:"):
                        rss += int(line.split()[1])
        except OSError:
            continue
    return pss, rss


class CpuMeter:
    """Machine-wide CPU over an interval from /proc/stat: hypervisor steal as a
    fraction of all CPU time, and busy (non-nice) CPU seconds, to tell how much of the
    machine something other than the measured processes used - the host is shared."""

    def __init__(self):
        self.start = self._read()
        self.t0 = time.monotonic()

    @staticmethod
    def _read():
        with open("/proc/stat") as f:
            parts = f.readline().split()
        vals = [int(x) for x in parts[1:]]
        vals += [0] * (8 - len(vals))
        # user nice system idle iowait irq softirq steal [guest guest_nice]: guests
        # are already counted in user/nice.
        total = sum(vals[:8])
        # nice time is left out of "busy": niced work (a fuzzer in the background)
        # yields to normal-priority servers and hardly disturbs them.
        busy = vals[0] + vals[2] + vals[5] + vals[6]
        return total, busy, vals[7]

    def steal(self):
        total, _busy, steal = self._read()
        dt = total - self.start[0]
        return (steal - self.start[2]) / dt if dt > 0 else 0.0

    def busy_seconds(self):
        return (self._read()[1] - self.start[1]) / CLK_TCK

    def wall(self):
        return time.monotonic() - self.t0


Steal = CpuMeter  # older name


def children_cpu_seconds():
    """user+system CPU of every waited-for child of this process so far (SIPp runs)."""
    import resource
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def percentile(values, p):
    """Nearest-rank percentile (p in 0..100) of a list; None when empty."""
    if not values:
        return None
    s = sorted(values)
    k = max(0, min(len(s) - 1, math.ceil(p / 100.0 * len(s)) - 1))
    return s[k]


def write_users_csv(path, users):
    """SIPp injection file: SEQUENTIAL, one 'user;password;' line per user."""
    with open(path, "w") as f:
        f.write("SEQUENTIAL\n")
        for user, password in users:
            f.write(f"{user};{password};\n")


def bench_users(n, prefix="4320119", seed="bench"):
    """n distinct (IMSI, password) pairs; IMSIs are 15 digits, passwords differ per user."""
    import hashlib
    width = 15 - len(prefix)
    out = []
    for i in range(n):
        imsi = f"{prefix}{i:0{width}d}"
        pw = hashlib.sha1(f"{seed}:{imsi}".encode()).hexdigest()[:12]
        out.append((imsi, pw))
    return out


def run_sipp(scenario, remote, csv, count, rate, workdir, local_port, domain,
             limit=None, extra=None, max_seconds=None, tag="run", rate_period_ms=1000):
    """One bounded SIPp run of `count` calls at `rate` calls per rate_period_ms (calls/s
    by default; 1000 per 3000 ms gives 333.3/s). Returns a dict with
    successful/failed/retransmissions/elapsed/achieved rate/return code."""
    return finish_sipp(start_sipp(scenario, remote, csv, count, rate, workdir, local_port,
                                  domain, limit, extra, max_seconds, tag, rate_period_ms))


def start_sipp(scenario, remote, csv, count, rate, workdir, local_port, domain,
               limit=None, extra=None, max_seconds=None, tag="run", rate_period_ms=1000):
    """run_sipp without waiting: returns a handle for finish_sipp (two SIPp loads can
    then overlap, e.g. a probe while an overload drains)."""
    stat = os.path.join(workdir, f"{tag}.stat.csv")
    errf = os.path.join(workdir, f"{tag}.err.log")
    max_seconds = max_seconds or int(count * rate_period_ms / 1000 / rate) + 30
    argv = ["sipp", remote, "-sf", scenario, "-inf", csv, "-i", "127.0.0.1",
            "-p", str(local_port), "-t", "u1", "-m", str(count), "-r", str(rate),
            "-rp", str(rate_period_ms), "-l", str(limit or max(200, rate * 2)),
            "-au", "[field0]", "-ap", "[field1]", "-auth_uri", domain,
            "-key", "domain", domain,
            "-timeout", f"{max_seconds}s", "-timeout_error", "-recv_timeout", "10000",
            "-nostdin", "-trace_stat", "-stf", stat, "-fd", "1",
            "-trace_err", "-error_file", errf, "-buff_size", "4194304",
            "-mi", "127.0.0.1"] + (extra or [])
    errlog = open(os.path.join(workdir, f"{tag}.stderr"), "w+b")
    return {"proc": subprocess.Popen(argv, cwd=workdir, stdout=subprocess.DEVNULL,
                                     stderr=errlog),
            "errlog": errlog, "stat": stat, "count": count, "max_seconds": max_seconds,
            "t0": time.monotonic(), "c0": children_cpu_seconds()}


def sipp_stat_rows(path):
    """The rows of a SIPp -trace_stat file (one per -fd period) as dicts of strings."""
    try:
        with open(path) as f:
            rows = [line.rstrip("\n").split(";") for line in f if line.strip()]
    except OSError:
        return []
    if len(rows) < 2:
        return []
    return [dict(zip(rows[0], r)) for r in rows[1:]]


def sipp_elapsed(row, key="ElapsedTime(C)", whole_seconds=False):
    """Seconds from a SIPp stat time field (HH:MM:SS:mmmmmm). SIPp 3.6 writes the
    elapsed time of its rows as HH:MM:SS: that is None unless whole_seconds is set
    (run_sipp then keeps its own wall-clock time, as it always has)."""
    try:
        parts = [int(x) for x in row[key].split(":")]
    except (KeyError, ValueError):
        return None
    if len(parts) == 3 and whole_seconds:
        parts.append(0)
    if len(parts) != 4:
        return None
    h, m, s, us = parts
    return h * 3600 + m * 60 + s + us / 1e6


def finish_sipp(h):
    """Waits (bounded) for a start_sipp run and returns run_sipp's dict."""
    p = h["proc"]
    try:
        p.wait(timeout=max(1.0, h["max_seconds"] + 30 - (time.monotonic() - h["t0"])))
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
    wall = time.monotonic() - h["t0"]
    h["errlog"].seek(0)
    stderr = h["errlog"].read().decode(errors="replace")[-500:]
    h["errlog"].close()
    res = {"rc": p.returncode, "wall": wall, "sipp_cpu": children_cpu_seconds() - h["c0"],
           "successful": 0, "failed": 0, "retrans": 0, "elapsed": wall, "stderr": stderr}
    rows = sipp_stat_rows(h["stat"])
    if rows:
        last = rows[-1]

        def num(name):
            try:
                return int(last[name])
            except (KeyError, ValueError):
                return 0
        res["successful"] = num("SuccessfulCall(C)")
        res["failed"] = num("FailedCall(C)")
        res["retrans"] = num("Retransmissions(C)")
        res["elapsed"] = sipp_elapsed(last) or wall
    # Calls SIPp never completed (killed by the global timeout) are failures too.
    count = h["count"]
    res["failed"] = max(res["failed"], count - res["successful"])
    res["achieved"] = res["successful"] / res["elapsed"] if res["elapsed"] > 0 else 0.0
    return res


def udp_rcvbuf_errors():
    """Datagrams the kernel dropped machine-wide because a socket buffer was full."""
    with open("/proc/net/snmp") as f:
        rows = [line.split() for line in f if line.startswith("Udp:")]
    return int(rows[1][rows[0].index("RcvbufErrors")])


def socket_drops(ports):
    """{port: datagrams dropped so far} for the UDP sockets bound to these ports
    (/proc/net/udp 'drops' column): tells which receiver overflowed."""
    out = {}
    with open("/proc/net/udp") as f:
        next(f)
        for line in f:
            cols = line.split()
            port = int(cols[1].split(":")[1], 16)
            if port in ports:
                out[port] = out.get(port, 0) + int(cols[-1])
    return out


def parse_prometheus(text):
    """{'name' or 'name{labels}': float} from a Prometheus text exposition."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        key, _, value = line.rpartition(" ")
        try:
            out[key.strip()] = float(value)
        except ValueError:
            continue
    return out


class Capture:
    """tcpdump on lo for one UDP port, kernel timestamps, to compute response times
    with sub-millisecond resolution (SIPp's own timers resolve ~4 ms)."""

    def __init__(self, port, path, bpf=None):
        self.path = path
        self.ok = shutil.which("tcpdump") is not None and os.geteuid() == 0
        self.proc = None
        self.dropped = None
        if not self.ok:
            return
        self.err_path = path + ".err"
        self._err = open(self.err_path, "wb")
        self.proc = subprocess.Popen(
            ["tcpdump", "-i", "lo", "-n", "-s", "2048", "-B", "65536", "-w", path,
             "-Z", "root", bpf or f"udp port {port}"],
            stdout=subprocess.DEVNULL, stderr=self._err, start_new_session=True)
        # tcpdump prints "listening on" once the socket is live.
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            with open(self.err_path, "rb") as f:
                if b"listening on" in f.read():
                    break
            if self.proc.poll() is not None:
                self.ok = False
                break
            time.sleep(0.05)

    def stop(self):
        if not self.proc:
            return
        time.sleep(0.3)  # let the last packets land
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._err.close()
        with open(self.err_path, "rb") as f:
            for line in f.read().decode(errors="replace").splitlines():
                if "dropped by kernel" in line:
                    self.dropped = int(line.split()[0])

    def response_times(self, sipp_port):
        """{'401': [ms...], '200': [ms...], ...}: for each REGISTER the SIPp port sent
        (keyed by Call-ID + CSeq), the time from its first transmission to the first
        final response to it."""
        out = {}
        for _ts, code, ms in self.transactions(sipp_port):
            out.setdefault(code, []).append(ms)
        return out

    def transactions(self, sipp_port):
        """[(epoch seconds of the first transmission, final status code, ms to it)] for
        each REGISTER the SIPp port sent and got a final response to, in capture order:
        response_times() per time window (latency over a long run)."""
        sent, got = {}, {}
        for ts, sport, dport, payload in read_pcap_udp(self.path):
            first, callid, cseq = _sip_keys(payload)
            if not first or not callid:
                continue
            key = (callid, cseq)
            if sport == sipp_port and first.startswith("REGISTER "):
                sent.setdefault(key, ts)
            elif dport == sipp_port and first.startswith("SIP/2.0 "):
                code = first.split()[1]
                if code >= "200" and key not in got:
                    got[key] = (ts, code)
        return [(sent[key], code, (ts - sent[key]) * 1000.0)
                for key, (ts, code) in got.items() if key in sent]


def _sip_keys(payload):
    try:
        text = payload[:2048].decode("ascii", "replace")
    except Exception:  # noqa: BLE001 - never let one odd packet stop the analysis
        return None, None, None
    lines = text.split("\r\n")
    callid = cseq = None
    for line in lines[1:]:
        if not line:
            break
        name, _, value = line.partition(":")
        n = name.strip().lower()
        if n in ("call-id", "i"):
            callid = value.strip()
        elif n == "cseq":
            cseq = value.strip().split()[0]
    return lines[0], callid, cseq


def read_pcap_udp(path):
    """Yields (timestamp_s, sport, dport, udp_payload) for IPv4/UDP packets of a
    classic pcap file (Ethernet or Linux cooked link types)."""
    with open(path, "rb") as f:
        hdr = f.read(24)
        if len(hdr) < 24:
            return
        magic = struct.unpack("<I", hdr[:4])[0]
        if magic in (0xA1B2C3D4, 0xA1B23C4D):
            endian = "<"
        else:
            endian = ">"
            magic = struct.unpack(">I", hdr[:4])[0]
        frac = 1e-9 if magic == 0xA1B23C4D else 1e-6
        linktype = struct.unpack(endian + "I", hdr[20:24])[0]
        l2 = {1: 14, 113: 16, 276: 20}.get(linktype)
        if l2 is None:
            raise ValueError(f"unsupported pcap link type {linktype}")
        rec = struct.Struct(endian + "IIII")
        while True:
            rh = f.read(16)
            if len(rh) < 16:
                return
            sec, sub, incl, _orig = rec.unpack(rh)
            pkt = f.read(incl)
            ip = pkt[l2:]
            if len(ip) < 28 or ip[0] >> 4 != 4 or ip[9] != 17:
                continue
            ihl = (ip[0] & 15) * 4
            sport, dport = struct.unpack(">HH", ip[ihl:ihl + 4])
            yield sec + sub * frac, sport, dport, ip[ihl + 8:]


def rtt_csv_times(path):
    """{rtd name: [ms...]} from a SIPp -trace_rtt file (Date_ms;response_time_ms;rtd_no):
    the fallback when tcpdump is not usable (coarse: SIPp's clock ticks ~4 ms here)."""
    out = {}
    try:
        with open(path) as f:
            next(f, None)
            for line in f:
                parts = line.strip().split(";")
                if len(parts) >= 3:
                    try:
                        out.setdefault(parts[2], []).append(float(parts[1]))
                    except ValueError:
                        pass
    except OSError:
        pass
    return out


class ProcGroup:
    """A set of started server processes (self.procs, each with pids/alive/stop/
    log_text/name), stopped in reverse start order."""

    def pids(self):
        out = []
        for p in self.procs:
            out.extend(p.pids())
        return out

    def alive(self):
        return all(p.alive() for p in self.procs)

    def stop(self):
        for p in reversed(self.procs):
            p.stop()
        self.procs = []

    def logs(self):
        return "\n".join(f"--- {p.name}\n{p.log_text()}" for p in self.procs)
