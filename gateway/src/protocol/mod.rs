//! The WebSocket protocol of docs/protocol.md, apart from any transport: the one table of event
//! names, client frame parsing, server frame encoding and the close codes. No hyper, no tokio, no
//! SQL: bytes in, events out; values in, bytes out.

pub(crate) mod close;
mod encode;
pub(crate) mod events;
mod parse;

pub(crate) use encode::{
    BadgeCounts, Toast, encode, encode_badge, encode_error, encode_raw, encode_received,
    encode_sent, encode_toast, frame_head,
};
pub(crate) use parse::{ClientEvent, SendData, parse};

/// A change to a message as a client asked for it (unvalidated): `message:edit`,
/// `message:delete`, `message:react`, over either door.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Asked {
    Edit { content: String },
    Delete,
    React { emoji: String, add: bool },
}
