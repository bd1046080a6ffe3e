//! The hub's part of toasts: which recipients of a message have a connection here without its
//! conversation in focus, the toasts to them (decided and grouped by `ws::toasts`), grouped toasts
//! when their window ends, and the stored context the table needs.

use std::borrow::Cow;
use std::time::Instant;

use bytes::Bytes;
use parley_persister::store::notifications::ToastContext;
use parley_shared::{ConversationId, UserId};
use serde::Deserialize;
use time::OffsetDateTime;

use super::Hub;
use crate::protocol as codec;
use crate::ws::outbox::Class;
use crate::ws::toasts::{Incoming, Toast};
use crate::ws::unread::Arrival;

/// What a toast takes from the message object.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Preview<'a> {
    #[serde(borrow)]
    id: Cow<'a, str>,
    #[serde(borrow)]
    sender_id: Cow<'a, str>,
    #[serde(borrow)]
    content: Cow<'a, str>,
}

impl Hub {
    /// Toasts of a message for its recipients connected here (never its sender).
    pub(super) fn toast_message(
        &self,
        arrival: &Arrival<'_>,
        recipients: &[UserId],
        message_json: &Bytes,
        urgent: bool,
    ) {
        let (now, wall) = (Instant::now(), OffsetDateTime::now_utc());
        // Read once, when the first toast of this message goes out.
        let mut preview: Option<Option<Preview<'_>>> = None;
        for user in recipients {
            if *user == arrival.sender
                || !self.toasts.borrow().tracks(*user)
                || !self.unfocused(*user, arrival.conversation)
            {
                continue;
            }
            let incoming = Incoming {
                conversation: arrival.conversation,
                message: message_json,
                mentioned: arrival.everyone || arrival.mentions.contains(user),
                urgent,
            };
            let toast = self.toasts.borrow_mut().message(*user, incoming, now, wall);
            if let Some(toast) = toast
                && let Some(message) =
                    preview.get_or_insert_with(|| serde_json::from_slice(message_json).ok())
            {
                self.send_toast(&toast, message);
            }
        }
    }

    /// Whether `user` has a connection here without `conversation` in focus.
    fn unfocused(&self, user: UserId, conversation: ConversationId) -> bool {
        let sessions = self.sessions.borrow();
        self.by_user
            .borrow()
            .get(&user)
            .into_iter()
            .flatten()
            .filter_map(|conn| sessions.get(conn))
            .any(|session| session.focus.get() != Some(conversation))
    }

    /// Queues `toast` on its user's connections here that do not have its conversation in focus.
    fn send_toast(&self, toast: &Toast, message: &Preview<'_>) {
        let body = toast.body(&message.content);
        let frame = codec::encode_toast(&codec::Toast {
            conversation_id: toast.conversation,
            message_id: &message.id,
            sender_id: &message.sender_id,
            title: &toast.title,
            body: &body,
            count: toast.count,
            priority: if toast.urgent { "urgent" } else { "normal" },
        });
        let sessions = self.sessions.borrow();
        for conn in self.by_user.borrow().get(&toast.user).into_iter().flatten() {
            if let Some(session) = sessions.get(conn)
                && session.focus.get() != Some(toast.conversation)
            {
                session.outbox.push(Class::Ephemeral, frame.clone());
            }
        }
        self.metrics.toasts.inc();
    }

    /// Sends the grouped toasts whose window has ended.
    pub(crate) fn flush_toasts(&self) {
        let due = self.toasts.borrow_mut().due(Instant::now());
        for toast in &due {
            if let Ok(message) = serde_json::from_slice::<Preview<'_>>(&toast.message) {
                self.send_toast(toast, &message);
            }
        }
    }

    /// When the next grouped toast is due.
    pub(crate) fn next_toast(&self) -> Option<Instant> {
        self.toasts.borrow_mut().next_due()
    }

    /// The stored toast context of `user` arrived, with whether their status is `dnd` now.
    pub(crate) fn toasts_loaded(&self, user: UserId, context: ToastContext, dnd: bool) {
        let mut toasts = self.toasts.borrow_mut();
        toasts.loaded(user, context, OffsetDateTime::now_utc());
        toasts.status(user, dnd);
    }

    /// `user` changed their notification preferences: read their context again.
    pub(super) fn preferences_changed(&self, user: UserId) {
        if self.toasts.borrow().tracks(user) {
            self.to_reload_toasts.borrow_mut().push(user);
        }
    }

    /// Users whose toast context should be read again (taken: the caller reads them).
    pub(crate) fn take_toast_reloads(&self) -> Vec<UserId> {
        let mut users = std::mem::take(&mut *self.to_reload_toasts.borrow_mut());
        users.extend(self.toasts.borrow_mut().take_reloads());
        users.sort_unstable();
        users.dedup();
        users
    }
}
