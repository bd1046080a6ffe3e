#!/usr/bin/env bash
# Where a durable message's CPU goes: Parley (release) on a fresh PostgreSQL (initdb defaults, fsync
# and synchronous_commit on, plus pg_stat_statements), a warm-up, then `steady` at RATE msgs/s for
# DURATION s with CPU per message from /proc, Parley's user/system split, the statements' time
# (pg_stat_statements) and the WAL written (pg_stat_wal); PERF=1 also records Parley with perf,
# PERF=pg PostgreSQL's processes (flat profile: Debian's PostgreSQL has no frame pointers).
# Extra arguments are environment settings for Parley (e.g. PARLEY_PERSISTER__LANES=2).
# SCENARIO=fanout measures `fanout` instead (one group of 1,000, RATE messages/s published);
# CONNECTIONS and CONVERSATIONS size `steady` (default 50 in 10), MEMBERS `fanout` (1000). Besides LABEL.md and the
# loadtest's LABEL.json it writes LABEL.breakdown.json (scripts/breakdown.py): PostgreSQL's CPU per
# message by process (each lane, the indexer, the request pool, the WAL writer...), statements and
# WAL per message, Parley's user/system CPU, syscalls and context switches per message, and the
# server's latency histograms, over the run.
# Usage: scripts/profile.sh OUT_DIR RATE DURATION [PARLEY_KEY=VALUE ...]
set -euo pipefail
cd "$(dirname "$0")/.."
out="$1"; rate="$2"; duration="$3"; shift 3
mkdir -p "$out"
out="$(cd "$out" && pwd)"
scenario="${SCENARIO:-steady}"
connections="${CONNECTIONS:-50}"; conversations="${CONVERSATIONS:-10}"
label="$scenario-$rate"
if [ "$#" -gt 0 ]; then label="$label$(printf -- '-%s' "$@" | tr -c 'A-Za-z0-9=_.-' '_' | sed 's/PARLEY_//g')"; fi
work="$(mktemp -d /tmp/parley-profile-XXXXXX)"
chmod 755 "$work"
pg_bin="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)"
as_pg() { if [ "$(id -u)" = 0 ]; then su postgres -s /bin/sh -c "$1"; else sh -c "$1"; fi; }
mkdir -p "$work/pg" "$work/sock"
if [ "$(id -u)" = 0 ]; then chown postgres "$work/pg" "$work/sock"; fi
server=""
cleanup() {
  if [ -n "$server" ]; then kill -INT "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
  as_pg "$pg_bin/pg_ctl -D $work/pg -m fast -w stop" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
as_pg "$pg_bin/initdb -D $work/pg -U parley --auth=trust -E UTF8" >/dev/null
as_pg "$pg_bin/pg_ctl -D $work/pg -l $work/pg/server.log -w -o \"-k $work/sock -c listen_addresses='' -c max_connections=200 -c shared_preload_libraries=pg_stat_statements -c pg_stat_statements.track_planning=on\" start" >/dev/null
as_pg "$pg_bin/createdb -h $work/sock -U parley parley"
psql -h "$work/sock" -U parley -d parley -qc "CREATE EXTENSION pg_stat_statements"
sql() { psql -h "$work/sock" -U parley -d parley -P pager=off "$@"; }
pg_pid="$(head -n 1 "$work/pg/postmaster.pid")"
metrics_token="profile-$$-$(date +%s)"
env PARLEY_DATABASE__URL="postgresql://parley@/parley?host=$work/sock" PARLEY_LIMITS__ENABLED=false \
  PARLEY_LOG__LEVEL=warn PARLEY_METRICS__TOKEN="$metrics_token" PARLEY_SERVER__MAX_CONNECTIONS_PER_IP=0 "$@" \
  "${PARLEY_BIN:-./target/release/parley}" serve --data-dir "$work/data" --listen 127.0.0.1:18181 > /dev/null 2> "$out/$label.parley.log" &
server=$!
for _ in $(seq 1 300); do curl -sf http://127.0.0.1:18181/health/ready >/dev/null 2>&1 && break; sleep 0.1; done
lt=./target/release/parley-loadtest
"$lt" --addr 127.0.0.1:18181 steady --connections 50 --conversations 10 --rate 5000 --duration 8 >/dev/null 2>&1
sleep 3
sql -qAtc "SELECT pg_stat_statements_reset(), pg_stat_reset_shared('wal'), pg_stat_reset()" >/dev/null
# Every PostgreSQL process watched apart, named by what it does: pg/KIND/PID, KIND the backend
# type and, for client backends, the application name (`parley lane`, `parley indexer`, `parley`).
pg_cpu=()
while IFS='|' read -r kind pid; do
  [ -n "$pid" ] && pg_cpu+=(--cpu-of "pg/$kind/$pid=$pid")
done < <(sql -qAtc "SELECT CASE WHEN backend_type = 'client backend' THEN application_name ELSE backend_type END,
                           pid FROM pg_stat_activity WHERE pid <> pg_backend_pid()")
read -r u0 s0 < <(awk '{print $14, $15}' "/proc/$server/stat")
perf_pid=""
if [ "${PERF:-}" = pg ]; then
  pg_pids="$(pgrep -d, -u postgres postgres)"
  (sleep 2; perf record -e cpu-clock -F 999 -p "$pg_pids" -o "$out/$label.pg.perf.data" -- sleep 5 >/dev/null 2>&1) &
  perf_pid=$!
elif [ -n "${PERF:-}" ]; then
  (sleep 2; perf record -e cpu-clock -F 999 -g -p "$server" -o "$out/$label.perf.data" -- sleep 5 >/dev/null 2>&1) &
  perf_pid=$!
fi
if [ "$scenario" = fanout ]; then
  load=(fanout --members "${MEMBERS:-1000}" --rate "$rate" --duration "$duration")
else
  load=(steady --connections "$connections" --conversations "$conversations" --rate "$rate" --duration "$duration")
fi
# A sub-window of the measured run (from its first progress line, for DURATION - 2 s): Parley's
# /metrics and CPU ticks at both edges, its syscalls and context switches between them.
window=$(( duration > 3 ? duration - 2 : 1 ))
echo "$window" > "$work/window"
scrape() { curl -s -H "Authorization: Bearer $metrics_token" http://127.0.0.1:18181/metrics > "$1" || true; }
(
  for _ in $(seq 1 1200); do grep -q "sent" "$work/lt.err" 2>/dev/null && break; sleep 0.1; done
  scrape "$work/metrics0.txt"; awk '{print $14, $15}' "/proc/$server/stat" > "$work/ticks0"
  perf stat -x, -e raw_syscalls:sys_enter,context-switches -p "$server" -o "$work/perfstat.csv" \
    -- sleep "$window" >/dev/null 2>&1 || sleep "$window"
  scrape "$work/metrics1.txt"; awk '{print $14, $15}' "/proc/$server/stat" > "$work/ticks1"
) &
window_pid=$!
"$lt" --json --addr 127.0.0.1:18181 --cpu-of "parley=$server" --cpu-of "postgres=$pg_pid" --cpu-of generator=self \
  "${pg_cpu[@]}" "${load[@]}" > "$out/$label.json" 2> "$work/lt.err"
read -r u1 s1 < <(awk '{print $14, $15}' "/proc/$server/stat")
wait "$window_pid" || true
if [ -n "$perf_pid" ]; then wait "$perf_pid"; fi
sql -qAtc "SELECT coalesce(json_agg(s), '[]') FROM (SELECT calls, total_exec_time AS exec_ms, total_plan_time AS plan_ms, rows,
                  left(regexp_replace(query, '\s+', ' ', 'g'), 120) AS query
           FROM pg_stat_statements ORDER BY total_exec_time + total_plan_time DESC LIMIT 12) s" > "$work/statements.json"
sql -qAtc "SELECT row_to_json(w) FROM pg_stat_wal w" > "$work/wal.json"
python3 scripts/breakdown.py "$work" "$out/$label.json" > "$out/$label.breakdown.json"
cp "$work/metrics0.txt" "$out/$label.metrics-start.txt" 2>/dev/null || true
cp "$work/metrics1.txt" "$out/$label.metrics-end.txt" 2>/dev/null || true
{
  echo "# $label"
  echo
  echo "parley: user $(( (u1 - u0) * 10 )) ms, system $(( (s1 - s0) * 10 )) ms of CPU during the run"
  echo
  echo '```'
  python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); a=r["send_to_ack_us"]; l=r.get("publish_to_last_us"); print("acked/s in window %.0f  p50 %.2f ms  p99 %.2f ms  errors %s  cpu us/msg %s%s" % (r.get("achieved_rate") or r.get("acked_in_window", 0) / r["duration_s"], a["p50"]/1000, a["p99"]/1000, r["errors"] or "none", r.get("cpu_us_per_acked"), "  publish->last p50 %.2f ms p99 %.2f ms p99.9 %.2f ms" % (l["p50"]/1000, l["p99"]/1000, l["p999"]/1000) if l else ""))' "$out/$label.json"
  sql -c "SELECT calls, round(total_exec_time::numeric) AS exec_ms, round(total_plan_time::numeric) AS plan_ms, rows,
                 round((total_exec_time + total_plan_time)::numeric * 1000 / greatest(calls, 1)) AS us_per_call,
                 left(regexp_replace(query, '\s+', ' ', 'g'), 60) AS statement
          FROM pg_stat_statements ORDER BY total_exec_time + total_plan_time DESC LIMIT 8"
  sql -c "SELECT wal_records, wal_fpi, pg_size_pretty(wal_bytes) AS wal_bytes, wal_write, wal_sync FROM pg_stat_wal"
  sql -c "SELECT relname, n_tup_ins, n_tup_upd, n_tup_hot_upd, autovacuum_count, autoanalyze_count
          FROM pg_stat_user_tables WHERE n_tup_ins + n_tup_upd > 0 ORDER BY n_tup_ins + n_tup_upd DESC"
  echo '```'
} > "$out/$label.md"
cat "$out/$label.md"
