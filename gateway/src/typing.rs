//! Who is typing where. Behind a trait so a later multi-instance deployment can keep it in Redis;
//! this in-process table serves one instance (all its shards). Never persisted.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use parley_shared::{ConversationId, UserId};

/// What a `typing:start` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Start {
    /// Within `interval` of the last accepted start: dropped silently.
    Dropped,
    /// Accepted. `began` when the user was not typing before (others must be told); the
    /// auto-stop check later passes `generation`.
    Accepted { began: bool, generation: u64 },
}

/// The typing table's interface.
pub(crate) trait TypingState: Send + Sync + std::fmt::Debug {
    /// Records a start at `now`.
    fn start(&self, conversation: ConversationId, user: UserId, now: Instant) -> Start;
    /// Records a stop; true if the user was typing (others must be told).
    fn stop(&self, conversation: ConversationId, user: UserId) -> bool;
    /// The auto-stop: if the start of `generation` is still the latest, it ends (true).
    fn expire(&self, conversation: ConversationId, user: UserId, generation: u64) -> bool;
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    last_start: Instant,
    generation: u64,
}

/// The last generation handed out, and the entries by (conversation, user).
type Table = (u64, HashMap<(ConversationId, UserId), Entry>);

/// The in-process table.
#[derive(Debug)]
pub(crate) struct LocalTyping {
    interval: Duration,
    entries: Mutex<Table>,
}

impl LocalTyping {
    pub(crate) fn new(interval: Duration) -> Self {
        Self {
            interval,
            entries: Mutex::new((0, HashMap::new())),
        }
    }

    fn table(&self) -> std::sync::MutexGuard<'_, Table> {
        // A panic while holding this lock cannot leave the map inconsistent (single inserts and
        // removes), so a poisoned lock is still usable.
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl TypingState for LocalTyping {
    fn start(&self, conversation: ConversationId, user: UserId, now: Instant) -> Start {
        let mut guard = self.table();
        let (next, entries) = &mut *guard;
        let key = (conversation, user);
        let began = match entries.get(&key) {
            Some(entry) if now.duration_since(entry.last_start) < self.interval => {
                return Start::Dropped;
            }
            Some(_) => false,
            None => true,
        };
        *next += 1;
        entries.insert(
            key,
            Entry {
                last_start: now,
                generation: *next,
            },
        );
        Start::Accepted {
            began,
            generation: *next,
        }
    }

    fn stop(&self, conversation: ConversationId, user: UserId) -> bool {
        self.table().1.remove(&(conversation, user)).is_some()
    }

    fn expire(&self, conversation: ConversationId, user: UserId, generation: u64) -> bool {
        let mut guard = self.table();
        let key = (conversation, user);
        if guard
            .1
            .get(&key)
            .is_some_and(|e| e.generation == generation)
        {
            guard.1.remove(&key);
            return true;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_are_limited_and_expire_by_generation() {
        let table = LocalTyping::new(Duration::from_secs(1));
        let (c, u) = (ConversationId::generate(), UserId::generate());
        let t0 = Instant::now();
        let Start::Accepted {
            began: true,
            generation: first,
        } = table.start(c, u, t0)
        else {
            panic!("first start accepted");
        };
        assert_eq!(
            table.start(c, u, t0 + Duration::from_millis(500)),
            Start::Dropped
        );
        let Start::Accepted {
            began: false,
            generation: second,
        } = table.start(c, u, t0 + Duration::from_millis(1500))
        else {
            panic!("a start a second later is accepted");
        };
        assert!(!table.expire(c, u, first), "a newer start keeps it alive");
        assert!(table.expire(c, u, second));
        assert!(!table.stop(c, u), "already stopped");
        table.start(c, u, t0 + Duration::from_secs(3));
        assert!(table.stop(c, u));
    }
}
