//! Server frames, encoded to bytes once: the generic `{"event", "id"?, "data"}` envelope, error
//! frames, and the per-message frames written directly around an already-encoded message object
//! (`message:sent`, `message:received`, `notification:badge`), plus WebSocket frame headers.

use bytes::Bytes;
use parley_shared::{ConversationId, ErrorBody};
use serde::Serialize;

use super::events::server;

#[derive(Serialize)]
struct Out<'a, T: Serialize> {
    event: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a str>,
    data: T,
}

/// Encodes a server frame `{"event", "id"?, "data"}`.
pub(crate) fn encode<T: Serialize>(event: &str, id: Option<&str>, data: T) -> Bytes {
    Bytes::from(
        serde_json::to_vec(&Out { event, id, data }).expect("server frames serialise infallibly"),
    )
}

/// Encodes an error-class frame (`error`, `auth:error`, `message:error`), adding
/// `clientMessageId` where the failed frame had one.
pub(crate) fn encode_error(
    event: &str,
    id: Option<&str>,
    client_message_id: Option<&str>,
    body: &ErrorBody,
) -> Bytes {
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Data<'a> {
        #[serde(skip_serializing_if = "Option::is_none")]
        client_message_id: Option<&'a str>,
        #[serde(flatten)]
        body: &'a ErrorBody,
    }
    encode(
        event,
        id,
        Data {
            client_message_id,
            body,
        },
    )
}

/// `message:sent` for the sending connection, around an already-encoded message object.
pub(crate) fn encode_sent(id: Option<&str>, client_message_id: &str, message_json: &[u8]) -> Bytes {
    let mut out = Vec::with_capacity(message_json.len() + 96);
    out.extend_from_slice(br#"{"event":""#);
    out.extend_from_slice(server::MESSAGE_SENT.as_bytes());
    out.extend_from_slice(br#"","#);
    if let Some(id) = id {
        out.extend_from_slice(br#""id":"#);
        out.extend_from_slice(&serde_json::to_vec(id).expect("a string serialises"));
        out.push(b',');
    }
    out.extend_from_slice(br#""data":{"clientMessageId":"#);
    out.extend_from_slice(&serde_json::to_vec(client_message_id).expect("a string serialises"));
    out.extend_from_slice(br#","message":"#);
    out.extend_from_slice(message_json);
    out.extend_from_slice(b"}}");
    Bytes::from(out)
}

/// `{"event", "id"?, "data"}` around already-encoded `data`.
pub(crate) fn encode_raw(event: &str, id: Option<&str>, data: &[u8]) -> Bytes {
    let mut out = Vec::with_capacity(data.len() + event.len() + 48);
    out.extend_from_slice(br#"{"event":"#);
    out.extend_from_slice(&serde_json::to_vec(event).expect("a string serialises"));
    if let Some(id) = id {
        out.extend_from_slice(br#","id":"#);
        out.extend_from_slice(&serde_json::to_vec(id).expect("a string serialises"));
    }
    out.extend_from_slice(br#","data":"#);
    out.extend_from_slice(data);
    out.push(b'}');
    Bytes::from(out)
}

/// The counts of a `notification:badge`: one conversation's, and over all of the user's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BadgeCounts {
    pub(crate) unread: i64,
    pub(crate) total: i64,
    pub(crate) mentions: i64,
    pub(crate) total_mentions: i64,
}

/// `notification:badge`, written directly: one per user and conversation per burst of fan-out,
/// so it skips building a JSON value (ids are `[a-z0-9_]` and need no escaping).
pub(crate) fn encode_badge(conversation: ConversationId, counts: BadgeCounts) -> Bytes {
    use std::io::Write;
    let BadgeCounts {
        unread,
        total,
        mentions,
        total_mentions,
    } = counts;
    let mut out = Vec::with_capacity(160);
    // Writing to a Vec cannot fail.
    let _ = write!(
        out,
        r#"{{"event":"{}","data":{{"conversationId":"{conversation}","unreadCount":{unread},"totalUnread":{total},"mentionCount":{mentions},"totalMentions":{total_mentions}}}}}"#,
        server::BADGE
    );
    Bytes::from(out)
}

/// `message:received` around an already-encoded message object: built once per message.
pub(crate) fn encode_received(message_json: &[u8]) -> Bytes {
    let mut out = Vec::with_capacity(message_json.len() + 48);
    out.extend_from_slice(br#"{"event":""#);
    out.extend_from_slice(server::MESSAGE_RECEIVED.as_bytes());
    out.extend_from_slice(br#"","data":{"message":"#);
    out.extend_from_slice(message_json);
    out.extend_from_slice(b"}}");
    Bytes::from(out)
}

/// The header of an unmasked server frame carrying `len` payload bytes.
pub(crate) fn frame_head(opcode: u8, len: usize, out: &mut Vec<u8>) {
    out.push(0x80 | opcode);
    if len < 126 {
        out.push(len as u8);
    } else if len < 65_536 {
        out.push(126);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(127);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
}

/// One `notification:toast`: a message (or `count` of them, the newest `message`) in a
/// conversation the user does not have in focus.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Toast<'a> {
    pub(crate) conversation_id: ConversationId,
    pub(crate) message_id: &'a str,
    pub(crate) sender_id: &'a str,
    pub(crate) title: &'a str,
    pub(crate) body: &'a str,
    pub(crate) count: u32,
    pub(crate) priority: &'static str,
}

/// `notification:toast`.
pub(crate) fn encode_toast(toast: &Toast<'_>) -> Bytes {
    encode(server::TOAST, None, toast)
}
