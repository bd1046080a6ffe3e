//! The gateway's hot paths, for the criterion benchmarks in `benches/` (not an API): client frame
//! parsing (simd-json, in place), server frame encoding, and one shard's fan-out of a committed
//! message to N local connections' outboxes.

use std::future::Future;
use std::rc::Rc;
use std::sync::Arc;

use bytes::Bytes;
use parley_persister::store::messages::Message;
use parley_shared::{ConversationId, UserId};

use crate::fanout::Delivery;
use crate::metrics::Metrics;
use crate::protocol as codec;
use crate::ws::hub::{Hub, SessionHandle};
use crate::ws::outbox::{Next, Outbox};

/// Parses one client text frame in place; true if it is a valid event.
pub fn parse_frame(buf: &mut [u8]) -> bool {
    codec::parse(buf).is_ok()
}

/// A stored message as the JSON object every frame about it carries.
pub fn message_json(message: &Message) -> Vec<u8> {
    crate::fanout::message_json(message)
}

/// `message:received` around an encoded message (once per message, shared by all recipients).
pub fn encode_received(message_json: &[u8]) -> Bytes {
    codec::encode_received(message_json)
}

/// `message:sent` for the sender.
pub fn encode_sent(client_message_id: &str, message_json: &[u8]) -> Bytes {
    codec::encode_sent(None, client_message_id, message_json)
}

/// One shard's registry with `n` authenticated connections of `n` users, all recipients.
#[derive(Debug)]
pub struct LocalFanout {
    hub: Hub,
    sessions: Vec<Rc<SessionHandle>>,
    recipients: Arc<[UserId]>,
    conversation: ConversationId,
    sender: UserId,
}

impl LocalFanout {
    pub fn new(n: usize) -> Self {
        let hub = Hub::new(
            parley_shared::InstanceId::generate(),
            0,
            Arc::new(Metrics::new(1)),
            std::time::Duration::from_secs(3),
        );
        let mut sessions = Vec::with_capacity(n);
        let mut recipients = Vec::with_capacity(n);
        for conn in 0..n as u64 {
            let session = Rc::new(SessionHandle::new(conn, Outbox::new(1024, 1 << 20)));
            let user = UserId::generate();
            hub.register(Rc::clone(&session));
            hub.bind_user(conn, user);
            sessions.push(session);
            recipients.push(user);
        }
        Self {
            hub,
            sessions,
            recipients: recipients.into(),
            conversation: ConversationId::generate(),
            sender: UserId::generate(),
        }
    }

    /// Delivers one encoded `message:received` to every connection, then takes each outbox's
    /// frames as its writer would. Returns the frames taken.
    pub fn deliver(&self, received: &Bytes) -> usize {
        self.hub.deliver(&Delivery::Message {
            conversation: self.conversation,
            sender: self.sender,
            seq: 1,
            recipients: Arc::clone(&self.recipients),
            mentions: Vec::new(),
            everyone: false,
            urgent: false,
            received: received.clone(),
            message_json: Bytes::new(),
            origin: None,
            committed_at: None,
        });
        let mut taken = 0;
        for session in &self.sessions {
            // Frames are queued, so `next` is ready at once: poll it once, as the writer would.
            let next = std::pin::pin!(session.outbox.next());
            let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
            if let std::task::Poll::Ready(Next::Frames(frames)) = next.poll(&mut cx) {
                taken += frames.len();
            }
        }
        taken
    }
}
