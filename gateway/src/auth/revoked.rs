//! Login sessions revoked recently (logout, log out everywhere, password change, refresh-token
//! reuse), kept in memory so every authenticated request, handshake and `auth` frame can refuse an
//! access token of a revoked session without a database round trip. Fed by the fan-out bus at the
//! moment of revocation (so every shard sees it at once), rebuilt from PostgreSQL at start, and
//! pruned once an entry is older than the access-token lifetime: by then every token issued for
//! that session has expired anyway (and no new one can be issued: refresh refuses revoked
//! sessions).

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::{Duration, Instant};

use parley_shared::SessionId;

/// The set; one per process, shared by every shard.
#[derive(Debug)]
pub struct Revocations {
    /// When each session was revoked.
    revoked: RwLock<HashMap<SessionId, Instant>>,
    /// How long an entry matters: the access-token lifetime plus the verifier's leeway.
    keep: Duration,
}

impl Revocations {
    /// A set whose entries matter for `keep` (the access-token lifetime plus leeway).
    pub fn new(keep: Duration) -> Self {
        Self {
            revoked: RwLock::new(HashMap::new()),
            keep,
        }
    }

    /// Records that `session` was revoked at `now`.
    pub fn revoke(&self, session: SessionId, now: Instant) {
        let mut revoked = self.write();
        // Revocations are rare: pruning on each keeps the set to the last `keep` of them.
        let keep = self.keep;
        revoked.retain(|_, when| now.saturating_duration_since(*when) < keep);
        revoked.insert(session, now);
    }

    /// Records the sessions read at start: `(session, how long ago it was revoked)`.
    pub fn load(&self, entries: Vec<(SessionId, Duration)>, now: Instant) {
        let mut revoked = self.write();
        for (session, ago) in entries {
            if ago < self.keep {
                revoked.insert(session, now.checked_sub(ago).unwrap_or(now));
            }
        }
    }

    /// How long a revocation matters (the access-token lifetime plus leeway).
    pub fn keep(&self) -> Duration {
        self.keep
    }

    /// Whether `session` was revoked.
    pub fn is_revoked(&self, session: SessionId) -> bool {
        let revoked = self
            .revoked
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        !revoked.is_empty() && revoked.contains_key(&session)
    }

    /// Sessions in the set now (for metrics and tests).
    pub fn len(&self) -> usize {
        self.write().len()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<SessionId, Instant>> {
        // Inserts and removes of plain values: a panic elsewhere cannot leave it inconsistent.
        self.revoked
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_for_the_token_lifetime_then_prunes() {
        let set = Revocations::new(Duration::from_secs(900));
        let t0 = Instant::now();
        let (a, b, c) = (
            SessionId::generate(),
            SessionId::generate(),
            SessionId::generate(),
        );
        set.revoke(a, t0);
        assert!(set.is_revoked(a));
        assert!(!set.is_revoked(b));
        // Loaded at start: revoked 20 minutes ago, its tokens are all expired: not kept.
        set.load(vec![(c, Duration::from_secs(1200))], t0);
        assert!(!set.is_revoked(c));
        // Another revocation 16 minutes later prunes `a`.
        set.revoke(b, t0 + Duration::from_secs(960));
        assert!(!set.is_revoked(a));
        assert!(set.is_revoked(b));
        assert_eq!(set.len(), 1);
    }
}
