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
    single = load(out / "cluster-fanout-single.json")
    cross = load(out / "cluster-fanout-cross.json")
    lines = ["# Several instances: cluster benchmark", "", "```", machine, "```", ""]

    lines += ["## Fan-out within one instance and across two", ""]
    lines.append(
        f"One group of {single['members']} members, one publisher at {single['offered_rate']} msgs/s "
        f"for {single['duration_s']:.0f} s; latency is publish to delivery at each member "
        "(one clock: the generator runs publisher and members)."
    )
    lines += ["", "| run | deliveries | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms |", "| --- | --- | --- | --- | --- | --- | --- |"]
    for name, run in (("one instance, no Redis", single), ("publisher on A, members on B (Redis)", cross)):
        d = run.get("send_to_delivery_us", {})
        lines.append(
            f"| {name} | {d.get('count', 0)} | {ms(d.get('p50', 0))} | {ms(d.get('p90', 0))} | "
            f"{ms(d.get('p99', 0))} | {ms(d.get('p999', 0))} | {ms(d.get('max', 0))} |"
        )
    s99 = single.get("send_to_delivery_us", {}).get("p99", 0)
    c99 = cross.get("send_to_delivery_us", {}).get("p99", 0)
    delta = (c99 - s99) / 1000
    verdict = "within" if delta <= 2.0 else "beyond"
    lines += ["", f"Crossing instances moved p99 by {delta:+.2f} ms ({verdict} the 2 ms goal at this rate)."]

    half_before = commandstats(out / "cluster-redis-before-half.txt")
    before = commandstats(out / "cluster-redis-before.txt")
    after = commandstats(out / "cluster-redis-after.txt")
    half = load(out / "cluster-fanout-cross-half.json")
    full_cmds = {k: after.get(k, 0) - before.get(k, 0) for k in after}
    half_cmds = {k: before.get(k, 0) - half_before.get(k, 0) for k in before}
    # Each fanout run counts its own acknowledged messages.
    full_msgs, half_msgs = cross.get("acked", 0), half.get("acked", 0)
    lines += ["", "## Redis commands per message", ""]
    extra_msgs = full_msgs - half_msgs
    if extra_msgs > 0:
        marginal = {k: full_cmds.get(k, 0) - half_cmds.get(k, 0) for k in set(full_cmds) | set(half_cmds)}
        publishes = marginal.get("publish", 0)
        total = sum(v for v in marginal.values() if v > 0)
        lines.append(
            f"Two cross-instance runs of {half['duration_s']:.0f} s and {cross['duration_s']:.0f} s "
            f"({half_msgs} and {full_msgs} messages, each with its own set-up): the difference, "
            f"{extra_msgs} messages, cost {publishes} PUBLISH ({publishes / extra_msgs:.2f} per message) "
            f"and {total} commands of every kind ({total / extra_msgs:.2f} per message) to {cross['members'] - 1} "
            "recipients each."
        )
        lines += ["", "| command | calls, longer run | calls, shorter run | difference |", "| --- | --- | --- | --- |"]
        for name in sorted(marginal, key=lambda k: -full_cmds.get(k, 0)):
            if full_cmds.get(name, 0) or half_cmds.get(name, 0):
                lines.append(f"| {name} | {full_cmds.get(name, 0)} | {half_cmds.get(name, 0)} | {marginal[name]} |")
    for port in (18301, 18302):
        path = out / f"cluster-metrics-{port}.txt"
        if path.exists():
            lost = metric(path, "parley_cluster_receive_lost_total")
            repaired = metric(path, "parley_cluster_repaired_messages_total")
            lines.append("")
            lines.append(f"Instance on {port}: receive_lost={lost:.0f}, repaired_messages={repaired:.0f}.")

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
        lines += ["", "| instance | open | connect p50 ms | connect p99 ms | bytes/connection | heartbeats | CPU s during hold | CPU share | CPU us/heartbeat |",
                  "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
        for i, r in enumerate(runs):
            c = r.get("connect_us", {})
            lines.append(
                f"| {i} | {r.get('opened', 0)} | {ms(c.get('p50', 0))} | {ms(c.get('p99', 0))} | "
                f"{r.get('server_bytes_per_connection', 'n/a')} | {r.get('heartbeats_sent', 0)} | "
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
