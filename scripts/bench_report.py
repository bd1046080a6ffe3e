#!/usr/bin/env python3
"""Writes report.md and SVG plots for one bench/results/<timestamp>/ directory (stdlib only).

Also: `--summary FILE` prints one line for a run; `--sustained FILE` exits 0 when a steady run
kept up (every send acked, every delivery received, no errors, achieved within the window >= 95%
of offered); `--rung FILES` exits 0 when most of a rate's runs kept up; `--best-pool FILES` prints
the pool size of the best sweep run (sustained with the lowest p99, else the most acked).
"""
import glob
import json
import math
import os
import re
import sys

ms = lambda us: f"{us/1000:.2f}"


def load(path):
    with open(path) as f:
        return json.load(f)


# The seeds' service level: a rate is sustained when every send is acked, nothing fails, every
# acknowledged message reached every other member of its conversation, the rate achieved within
# the window (acks after it do not count) is within 5% of the offered one and send->ack p99
# stays within one second.
SLO_P99_US = 1_000_000


def kept_up(r):
    if "_kept" in r:
        return r["_kept"]
    return (not r.get("errors")) and r.get("acked", 0) == r.get("sent", -1) \
        and r.get("deliveries_missing", 0) == 0 \
        and r.get("achieved_rate", 0) >= 0.95 * r["offered_rate"] \
        and r.get("send_to_ack_us", {}).get("p99", SLO_P99_US + 1) <= SLO_P99_US


if sys.argv[1] == "--summary":
    r = load(sys.argv[2])
    a = r.get("send_to_ack_us", {"p50": 0, "p99": 0})
    print("   acked %.0f/s  p50 %.2f ms  p99 %.2f ms  errors %s"
          % (r.get("achieved_rate", 0), a["p50"] / 1000, a["p99"] / 1000, r.get("errors") or "none"))
    sys.exit(0)
if sys.argv[1] == "--sustained":
    sys.exit(0 if kept_up(load(sys.argv[2])) else 1)


def rung(runs):
    """One rung's runs as one row: the run with the median send->ack p99 stands for the rung, with
    the range of every run's figures; the rung is sustained when most of its runs are."""
    ordered = sorted(runs, key=lambda r: r.get("send_to_ack_us", {}).get("p99", 0))
    median = dict(ordered[len(ordered) // 2])
    kept = sum(1 for r in runs if kept_up(r))
    def span(get):
        values = [get(r) for r in runs]
        return (min(values), max(values))
    median["_runs"] = len(runs)
    median["_kept_runs"] = kept
    median["_kept"] = kept * 2 > len(runs)
    median["_range"] = {
        "p50": span(lambda r: r.get("send_to_ack_us", {}).get("p50", 0)),
        "p99": span(lambda r: r.get("send_to_ack_us", {}).get("p99", 0)),
        "achieved": span(lambda r: r.get("achieved_rate", 0)),
    }
    return median


if sys.argv[1] == "--rung":
    sys.exit(0 if rung([load(p) for p in sys.argv[2:]])["_kept"] else 1)


def sweep_key(r):
    """Sustained runs first, by lowest p99; then the others by the most acked within the window."""
    p99 = r.get("send_to_ack_us", {}).get("p99", math.inf)
    return (0, p99, 0) if kept_up(r) else (1, -r.get("achieved_rate", 0), p99)


if sys.argv[1] == "--best-pool":
    runs = [load(p) for p in sys.argv[2:]]
    print(min(runs, key=sweep_key)["pool_size"] if runs else 10)
    sys.exit(0)

out, mode = sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "full"
SYSTEMS = [("parley", "Parley"),
           ("socketio", "Socket.IO + node-postgres (the seeds' stack as written, literal)"),
           ("socketio-tuned", "Socket.IO + node-postgres, tuned (2 workers, one prepared statement per message)"),
           ("ejabberd", "ejabberd (MUC rooms, mod_mam in SQL)"),
           ("synapse", "Matrix Synapse")]
ladders = {}
sweeps = {}
for key, _ in SYSTEMS:
    by_rate = {}
    for path in glob.glob(os.path.join(out, "steady-*.json")):
        # steady-<system>-<rate>-r<k>.json: run k of a rung (older reports: one run per rung).
        if re.fullmatch(rf"steady-{re.escape(key)}-\d+(-r\d+)?\.json", os.path.basename(path)):
            r = load(path)
            by_rate.setdefault(r["offered_rate"], []).append(r)
    ladders[key] = sorted((rung(runs) for runs in by_rate.values()), key=lambda r: r["offered_rate"])
    sweeps[key] = sorted((load(p) for p in glob.glob(os.path.join(out, f"sweep-{key}-*.json"))
                          if re.fullmatch(rf"sweep-{re.escape(key)}-\d+\.json", os.path.basename(p))),
                         key=lambda r: r["pool_size"])
extra = {name: load(os.path.join(out, f"{name}.json"))
         for name in ["fanout", "history", "storm", "connections", "uploads", "poisson-parley-5000"]
         if os.path.exists(os.path.join(out, f"{name}.json"))}
machine = open(os.path.join(out, "machine.txt")).read().strip().splitlines()
COLORS = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#65a30d", "#be185d"]


def svg(width, height, body):
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'font-family="sans-serif" font-size="12">\n<rect width="100%" height="100%" fill="white"/>\n'
            + "\n".join(body) + "\n</svg>\n")


def frame(w, h, left, bottom, top, right, title, xlabel, ylo, yhi, sy):
    body = [f'<text x="{w/2}" y="18" text-anchor="middle">{title}</text>',
            f'<line x1="{left}" y1="{h-bottom}" x2="{w-right}" y2="{h-bottom}" stroke="black"/>',
            f'<line x1="{left}" y1="{top}" x2="{left}" y2="{h-bottom}" stroke="black"/>',
            f'<text x="{(w-right+left)/2}" y="{h-12}" text-anchor="middle">{xlabel}</text>']
    for e in range(math.floor(ylo), math.ceil(yhi) + 1):
        y = sy(10 ** e)
        if top <= y <= h - bottom:
            body.append(f'<line x1="{left}" y1="{y:.1f}" x2="{w-right}" y2="{y:.1f}" stroke="#ddd"/>'
                        f'<text x="{left-6}" y="{y+4:.1f}" text-anchor="end">{10**e:g} ms</text>')
    return body


def plot_p99_vs_rate(path):
    w, h, left, bottom, top, right = 680, 420, 70, 50, 30, 190
    all_runs = [r for runs in ladders.values() for r in runs]
    xs = sorted({r["offered_rate"] for r in all_runs})
    values = [r["send_to_ack_us"][k] / 1000 for r in all_runs for k in ("p50", "p99")]
    ylo, yhi = math.log10(max(min(values), 1e-2)), math.log10(max(values) * 1.5)
    lx = lambda x: math.log10(x)
    xlo, xhi = lx(xs[0]) - 0.05, lx(xs[-1]) + 0.05
    sx = lambda x: left + (w - left - right) * (lx(x) - xlo) / (xhi - xlo)
    sy = lambda y: h - bottom - (h - bottom - top) * (math.log10(max(y, 1e-2)) - ylo) / (yhi - ylo)
    body = frame(w, h, left, bottom, top, right, "send→ack latency vs offered rate (steady)",
                 "offered msgs/s (log)", ylo, yhi, sy)
    for x in xs:
        body.append(f'<text x="{sx(x):.1f}" y="{h-bottom+16}" text-anchor="middle">{x}</text>')
    n = 0
    for key, label in SYSTEMS:
        runs = ladders[key]
        if not runs:
            continue
        for pct, dash in (("p50", "4 3"), ("p99", "")):
            pts = " ".join(f"{sx(r['offered_rate']):.1f},{sy(r['send_to_ack_us'][pct]/1000):.1f}" for r in runs)
            color = COLORS[[k for k, _ in SYSTEMS].index(key)]
            body.append(f'<polyline points="{pts}" fill="none" stroke="{color}" stroke-width="2" stroke-dasharray="{dash}"/>')
            body.append(f'<text x="{w-right+8}" y="{top+16*(n+1)}" fill="{color}">{key} {pct}</text>')
            n += 1
    open(path, "w").write(svg(w, h, body))


def plot_spectrum(path, rate):
    w, h, left, bottom, top, right = 680, 420, 70, 50, 30, 190
    series = [(key, r) for key, _ in SYSTEMS for r in ladders[key] if r["offered_rate"] == rate]
    if not series:
        return False
    xpos = lambda q: math.log10(1 / (1 - q))
    values = [p["us"] / 1000 for _, r in series for p in r["send_to_ack_us"]["spectrum"] if p["q"] < 1.0]
    ylo, yhi = math.log10(max(min(values), 1e-2)), math.log10(max(values) * 1.5)
    xmax = 4.0
    sx = lambda q: left + (w - left - right) * min(xpos(q), xmax) / xmax
    sy = lambda y: h - bottom - (h - bottom - top) * (math.log10(max(y, 1e-2)) - ylo) / (yhi - ylo)
    body = frame(w, h, left, bottom, top, right, f"send→ack percentile spectrum at {rate} msgs/s",
                 "percentile", ylo, yhi, sy)
    for q in [0.0, 0.9, 0.99, 0.999, 0.9999]:
        body.append(f'<text x="{sx(q):.1f}" y="{h-bottom+16}" text-anchor="middle">{q*100:g}%</text>')
    for i, (key, r) in enumerate(series):
        pts = " ".join(f"{sx(p['q']):.1f},{sy(p['us']/1000):.1f}" for p in r["send_to_ack_us"]["spectrum"] if p["q"] < 1.0)
        color = COLORS[[k for k, _ in SYSTEMS].index(key)]
        body.append(f'<polyline points="{pts}" fill="none" stroke="{color}" stroke-width="2"/>')
        body.append(f'<text x="{w-right+8}" y="{top+16*(i+1)}" fill="{color}">{key}</text>')
    open(path, "w").write(svg(w, h, body))
    return True


def best(runs):
    ok = [r for r in runs if kept_up(r)]
    return max(ok, key=lambda r: r["achieved_rate"]) if ok else None


lines = [f"# Parley benchmark ({mode}), run {os.path.basename(os.path.normpath(out))}", "",
         "Open-loop load (`parley-loadtest`): sends are scheduled at the offered rate whatever the replies "
         "do, and latency is measured from each send's intended time (HdrHistogram, no coordinated "
         "omission). PostgreSQL with fsync and synchronous_commit on; the load generator, the server "
         "under test and PostgreSQL share this machine. Rate limits off. A warm-up run precedes the "
         "ladder and is not reported. Raw JSON per run here, `.hgrm` percentile files in `hgrm/`.",
         "", "## Machine", ""]
lines += [f"- {m}" for m in machine]
for key, label in SYSTEMS:
    runs = ladders[key]
    if not runs:
        continue
    r0 = runs[0]
    lines += ["", f"## steady: {label}", "",
              f"{r0['connections']} connections (one user each) over {r0['conversations']} group conversations, "
              f"{r0['duration_s']:.0f} s per run, {r0.get('_runs', 1)} run(s) per rate (the row is the run with the "
              "median send→ack p99, ranges over the runs in parentheses; a rate is sustained when most of its "
              "runs are); each message is acked to its sender and delivered to the group's other members.", "",
              "| offered/s | runs sustained | acked/s in window | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms | errors | deliveries missing | delivery p99 ms | generator lag p99 ms | CPU µs per acked message |",
              "|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---|"]
    for r in runs:
        a = r["send_to_ack_us"]
        d = r.get("send_to_delivery_us", {"p99": 0})
        errors = ", ".join(f"{k}: {v}" for k, v in sorted(r["errors"].items())) or "none"
        lag = r.get("generator_lag_us", {"p99": 0})["p99"]
        # Measured from /proc over the run's window (`--cpu-of`), per acknowledged message.
        cpu = ", ".join(f"{name} {us:g}" for name, us in r.get("cpu_us_per_acked", {}).items()) or "n/a"
        rg = r.get("_range")
        with_range = lambda v, key, fmt: f"{fmt(v)} ({fmt(rg[key][0])}-{fmt(rg[key][1])})" if rg and r["_runs"] > 1 else fmt(v)
        whole = lambda v: f"{v:.0f}"
        kept_runs = f"{r['_kept_runs']}/{r['_runs']}" if "_runs" in r else ("1/1" if kept_up(r) else "0/1")
        lines.append(f"| {r['offered_rate']} | {kept_runs} | {with_range(r['achieved_rate'], 'achieved', whole)} | "
                     f"{with_range(a['p50'], 'p50', ms)} | {ms(a['p90'])} | "
                     f"{with_range(a['p99'], 'p99', ms)} | {ms(a['p999'])} | {ms(a['max'])} | {errors} | {r.get('deliveries_missing', 'n/a')} | "
                     f"{ms(d['p99'])} | {ms(lag)} | {cpu} |")
    b = best(runs)
    if b:
        lines += ["", f"Highest rate sustained (every send acked, no error): **{b['achieved_rate']:.0f} msgs/s** "
                  f"(p99 {ms(b['send_to_ack_us']['p99'])} ms)."]

for key, label in SYSTEMS:
    if not sweeps[key]:
        continue
    chosen = min(sweeps[key], key=sweep_key)["pool_size"]
    lines += ["", f"## Pool size for {label}, chosen by measurement", "",
              f"Each size alone on a fresh database, warmed up, then one run at {sweeps[key][0]['offered_rate']} "
              f"msgs/s; the size with the lowest p99 among those that sustained it (if none did, the one that "
              f"acked the most within the window) climbs the ladder: "
              f"**{chosen}**.", "",
              "| pool size | acked/s in window | p50 ms | p99 ms | errors | CPU µs per acked message |",
              "|---:|---:|---:|---:|---|---|"]
    for r in sweeps[key]:
        a = r["send_to_ack_us"]
        errors = ", ".join(f"{k}: {v}" for k, v in sorted(r["errors"].items())) or "none"
        cpu = ", ".join(f"{name} {us:g}" for name, us in r.get("cpu_us_per_acked", {}).items()) or "n/a"
        lines.append(f"| {r['pool_size']} | {r['achieved_rate']:.0f} | {ms(a['p50'])} | {ms(a['p99'])} | {errors} | {cpu} |")

p = ladders["parley"]
bp = best(p) if p else None
if p:
    lines += ["", "## Parley against the peers", "",
              "Sustained = every send acked, every acknowledged message delivered to every other member, "
              "no error, the rate acked within the window within 5% of offered, and send→ack p99 ≤ 1 s "
              "(the seeds' service level).", "",
              "| system | max sustained durable msgs/s | p99 there (ms) | Parley's ratio |", "|---|---:|---:|---:|"]
    for key, label in SYSTEMS:
        b = best(ladders[key]) if ladders[key] else None
        if b is None:
            lines.append(f"| {label} | none of the rates tried | | |")
            continue
        ratio = f"{bp['achieved_rate']/b['achieved_rate']:.1f}×" if bp and key != "parley" else ""
        lines.append(f"| {label} | {b['achieved_rate']:.0f} | {ms(b['send_to_ack_us']['p99'])} | {ratio} |")
    for key, label in SYSTEMS[1:]:
        peer = {r["offered_rate"]: r for r in ladders[key]}
        rows = [(r, peer[r["offered_rate"]]) for r in p
                if r["offered_rate"] in peer and kept_up(r) and kept_up(peer[r["offered_rate"]])]
        if rows:
            lines += ["", f"p99 send→ack at the rates both Parley and {label} sustain:", "",
                      "| offered/s | Parley p99 ms | peer p99 ms | peer/Parley |", "|---:|---:|---:|---:|"]
            for r, o in rows:
                a, b = r["send_to_ack_us"]["p99"], o["send_to_ack_us"]["p99"]
                lines.append(f"| {r['offered_rate']} | {ms(a)} | {ms(b)} | {b/a:.2f} |")

# CPU per durable message, server and its PostgreSQL, at the rates several systems sustain.
def server_cost(r, key):
    c = r.get("cpu_us_per_acked", {})
    return c.get(key), c.get("postgres")


sustained = {key: {r["offered_rate"]: r for r in ladders[key] if kept_up(r)} for key, _ in SYSTEMS}
shared = sorted(rate for rate in {r for runs in sustained.values() for r in runs}
                if sum(1 for runs in sustained.values() if rate in runs) >= 2)
if shared:
    present = [(key, label) for key, label in SYSTEMS if sustained[key]]
    lines += ["", "## CPU per durable message", "",
              "Microseconds of CPU per acknowledged message over each run's window (from /proc): the server "
              "(all its processes) + its PostgreSQL, at every rate at least two systems sustain (median run).", "",
              "| offered/s | " + " | ".join(key for key, _ in present) + " |",
              "|---:|" + "---:|" * len(present)]
    for rate in shared:
        cells = []
        for key, _ in present:
            r = sustained[key].get(rate)
            server, pg = server_cost(r, key) if r else (None, None)
            cells.append(f"{server:g} + {pg:g}" if server is not None and pg is not None else "")
        lines.append(f"| {rate} | " + " | ".join(cells) + " |")

# Parley's own cost at every rate it sustained, against issue 15's goals at 20,000 msgs/s.
parley_rates = sorted(sustained.get("parley", {}))
if parley_rates:
    lines += ["", "## CPU per durable message: Parley at every rate it sustained", "",
              "Microseconds of CPU per acknowledged message over each run's window (from /proc), median run; "
              "goals on this machine at 20,000 msgs/s: PostgreSQL ≤ 15, Parley ≤ 10.", "",
              "| offered/s | Parley | PostgreSQL | generator |", "|---:|---:|---:|---:|"]
    for rate in parley_rates:
        c = sustained["parley"][rate].get("cpu_us_per_acked", {})
        cells = [f"{c[k]:g}" if isinstance(c.get(k), (int, float)) else "" for k in ("parley", "postgres", "generator")]
        lines.append(f"| {rate} | " + " | ".join(cells) + " |")

if "poisson-parley-5000" in extra:
    r = extra["poisson-parley-5000"]
    a = r["send_to_ack_us"]
    lines += ["", "## steady with Poisson arrivals (Parley, 5000 msgs/s)", "",
              f"acked {r['achieved_rate']:.0f}/s, p50 {ms(a['p50'])} ms, p99 {ms(a['p99'])} ms, "
              f"p99.9 {ms(a['p999'])} ms, errors {r['errors'] or 'none'}."]


def lat_rows(r, names):
    rows = []
    for name in names:
        h = r.get(f"{name}_us")
        if h:
            rows.append(f"| {name} | {h['count']} | {ms(h['p50'])} | {ms(h['p90'])} | {ms(h['p99'])} | "
                        f"{ms(h['p999'])} | {ms(h['max'])} |")
    return ["| latency | n | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms |", "|---|---:|---:|---:|---:|---:|---:|"] + rows


if "fanout" in extra:
    r = extra["fanout"]
    lines += ["", "## fanout (Parley)", "",
              f"One group of {r['members']} members, one publisher at {r['offered_rate']} msgs/s for "
              f"{r['duration_s']:.0f} s: **{r['deliveries_per_s']:.0f} deliveries/s**, errors {r['errors'] or 'none'}.", ""]
    lines += lat_rows(r, ["publish_to_last", "send_to_delivery", "send_to_ack"])
if "history" in extra:
    r = extra["history"]
    lines += ["", "## history (Parley REST)", "",
              f"{r['connections']} kept-alive connections, {r['offered_rate']} pages/s offered, "
              f"{r['achieved_rate']:.0f}/s served over a {r['messages']}-message conversation "
              f"(50 per page), errors {r['errors'] or 'none'}.", ""]
    lines += lat_rows(r, ["page"])
if "storm" in extra:
    r = extra["storm"]
    lines += ["", "## reconnect-storm (Parley)", "",
              f"{r['members']} members in {r['groups']} groups drop at once and come back within "
              f"{r['jitter_ms']} ms while {r['publish_rate']} msgs/s keep flowing; "
              f"{r.get('recovered', 0)} recovered, {r.get('gap_messages', 0)} messages gap-filled by REST, "
              f"errors {r['errors'] or 'none'}.", ""]
    lines += lat_rows(r, ["reconnect", "gap_fill", "recovery"])
if "connections" in extra:
    r = extra["connections"]
    per = r.get("server_bytes_per_connection")
    lines += ["", "## connections (Parley)", "",
              f"{r.get('opened', 0)} of {r['requested']} idle WebSocket connections opened at "
              f"{r['connect_rate_per_s']:.0f}/s, errors {r['errors'] or 'none'}"
              + (f"; gateway resident memory {r['server_rss_before_kib']} KiB before, "
                 f"{r.get('server_rss_half_kib', '?')} KiB at half, {r.get('server_rss_open_kib', r.get('server_rss_after_kib'))} KiB with all open: "
                 f"{(r.get('server_rss_open_kib', r.get('server_rss_after_kib', 0)) - r['server_rss_before_kib']) / r.get('opened', 1):.1f} KiB per idle "
                 f"connection on average, **{per/1024:.1f} KiB** for each of the second half (the allocator "
                 "reuses memory earlier scenarios freed, so the first half can look cheaper)." if per else "."),
              "This machine caps a process at 20,000 open files, which bounds the count.", ""]
    lines += lat_rows(r, ["connect"])
if "uploads" in extra:
    r = extra["uploads"]
    lines += ["", "## uploads (Parley)", "",
              f"{r['concurrency']} users each upload a {r['size_mib']} MiB file at once, {r['rounds']} "
              f"round(s): {r.get('uploads_stored', 0)} stored at **{r['throughput_mib_per_s']:.0f} MiB/s** in all, "
              f"errors {r['errors'] or 'none'}"
              + (f"; gateway resident memory {r['server_rss_before_kib'] / 1024:.0f} MiB before, "
                 f"**{r['server_rss_peak_kib'] / 1024:.0f} MiB at the peak**, {r['server_rss_after_kib'] / 1024:.0f} MiB after "
                 f"(bodies are streamed to disk: memory does not grow with the bytes in flight); "
                 f"{r.get('server_cpu_ms_per_mib', 0):.1f} ms of gateway CPU per MiB stored."
                 if 'server_rss_peak_kib' in r else "."), ""]
    lines += lat_rows(r, ["upload"])



def cores_used(r):
    """Each watched process's CPU over the run's window, in cores."""
    return {name: sec / r["duration_s"] for name, sec in r.get("cpu_s", {}).items()}


def why_not(r):
    """Which of the sustained criteria a run broke, in words."""
    reasons = []
    if r.get("errors"):
        reasons.append("errors " + ", ".join(f"{k} {v}" for k, v in sorted(r["errors"].items())))
    if r.get("achieved_rate", 0) < 0.95 * r["offered_rate"]:
        reasons.append(f"acked {r.get('achieved_rate', 0):.0f}/s within the window "
                       f"({100 * r.get('achieved_rate', 0) / r['offered_rate']:.0f}% of offered)")
    p99 = r.get("send_to_ack_us", {}).get("p99", 0)
    if p99 > SLO_P99_US:
        reasons.append(f"send→ack p99 {ms(p99)} ms")
    if r.get("deliveries_missing", 0):
        reasons.append(f"{r['deliveries_missing']} deliveries missing")
    if r.get("closed_by_server", 0):
        reasons.append(f"the server closed {r['closed_by_server']} of its {r.get('connections', '?')} "
                       "connections (a client too slow to read is closed to resync; CLOSED counts what "
                       "those connections had outstanding or still to send)")
    return "; ".join(reasons) or "most of its runs fell short"


def cpu_sentence(r, cores):
    used = cores_used(r)
    if not used:
        return ""
    total = sum(used.values())
    parts = ", ".join(f"{name} {c:.2f}" for name, c in sorted(used.items(), key=lambda kv: -kv[1]))
    return f"CPU in cores: {parts}; {total:.2f} of {cores} in all ({100 * total / cores:.0f}%)"


machine_facts = dict(m.split("=", 1) for m in machine if "=" in m)
cores = int(machine_facts.get("cores", "2") or 2)
limits = []
if p:
    top = bp
    # Runs whose generator gave up leave `steady-parley-RATE-rK.failed` (scripts/bench.sh) instead of JSON.
    aborted = []
    for path in sorted(glob.glob(os.path.join(out, "steady-parley-*-r*.failed")),
                       key=lambda f: int(os.path.basename(f).split("-")[2])):
        lines_ = [l.strip() for l in open(path) if l.strip()]
        aborted.append((int(os.path.basename(path).split("-")[2]), lines_[0] if lines_ else "no reason given"))
    failed = [r for r in p if not kept_up(r) and (top is None or r["offered_rate"] > top["offered_rate"])]
    knee = failed[0] if failed else None
    if top:
        a = top["send_to_ack_us"]
        limits.append(f"- **Highest rate sustained: {top['achieved_rate']:.0f} msgs/s** (offered "
                      f"{top['offered_rate']}; p50 {ms(a['p50'])} ms, p99 {ms(a['p99'])} ms). "
                      + cpu_sentence(top, cores) + ".")
    if knee:
        lag = knee.get("generator_lag_us", {}).get("p99", 0)
        p99 = knee.get("send_to_ack_us", {}).get("p99", 0)
        used = cores_used(knee)
        total = sum(used.values())
        line = (f"- **The knee: {knee['offered_rate']} msgs/s**, the first rate most of whose runs fell short "
                f"(median run: {why_not(knee)}). " + cpu_sentence(knee, cores) + ". ")
        if used and total >= 0.9 * cores:
            biggest = max(used, key=used.get)
            line += (f"The machine's CPU is the limit there: {100 * total / cores:.0f}% of it is busy, "
                     f"{biggest} taking the largest share ({100 * used[biggest] / total:.0f}%).")
        elif used:
            line += (f"CPU is not exhausted there ({total:.2f} of {cores} cores), so the limit is elsewhere "
                     "(a queue or lock in the path; see the errors above).")
        if p99 and lag:
            line += (f" The generator's own lag p99 was {ms(lag)} ms against a send→ack p99 of {ms(p99)} ms"
                     + (", so part of the latency there is the generator's." if lag > 0.1 * p99
                        else ": the generator kept its schedule."))
        limits.append(line)
    elif top and aborted:
        rate, why = aborted[0]
        limits.append(f"- **The knee: {rate} msgs/s**, where the load generator gave up within the run "
                      f"(it said: {why}), so that rate was not sustained and the ladder stopped there.")
    elif top:
        limits.append(f"- **No knee within the ladder**: every rate up to {p[-1]['offered_rate']} msgs/s was "
                      "sustained; the ladder, not Parley, stopped.")
    costs = [(r["offered_rate"], r["cpu_us_per_acked"]) for r in p if kept_up(r) and r.get("cpu_us_per_acked")]
    if costs:
        rate, cost = costs[-1]
        limits.append(f"- **Cost per durable message at {rate} msgs/s**: "
                      + ", ".join(f"{name} {us:g} µs" for name, us in cost.items())
                      + " of CPU (from /proc over the window, per acknowledged message).")
if "connections" in extra:
    r = extra["connections"]
    per = r.get("server_bytes_per_connection")
    fd = machine_facts.get("open_files_limit")
    line = f"- **Connections**: {r.get('opened', 0)} of {r['requested']} idle sockets opened"
    if per:
        line += f", {per / 1024:.1f} KiB of gateway memory each (second half)"
    if fd:
        line += (f"; this machine allows a process {fd} open files, so one process holds at most about "
                 f"that many sockets (several instances, `make bench-cluster`, hold more)")
    limits.append(line + ".")
if limits:
    lines += ["", "## What limits Parley on this machine (derived from this run)", ""] + limits
if p:
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import bench_goals
    fsync_fact = machine_facts.get("pg_test_fsync_fdatasync")
    lines += bench_goals.section(out, sustained.get("parley", {}), extra.get("fanout"), bp, cores,
                                 fsync_fact if fsync_fact and fsync_fact != "unavailable" else None)

plots = []
if ladders["parley"]:
    plot_p99_vs_rate(os.path.join(out, "p99-vs-rate.svg"))
    plots.append("![p99 vs offered rate](p99-vs-rate.svg)")
    common = sorted({r["offered_rate"] for r in ladders["parley"] if kept_up(r)}
                    & {r["offered_rate"] for r in ladders["socketio"] if kept_up(r)})
    rate = common[-1] if common else ladders["parley"][len(ladders["parley"]) // 2]["offered_rate"]
    if plot_spectrum(os.path.join(out, "spectrum.svg"), rate):
        plots.append("![percentile spectrum](spectrum.svg)")
lines += ["", "## Plots", ""] + plots + [""]
open(os.path.join(out, "report.md"), "w").write("\n".join(lines) + "\n")
