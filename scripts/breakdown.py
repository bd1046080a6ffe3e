#!/usr/bin/env python3
"""Where a durable message's CPU and time go, from one `scripts/profile.sh` run.

Usage: breakdown.py WORK_DIR LOADTEST_JSON

WORK_DIR holds what profile.sh collected over a sub-window of the measured run (`window` seconds,
started once the load was running): `metrics0.txt`/`metrics1.txt` (Parley's /metrics at its two
edges), `ticks0`/`ticks1` (Parley's utime and stime), `perfstat.csv` (`perf stat -x,` of Parley:
syscalls, context switches), `window` (its length in seconds), and, over the whole run,
`statements.json` (pg_stat_statements), `wal.json` (pg_stat_wal). LOADTEST_JSON is the run's
report, whose `cpu_s` has PostgreSQL's processes watched one by one as `pg/KIND/PID` (KIND: the
backend type and, for Parley's own connections, the application name: `parley lane`, `parley
indexer`, `parley` for the request pool) and the rest of the cluster as `postgres`.

Prints one JSON object: PostgreSQL's CPU per acked message by kind of process, each statement's
execution time per message, WAL per message, Parley's user/system CPU, syscalls and context
switches per message, and the server-side latency histograms' quantiles over the sub-window.
"""
import json
import os
import re
import sys

work, report_path = sys.argv[1], sys.argv[2]
report = json.load(open(report_path))
acked = report.get("acked") or report.get("acked_in_window") or 0
duration = report.get("duration_s") or 1


def read(name, default=None):
    path = os.path.join(work, name)
    if not os.path.exists(path):
        return default
    return open(path).read()


out = {"acked": acked, "rate": report.get("offered_rate")}

# PostgreSQL's CPU per acknowledged message, by what each process does.
by_kind = {}
for name, seconds in report.get("cpu_s", {}).items():
    if name.startswith("pg/"):
        kind = name.split("/")[1]
        by_kind[kind] = by_kind.get(kind, 0.0) + seconds
    elif name == "postgres":
        by_kind["other (postmaster, autovacuum, exited backends)"] = \
            by_kind.get("other (postmaster, autovacuum, exited backends)", 0.0) + seconds
if acked:
    out["postgres_us_per_msg"] = {k: round(v * 1e6 / acked, 1) for k, v in
                                  sorted(by_kind.items(), key=lambda kv: -kv[1])}
    out["postgres_us_per_msg_total"] = round(sum(by_kind.values()) * 1e6 / acked, 1)

# Statements: execution (and planning) time per acknowledged message.
statements = json.loads(read("statements.json", "null") or "null") or []
if acked:
    out["statements"] = [{
        "statement": s["query"],
        "calls": s["calls"],
        "rows": s["rows"],
        "us_per_call": round((s["exec_ms"] + s["plan_ms"]) * 1000 / max(s["calls"], 1), 1),
        "us_per_msg": round((s["exec_ms"] + s["plan_ms"]) * 1000 / acked, 2),
    } for s in statements]
wal = json.loads(read("wal.json", "null") or "null")
if wal and acked:
    out["wal"] = {"bytes_per_msg": round(wal["wal_bytes"] / acked, 1),
                  "records_per_msg": round(wal["wal_records"] / acked, 2),
                  "syncs_per_s": round(wal["wal_sync"] / duration, 1),
                  "full_page_images": wal["wal_fpi"]}

# Parley over the sub-window: CPU split, syscalls, context switches, per message offered there.
window = float(read("window", "0") or 0)
rate = report.get("offered_rate") or 0
msgs = rate * window
t0, t1 = (read("ticks0"), read("ticks1"))
if t0 and t1 and msgs:
    (u0, s0), (u1, s1) = (map(int, t0.split()), map(int, t1.split()))
    out["parley_user_us_per_msg"] = round((u1 - u0) * 1e4 / msgs, 1)
    out["parley_system_us_per_msg"] = round((s1 - s0) * 1e4 / msgs, 1)
perf = read("perfstat.csv", "")
counters = {}
for line in perf.splitlines():
    fields = line.split(",")
    if len(fields) >= 3 and fields[0].strip().replace(".", "").isdigit():
        counters[fields[2]] = float(fields[0])
if msgs and counters:
    out["parley_syscalls_per_msg"] = round(counters.get("raw_syscalls:sys_enter", 0) / msgs, 2)
    out["parley_context_switches_per_msg"] = round(counters.get("context-switches", 0) / msgs, 2)
out["window_s"] = window


def histograms(text):
    found = {}
    for m in re.finditer(r'^(parley_\w+)_bucket\{le="([^"]+)"\} (\d+)$', text or "", re.M):
        name, le, n = m.group(1), m.group(2), int(m.group(3))
        bound = float("inf") if le == "+Inf" else float(le)
        found.setdefault(name, {})
        found[name][bound] = found[name].get(bound, 0) + n
    return found


def quantile(buckets, q):
    """The upper bound of the bucket holding quantile q (cumulative counts)."""
    total = buckets.get(float("inf"), 0)
    if total <= 0:
        return None
    for bound in sorted(buckets):
        if buckets[bound] >= q * total:
            return "+Inf" if bound == float("inf") else bound
    return None


h0, h1 = histograms(read("metrics0.txt")), histograms(read("metrics1.txt"))
server = {}
for name, after in h1.items():
    before = h0.get(name, {})
    delta = {b: n - before.get(b, 0) for b, n in after.items()}
    if delta.get(float("inf"), 0) <= 0:
        continue
    server[name] = {"count": delta[float("inf")],
                    "p50_at_most": quantile(delta, 0.5), "p99_at_most": quantile(delta, 0.99)}
out["server_histograms"] = server

json.dump(out, sys.stdout, indent=1)
print()
