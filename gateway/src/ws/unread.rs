//! Unread counts of the users connected to one shard, kept current from the fan-out so a badge
//! costs no query: per conversation `last_seq`, the user's read watermark and the seqs of the
//! messages that mention them, all only ever raised or added (committed values), so events and
//! the initial load may arrive in any order and still agree with `GET /api/conversations`: the
//! unread count is `last_seq - read`, the mention count the mentions above `read`. Changed counts
//! are collected and sent as `notification:badge` once per burst of fan-out events.

use std::collections::BTreeSet;

use parley_persister::store::conversations::{MAX_MENTION_COUNT, ReadState};
use parley_shared::hash::{IdMap, IdSet};
use parley_shared::{ConversationId, UserId};

#[derive(Debug, Default, Clone)]
struct Marks {
    last_seq: i64,
    read: i64,
    /// Seqs of unread messages mentioning the user: the newest [`MAX_MENTION_COUNT`], so the
    /// count is exact up to that bound, like the stored count.
    mentions: BTreeSet<i64>,
}

impl Marks {
    fn unread(&self) -> i64 {
        (self.last_seq - self.read).max(0)
    }

    fn mentioned(&self) -> i64 {
        self.mentions.len() as i64
    }
}

#[derive(Debug, Default)]
struct UserUnread {
    conversations: IdMap<ConversationId, Marks>,
    /// Sum of the conversations' unread counts.
    total: i64,
    /// Sum of the conversations' mention counts.
    total_mentions: i64,
    /// The stored state has been merged in; badges go out only after that.
    loaded: bool,
    dirty: IdSet<ConversationId>,
}

impl UserUnread {
    /// Raises one conversation's marks and adds mentions; returns whether a count changed.
    fn raise(
        &mut self,
        conversation: ConversationId,
        last_seq: i64,
        read: i64,
        mentions: &[i64],
    ) -> bool {
        let marks = self.conversations.entry(conversation).or_default();
        let before = (marks.unread(), marks.mentioned());
        marks.last_seq = marks.last_seq.max(last_seq);
        marks.read = marks.read.max(read);
        for &seq in mentions {
            if seq > marks.read {
                marks.mentions.insert(seq);
            }
        }
        while marks.mentions.len() > MAX_MENTION_COUNT as usize {
            marks.mentions.pop_first();
        }
        while marks.mentions.first().is_some_and(|&seq| seq <= marks.read) {
            marks.mentions.pop_first();
        }
        let after = (marks.unread(), marks.mentioned());
        self.total += after.0 - before.0;
        self.total_mentions += after.1 - before.1;
        after != before
    }
}

/// A badge to send: the user's unread and mention counts in one conversation and over all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Badge {
    pub(crate) user: UserId,
    pub(crate) conversation: ConversationId,
    pub(crate) unread: i64,
    pub(crate) total: i64,
    pub(crate) mentions: i64,
    pub(crate) total_mentions: i64,
}

/// A committed message, as the table needs it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Arrival<'a> {
    pub(crate) conversation: ConversationId,
    pub(crate) sender: UserId,
    pub(crate) seq: i64,
    /// Members it mentions by name.
    pub(crate) mentions: &'a [UserId],
    /// It mentions every member but the sender.
    pub(crate) everyone: bool,
}

/// The shard's table.
#[derive(Debug, Default)]
pub(crate) struct Unread {
    users: IdMap<UserId, UserUnread>,
    /// Users with a changed count not yet sent: a flush visits only these, not every user here.
    changed: IdSet<UserId>,
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
            state.raise(
                row.conversation,
                row.last_seq,
                row.last_read_seq,
                &row.mentions,
            );
        }
        state.loaded = true;
        if !state.dirty.is_empty() {
            self.changed.insert(user);
        }
    }

    /// A committed message. Returns users who turn out to be in a conversation their loaded
    /// state did not have (they just joined it): the caller reloads them.
    pub(crate) fn message(&mut self, message: Arrival<'_>, recipients: &[UserId]) -> Vec<UserId> {
        let Arrival {
            conversation,
            sender,
            seq,
            ..
        } = message;
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
            let mentioned =
                *user != sender && (message.everyone || message.mentions.contains(user));
            let mentions: &[i64] = if mentioned { &[seq] } else { &[] };
            if state.raise(conversation, seq, read, mentions) {
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
            && state.raise(conversation, last_seq, seq, &[])
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
            state.total_mentions -= marks.mentioned();
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
                let (unread, mentions) = state
                    .conversations
                    .get(&conversation)
                    .map_or((0, 0), |m| (m.unread(), m.mentioned()));
                badges.push(Badge {
                    user,
                    conversation,
                    unread,
                    total: state.total,
                    mentions,
                    total_mentions: state.total_mentions,
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
            mentions: Vec::new(),
        }
    }

    fn plain(conversation: ConversationId, sender: UserId, seq: i64) -> Arrival<'static> {
        Arrival {
            conversation,
            sender,
            seq,
            mentions: &[],
            everyone: false,
        }
    }

    fn naming<'a>(arrival: Arrival<'static>, mentions: &'a [UserId]) -> Arrival<'a> {
        Arrival {
            mentions,
            ..arrival
        }
    }

    #[test]
    fn mentions_count_above_the_watermark_in_any_order() {
        let (c1, c2, alice, bob) = ids();
        let mut table = Unread::default();
        table.track(bob);
        let named = [bob];
        // Seq 6 names bob before the load, which knew seq 3 (read 1) with a mention at 2.
        table.message(naming(plain(c1, alice, 6), &named), &[alice, bob]);
        let mut stored = rs(c1, 3, 1);
        stored.mentions = vec![2];
        table.loaded(bob, &[stored, rs(c2, 0, 0)]);
        let badge = table.take_badges()[0];
        assert_eq!(
            (badge.unread, badge.mentions, badge.total_mentions),
            (5, 2, 2)
        );
        // @everyone in c2 counts for bob, not for its sender; a repeat of seq 6 changes nothing.
        table.message(
            Arrival {
                everyone: true,
                ..plain(c2, alice, 1)
            },
            &[alice, bob],
        );
        table.message(naming(plain(c1, alice, 6), &named), &[alice, bob]);
        let badges = table.take_badges();
        assert_eq!(badges.len(), 1);
        assert_eq!(
            (
                badges[0].conversation,
                badges[0].mentions,
                badges[0].total_mentions
            ),
            (c2, 1, 3)
        );
        // Reading c1 up to 4 leaves the mention at 6.
        table.read(c1, bob, 4, 6);
        let badge = table.take_badges()[0];
        assert_eq!(
            (badge.unread, badge.mentions, badge.total_mentions),
            (2, 1, 2)
        );
        // Bob's own mention of himself never counts.
        table.message(naming(plain(c1, bob, 7), &named), &[alice, bob]);
        let badge = table.take_badges()[0];
        assert_eq!((badge.unread, badge.mentions), (0, 0));
    }

    #[test]
    fn mention_counts_stop_at_the_bound() {
        let (c1, _, alice, bob) = ids();
        let mut table = Unread::default();
        table.track(bob);
        table.loaded(bob, &[rs(c1, 0, 0)]);
        let named = [bob];
        for seq in 1..=(MAX_MENTION_COUNT + 5) {
            table.message(naming(plain(c1, alice, seq), &named), &[bob]);
        }
        assert_eq!(table.take_badges()[0].mentions, MAX_MENTION_COUNT);
        // The newest are kept: reading all but the last 10 leaves 10.
        table.read(c1, bob, MAX_MENTION_COUNT - 5, MAX_MENTION_COUNT + 5);
        assert_eq!(table.take_badges()[0].mentions, 10);
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
        table.message(plain(c1, alice, 5), &[alice, bob]);
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
                total: 3,
                mentions: 0,
                total_mentions: 0
            }]
        );
        // Bob sends in c2: his own message is read.
        table.message(plain(c2, bob, 11), &[alice, bob]);
        assert!(table.take_badges().is_empty(), "nothing changed for bob");
        // Bob reads c1 up to 5 on another device.
        table.read(c1, bob, 5, 5);
        assert_eq!(
            table.take_badges(),
            vec![Badge {
                user: bob,
                conversation: c1,
                unread: 0,
                total: 0,
                mentions: 0,
                total_mentions: 0
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
        assert_eq!(
            table.message(plain(c2, alice, 40), &[alice, bob]),
            vec![bob]
        );
        assert!(table.take_badges().is_empty(), "held until reloaded");
        // Bob joined c2 at seq 39.
        table.loaded(bob, &[rs(c1, 1, 1), rs(c2, 39, 39)]);
        assert_eq!(
            table.take_badges(),
            vec![Badge {
                user: bob,
                conversation: c2,
                unread: 1,
                total: 1,
                mentions: 0,
                total_mentions: 0
            }]
        );
        table.left(c2, bob);
        assert_eq!(
            table.take_badges(),
            vec![Badge {
                user: bob,
                conversation: c2,
                unread: 0,
                total: 0,
                mentions: 0,
                total_mentions: 0
            }]
        );
        table.forget(bob);
        table.message(plain(c1, alice, 2), &[bob]);
        assert!(table.take_badges().is_empty());
    }
}
