# Overload and memory-after-burst step of bench/run-peer: offer twice a side's zero-failure
# rate for a bounded time, probe until registrations succeed again, sample memory. Stdlib only.
"""One side at a time: overload.run(side_stack, capacity, ...) returns a dict of counts,
times and memory figures; overload.report_lines(name, result) formats it."""

import os
import signal
import threading
import time

import benchlib


def mem_by_proc(stack):
    """{process name: (PSS KiB, RSS KiB)} of each server process (with its children)."""
    return {p.name: benchlib.memory_kb(p.pids()) for p in stack.procs}


def _total(mem):
    return (sum(v[0] for v in mem.values()), sum(v[1] for v in mem.values()))


class MemSampler(threading.Thread):
    """Samples every process's memory every 0.5 s and keeps the highest of each."""

    def __init__(self, stack):
        super().__init__(daemon=True)
        self.stack = stack
        self.peak = {}
        self.peak_total = (0, 0)
        self._halt = threading.Event()

    def run(self):
        while not self._halt.is_set():
            mem = mem_by_proc(self.stack)
            for k, v in mem.items():
                old = self.peak.get(k, (0, 0))
                self.peak[k] = (max(old[0], v[0]), max(old[1], v[1]))
            tot = _total(mem)
            self.peak_total = (max(self.peak_total[0], tot[0]), max(self.peak_total[1], tot[1]))
            self._halt.wait(0.5)

    def stop(self):
        self._halt.set()
        self.join(5)


def count_503(pcap, sipp_port):
    """(503 responses seen, of them with a Retry-After header) in a capture of responses
    to the SIPp port (the capture filter keeps only 503s)."""
    total = with_ra = 0
    try:
        for _ts, _sport, dport, payload in benchlib.read_pcap_udp(pcap):
            if dport != sipp_port or not payload.startswith(b"SIP/2.0 503"):
                continue
            total += 1
            head = payload.split(b"\r\n\r\n", 1)[0].lower()
            if b"\r\nretry-after:" in head:
                with_ra += 1
    except (OSError, ValueError):
        return None, None
    return total, with_ra


def _row_at(rows, seconds):
    """The last SIPp stat row at or before `seconds` into the run (None if none)."""
    best = None
    for r in rows:
        t = benchlib.sipp_elapsed(r, whole_seconds=True)
        if t is not None and t <= seconds + 0.6:
            best = r
    return best


def _int(row, key):
    try:
        return int(row[key])
    except (KeyError, TypeError, ValueError):
        return 0


def server_ports(stack):
    """{UDP port: what it is} of the side's SIP sockets."""
    ports = {stack.edge_port: "edge"}
    for name in ("scscf_sip", "reg_port"):
        if getattr(stack, name, None):
            ports[getattr(stack, name)] = "registrar"
    return ports


def _probe(stack, capacity, probe_csv, workdir, domain, scenario, tag, t_drop, limit_s):
    """1-second SIPp windows at half the capacity from a second port until one completes
    every registration with none failed; returns (seconds from the load drop to the start
    of that window or None, [(offset, ok, failed)...])."""
    rate = max(1, capacity // 2)
    port = benchlib.free_port()
    windows = []
    i = 0
    while time.monotonic() - t_drop < limit_s:
        start = time.monotonic() - t_drop
        r = benchlib.run_sipp(scenario, f"127.0.0.1:{stack.edge_port}", probe_csv, rate, rate,
                              workdir, port, domain, max_seconds=4, tag=f"{tag}-probe{i}")
        ok = r["failed"] == 0 and r["successful"] == rate
        windows.append((round(start, 2), ok, r["failed"]))
        if ok:
            return start, windows
        i += 1
    return None, windows


def run(stack, sipp_port, capacity, csv, probe_csv, workdir, domain, scenario, seconds=20,
        probe_limit_s=30, settle_s=15, capture=True, max_rate=30000):
    """Offers min(2 x capacity, max_rate) registrations/s for `seconds` from sipp_port, then
    probes recovery at half the capacity; memory before, at the drop, at the peak and
    settle_s after everything ended. Every SIPp run is bounded by count and time."""
    rate = min(2 * capacity, max_rate)
    n = rate * seconds
    tag = f"{stack.name}-overload"
    ports = server_ports(stack)
    out = {"capacity": capacity, "offered_target": rate, "seconds": seconds}
    out["mem_steady"] = mem_by_proc(stack)
    ports[sipp_port] = "sipp"
    drops0 = benchlib.socket_drops(list(ports))
    metrics0 = stack.metrics("pcscf") if hasattr(stack, "metrics") else None
    cap = None
    pcap = os.path.join(workdir, f"{tag}.pcap")
    if capture and os.geteuid() == 0:
        # Only responses whose status line starts "SIP/2.0 503 " (bytes 8..11 of the UDP
        # payload are "503 "): a capture of every packet at this rate would be gigabytes.
        cap = benchlib.Capture(sipp_port, pcap,
                               bpf=f"udp dst port {sipp_port} and udp[16:4] = 0x35303320")
    sampler = MemSampler(stack)
    sampler.start()
    cpu0 = benchlib.cpu_seconds(stack.pids())
    meter = benchlib.CpuMeter()
    h = benchlib.start_sipp(scenario, f"127.0.0.1:{stack.edge_port}", csv, n, rate, workdir,
                            sipp_port, domain, limit=rate * 4, max_seconds=seconds + 40, tag=tag)
    t_drop = h["t0"] + seconds
    time.sleep(max(0.0, t_drop - time.monotonic()))
    # The load drops now even where SIPp fell behind its schedule: SIGUSR1 makes it stop
    # creating calls and exit once those in flight have ended.
    if h["proc"].poll() is None:
        h["proc"].send_signal(signal.SIGUSR1)
    out["mem_drop"] = mem_by_proc(stack)
    out["recovery_s"], out["probe_windows"] = _probe(stack, capacity, probe_csv, workdir, domain,
                                                     scenario, tag, t_drop, probe_limit_s)
    res = benchlib.finish_sipp(h)
    out["cpu"] = benchlib.cpu_seconds(stack.pids()) - cpu0
    out["others"] = max(0.0, meter.busy_seconds() - out["cpu"] - res["sipp_cpu"]) / meter.wall()
    out["steal"] = meter.steal()
    if cap and cap.ok:
        cap.stop()
        out["r503"], out["r503_retry_after"] = count_503(pcap, sipp_port)
        try:
            os.remove(pcap)
        except OSError:
            pass
    rows = benchlib.sipp_stat_rows(h["stat"])
    at = _row_at(rows, seconds)
    el = benchlib.sipp_elapsed(at, whole_seconds=True) if at else None
    out["offered"] = _int(at, "OutgoingCall(C)") / el if el else None
    out["achieved"] = _int(at, "SuccessfulCall(C)") / el if el else None
    out["failed_during"] = _int(at, "FailedCall(C)")
    out["retrans_during"] = _int(at, "Retransmissions(C)")
    created = _int(rows[-1], "OutgoingCall(C)") if rows else n
    out.update(total=created, successful=res["successful"],
               failed=max(0, created - res["successful"]), retrans=res["retrans"],
               wall=res["wall"])
    d1 = benchlib.socket_drops(list(ports))
    out["socket_drops"] = {ports[p]: d1.get(p, 0) - drops0.get(p, 0) for p in d1}
    if metrics0 is not None:
        m1 = stack.metrics("pcscf") or {}
        out["pcscf_shed"] = (m1.get("pcscf_overload_rejected_total", 0)
                             - metrics0.get("pcscf_overload_rejected_total", 0))
    time.sleep(settle_s)
    out["mem_after"] = mem_by_proc(stack)
    sampler.stop()
    out["mem_peak"] = dict(sampler.peak)
    out["mem_peak_total"] = sampler.peak_total
    out["settle_s"] = settle_s
    return out


def _mib(kb):
    return f"{kb / 1024:.1f}"


def report_lines(name, o):
    """Human-readable lines for one side's overload result."""
    cap = o["capacity"]
    ach = o.get("achieved")
    lines = [f"{name}: offered {o['offered_target']}/s (2 x {cap}/s) for {o['seconds']} s; "
             f"SIPp really offered {o['offered'] or 0:.0f}/s"]
    if ach is not None:
        lines.append(f"  completed during the overload {ach:.0f}/s = {ach / cap:.2f} of capacity; "
                     f"failed by then {o['failed_during']}, retransmissions by then "
                     f"{o['retrans_during']} ({o['retrans_during'] / max(1, o['offered_target'] * o['seconds']):.3f}"
                     " per registration offered)")
    lines.append(f"  whole run (drained): {o['successful']} ok / {o['total']}, {o['failed']} failed, "
                 f"{o['retrans']} retransmissions, {o['wall']:.1f} s; server CPU {o['cpu']:.1f} s, "
                 f"others {o['others']:.2f} cores, steal {o['steal'] * 100:.1f}%")
    if "r503" in o:
        lines.append(f"  503 responses to the UE: {o['r503']}, with Retry-After: "
                     f"{o['r503_retry_after']}"
                     + (f" (pcscf_overload_rejected_total +{o['pcscf_shed']:.0f})"
                        if "pcscf_shed" in o else ""))
    lines.append("  UDP datagrams dropped per socket: "
                 + ", ".join(f"{p}: {v}" for p, v in sorted(o["socket_drops"].items())))
    rec = o["recovery_s"]
    lines.append("  zero failures again (1 s windows at half capacity): "
                 + (f"{rec:.1f} s after the load dropped" if rec is not None
                    else "NOT within the probe limit")
                 + "; windows (start s, ok, failed): "
                 + ", ".join(f"({s}, {'ok' if ok else 'FAIL'}, {f})"
                             for s, ok, f in o["probe_windows"]))
    for k in o["mem_steady"]:
        st, dr, pk, af = (o["mem_steady"][k], o["mem_drop"].get(k, (0, 0)),
                          o["mem_peak"].get(k, (0, 0)), o["mem_after"].get(k, (0, 0)))
        lines.append(f"  memory {k:16} RSS/PSS MiB: steady {_mib(st[1])}/{_mib(st[0])}, at the "
                     f"drop {_mib(dr[1])}/{_mib(dr[0])}, peak {_mib(pk[1])}/{_mib(pk[0])}, "
                     f"{o['settle_s']} s after the end {_mib(af[1])}/{_mib(af[0])}")
    return lines


def summary(o):
    """The figures the comparison table shows (None when not measured)."""
    if not o:
        return {}
    st, af = _total(o["mem_steady"]), _total(o["mem_after"])
    ach = o.get("achieved")
    return {
        "ovl_frac": ach / o["capacity"] if ach is not None and o["capacity"] else None,
        "ovl_retrans": o.get("retrans_during"),
        "ovl_503": o.get("r503"),
        "ovl_503_ra": o.get("r503_retry_after"),
        "ovl_recover": o.get("recovery_s"),
        "mem_steady": st[0] / 1024,
        "mem_peak": o["mem_peak_total"][0] / 1024,
        "mem_after": af[0] / 1024,
        "mem_after_ratio": af[0] / st[0] if st[0] else None,
    }
