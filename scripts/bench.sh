#!/usr/bin/env bash
# `make bench` / `make bench-quick`: measure Parley on this machine and write
# bench/results/<timestamp>/ with report.md, the raw JSON of every run and SVG plots.
#
# A fresh embedded PostgreSQL (fsync and synchronous_commit on: Parley refuses otherwise), a release
# build, then the `steady` scenario at a ladder of offered rates, one Poisson run, `fanout`,
# `history`, `reconnect-storm` and `connections`; then, with Parley stopped, each peer alone on a
# fresh PostgreSQL of its own, up the same ladder: the seeds' own stack as written (Socket.IO +
# node-postgres, benches/peers/socketio), the same stack tuned (benches/peers/socketio-tuned: its
# pool size chosen by a sweep first), ejabberd with MUC rooms archived in SQL
# (benches/peers/ejabberd: its SQL pool swept likewise) and Matrix Synapse (PyPI,
# benches/peers/synapse). CPU per message of every process is read from /proc.
# Rate limits are off for the load (PARLEY_LIMITS__ENABLED=false), the connection caps raised
# for the connections scenario (every generator socket comes from 127.0.0.x, so the per-address
# cap is off too), metrics scraped with a bearer token, and the heartbeat interval made long, because that scenario holds
# idle sockets (sending nothing) for longer than two default intervals (60 s) while it opens them
# all; nothing else is changed from the defaults.
# Usage: scripts/bench.sh [quick]
set -euo pipefail
# Every socket is a file: take the hard limit (the connections scenario needs thousands).
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
cd "$(dirname "$0")/.."

mode="${1:-full}"
# One ladder for every system: each climbs it until its knee (the first rate most of whose runs
# are not sustained, reported, then no higher), each rate run `runs` times.
if [ "$mode" = quick ]; then
  rates=(5 25 100 500 1000 2000 5000); duration=4; runs=3
  fanout_members=200; connections_n=2000; storm_n=200; history_rate=500; goal_rate=5000; upload_mib=5
else
  rates=(5 10 25 50 100 250 500 1000 2000 5000 10000 15000 20000 30000 40000 50000 60000 80000); duration=10; runs=3
  fanout_members=1000; connections_n=19000; storm_n=1000; history_rate=1000; goal_rate=20000; upload_mib=25
fi
connections=50
conversations=10
port=18181
peer_port=18182
synapse_port=18183
xmpp_port=18184
peer_pg_port=18190
# Pool sizes tried for the tuned peers (per worker for Socket.IO), each at sweep_rate.
pool_sizes=(2 5 10 20 40)
sweep_rate=2000
stamp="$(date -u +%Y%m%dT%H%M%SZ)"
out="bench/results/$stamp"
mkdir -p "$out"
work="$(mktemp -d /tmp/parley-bench-XXXXXX)"
chmod 755 "$work"

# Each peer runs alone on a fresh PostgreSQL cluster of its own (same version and settings as
# the embedded one: initdb defaults, fsync and synchronous_commit on), started as the postgres
# user when root. fresh_pg NAME [TCP_PORT]: starts it (on 127.0.0.1:TCP_PORT too, if given), sets
# pg_sock, pg_pid and pg_dir; stop_pg stops the last one started.
as_pg() { if [ "$(id -u)" = 0 ]; then su postgres -s /bin/sh -c "$1"; else sh -c "$1"; fi; }
fresh_pg() {
  local dir="$work/pg-$1" listen="''" port=5432
  if [ -n "${2:-}" ]; then listen="127.0.0.1"; port="$2"; fi
  pg_sock="$work/sock-$1"
  mkdir -p "$dir" "$pg_sock"
  if [ "$(id -u)" = 0 ]; then chown postgres "$dir" "$pg_sock"; fi
  as_pg "$pg_bin/initdb -D $dir -U parley --auth=trust -E UTF8" >/dev/null
  as_pg "$pg_bin/pg_ctl -D $dir -l $dir/server.log -w -o \"-k $pg_sock -c listen_addresses=$listen -p $port -c max_connections=200\" start" >/dev/null
  as_pg "$pg_bin/createdb -h $pg_sock -p $port -U parley parley"
  pg_pid="$(head -n 1 "$dir/postmaster.pid")"
  pg_dir="$dir"
  fresh_dirs+=("$dir")
}
stop_pg() { as_pg "$pg_bin/pg_ctl -D $pg_dir -m fast -w stop" >/dev/null 2>&1 || true; }
fresh_dirs=()

cleanup() {
  for dir in "${fresh_dirs[@]}"; do as_pg "$pg_bin/pg_ctl -D $dir -m fast -w stop" >/dev/null 2>&1 || true; done
  if [ -n "${peer:-}" ]; then kill "$peer" 2>/dev/null || true; fi
  if [ -n "${xmpp_work:-}" ]; then benches/peers/ejabberd/stop.sh "$xmpp_work" || true; fi
  if [ -n "${synapse:-}" ]; then kill "$synapse" 2>/dev/null || true; fi
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
  echo "open_files_limit=$(ulimit -Hn)"
  echo "postgresql=$("$pg_bin/postgres" --version)"
  echo "rustc=$(rustc --version)"
  echo "parley=$(git rev-parse --short HEAD)$(git diff --quiet || echo '+dirty')"
  fsync="$("$pg_bin/pg_test_fsync" -s 1 -f "$work/fsync.test" 2>/dev/null | awk '/fdatasync/ && /ops\/sec/ {print $2" ops/s, "$4" us/op"; exit}')"
  echo "pg_test_fsync_fdatasync=${fsync:-unavailable}"
} > "$out/machine.txt"
cat "$out/machine.txt"

echo "== starting parley"
# The connections scenario needs more sockets per user and per process than the defaults allow
# (the process's open-file limit, 20000 here, is the real ceiling).
metrics_token="bench-metrics-$(date +%s)-$$"
PARLEY_LIMITS__ENABLED=false PARLEY_LOG__LEVEL=warn PARLEY_WS__MAX_PER_USER=1000 \
  PARLEY_SERVER__MAX_CONNECTIONS=19500 PARLEY_SERVER__MAX_CONNECTIONS_PER_IP=0 \
  PARLEY_METRICS__TOKEN="$metrics_token" PARLEY_PRESENCE__HEARTBEAT_INTERVAL=1h \
  ./target/release/parley serve --data-dir "$work/data" --listen "127.0.0.1:$port" \
  > "$work/parley.out" 2> "$out/parley.log" &
server=$!
for _ in $(seq 1 600); do
  curl -sf "http://127.0.0.1:$port/health/ready" >/dev/null 2>&1 && break
  sleep 0.1
done
curl -sf "http://127.0.0.1:$port/health/ready" >/dev/null || { echo "parley did not become ready"; cat "$out/parley.log"; exit 1; }

lt=(./target/release/parley-loadtest --json --hgrm-dir "$out/hgrm")
# CPU per message from /proc over each run's window: Parley (without its PostgreSQL child),
# PostgreSQL (postmaster and backends), the generator itself; each peer's own PostgreSQL later.
pg_pid="$(head -n 1 "$work/data/pg/data/postmaster.pid")"

# ladder NAME PROTOCOL PORT WARMUP_RATE PID: the same for every system. A warm-up at a rate it
# sustains, twice a run's length (not reported: a new cluster zero-fills WAL segments, analyzes
# its first rows and fills caches; JITs warm up), 5 s to settle, then `steady` at each rate of the
# ladder, `runs` times, until the knee. CPU per message of the system, PostgreSQL and the
# generator from /proc.
ladder() {
  local name="$1" protocol="$2" addr="127.0.0.1:$3" warm="$4" pid="$5"
  local cpu=(--cpu-of "$name=$pid" --cpu-of "postgres=$pg_pid" --cpu-of generator=self)
  echo "== $name warm-up: steady at $warm msgs/s for $((duration * 2))s (not reported)"
  "${lt[@]}" --label "warmup-$name" --protocol "$protocol" --addr "$addr" steady \
    --connections "$connections" --conversations "$conversations" --rate "$warm" --duration $((duration * 2)) \
    > "$out/warmup-$name.json" || true
  sleep 5
  for rate in "${rates[@]}"; do
    local files=()
    for k in $(seq 1 "$runs"); do
      local file="$out/steady-$name-$rate-r$k.json"
      echo "== $name steady at $rate msgs/s for ${duration}s (run $k of $runs)"
      "${lt[@]}" "${cpu[@]}" --label "steady-$name-$rate-r$k" --protocol "$protocol" --addr "$addr" steady \
        --connections "$connections" --conversations "$conversations" --rate "$rate" --duration "$duration" \
        > "$file" 2> "$file.err" || {
          # The generator gave up (e.g. the server closed connections): keep why, for the report.
          { grep -aE '^(Error|Caused by)|panicked' "$file.err" || tail -n 3 "$file.err"; } | head -n 5 \
            > "${file%.json}.failed"
          cat "${file%.json}.failed"; rm -f "$file" "$file.err"; break; }
      rm -f "$file.err"
      python3 scripts/bench_report.py --summary "$file"
      files+=("$file")
    done
    [ "${#files[@]}" -gt 0 ] || break
    python3 scripts/bench_report.py --rung "${files[@]}" || break
  done
}

ladder parley parley "$port" 5000 "$server"

echo "== parley steady, Poisson arrivals, at 5000 msgs/s"
"${lt[@]}" --label steady-parley-poisson-5000 --arrivals poisson --addr "127.0.0.1:$port" steady \
  --connections "$connections" --conversations "$conversations" --rate 5000 --duration "$duration" \
  > "$out/poisson-parley-5000.json"
python3 scripts/bench_report.py --summary "$out/poisson-parley-5000.json"

echo "== fanout: one group of $fanout_members, 250 msgs/s"
"${lt[@]}" --label fanout --addr "127.0.0.1:$port" fanout \
  --members "$fanout_members" --rate 250 --duration "$duration" > "$out/fanout.json"
echo "== history: REST pages at $history_rate/s"
"${lt[@]}" --label history --addr "127.0.0.1:$port" history \
  --messages 5000 --rate "$history_rate" --duration "$duration" > "$out/history.json"
echo "== reconnect-storm: $storm_n members"
"${lt[@]}" --label storm --addr "127.0.0.1:$port" reconnect-storm \
  --connections "$storm_n" --rate 200 > "$out/storm.json"
echo "== connections: $connections_n idle"
"${lt[@]}" --label connections --addr "127.0.0.1:$port" connections \
  --connections "$connections_n" --users 100 --server-pid "$server" > "$out/connections.json"
echo "== uploads: 20 at once of $upload_mib MiB, 2 rounds"
"${lt[@]}" --label uploads --addr "127.0.0.1:$port" uploads \
  --concurrency 20 --size-mib "$upload_mib" --rounds 2 --server-pid "$server" > "$out/uploads.json"

curl -s -H "Authorization: Bearer $metrics_token" "http://127.0.0.1:$port/metrics" > "$out/metrics.txt" || true
# Parley stops: every peer runs alone, each on a fresh database.
kill -INT "$server" 2>/dev/null || true
wait "$server" 2>/dev/null || true
server=""

# Where Parley's cost goes, for the report's goals section: scripts/profile.sh (Parley alone on a
# fresh PostgreSQL with pg_stat_statements; each PostgreSQL process, statement and the WAL per
# message; Parley's syscalls per message) at the goals' rate and for fanout, into breakdown/.
echo "== breakdown: steady at $goal_rate msgs/s and fanout (scripts/profile.sh)"
CONNECTIONS="$connections" CONVERSATIONS="$conversations" \
  scripts/profile.sh "$out/breakdown" "$goal_rate" "$duration" > "$out/breakdown.log" 2>&1 \
  || echo "   steady breakdown failed (see breakdown.log)"
SCENARIO=fanout MEMBERS="$fanout_members" \
  scripts/profile.sh "$out/breakdown" 250 "$duration" >> "$out/breakdown.log" 2>&1 \
  || echo "   fanout breakdown failed (see breakdown.log)"

wait_port() {
  for _ in $(seq 1 300); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}

# sweep NAME PROTOCOL PORT START STOP: for each of pool_sizes, the system alone on a fresh database
# (START SIZE starts both, sets `peer` and `pg_pid`; STOP stops both), a warm-up, then one `steady`
# run at sweep_rate; the size with the lowest p99 among the runs that sustained it (if none did,
# the one that acked the most within its window) becomes `chosen`. Every run is kept (sweep-NAME-SIZE.json) and the report shows them.
sweep() {
  local name="$1" protocol="$2" addr="127.0.0.1:$3" start="$4" stop="$5" files=()
  for size in "${pool_sizes[@]}"; do
    echo "== $name sweep: pool $size at $sweep_rate msgs/s"
    "$start" "$size"
    "${lt[@]}" --label "sweep-warm-$name-$size" --protocol "$protocol" --addr "$addr" steady \
      --connections "$connections" --conversations "$conversations" --rate 500 --duration "$duration" \
      > /dev/null 2>&1 || true
    local file="$out/sweep-$name-$size.json"
    "${lt[@]}" --cpu-of "$name=$peer" --cpu-of "postgres=$pg_pid" --cpu-of generator=self \
      --label "sweep-$name-$size" --protocol "$protocol" --addr "$addr" steady \
      --connections "$connections" --conversations "$conversations" --rate "$sweep_rate" --duration "$duration" \
      > "$file" || rm -f "$file"
    if [ -f "$file" ]; then
      python3 scripts/bench_report.py --summary "$file"
      python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); r["pool_size"]=int(sys.argv[2]); json.dump(r,open(sys.argv[1],"w"))' "$file" "$size"
      files+=("$file")
    fi
    "$stop"
  done
  chosen="$(python3 scripts/bench_report.py --best-pool "${files[@]}")"
  echo "== $name: pool size $chosen chosen"
}

# Peer 1: the seeds' own stack as written (Socket.IO + node-postgres), on a fresh PostgreSQL with
# Parley's schema (its tables are the seeds' schema; `parley migrate` creates them).
migrate_fresh() {
  PARLEY_DATABASE__URL="postgresql://parley@/parley?host=$pg_sock" PARLEY_LOG__LEVEL=warn \
    ./target/release/parley migrate --data-dir "$work/migrate-$1" > /dev/null
}
if command -v npm >/dev/null 2>&1; then
  echo "== peer: socket.io + node-postgres as written (benches/peers/socketio), alone on a fresh PostgreSQL"
  fresh_pg socketio
  migrate_fresh socketio
  (cd benches/peers/socketio && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
  PGHOST="$pg_sock" PEER_PORT="$peer_port" node benches/peers/socketio/server.js \
    > "$out/peer-socketio.log" 2>&1 &
  peer=$!
  wait_port "$peer_port"
  # Warmed up like Parley (JIT, pool, caches) at a rate it sustains.
  ladder socketio socketio "$peer_port" 500 "$peer"
  kill "$peer" 2>/dev/null || true
  wait "$peer" 2>/dev/null || true
  stop_pg

  # Peer 2: the same stack tuned (two workers, one prepared statement per message), its pool size
  # per worker chosen by the sweep.
  echo "== peer: socket.io tuned (benches/peers/socketio-tuned), alone on a fresh PostgreSQL"
  (cd benches/peers/socketio-tuned && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
  tuned_runs=0
  start_tuned() {
    tuned_runs=$((tuned_runs + 1))
    fresh_pg "tuned-$tuned_runs"
    migrate_fresh "tuned-$tuned_runs"
    PGHOST="$pg_sock" PEER_PORT="$peer_port" PEER_POOL_SIZE="$1" node benches/peers/socketio-tuned/server.js \
      >> "$out/peer-socketio-tuned.log" 2>&1 &
    peer=$!
    wait_port "$peer_port"
    sleep 1
  }
  stop_tuned() { kill "$peer" 2>/dev/null || true; wait "$peer" 2>/dev/null || true; peer=""; stop_pg; }
  sweep socketio-tuned socketio "$peer_port" start_tuned stop_tuned
  start_tuned "$chosen"
  echo "pool_size=$chosen" > "$out/peer-socketio-tuned.txt"
  ladder socketio-tuned socketio "$peer_port" 500 "$peer"
  stop_tuned
else
  echo "== peer: socket.io skipped (no npm; install nodejs and npm)" | tee "$out/peer-socketio.log"
fi

# Peer 3: ejabberd (Debian's), MUC rooms archived by mod_mam in its own schema on a fresh
# PostgreSQL reached over loopback TCP; its SQL pool chosen by the sweep.
if command -v ejabberdctl >/dev/null 2>&1; then
  echo "== peer: ejabberd $(dpkg-query -W -f='${Version}' ejabberd 2>/dev/null) (benches/peers/ejabberd), alone on a fresh PostgreSQL"
  xmpp_runs=0
  start_ejabberd() {
    xmpp_runs=$((xmpp_runs + 1))
    fresh_pg "ejabberd-$xmpp_runs" "$peer_pg_port"
    xmpp_work="$work/ejabberd-$xmpp_runs"
    peer="$(benches/peers/ejabberd/start.sh "$xmpp_work" "$peer_pg_port" "$xmpp_port" "$1")"
    wait_port "$xmpp_port"
    sleep 2
  }
  stop_ejabberd() {
    benches/peers/ejabberd/stop.sh "$xmpp_work"
    # Not this shell's child: wait for its process tree to end.
    for _ in $(seq 1 150); do kill -0 "$peer" 2>/dev/null || break; sleep 0.2; done
    cat "$xmpp_work"/logs/error.log >> "$out/peer-ejabberd.log" 2>/dev/null || true
    xmpp_work=""; peer=""; stop_pg
  }
  sweep ejabberd xmpp "$xmpp_port" start_ejabberd stop_ejabberd
  start_ejabberd "$chosen"
  echo "pool_size=$chosen" > "$out/peer-ejabberd.txt"
  ladder ejabberd xmpp "$xmpp_port" 500 "$peer"
  stop_ejabberd
else
  echo "== peer: ejabberd skipped (apt-get install ejabberd erlang-p1-pgsql)" | tee "$out/peer-ejabberd.log"
fi

# Peer 4: Matrix Synapse (pinned, from PyPI) alone on a fresh PostgreSQL, rate limits off.
# Python: one process; it climbs the same ladder as everyone and stops at its knee.
echo "== peer: matrix synapse (benches/peers/synapse), alone on a fresh PostgreSQL"
mkdir -p "$work/synapse"
fresh_pg synapse
if synapse=$(benches/peers/synapse/start.sh "$work/synapse" "$pg_sock" "$synapse_port" 2>"$out/peer-synapse.log"); then
  for _ in $(seq 1 300); do
    curl -sf "http://127.0.0.1:$synapse_port/_matrix/client/versions" >/dev/null 2>&1 && break
    sleep 0.2
  done
  ladder synapse matrix "$synapse_port" 5 "$synapse"
  kill "$synapse" 2>/dev/null || true
  wait "$synapse" 2>/dev/null || true
  cp "$work/synapse/homeserver.log" "$out/synapse-homeserver.log" 2>/dev/null || true
else
  echo "   synapse did not start (see peer-synapse.log)"
fi
stop_pg

python3 scripts/bench_report.py "$out" "$mode"
echo "== report: $out/report.md"

# Several instances joined by Redis, into the same directory (cluster.md); BENCH_CLUSTER=0 skips it.
if [ "${BENCH_CLUSTER:-1}" != 0 ]; then scripts/bench-cluster.sh "$mode" "$out"; fi
