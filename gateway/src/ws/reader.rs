//! Client frames into whole text messages: fastwebsockets reads one frame at a time from a
//! `FrameLimited` source; this loop reassembles fragments (bounded by `ws.max_message_bytes`,
//! UTF-8 checked across fragment boundaries), answers pings through the handler, and says why it
//! stopped. The session is one handler; the fuzz harness (`crate::fuzzing`) is another.

use std::convert::Infallible;
use std::future::Future;

use bytes::Bytes;
use fastwebsockets::{Frame, OpCode, WebSocketError};
use tokio::io::AsyncRead;

use super::framed::{self, FrameLimited, Readiness};
use super::outbox;
use crate::protocol::close;

/// Why the reader stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReadEnd {
    /// The client sent a close (already echoed).
    ClientClosed,
    /// The connection broke.
    Gone,
    /// Close with this code.
    Close(u16, &'static str),
}

/// What the reader hands its messages and control frames to.
pub(crate) trait Frames {
    /// True once the connection is closing: the reader stops before the next frame.
    fn closing(&self) -> bool;
    /// A control frame the protocol obliges us to send (a pong, or the echo of a close).
    fn control(&self, opcode: u8, payload: Bytes);
    /// A frame arrived (the idle timer restarts).
    fn touched(&self);
    /// One whole text message (valid UTF-8, at most the limit), in place.
    fn message(&self, buf: &mut [u8]) -> impl Future<Output = ()>;
}

/// Reads and hands over frames until the connection ends. Between frames nothing is buffered
/// (see `framed`), so an idle connection waits for readability holding no read buffer, and a
/// fastwebsockets reader (with its 8 KiB buffer) exists only while a frame is arriving.
pub(crate) async fn read_frames<S, F>(
    source: &mut FrameLimited<S>,
    max: usize,
    frames: &F,
) -> ReadEnd
where
    S: AsyncRead + Readiness + Unpin,
    F: Frames,
{
    let mut partial: Option<Vec<u8>> = None;
    loop {
        if frames.closing() {
            return ReadEnd::Gone;
        }
        if source.at_boundary() && source.readable().await.is_err() {
            return ReadEnd::Gone;
        }
        let (mut reader, _) = fastwebsockets::after_handshake_split(
            &mut *source,
            tokio::io::sink(),
            fastwebsockets::Role::Server,
        );
        reader.set_auto_close(true);
        // Pings are answered below, so fastwebsockets returns after each one instead of
        // waiting for the next frame with its buffer.
        reader.set_auto_pong(false);
        // fastwebsockets refuses a frame of exactly its maximum: one more lets a message of
        // `max_message_bytes` through in one frame as it does in fragments (regression:
        // ws_conformance's cap cases).
        reader.set_max_message_size(max.saturating_add(1));
        // Pongs and close echoes the protocol obliges us to send go through the handler.
        let mut obligated = |frame: Frame<'_>| {
            frames.control(frame.opcode as u8, Bytes::copy_from_slice(&frame.payload));
            std::future::ready(Ok::<(), Infallible>(()))
        };
        let mut frame = match Box::pin(reader.read_frame(&mut obligated)).await {
            Ok(frame) => frame,
            Err(error) => return ended(error),
        };
        frames.touched();
        match frame.opcode {
            OpCode::Text if frame.fin && partial.is_none() => {
                // Boxed: the task's idle size stays small (the handler may hold a query).
                Box::pin(frames.message(frame.payload.to_mut())).await;
            }
            OpCode::Text if partial.is_none() => partial = Some(frame.payload.to_vec()),
            OpCode::Continuation => {
                let Some(buffer) = partial.as_mut() else {
                    return ReadEnd::Close(close::PROTOCOL, "continuation without a start");
                };
                if buffer.len() + frame.payload.len() > max {
                    return ReadEnd::Close(close::TOO_BIG, "message too large");
                }
                buffer.extend_from_slice(&frame.payload);
                if frame.fin {
                    let mut whole = partial.take().unwrap_or_default();
                    if std::str::from_utf8(&whole).is_err() {
                        return ReadEnd::Close(close::INVALID_DATA, "text must be UTF-8");
                    }
                    Box::pin(frames.message(&mut whole)).await;
                }
            }
            OpCode::Text => {
                return ReadEnd::Close(close::PROTOCOL, "new message inside a fragmented one");
            }
            OpCode::Binary => {
                return ReadEnd::Close(close::UNSUPPORTED, "binary frames are not supported");
            }
            OpCode::Close => return ReadEnd::ClientClosed,
            OpCode::Ping => frames.control(outbox::OP_PONG, Bytes::copy_from_slice(&frame.payload)),
            OpCode::Pong => {}
        }
    }
}

/// The close (or silence) a fastwebsockets error calls for.
fn ended(error: WebSocketError) -> ReadEnd {
    match error {
        WebSocketError::FrameTooLarge => ReadEnd::Close(close::TOO_BIG, "message too large"),
        WebSocketError::InvalidUTF8 => ReadEnd::Close(close::INVALID_DATA, "text must be UTF-8"),
        WebSocketError::IoError(error) if error.kind() == std::io::ErrorKind::InvalidData => {
            let reason = error
                .get_ref()
                .and_then(|inner| inner.downcast_ref::<framed::Refused>())
                .map_or("protocol error", |refused| refused.0);
            ReadEnd::Close(close::PROTOCOL, reason)
        }
        WebSocketError::ConnectionClosed
        | WebSocketError::UnexpectedEOF
        | WebSocketError::IoError(_) => ReadEnd::Gone,
        error => {
            tracing::debug!(%error, "websocket protocol error");
            ReadEnd::Close(close::PROTOCOL, "protocol error")
        }
    }
}
