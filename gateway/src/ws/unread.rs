//! Unread counts of the users connected to one shard, kept current from the fan-out so a badge
//! costs no query: per conversation `last_seq` and the user's read watermark, both only ever
//! raised (to values PostgreSQL committed), so events and the initial load may arrive in any
//! order and still agree with `GET /api/conversations`. Changed counts are collected and sent as
//! `notification:badge` once per burst of fan-out events.

use std::collections::{HashMap, HashSet};

use parley_persister::store::conversations::ReadState;
use parley_shared::{ConversationId, UserId};

#[derive(Debug, Default, Clone, Copy)]
struct Marks {
    last_seq: i64,
    read: i64,
}

impl Marks {
    fn unread(self) -> i64 {
        (self.last_seq - self.read).max(0)
    }
}

#[derive(Debug, Default)]
struct UserUnread {
    conversations: HashMap<ConversationId, Marks>,
    /// Sum of the conversations' unread counts.
    total: i64,
    /// The stored state has been merged in; badges go out only after that.
    loaded: bool,
    dirty: HashSet<ConversationId>,
}

impl UserUnread {
    /// Raises one conversation's marks; returns whether its unread count changed.
    fn raise(&mut self, conversation: ConversationId, last_seq: i64, read: i64) -> bool {
        let marks = self.conversations.entry(conversation).or_default();
        let before = marks.unread();
        marks.last_seq = marks.last_seq.max(last_seq);
        marks.read = marks.read.max(read);
        let after = marks.unread();
        self.total += after - before;
        after != before
    }
}

/// A badge to send: the user's unread count in one conversation and over all of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Badge {
    pub(crate) user: UserId,
    pub(crate) conversation: ConversationId,
    pub(crate) unread: i64,
    pub(crate) total: i64,
}

/// The shard's table.
#[derive(Debug, Default)]
pub(crate) struct Unread {
    users: HashMap<UserId, UserUnread>,
    /// Users with a changed count not yet sent: a flush visits only these, not every user here.
    changed: HashSet<UserId>,
}

impl Unread {
    /// Starts tracking `user`; true if they were not tracked (the caller loads their state).
    pub(crate) fn track(&mut self, user: UserId) -> bool {
        if self.users.contains_key(&user) {
            return false;
        }
        self.users.insert(user, UserUnread::default());
        true
    }

    /// Stops tracking `user` (their last connection on this shard closed).
    pub(crate) fn forget(&mut self, user: UserId) {
        self.users.remove(&user);
        self.changed.remove(&user);
    }

    /// Merges the stored state of `user`; conversations changed meanwhile are badged next flush.
    pub(crate) fn loaded(&mut self, user: UserId, rows: &[ReadState]) {
        let Some(state) = self.users.get_mut(&user) else {
            return;
        };
        for row in rows {
            state.raise(row.conversation, row.last_seq, row.last_read_seq);
        }
        state.loaded = true;
        if !state.dirty.is_empty() {
            self.changed.insert(user);
        }
    }

    /// A committed message. Returns users who turn out to be in a conversation their loaded
    /// state did not have (they just joined it): the caller reloads them.
    pub(crate) fn message(
        &mut self,
        conversation: ConversationId,
        recipients: &[UserId],
        sender: UserId,
        seq: i64,
    ) -> Vec<UserId> {
        let mut reload = Vec::new();
        for user in recipients {
            let Some(state) = self.users.get_mut(user) else {
                continue;
            };
            if state.loaded && !state.conversations.contains_key(&conversation) {
                // Its watermark was set when they joined; only the database knows it.
                state.loaded = false;
                reload.push(*user);
            }
            let read = if *user == sender { seq } else { 0 };
            if state.raise(conversation, seq, read) {
                state.dirty.insert(conversation);
                self.changed.insert(*user);
            }
        }
        reload
    }

    /// A committed read mark.
    pub(crate) fn read(
        &mut self,
        conversation: ConversationId,
        user: UserId,
        seq: i64,
        last_seq: i64,
    ) {
        if let Some(state) = self.users.get_mut(&user)
            && state.raise(conversation, last_seq, seq)
        {
            state.dirty.insert(conversation);
            self.changed.insert(user);
        }
    }

    /// `user` left `conversation`: it no longer counts.
    pub(crate) fn left(&mut self, conversation: ConversationId, user: UserId) {
        if let Some(state) = self.users.get_mut(&user)
            && let Some(marks) = state.conversations.remove(&conversation)
        {
            state.total -= marks.unread();
            state.dirty.insert(conversation);
            self.changed.insert(user);
        }
    }

    /// The badges that changed since the last call (for loaded users only; the others keep
    /// theirs until their state is loaded).
    pub(crate) fn take_badges(&mut self) -> Vec<Badge> {
        let mut badges = Vec::new();
        for user in std::mem::take(&mut self.changed) {
            let Some(state) = self.users.get_mut(&user) else {
                continue;
            };
            if !state.loaded {
                continue;
            }
            for conversation in state.dirty.drain() {
                let unread = state
                    .conversations
                    .get(&conversation)
                    .map_or(0, |m| m.unread());
                badges.push(Badge {
                    user,
                    conversation,
                    unread,
                    total: state.total,
                });
            }
        }
        badges
    }

    /// Whether any badge may be waiting.
    pub(crate) fn has_badges(&self) -> bool {
        !self.changed.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rs(conversation: ConversationId, last_seq: i64, last_read_seq: i64) -> ReadState {
        ReadState {
            conversation,
            last_seq,
            last_read_seq,
            partner: None,
        }
    }

    fn ids() -> (ConversationId, ConversationId, UserId, UserId) {
        (
            ConversationId::generate(),
            ConversationId::generate(),
            UserId::generate(),
            UserId::generate(),
        )
    }

    #[test]
    fn counts_follow_messages_and_reads_in_any_order() {
        let (c1, c2, alice, bob) = ids();
        let mut table = Unread::default();
        assert!(table.track(bob));
        assert!(!table.track(bob));
        // A message arrives before the load: no badge yet.
        table.message(c1, &[alice, bob], alice, 5);
        assert!(table.take_badges().is_empty());
        // The load saw an older state of c1 (seq 4, read 2) and c2 (10, read 10).
        table.loaded(bob, &[rs(c1, 4, 2), rs(c2, 10, 10)]);
        let badges = table.take_badges();
        assert_eq!(
            badges,
            vec![Badge {
                user: bob,
                conversation: c1,
                unread: 3,
                total: 3
            }]
        );
        // Bob sends in c2: his own message is read.
        table.message(c2, &[alice, bob], bob, 11);
        assert!(table.take_badges().is_empty(), "nothing changed for bob");
        // Bob reads c1 up to 5 on another device.
        table.read(c1, bob, 5, 5);
        assert_eq!(
            table.take_badges(),
            vec![Badge {
                user: bob,
                conversation: c1,
                unread: 0,
                total: 0
            }]
        );
        // A stale read event changes nothing.
        table.read(c1, bob, 3, 5);
        assert!(!table.has_badges());
    }

    #[test]
    fn an_unknown_conversation_means_reload() {
        let (c1, c2, alice, bob) = ids();
        let mut table = Unread::default();
        table.track(bob);
        table.loaded(bob, &[rs(c1, 1, 1)]);
        assert_eq!(table.message(c2, &[alice, bob], alice, 40), vec![bob]);
        assert!(table.take_badges().is_empty(), "held until reloaded");
        // Bob joined c2 at seq 39.
        table.loaded(bob, &[rs(c1, 1, 1), rs(c2, 39, 39)]);
        assert_eq!(
            table.take_badges(),
            vec![Badge {
                user: bob,
                conversation: c2,
                unread: 1,
                total: 1
            }]
        );
        table.left(c2, bob);
        assert_eq!(
            table.take_badges(),
            vec![Badge {
                user: bob,
                conversation: c2,
                unread: 0,
                total: 0
            }]
        );
        table.forget(bob);
        table.message(c1, &[bob], alice, 2);
        assert!(table.take_badges().is_empty());
    }
}
