//! Toasts for the users connected to one shard: whether a committed message is told to a
//! recipient beyond their badge (their level and mute for the conversation, do-not-disturb by
//! status or schedule, a mention), and grouping: the first message of a conversation toasts at
//! once, the ones within `notifications.toast_group_window` after it are gathered into one toast
//! at the window's end ("3 new messages"). Which connections get a toast (not those with the
//! conversation in focus) is the hub's part. No I/O: the stored context comes in, toasts go out.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::{Duration, Instant};

use bytes::Bytes;
use parley_persister::store::notifications::{ConversationPrefs, Level, ToastContext};
use parley_shared::hash::{IdMap, IdSet};
use parley_shared::{ConversationId, UserId};
use time::OffsetDateTime;

/// Longest toast body, in characters (the message's text is cut to it).
pub(crate) const MAX_BODY_CHARS: usize = 100;
/// How long a loaded context is trusted: its do-not-disturb windows reach from yesterday to
/// tomorrow, so it is read again well before they run out.
const CONTEXT_FOR: time::Duration = time::Duration::hours(12);
/// The title of a conversation the context does not know yet (joined after it was read).
const UNKNOWN_TITLE: &str = "New message";

/// Whether a message is told to a member beyond the badge.
pub(crate) fn heard(
    prefs: ConversationPrefs,
    now: OffsetDateTime,
    dnd: bool,
    mentioned: bool,
    urgent: bool,
) -> bool {
    let muted = prefs.muted_until.is_some_and(|until| until > now);
    match prefs.level {
        Level::Off => false,
        Level::Mentions if !mentioned && !urgent => false,
        _ => urgent || !(muted || dnd),
    }
}

/// `text` cut to [`MAX_BODY_CHARS`] characters (the last one an ellipsis when it was longer).
pub(crate) fn body(text: &str) -> String {
    if text.chars().count() <= MAX_BODY_CHARS {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(MAX_BODY_CHARS - 1).collect();
    out.push('…');
    out
}

/// A committed message, as one recipient's toast needs it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Incoming<'a> {
    pub(crate) conversation: ConversationId,
    /// The message object (JSON), read only when a toast goes out: most messages of a busy
    /// conversation are only counted into a group.
    pub(crate) message: &'a Bytes,
    pub(crate) mentioned: bool,
    pub(crate) urgent: bool,
}

/// A toast to send to `user`'s connections that do not have `conversation` in focus.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Toast {
    pub(crate) user: UserId,
    pub(crate) conversation: ConversationId,
    /// The newest message it tells of (its object, JSON).
    pub(crate) message: Bytes,
    pub(crate) title: String,
    /// How many messages it tells of: one (the body is its text), or a group.
    pub(crate) count: u32,
    pub(crate) urgent: bool,
}

impl Toast {
    /// The body: the message's text for one message, "3 new messages" for a group.
    pub(crate) fn body(&self, text: &str) -> String {
        match self.count {
            1 => body(text),
            count => format!("{count} new messages"),
        }
    }
}

#[derive(Debug)]
struct Loaded {
    conversations: IdMap<ConversationId, (String, ConversationPrefs)>,
    dnd: Vec<(OffsetDateTime, OffsetDateTime)>,
    until: OffsetDateTime,
}

/// Messages gathered after a toast, told at the window's end.
#[derive(Debug)]
struct Group {
    opened: Instant,
    held: u32,
    newest: Option<Bytes>,
}

#[derive(Debug, Default)]
struct UserToasts {
    /// `None` until the stored context arrived: no toasts before (like badges).
    context: Option<Loaded>,
    /// The user's status is `dnd`.
    dnd_status: bool,
    groups: IdMap<ConversationId, Group>,
}

impl UserToasts {
    fn in_dnd(&self, now: OffsetDateTime) -> bool {
        self.dnd_status
            || self
                .context
                .as_ref()
                .is_some_and(|c| c.dnd.iter().any(|(start, end)| *start <= now && now < *end))
    }
}

/// The shard's table.
#[derive(Debug)]
pub(crate) struct Toasts {
    window: Duration,
    users: IdMap<UserId, UserToasts>,
    /// Groups holding messages, by when their window ends (soonest first). An entry whose group
    /// was reopened or forgotten since is stale and skipped when it comes up.
    held: BinaryHeap<Reverse<(Instant, UserId, ConversationId)>>,
    /// Users whose context must be read again (unknown conversation, expired schedule).
    reloads: IdSet<UserId>,
}

impl Toasts {
    pub(crate) fn new(window: Duration) -> Self {
        Self {
            window,
            users: IdMap::default(),
            held: BinaryHeap::new(),
            reloads: IdSet::default(),
        }
    }

    /// Starts tracking `user` (their first connection here); their context is to be loaded.
    pub(crate) fn track(&mut self, user: UserId) {
        self.users.entry(user).or_default();
    }

    /// Stops tracking `user` (their last connection here closed).
    pub(crate) fn forget(&mut self, user: UserId) {
        // Its entries in `held` go stale and are dropped when they come up.
        self.users.remove(&user);
        self.reloads.remove(&user);
    }

    /// The stored context of `user` arrived (read at `now`).
    pub(crate) fn loaded(&mut self, user: UserId, context: ToastContext, now: OffsetDateTime) {
        let Some(state) = self.users.get_mut(&user) else {
            return;
        };
        state.context = Some(Loaded {
            conversations: context
                .conversations
                .into_iter()
                .map(|c| (c.conversation, (c.title, c.prefs)))
                .collect(),
            dnd: context.dnd,
            until: now + CONTEXT_FOR,
        });
    }

    /// `user`'s presence status changed (`dnd` or not).
    pub(crate) fn status(&mut self, user: UserId, dnd: bool) {
        if let Some(state) = self.users.get_mut(&user) {
            state.dnd_status = dnd;
        }
    }

    /// Whether `user` is tracked here.
    pub(crate) fn tracks(&self, user: UserId) -> bool {
        self.users.contains_key(&user)
    }

    /// Users whose context should be read again (taken: the caller reads them).
    pub(crate) fn take_reloads(&mut self) -> Vec<UserId> {
        self.reloads.drain().collect()
    }

    /// `message` reached `user`, who has a connection here without it in focus: a toast now,
    /// or nothing (not heard, or held for the group's toast).
    pub(crate) fn message(
        &mut self,
        user: UserId,
        message: Incoming<'_>,
        now: Instant,
        wall: OffsetDateTime,
    ) -> Option<Toast> {
        let state = self.users.get_mut(&user)?;
        let context = state.context.as_ref()?;
        if context.until <= wall {
            self.reloads.insert(user);
        }
        let known = context.conversations.get(&message.conversation);
        if known.is_none() {
            self.reloads.insert(user);
        }
        let prefs = known.map(|(_, prefs)| *prefs).unwrap_or_default();
        let title = known.map_or(UNKNOWN_TITLE, |(title, _)| title.as_str());
        if !heard(
            prefs,
            wall,
            state.in_dnd(wall),
            message.mentioned,
            message.urgent,
        ) {
            return None;
        }
        let title = title.to_owned();
        if let Some(group) = state.groups.get_mut(&message.conversation)
            && now < group.opened + self.window
            && !message.urgent
        {
            group.held += 1;
            group.newest = Some(message.message.clone());
            if group.held == 1 {
                let due = group.opened + self.window;
                self.held.push(Reverse((due, user, message.conversation)));
            }
            return None;
        }
        // Messages held by a window that ended before its toast went out are told with this one.
        let carried = state
            .groups
            .insert(
                message.conversation,
                Group {
                    opened: now,
                    held: 0,
                    newest: None,
                },
            )
            .map_or(0, |group| group.held);
        Some(Toast {
            user,
            conversation: message.conversation,
            message: message.message.clone(),
            title,
            count: carried + 1,
            urgent: message.urgent,
        })
    }

    /// Whether the entry for `user`'s group in `conversation`, due at `due`, is still that
    /// group's (held messages, not reopened since).
    fn live(&self, (due, user, conversation): &(Instant, UserId, ConversationId)) -> bool {
        self.users
            .get(user)
            .and_then(|state| state.groups.get(conversation))
            .is_some_and(|group| group.held > 0 && group.opened + self.window == *due)
    }

    /// When the next held group's window ends (stale entries on top are dropped first).
    pub(crate) fn next_due(&mut self) -> Option<Instant> {
        while let Some(Reverse(top)) = self.held.peek() {
            if self.live(top) {
                return Some(top.0);
            }
            self.held.pop();
        }
        None
    }

    /// The grouped toasts whose window ended by `now`; each group starts a new window, so a
    /// steady stream toasts once per window.
    pub(crate) fn due(&mut self, now: Instant) -> Vec<Toast> {
        let mut out = Vec::new();
        while let Some(Reverse(top)) = self.held.peek() {
            if top.0 > now {
                break;
            }
            let Some(Reverse(entry)) = self.held.pop() else {
                break;
            };
            if !self.live(&entry) {
                continue;
            }
            let (_, user, conversation) = entry;
            let Some(state) = self.users.get_mut(&user) else {
                continue;
            };
            let title = state
                .context
                .as_ref()
                .and_then(|c| c.conversations.get(&conversation))
                .map_or(UNKNOWN_TITLE, |(title, _)| title.as_str())
                .to_owned();
            let Some(group) = state.groups.get_mut(&conversation) else {
                continue;
            };
            if let Some(message) = group.newest.take() {
                out.push(Toast {
                    user,
                    conversation,
                    message,
                    title,
                    count: group.held,
                    urgent: false,
                });
            }
            group.opened = now;
            group.held = 0;
        }
        out
    }
}

#[cfg(test)]
#[path = "toasts_tests.rs"]
mod tests;
