#!/usr/bin/env bash
# A/B comparison of Parley builds under the same load, one after the other, each on a fresh
# embedded cluster: `scripts/ab.sh BIN_A BIN_B [BIN_A BIN_B ...]` (alternate them: run-to-run noise
# on a shared machine is large). Runs a 15 s warm-up at 5,000 msgs/s, `steady` at 1,000, 10,000
# and 20,000 msgs/s and `fanout` (1,000 members, 250 msgs/s), and prints one summary line per run;
# the JSON is kept under target/ab/<n>-<name>/. Needs a release parley-loadtest
# (`cargo build --release -p parley-loadtest`).
set -euo pipefail
cd "$(dirname "$0")/.."
lt=./target/release/parley-loadtest
port=18090
run=0
for bin in "$@"; do
  run=$((run + 1))
  dir="target/ab/$run-$(basename "$bin")"
  rm -rf "$dir" && mkdir -p "$dir"
  PARLEY_LIMITS__ENABLED=false PARLEY_LOG__LEVEL=warn PARLEY_WS__MAX_PER_USER=1000 \
    "$bin" serve --data-dir "$dir/data" --listen "127.0.0.1:$port" > "$dir/parley.log" 2>&1 &
  server=$!
  for _ in $(seq 1 60); do
    curl -sf "http://127.0.0.1:$port/health/ready" > /dev/null && break
    sleep 1
  done
  $lt --json --label warm --addr "127.0.0.1:$port" steady --connections 50 --conversations 10 \
    --rate 5000 --duration 15 > "$dir/warm.json" 2>> "$dir/loadtest.log"
  sleep 3
  for rate in 1000 10000 20000; do
    $lt --json --label "steady-$rate" --addr "127.0.0.1:$port" steady --connections 50 \
      --conversations 10 --rate "$rate" --duration 15 > "$dir/steady-$rate.json" 2>> "$dir/loadtest.log"
    echo "$run $(basename "$bin") steady $rate: $(python3 scripts/bench_report.py --summary "$dir/steady-$rate.json")"
  done
  $lt --json --label fanout --addr "127.0.0.1:$port" fanout --members 1000 --rate 250 \
    --duration 15 > "$dir/fanout.json" 2>> "$dir/loadtest.log"
  echo "$run $(basename "$bin") fanout: $(python3 scripts/bench_report.py --summary "$dir/fanout.json")"
  kill -INT "$server"
  wait "$server" || true
  rm -rf "$dir/data"
done
