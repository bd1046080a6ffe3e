#!/usr/bin/env python3
"""One markdown table from the runs scripts/profile.sh left in DIR (stdlib only): per run, the
rate acked within the window, send->ack p50/p99, errors and CPU µs per acknowledged message.
Usage: scripts/profile_table.py DIR"""
import glob
import json
import os
import sys

rows = []
for path in glob.glob(os.path.join(sys.argv[1], "steady-*.json")):
    r = json.load(open(path))
    name = os.path.basename(path)[len("steady-"):-len(".json")]
    rate, _, settings = name.partition("-")
    rows.append((int(rate), settings, r))
print("| offered/s | settings | acked/s in window | p50 ms | p99 ms | errors | Parley µs/msg | PostgreSQL µs/msg | generator µs/msg |")
print("|---:|---|---:|---:|---:|---|---:|---:|---:|")
for rate, settings, r in sorted(rows, key=lambda x: (x[0], x[1])):
    a = r["send_to_ack_us"]
    cpu = r.get("cpu_us_per_acked", {})
    errors = ", ".join(f"{k} {v}" for k, v in sorted(r["errors"].items())) or "none"
    print(f"| {rate} | {settings.replace('__', '.').lower() or 'defaults'} | {r['achieved_rate']:.0f} | {a['p50']/1000:.2f} | "
          f"{a['p99']/1000:.2f} | {errors} | {cpu.get('parley', '')} | {cpu.get('postgres', '')} | {cpu.get('generator', '')} |")
