# Parley: two commands. `make run` starts Parley; `make test` checks everything CI checks.
# Both install missing system packages first (apt-get as root; otherwise they print what to install).

CARGO ?= cargo
ARGS ?=

.PHONY: all setup run web build test bench bench-quick bench-cluster bench-micro chaos fuzz fmt clippy clean-test

all: build

## Install missing system packages (PostgreSQL server binaries).
setup:
	@scripts/setup.sh

## Build in release mode (and the web client, when missing or stale) and run `parley serve` on the
## embedded PostgreSQL in ./.parley; open the URL it prints.
run: setup
	@scripts/web.sh build
	$(CARGO) build --release --locked --bin parley
	exec ./target/release/parley --config config/parley.toml serve $(ARGS)

## Build the web client into web/dist (when missing or stale).
web:
	@scripts/web.sh build

## The release binary, with the web client built into it.
build:
	@scripts/web.sh build
	$(CARGO) build --release --locked --bin parley

## Formatting check, clippy -D warnings, and every test (with real PostgreSQL).
test: setup
	@scripts/test.sh

## Measure Parley (release build, fresh PostgreSQL with fsync on): bench/results/<timestamp>/.
bench:
	@scripts/setup.sh bench
	@scripts/bench.sh full

## Several instances joined by Redis: cross-instance fan-out, Redis commands per message, 100k idle
## connections over six instances, a rolling restart under load: bench/results/<timestamp>/cluster.md.
bench-cluster:
	@scripts/setup.sh bench
	@scripts/bench-cluster.sh full

## A smaller run: shorter runs and ladder, every peer (about 20 minutes with a warm build, plus the cluster part).
bench-quick:
	@scripts/setup.sh bench
	@scripts/bench.sh quick

## The long proofs (issue 20): the authorisation model over 140,000 operations, 20 cycles of each
## fault under load (nemesis), abuse with a bystander measured: bench/results/<timestamp>/chaos.md.
chaos: setup
	@scripts/setup.sh proxy
	@scripts/chaos.sh

## Coverage-guided fuzzing (cargo fuzz, libFuzzer + AddressSanitizer) of every fuzz target,
## FUZZ_SECONDS each (default 300): bench/results/<timestamp>/fuzz.md. `make test` replays the corpus.
fuzz:
	@scripts/fuzz.sh

fmt:
	$(CARGO) fmt --all

clippy:
	$(CARGO) clippy --workspace --all-targets -- -D warnings

## Remove test clusters left under /tmp/parley-test (the template is rebuilt on demand).
clean-test:
	rm -rf /tmp/parley-test

## criterion micro-benchmarks of the hot paths (frame parse/encode, local fan-out, batch building).
bench-micro:
	$(CARGO) bench --locked -p parley-benches --bench hot_paths
