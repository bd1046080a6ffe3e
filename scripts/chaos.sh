#!/usr/bin/env bash
# `make chaos`: the long proof campaigns of issue 20 that do not fit in `make test`. Today: the
# authorisation model (gateway/tests/authz_model.rs) over PARLEY_AUTHZ_OPS operations (140,000 by
# default; `make test` runs 2,000), release build. Writes bench/results/<timestamp>/chaos.md with
# the run's summary line and authz.log with its output.
set -euo pipefail
cd "$(dirname "$0")/.."
export PARLEY_TEST_DIR="${PARLEY_TEST_DIR:-/tmp/parley-test}"
ts="$(date -u +%Y%m%dT%H%M%SZ)"
out="bench/results/$ts"
mkdir -p "$out"
ops="${PARLEY_AUTHZ_OPS:-140000}"
echo "== authorisation model: $ops operations (release)"
started=$(date +%s)
status=0
PARLEY_AUTHZ_OPS="$ops" cargo test --release --locked -p parley-gateway --test authz_model -- --nocapture \
  > "$out/authz.log" 2>&1 || status=$?
took=$(( $(date +%s) - started ))
summary="$(grep -h "authorisation model:" "$out/authz.log" || echo "no summary: the run failed before it ended (see authz.log)")"
{
  echo "# Proofs ($ts)"
  echo
  echo "## Authorisation model"
  echo
  echo "\`PARLEY_AUTHZ_OPS=$ops scripts/chaos.sh\` on $(nproc) cores, ${took} s including the build:"
  echo
  echo "    $summary"
  echo
  if [ "$status" = 0 ]; then
    echo "Every answer matched the model (no leak to a non-member, no member refused) and every text"
    echo "message reached exactly the members it was sent to."
  else
    echo "**Failed** (exit $status): the minimal failing sequence and its seed are in authz.log and"
    echo "gateway/tests/authz_model.proptest-regressions."
  fi
} > "$out/chaos.md"
cat "$out/chaos.md"
exit "$status"
