//! Per-conversation delivery order when several instances commit to one conversation. Each
//! instance's persister publishes its own commits in order, but two instances' commits (seq 5 on
//! A, seq 6 on B) may reach a receiver in either order. The sequencer releases each
//! conversation's messages in `seq` order: the next one at once, a later one held until the gap
//! closes or `hold` passes, after which the gap is filled from PostgreSQL (where every seq below
//! a committed one is already committed: seq is allocated under the conversation's row lock). A
//! seq already released is a duplicate and dropped. A conversation seen for the first time (or
//! again after being forgotten) is held once for `hold` to learn where it stands, unless it is
//! the conversation's first message. Pure logic:
//! the caller supplies the time and runs the repairs.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use parley_shared::ConversationId;

/// A gap to fill from PostgreSQL: the messages `from..=to` of `conversation`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Repair {
    pub(crate) conversation: ConversationId,
    pub(crate) from: i64,
    pub(crate) to: i64,
}

#[derive(Debug)]
struct Track<T> {
    /// The next seq to release; `None` while the first sight is held.
    next: Option<i64>,
    opened: Instant,
    held: BTreeMap<i64, T>,
    /// Since when the lowest held message has waited for a gap to close.
    waiting_since: Option<Instant>,
    repairing: bool,
    active: Instant,
}

/// What a step released, in order, and how many messages it gave up on.
#[derive(Debug)]
pub(crate) struct Released<T> {
    pub(crate) items: Vec<T>,
    /// Seqs skipped because PostgreSQL did not have them either (never expected).
    pub(crate) skipped: u64,
    /// Messages dropped as already released.
    pub(crate) duplicates: u64,
    /// The offered item, when it was a duplicate (its sender may still need an answer).
    pub(crate) rejected: Option<T>,
}

impl<T> Default for Released<T> {
    fn default() -> Self {
        Self {
            items: Vec::new(),
            skipped: 0,
            duplicates: 0,
            rejected: None,
        }
    }
}

/// The sequencer of one instance.
#[derive(Debug)]
pub(crate) struct Sequencer<T> {
    hold: Duration,
    max_tracked: usize,
    tracks: HashMap<ConversationId, Track<T>>,
}

impl<T> Sequencer<T> {
    pub(crate) fn new(hold: Duration, max_tracked: usize) -> Self {
        Self {
            hold,
            max_tracked: max_tracked.max(1),
            tracks: HashMap::new(),
        }
    }

    /// Conversations tracked now.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.tracks.len()
    }

    /// A message `seq` of `conversation` arrived (from this instance's persister or another's).
    pub(crate) fn offer(
        &mut self,
        conversation: ConversationId,
        seq: i64,
        item: T,
        now: Instant,
    ) -> Released<T> {
        let mut out = Released::default();
        let track = self.tracks.entry(conversation).or_insert_with(|| Track {
            next: None,
            opened: now,
            held: BTreeMap::new(),
            waiting_since: None,
            repairing: false,
            active: now,
        });
        track.active = now;
        match track.next {
            // A conversation's first message has nothing before it: no need to wait.
            None if seq == 1 => {
                track.next = Some(1);
                track.held.insert(seq, item);
                release_run(track, &mut out.items, now);
            }
            None => {
                track.held.insert(seq, item);
            }
            Some(next) if seq < next => {
                out.duplicates += 1;
                out.rejected = Some(item);
            }
            Some(_) => {
                if let Some(older) = track.held.insert(seq, item) {
                    out.duplicates += 1;
                    out.rejected = Some(older);
                }
                release_run(track, &mut out.items, now);
            }
        }
        out
    }

    /// Releases first sights whose hold passed and names the gaps to repair now (each once
    /// until it is filled or failed). Forgets the least recently active conversations beyond
    /// `max_tracked`.
    pub(crate) fn due(&mut self, now: Instant) -> (Released<T>, Vec<Repair>) {
        let mut out = Released::default();
        let mut repairs = Vec::new();
        for (conversation, track) in &mut self.tracks {
            if track.next.is_none() {
                if now.duration_since(track.opened) < self.hold {
                    continue;
                }
                track.next = track.held.keys().next().copied();
                release_run(track, &mut out.items, now);
            }
            let (Some(next), Some(since), Some((&lowest, _))) =
                (track.next, track.waiting_since, track.held.iter().next())
            else {
                continue;
            };
            if !track.repairing && now.duration_since(since) >= self.hold {
                track.repairing = true;
                repairs.push(Repair {
                    conversation: *conversation,
                    from: next,
                    to: lowest - 1,
                });
            }
        }
        if self.tracks.len() > self.max_tracked {
            self.forget(self.tracks.len() - self.max_tracked * 9 / 10);
        }
        (out, repairs)
    }

    fn forget(&mut self, count: usize) {
        let mut idle: Vec<(Instant, ConversationId)> = self
            .tracks
            .iter()
            .filter(|(_, t)| t.held.is_empty() && !t.repairing && t.next.is_some())
            .map(|(c, t)| (t.active, *c))
            .collect();
        idle.sort_unstable_by_key(|(at, _)| *at);
        for (_, conversation) in idle.into_iter().take(count) {
            self.tracks.remove(&conversation);
        }
    }

    /// The messages a repair read from PostgreSQL (`seq`, item), in any order; `complete` when
    /// they are the whole range asked for (a capped read leaves the rest to the next repair).
    /// What is still missing after a complete read is given up on (counted), so delivery never
    /// stalls.
    pub(crate) fn filled(
        &mut self,
        conversation: ConversationId,
        items: Vec<(i64, T)>,
        complete: bool,
        now: Instant,
    ) -> Released<T> {
        let mut out = Released::default();
        let Some(track) = self.tracks.get_mut(&conversation) else {
            return out;
        };
        track.repairing = false;
        let Some(next) = track.next else {
            return out;
        };
        for (seq, item) in items {
            if seq < next {
                out.duplicates += 1;
            } else {
                track.held.entry(seq).or_insert(item);
            }
        }
        release_run(track, &mut out.items, now);
        if !complete {
            return out;
        }
        if let (Some(next), Some((&lowest, _))) = (track.next, track.held.iter().next()) {
            out.skipped += u64::try_from(lowest - next).unwrap_or(0);
            track.next = Some(lowest);
            release_run(track, &mut out.items, now);
        }
        out
    }

    /// Forgets `conversation` unless something of it is held or being repaired (its messages stop
    /// concerning this instance: the next one is a first sight again, not a gap to repair).
    pub(crate) fn forget_idle(&mut self, conversation: ConversationId) {
        if self
            .tracks
            .get(&conversation)
            .is_some_and(|t| t.held.is_empty() && !t.repairing)
        {
            self.tracks.remove(&conversation);
        }
    }

    /// A repair could not run (PostgreSQL unreachable): it is asked for again after `hold`.
    pub(crate) fn failed(&mut self, conversation: ConversationId, now: Instant) {
        if let Some(track) = self.tracks.get_mut(&conversation) {
            track.repairing = false;
            if track.waiting_since.is_some() {
                track.waiting_since = Some(now);
            }
        }
    }

    /// Where every settled conversation stands (its next seq), for a catch-up after events may
    /// have been lost (Redis reconnected, the receive buffer overflowed).
    pub(crate) fn positions(&self) -> Vec<(ConversationId, i64)> {
        self.tracks
            .iter()
            .filter(|(_, t)| !t.repairing)
            .filter_map(|(c, t)| t.next.map(|n| (*c, n)))
            .collect()
    }

    /// PostgreSQL says `conversation` has committed up to `last_seq`: the repair of what this
    /// instance has not released yet, if anything.
    pub(crate) fn catch_up(
        &mut self,
        conversation: ConversationId,
        last_seq: i64,
    ) -> Option<Repair> {
        let track = self.tracks.get_mut(&conversation)?;
        let next = track.next?;
        if track.repairing || last_seq < next {
            return None;
        }
        track.repairing = true;
        Some(Repair {
            conversation,
            from: next,
            to: last_seq,
        })
    }
}

/// Releases the held run starting at `next`; notes when a gap starts waiting.
fn release_run<T>(track: &mut Track<T>, out: &mut Vec<T>, now: Instant) {
    let Some(mut next) = track.next else {
        return;
    };
    while let Some(item) = track.held.remove(&next) {
        out.push(item);
        next += 1;
    }
    // Anything below `next` still held (a first sight's duplicates) is dropped.
    while let Some((&seq, _)) = track.held.iter().next() {
        if seq >= next {
            break;
        }
        track.held.remove(&seq);
    }
    track.next = Some(next);
    track.waiting_since = if track.held.is_empty() {
        None
    } else {
        Some(track.waiting_since.unwrap_or(now))
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOLD: Duration = Duration::from_millis(40);

    fn settled(next: i64) -> (Sequencer<i64>, ConversationId, Instant) {
        let mut s = Sequencer::new(HOLD, 100);
        let c = ConversationId::generate();
        let t = Instant::now();
        assert!(
            s.offer(c, next - 1, next - 1, t).items.is_empty(),
            "first sight held"
        );
        let (out, repairs) = s.due(t + HOLD);
        assert_eq!(out.items, [next - 1]);
        assert!(repairs.is_empty());
        (s, c, t + HOLD)
    }

    #[test]
    fn in_order_messages_pass_at_once() {
        let (mut s, c, t) = settled(5);
        for seq in 5..10 {
            assert_eq!(s.offer(c, seq, seq, t).items, [seq]);
        }
    }

    #[test]
    fn a_later_message_waits_for_the_earlier_one() {
        let (mut s, c, t) = settled(5);
        assert!(s.offer(c, 6, 6, t).items.is_empty());
        assert!(s.offer(c, 7, 7, t).items.is_empty());
        assert_eq!(s.offer(c, 5, 5, t).items, [5, 6, 7]);
        assert!(s.due(t + HOLD * 3).1.is_empty(), "no gap left");
    }

    #[test]
    fn a_gap_past_the_hold_is_repaired_once_and_filled() {
        let (mut s, c, t) = settled(5);
        assert!(s.offer(c, 8, 8, t).items.is_empty());
        assert!(s.due(t + HOLD / 2).1.is_empty(), "still holding");
        let (_, repairs) = s.due(t + HOLD);
        assert_eq!(
            repairs,
            [Repair {
                conversation: c,
                from: 5,
                to: 7
            }]
        );
        assert!(s.due(t + HOLD * 2).1.is_empty(), "asked once");
        // The original 6 arrives while the repair runs: released, and the repair's copy dropped.
        assert!(s.offer(c, 6, 6, t).items.is_empty());
        let out = s.filled(c, vec![(7, 7), (5, 5), (6, 66)], true, t + HOLD);
        assert_eq!(out.items, [5, 6, 7, 8]);
        assert_eq!(out.skipped, 0);
        assert_eq!(s.offer(c, 9, 9, t).items, [9]);
    }

    #[test]
    fn duplicates_are_dropped() {
        let (mut s, c, t) = settled(5);
        assert_eq!(s.offer(c, 5, 5, t).items, [5]);
        let again = s.offer(c, 5, 55, t);
        assert!(again.items.is_empty());
        assert_eq!(again.duplicates, 1);
        assert_eq!(
            again.rejected,
            Some(55),
            "handed back: its sender may need an answer"
        );
        assert_eq!(s.offer(c, 3, 3, t).duplicates, 1);
    }

    #[test]
    fn a_conversations_first_message_is_not_held() {
        let mut s = Sequencer::new(HOLD, 100);
        let c = ConversationId::generate();
        let t = Instant::now();
        assert_eq!(s.offer(c, 1, 1, t).items, [1]);
        assert!(s.offer(c, 3, 3, t).items.is_empty());
        assert_eq!(s.offer(c, 2, 2, t).items, [2, 3]);
    }

    #[test]
    fn a_first_sight_collects_then_releases_in_order() {
        let mut s = Sequencer::new(HOLD, 100);
        let c = ConversationId::generate();
        let t = Instant::now();
        for seq in [12, 10, 11] {
            assert!(s.offer(c, seq, seq, t).items.is_empty());
        }
        assert_eq!(s.due(t + HOLD).0.items, [10, 11, 12]);
        assert_eq!(s.offer(c, 13, 13, t + HOLD).items, [13]);
    }

    #[test]
    fn a_failed_repair_is_asked_again_and_a_hole_postgres_lacks_is_skipped() {
        let (mut s, c, t) = settled(5);
        s.offer(c, 7, 7, t);
        assert_eq!(s.due(t + HOLD).1.len(), 1);
        s.failed(c, t + HOLD);
        assert!(
            s.due(t + HOLD + HOLD / 2).1.is_empty(),
            "waits another hold"
        );
        assert_eq!(s.due(t + HOLD * 2).1.len(), 1);
        let out = s.filled(c, Vec::new(), true, t + HOLD * 2);
        assert_eq!(out.items, [7]);
        assert_eq!(out.skipped, 2);
    }

    #[test]
    fn catch_up_repairs_what_was_never_received() {
        let (mut s, c, _) = settled(5);
        assert_eq!(s.positions(), [(c, 5)]);
        assert!(s.catch_up(c, 4).is_none(), "nothing newer committed");
        assert_eq!(
            s.catch_up(c, 6),
            Some(Repair {
                conversation: c,
                from: 5,
                to: 6
            })
        );
        assert!(s.catch_up(c, 6).is_none(), "already repairing");
        assert_eq!(
            s.filled(c, vec![(5, 5), (6, 6)], true, Instant::now())
                .items,
            [5, 6]
        );
    }

    #[test]
    fn idle_conversations_are_forgotten_beyond_the_bound() {
        let mut s = Sequencer::new(HOLD, 10);
        let t = Instant::now();
        for i in 0..20 {
            let c = ConversationId::generate();
            s.offer(c, 1, 1, t + Duration::from_millis(i));
        }
        s.due(t + HOLD * 2);
        s.due(t + HOLD * 2);
        assert!(s.len() <= 10, "{}", s.len());
    }
}
