//! One connection's outbound queue, bounded in frames and bytes. When full, ephemeral events
//! (typing, presence) are dropped; a durable event (a message, an ack) that does not fit closes the
//! connection with 4409 so the client resumes by `seq` instead of silently missing it. The writer
//! drains it in batches: one `write` per burst. Control frames count against the byte bound too,
//! and at most one pong waits at a time (RFC 6455 5.5.3 allows answering only the latest ping), so
//! a client that floods pings and never reads costs a bounded amount of memory.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;

use bytes::Bytes;
use tokio::sync::Notify;

use crate::protocol::close;

/// How much an outbound frame matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Class {
    /// Must arrive, in order, or the connection is closed for a resync.
    Durable,
    /// May be dropped under pressure (typing, presence).
    Ephemeral,
}

/// A frame to write: opcode and payload.
pub(crate) type OutFrame = (u8, Bytes);

/// What the writer should do next.
#[derive(Debug)]
pub(crate) enum Next {
    Frames(Vec<OutFrame>),
    /// Send a close frame with this code and reason (if any), then stop.
    Close(Option<(u16, String)>),
}

#[derive(Debug, Default)]
struct State {
    frames: VecDeque<OutFrame>,
    bytes: usize,
    /// Set once: after it, nothing more is queued.
    close: Option<Option<(u16, String)>>,
    /// Where the pong not yet taken by the writer sits in `frames`, if one does.
    pong_at: Option<usize>,
}

/// The queue; shared by the session's tasks on one shard (never across threads).
#[derive(Debug)]
pub(crate) struct Outbox {
    state: RefCell<State>,
    ready: Notify,
    /// Woken when the writer takes frames (room appeared).
    drained: Notify,
    max_frames: usize,
    max_bytes: usize,
    dropped: Cell<u64>,
}

pub(crate) const OP_TEXT: u8 = 0x1;
pub(crate) const OP_CLOSE: u8 = 0x8;
pub(crate) const OP_PONG: u8 = 0xA;

impl Outbox {
    pub(crate) fn new(max_frames: usize, max_bytes: usize) -> Self {
        Self {
            state: RefCell::new(State::default()),
            ready: Notify::new(),
            drained: Notify::new(),
            max_frames,
            max_bytes,
            dropped: Cell::new(0),
        }
    }

    /// Queues a text frame. Returns false if it was dropped (ephemeral under pressure, or the
    /// connection is closing).
    pub(crate) fn push(&self, class: Class, payload: Bytes) -> bool {
        let mut state = self.state.borrow_mut();
        if state.close.is_some() {
            return false;
        }
        let fits =
            state.frames.len() < self.max_frames && state.bytes + payload.len() <= self.max_bytes;
        if !fits {
            match class {
                Class::Ephemeral => {
                    self.dropped.set(self.dropped.get() + 1);
                    return false;
                }
                Class::Durable => {
                    tracing::info!(
                        queued = state.frames.len(),
                        bytes = state.bytes,
                        "client fell behind; closing for resync"
                    );
                    state.close = Some(Some((
                        close::RESYNC,
                        "fell behind: reconnect and resume by seq".to_owned(),
                    )));
                    drop(state);
                    self.ready.notify_one();
                    return false;
                }
            }
        }
        state.bytes += payload.len();
        state.frames.push_back((OP_TEXT, payload));
        drop(state);
        self.ready.notify_one();
        true
    }

    /// Queues a control frame the protocol obliges us to send: a pong (replacing one still
    /// waiting: only the latest ping needs an answer) or the echo of the client's close (sent
    /// last). A pong that would break the byte bound is dropped: the client is not reading.
    pub(crate) fn push_control(&self, opcode: u8, payload: Bytes) {
        let mut guard = self.state.borrow_mut();
        let state = &mut *guard;
        if state.close.is_some() {
            return;
        }
        if opcode == OP_CLOSE {
            // The echo of the client's close: send it last, then stop.
            state.bytes += payload.len();
            state.frames.push_back((OP_CLOSE, payload));
            state.close = Some(None);
        } else if let Some(at) = state.pong_at {
            let queued = &mut state.frames[at].1;
            state.bytes = state.bytes - queued.len() + payload.len();
            *queued = payload;
            return;
        } else if state.bytes + payload.len() > self.max_bytes {
            self.dropped.set(self.dropped.get() + 1);
            return;
        } else {
            state.bytes += payload.len();
            state.pong_at = Some(state.frames.len());
            state.frames.push_back((opcode, payload));
        }
        drop(guard);
        self.ready.notify_one();
    }

    /// Frames and bytes waiting.
    #[cfg(test)]
    pub(crate) fn queued(&self) -> (usize, usize) {
        let state = self.state.borrow();
        (state.frames.len(), state.bytes)
    }

    /// Ends the connection after what is queued, with a close frame `code` (first call wins).
    pub(crate) fn close(&self, code: u16, reason: &str) {
        let mut state = self.state.borrow_mut();
        if state.close.is_none() {
            state.close = Some(Some((code, reason.to_owned())));
        }
        drop(state);
        self.ready.notify_one();
    }

    /// Whether a close has been decided.
    pub(crate) fn is_closing(&self) -> bool {
        self.state.borrow().close.is_some()
    }

    /// The close code decided, if any (`None` also for a plain echo of the client's close).
    pub(crate) fn close_code(&self) -> Option<u16> {
        self.state
            .borrow()
            .close
            .as_ref()
            .and_then(|c| c.as_ref().map(|(code, _)| *code))
    }

    /// Waits until at most half the queue's bounds are in use (or the connection is closing):
    /// a long answer (sync pages) paces itself to the client instead of overflowing the queue.
    pub(crate) async fn room(&self) {
        loop {
            let drained = self.drained.notified();
            {
                let state = self.state.borrow();
                if state.close.is_some()
                    || (state.frames.len() <= self.max_frames / 2
                        && state.bytes <= self.max_bytes / 2)
                {
                    return;
                }
            }
            drained.await;
        }
    }

    /// Ephemeral frames dropped so far.
    pub(crate) fn dropped(&self) -> u64 {
        self.dropped.get()
    }

    /// Waits for work: every queued frame, or the close once the queue is empty.
    pub(crate) async fn next(&self) -> Next {
        loop {
            {
                let mut state = self.state.borrow_mut();
                if !state.frames.is_empty() {
                    state.bytes = 0;
                    state.pong_at = None;
                    let frames = state.frames.drain(..).collect();
                    self.drained.notify_waiters();
                    return Next::Frames(frames);
                }
                if let Some(close) = &state.close {
                    return Next::Close(close.clone());
                }
            }
            self.ready.notified().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(n: usize) -> Bytes {
        Bytes::from(vec![b'x'; n])
    }

    #[tokio::test]
    async fn drops_ephemeral_first_and_closes_on_durable_overflow() {
        let outbox = Outbox::new(3, 100);
        assert!(outbox.push(Class::Durable, text(10)));
        assert!(outbox.push(Class::Ephemeral, text(10)));
        assert!(outbox.push(Class::Durable, text(10)));
        assert!(
            !outbox.push(Class::Ephemeral, text(10)),
            "full: typing is dropped"
        );
        assert_eq!(outbox.dropped(), 1);
        assert!(!outbox.is_closing());
        assert!(
            !outbox.push(Class::Durable, text(10)),
            "full: a message cannot be dropped"
        );
        assert!(outbox.is_closing());
        match outbox.next().await {
            Next::Frames(frames) => assert_eq!(frames.len(), 3, "what was queued still goes out"),
            other => panic!("{other:?}"),
        }
        match outbox.next().await {
            Next::Close(Some((code, _))) => assert_eq!(code, close::RESYNC),
            other => panic!("{other:?}"),
        }
        assert!(
            !outbox.push(Class::Durable, text(1)),
            "nothing after the close"
        );
    }

    #[tokio::test]
    async fn byte_limit_and_close_echo() {
        let outbox = Outbox::new(100, 25);
        assert!(outbox.push(Class::Durable, text(20)));
        assert!(!outbox.push(Class::Ephemeral, text(10)));
        outbox.push_control(OP_PONG, Bytes::from_static(b"p"));
        outbox.push_control(OP_CLOSE, Bytes::new());
        match outbox.next().await {
            Next::Frames(frames) => {
                let ops: Vec<u8> = frames.iter().map(|f| f.0).collect();
                assert_eq!(ops, [OP_TEXT, OP_PONG, OP_CLOSE]);
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(outbox.next().await, Next::Close(None)));
    }

    #[tokio::test]
    async fn one_pending_pong_and_control_bytes_are_bounded() {
        let outbox = Outbox::new(100, 200);
        for n in 0..10_000u32 {
            outbox.push_control(OP_PONG, Bytes::from(n.to_be_bytes().to_vec()));
        }
        assert_eq!(
            outbox.queued(),
            (1, 4),
            "one pong waits, whatever the flood"
        );
        assert!(outbox.push(Class::Durable, text(150)));
        match outbox.next().await {
            Next::Frames(frames) => {
                assert_eq!(
                    frames[0],
                    (OP_PONG, Bytes::from(9_999u32.to_be_bytes().to_vec()))
                );
                assert_eq!(frames.len(), 2);
            }
            other => panic!("{other:?}"),
        }
        // Taken by the writer: the next ping gets its own pong, counted in bytes.
        assert!(outbox.push(Class::Durable, text(190)));
        outbox.push_control(OP_PONG, text(20));
        assert_eq!(
            outbox.queued(),
            (1, 190),
            "a pong past the byte bound is dropped"
        );
        outbox.push_control(OP_PONG, text(5));
        assert_eq!(outbox.queued(), (2, 195));
    }
}
