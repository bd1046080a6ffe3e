#!/usr/bin/env bash
# Uploads under load, alone: Parley (release) with its embedded PostgreSQL (fsync on) in a scratch
# data dir, then `parley-loadtest uploads` (CONCURRENCY users each upload one SIZE_MIB file at
# once, ROUNDS rounds) with the gateway's resident memory sampled every 20 ms. Writes
# OUT_DIR/uploads.json and OUT_DIR/uploads.md (prose from that run's figures). `make bench` runs
# the same scenario inside its suite.
# Usage: scripts/bench-uploads.sh OUT_DIR   (CONCURRENCY=20 SIZE_MIB=25 ROUNDS=2 by default)
set -euo pipefail
cd "$(dirname "$0")/.."
out="$1"; mkdir -p "$out"; out="$(cd "$out" && pwd)"
concurrency="${CONCURRENCY:-20}"; size="${SIZE_MIB:-25}"; rounds="${ROUNDS:-2}"
work="$(mktemp -d /tmp/parley-uploads-XXXXXX)"; chmod 755 "$work"
port=$((18600 + RANDOM % 300))
server=""
cleanup() {
  if [ -n "$server" ]; then kill -INT "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
PARLEY_LIMITS__ENABLED=false PARLEY_LOG__LEVEL=warn \
  ./target/release/parley serve --data-dir "$work/data" --listen "127.0.0.1:$port" > /dev/null 2> "$out/uploads.parley.log" &
server=$!
for _ in $(seq 1 600); do curl -sf "http://127.0.0.1:$port/health/ready" >/dev/null 2>&1 && break; sleep 0.1; done
./target/release/parley-loadtest --json --addr "127.0.0.1:$port" uploads \
  --concurrency "$concurrency" --size-mib "$size" --rounds "$rounds" --server-pid "$server" > "$out/uploads.json"
python3 - "$out/uploads.json" "$(nproc)" > "$out/uploads.md" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
u = r.get("upload_us", {})
ms = lambda us: f"{us / 1000:.0f}"
print("# Uploads (`scripts/bench-uploads.sh`)\n")
print(f"{r['concurrency']} users each upload one {r['size_mib']} MiB file at once, {r['rounds']} rounds, "
      f"on this {sys.argv[2]}-core machine (generator, gateway and its embedded PostgreSQL together, "
      f"fsync on): {r.get('uploads_stored', 0)} stored in {r['wall_s']:.1f} s, "
      f"**{r['throughput_mib_per_s']:.0f} MiB/s** in all, errors {r['errors'] or 'none'}.\n")
if "server_rss_peak_kib" in r:
    grew = (r["server_rss_peak_kib"] - r["server_rss_before_kib"]) / 1024
    inflight = r["concurrency"] * r["size_mib"]
    print(f"Gateway resident memory: {r['server_rss_before_kib'] / 1024:.0f} MiB before, "
          f"**{r['server_rss_peak_kib'] / 1024:.0f} MiB at the peak** (+{grew:.0f} MiB while "
          f"{inflight} MiB of uploads were in flight at once), {r['server_rss_after_kib'] / 1024:.0f} MiB after. "
          f"Gateway CPU: {r.get('server_cpu_s', 0):.1f} s, {r.get('server_cpu_ms_per_mib', 0):.1f} ms per MiB stored "
          "(receiving, SHA-256, fsync and rename; these are not images, so nothing is decoded).\n")
print("| latency | n | p50 ms | p90 ms | p99 ms | max ms |\n|---|---:|---:|---:|---:|---:|")
if u:
    print(f"| upload (first byte to 201) | {u['count']} | {ms(u['p50'])} | {ms(u['p90'])} | {ms(u['p99'])} | {ms(u['max'])} |")
PY
cat "$out/uploads.md"
