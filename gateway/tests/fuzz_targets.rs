//! The fuzz targets (`parley_gateway::fuzzing`) on the stable toolchain: every input of the
//! committed corpus and of `fuzz/regressions/` (crashes found earlier) replays, then a bounded
//! mutation run per target (`PARLEY_FUZZ_SECONDS`, default 2; `PARLEY_FUZZ_SEED` to repeat one).
//! Coverage-guided runs are `make fuzz` (libFuzzer via cargo fuzz).

use std::path::PathBuf;
use std::time::Duration;

use parley_gateway::fuzzing::TARGETS;
use parley_testkit::mutate;

fn fuzz(name: &str) {
    let (_, target) = TARGETS
        .iter()
        .find(|(n, _)| *n == name)
        .expect("a known target");
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    let corpus = mutate::load_corpus(&[
        root.join("corpus").join(name),
        root.join("regressions").join(name),
    ]);
    assert!(!corpus.is_empty(), "fuzz/corpus/{name} has no seeds");
    let seconds = std::env::var("PARLEY_FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2);
    let seed = std::env::var("PARLEY_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1)
        });
    let failures = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("fuzz-failures");
    // The panics the harness catches would print their messages: keep the output for real ones.
    let report = mutate::run(
        *target,
        &corpus,
        seed,
        (Duration::from_secs(seconds), 2_000_000),
        &failures,
    );
    match report {
        Ok(report) => eprintln!(
            "fuzz {name}: seed {seed}: {} corpus inputs replayed, {} mutations, no failure",
            report.replayed, report.mutated
        ),
        Err(error) => panic!("fuzz {name}: {error}"),
    }
}

#[test]
fn client_frame() {
    fuzz("client_frame");
}

#[test]
fn ws_reader() {
    fuzz("ws_reader");
}

#[test]
fn rest_request() {
    fuzz("rest_request");
}

#[test]
fn search_query() {
    fuzz("search_query");
}

#[test]
fn config() {
    fuzz("config");
}

#[test]
fn every_target_has_a_test_and_a_libfuzzer_entry() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    let this = include_str!("fuzz_targets.rs");
    for (name, _) in TARGETS {
        assert!(this.contains(&format!("fn {name}()")), "no test for {name}");
        let entry = root.join("fuzz_targets").join(format!("{name}.rs"));
        assert!(entry.exists(), "{} is missing", entry.display());
    }
}
