//! Hash maps for keys Parley makes itself (ids, connection numbers): a multiply-rotate hasher
//! (the Fx hash) instead of the standard library's SipHash, measured on the fan-out path where
//! every delivery costs several look-ups by user, connection and conversation. Keys a client can
//! choose must not use these maps: the hasher has no secret key, so chosen keys could collide on
//! purpose. Ids are UUIDv7 made by the server (their random half spreads them) and connection
//! numbers are counters.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

/// A map keyed by server-made ids.
pub type IdMap<K, V> = HashMap<K, V, BuildHasherDefault<IdHasher>>;
/// A set of server-made ids.
pub type IdSet<K> = HashSet<K, BuildHasherDefault<IdHasher>>;

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

/// The Fx hash: each word rotated in and multiplied.
#[derive(Debug, Default, Clone, Copy)]
pub struct IdHasher {
    hash: u64,
}

impl IdHasher {
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(SEED);
    }
}

impl Hasher for IdHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(word));
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.add(n);
    }

    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }

    fn finish(&self) -> u64 {
        self.hash
    }
}

#[cfg(test)]
mod tests {
    use super::{IdMap, IdSet};
    use crate::{ConversationId, UserId};

    #[test]
    fn ids_and_counters_spread_and_round_trip() {
        let users: Vec<UserId> = (0..10_000).map(|_| UserId::generate()).collect();
        let mut map: IdMap<UserId, usize> = IdMap::default();
        for (i, user) in users.iter().enumerate() {
            map.insert(*user, i);
        }
        assert_eq!(map.len(), users.len());
        assert!(users.iter().enumerate().all(|(i, u)| map[u] == i));
        let mut set: IdSet<(UserId, ConversationId)> = IdSet::default();
        let conversation = ConversationId::generate();
        for user in &users {
            set.insert((*user, conversation));
        }
        assert_eq!(set.len(), users.len());
        let counters: IdSet<u64> = (0..100_000u64).collect();
        assert_eq!(counters.len(), 100_000);
    }
}
