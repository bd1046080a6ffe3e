#!/usr/bin/env bash
# `make bench-cluster` (and the end of `make bench`): several Parley instances joined by Redis,
# measured on this machine, into bench/results/<timestamp>/cluster.md and the raw JSON beside it.
#
# One PostgreSQL (initdb'd here, fsync on) and one redis-server (Debian's, no persistence) for
# every phase; release builds; rate limits off for the load; nothing else changed from defaults.
#  1. fanout, one instance without Redis: publish -> delivery at every member (the baseline),
#     at a light and a heavy rung;
#  2. fanout, the publisher on instance A and every member on instance B (each delivery crosses
#     Redis), same rungs; Redis commands per message from INFO commandstats (the difference from
#     a run of the same set-up with one message);
#  3. connections: N idle authenticated WebSockets over six instances from six generator
#     processes (each under the 20,000 open-file limit), heartbeats every 20 s as clients send
#     them; memory per connection and heartbeat CPU per instance;
#  4. rolling restart of three instances under steady load (the test kit's reconnecting clients:
#     gateway/tests/cluster_rolling_bench.rs): drain time, reconnect latency, lost, doubled.
# Usage: scripts/bench-cluster.sh [quick] [OUT_DIR]
set -euo pipefail
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
cd "$(dirname "$0")/.."

mode="${1:-full}"
# Fan-out rungs "members:rate": a light one (the machine far from busy) and a heavy one.
if [ "$mode" = quick ]; then
  rungs=(100:100 200:500); duration=5; conns_total=12000; hold=25; rolling_s=10
else
  rungs=(100:200 500:500); duration=15; conns_total=100000; hold=60; rolling_s=30
fi
stamp="$(date -u +%Y%m%dT%H%M%SZ)"
out="${2:-bench/results/$stamp}"
mkdir -p "$out"
# Absolute: the rolling-restart test runs with the gateway crate as its working directory.
out="$(cd "$out" && pwd)"
work="$(mktemp -d /tmp/parley-cluster-XXXXXX)"
chmod 755 "$work"
pids=()
pg_bin="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)"
pgdata="$work/pg"; pgsock="$work/pgsock"
as_pg() { if [ "$(id -u)" = 0 ]; then su postgres -s /bin/sh -c "$1"; else sh -c "$1"; fi; }

cleanup() {
  for pid in "${pids[@]}"; do kill -INT "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [ -n "${redis:-}" ]; then kill "$redis" 2>/dev/null || true; fi
  as_pg "$pg_bin/pg_ctl -D $pgdata -m fast -w stop" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

echo "== building (release)"
cargo build --release --locked --bin parley --bin parley-loadtest

echo "== postgresql and redis"
mkdir -p "$pgdata" "$pgsock"
if [ "$(id -u)" = 0 ]; then chown postgres "$pgdata" "$pgsock"; fi
as_pg "$pg_bin/initdb -D $pgdata -U parley --auth=trust -E UTF8" >/dev/null
as_pg "$pg_bin/pg_ctl -D $pgdata -l $pgdata/server.log -w -o \"-k $pgsock -c listen_addresses='' -c max_connections=300\" start" >/dev/null
as_pg "$pg_bin/createdb -h $pgsock -U parley parley"
db_url="postgresql://parley@/parley?host=$pgsock"
redis_port=18390
redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no > "$work/redis.log" 2>&1 &
redis=$!
for _ in $(seq 1 100); do redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break; sleep 0.1; done
{
  echo "cores=$(nproc)"
  echo "memory=$(free -h | awk '/^Mem:/ {print $2}')"
  echo "cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')"
  echo "postgresql=$("$pg_bin/postgres" --version)"
  echo "redis=$(redis-server --version | awk '{print $3}')"
  echo "parley=$(git rev-parse --short HEAD)$(git diff --quiet || echo '+dirty')"
  echo "mode=$mode"
} > "$out/cluster-machine.txt"

token="bench-metrics-$(date +%s)-$$"
# Every instance of a deployment shares the access-token key.
jwt_secret="bench-jwt-$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
# start_instance NAME PORT [REDIS_URL] [EXTRA ENV...]: a `parley serve` over the shared PostgreSQL.
start_instance() {
  local name="$1" port="$2" redis_url="${3:-}"; shift 3 || true
  mkdir -p "$work/$name"
  env PARLEY_DATABASE__URL="$db_url" PARLEY_REDIS__URL="$redis_url" PARLEY_JWT_SECRET="$jwt_secret" \
    PARLEY_LIMITS__ENABLED=false \
    PARLEY_LOG__LEVEL=warn PARLEY_METRICS__TOKEN="$token" PARLEY_WS__MAX_PER_USER=1000 \
    PARLEY_SERVER__MAX_CONNECTIONS=19500 PARLEY_SERVER__MAX_CONNECTIONS_PER_IP=0 "$@" \
    ./target/release/parley serve --data-dir "$work/$name" --listen "127.0.0.1:$port" \
    > "$work/$name.out" 2> "$out/cluster-$name.log" &
  pids+=($!)
  last_pid=$!
  for _ in $(seq 1 300); do
    curl -sf "http://127.0.0.1:$port/health/ready" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "instance $name did not become ready"; cat "$out/cluster-$name.log"; exit 1
}
stop_all() {
  for pid in "${pids[@]}"; do kill -INT "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  pids=()
}
commands() { redis-cli -p "$redis_port" info commandstats | tr -d '\r'; }
# User plus system CPU ticks of a process; events an instance received from the others.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
received() {
  curl -s -H "Authorization: Bearer $token" "http://127.0.0.1:$1/metrics" |
    awk '/^parley_cluster_received_total / {print $2}'
}
lt=(./target/release/parley-loadtest --json --hgrm-dir "$out/hgrm")

for rung in "${rungs[@]}"; do
  members="${rung%%:*}"; rate="${rung##*:}"
  echo "== 1. fanout on one instance (no Redis): $members members, $rate msgs/s, ${duration}s"
  start_instance single 18300 ""
  "${lt[@]}" --label "warmup-single-$rung" --addr 127.0.0.1:18300 fanout --members "$members" --rate "$rate" --duration 3 > /dev/null
  "${lt[@]}" --label "fanout-single-$members-$rate" --addr 127.0.0.1:18300 fanout --members "$members" --rate "$rate" --duration "$duration" \
    > "$out/cluster-fanout-single-$members-$rate.json"
  stop_all

  echo "== 2. fanout across two instances (publisher on A, members on B): $members members, $rate msgs/s"
  start_instance a 18301 "redis://127.0.0.1:$redis_port"
  start_instance b 18302 "redis://127.0.0.1:$redis_port"
  # A third instance with no connections at all: what every instance pays for events it has no
  # recipient for (the one shared channel's cost).
  start_instance idle 18303 "redis://127.0.0.1:$redis_port"
  idle_pid=$last_pid
  "${lt[@]}" --label "warmup-cross-$rung" --addr 127.0.0.1:18301 --also-addr 127.0.0.1:18302 fanout --members "$members" --rate "$rate" --duration 3 > /dev/null
  # Redis commands per message: the same set-up with one message per second for a second is
  # measured too, and each window waits out the offline grace after its run, so what set-up and
  # tear-down cost (connections, presence, counts) cancels out of the difference.
  sleep 7
  commands > "$out/cluster-redis-$members-$rate-0.txt"
  "${lt[@]}" --label "fanout-cross-setup-$members-$rate" --addr 127.0.0.1:18301 --also-addr 127.0.0.1:18302 fanout --members "$members" --rate 1 --duration 1 \
    > "$out/cluster-fanout-cross-setup-$members-$rate.json"
  sleep 7
  commands > "$out/cluster-redis-$members-$rate-1.txt"
  idle_sample() { echo "$(date +%s.%N) $(cpu_ticks "$idle_pid") $(received 18303)"; }
  idle_sample > "$out/cluster-idle-$members-$rate.txt"
  "${lt[@]}" --label "fanout-cross-$members-$rate" --addr 127.0.0.1:18301 --also-addr 127.0.0.1:18302 fanout --members "$members" --rate "$rate" --duration "$duration" \
    > "$out/cluster-fanout-cross-$members-$rate.json"
  idle_sample >> "$out/cluster-idle-$members-$rate.txt"
  sleep 7
  idle_sample >> "$out/cluster-idle-$members-$rate.txt"
  commands > "$out/cluster-redis-$members-$rate-2.txt"
  for port in 18301 18302; do
    curl -s -H "Authorization: Bearer $token" "http://127.0.0.1:$port/metrics" > "$out/cluster-metrics-$members-$rate-$port.txt" || true
  done
  stop_all
done

echo "== 3. $conns_total idle connections over six instances"
per=$(((conns_total + 5) / 6))
servers=()
for i in 0 1 2 3 4 5; do
  start_instance "c$i" $((18310 + i)) "redis://127.0.0.1:$redis_port"
  servers+=("$last_pid")
done
gens=()
for i in 0 1 2 3 4 5; do
  "${lt[@]}" --label "connections-$i" --addr "127.0.0.1:$((18310 + i))" connections \
    --connections "$per" --users 100 --hold "$hold" --heartbeat 20 --server-pid "${servers[$i]}" \
    --source-base $((1 + i * 2)) > "$out/cluster-connections-$i.json" 2> "$work/gen-$i.err" &
  gens+=($!)
done
for g in "${gens[@]}"; do wait "$g" || { echo "a generator failed"; cat "$work"/gen-*.err | tail -20; exit 1; }; done
stop_all

echo "== 4. rolling restart of three instances under load (${rolling_s}s)"
ROLLING_SECONDS="$rolling_s" ROLLING_OUT="$out/cluster-rolling.json" \
  cargo test --release --locked -q -p parley-gateway --test cluster_rolling_bench -- --ignored --nocapture \
  > "$out/cluster-rolling.out" 2>&1 || { grep -v '^ *[0-9]*: \|^ *at ' "$out/cluster-rolling.out" | tail -30; exit 1; }

python3 scripts/bench_cluster_report.py "$out"
echo "== report: $out/cluster.md"
