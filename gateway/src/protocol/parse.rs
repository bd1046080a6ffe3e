//! Client frames `{"event", "id"?, "data"}` parsed in place with simd-json (nesting checked
//! first) into `ClientEvent`s; anything else is a `FrameError` naming what was wrong.

use parley_shared::{ErrorBody, ErrorCode};
use simd_json::BorrowedValue;
use simd_json::prelude::{
    TypedScalarValue, ValueAsArray, ValueAsObject, ValueAsScalar, ValueObjectAccess,
    ValueObjectAccessAsScalar,
};

use super::Asked;
use super::events::client;

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
    /// `focus`: the conversation this connection shows the user now (`None`: none; the tab is
    /// hidden or no conversation is open). Its messages are not toasted here.
    Focus {
        conversation_id: Option<String>,
    },
}

/// Most users in one `presence:subscribe`.
pub(crate) const MAX_PRESENCE_IDS: usize = 100;

/// Most ids in a send's `attachments` (`shared::send::MAX_ATTACHMENTS`).
pub(crate) const MAX_ATTACHMENT_IDS: usize = parley_shared::send::MAX_ATTACHMENTS;

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
    pub(crate) priority: Option<String>,
    /// Upload ids, as written (checked by `shared::send`).
    pub(crate) attachments: Vec<String>,
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
        client::AUTH => {
            fields(&["token"])?;
            ClientEvent::Auth {
                token: string("token", true)?.unwrap_or_default(),
            }
        }
        client::PING => ClientEvent::Ping,
        client::SEND => {
            fields(&[
                "conversationId",
                "clientMessageId",
                "content",
                "contentType",
                "replyTo",
                "priority",
                "attachments",
            ])?;
            let attachments = match data.and_then(|d| d.get("attachments")) {
                None => Vec::new(),
                Some(v) if v.is_null() => Vec::new(),
                Some(v) => {
                    let list = v.as_array().filter(|list| list.len() <= MAX_ATTACHMENT_IDS);
                    let ids: Option<Vec<String>> = list.and_then(|list| {
                        list.iter()
                            .map(|id| id.as_str().map(str::to_owned))
                            .collect()
                    });
                    ids.ok_or_else(|| {
                        fail(
                            invalid("attachments", "must be an array of at most 10 upload ids"),
                            client_id(data),
                        )
                    })?
                }
            };
            ClientEvent::Send(SendData {
                client_message_id: string("clientMessageId", true)?.unwrap_or_default(),
                conversation_id: string("conversationId", true)?.unwrap_or_default(),
                content: string("content", attachments.is_empty())?.unwrap_or_default(),
                attachments,
                content_type: string("contentType", false)?,
                reply_to: string("replyTo", false)?,
                priority: string("priority", false)?,
            })
        }
        client::SUBSCRIBE | client::UNSUBSCRIBE => {
            fields(&["conversationId"])?;
            let conversation_id = string("conversationId", true)?.unwrap_or_default();
            if event == client::SUBSCRIBE {
                ClientEvent::Subscribe { conversation_id }
            } else {
                ClientEvent::Unsubscribe { conversation_id }
            }
        }
        client::EDIT => {
            fields(&["messageId", "content"])?;
            ClientEvent::Change {
                message_id: string("messageId", true)?.unwrap_or_default(),
                asked: Asked::Edit {
                    content: string("content", true)?.unwrap_or_default(),
                },
            }
        }
        client::DELETE => {
            fields(&["messageId"])?;
            ClientEvent::Change {
                message_id: string("messageId", true)?.unwrap_or_default(),
                asked: Asked::Delete,
            }
        }
        client::REACT => {
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
        client::READ => {
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
        client::FOCUS => {
            fields(&["conversationId"])?;
            ClientEvent::Focus {
                conversation_id: string("conversationId", false)?,
            }
        }
        client::TYPING_START | client::TYPING_STOP => {
            fields(&["conversationId"])?;
            ClientEvent::Typing {
                conversation_id: string("conversationId", true)?.unwrap_or_default(),
                start: event == client::TYPING_START,
            }
        }
        client::SYNC => {
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
        client::HEARTBEAT => ClientEvent::Heartbeat,
        client::PRESENCE_SET => {
            fields(&["status"])?;
            ClientEvent::PresenceSet {
                status: string("status", true)?.unwrap_or_default(),
            }
        }
        client::PRESENCE_SUBSCRIBE | client::PRESENCE_UNSUBSCRIBE => {
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
                on: event == client::PRESENCE_SUBSCRIBE,
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

#[cfg(test)]
#[path = "parse_tests.rs"]
mod tests;
