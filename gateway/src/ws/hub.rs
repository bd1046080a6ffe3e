//! One shard's WebSocket registry: live sessions by connection, by user and by subscribed
//! conversation; delivery of fan-out events to the local connections (in inbox order, so per
//! conversation in `seq` order); the unread counts of the users connected here, with their
//! badges; and the shard's part of shutdown.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use bytes::Bytes;
use parley_persister::store::conversations::ReadState;
use parley_persister::writer::ConnAddress;
use parley_shared::hash::{IdMap, IdSet};
use parley_shared::{ConversationId, ErrorBody, ErrorCode, SessionId, UserId};
use tokio::sync::Notify;

use super::outbox::{Class, Outbox};
use super::toasts::Toasts;
use super::unread::{Arrival, Unread};
use super::watch::Watchers;
use crate::fanout::Delivery;
use crate::protocol::events::server;
use crate::protocol::{self as codec, close};

/// What the hub knows of one live session.
#[derive(Debug)]
pub(crate) struct SessionHandle {
    pub(crate) conn: u64,
    pub(crate) user: Cell<Option<UserId>>,
    /// The login session of the token the socket authenticated with.
    pub(crate) session: Cell<Option<SessionId>>,
    pub(crate) outbox: Outbox,
    /// Sends submitted and not yet answered.
    pub(crate) pending: Cell<usize>,
    pub(crate) answered: Notify,
    /// Shutdown began: no new sends.
    pub(crate) draining: Cell<bool>,
    /// When the reader last handled a frame.
    pub(crate) last_frame: Cell<tokio::time::Instant>,
    /// Conversations this connection subscribed to (typing goes to subscribers only).
    pub(crate) subscriptions: RefCell<IdSet<ConversationId>>,
    /// Users whose presence this connection watches.
    pub(crate) presence_subscriptions: RefCell<IdSet<UserId>>,
    /// The conversation the client shows now (`focus`): its messages are not toasted here.
    pub(crate) focus: Cell<Option<ConversationId>>,
}

impl SessionHandle {
    pub(crate) fn new(conn: u64, outbox: Outbox) -> Self {
        Self {
            conn,
            user: Cell::new(None),
            session: Cell::new(None),
            outbox,
            pending: Cell::new(0),
            answered: Notify::new(),
            draining: Cell::new(false),
            last_frame: Cell::new(tokio::time::Instant::now()),
            subscriptions: RefCell::new(IdSet::default()),
            presence_subscriptions: RefCell::new(IdSet::default()),
            focus: Cell::new(None),
        }
    }

    fn answered_one(&self) {
        self.pending.set(self.pending.get().saturating_sub(1));
        self.answered.notify_waiters();
    }
}

/// Presence watches to check again after someone left a conversation: `conn`, acting for `owner`,
/// watches `watched`, which was allowed only while they shared a conversation.
#[derive(Debug)]
pub(crate) struct Recheck {
    pub(crate) conn: u64,
    pub(crate) owner: UserId,
    pub(crate) watched: Vec<UserId>,
}

mod drain;
mod toasting;

/// The registry.
#[derive(Debug)]
pub(crate) struct Hub {
    instance: parley_shared::InstanceId,
    shard: usize,
    metrics: std::sync::Arc<crate::metrics::Metrics>,
    sessions: RefCell<IdMap<u64, Rc<SessionHandle>>>,
    by_user: RefCell<IdMap<UserId, Vec<u64>>>,
    by_conversation: RefCell<IdMap<ConversationId, Vec<u64>>>,
    unread: RefCell<Unread>,
    /// Toasts of the users connected here.
    toasts: RefCell<Toasts>,
    /// Who watches whose presence.
    pub(crate) watchers: RefCell<Watchers>,
    /// Users whose unread state must be (re)loaded from the database.
    to_load: RefCell<Vec<UserId>>,
    /// Users whose toast context must be read again (their preferences changed).
    to_reload_toasts: RefCell<Vec<UserId>>,
    /// Presence watches to check against the database again.
    to_recheck: RefCell<Vec<Recheck>>,
    emptied: Notify,
    draining: Cell<bool>,
}

impl Hub {
    pub(crate) fn new(
        instance: parley_shared::InstanceId,
        shard: usize,
        metrics: std::sync::Arc<crate::metrics::Metrics>,
        toast_window: Duration,
    ) -> Self {
        Self {
            instance,
            shard,
            metrics,
            sessions: RefCell::default(),
            by_user: RefCell::default(),
            by_conversation: RefCell::default(),
            unread: RefCell::default(),
            toasts: RefCell::new(Toasts::new(toast_window)),
            watchers: RefCell::default(),
            to_load: RefCell::default(),
            to_reload_toasts: RefCell::default(),
            to_recheck: RefCell::default(),
            emptied: Notify::new(),
            draining: Cell::new(false),
        }
    }

    fn gauge(&self) -> Option<&parley_shared::metrics::Gauge> {
        self.metrics.ws_connections.get(self.shard)
    }

    pub(crate) fn register(&self, session: Rc<SessionHandle>) {
        self.sessions.borrow_mut().insert(session.conn, session);
        if let Some(gauge) = self.gauge() {
            gauge.inc();
        }
    }

    /// Records that `conn` now acts for `user` (after authentication). The user's unread state
    /// is queued for loading if this shard did not track them yet.
    pub(crate) fn bind_user(&self, conn: u64, user: UserId) {
        let mut by_user = self.by_user.borrow_mut();
        let conns = by_user.entry(user).or_default();
        if !conns.contains(&conn) {
            conns.push(conn);
        }
        if self.unread.borrow_mut().track(user) {
            self.toasts.borrow_mut().track(user);
            self.to_load.borrow_mut().push(user);
        }
    }

    /// Users whose unread state should be loaded now (taken: the caller loads them).
    pub(crate) fn take_loads(&self) -> Vec<UserId> {
        std::mem::take(&mut *self.to_load.borrow_mut())
    }

    /// The stored unread state of `user` arrived.
    pub(crate) fn unread_loaded(&self, user: UserId, rows: &[ReadState]) {
        if !self.by_user.borrow().contains_key(&user) {
            return; // gone meanwhile
        }
        self.unread.borrow_mut().loaded(user, rows);
        let partners = rows.iter().filter_map(|r| r.partner).collect();
        self.watchers.borrow_mut().set_partners(user, partners);
        self.flush_badges();
    }

    /// Adds `conn` to the subscribers of `conversation` (membership already checked).
    pub(crate) fn subscribe(&self, conn: u64, conversation: ConversationId) {
        let conns = &mut *self.by_conversation.borrow_mut();
        let list = conns.entry(conversation).or_default();
        if !list.contains(&conn) {
            list.push(conn);
        }
    }

    /// Removes `conn` from the subscribers of `conversation`.
    pub(crate) fn unsubscribe(&self, conn: u64, conversation: ConversationId) {
        let conns = &mut *self.by_conversation.borrow_mut();
        if let Some(list) = conns.get_mut(&conversation) {
            list.retain(|c| *c != conn);
            if list.is_empty() {
                conns.remove(&conversation);
            }
        }
    }

    /// Sends every changed unread count as `notification:badge` to the user's connections here.
    pub(crate) fn flush_badges(&self) {
        let badges = {
            let mut unread = self.unread.borrow_mut();
            if !unread.has_badges() {
                return;
            }
            unread.take_badges()
        };
        for badge in badges {
            let counts = codec::BadgeCounts {
                unread: badge.unread,
                total: badge.total,
                mentions: badge.mentions,
                total_mentions: badge.total_mentions,
            };
            let frame = codec::encode_badge(badge.conversation, counts);
            self.to_user(badge.user, None, &frame, Class::Durable);
        }
    }

    /// The connection of an event's origin, if it is on this shard of this process.
    fn local(&self, origin: Option<ConnAddress>) -> Option<u64> {
        origin
            .filter(|to| to.instance == self.instance && to.shard == self.shard)
            .map(|to| to.conn)
    }

    /// Queues `frame` on every connection of `user` here but `except`.
    fn to_user(&self, user: UserId, except: Option<u64>, frame: &Bytes, class: Class) {
        let sessions = self.sessions.borrow();
        for conn in self.by_user.borrow().get(&user).into_iter().flatten() {
            if Some(*conn) == except {
                continue;
            }
            if let Some(session) = sessions.get(conn) {
                session.outbox.push(class, frame.clone());
            }
        }
    }

    pub(crate) fn unregister(&self, conn: u64) {
        let Some(session) = self.sessions.borrow_mut().remove(&conn) else {
            return;
        };
        if let Some(gauge) = self.gauge() {
            gauge.dec();
        }
        if let Some(user) = session.user.get() {
            let mut by_user = self.by_user.borrow_mut();
            if let Some(conns) = by_user.get_mut(&user) {
                conns.retain(|c| *c != conn);
                if conns.is_empty() {
                    by_user.remove(&user);
                    self.unread.borrow_mut().forget(user);
                    self.toasts.borrow_mut().forget(user);
                    self.watchers.borrow_mut().forget(user);
                }
            }
        }
        for conversation in session.subscriptions.borrow().iter() {
            self.unsubscribe(conn, *conversation);
        }
        let mut watchers = self.watchers.borrow_mut();
        for watched in session.presence_subscriptions.borrow().iter() {
            watchers.unsubscribe(conn, *watched);
        }
        if self.sessions.borrow().is_empty() {
            self.emptied.notify_waiters();
        }
    }

    /// Live sessions on this shard.
    pub(crate) fn len(&self) -> usize {
        self.sessions.borrow().len()
    }

    /// Whether shutdown has begun.
    pub(crate) fn is_draining(&self) -> bool {
        self.draining.get()
    }

    /// Delivers one fan-out event.
    pub(crate) fn deliver(&self, delivery: &Delivery) {
        match delivery {
            Delivery::Message {
                conversation,
                sender,
                seq,
                recipients,
                mentions,
                everyone,
                urgent,
                received,
                message_json,
                origin,
                committed_at,
            } => {
                let origin_conn = self.local(origin.as_ref().map(|o| o.to));
                for user in recipients.iter() {
                    self.to_user(*user, origin_conn, received, Class::Durable);
                }
                // The sender's own ack comes from the same ordered stream.
                if let (Some(origin), Some(conn)) = (origin, origin_conn)
                    && let Some(session) = self.sessions.borrow().get(&conn)
                {
                    let frame = codec::encode_sent(
                        origin.request.as_deref(),
                        &origin.client_message_id,
                        message_json,
                    );
                    session.outbox.push(Class::Durable, frame);
                    session.answered_one();
                }
                if let Some(at) = committed_at {
                    let waited = at.elapsed().as_secs_f64();
                    self.metrics.commit_to_delivery_seconds.observe(waited);
                }
                let arrival = Arrival {
                    conversation: *conversation,
                    sender: *sender,
                    seq: *seq,
                    mentions,
                    everyone: *everyone,
                };
                let reload = self.unread.borrow_mut().message(arrival, recipients);
                self.to_load.borrow_mut().extend(reload);
                self.toast_message(&arrival, recipients, message_json, *urgent);
            }
            Delivery::Changed {
                recipients,
                event,
                data,
                frame,
                origin,
            } => {
                let origin_conn = self.local(origin.as_ref().map(|o| o.to));
                for user in recipients.iter() {
                    self.to_user(*user, origin_conn, frame, Class::Durable);
                }
                if let (Some(origin), Some(conn)) = (origin, origin_conn)
                    && let Some(session) = self.sessions.borrow().get(&conn)
                {
                    let ack = codec::encode_raw(event, origin.request.as_deref(), data);
                    session.outbox.push(Class::Durable, ack);
                    session.answered_one();
                }
            }
            Delivery::Reply {
                conn,
                frame,
                answers,
            } => {
                if let Some(session) = self.sessions.borrow().get(conn) {
                    session.outbox.push(Class::Durable, frame.clone());
                    if *answers {
                        session.answered_one();
                    }
                }
            }
            Delivery::Read {
                conversation,
                reader,
                seq,
                last_seq,
                notices,
            } => {
                self.unread
                    .borrow_mut()
                    .read(*conversation, *reader, *seq, *last_seq);
                for (user, frame) in notices {
                    self.to_user(*user, None, frame, Class::Durable);
                }
            }
            Delivery::Left { conversation, user } => self.left(*conversation, *user),
            Delivery::Preferences { user } => self.preferences_changed(*user),
            Delivery::Presence {
                user,
                status,
                frame,
            } => {
                self.toasts
                    .borrow_mut()
                    .status(*user, *status == crate::presence::Status::Dnd);
                let sessions = self.sessions.borrow();
                let conns = self
                    .watchers
                    .borrow()
                    .connections(*user, &self.by_user.borrow());
                for conn in conns {
                    if let Some(session) = sessions.get(&conn) {
                        session.outbox.push(Class::Ephemeral, frame.clone());
                    }
                }
            }
            Delivery::Ephemeral {
                conversation,
                user,
                frame,
            } => {
                let sessions = self.sessions.borrow();
                for conn in self
                    .by_conversation
                    .borrow()
                    .get(conversation)
                    .into_iter()
                    .flatten()
                {
                    if let Some(session) = sessions.get(conn)
                        && session.user.get() != Some(*user)
                    {
                        session.outbox.push(Class::Ephemeral, frame.clone());
                    }
                }
            }
            Delivery::Revoked { user, session } => {
                let sessions = self.sessions.borrow();
                let conns = self.by_user.borrow().get(user).cloned().unwrap_or_default();
                for handle in conns.iter().filter_map(|conn| sessions.get(conn)) {
                    if handle.session.get() == Some(*session) {
                        let body =
                            ErrorBody::new(ErrorCode::Unauthorized, "Session ended (logged out)");
                        handle.outbox.push(
                            Class::Durable,
                            codec::encode_error(server::AUTH_ERROR, None, None, &body),
                        );
                        handle.outbox.close(close::UNAUTHORIZED, "session revoked");
                    }
                }
            }
        }
    }

    /// `user` left (or was removed from) `conversation`: their unread count there goes, every
    /// connection of theirs here stops being subscribed to it (no more typing in or out), and the
    /// presence watches that sharing it may have allowed are queued to be checked again.
    fn left(&self, conversation: ConversationId, user: UserId) {
        self.unread.borrow_mut().left(conversation, user);
        let sessions = self.sessions.borrow();
        let mut rechecks = self.to_recheck.borrow_mut();
        for conn in self.by_user.borrow().get(&user).into_iter().flatten() {
            let Some(session) = sessions.get(conn) else {
                continue;
            };
            if session.subscriptions.borrow_mut().remove(&conversation) {
                self.unsubscribe(*conn, conversation);
            }
            let watched: Vec<UserId> = session
                .presence_subscriptions
                .borrow()
                .iter()
                .copied()
                .collect();
            if !watched.is_empty() {
                rechecks.push(Recheck {
                    conn: *conn,
                    owner: user,
                    watched,
                });
            }
        }
        for conn in self.watchers.borrow().subscribers(user) {
            if let Some(owner) = sessions.get(&conn).and_then(|s| s.user.get())
                && owner != user
            {
                rechecks.push(Recheck {
                    conn,
                    owner,
                    watched: vec![user],
                });
            }
        }
    }

    /// Watches to check again (taken: the caller checks them).
    pub(crate) fn take_rechecks(&self) -> Vec<Recheck> {
        std::mem::take(&mut *self.to_recheck.borrow_mut())
    }

    /// Ends `conn`'s watches of `gone` (users it no longer shares a conversation with).
    pub(crate) fn end_watches(&self, conn: u64, gone: &[UserId]) {
        let sessions = self.sessions.borrow();
        let Some(session) = sessions.get(&conn) else {
            return;
        };
        let mut watchers = self.watchers.borrow_mut();
        for watched in gone {
            session.presence_subscriptions.borrow_mut().remove(watched);
            watchers.unsubscribe(conn, *watched);
        }
    }

    /// Closes every session with `code` (the fan-out fell behind: they must resync).
    pub(crate) fn close_all(&self, code: u16, reason: &str) {
        for session in self.sessions.borrow().values() {
            session.outbox.close(code, reason);
        }
    }
}
