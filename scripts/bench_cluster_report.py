#!/usr/bin/env python3
"""Writes cluster.md from one scripts/bench-cluster.sh run's files: every figure and every
sentence of prose below is computed from those files, nothing is fixed text about results."""
import json
import re
import sys
from pathlib import Path


def load(path):
    return json.loads(Path(path).read_text())


def ms(us):
    return f"{us / 1000:.2f}"


def commandstats(path):
    stats = {}
    for line in Path(path).read_text().splitlines():
        m = re.match(r"cmdstat_(\w+):calls=(\d+)", line)
        if m:
            stats[m.group(1)] = int(m.group(2))
    return stats


def metric(path, name):
    for line in Path(path).read_text().splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


def main(out):
    out = Path(out)
    machine = (out / "cluster-machine.txt").read_text().strip()
    lines = ["# Several instances: cluster benchmark", "", f"Run `{out.name}` of `scripts/bench-cluster.sh`.", "", "```", machine, "```", ""]
    rungs = []
    for path in sorted(out.glob("cluster-fanout-single-*.json"), key=lambda p: [int(x) for x in p.stem.split("-")[-2:]]):
        members, rate = path.stem.split("-")[-2:]
        rungs.append((members, rate))

    lines += ["## Fan-out within one instance and across two", ""]
    lines.append(
        "One group, one publisher; latency is publish to delivery at each member (one clock: the "
        "generator runs publisher and members). Across: the publisher on instance A, every member "
        "on instance B, so every delivery crosses Redis. Same machine, same rung, one run each."
    )
    lines += ["", "| members | msgs/s | deliveries/s | run | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms |",
              "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    verdicts = []
    for members, rate in rungs:
        single = load(out / f"cluster-fanout-single-{members}-{rate}.json")
        cross = load(out / f"cluster-fanout-cross-{members}-{rate}.json")
        for name, run in (("one instance, no Redis", single), ("across two (Redis)", cross)):
            d = run.get("send_to_delivery_us", {})
            lines.append(
                f"| {members} | {rate} | {run.get('deliveries_per_s', 0):.0f} | {name} | {ms(d.get('p50', 0))} | "
                f"{ms(d.get('p90', 0))} | {ms(d.get('p99', 0))} | {ms(d.get('p999', 0))} | {ms(d.get('max', 0))} |"
            )
        d50 = (cross["send_to_delivery_us"]["p50"] - single["send_to_delivery_us"]["p50"]) / 1000
        d99 = (cross["send_to_delivery_us"]["p99"] - single["send_to_delivery_us"]["p99"]) / 1000
        verdict = "within" if d99 <= 2.0 else "beyond"
        verdicts.append(
            f"At {members} members and {rate} msgs/s, crossing instances moved p50 by {d50:+.2f} ms and "
            f"p99 by {d99:+.2f} ms ({verdict} the 2 ms goal)."
        )
    lines += [""] + verdicts

    lines += ["", "## Redis commands per message", ""]
    for members, rate in rungs:
        c0 = commandstats(out / f"cluster-redis-{members}-{rate}-0.txt")
        c1 = commandstats(out / f"cluster-redis-{members}-{rate}-1.txt")
        c2 = commandstats(out / f"cluster-redis-{members}-{rate}-2.txt")
        setup = load(out / f"cluster-fanout-cross-setup-{members}-{rate}.json")
        cross = load(out / f"cluster-fanout-cross-{members}-{rate}.json")
        short = {k: c1.get(k, 0) - c0.get(k, 0) for k in set(c0) | set(c1)}
        longer = {k: c2.get(k, 0) - c1.get(k, 0) for k in set(c1) | set(c2)}
        extra = cross.get("acked", 0) - setup.get("acked", 0)
        if extra <= 0:
            continue
        marginal = {k: longer.get(k, 0) - short.get(k, 0) for k in set(short) | set(longer)}
        publishes = marginal.get("publish", 0)
        total = sum(marginal.values())
        scripts = marginal.get("evalsha", 0)
        inner = total - publishes - scripts
        lines.append(
            f"{members} members at {rate} msgs/s: the measured run ({cross.get('acked', 0)} messages in "
            f"{cross['duration_s']:.0f} s) against the same set-up and tear-down with {setup.get('acked', 0)} "
            f"message(s); the difference, {extra} messages to {int(members) - 1} recipients each, cost "
            f"{publishes} PUBLISH ({publishes / extra:.2f} per message). The other {total - publishes} commands "
            f"of the difference are {scripts} EVALSHA and {inner} commands run inside those scripts (Redis "
            "counts both); Parley's scripts are presence folds, refreshes and sweeps, connection counts and "
            "limits, none of them per message (limits are off in this run)."
        )
        lines += ["", "| command | set-up run | measured run | difference |", "| --- | --- | --- | --- |"]
        for name in sorted(marginal, key=lambda k: -longer.get(k, 0)):
            if longer.get(name, 0) or short.get(name, 0):
                lines.append(f"| {name} | {short.get(name, 0)} | {longer.get(name, 0)} | {marginal[name]} |")
        lines.append("")
        for port in (18301, 18302):
            path = out / f"cluster-metrics-{members}-{rate}-{port}.txt"
            if path.exists():
                lost = metric(path, "parley_cluster_receive_lost_total") or 0
                repaired = metric(path, "parley_cluster_repaired_messages_total") or 0
                dup = metric(path, "parley_cluster_duplicates_total") or 0
                lines.append(
                    f"Instance on port {port} after these runs: receive_lost={lost:.0f}, "
                    f"repaired_messages={repaired:.0f}, duplicates={dup:.0f}."
                )
                lines.append("")

    idle_lines = []
    for members, rate in rungs:
        path = out / f"cluster-idle-{members}-{rate}.txt"
        if not path.exists():
            continue
        rows = [line.split() for line in path.read_text().splitlines() if line.strip()]
        if len(rows) < 3:
            continue
        (t0, c0, e0), (t1, c1, e1), (t2, c2, e2) = [(float(a), int(b), float(c)) for a, b, c in rows[:3]]
        events = e1 - e0
        run_cpu = (c1 - c0) / 100
        quiet_rate = (c2 - c1) / 100 / max(t2 - t1, 0.001)
        extra = run_cpu - quiet_rate * (t1 - t0)
        if events > 0:
            idle_lines.append(
                f"| {members} | {rate} | {events:.0f} | {run_cpu:.2f} | {quiet_rate * 100:.2f}% | "
                f"{max(extra, 0) * 1e6 / events:.1f} |"
            )
    if idle_lines:
        lines += ["", "## What an instance with no recipients pays", "",
                  "Every instance receives every event on the deployment's one channel. A third instance "
                  "with no connection ran beside the cross-instance runs; its CPU over the run, less its "
                  "rate in the quiet seconds after, divided by the events it received:", "",
                  "| members | msgs/s | events received | CPU s over the run | CPU when quiet | CPU µs per event |",
                  "| --- | --- | --- | --- | --- | --- |"] + idle_lines

    gens = sorted(out.glob("cluster-connections-*.json"))
    if gens:
        runs = [load(p) for p in gens]
        opened = sum(r.get("opened", 0) for r in runs)
        requested = sum(r.get("requested", 0) for r in runs)
        lines += ["", "## Idle connections over six instances", ""]
        lines.append(
            f"{opened} of {requested} authenticated WebSockets open at once over {len(runs)} instances "
            f"from {len(runs)} generator processes, held {runs[0].get('hold_s', 0):.0f} s with a "
            "heartbeat every 20 s per connection."
        )
        lines += ["", "| instance | open | connect p50 ms | connect p99 ms | bytes/connection (opening) | RSS open MiB | RSS after hold MiB | heartbeats | CPU s during hold | CPU share | CPU us/heartbeat |",
                  "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
        for i, r in enumerate(runs):
            c = r.get("connect_us", {})
            lines.append(
                f"| {i} | {r.get('opened', 0)} | {ms(c.get('p50', 0))} | {ms(c.get('p99', 0))} | "
                f"{r.get('server_bytes_per_connection', 'n/a')} | {r.get('server_rss_open_kib', 0) / 1024:.0f} | "
                f"{r.get('server_rss_after_hold_kib', 0) / 1024:.0f} | {r.get('heartbeats_sent', 0)} | "
                f"{r.get('server_cpu_s_during_hold', 0):.2f} | {100 * r.get('server_cpu_share_during_hold', 0):.1f}% | "
                f"{r.get('server_cpu_us_per_heartbeat', 'n/a')} |"
            )
        per = [r["server_bytes_per_connection"] for r in runs if "server_bytes_per_connection" in r]
        if per:
            lines += ["", f"Gateway memory per idle connection: {min(per):.0f} to {max(per):.0f} bytes over the instances."]

    rolling_path = out / "cluster-rolling.json"
    if rolling_path.exists():
        r = load(rolling_path)
        lines += ["", "## Rolling restart under load", ""]
        lines.append(
            f"{r['instances']} instances, {r['clients']} reconnecting clients offering {r['offered_rate']} msgs/s "
            f"for {r['duration_s']} s; each instance drained (1012) and started again in turn."
        )
        lines += ["", "| acknowledged | stored | lost | doubled (stored) | doubled (delivered) | out of order | undelivered after gap-fill | 1012 closes | reconnects | reconnect p50 ms | p99 ms | max ms | drain ms |",
                  "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
        rc = r["reconnect_ms"]
        lines.append(
            f"| {r['sent_acked']} | {r['stored']} | {r['lost']} | {r['doubled_stored']} | {r['doubled_delivered']} | "
            f"{r['order_violations']} | {r['undelivered_after_gap_fill']} | {r['closes_1012']} | {r['reconnects']} | "
            f"{rc['p50']:.1f} | {rc['p99']:.1f} | {rc['max']:.1f} | {', '.join(f'{d:.0f}' for d in r['drain_ms'])} |"
        )
    (out / "cluster.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main(sys.argv[1])
