# The UE test controls of scripts/lab: `fault` (arm, list, disarm fault-injection rules),
# `timeline` (what happened to one UE and why), `events` (live stream) and `pcap`.
"""UE test controls against a running lab (or any scscf/pcscf status API).

  scripts/lab fault add --impi 432011123456791@DOMAIN --stage initial --reply 503 \\
      --retry-after 30 --count 1
  scripts/lab fault list            scripts/lab fault del 3|all
  scripts/lab timeline 432011123456791 [--limit 20] [--json]
  scripts/lab events [IDENTITY]     scripts/lab pcap IDENTITY -o ue.pcap

--pcscf talks to the P-CSCF (transport faults: drop, delay) instead of the S-CSCF.
Rules live in memory only: a daemon restart forgets them.
"""

import argparse
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request

SCSCF = "http://" + os.environ.get("LAB_SCSCF_HTTP", "127.0.0.1:8082")
PCSCF = "http://" + os.environ.get("LAB_PCSCF_HTTP", "127.0.0.1:8081")


def common(p):
    p.add_argument("--pcscf", action="store_true", help="the P-CSCF instead of the S-CSCF")
    p.add_argument("--url", help="status API base URL (default " + SCSCF + " or " + PCSCF + ")")
    p.add_argument("--token", default=os.environ.get("LAB_TOKEN"),
                   help="bearer token of the status API (env LAB_TOKEN)")


def base(a):
    return (a.url or (PCSCF if a.pcscf else SCSCF)).rstrip("/")


def call(a, method, path, body=None, raw=False):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base(a) + path, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if a.token:
        req.add_header("Authorization", "Bearer " + a.token)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            payload = r.read()
    except urllib.error.HTTPError as e:
        try:
            msg = json.loads(e.read()).get("message", "")
        except ValueError:
            msg = ""
        raise SystemExit(f"lab: {method} {path}: {e.code} {msg}")
    except OSError as e:
        raise SystemExit(f"lab: cannot reach {base(a)}: {e}")
    if raw:
        return payload
    return json.loads(payload) if payload else None


def ident_query(ident):
    """An IMSI, an IMPU (sip:/tel:) or an IMPI, as the query the APIs take."""
    if ident.isdigit():
        key = "imsi"
    elif ident.startswith(("sip:", "sips:", "tel:")):
        key = "impu"
    else:
        key = "impi"
    return f"{key}={urllib.parse.quote(ident, safe='')}"


def rule_from(a):
    match = {k: v for k, v in (("impi", a.impi), ("impu", a.impu), ("imsi", a.imsi),
                               ("method", a.method), ("stage", a.stage)) if v}
    if a.reply is not None:
        action = {"reply": a.reply}
        if a.reason:
            action["reason"] = a.reason
        if a.retry_after is not None:
            action["retry_after"] = a.retry_after
    elif a.drop:
        action = {"drop": True, "target": "answer" if a.answer else "request"}
    elif a.delay_ms is not None:
        action = {"delay_ms": a.delay_ms, "target": "answer" if a.answer else "request"}
    elif a.stale_nonce:
        action = {"stale_nonce": True}
    elif a.sqn_out_of_sync:
        action = {"sqn_out_of_sync": True}
    elif a.expires is not None:
        action = {"expires": a.expires}
    elif a.deregister_after is not None:
        action = {"deregister_after_s": a.deregister_after, "reason": a.dereg_reason}
    else:
        raise SystemExit("lab: give one action: --reply, --drop, --delay-ms, --stale-nonce, "
                         "--sqn-out-of-sync, --expires or --deregister-after")
    rule = {"match": match, "action": action}
    if a.count is not None:
        rule["count"] = a.count
    if a.ttl is not None:
        rule["ttl_s"] = a.ttl
    return rule


def fault(argv):
    p = argparse.ArgumentParser(prog="scripts/lab fault",
                                description="Arm, list and disarm fault-injection rules.")
    sub = p.add_subparsers(dest="cmd", required=True)
    add = sub.add_parser("add", help="arm a rule")
    common(add)
    for k in ("impi", "impu", "imsi", "method"):
        add.add_argument("--" + k)
    add.add_argument("--stage", choices=["initial", "auth", "reregister", "any"])
    add.add_argument("--reply", type=int, metavar="CODE")
    add.add_argument("--reason")
    add.add_argument("--retry-after", type=int, metavar="S")
    add.add_argument("--drop", action="store_true")
    add.add_argument("--delay-ms", type=int, metavar="N")
    add.add_argument("--answer", action="store_true", help="drop/delay the answer, not the request")
    add.add_argument("--stale-nonce", action="store_true")
    add.add_argument("--sqn-out-of-sync", action="store_true")
    add.add_argument("--expires", type=int, metavar="S")
    add.add_argument("--deregister-after", type=int, metavar="S")
    add.add_argument("--dereg-reason", choices=["deactivated", "rejected"], default="deactivated")
    add.add_argument("--count", type=int, help="fires at most this often (default 1)")
    add.add_argument("--ttl", type=int, metavar="S", help="lives at most this long (default 600)")
    ls = sub.add_parser("list", help="the live rules")
    common(ls)
    rm = sub.add_parser("del", help="disarm a rule by id, or all")
    common(rm)
    rm.add_argument("id")
    a = p.parse_args(argv)
    if a.cmd == "add":
        r = call(a, "POST", "/api/v1/faults", rule_from(a))
        print(f"rule {r['id']} armed: {r['summary']} (count {r['count']}, ttl {r['ttl_s']} s)")
    elif a.cmd == "list":
        items = call(a, "GET", "/api/v1/faults")["items"]
        for r in items:
            print(f"{r['id']:>4}  {r['remaining']:>6} left  {r['expires_in']:>6} s  "
                  f"{json.dumps(r['match'])}  {r['summary']}")
        if not items:
            print("no fault rules armed")
    else:
        call(a, "DELETE", "/api/v1/faults" + ("" if a.id == "all" else "/" + a.id))
        print("disarmed " + ("every rule" if a.id == "all" else "rule " + a.id))
    return 0


def timeline(argv):
    p = argparse.ArgumentParser(prog="scripts/lab timeline",
                                description="What happened to one UE, and why.")
    common(p)
    p.add_argument("identity", help="IMSI, IMPI or IMPU")
    p.add_argument("--limit", type=int, default=50)
    p.add_argument("--json", action="store_true", help="print the API's JSON")
    a = p.parse_args(argv)
    doc = call(a, "GET", f"/api/v1/timeline?{ident_query(a.identity)}&limit={a.limit}")
    if a.json:
        print(json.dumps(doc, indent=2))
        return 0
    for e in doc["items"]:
        what = e.get("method", "")
        if e.get("status"):
            what = f"{e['status']} {e.get('reason', '')} ({what})"
        arrow = {"in": "<-", "out": "->"}.get(e.get("direction"), "  ")
        peer = e.get("src") if e.get("direction") == "in" else e.get("dst")
        peer = f"{peer['addr']}:{peer['port']}" if peer else ""
        prot = " [protected]" if e.get("protected") else ""
        print(f"{e['time'][11:23]} {e['daemon']:5} {arrow} {peer:22} {what}{prot}")
        if e.get("hint"):
            print(f"{'':31}why: {e['hint']}")
    if not doc["items"]:
        print(f"nothing recorded for {a.identity}")
    return 0


def events(argv):
    p = argparse.ArgumentParser(prog="scripts/lab events", description="Live timeline entries.")
    common(p)
    p.add_argument("identity", nargs="?")
    a = p.parse_args(argv)
    q = "?" + ident_query(a.identity) if a.identity else ""
    req = urllib.request.Request(base(a) + "/api/v1/events" + q)
    try:
        with urllib.request.urlopen(req) as r:
            for line in r:
                line = line.decode().rstrip("\n")
                if line.startswith("data: "):
                    e = json.loads(line[6:])
                    print(f"{e['time'][11:23]} {e['daemon']} {e.get('method', '')} "
                          f"{e.get('status', '')} {e.get('hint', '')}", flush=True)
    except KeyboardInterrupt:
        return 0
    except OSError as e:
        raise SystemExit(f"lab: cannot reach {base(a)}: {e}")
    return 0


def pcap(argv):
    p = argparse.ArgumentParser(prog="scripts/lab pcap",
                                description="One UE's SIP messages as a pcap file.")
    common(p)
    p.add_argument("identity")
    p.add_argument("-o", "--output", required=True)
    a = p.parse_args(argv)
    data = call(a, "GET", f"/api/v1/timeline/pcap?{ident_query(a.identity)}&limit=10000",
                raw=True)
    with open(a.output, "wb") as f:
        f.write(data)
    print(f"wrote {a.output} ({len(data)} bytes); open it with wireshark or tshark -r")
    return 0


COMMANDS = {"fault": fault, "timeline": timeline, "events": events, "pcap": pcap}


if __name__ == "__main__":
    sys.exit(COMMANDS[sys.argv[1]](sys.argv[2:]))
