//! A small, deterministic mutation fuzzer for the stable toolchain: no coverage feedback (that is
//! `make fuzz`, libFuzzer), but the same targets, the committed corpus and a seed printed for
//! every run, so `make test` replays every known input and tries a bounded number of new ones.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Largest input the mutator builds.
pub const MAX_INPUT: usize = 64 * 1024;

/// xorshift64*: reproducible from its seed, good enough to pick mutations.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed.max(1))
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `0..n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

/// Bytes that matter to the parsers under test, spliced in whole.
const TOKENS: &[&[u8]] = &[
    b"{",
    b"}",
    b"[",
    b"]",
    b"\"",
    b"\\",
    b":",
    b",",
    b"null",
    b"true",
    b"-1",
    b"1e308",
    b"\\u0000",
    b"\\ud800",
    b"\xf0\x9f\x98",
    b"\xc0\x80",
    b"\x00",
    b"\r\n",
    b"\r\n\r\n",
    b"%",
    b"%00",
    b"%F0%9F",
    b"?",
    b"&",
    b"=",
    b"/",
    b"..",
    b"conv_",
    b"msg_",
    b"usr_",
    b"\"event\"",
    b"\"data\"",
    b"\"id\"",
    b"Content-Length: ",
    b"Transfer-Encoding: chunked\r\n",
    b"X-Forwarded-For: ",
    b"ffffffff\r\n",
    b"from:",
    b"in:",
    b"before:",
    b"has:",
    b"\x02",
    b"\x03",
    b"\x81",
    b"\x80",
    b"\x7e",
    b"\x7f",
    b"\xff\xff\xff\xff",
    b"[server]\n",
    b" = ",
    b"\"1s\"",
    b"PARLEY_",
    b"__",
];

/// One to four random edits of `input` (bit flips, bytes, tokens, cuts, copies, splices).
pub fn mutate(rng: &mut Rng, input: &[u8], corpus: &[Vec<u8>]) -> Vec<u8> {
    let mut out = input.to_vec();
    for _ in 0..1 + rng.below(4) {
        let len = out.len();
        match rng.below(8) {
            0 if len > 0 => {
                let at = rng.below(len);
                out[at] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let at = rng.below(len);
                out[at] = [0, 0x7F, 0x80, 0xFF, b'"', b'{', rng.below(256) as u8][rng.below(7)];
            }
            2 => {
                let token = TOKENS[rng.below(TOKENS.len())];
                let at = rng.below(len + 1);
                out.splice(at..at, token.iter().copied());
            }
            3 if len > 0 => {
                let at = rng.below(len);
                let end = (at + 1 + rng.below(16)).min(len);
                out.drain(at..end);
            }
            4 if len > 0 => {
                let at = rng.below(len);
                let end = (at + 1 + rng.below(64)).min(len);
                let copy = out[at..end].to_vec();
                let to = rng.below(len + 1);
                for _ in 0..1 + rng.below(3) {
                    out.splice(to..to, copy.iter().copied());
                }
            }
            5 if !corpus.is_empty() => {
                let other = &corpus[rng.below(corpus.len())];
                let cut = rng.below(len + 1);
                let from = rng.below(other.len() + 1);
                out.truncate(cut);
                out.extend_from_slice(&other[from..]);
            }
            6 if len > 0 => out.truncate(rng.below(len)),
            _ => {
                let at = rng.below(len + 1);
                out.insert(at, rng.below(256) as u8);
            }
        }
    }
    out.truncate(MAX_INPUT);
    out
}

/// Every file in `dirs` (missing folders are empty).
pub fn load_corpus(dirs: &[PathBuf]) -> Vec<(PathBuf, Vec<u8>)> {
    let mut inputs = Vec::new();
    for dir in dirs {
        let Ok(entries) = std::fs::read_dir(dir) else {
            continue;
        };
        let mut paths: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
        paths.sort();
        for path in paths {
            if let Ok(bytes) = std::fs::read(&path) {
                inputs.push((path, bytes));
            }
        }
    }
    inputs
}

/// What a bounded run did.
#[derive(Debug, Default)]
pub struct Report {
    pub replayed: usize,
    pub mutated: usize,
}

/// Replays `corpus`, then runs mutations of it for `budget` (at most `max_runs`). A panic saves the
/// input under `failures` and returns an error naming the file and the seed.
pub fn run(
    target: fn(&[u8]),
    corpus: &[(PathBuf, Vec<u8>)],
    seed: u64,
    (budget, max_runs): (Duration, usize),
    failures: &Path,
) -> Result<Report, String> {
    let inputs: Vec<Vec<u8>> = corpus.iter().map(|(_, bytes)| bytes.clone()).collect();
    let mut report = Report::default();
    for (path, bytes) in corpus {
        if catch_unwind(AssertUnwindSafe(|| target(bytes))).is_err() {
            return Err(format!("corpus input {} panics", path.display()));
        }
        report.replayed += 1;
    }
    let mut rng = Rng::new(seed);
    let started = Instant::now();
    while started.elapsed() < budget && report.mutated < max_runs {
        let base = match inputs.len() {
            0 => &[][..],
            n => &inputs[rng.below(n)][..],
        };
        let input = mutate(&mut rng, base, &inputs);
        if catch_unwind(AssertUnwindSafe(|| target(&input))).is_err() {
            let _ = std::fs::create_dir_all(failures);
            let file = failures.join(format!("crash-{seed:x}-{}", report.mutated));
            let _ = std::fs::write(&file, &input);
            return Err(format!(
                "input {} panics (seed {seed}, run {}); save it under fuzz/regressions/",
                file.display(),
                report.mutated
            ));
        }
        report.mutated += 1;
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_makes_the_same_inputs() {
        let corpus = vec![b"{\"event\":\"ping\"}".to_vec()];
        let (mut a, mut b) = (Rng::new(7), Rng::new(7));
        for _ in 0..100 {
            assert_eq!(
                mutate(&mut a, &corpus[0], &corpus),
                mutate(&mut b, &corpus[0], &corpus)
            );
        }
    }

    #[test]
    fn a_panicking_target_is_caught_and_saved() {
        fn picky(data: &[u8]) {
            assert!(!data.contains(&b'!'), "found it");
        }
        let dir = tempfile::tempdir().expect("a temp dir");
        let corpus = vec![(PathBuf::from("seed"), b"hello".to_vec())];
        let result = run(
            picky,
            &corpus,
            3,
            (Duration::from_secs(5), 1_000_000),
            dir.path(),
        );
        let error = result.expect_err("the mutator reaches a '!' byte");
        assert!(error.contains("seed 3"), "{error}");
        assert_eq!(std::fs::read_dir(dir.path()).expect("saved").count(), 1);
    }
}
