//! A history of chat operations (who sent what, when, and what came back) and its checker, in
//! the manner of Jepsen: clients record every send as invoked, then ok (with its seq), failed (an
//! error that is not retryable) or in doubt (the connection went away first: committed or not,
//! nobody knows until a resend with the same client id answers). After the run, a final read of
//! what PostgreSQL stores and what each client saw is checked against the history.

use std::collections::{BTreeMap, HashMap, HashSet};

use tokio::time::Instant;

/// One send.
#[derive(Debug, Clone)]
pub struct Op {
    pub client: String,
    pub cid: String,
    pub conversation: String,
    pub invoked: Instant,
    /// The first acknowledgement: its seq and when it arrived.
    pub acked: Option<(i64, Instant)>,
    /// The code of a refusal that is not retryable.
    pub failed: Option<String>,
    /// The connection ended while this send was outstanding.
    pub in_doubt: bool,
}

impl Op {
    /// A send just written to the socket.
    pub fn invoked(client: &str, cid: &str, conversation: &str) -> Self {
        Self {
            client: client.to_owned(),
            cid: cid.to_owned(),
            conversation: conversation.to_owned(),
            invoked: Instant::now(),
            acked: None,
            failed: None,
            in_doubt: false,
        }
    }

    /// An acknowledgement arrived (a later one for a resend changes nothing).
    pub fn ok(&mut self, seq: i64) {
        if self.acked.is_none() {
            self.acked = Some((seq, Instant::now()));
        }
    }

    /// A refusal that will not be retried arrived.
    pub fn fail(&mut self, code: &str) {
        self.failed.get_or_insert_with(|| code.to_owned());
    }
}

/// A message as the final read found it in PostgreSQL.
#[derive(Debug, Clone)]
pub struct Stored {
    pub conversation: String,
    pub seq: i64,
    pub cid: String,
    /// A system message ("Ann added Ben"): no client sent it; it only takes a seq.
    pub system: bool,
}

/// What one client saw: per conversation, seq → client id (live deliveries and gap-fills).
#[derive(Debug)]
pub struct Observer<'a> {
    pub client: &'a str,
    pub member_of: &'a [String],
    pub seen: &'a HashMap<String, BTreeMap<i64, String>>,
    /// Live deliveries on one connection that went backwards, or repeated a seq.
    pub live_reordered: u64,
    pub live_duplicates: u64,
}

/// The checker's findings. Every field after `in_doubt_resolved` must be 0.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub operations: usize,
    pub acked: usize,
    pub failed: usize,
    pub in_doubt: usize,
    /// In-doubt sends stored exactly once in the end (whether or not an ack reached the client).
    pub in_doubt_resolved: usize,
    /// Never acknowledged nor refused.
    pub pending: usize,
    /// Acknowledged but not stored (or stored in another conversation).
    pub lost: usize,
    /// Acknowledged with a seq other than the stored one.
    pub mismatched: usize,
    /// Stored but never sent, or sent and refused.
    pub unexpected: usize,
    /// One client id stored more than once.
    pub duplicated: usize,
    /// A send invoked after another of its client's sends to the conversation was acknowledged,
    /// stored before it.
    pub reordered: usize,
    /// Seqs missing between 1 and a conversation's last.
    pub gaps: usize,
    /// A member that, after its final gap-fill, lacks a stored message or saw another at its seq.
    pub missing_deliveries: usize,
    pub wrong_deliveries: usize,
    /// Messages a client saw of conversations it is not a member of.
    pub leaks: usize,
    pub live_reordered: u64,
    pub live_duplicates: u64,
    /// The first few findings spelled out (which client, conversation, seq, client id).
    pub examples: Vec<String>,
}

/// How many findings [`Verdict::examples`] keeps.
const EXAMPLES: usize = 12;

impl Verdict {
    fn example(&mut self, finding: impl FnOnce() -> String) {
        if self.examples.len() < EXAMPLES {
            self.examples.push(finding());
        }
    }

    /// The names and counts of every broken promise.
    pub fn problems(&self) -> Vec<String> {
        let counts = [
            ("pending", self.pending as u64),
            ("lost", self.lost as u64),
            ("mismatched", self.mismatched as u64),
            ("unexpected", self.unexpected as u64),
            ("duplicated", self.duplicated as u64),
            ("reordered", self.reordered as u64),
            ("gaps", self.gaps as u64),
            ("missing deliveries", self.missing_deliveries as u64),
            ("wrong deliveries", self.wrong_deliveries as u64),
            ("leaks", self.leaks as u64),
            ("live deliveries out of order", self.live_reordered),
            ("live deliveries doubled", self.live_duplicates),
        ];
        counts
            .iter()
            .filter(|(_, n)| *n > 0)
            .map(|(name, n)| format!("{name}: {n}"))
            .collect()
    }

    /// Adds another run's counts to this one.
    pub fn add(&mut self, other: &Verdict) {
        self.operations += other.operations;
        self.acked += other.acked;
        self.failed += other.failed;
        self.in_doubt += other.in_doubt;
        self.in_doubt_resolved += other.in_doubt_resolved;
        self.pending += other.pending;
        self.lost += other.lost;
        self.mismatched += other.mismatched;
        self.unexpected += other.unexpected;
        self.duplicated += other.duplicated;
        self.reordered += other.reordered;
        self.gaps += other.gaps;
        self.missing_deliveries += other.missing_deliveries;
        self.wrong_deliveries += other.wrong_deliveries;
        self.leaks += other.leaks;
        self.live_reordered += other.live_reordered;
        self.live_duplicates += other.live_duplicates;
        for example in &other.examples {
            self.example(|| example.clone());
        }
    }
}

/// Checks `ops` (every client's sends) against what is `stored` and what each observer saw.
pub fn check(ops: &[Op], stored: &[Stored], observers: &[Observer<'_>]) -> Verdict {
    let mut verdict = Verdict {
        operations: ops.len(),
        ..Verdict::default()
    };
    let mut copies: HashMap<&str, Vec<&Stored>> = HashMap::new();
    for row in stored.iter().filter(|row| !row.system) {
        copies.entry(row.cid.as_str()).or_default().push(row);
    }
    verdict.duplicated = copies.values().filter(|rows| rows.len() > 1).count();
    let sent: HashSet<&str> = ops.iter().map(|op| op.cid.as_str()).collect();
    verdict.unexpected = copies.keys().filter(|cid| !sent.contains(*cid)).count();
    for op in ops {
        let rows = copies
            .get(op.cid.as_str())
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        let here = rows.iter().find(|r| r.conversation == op.conversation);
        if op.in_doubt {
            verdict.in_doubt += 1;
            verdict.in_doubt_resolved += usize::from(rows.len() == 1);
        }
        match (op.acked, &op.failed) {
            (Some((seq, _)), _) => {
                verdict.acked += 1;
                match here {
                    None => {
                        verdict.lost += 1;
                        verdict.example(|| format!("lost: {} acked at seq {seq}", op.cid));
                    }
                    Some(row) if row.seq != seq => {
                        verdict.mismatched += 1;
                        verdict.example(|| {
                            format!("{} acked at {seq}, stored at {}", op.cid, row.seq)
                        });
                    }
                    Some(_) => {}
                }
            }
            (None, Some(_)) => {
                verdict.failed += 1;
                verdict.unexpected += usize::from(!rows.is_empty());
            }
            (None, None) => verdict.pending += 1,
        }
    }
    verdict.reordered = reordered(ops, &copies);
    let mut by_conversation: HashMap<&str, Vec<&Stored>> = HashMap::new();
    for row in stored {
        by_conversation
            .entry(row.conversation.as_str())
            .or_default()
            .push(row);
    }
    for rows in by_conversation.values() {
        let seqs: HashSet<i64> = rows.iter().map(|r| r.seq).collect();
        let top = seqs.iter().copied().max().unwrap_or(0);
        verdict.gaps += (1..=top).filter(|seq| !seqs.contains(seq)).count();
    }
    for observer in observers {
        verdict.live_reordered += observer.live_reordered;
        verdict.live_duplicates += observer.live_duplicates;
        for (conversation, seen) in observer.seen {
            if !observer.member_of.contains(conversation) {
                verdict.leaks += seen.len();
            }
        }
        for conversation in observer.member_of {
            let seen = observer.seen.get(conversation);
            for row in by_conversation
                .get(conversation.as_str())
                .into_iter()
                .flatten()
            {
                match seen.and_then(|s| s.get(&row.seq)) {
                    None => {
                        verdict.missing_deliveries += 1;
                        verdict.example(|| {
                            format!(
                                "{} never got {conversation} seq {} ({})",
                                observer.client, row.seq, row.cid
                            )
                        });
                    }
                    Some(cid) if !row.system && *cid != row.cid => verdict.wrong_deliveries += 1,
                    Some(_) => {}
                }
            }
        }
    }
    verdict
}

/// Real-time order per client and conversation: once a send is acknowledged, every send the same
/// client invokes afterwards must be stored after it.
fn reordered(ops: &[Op], copies: &HashMap<&str, Vec<&Stored>>) -> usize {
    let mut streams: HashMap<(&str, &str), Vec<&Op>> = HashMap::new();
    for op in ops {
        streams
            .entry((op.client.as_str(), op.conversation.as_str()))
            .or_default()
            .push(op);
    }
    let stored_seq = |op: &Op| {
        copies
            .get(op.cid.as_str())
            .and_then(|rows| rows.iter().find(|r| r.conversation == op.conversation))
            .map(|r| r.seq)
    };
    let mut count = 0;
    for stream in streams.values_mut() {
        stream.sort_by_key(|op| op.invoked);
        let mut acks: Vec<(Instant, i64)> = stream
            .iter()
            .filter_map(|op| Some((op.acked?.1, stored_seq(op)?)))
            .collect();
        acks.sort();
        let (mut next, mut highest) = (0, 0);
        for op in stream.iter() {
            while next < acks.len() && acks[next].0 < op.invoked {
                highest = highest.max(acks[next].1);
                next += 1;
            }
            if let Some(seq) = stored_seq(op)
                && seq <= highest
            {
                count += 1;
            }
        }
    }
    count
}

/// Acknowledgements that arrived between `from` and `to`.
pub fn acked_between(ops: &[Op], from: Instant, to: Instant) -> usize {
    ops.iter()
        .filter_map(|op| op.acked)
        .filter(|(_, at)| *at > from && *at < to)
        .count()
}

/// The first acknowledgement after `t`, if any.
pub fn first_ack_after(ops: &[Op], t: Instant) -> Option<Instant> {
    ops.iter()
        .filter_map(|op| op.acked.map(|(_, at)| at))
        .filter(|at| *at >= t)
        .min()
}

#[cfg(test)]
#[path = "history_tests.rs"]
mod tests;
