//! Nothing here: the crate exists for its criterion benchmarks (`benches/hot_paths.rs`, run with
//! `cargo bench -p parley-benches`) and the load-test scenarios documented in `benches/README.md`.
