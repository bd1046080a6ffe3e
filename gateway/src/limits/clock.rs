//! A bounded key table with CLOCK (second-chance) eviction: when full, a new key replaces the
//! least recently used one the hand finds (idle keys first in practice, since busy keys keep their
//! reference bit set), in amortised constant time. A full table therefore never refuses a new key
//! and never grows: the limiter's memory is fixed by `limits.max_keys`.

use std::collections::HashMap;
use std::hash::Hash;

#[derive(Debug)]
struct Slot<K> {
    key: K,
    value: u64,
    referenced: bool,
}

/// At most `cap` keys, each with a `u64`.
#[derive(Debug)]
pub(crate) struct ClockTable<K> {
    index: HashMap<K, usize>,
    slots: Vec<Slot<K>>,
    hand: usize,
    cap: usize,
}

impl<K: Hash + Eq + Clone> ClockTable<K> {
    pub(crate) fn new(cap: usize) -> Self {
        Self {
            index: HashMap::new(),
            slots: Vec::new(),
            hand: 0,
            cap: cap.max(1),
        }
    }

    /// The value of `key`, marking it recently used.
    pub(crate) fn get(&mut self, key: &K) -> Option<u64> {
        let at = *self.index.get(key)?;
        let slot = &mut self.slots[at];
        slot.referenced = true;
        Some(slot.value)
    }

    /// The value of `key` without marking it.
    pub(crate) fn peek(&self, key: &K) -> Option<u64> {
        self.index.get(key).map(|at| self.slots[*at].value)
    }

    /// Stores `value` for `key`; a new key past the cap evicts the least recently used one.
    pub(crate) fn insert(&mut self, key: &K, value: u64) {
        if let Some(at) = self.index.get(key) {
            let slot = &mut self.slots[*at];
            slot.value = value;
            slot.referenced = true;
            return;
        }
        let slot = Slot {
            key: key.clone(),
            value,
            referenced: true,
        };
        if self.slots.len() < self.cap {
            self.index.insert(key.clone(), self.slots.len());
            self.slots.push(slot);
            return;
        }
        // Every slot's bit is cleared at most once per sweep, so this ends within two sweeps.
        loop {
            let at = self.hand;
            self.hand = (self.hand + 1) % self.slots.len();
            let candidate = &mut self.slots[at];
            if candidate.referenced {
                candidate.referenced = false;
                continue;
            }
            let old = std::mem::replace(candidate, slot);
            self.index.remove(&old.key);
            self.index.insert(key.clone(), at);
            return;
        }
    }

    /// Forgets `key` (its slot is reused by the next new key).
    pub(crate) fn remove(&mut self, key: &K) {
        let Some(at) = self.index.remove(key) else {
            return;
        };
        let last = self.slots.len() - 1;
        self.slots.swap_remove(at);
        if at != last {
            let moved = self.slots[at].key.clone();
            self.index.insert(moved, at);
        }
        if self.hand >= self.slots.len() {
            self.hand = 0;
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.slots.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evicts_the_least_recently_used_and_stays_bounded() {
        let mut table = ClockTable::new(3);
        table.insert(&"a", 1);
        table.insert(&"b", 2);
        table.insert(&"c", 3);
        // All three were just used: a full sweep clears their bits, then the hand takes "a".
        table.insert(&"d", 4);
        assert_eq!(table.len(), 3);
        assert_eq!(
            table.peek(&"a"),
            None,
            "the first sweep takes a, all being referenced"
        );
        table.get(&"c");
        table.insert(&"e", 5);
        assert_eq!(table.peek(&"b"), None, "b was not used since the sweep");
        assert_eq!(
            table.peek(&"c"),
            Some(3),
            "c was used: it gets a second chance"
        );
        assert_eq!(table.peek(&"e"), Some(5));
        for n in 0..10_000u64 {
            table.insert(&"x", n);
        }
        assert_eq!(table.len(), 3);
        assert_eq!(table.peek(&"x"), Some(9_999));
    }

    #[test]
    fn remove_keeps_the_index_consistent() {
        let mut table = ClockTable::new(4);
        for (n, key) in ["a", "b", "c", "d"].iter().enumerate() {
            table.insert(key, n as u64);
        }
        table.remove(&"a");
        table.remove(&"zzz");
        assert_eq!(table.len(), 3);
        assert_eq!(table.peek(&"d"), Some(3), "the moved slot is still found");
        table.insert(&"e", 9);
        assert_eq!(table.len(), 4);
        for key in ["b", "c", "d", "e"] {
            assert!(table.peek(&key).is_some(), "{key}");
        }
    }
}
