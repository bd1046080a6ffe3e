//! Fan-out between shards. The persister publishes each commit here, on its own thread and in
//! commit order; the bus encodes every message once (`message:received`, shared by all recipients)
//! and hands it to every shard's bounded inbox, where the shard's hub delivers it to the local
//! connections of the members. Outcomes of socket sends go to the origin shard only. With several
//! instances, every event that starts here is also published through the cluster link, events
//! from other instances arrive through it, and messages pass the link's sequencer.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use parley_persister::writer::{
    CommitSink, ConnAddress, FrameOrigin, Outcome, ReadAdvance, SinkEvent, SocketOrigin, Verdict,
};
use parley_shared::time::format_timestamp;
use parley_shared::{ConversationId, ErrorBody, ErrorCode, SessionId, UserId};
use tokio::sync::mpsc;

use crate::api::views::MessageView;
use crate::auth::revoked::Revocations;
use crate::chat::change as changes;
use crate::metrics::Metrics;
use crate::protocol as codec;
use crate::protocol::events::server;

/// One event for a shard.
#[derive(Debug)]
pub(crate) enum Delivery {
    /// A committed message for `recipients` (the members at commit).
    Message {
        conversation: ConversationId,
        sender: UserId,
        seq: i64,
        recipients: Arc<[UserId]>,
        /// Members it mentions by name, and whether it mentions everyone (for badges). A `Vec`:
        /// most messages mention no one, and an empty one costs no allocation.
        mentions: Vec<UserId>,
        everyone: bool,
        /// Sent as urgent: it breaks through mutes and do-not-disturb (for toasts).
        urgent: bool,
        /// `message:received`, encoded once.
        received: Bytes,
        /// The message object alone, to build the sender's `message:sent` around.
        message_json: Bytes,
        origin: Option<SocketOrigin>,
        /// When this process's persister committed it (`None`: from another instance, or read
        /// back by a repair).
        committed_at: Option<std::time::Instant>,
    },
    /// A login session of `user` was revoked (logout, password change, refresh-token reuse...):
    /// its sockets must close.
    Revoked { user: UserId, session: SessionId },
    /// A committed edit, delete or reaction for `recipients` (the members at commit). The
    /// origin connection gets the same event with its frame's `id`: its acknowledgement.
    Changed {
        recipients: Arc<[UserId]>,
        event: &'static str,
        /// The event's `data`, encoded once.
        data: Bytes,
        /// The whole frame without an `id`, for everyone else.
        frame: Bytes,
        origin: Option<FrameOrigin>,
    },
    /// A frame for one connection of the addressed shard (the answer to a send that produced no
    /// new message, a refused change or read mark); `answers` when it ends a request the
    /// connection is waiting on (shutdown waits for those).
    Reply {
        conn: u64,
        frame: Bytes,
        answers: bool,
    },
    /// A read watermark moved: the reader's badges, the DM partner's `receipt:updated`, the group
    /// senders' `receipt:count`s.
    Read {
        conversation: ConversationId,
        reader: UserId,
        seq: i64,
        last_seq: i64,
        /// `(who, frame)`: frames for other users' connections.
        notices: Vec<(UserId, Bytes)>,
    },
    /// Someone left (or was removed from) a conversation: their unread count there goes.
    Left {
        conversation: ConversationId,
        user: UserId,
    },
    /// `user` changed their notification preferences: shards read them again.
    Preferences { user: UserId },
    /// A presence change of `user` (now `status`), for the connections watching them.
    Presence {
        user: UserId,
        status: crate::presence::Status,
        frame: Bytes,
    },
    /// An ephemeral event (typing) for the connections subscribed to `conversation`, except
    /// `user`'s own.
    Ephemeral {
        conversation: ConversationId,
        user: UserId,
        frame: Bytes,
    },
}

/// The receiving ends, one per shard, handed to the gateway.
#[derive(Debug)]
pub struct Inboxes {
    pub(crate) receivers: Vec<mpsc::Receiver<Arc<Delivery>>>,
    pub(crate) overflowed: Arc<[AtomicBool]>,
    /// The push outbox's feed (when push is on), for the shard that runs it.
    pub(crate) push: Option<crate::push::PushInbox>,
}

/// The other instances of a deployment, as the bus sees them: chosen at start (`None` in the
/// bus: this instance is alone; `cluster::Link`: through Redis).
pub(crate) trait Peers: Send + Sync + std::fmt::Debug {
    /// Publishes an event that started in this instance.
    fn publish(&self, delivery: &Delivery);
    /// Hands `delivery` to `deliver` when it may be delivered (messages in their conversation's
    /// order, under one lock so deliveries from several threads keep it); an already delivered
    /// message comes back.
    fn offer(
        &self,
        delivery: Arc<Delivery>,
        deliver: &mut dyn FnMut(Arc<Delivery>),
    ) -> Option<Arc<Delivery>>;
    /// A published presence change (for status reads).
    fn observe(&self, user: UserId, status: crate::presence::Status);
    /// Whether an event from another instance concerns this one at all.
    fn wanted(&self, delivery: &Delivery) -> bool;
}

/// The bus of one process.
#[derive(Debug)]
pub struct Bus {
    shards: Vec<mpsc::Sender<Arc<Delivery>>>,
    overflowed: Arc<[AtomicBool]>,
    metrics: Arc<Metrics>,
    /// Revoked login sessions: recorded here before any shard hears of them.
    revocations: Arc<Revocations>,
    /// This process, in connection addresses.
    instance: parley_shared::InstanceId,
    /// The other instances, through Redis (`None`: this instance is alone); the bus uses it as
    /// its `Peers`, the shared state (presence, limits, counts) is built on it.
    link: Option<Arc<crate::cluster::Link>>,
    /// Where committed seqs go for the push outbox (`None`: push is off).
    push: Option<crate::push::PushFeed>,
}

/// What a bus is built from.
#[derive(Debug)]
pub struct BusParts {
    /// This process, in connection addresses.
    pub instance: parley_shared::InstanceId,
    pub shards: usize,
    /// Events queued per shard.
    pub capacity: usize,
    pub metrics: Arc<Metrics>,
    /// Where revocations are recorded.
    pub revocations: Arc<Revocations>,
    pub(crate) link: Option<Arc<crate::cluster::Link>>,
    /// Feed the push outbox (`notifications.webhook_url` is set).
    pub push: bool,
}

impl Bus {
    /// A bus for the shards of one process.
    pub fn new(parts: BusParts) -> (Arc<Self>, Inboxes) {
        let BusParts {
            instance,
            shards,
            capacity,
            metrics,
            revocations,
            link,
            push,
        } = parts;
        let (push, push_inbox) = match push {
            true => {
                let (feed, inbox) = crate::push::feed();
                (Some(feed), Some(inbox))
            }
            false => (None, None),
        };
        let (senders, receivers): (Vec<_>, Vec<_>) =
            (0..shards).map(|_| mpsc::channel(capacity.max(1))).unzip();
        let overflowed: Arc<[AtomicBool]> = (0..shards).map(|_| AtomicBool::new(false)).collect();
        (
            Arc::new(Self {
                shards: senders,
                overflowed: Arc::clone(&overflowed),
                metrics,
                revocations,
                instance,
                link,
                push,
            }),
            Inboxes {
                receivers,
                overflowed,
                push: push_inbox,
            },
        )
    }

    /// Revokes `session`: its access tokens are refused from now on, on every shard, and every
    /// shard closes its sockets (4401).
    pub(crate) fn revoke(&self, user: UserId, session: SessionId) {
        self.revocations.revoke(session, std::time::Instant::now());
        self.fan(Delivery::Revoked { user, session });
    }

    /// Revokes `session` in this process only (every instance heard of it by itself: a
    /// revocation written outside the gateways, see `auth::watch`).
    pub(crate) fn revoke_here(&self, user: UserId, session: SessionId) {
        self.revocations.revoke(session, std::time::Instant::now());
        self.everywhere(Arc::new(Delivery::Revoked { user, session }));
    }

    /// The process this bus serves.
    pub(crate) fn instance(&self) -> parley_shared::InstanceId {
        self.instance
    }

    /// The revoked sessions this bus records.
    pub(crate) fn revocations(&self) -> Arc<Revocations> {
        Arc::clone(&self.revocations)
    }

    /// The Redis link to the other instances, when there are any (to build shared state on).
    pub(crate) fn link(&self) -> Option<&Arc<crate::cluster::Link>> {
        self.link.as_ref()
    }

    /// The other instances, as the bus delivers through them.
    fn peers(&self) -> Option<&dyn Peers> {
        self.link.as_deref().map(|link| link as &dyn Peers)
    }

    /// Tells every shard (of every instance) that `user` left `conversation`.
    pub(crate) fn left(&self, conversation: ConversationId, user: UserId) {
        self.fan(Delivery::Left { conversation, user });
    }

    /// Tells every shard (of every instance) that `user`'s notification preferences changed.
    pub(crate) fn preferences(&self, user: UserId) {
        self.fan(Delivery::Preferences { user });
    }

    /// A durable event for every connection of `recipients` (of every instance), outside any
    /// commit's stream: a new group's `conversation:created`.
    pub(crate) fn tell(&self, recipients: Arc<[UserId]>, event: &'static str, data: Bytes) {
        self.fan(Delivery::Changed {
            recipients,
            event,
            frame: codec::encode_raw(event, None, &data),
            data,
            origin: None,
        });
    }

    /// An ephemeral event for the subscribers of `conversation`.
    pub(crate) fn ephemeral(&self, conversation: ConversationId, user: UserId, frame: Bytes) {
        self.fan(Delivery::Ephemeral {
            conversation,
            user,
            frame,
        });
    }

    /// A presence change for every shard's watchers.
    pub(crate) fn presence(&self, user: UserId, status: crate::presence::Status, frame: Bytes) {
        self.fan(Delivery::Presence {
            user,
            status,
            frame,
        });
    }

    /// An event that starts in this instance: published to the other instances (when there are
    /// any) and delivered here, messages in their conversation's order.
    fn fan(&self, delivery: Delivery) {
        let delivery = Arc::new(delivery);
        match self.peers() {
            None => self.everywhere(delivery),
            Some(peers) => {
                peers.publish(&delivery);
                self.through(peers, delivery);
            }
        }
    }

    /// An event another instance published (from the cluster thread).
    pub(crate) fn arrived(&self, delivery: Arc<Delivery>) {
        let Some(peers) = self.peers() else {
            return;
        };
        if !peers.wanted(&delivery) {
            return;
        }
        if let Delivery::Revoked { session, .. } = &*delivery {
            self.revocations.revoke(*session, std::time::Instant::now());
        }
        self.through(peers, delivery);
    }

    /// Delivers what the sequencer releases of `delivery`.
    fn through(&self, peers: &dyn Peers, delivery: Arc<Delivery>) {
        if let Delivery::Presence { user, status, .. } = &*delivery {
            peers.observe(*user, *status);
        }
        let rejected = peers.offer(delivery, &mut |released| self.everywhere(released));
        // Already delivered (a repair read it from PostgreSQL first): its sender still gets the
        // acknowledgement the stream would have carried.
        if let Some(rejected) = rejected
            && let Delivery::Message {
                origin: Some(origin),
                message_json,
                ..
            } = &*rejected
        {
            let frame = codec::encode_sent(
                origin.request.as_deref(),
                &origin.client_message_id,
                message_json,
            );
            self.to_connection(origin.to, frame, true);
        }
    }

    /// Hands one event to every shard.
    pub(crate) fn everywhere(&self, delivery: Arc<Delivery>) {
        for shard in 0..self.shards.len() {
            self.send(shard, Arc::clone(&delivery));
        }
    }

    fn reply(&self, origin: &FrameOrigin, frame: Bytes, answers: bool) {
        self.to_connection(origin.to, frame, answers);
    }

    /// A frame for one connection: its shard's inbox (a connection of another process is not
    /// reachable through this in-process bus, and is not addressed by this process's persister).
    fn to_connection(&self, to: ConnAddress, frame: Bytes, answers: bool) {
        if to.instance != self.instance {
            tracing::warn!(instance = %to.instance, "an answer for another instance reached this bus");
            return;
        }
        let delivery = Delivery::Reply {
            conn: to.conn,
            frame,
            answers,
        };
        self.send(to.shard, Arc::new(delivery));
    }

    fn send(&self, shard: usize, delivery: Arc<Delivery>) {
        let Some(sender) = self.shards.get(shard) else {
            return;
        };
        match sender.try_send(delivery) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                // Never drop silently: the shard will close its connections for a resync.
                self.metrics.fanout_overflows.inc();
                if !self.overflowed[shard].swap(true, Ordering::AcqRel) {
                    tracing::error!(
                        shard,
                        "fan-out inbox full; the shard's connections will resync"
                    );
                }
            }
            // The shard has stopped: nobody there to deliver to.
            Err(mpsc::error::TrySendError::Closed(_)) => {}
        }
    }
}

impl CommitSink for Bus {
    fn publish(&self, events: Vec<SinkEvent>) {
        if let Some(push) = &self.push {
            push.committed(events.iter().filter_map(|event| match event {
                SinkEvent::Committed { message, .. } => {
                    Some((message.conversation_id, message.seq))
                }
                _ => None,
            }));
        }
        for event in events {
            match event {
                SinkEvent::Committed {
                    message,
                    members,
                    origin,
                    committed_at,
                } => {
                    self.metrics.send("stored");
                    let message_json = Bytes::from(message_json(&message));
                    self.fan(Delivery::Message {
                        conversation: message.conversation_id,
                        sender: message.sender_id,
                        seq: message.seq,
                        recipients: members,
                        mentions: message.mentions.clone(),
                        everyone: message.mention_everyone,
                        urgent: message.urgent,
                        received: codec::encode_received(&message_json),
                        message_json,
                        origin,
                        committed_at: Some(committed_at),
                    });
                }
                SinkEvent::Answered { origin, outcome } => {
                    self.metrics.send(result_name(&outcome));
                    let frame = answer_frame(&origin, &outcome);
                    self.to_connection(origin.to, frame, true);
                }
                SinkEvent::Changed { change, origin } => {
                    let event = changes::event_name(change.event);
                    let data = changes::event_data(&change);
                    self.fan(Delivery::Changed {
                        recipients: Arc::clone(&change.members),
                        event,
                        frame: codec::encode_raw(event, None, &data),
                        data,
                        origin,
                    });
                }
                SinkEvent::ChangeAnswered { origin, outcome } => {
                    if let Some(body) = changes::outcome_error(&outcome) {
                        let frame = codec::encode_error(
                            server::ERROR,
                            origin.request.as_deref(),
                            None,
                            &body,
                        );
                        self.reply(&origin, frame, true);
                    }
                }
                SinkEvent::Group(changed) => {
                    let recipients: Arc<[UserId]> = changed
                        .members
                        .iter()
                        .chain(&changed.former)
                        .copied()
                        .collect();
                    for (event, data) in crate::chat::group::events(&changed) {
                        self.fan(Delivery::Changed {
                            recipients: Arc::clone(&recipients),
                            event,
                            frame: codec::encode_raw(event, None, &data),
                            data,
                            origin: None,
                        });
                    }
                    // Former members keep nothing of the conversation: unread counts,
                    // subscriptions, presence through it.
                    for user in &changed.former {
                        self.left(changed.conversation.id, *user);
                    }
                }
                SinkEvent::Read(advance) => self.fan(read_delivery(&advance)),
                SinkEvent::ReadRefused { origin } => {
                    let body = ErrorBody::new(ErrorCode::NotFound, "Conversation not found");
                    let frame =
                        codec::encode_error(server::ERROR, origin.request.as_deref(), None, &body);
                    self.reply(&origin, frame, false);
                }
            }
        }
    }
}

impl Delivery {
    /// A stored message read back from PostgreSQL to fill a gap, for its members now.
    pub(crate) fn repaired(
        message: &parley_persister::store::messages::Message,
        recipients: &Arc<[UserId]>,
    ) -> Self {
        let message_json = Bytes::from(message_json(message));
        Delivery::Message {
            conversation: message.conversation_id,
            sender: message.sender_id,
            seq: message.seq,
            recipients: Arc::clone(recipients),
            mentions: message.mentions.clone(),
            everyone: message.mention_everyone,
            urgent: message.urgent,
            received: codec::encode_received(&message_json),
            message_json,
            origin: None,
            committed_at: None,
        }
    }
}

/// The fan-out of a moved read watermark: `receipt:updated` for a DM partner (blue ticks), one
/// `receipt:count` per newly read group message for its sender.
fn read_delivery(advance: &ReadAdvance) -> Delivery {
    let mut notices = Vec::new();
    if let Some(partner) = advance.partner {
        let data = serde_json::json!({
            "conversationId": advance.conversation,
            "userId": advance.reader,
            "seq": advance.seq,
            "readAt": format_timestamp(advance.read_at),
        });
        notices.push((partner, codec::encode(server::RECEIPT_UPDATED, None, data)));
    }
    for count in &advance.counts {
        let data = serde_json::json!({
            "conversationId": advance.conversation,
            "messageId": count.message,
            "readCount": count.read_count,
        });
        notices.push((
            count.sender,
            codec::encode(server::RECEIPT_COUNT, None, data),
        ));
    }
    Delivery::Read {
        conversation: advance.conversation,
        reader: advance.reader,
        seq: advance.seq,
        last_seq: advance.last_seq,
        notices,
    }
}

/// The `parley_sends_total` result of an outcome.
pub(crate) fn result_name(outcome: &Outcome) -> &'static str {
    match outcome {
        Outcome::Stored(Verdict::Inserted(_)) => "stored",
        Outcome::Stored(Verdict::Duplicate(_)) => "duplicate",
        Outcome::Stored(Verdict::NotMember) => "NOT_FOUND",
        Outcome::Stored(Verdict::BadReply) => "VALIDATION_ERROR",
        Outcome::Stored(Verdict::Blocked) => "FORBIDDEN",
        Outcome::Failed(_) => "DB_ERROR",
    }
}

/// `message:sent` (a retried client id: the original) or `message:error`.
/// A stored message as the JSON object every frame about it carries (encoded once per message).
pub(crate) fn message_json(message: &parley_persister::store::messages::Message) -> Vec<u8> {
    serde_json::to_vec(&MessageView::from(message)).expect("views serialise infallibly")
}

fn answer_frame(origin: &SocketOrigin, outcome: &Outcome) -> Bytes {
    let id = origin.request.as_deref();
    let cmid = origin.client_message_id.as_str();
    match outcome {
        Outcome::Stored(Verdict::Inserted(message) | Verdict::Duplicate(message)) => {
            codec::encode_sent(id, cmid, &message_json(message))
        }
        other => {
            let body = crate::chat::send::outcome_error(other).unwrap_or_else(|| {
                ErrorBody::new(ErrorCode::InternalError, "Unexpected send outcome")
            });
            codec::encode_error(server::MESSAGE_ERROR, id, Some(cmid), &body)
        }
    }
}
