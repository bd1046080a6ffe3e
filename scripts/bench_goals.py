"""Issue 15's cost and latency goals against one `make bench` run, and what limits each unmet one,
from that run's figures: the Parley ladder, `fanout`, and the breakdown runs bench.sh makes with
scripts/profile.sh (`breakdown/*.breakdown.json`, written by scripts/breakdown.py). Imported by
bench_report.py; stdlib only."""
import glob
import json
import os

GOAL_RATE = 20000


def _ms(us):
    return f"{us / 1000:.2f}"


def _load_breakdowns(out):
    found = {}
    for path in glob.glob(os.path.join(out, "breakdown", "*.breakdown.json")):
        name = os.path.basename(path)[: -len(".breakdown.json")]
        report = os.path.join(out, "breakdown", name + ".json")
        with open(path) as f:
            b = json.load(f)
        if os.path.exists(report):
            with open(report) as f:
                b["_report"] = json.load(f)
        found[name] = b
    return found


def _bound(seconds):
    """A histogram bucket's upper bound, in ms."""
    return "above the top bucket" if seconds == "+Inf" or seconds is None else f"≤ {seconds * 1000:g} ms"


def section(out, sustained_parley, fanout, top, cores, fsync):
    """Markdown lines: the goals table and, for each unmet goal, what limits it (measured)."""
    at = sustained_parley.get(GOAL_RATE)
    breakdowns = _load_breakdowns(out)
    steady = next((b for n, b in sorted(breakdowns.items()) if n.startswith("steady-")), None)
    fan = next((b for n, b in sorted(breakdowns.items()) if n.startswith("fanout-")), None)
    rows, limits = [], []

    def goal(what, target, value, ok, shown):
        rows.append(f"| {what} | {target} | {shown if value is not None else 'not measured'} | "
                    f"{'yes' if value is not None and ok else 'no'} |")
        return value is not None and ok

    cpu = (at or {}).get("cpu_us_per_acked", {})
    ack = (at or {}).get("send_to_ack_us", {})
    pg_ok = goal(f"PostgreSQL CPU per durable message at {GOAL_RATE}/s", "≤ 15 µs", cpu.get("postgres"),
                 cpu.get("postgres", 1e9) <= 15, f"{cpu.get('postgres')} µs")
    parley_ok = goal(f"Parley CPU per durable message at {GOAL_RATE}/s", "≤ 10 µs", cpu.get("parley"),
                     cpu.get("parley", 1e9) <= 10, f"{cpu.get('parley')} µs")
    p50_ok = goal(f"send→ack p50 at {GOAL_RATE}/s", "≤ 2 ms", ack.get("p50"), ack.get("p50", 1e12) <= 2000,
                  f"{_ms(ack.get('p50', 0))} ms")
    p99_ok = goal(f"send→ack p99 at {GOAL_RATE}/s", "≤ 10 ms", ack.get("p99"), ack.get("p99", 1e12) <= 10000,
                  f"{_ms(ack.get('p99', 0))} ms")
    best = top["achieved_rate"] if top else None
    rate_ok = goal("highest rate sustained (p99 ≤ 1 s)", "≥ 60,000 msgs/s", best, (best or 0) >= 60000,
                   f"{best:.0f} msgs/s" if best else "")
    last = (fanout or {}).get("publish_to_last_us", {})
    fan_shown = (f"{_ms(last.get('p99', 0))} ms at {fanout.get('deliveries_per_s', 0):.0f} deliveries/s"
                 if fanout else "")
    fan_ok = goal("fanout (1,000 members): publish→last recipient p99 at 250,000 deliveries/s", "≤ 20 ms",
                  last.get("p99"), last.get("p99", 1e12) <= 20000
                  and (fanout or {}).get("deliveries_per_s", 0) >= 0.95 * 250000, fan_shown)

    b = steady or {}
    if not pg_ok and b.get("postgres_us_per_msg"):
        kinds = b["postgres_us_per_msg"]
        parts = ", ".join(f"{k} {v:g}" for k, v in kinds.items() if v >= 0.5)
        stmts = [s for s in b.get("statements", []) if s["us_per_msg"] >= 0.5]
        biggest = stmts[0] if stmts else None
        line = (f"- **PostgreSQL's cost**: the breakdown run at {b.get('rate')}/s measured "
                f"{b.get('postgres_us_per_msg_total'):g} µs per message by process: {parts}. ")
        if stmts:
            line += ("Statement time per message (execution + planning, pg_stat_statements): "
                     + "; ".join(f"`{s['statement'][:48]}…` {s['us_per_msg']:g} µs ({s['calls']} calls, "
                                 f"{s['us_per_call']:g} µs each)" for s in stmts) + ". ")
        w = b.get("wal")
        if w:
            line += (f"Each message writes {w['bytes_per_msg']:g} bytes of WAL in {w['records_per_msg']:g} "
                     f"records (the message row and its three unique indexes, the conversation's "
                     f"`last_seq`, the sender's read mark, the search row and its two indexes, the "
                     f"watermark, the commit), with {w['syncs_per_s']:g} WAL fsyncs/s. ")
        if biggest and biggest["us_per_msg"] > 15:
            line += (f"The batch statement alone takes {biggest['us_per_msg']:g} µs per message, more than "
                     "the whole goal: the goal needs fewer index and row writes per message, not faster "
                     "statements.")
        limits.append(line)
    if not parley_ok and b.get("parley_user_us_per_msg") is not None:
        user, system = b["parley_user_us_per_msg"], b.get("parley_system_us_per_msg", 0)
        line = (f"- **Parley's cost**: {user:g} µs user + {system:g} µs system per message in the "
                f"breakdown run ({100 * system / max(user + system, 1e-9):.0f}% in the kernel)")
        if b.get("parley_syscalls_per_msg") is not None:
            line += (f"; {b['parley_syscalls_per_msg']:g} syscalls and "
                     f"{b.get('parley_context_switches_per_msg', 0):g} context switches per message "
                     "(`perf stat`: the frame's read, the ack's and the delivery's writes, the "
                     "persister's PostgreSQL round trips, the wake-ups between shard and lane)")
        limits.append(line + ".")
    if not (p50_ok and p99_ok) and at:
        hist = b.get("server_histograms", {})
        sc = hist.get("parley_persister_send_to_commit_seconds", {})
        cm = hist.get("parley_persister_commit_seconds", {})
        bs = hist.get("parley_persister_batch_size", {})
        busy = sum(at.get("cpu_s", {}).values()) / max(at.get("duration_s", 1), 1e-9)
        line = (f"- **Latency at {GOAL_RATE}/s**: the machine's {cores} cores were "
                f"{100 * busy / cores:.0f}% busy in the median run (server, PostgreSQL and generator). ")
        if sc:
            line += (f"On the server (breakdown run, /metrics histograms), a send waits "
                     f"{_bound(sc.get('p50_at_most'))} at p50 and {_bound(sc.get('p99_at_most'))} at p99 "
                     f"from queueing to COMMIT; the commit itself takes {_bound(cm.get('p50_at_most'))} "
                     f"at p50 and {_bound(cm.get('p99_at_most'))} at p99, for batches of "
                     f"≤ {bs.get('p50_at_most', 0):g} messages at p50. ")
        batch = next((s for s in b.get("statements", []) if s["statement"].startswith("WITH input")), None)
        if batch:
            line += (f"The batch statement's execution alone takes {batch['us_per_call']:g} µs per call "
                     f"({batch['rows'] / max(batch['calls'], 1):.1f} messages per call on average)")
            line += (f", against one WAL flush on this disk of {fsync} (pg_test_fsync): a commit is "
                     "mostly statement CPU, not the disk. " if fsync else ". ")
        line += ("A message waits for the batch ahead of it to commit, then for its own, so the "
                 "latency falls with the CPU per message above.")
        limits.append(line)
    if not rate_ok and top:
        used = sum(top.get("cpu_s", {}).values()) / max(top.get("duration_s", 1), 1e-9)
        limits.append(f"- **Highest rate**: at {top['achieved_rate']:.0f} msgs/s the cores were "
                      f"{100 * used / cores:.0f}% busy; at the cost per message measured there "
                      f"({', '.join(f'{k} {v:g} µs' for k, v in top.get('cpu_us_per_acked', {}).items())}) "
                      f"60,000 msgs/s would need "
                      f"{60000 * sum(top.get('cpu_us_per_acked', {}).values()) / 1e6:.2f} cores of the "
                      f"{cores}.")
    if not fan_ok and fan:
        r = fan.get("_report", {})
        cpu_s = {}
        for k, v in r.get("cpu_s", {}).items():
            key = "postgres" if k.startswith("pg/") else k
            cpu_s[key] = cpu_s.get(key, 0.0) + v
        secs = max(r.get("duration_s", 1), 1e-9)
        cores_by = ", ".join(f"{k} {v / secs:.2f}" for k, v in sorted(cpu_s.items(), key=lambda kv: -kv[1]))
        cores_by += f" ({100 * sum(cpu_s.values()) / secs / cores:.0f}% of the {cores})"
        deliveries = r.get("deliveries_per_s") or 0
        line = f"- **fanout**: in the breakdown run ({deliveries:.0f} deliveries/s) the cores in use were {cores_by}"
        if fan.get("parley_syscalls_per_msg") is not None and r.get("members"):
            per = r["members"] - 1
            line += (f"; Parley made {fan['parley_syscalls_per_msg'] / per:.2f} syscalls and spent "
                     f"{(fan.get('parley_user_us_per_msg', 0) + fan.get('parley_system_us_per_msg', 0)) / per:.2f} "
                     "µs of CPU per delivery")
        cd = fan.get("server_histograms", {}).get("parley_fanout_commit_to_delivery_seconds", {})
        if cd:
            line += (f"; COMMIT → frames queued on the recipients' sockets took {_bound(cd.get('p50_at_most'))} "
                     f"at p50 and {_bound(cd.get('p99_at_most'))} at p99 on the server, so the rest of the "
                     "publish→last latency is the sockets' writes and the generator reading 1,000 sockets")
        limits.append(line + ".")

    lines = ["", "## Issue 15's goals against this run", "",
             "Goals on this machine, generator included, fsync and synchronous_commit on. The figures are "
             "this run's (median run of the rung); what limits an unmet goal comes from the same run's "
             "breakdown runs (`scripts/profile.sh` on a fresh PostgreSQL with pg_stat_statements, JSON in "
             "`breakdown/`).", "",
             "| goal | target | this run | met |", "|---|---|---|---|"] + rows
    if limits:
        lines += ["", "What limits each unmet goal, measured:", ""] + limits
    return lines
