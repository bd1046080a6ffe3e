//! Who on this shard watches whose presence (the seeds' lazy model): connections that asked with
//! `presence:subscribe`, and users with a DM with the watched user (loaded with their unread
//! state). A presence change goes to exactly these connections, once each.

use parley_shared::UserId;
use parley_shared::hash::{IdMap, IdSet};

#[derive(Debug, Default)]
pub(crate) struct Watchers {
    /// Watched user -> connections that subscribed.
    subscribed: IdMap<UserId, Vec<u64>>,
    /// Watched user -> users here who share a DM with them.
    partners: IdMap<UserId, IdSet<UserId>>,
    /// User here -> their DM partners (to undo `partners` when they leave).
    partners_of: IdMap<UserId, Vec<UserId>>,
}

impl Watchers {
    pub(crate) fn subscribe(&mut self, conn: u64, watched: UserId) {
        let conns = self.subscribed.entry(watched).or_default();
        if !conns.contains(&conn) {
            conns.push(conn);
        }
    }

    pub(crate) fn unsubscribe(&mut self, conn: u64, watched: UserId) {
        if let Some(conns) = self.subscribed.get_mut(&watched) {
            conns.retain(|c| *c != conn);
            if conns.is_empty() {
                self.subscribed.remove(&watched);
            }
        }
    }

    /// The connections that asked to watch `watched`.
    pub(crate) fn subscribers(&self, watched: UserId) -> Vec<u64> {
        self.subscribed.get(&watched).cloned().unwrap_or_default()
    }

    /// `user` (connected here) has DMs with `partners`.
    pub(crate) fn set_partners(&mut self, user: UserId, partners: Vec<UserId>) {
        self.forget(user);
        for partner in &partners {
            self.partners.entry(*partner).or_default().insert(user);
        }
        self.partners_of.insert(user, partners);
    }

    /// `user` has no connection here any more.
    pub(crate) fn forget(&mut self, user: UserId) {
        for partner in self.partners_of.remove(&user).unwrap_or_default() {
            if let Some(watchers) = self.partners.get_mut(&partner) {
                watchers.remove(&user);
                if watchers.is_empty() {
                    self.partners.remove(&partner);
                }
            }
        }
    }

    /// The connections to tell about `watched`: subscribers, and every connection of a DM
    /// partner (looked up in `by_user`).
    pub(crate) fn connections(
        &self,
        watched: UserId,
        by_user: &IdMap<UserId, Vec<u64>>,
    ) -> IdSet<u64> {
        let mut conns: IdSet<u64> = self
            .subscribed
            .get(&watched)
            .into_iter()
            .flatten()
            .copied()
            .collect();
        for user in self.partners.get(&watched).into_iter().flatten() {
            conns.extend(by_user.get(user).into_iter().flatten().copied());
        }
        conns
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subscribers_and_partners_once_each() {
        let (ann, ben, cat) = (UserId::generate(), UserId::generate(), UserId::generate());
        let by_user = IdMap::from_iter([(ben, vec![1, 2]), (cat, vec![3])]);
        let mut w = Watchers::default();
        w.set_partners(ben, vec![ann]);
        w.subscribe(2, ann);
        w.subscribe(3, ann);
        let mut got: Vec<u64> = w.connections(ann, &by_user).into_iter().collect();
        got.sort_unstable();
        assert_eq!(got, [1, 2, 3]);
        w.forget(ben);
        w.unsubscribe(3, ann);
        assert_eq!(
            w.connections(ann, &by_user).into_iter().collect::<Vec<_>>(),
            [2]
        );
        assert!(w.connections(cat, &by_user).is_empty());
    }
}
