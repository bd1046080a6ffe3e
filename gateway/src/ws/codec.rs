//! The WebSocket wire format: client frames `{"event", "id"?, "data"}` parsed in place with
//! simd-json (nesting checked first), server frames encoded to bytes once, and the close codes.

use bytes::Bytes;
use parley_shared::{ConversationId, ErrorBody, ErrorCode};

use crate::changes::Asked;
use serde::Serialize;
use simd_json::BorrowedValue;
use simd_json::prelude::{
    TypedScalarValue, ValueAsArray, ValueAsObject, ValueAsScalar, ValueObjectAccess,
    ValueObjectAccessAsScalar,
};

/// Close codes Parley sends, and what a client should do.
pub(crate) mod close {
    /// Normal closure (the client said goodbye).
    pub(crate) const NORMAL: u16 = 1000;
    /// The server is shutting down: reconnect (to another instance) with backoff.
    pub(crate) const GOING_AWAY: u16 = 1001;
    /// A protocol violation: do not reconnect with the same behaviour.
    pub(crate) const PROTOCOL: u16 = 1002;
    /// A binary frame: Parley speaks JSON text only.
    pub(crate) const UNSUPPORTED: u16 = 1003;
    /// Text that is not UTF-8.
    pub(crate) const INVALID_DATA: u16 = 1007;
    /// A message above `ws.max_message_bytes`.
    pub(crate) const TOO_BIG: u16 = 1009;
    /// Not authenticated in time, bad token, or the token expired: get a fresh token, reconnect.
    pub(crate) const UNAUTHORIZED: u16 = 4401;
    /// No frame (heartbeat or other) for twice `presence.heartbeat_interval`: reconnect.
    pub(crate) const SILENT: u16 = 4408;
    /// Parley could not deliver everything in order (this connection fell behind): reconnect and
    /// resume by `seq` (gap-fill). Nothing acknowledged is lost.
    pub(crate) const RESYNC: u16 = 4409;
    /// Too many connections for this user, or connecting too often: retry later.
    pub(crate) const TOO_MANY: u16 = 4429;
}

/// Longest correlation id echoed back.
const MAX_ID_LEN: usize = 64;
/// Deepest JSON nesting accepted; frames are flat objects.
const MAX_DEPTH: usize = 8;

/// A parsed client event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ClientEvent {
    Auth {
        token: String,
    },
    Ping,
    Send(SendData),
    Subscribe {
        conversation_id: String,
    },
    Unsubscribe {
        conversation_id: String,
    },
    /// `message:edit`, `message:delete`, `message:react`.
    Change {
        message_id: String,
        asked: Asked,
    },
    Read {
        conversation_id: String,
        seq: i64,
    },
    Typing {
        conversation_id: String,
        start: bool,
    },
    Sync(Vec<(String, i64)>),
    Heartbeat,
    PresenceSet {
        status: String,
    },
    PresenceWatch {
        user_ids: Vec<String>,
        on: bool,
    },
}

/// Most users in one `presence:subscribe`.
pub(crate) const MAX_PRESENCE_IDS: usize = 100;

/// Most conversations in one `sync:request`.
pub(crate) const MAX_SYNC_CONVERSATIONS: usize = 100;

/// `message:send` data, unvalidated (validation is shared with REST).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SendData {
    pub(crate) conversation_id: String,
    pub(crate) client_message_id: String,
    pub(crate) content: String,
    pub(crate) content_type: Option<String>,
    pub(crate) reply_to: Option<String>,
}

/// A frame that could not be understood: answered with `error` (or `message:error` for a send
/// with a readable client id); the connection stays open.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct FrameError {
    pub(crate) id: Option<String>,
    pub(crate) event: Option<String>,
    pub(crate) client_message_id: Option<String>,
    pub(crate) body: ErrorBody,
}

/// Parses one text frame in place.
pub(crate) fn parse(buf: &mut [u8]) -> Result<(Option<String>, ClientEvent), Box<FrameError>> {
    let malformed = |message: &str| {
        Box::new(FrameError {
            id: None,
            event: None,
            client_message_id: None,
            body: ErrorBody::new(ErrorCode::ValidationError, message),
        })
    };
    if !depth_ok(buf) {
        return Err(malformed("Frame nests too deeply"));
    }
    let value =
        simd_json::to_borrowed_value(buf).map_err(|_| malformed("Frame is not valid JSON"))?;
    let Some(object) = value.as_object() else {
        return Err(malformed("Frame must be a JSON object"));
    };
    let id = match value.get("id") {
        None => None,
        Some(id) => match id.as_str() {
            Some(text) if text.len() <= MAX_ID_LEN => Some(text.to_owned()),
            _ => return Err(malformed("`id` must be a string of at most 64 characters")),
        },
    };
    if let Some(unknown) = object
        .keys()
        .find(|k| !matches!(k.as_ref(), "event" | "id" | "data"))
    {
        return Err(Box::new(FrameError {
            id,
            ..*malformed(&format!("Unknown frame field `{unknown}`"))
        }));
    }
    let Some(event) = value.get_str("event") else {
        return Err(Box::new(FrameError {
            id,
            ..*malformed("`event` is required")
        }));
    };
    let data = value.get("data");
    let fail = |body: ErrorBody, client_message_id: Option<String>| {
        Box::new(FrameError {
            id: id.clone(),
            event: Some(event.to_owned()),
            client_message_id,
            body,
        })
    };
    let fields = |allowed: &[&str]| -> Result<(), Box<FrameError>> {
        let Some(data) = data else {
            return Err(fail(invalid("data", "is required"), None));
        };
        let Some(map) = data.as_object() else {
            return Err(fail(invalid("data", "must be an object"), None));
        };
        if let Some(unknown) = map.keys().find(|k| !allowed.contains(&k.as_ref())) {
            let cmid = data.get_str("clientMessageId").map(str::to_owned);
            return Err(fail(invalid(unknown, "is not allowed"), cmid));
        }
        Ok(())
    };
    let string = |name: &str, required: bool| -> Result<Option<String>, Box<FrameError>> {
        match data.and_then(|d| d.get(name)) {
            None if required => Err(fail(invalid(name, "is required"), client_id(data))),
            None => Ok(None),
            Some(v) if v.is_null() && !required => Ok(None),
            Some(v) => v
                .as_str()
                .map(|s| Some(s.to_owned()))
                .ok_or_else(|| fail(invalid(name, "must be a string"), client_id(data))),
        }
    };
    let parsed = match event {
        "auth" => {
            fields(&["token"])?;
            ClientEvent::Auth {
                token: string("token", true)?.unwrap_or_default(),
            }
        }
        "ping" => ClientEvent::Ping,
        "message:send" => {
            fields(&[
                "conversationId",
                "clientMessageId",
                "content",
                "contentType",
                "replyTo",
            ])?;
            ClientEvent::Send(SendData {
                client_message_id: string("clientMessageId", true)?.unwrap_or_default(),
                conversation_id: string("conversationId", true)?.unwrap_or_default(),
                content: string("content", true)?.unwrap_or_default(),
                content_type: string("contentType", false)?,
                reply_to: string("replyTo", false)?,
            })
        }
        "subscribe" | "unsubscribe" => {
            fields(&["conversationId"])?;
            let conversation_id = string("conversationId", true)?.unwrap_or_default();
            if event == "subscribe" {
                ClientEvent::Subscribe { conversation_id }
            } else {
                ClientEvent::Unsubscribe { conversation_id }
            }
        }
        "message:edit" => {
            fields(&["messageId", "content"])?;
            ClientEvent::Change {
                message_id: string("messageId", true)?.unwrap_or_default(),
                asked: Asked::Edit {
                    content: string("content", true)?.unwrap_or_default(),
                },
            }
        }
        "message:delete" => {
            fields(&["messageId"])?;
            ClientEvent::Change {
                message_id: string("messageId", true)?.unwrap_or_default(),
                asked: Asked::Delete,
            }
        }
        "message:react" => {
            fields(&["messageId", "emoji", "action"])?;
            let add = match string("action", false)?.as_deref() {
                None | Some("add") => true,
                Some("remove") => false,
                Some(_) => {
                    return Err(fail(
                        invalid("action", "must be \"add\" or \"remove\""),
                        None,
                    ));
                }
            };
            ClientEvent::Change {
                message_id: string("messageId", true)?.unwrap_or_default(),
                asked: Asked::React {
                    emoji: string("emoji", true)?.unwrap_or_default(),
                    add,
                },
            }
        }
        "receipt:read" => {
            fields(&["conversationId", "seq"])?;
            let seq = data
                .and_then(|d| d.get("seq"))
                .and_then(|v| v.as_i64())
                .filter(|seq| *seq > 0)
                .ok_or_else(|| fail(invalid("seq", "must be a positive integer"), None))?;
            ClientEvent::Read {
                conversation_id: string("conversationId", true)?.unwrap_or_default(),
                seq,
            }
        }
        "typing:start" | "typing:stop" => {
            fields(&["conversationId"])?;
            ClientEvent::Typing {
                conversation_id: string("conversationId", true)?.unwrap_or_default(),
                start: event == "typing:start",
            }
        }
        "sync:request" => {
            fields(&["conversations"])?;
            let list = data
                .and_then(|d| d.get("conversations"))
                .and_then(|v| v.as_array())
                .ok_or_else(|| fail(invalid("conversations", "must be an array"), None))?;
            if list.len() > MAX_SYNC_CONVERSATIONS {
                return Err(fail(
                    invalid("conversations", "lists at most 100 conversations"),
                    None,
                ));
            }
            let mut wanted = Vec::with_capacity(list.len());
            for item in list {
                let conversation = item.get_str("conversationId");
                let last = item
                    .get("lastSeq")
                    .and_then(|v| v.as_i64())
                    .filter(|s| *s >= 0);
                let (Some(conversation), Some(last)) = (conversation, last) else {
                    return Err(fail(
                        invalid(
                            "conversations",
                            "items are {conversationId: string, lastSeq: integer >= 0}",
                        ),
                        None,
                    ));
                };
                wanted.push((conversation.to_owned(), last));
            }
            ClientEvent::Sync(wanted)
        }
        "presence:heartbeat" => ClientEvent::Heartbeat,
        "presence:set" => {
            fields(&["status"])?;
            ClientEvent::PresenceSet {
                status: string("status", true)?.unwrap_or_default(),
            }
        }
        "presence:subscribe" | "presence:unsubscribe" => {
            fields(&["userIds"])?;
            let ids = data
                .and_then(|d| d.get("userIds"))
                .and_then(|v| v.as_array())
                .filter(|list| list.len() <= MAX_PRESENCE_IDS)
                .and_then(|list| {
                    list.iter()
                        .map(|v| v.as_str().map(str::to_owned))
                        .collect::<Option<Vec<String>>>()
                })
                .ok_or_else(|| {
                    fail(
                        invalid("userIds", "must be an array of at most 100 user ids"),
                        None,
                    )
                })?;
            ClientEvent::PresenceWatch {
                user_ids: ids,
                on: event == "presence:subscribe",
            }
        }
        other => {
            return Err(fail(
                ErrorBody::new(
                    ErrorCode::ValidationError,
                    format!("Unknown event `{:.40}`", other),
                ),
                None,
            ));
        }
    };
    Ok((id, parsed))
}

fn client_id(data: Option<&BorrowedValue<'_>>) -> Option<String> {
    data.and_then(|d| d.get_str("clientMessageId"))
        .map(str::to_owned)
}

fn invalid(field: &str, problem: &str) -> ErrorBody {
    ErrorBody::new(ErrorCode::ValidationError, "Invalid frame").with_detail(field, problem)
}

/// Whether `buf` nests objects and arrays at most `MAX_DEPTH` deep (strings are skipped).
fn depth_ok(buf: &[u8]) -> bool {
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for &byte in buf {
        if in_string {
            match (escaped, byte) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'{' | b'[' => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return false;
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    true
}

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
    out.extend_from_slice(br#"{"event":"message:sent","#);
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

/// `notification:badge`, written directly: one per user and conversation per burst of fan-out,
/// so it skips building a JSON value (ids are `[a-z0-9_]` and need no escaping).
pub(crate) fn encode_badge(conversation: ConversationId, unread: i64, total: i64) -> Bytes {
    use std::io::Write;
    let mut out = Vec::with_capacity(128);
    // Writing to a Vec cannot fail.
    let _ = write!(
        out,
        r#"{{"event":"notification:badge","data":{{"conversationId":"{conversation}","unreadCount":{unread},"totalUnread":{total}}}}}"#
    );
    Bytes::from(out)
}

/// `message:received` around an already-encoded message object: built once per message.
pub(crate) fn encode_received(message_json: &[u8]) -> Bytes {
    let mut out = Vec::with_capacity(message_json.len() + 48);
    out.extend_from_slice(br#"{"event":"message:received","data":{"message":"#);
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

#[cfg(test)]
#[path = "codec_tests.rs"]
mod tests;
