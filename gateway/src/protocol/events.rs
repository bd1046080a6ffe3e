//! The one table of event names: every event a client may send and every event Parley sends,
//! declared once here and used by name everywhere else (a tidy test refuses event-name literals
//! outside `protocol/`, and tests below hold the table to docs/protocol.md and the web client).

/// Events clients send (imperative).
pub(crate) mod client {
    pub(crate) const AUTH: &str = "auth";
    pub(crate) const PING: &str = "ping";
    pub(crate) const SEND: &str = "message:send";
    pub(crate) const EDIT: &str = "message:edit";
    pub(crate) const DELETE: &str = "message:delete";
    pub(crate) const REACT: &str = "message:react";
    pub(crate) const READ: &str = "receipt:read";
    pub(crate) const TYPING_START: &str = "typing:start";
    pub(crate) const TYPING_STOP: &str = "typing:stop";
    pub(crate) const SUBSCRIBE: &str = "subscribe";
    pub(crate) const UNSUBSCRIBE: &str = "unsubscribe";
    pub(crate) const SYNC: &str = "sync:request";
    pub(crate) const HEARTBEAT: &str = "presence:heartbeat";
    pub(crate) const PRESENCE_SET: &str = "presence:set";
    pub(crate) const PRESENCE_SUBSCRIBE: &str = "presence:subscribe";
    pub(crate) const PRESENCE_UNSUBSCRIBE: &str = "presence:unsubscribe";
    pub(crate) const FOCUS: &str = "focus";

    /// Every client event.
    #[cfg(test)]
    pub(crate) const ALL: [&str; 17] = [
        AUTH,
        PING,
        SEND,
        EDIT,
        DELETE,
        REACT,
        READ,
        TYPING_START,
        TYPING_STOP,
        SUBSCRIBE,
        UNSUBSCRIBE,
        SYNC,
        HEARTBEAT,
        PRESENCE_SET,
        PRESENCE_SUBSCRIBE,
        PRESENCE_UNSUBSCRIBE,
        FOCUS,
    ];
}

/// Events Parley sends (past tense; errors end in `error`).
pub(crate) mod server {
    pub(crate) const AUTH_SUCCESS: &str = "auth:success";
    pub(crate) const AUTH_ERROR: &str = "auth:error";
    pub(crate) const PONG: &str = "pong";
    pub(crate) const ERROR: &str = "error";
    pub(crate) const MESSAGE_SENT: &str = "message:sent";
    pub(crate) const MESSAGE_RECEIVED: &str = "message:received";
    pub(crate) const MESSAGE_ERROR: &str = "message:error";
    pub(crate) const MESSAGE_EDITED: &str = "message:edited";
    pub(crate) const MESSAGE_DELETED: &str = "message:deleted";
    pub(crate) const MESSAGE_REACTED: &str = "message:reacted";
    pub(crate) const RECEIPT_UPDATED: &str = "receipt:updated";
    pub(crate) const RECEIPT_COUNT: &str = "receipt:count";
    pub(crate) const BADGE: &str = "notification:badge";
    pub(crate) const TOAST: &str = "notification:toast";
    pub(crate) const SUBSCRIBED: &str = "subscribed";
    pub(crate) const UNSUBSCRIBED: &str = "unsubscribed";
    pub(crate) const TYPING_STARTED: &str = "typing:started";
    pub(crate) const TYPING_STOPPED: &str = "typing:stopped";
    pub(crate) const SYNC_RESPONSE: &str = "sync:response";
    pub(crate) const PRESENCE_STATUS: &str = "presence:status";
    pub(crate) const PRESENCE_SUBSCRIBED: &str = "presence:subscribed";
    pub(crate) const PRESENCE_UNSUBSCRIBED: &str = "presence:unsubscribed";
    pub(crate) const PRESENCE_UPDATE: &str = "presence:update";
    pub(crate) const CONVERSATION_CREATED: &str = "conversation:created";
    pub(crate) const CONVERSATION_UPDATED: &str = "conversation:updated";
    pub(crate) const CONVERSATION_DELETED: &str = "conversation:deleted";
    pub(crate) const MEMBER_ADDED: &str = "conversation:member_added";
    pub(crate) const MEMBER_REMOVED: &str = "conversation:member_removed";

    /// Every server event.
    #[cfg(test)]
    pub(crate) const ALL: [&str; 28] = [
        AUTH_SUCCESS,
        AUTH_ERROR,
        PONG,
        ERROR,
        MESSAGE_SENT,
        MESSAGE_RECEIVED,
        MESSAGE_ERROR,
        MESSAGE_EDITED,
        MESSAGE_DELETED,
        MESSAGE_REACTED,
        RECEIPT_UPDATED,
        RECEIPT_COUNT,
        BADGE,
        TOAST,
        SUBSCRIBED,
        UNSUBSCRIBED,
        TYPING_STARTED,
        TYPING_STOPPED,
        SYNC_RESPONSE,
        PRESENCE_STATUS,
        PRESENCE_SUBSCRIBED,
        PRESENCE_UNSUBSCRIBED,
        PRESENCE_UPDATE,
        CONVERSATION_CREATED,
        CONVERSATION_UPDATED,
        CONVERSATION_DELETED,
        MEMBER_ADDED,
        MEMBER_REMOVED,
    ];
}

#[cfg(test)]
mod tests {
    use super::{client, server};

    const DOCS: &str = include_str!("../../../docs/protocol.md");
    const WEB_TYPES: &str = include_str!("../../../web/packages/protocol/src/types.ts");

    /// The keys of the web client's `ServerEvents` interface: `"auth:success": ...` or
    /// `pong: ...`, two spaces in (deeper lines are the events' fields).
    fn web_keys() -> Vec<&'static str> {
        let start = WEB_TYPES
            .find("export interface ServerEvents {")
            .expect("the web client declares ServerEvents");
        let body = &WEB_TYPES[start..];
        let body = &body[..body.find("\n}").expect("the interface ends")];
        body.lines()
            .filter(|line| line.starts_with("  ") && !line.starts_with("   "))
            .filter_map(|line| {
                let line = line.trim_start();
                match line.strip_prefix('"') {
                    Some(quoted) => quoted.split('"').next(),
                    None => line
                        .split_once(':')
                        .map(|(key, _)| key)
                        .filter(|key| key.chars().all(|c| c.is_ascii_lowercase())),
                }
            })
            .collect()
    }

    #[test]
    fn names_are_unique_and_documented() {
        for (side, names) in [("client", &client::ALL[..]), ("server", &server::ALL[..])] {
            for (i, name) in names.iter().enumerate() {
                assert!(!names[i + 1..].contains(name), "{side} event {name} twice");
                assert!(
                    DOCS.contains(&format!("`{name}")) || DOCS.contains(&format!("\"{name}\"")),
                    "{side} event {name} is not in docs/protocol.md"
                );
            }
        }
    }

    #[test]
    fn the_web_client_expects_only_events_the_server_sends() {
        let expected = web_keys();
        assert!(expected.len() >= 15, "{expected:?}");
        for name in expected {
            assert!(
                server::ALL.contains(&name),
                "the web client expects `{name}`"
            );
        }
    }
}
