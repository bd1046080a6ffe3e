//! Fan-out between shards. The persister publishes each commit here, on its own thread and in
//! commit order; the bus encodes every message once (`message:received`, shared by all recipients)
//! and hands it to every shard's bounded inbox, where the shard's hub delivers it to the local
//! connections of the members. Outcomes of socket sends go to the origin shard only. This is the
//! in-process bus; a Redis-backed one for several instances will sit behind the same sink.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use parley_persister::writer::{CommitSink, Outcome, SinkEvent, SocketOrigin, Verdict};
use parley_shared::{ErrorBody, ErrorCode, SessionId, UserId};
use tokio::sync::mpsc;

use crate::api::views::MessageView;
use crate::metrics::Metrics;
use crate::ws::codec;

/// One event for a shard.
#[derive(Debug)]
pub(crate) enum Delivery {
    /// A committed message for `recipients` (the members at commit).
    Message {
        recipients: Arc<[UserId]>,
        /// `message:received`, encoded once.
        received: Bytes,
        /// The message object alone, to build the sender's `message:sent` around.
        message_json: Bytes,
        origin: Option<SocketOrigin>,
    },
    /// The answer to one socket send that produced no new message.
    Answer { origin: SocketOrigin, frame: Bytes },
    /// A login session was revoked (logout, refresh-token reuse): its sockets must close.
    Revoked { session: SessionId },
}

/// The receiving ends, one per shard, handed to the gateway.
#[derive(Debug)]
pub struct Inboxes {
    pub(crate) receivers: Vec<mpsc::Receiver<Arc<Delivery>>>,
    pub(crate) overflowed: Arc<[AtomicBool]>,
}

/// The in-process bus.
#[derive(Debug)]
pub struct Bus {
    shards: Vec<mpsc::Sender<Arc<Delivery>>>,
    overflowed: Arc<[AtomicBool]>,
    metrics: Arc<Metrics>,
}

impl Bus {
    /// A bus for `shards` shards with `capacity` events queued per shard.
    pub fn new(shards: usize, capacity: usize, metrics: Arc<Metrics>) -> (Arc<Self>, Inboxes) {
        let (senders, receivers): (Vec<_>, Vec<_>) =
            (0..shards).map(|_| mpsc::channel(capacity.max(1))).unzip();
        let overflowed: Arc<[AtomicBool]> = (0..shards).map(|_| AtomicBool::new(false)).collect();
        (
            Arc::new(Self {
                shards: senders,
                overflowed: Arc::clone(&overflowed),
                metrics,
            }),
            Inboxes {
                receivers,
                overflowed,
            },
        )
    }

    /// Tells every shard that `session` is revoked, so its sockets close (4401).
    pub(crate) fn revoke(&self, session: SessionId) {
        let delivery = Arc::new(Delivery::Revoked { session });
        for shard in 0..self.shards.len() {
            self.send(shard, Arc::clone(&delivery));
        }
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
        for event in events {
            match event {
                SinkEvent::Committed {
                    message,
                    members,
                    origin,
                } => {
                    self.metrics.send("stored");
                    let message_json = Bytes::from(message_json(&message));
                    let delivery = Arc::new(Delivery::Message {
                        recipients: members,
                        received: codec::encode_received(&message_json),
                        message_json,
                        origin,
                    });
                    for shard in 0..self.shards.len() {
                        self.send(shard, Arc::clone(&delivery));
                    }
                }
                SinkEvent::Answered { origin, outcome } => {
                    self.metrics.send(result_name(&outcome));
                    let frame = answer_frame(&origin, &outcome);
                    let shard = origin.shard;
                    self.send(shard, Arc::new(Delivery::Answer { origin, frame }));
                }
            }
        }
    }
}

/// The `parley_sends_total` result of an outcome.
pub(crate) fn result_name(outcome: &Outcome) -> &'static str {
    match outcome {
        Outcome::Stored(Verdict::Inserted(_)) => "stored",
        Outcome::Stored(Verdict::Duplicate(_)) => "duplicate",
        Outcome::Stored(Verdict::NotMember) => "NOT_FOUND",
        Outcome::Stored(Verdict::BadReply) => "VALIDATION_ERROR",
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
    let error = |body: ErrorBody| codec::encode_error("message:error", id, Some(cmid), &body);
    match outcome {
        Outcome::Stored(Verdict::Inserted(message) | Verdict::Duplicate(message)) => {
            codec::encode_sent(id, cmid, &message_json(message))
        }
        Outcome::Stored(Verdict::NotMember) => error(ErrorBody::new(
            ErrorCode::NotFound,
            "Conversation not found",
        )),
        Outcome::Stored(Verdict::BadReply) => error(
            ErrorBody::new(ErrorCode::ValidationError, "Invalid message")
                .with_detail("replyTo", "is not a message of this conversation"),
        ),
        Outcome::Failed(_) => error(
            ErrorBody::new(
                ErrorCode::DbError,
                "Message not saved; retry with the same clientMessageId",
            )
            .with_retry_after(1),
        ),
    }
}
