//! The lanes' membership cache (one per writer, shared by its lanes): each conversation's members as of its `members_version`. A batch
//! reads the versions under the conversation locks and fetches members only for conversations
//! whose version differs from the cached one, so a batch into a 1,000-member group no longer reads
//! 1,000 rows. Coherent by construction: every membership change bumps the version (a trigger,
//! migration 0004) in an UPDATE that waits for the batch's row lock, so under that lock the
//! cached list is exactly the stored one.

use std::collections::HashMap;
use std::sync::Arc;

use parley_shared::UserId;
use uuid::Uuid;

/// One conversation's members (sorted, each once).
#[derive(Debug, Clone)]
pub(crate) struct Members {
    pub(crate) version: i64,
    pub(crate) users: Arc<[UserId]>,
}

impl Members {
    pub(crate) fn new(version: i64, mut users: Vec<UserId>) -> Self {
        users.sort_unstable_by_key(|u| u.0);
        users.dedup();
        Self {
            version,
            users: users.into(),
        }
    }
}

/// Bounded by the member ids it holds: past `capacity` it starts over (the next batches refetch
/// what they need), so memory stays `capacity` × 16 bytes per lane whatever the groups' sizes.
#[derive(Debug)]
pub(crate) struct MemberCache {
    entries: HashMap<Uuid, Members>,
    held: usize,
    capacity: usize,
}

/// The version passed for a conversation the cache does not hold: versions are never negative,
/// so its members are always fetched.
pub(crate) const UNKNOWN: i64 = -1;

impl MemberCache {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            entries: HashMap::new(),
            held: 0,
            capacity,
        }
    }

    /// The cached version of `conversation`, or [`UNKNOWN`].
    #[cfg(test)]
    pub(crate) fn version(&self, conversation: Uuid) -> i64 {
        self.entries
            .get(&conversation)
            .map_or(UNKNOWN, |m| m.version)
    }

    /// The cached members, whatever their version.
    pub(crate) fn get(&self, conversation: Uuid) -> Option<&Members> {
        self.entries.get(&conversation)
    }

    /// The cached members if they are at `version`.
    #[cfg(test)]
    pub(crate) fn at(&self, conversation: Uuid, version: i64) -> Option<&Members> {
        self.entries
            .get(&conversation)
            .filter(|m| m.version == version)
    }

    /// Stores `members` for `conversation` (replacing an older version).
    pub(crate) fn put(&mut self, conversation: Uuid, members: Members) {
        if let Some(old) = self.entries.remove(&conversation) {
            self.held -= old.users.len();
        }
        if self.held + members.users.len() > self.capacity {
            self.clear();
        }
        self.held += members.users.len();
        self.entries.insert(conversation, members);
    }

    /// Forgets everything (a new connection may be to another server).
    pub(crate) fn clear(&mut self) {
        self.entries.clear();
        self.held = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn users(n: u128) -> Vec<UserId> {
        (1..=n).rev().map(|i| UserId(Uuid::from_u128(i))).collect()
    }

    #[test]
    fn members_are_served_only_at_their_version() {
        let mut cache = MemberCache::new(100);
        let c = Uuid::from_u128(7);
        assert_eq!(cache.version(c), UNKNOWN);
        cache.put(c, Members::new(3, users(5)));
        assert_eq!(cache.version(c), 3);
        let members = cache.at(c, 3).expect("cached at version 3");
        assert_eq!(members.users.to_vec(), {
            let mut sorted = users(5);
            sorted.reverse();
            sorted
        });
        assert!(cache.at(c, 4).is_none(), "another version is not served");
    }

    #[test]
    fn the_cache_is_bounded_by_member_ids_held() {
        let mut cache = MemberCache::new(10);
        let (a, b, c) = (Uuid::from_u128(1), Uuid::from_u128(2), Uuid::from_u128(3));
        cache.put(a, Members::new(0, users(4)));
        cache.put(b, Members::new(0, users(4)));
        assert_eq!(cache.held, 8);
        cache.put(b, Members::new(1, users(5)));
        assert_eq!(cache.held, 9, "a replaced entry is not counted twice");
        cache.put(c, Members::new(0, users(3)));
        assert_eq!(cache.held, 3, "past the bound it starts over");
        assert_eq!(cache.version(a), UNKNOWN);
        assert_eq!(cache.version(c), 0);
        cache.put(a, Members::new(0, users(50)));
        assert_eq!(
            cache.version(a),
            0,
            "a group larger than the bound is still used once"
        );
    }
}
