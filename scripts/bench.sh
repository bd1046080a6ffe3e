#!/usr/bin/env bash
# `make bench` / `make bench-quick`: measure Parley on this machine and write
# bench/results/<timestamp>/ with report.md, the raw JSON of every run and SVG plots.
#
# A fresh embedded PostgreSQL (fsync and synchronous_commit on: Parley refuses otherwise), a release
# build, then the `steady` scenario at a ladder of offered rates. Rate limits are turned off for
# the load (PARLEY_LIMITS__ENABLED=false); nothing else is changed from the defaults.
# Usage: scripts/bench.sh [quick]
set -euo pipefail
cd "$(dirname "$0")/.."

mode="${1:-full}"
if [ "$mode" = quick ]; then
  rates=(1000 5000 10000); duration=5
else
  rates=(1000 2500 5000 7500 10000 15000 20000); duration=15
fi
connections=50
conversations=10
port=18181

stamp="$(date -u +%Y%m%dT%H%M%SZ)"
out="bench/results/$stamp"
mkdir -p "$out"
work="$(mktemp -d /tmp/parley-bench-XXXXXX)"
chmod 755 "$work"

cleanup() {
  if [ -n "${server:-}" ] && kill -0 "$server" 2>/dev/null; then
    kill -INT "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

echo "== building (release)"
cargo build --release --locked --bin parley --bin parley-loadtest

echo "== machine"
pg_bin="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)"
{
  echo "cores=$(nproc)"
  echo "memory=$(free -h | awk '/^Mem:/ {print $2}')"
  echo "cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')"
  echo "kernel=$(uname -r)"
  echo "postgresql=$("$pg_bin/postgres" --version)"
  echo "rustc=$(rustc --version)"
  echo "parley=$(git rev-parse --short HEAD)$(git diff --quiet || echo '+dirty')"
  fsync="$("$pg_bin/pg_test_fsync" -s 1 -f "$work/fsync.test" 2>/dev/null | awk '/fdatasync/ && /ops\/sec/ {print $2" ops/s, "$4" us/op"; exit}')"
  echo "pg_test_fsync_fdatasync=${fsync:-unavailable}"
} > "$out/machine.txt"
cat "$out/machine.txt"

echo "== starting parley"
PARLEY_LIMITS__ENABLED=false PARLEY_LOG__LEVEL=warn \
  ./target/release/parley serve --data-dir "$work/data" --listen "127.0.0.1:$port" \
  > "$work/parley.out" 2> "$out/parley.log" &
server=$!
for _ in $(seq 1 600); do
  curl -sf "http://127.0.0.1:$port/health/ready" >/dev/null 2>&1 && break
  sleep 0.1
done
curl -sf "http://127.0.0.1:$port/health/ready" >/dev/null || { echo "parley did not become ready"; cat "$out/parley.log"; exit 1; }

# Warm-up, not reported: a new cluster creates and zero-fills WAL segments, analyzes its first
# rows and fills caches during its first minute; production servers are past that.
warm_rate="${rates[$(( ${#rates[@]} / 2 ))]}"
echo "== warm-up: steady at $warm_rate msgs/s for $((duration * 2))s (not reported)"
./target/release/parley-loadtest --addr "127.0.0.1:$port" --json steady \
  --connections "$connections" --conversations "$conversations" --rate "$warm_rate" --duration $((duration * 2)) \
  > "$out/warmup.json"

for rate in "${rates[@]}"; do
  echo "== steady at $rate msgs/s for ${duration}s"
  ./target/release/parley-loadtest --addr "127.0.0.1:$port" --json steady \
    --connections "$connections" --conversations "$conversations" --rate "$rate" --duration "$duration" \
    > "$out/steady-$rate.json"
  python3 scripts/bench_report.py --summary "$out/steady-$rate.json"
done
curl -s "http://127.0.0.1:$port/metrics" > "$out/metrics.txt" || true

python3 scripts/bench_report.py "$out" "$mode"
echo "== report: $out/report.md"
