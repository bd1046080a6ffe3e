#!/usr/bin/env bash
# `make chaos`: the long proof campaigns of issue 20 that do not fit in `make test`, release build:
# - the authorisation model (gateway/tests/authz_model.rs) over PARLEY_AUTHZ_OPS operations
#   (140,000 by default; `make test` runs 2,000);
# - the nemesis (gateway/tests/chaos_nemesis.rs): PARLEY_CHAOS_CYCLES cycles (20 by default;
#   `make test` runs 2) of each fault under load (one instance: gateway, PostgreSQL, network, disk
#   and clock faults; two instances joined by Redis: instance kill, Redis partition, slow Redis
#   links, Redis kill), every history checked.
# - abuse (gateway/tests/chaos_abuse.rs): a slow consumer, PARLEY_ABUSE_HALF_OPEN half-open
#   handshakes (10,000), nesting bombs, a frame flood, reconnect storms of PARLEY_ABUSE_STORM
#   clients (200), PARLEY_ABUSE_SECONDS (5) each, a bystander and a busy group measured throughout.
# CHAOS_PARTS picks the parts ("authz nemesis abuse" by default). Writes
# bench/results/<timestamp>/chaos.md with a section per part, and each part's output beside it.
set -euo pipefail
cd "$(dirname "$0")/.."
export PARLEY_TEST_DIR="${PARLEY_TEST_DIR:-/tmp/parley-test}"
ts="$(date -u +%Y%m%dT%H%M%SZ)"
out="bench/results/$ts"
mkdir -p "$out"
parts="${CHAOS_PARTS:-authz nemesis abuse}"
ops="${PARLEY_AUTHZ_OPS:-140000}"
cycles="${PARLEY_CHAOS_CYCLES:-20}"
status=0
{
  echo "# Proofs ($ts)"
  echo
  echo "Commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD -- . 2>/dev/null || echo +changes), $(nproc) cores, \`scripts/chaos.sh\` (= \`make chaos\`), CHAOS_PARTS=\"$parts\"."
} > "$out/chaos.md"

if [[ " $parts " == *" authz "* ]]; then
  echo "== authorisation model: $ops operations (release)"
  started=$(date +%s)
  part=0
  PARLEY_AUTHZ_OPS="$ops" cargo test --release --locked -p parley-gateway --test authz_model -- --nocapture \
    > "$out/authz.log" 2>&1 || part=$?
  took=$(( $(date +%s) - started ))
  summary="$(grep -h "authorisation model:" "$out/authz.log" || echo "no summary: the run failed before it ended (see authz.log)")"
  {
    echo
    echo "## Authorisation model"
    echo
    echo "\`PARLEY_AUTHZ_OPS=$ops\`, ${took} s including the build:"
    echo
    echo "    $summary"
    echo
    if [ "$part" = 0 ]; then
      echo "Every answer matched the model (no leak to a non-member, no member refused) and every text"
      echo "message reached exactly the members it was sent to."
    else
      echo "**Failed** (exit $part): the minimal failing sequence and its seed are in authz.log and"
      echo "gateway/tests/authz_model.proptest-regressions."
    fi
  } >> "$out/chaos.md"
  [ "$part" = 0 ] || status=$part
fi

if [[ " $parts " == *" nemesis "* ]]; then
  echo "== nemesis: $cycles cycles of each fault (release)"
  started=$(date +%s)
  part=0
  # CHAOS_NEMESIS_ONLY=<name part>: only the campaigns whose test names contain it.
  PARLEY_CHAOS_CYCLES="$cycles" cargo test --release --locked -p parley-gateway --test chaos_nemesis -- \
    ${CHAOS_NEMESIS_ONLY:-} --nocapture --test-threads 1 > "$out/nemesis.log" 2>&1 || part=$?
  took=$(( $(date +%s) - started ))
  {
    echo
    echo "## Faults under load"
    echo
    echo "\`PARLEY_CHAOS_CYCLES=$cycles\`, ${took} s including the build. The real \`parley\` binary on its own"
    echo "PostgreSQL (fsync on); seven clients (\`testkit::chat::Resilient\`: reconnect, gap-fill by seq,"
    echo "resend unacknowledged sends with their client ids) in three overlapping groups and a stranger"
    echo "alone in a fourth, each sending all the time (at most 32 unacknowledged). Per cycle: 400 ms of"
    echo "load, the fault, 600 ms of load. Afterwards every client settles and gap-fills, and"
    echo "\`testkit::history::check\` compares every client's history with what PostgreSQL stores and"
    echo "what each client saw. *In doubt*: sends outstanding when a connection ended (committed or"
    echo "not); *resolved*: stored exactly once in the end. *Acked while down*: acknowledgements that"
    echo "arrived later than 250 ms after PostgreSQL was killed, stopped or cut off (the partition:"
    echo "a TCP proxy between gateway and PostgreSQL holds every byte for 800 ms, then releases them or"
    echo "resets every connection, alternately; *right after COMMIT*: the proxy reads PostgreSQL's"
    echo "protocol and holds every byte from the moment a COMMIT is sent, so PostgreSQL commits and its"
    echo "answer is held 800 ms, then every connection is reset: the outcome is unknown until the"
    echo "writer asks again) and before it was back; n/a where the fault has no"
    echo "such window (the gateway itself is killed; latency: 50 ms per chunk for a second; slow"
    echo "bandwidth: 32 KiB/s each way for a second; the gateway's wall clock stepped 10 minutes"
    echo "forward or back, alternately, for a second, then back to the true time (libfaketime; the"
    echo "monotonic clock untouched, as NTP leaves it); pg_wal's own 256 MiB tmpfs filled to the last"
    echo "byte for 800 ms with three WAL segment switches forced meanwhile (PostgreSQL PANICs for want"
    echo "of WAL space and is started again if its recovery found none either), then freed; the"
    echo "faults of two instances joined by Redis, where PostgreSQL stays up and acknowledgements go"
    echo "on: one instance killed and restarted, alternately; a partition between the instances and"
    echo "Redis through a second proxy, 800 ms, healed like the other; slow links to Redis (16 KiB/s,"
    echo "or 20 ms per chunk, alternately, for a second); Redis killed and started empty 500 ms"
    echo "later)."
    echo "*Recovery*: from the nemesis healing the fault (restart issued, SIGCONT) to the next"
    echo "acknowledgement any client received."
    echo
    echo "| fault | cycles | sends | acked | refused | in doubt resolved | lost | duplicated | reordered | seq gaps | deliveries missing | leaks | acked while down | recovery p50 ms | recovery max ms |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    grep -h "^test .*nemesis|\|^nemesis|" "$out/nemesis.log" | sed 's/^.*nemesis|/|/' || true
    echo
    grep -h "nemesis-note|" "$out/nemesis.log" | sed 's/^.*nemesis-note| /- /' || true
    echo
    if [ "$part" = 0 ]; then
      echo "Every history checked clean: 0 lost, 0 duplicated, 0 reordered, 0 acknowledged while"
      echo "PostgreSQL was unreachable."
    else
      echo "**Failed** (exit $part): see nemesis.log."
    fi
  } >> "$out/chaos.md"
  [ "$part" = 0 ] || status=$part
fi

if [[ " $parts " == *" abuse "* ]]; then
  seconds="${PARLEY_ABUSE_SECONDS:-5}"
  half_open="${PARLEY_ABUSE_HALF_OPEN:-10000}"
  storm="${PARLEY_ABUSE_STORM:-200}"
  echo "== abuse: $seconds s per phase (release)"
  part=0
  PARLEY_ABUSE_SECONDS="$seconds" PARLEY_ABUSE_HALF_OPEN="$half_open" PARLEY_ABUSE_STORM="$storm" \
    cargo test --release --locked -p parley-gateway --test chaos_abuse -- --nocapture \
    > "$out/abuse.log" 2>&1 || part=$?
  {
    echo
    echo "## Abuse"
    echo
    echo "The real \`parley\` binary (release) with production connection bounds (\`server.max_connections\`"
    echo "10,000, 1,000 per address, a 10 s head timeout, 64 KiB frames, nesting depth 8, 1 MiB or 1,024"
    echo "frames of outbox, \`limits.ws_connect\` 10 a minute per user); per-user event and send"
    echo "budgets raised so the measured clients are not throttled. A bystander pings (4 of 5) and sends"
    echo "in a DM (1 of 5), one at a time with 10 ms pauses; three members of a busy group send 2 KB"
    echo "messages back to back. Each phase lasts $seconds s (the slow consumer's until the server"
    echo "closes it or 5 s more). Latencies: count / p50 / p99 / max in ms. Memory: the gateway's"
    echo "peak resident set in the phase (/proc)."
    echo
    echo "| abuse | bystander pings | bystander sends | busy group send→ack | gateway RSS peak MiB | what the abuse got |"
    echo "|---|---|---|---|---:|---|"
    grep -h "abuse|" "$out/abuse.log" | sed 's/^.*abuse|/|/' || true
    echo
    if [ "$part" = 0 ]; then
      echo "Every bystander request was answered and the gateway was ready afterwards."
    else
      echo "**Failed** (exit $part): see abuse.log."
    fi
  } >> "$out/chaos.md"
  [ "$part" = 0 ] || status=$part
fi

cat "$out/chaos.md"
exit "$status"
