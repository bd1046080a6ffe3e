//! Just enough of PostgreSQL's frontend protocol to see a COMMIT go by, for the chaos proxy's
//! `BlackholeAfterCommit`: message framing (the untyped startup messages first), statement names
//! prepared as COMMIT (Parse), and their execution (Bind) or a simple-query COMMIT (Query). Only
//! the first bytes of each message are kept; the rest is skipped, so memory stays small.

use std::collections::HashSet;

/// Bytes of a message body kept to read its names and query.
const PREFIX: usize = 256;

#[derive(Debug, Default)]
pub struct CommitSpotter {
    started: bool,
    /// The header (type byte and length, or a startup message's length) being collected.
    head: Vec<u8>,
    /// The body prefix being collected, and how many body bytes are still to come.
    body: Vec<u8>,
    left: usize,
    kind: u8,
    commits: HashSet<Vec<u8>>,
}

fn is_commit(query: &[u8]) -> bool {
    let text = String::from_utf8_lossy(query);
    text.trim()
        .trim_end_matches(';')
        .trim()
        .eq_ignore_ascii_case("commit")
}

/// The NUL-terminated strings at the start of `body`.
fn strings(body: &[u8]) -> impl Iterator<Item = &[u8]> {
    body.split(|b| *b == 0)
}

impl CommitSpotter {
    /// Feeds the next bytes the client sent; true if they finish a COMMIT being asked for.
    pub fn feed(&mut self, mut bytes: &[u8]) -> bool {
        let mut hit = false;
        while !bytes.is_empty() {
            if self.left > 0 {
                let take = self.left.min(bytes.len());
                let room = PREFIX.saturating_sub(self.body.len()).min(take);
                self.body.extend_from_slice(&bytes[..room]);
                self.left -= take;
                bytes = &bytes[take..];
                if self.left == 0 {
                    hit |= self.finish();
                }
                continue;
            }
            let want = if self.started { 5 } else { 8 };
            let take = (want - self.head.len()).min(bytes.len());
            self.head.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
            if self.head.len() < want {
                break;
            }
            let (kind, rest) = if self.started {
                let len =
                    u32::from_be_bytes([self.head[1], self.head[2], self.head[3], self.head[4]]);
                (self.head[0], (len as usize).saturating_sub(4))
            } else {
                let len =
                    u32::from_be_bytes([self.head[0], self.head[1], self.head[2], self.head[3]]);
                let code =
                    u32::from_be_bytes([self.head[4], self.head[5], self.head[6], self.head[7]]);
                // SSLRequest and GSSENCRequest are answered with one byte; the startup follows.
                if code != 80_877_103 && code != 80_877_104 {
                    self.started = true;
                }
                (0, (len as usize).saturating_sub(8))
            };
            self.head.clear();
            self.kind = kind;
            self.body.clear();
            self.left = rest;
            if rest == 0 {
                hit |= self.finish();
            }
        }
        hit
    }

    /// One message's body prefix is complete.
    fn finish(&mut self) -> bool {
        let mut parts = strings(&self.body);
        match self.kind {
            b'P' => {
                let (name, query) = (
                    parts.next().unwrap_or_default(),
                    parts.next().unwrap_or_default(),
                );
                if is_commit(query) {
                    self.commits.insert(name.to_vec());
                }
                false
            }
            b'B' => {
                let _portal = parts.next();
                let statement = parts.next().unwrap_or_default();
                self.commits.contains(statement)
            }
            b'Q' => is_commit(parts.next().unwrap_or_default()),
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(kind: u8, body: &[u8]) -> Vec<u8> {
        let mut out = vec![kind];
        out.extend_from_slice(&((body.len() + 4) as u32).to_be_bytes());
        out.extend_from_slice(body);
        out
    }

    fn startup() -> Vec<u8> {
        let body = b"\0\x03\0\0user\0parley\0\0";
        let mut out = ((body.len() + 4) as u32).to_be_bytes().to_vec();
        out.extend_from_slice(body);
        out
    }

    #[test]
    fn a_prepared_commit_is_seen_when_bound_even_split_byte_by_byte() {
        let mut stream = startup();
        stream.extend(message(b'P', b"s7\0COMMIT\0\0\0"));
        stream.extend(message(b'P', b"s8\0SELECT 1\0\0\0"));
        stream.extend(message(b'S', b""));
        let mut spotter = CommitSpotter::default();
        assert!(!spotter.feed(&stream));
        let select = message(b'B', b"\0s8\0\0\0\0\0\0\0");
        assert!(!spotter.feed(&select));
        let mut commit = message(b'B', b"\0s7\0\0\0\0\0\0\0");
        commit.extend(message(b'E', b"\0\0\0\0\0"));
        let mut seen = false;
        for byte in &commit {
            seen |= spotter.feed(std::slice::from_ref(byte));
        }
        assert!(seen);
        assert!(spotter.feed(&message(b'Q', b"commit;\0")));
        // A long Bind (a batch's arrays) is skipped, not held.
        let big = message(b'B', &[b"\0s8\0".as_slice(), &vec![7u8; 100_000]].concat());
        assert!(!spotter.feed(&big));
        assert!(spotter.body.capacity() <= 4 * PREFIX);
    }
}
