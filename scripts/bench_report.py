#!/usr/bin/env python3
"""Writes report.md and SVG plots for one bench/results/<timestamp>/ directory (stdlib only)."""
import glob
import json
import math
import os
import sys

if sys.argv[1] == "--summary":
    r = json.load(open(sys.argv[2]))
    a = r["send_to_ack_us"]
    print("   acked %.0f/s  p50 %.2f ms  p99 %.2f ms  errors %s"
          % (r["achieved_rate"], a["p50"] / 1000, a["p99"] / 1000, r["errors"] or "none"))
    sys.exit(0)

out, mode = sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "full"
runs = []
for path in glob.glob(os.path.join(out, "steady-*.json")):
    with open(path) as f:
        runs.append(json.load(f))
runs.sort(key=lambda r: r["offered_rate"])
machine = open(os.path.join(out, "machine.txt")).read().strip().splitlines()

COLORS = ["#2563eb", "#16a34a", "#dc2626", "#9333ea", "#ea580c", "#0891b2", "#65a30d", "#be185d"]


def svg(width, height, body):
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'font-family="sans-serif" font-size="12">\n<rect width="100%" height="100%" fill="white"/>\n'
            + "\n".join(body) + "\n</svg>\n")


def log_axis(lo, hi):
    lo, hi = max(lo, 1e-3), max(hi, lo * 10)
    return math.log10(lo), math.log10(hi)


def plot_p99_vs_rate(path):
    w, h, left, bottom, top, right = 640, 400, 70, 50, 30, 20
    xs = [r["offered_rate"] for r in runs]
    series = [("p50", "p50"), ("p99", "p99"), ("p99.9", "p999")]
    values = [r["send_to_ack_us"][k] / 1000 for r in runs for _, k in series]
    ylo, yhi = log_axis(min(values), max(values) * 1.5)
    xmax = max(xs) * 1.05
    sx = lambda x: left + (w - left - right) * x / xmax
    sy = lambda y: h - bottom - (h - bottom - top) * (math.log10(max(y, 1e-3)) - ylo) / (yhi - ylo)
    body = [f'<text x="{w/2}" y="18" text-anchor="middle">Parley send→ack latency vs offered rate (steady)</text>',
            f'<line x1="{left}" y1="{h-bottom}" x2="{w-right}" y2="{h-bottom}" stroke="black"/>',
            f'<line x1="{left}" y1="{top}" x2="{left}" y2="{h-bottom}" stroke="black"/>',
            f'<text x="{w/2}" y="{h-12}" text-anchor="middle">offered msgs/s</text>',
            f'<text x="16" y="{h/2}" transform="rotate(-90 16 {h/2})" text-anchor="middle">ms (log)</text>']
    for e in range(math.floor(ylo), math.ceil(yhi) + 1):
        y = sy(10 ** e)
        if top <= y <= h - bottom:
            body.append(f'<line x1="{left}" y1="{y:.1f}" x2="{w-right}" y2="{y:.1f}" stroke="#ddd"/>'
                        f'<text x="{left-6}" y="{y+4:.1f}" text-anchor="end">{10**e:g}</text>')
    for x in xs:
        body.append(f'<text x="{sx(x):.1f}" y="{h-bottom+16}" text-anchor="middle">{x}</text>')
    for i, (label, key) in enumerate(series):
        pts = " ".join(f"{sx(r['offered_rate']):.1f},{sy(r['send_to_ack_us'][key]/1000):.1f}" for r in runs)
        body.append(f'<polyline points="{pts}" fill="none" stroke="{COLORS[i]}" stroke-width="2"/>')
        body.append(f'<text x="{w-right-60}" y="{top+16*(i+1)}" fill="{COLORS[i]}">{label}</text>')
    open(path, "w").write(svg(w, h, body))


def plot_spectrum(path):
    w, h, left, bottom, top, right = 640, 400, 70, 50, 30, 110
    qs = [p["q"] for p in runs[0]["send_to_ack_us"]["spectrum"] if p["q"] < 1.0]
    xpos = lambda q: math.log10(1 / (1 - q)) if q < 1 else 5
    xmax = max(xpos(q) for q in qs) or 1
    values = [p["us"] / 1000 for r in runs for p in r["send_to_ack_us"]["spectrum"] if p["q"] < 1.0]
    ylo, yhi = log_axis(min(values), max(values) * 1.5)
    sx = lambda q: left + (w - left - right) * xpos(q) / xmax
    sy = lambda y: h - bottom - (h - bottom - top) * (math.log10(max(y, 1e-3)) - ylo) / (yhi - ylo)
    body = [f'<text x="{w/2}" y="18" text-anchor="middle">Parley send→ack percentile spectrum, per offered rate</text>',
            f'<line x1="{left}" y1="{h-bottom}" x2="{w-right}" y2="{h-bottom}" stroke="black"/>',
            f'<line x1="{left}" y1="{top}" x2="{left}" y2="{h-bottom}" stroke="black"/>',
            f'<text x="{(w-right+left)/2}" y="{h-12}" text-anchor="middle">percentile</text>']
    for q in [0.0, 0.9, 0.99, 0.999, 0.9999]:
        body.append(f'<text x="{sx(q):.1f}" y="{h-bottom+16}" text-anchor="middle">{q*100:g}%</text>')
    for e in range(math.floor(ylo), math.ceil(yhi) + 1):
        y = sy(10 ** e)
        if top <= y <= h - bottom:
            body.append(f'<line x1="{left}" y1="{y:.1f}" x2="{w-right}" y2="{y:.1f}" stroke="#ddd"/>'
                        f'<text x="{left-6}" y="{y+4:.1f}" text-anchor="end">{10**e:g} ms</text>')
    for i, r in enumerate(runs):
        pts = " ".join(f"{sx(p['q']):.1f},{sy(p['us']/1000):.1f}" for p in r["send_to_ack_us"]["spectrum"] if p["q"] < 1.0)
        color = COLORS[i % len(COLORS)]
        body.append(f'<polyline points="{pts}" fill="none" stroke="{color}" stroke-width="2"/>')
        body.append(f'<text x="{w-right+8}" y="{top+16*(i+1)}" fill="{color}">{r["offered_rate"]}/s</text>')
    open(path, "w").write(svg(w, h, body))


if runs:
    plot_p99_vs_rate(os.path.join(out, "p99-vs-rate.svg"))
    plot_spectrum(os.path.join(out, "spectrum.svg"))

ms = lambda us: f"{us/1000:.2f}"
lines = [f"# Parley benchmark ({mode})", "",
         "Scenario `steady`: one WebSocket connection per user, users spread round-robin over group "
         "conversations, open-loop sends at the offered rate, latency from each send's intended time "
         "(HdrHistogram). PostgreSQL with fsync and synchronous_commit on; the load generator, Parley "
         "and PostgreSQL share this machine. Rate limits off. A warm-up run at a middle rate precedes "
         "the ladder and is not reported (warmup.json).", "", "## Machine", ""]
lines += [f"- {m}" for m in machine]
if runs:
    r0 = runs[0]
    lines += ["", f"{r0['connections']} connections over {r0['conversations']} conversations, "
              f"{r0['duration_s']:.0f} s per rate.", "", "## send→ack", "",
              "| offered/s | acked/s | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms | errors | generator lag p99 ms |",
              "|---:|---:|---:|---:|---:|---:|---:|---|---:|"]
    for r in runs:
        a = r["send_to_ack_us"]
        errors = ", ".join(f"{k}: {v}" for k, v in sorted(r["errors"].items())) or "none"
        lines.append(f"| {r['offered_rate']} | {r['achieved_rate']:.0f} | {ms(a['p50'])} | {ms(a['p90'])} | "
                     f"{ms(a['p99'])} | {ms(a['p999'])} | {ms(a['max'])} | {errors} | {ms(r['generator_lag_us']['p99'])} |")
    lines += ["", "## send→delivery (every other member)", "",
              "| offered/s | deliveries | p50 ms | p99 ms | p99.9 ms |", "|---:|---:|---:|---:|---:|"]
    for r in runs:
        d = r["send_to_delivery_us"]
        lines.append(f"| {r['offered_rate']} | {d['count']} | {ms(d['p50'])} | {ms(d['p99'])} | {ms(d['p999'])} |")
    sustained = [r for r in runs if not r["errors"] and r["acked"] == r["sent"]]
    if sustained:
        best = max(sustained, key=lambda r: r["achieved_rate"])
        lines += ["", f"Highest rate sustained with no error or timeout: **{best['achieved_rate']:.0f} msgs/s** "
                  f"(p99 {ms(best['send_to_ack_us']['p99'])} ms)."]
    lines += ["", "![p99 vs offered rate](p99-vs-rate.svg)", "", "![percentile spectrum](spectrum.svg)", "",
              "Peers (the seeds' Socket.IO stack, Matrix Synapse) are not measured yet.", ""]
open(os.path.join(out, "report.md"), "w").write("\n".join(lines) + "\n")
