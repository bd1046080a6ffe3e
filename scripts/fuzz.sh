#!/usr/bin/env bash
# `make fuzz`: coverage-guided runs of every fuzz target (parley_gateway::fuzzing, entry points in
# fuzz/fuzz_targets/) under libFuzzer with AddressSanitizer, via cargo fuzz; then
# bench/results/<ts>/fuzz.md with runs, speed, coverage and crashes per target.
#   FUZZ_SECONDS=300   per target        FUZZ_TARGETS="client_frame ..."   a subset
#   FUZZ_JOBS=2        targets at once
# Each run starts from the committed corpus (fuzz/corpus/<t>) and the crashes found before
# (fuzz/regressions/<t>); what it adds goes to fuzz/target/corpus/<t> (not committed). A crash is
# left in fuzz/artifacts/<t>/: copy it to fuzz/regressions/<t>/ with the fix, and `make test`
# replays it from then on (gateway/tests/fuzz_targets.rs).
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${FUZZ_SECONDS:-300}"
jobs="${FUZZ_JOBS:-2}"
targets="${FUZZ_TARGETS:-client_frame ws_reader rest_request search_query config}"

bin="fuzz/target/x86_64-unknown-linux-gnu/release"
# The binaries built below, run directly (cargo fuzz run would rebuild after any source change).
run_one() {
  local t="$1" dirs=()
  mkdir -p "fuzz/target/corpus/$t" "fuzz/artifacts/$t"
  dirs+=("fuzz/target/corpus/$t" "fuzz/corpus/$t")
  [ -d "fuzz/regressions/$t" ] && dirs+=("fuzz/regressions/$t")
  local status=0
  ASAN_OPTIONS="detect_odr_violation=0" "$bin/$t" "${dirs[@]}" \
      -artifact_prefix="fuzz/artifacts/$t/" -max_total_time="$seconds" -max_len=65536 \
      -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 > "$out/fuzz-$t.log" 2>&1 || status=$?
  echo "$status" > "$out/fuzz-$t.status"
}

if [ -n "${FUZZ_REPORT:-}" ]; then
  # FUZZ_REPORT=<results dir>: only write fuzz.md again, from that run's logs.
  out="$FUZZ_REPORT"
  ts="$(basename "$out")"
  read -r commit seconds jobs < "$out/fuzz.run"
else
  command -v cargo-fuzz > /dev/null || cargo install cargo-fuzz --locked
  # cargo fuzz passes -Zsanitizer=address to rustc; this machine's one toolchain is stable, and
  # RUSTC_BOOTSTRAP lets that stable compiler accept the flag (for this build only).
  export RUSTC_BOOTSTRAP=1
  (cd fuzz && cargo fuzz build -O)
  ts="$(date -u +%Y%m%dT%H%M%SZ)"
  out="bench/results/$ts"
  mkdir -p "$out"
  commit="$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- . || echo '+changes')"
  echo "$commit $seconds $jobs" > "$out/fuzz.run"
  running=0
  for t in $targets; do
    run_one "$t" &
    running=$((running + 1))
    if [ "$running" -ge "$jobs" ]; then
      wait -n || true
      running=$((running - 1))
    fi
  done
  wait
fi

{
  echo "# Fuzzing: $ts"
  echo
  echo "\`make fuzz\` (scripts/fuzz.sh) at $commit: cargo fuzz (libFuzzer + AddressSanitizer, release with"
  echo "debug assertions), $seconds s per target, $jobs at once, on this 2-core machine."
  echo
  echo "| target | runs | runs/s | coverage (edges) | features | corpus | peak RSS MB | result |"
  echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |"
  for t in $targets; do
    log="$out/fuzz-$t.log"
    runs="$(awk '/^stat::number_of_executed_units:/ {print $2}' "$log" | tail -1)"
    speed="$(awk '/^stat::average_exec_per_sec:/ {print $2}' "$log" | tail -1)"
    rss="$(awk '/^stat::peak_rss_mb:/ {print $2}' "$log" | tail -1)"
    last="$(grep -E '^#[0-9]+' "$log" | tail -1)"
    cov="$(echo "$last" | grep -o 'cov: [0-9]*' | awk '{print $2}')"
    ft="$(echo "$last" | grep -o 'ft: [0-9]*' | awk '{print $2}')"
    corpus="$(echo "$last" | grep -o 'corp: [0-9]*' | awk '{print $2}')"
    status="$(cat "$out/fuzz-$t.status")"
    if [ "$status" = 0 ]; then
      result="no crash"
    else
      result="**failed (exit $status)**: $(grep -m1 -E 'panicked at|ERROR: AddressSanitizer|ERROR: libFuzzer' "$log" | cut -c1-120)"
    fi
    echo "| $t | ${runs:-?} | ${speed:-?} | ${cov:-?} | ${ft:-?} | ${corpus:-?} | ${rss:-?} | $result |"
  done
  echo
  echo "Logs: fuzz-<target>.log beside this file. Crashes: fuzz/artifacts/<target>/."
} > "$out/fuzz.md"
cat "$out/fuzz.md"
failed=0
for t in $targets; do [ "$(cat "$out/fuzz-$t.status")" = 0 ] || failed=1; done
exit "$failed"
