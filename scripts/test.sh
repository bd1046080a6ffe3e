#!/usr/bin/env bash
# `make test`: formatting, lints, then every test (unit and integration, on real PostgreSQL).
# Test clusters live under $PARLEY_TEST_DIR; any left running by a crashed test are stopped at exit.
set -euo pipefail
cd "$(dirname "$0")/.."

export PARLEY_TEST_DIR="${PARLEY_TEST_DIR:-/tmp/parley-test}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
# A clean clone gains nothing from incremental artifacts (2 GB of them): off under CI.
if [ -n "${CI:-}" ]; then export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"; fi

stop_strays() {
  local pattern="$PARLEY_TEST_DIR/cluster-" pid cmd
  for dir in /proc/[0-9]*; do
    pid="${dir#/proc/}"
    cmd="$(tr '\0' ' ' < "$dir/cmdline" 2>/dev/null || true)"
    case "$cmd" in
      *postgres*"$pattern"*) kill -QUIT "$pid" 2>/dev/null || true ;;
    esac
  done
}
# Installs still running in the background finish before the script exits (an apt-get killed
# halfway would leave dpkg half-configured).
finish() {
  stop_strays
  wait 2>/dev/null || true
}
trap finish EXIT

# System packages the tests need, then the two slow installs in the background while the Rust
# code compiles: Debian's Chromium (the browser tests) and the PyPI tools in a virtualenv (the
# OpenAPI validator; moto's S3 server for the uploads.store = "s3" tests; schemathesis for
# gateway/tests/api_schemathesis.rs). Each is waited for where it is first needed.
scripts/setup.sh unit
scripts/setup.sh proxy
mkdir -p target
scripts/setup.sh browser > target/setup-browser.log 2>&1 &
browser_setup=$!
venv=target/tools-venv
(
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    openapi-spec-validator 'moto[server]' 'schemathesis>=4.3,<5'
) > target/setup-pip.log 2>&1 &
pip_setup=$!
installed() {
  wait "$1" || { cat "$2"; echo "setup failed: $2" >&2; exit 1; }
}

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy --all-targets -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== OpenAPI document (openapi-spec-validator)"
installed "$pip_setup" target/setup-pip.log
export PARLEY_MOTO_SERVER="$PWD/$venv/bin/moto_server"
export PARLEY_SCHEMATHESIS="$PWD/$venv/bin/schemathesis"
cargo run --quiet --locked --bin parley -- openapi > target/openapi.json
"$venv/bin/python" -c 'import json, sys; from openapi_spec_validator import validate; validate(json.load(open(sys.argv[1]))); print("openapi: valid")' target/openapi.json

echo "== systemd unit (systemd-analyze verify config/parley.service)"
unit_dir="$(mktemp -d)"
# The unit names the installed binary; check it against one that exists here.
sed "s|/usr/local/bin/parley|$(command -v true)|" config/parley.service > "$unit_dir/parley.service"
systemd-analyze verify "$unit_dir/parley.service"
rm -rf "$unit_dir"
echo "unit: valid"

scripts/web.sh test

echo "== cargo test"
log="$(mktemp)"
status=0
cargo test --workspace --locked 2>&1 | tee "$log" || status=$?
# cargo prints one "test result" line per test binary, ending with empty doc-test runs; sum them
# into one closing line so the total is what a reader (or CI) sees last.
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "tests: %d passed, %d failed\n", p, f }' "$log"
rm -f "$log"
[ "$status" = 0 ] || exit "$status"

# The web client in Debian's Chromium against a real Parley (its own embedded PostgreSQL).
echo "== web: browser tests (Chromium + playwright-core)"
installed "$browser_setup" target/setup-browser.log
cat target/setup-browser.log
cargo build --quiet --locked --bin parley
(cd web && node e2e/run.mjs ../target/debug/parley)
