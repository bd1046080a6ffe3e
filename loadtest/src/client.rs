//! The wire protocols the generator speaks, so every system is measured the same way: Parley's
//! WebSocket protocol (`docs/protocol.md`), Socket.IO v4 (Engine.IO over a WebSocket), which the
//! seeds' Node.js stack uses, and XMPP over WebSocket (`xmpp`, for ejabberd). Incoming frames are classified by cheap scanning: at 250k frames/s a
//! full JSON parse per frame would make the generator the bottleneck.

use std::net::{IpAddr, SocketAddr};

use anyhow::{Context, bail};
use futures_util::stream::SplitStream;
use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

pub(crate) type Socket = tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>;
pub(crate) type Reader = SplitStream<Socket>;

/// Which server the generator talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Protocol {
    /// Parley's own protocol on `/ws`.
    Parley,
    /// Socket.IO v4 on `/socket.io/` (the seeds' Node.js stack, `benches/peers/socketio`).
    Socketio,
    /// The Matrix client-server API over HTTP (Synapse, `benches/peers/synapse`); `steady` only.
    Matrix,
    /// XMPP over WebSocket on `/xmpp`, conversations as MUC rooms (ejabberd,
    /// `benches/peers/ejabberd`); `steady` only.
    Xmpp,
}

/// What an incoming frame means to a scenario.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Event<'a> {
    /// The server committed our send with this client message id.
    Acked(&'a str),
    /// A message from someone else arrived; its content.
    Delivered(&'a str),
    /// Our send failed: (client message id, error code).
    Failed(&'a str, &'a str),
    /// A MUC room's groupchat message: ours reflected (an ack) or someone else's (a delivery).
    Groupchat(crate::xmpp::Groupchat<'a>),
    /// Socket.IO's keep-alive: answer with `3`.
    Ping,
    Other,
}

/// Opens an authenticated connection (from `local`, if given, to spread source addresses).
pub(crate) async fn connect(
    addr: SocketAddr,
    protocol: Protocol,
    token: &str,
    local: Option<IpAddr>,
) -> anyhow::Result<Socket> {
    let socket = match addr {
        SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
        SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
    };
    if let Some(ip) = local {
        socket.bind(SocketAddr::new(ip, 0))?;
    }
    let stream = socket.connect(addr).await?;
    stream.set_nodelay(true)?;
    let url = match protocol {
        Protocol::Parley => format!("ws://{addr}/ws"),
        Protocol::Socketio => format!("ws://{addr}/socket.io/?EIO=4&transport=websocket"),
        Protocol::Matrix => bail!("Matrix has no WebSocket: only `steady` speaks it"),
        Protocol::Xmpp => bail!("XMPP set-up is its own (xmpp::setup): only `steady` speaks it"),
    };
    let mut request = url.into_client_request()?;
    if protocol == Protocol::Parley {
        request
            .headers_mut()
            .insert("authorization", format!("Bearer {token}").parse()?);
    }
    let (mut ws, _) = tokio_tungstenite::client_async(request, stream).await?;
    if protocol == Protocol::Socketio {
        // Engine.IO open packet first, then connect to the default namespace with the token.
        let open = next_text(&mut ws).await?;
        anyhow::ensure!(
            open.starts_with('0'),
            "expected an Engine.IO open, got {open}"
        );
        ws.send(Message::text(format!("40{}", json!({ "token": token }))))
            .await?;
    }
    // Wait until the server says we are in: set-up must not count as latency.
    loop {
        let text = next_text(&mut ws).await?;
        match protocol {
            Protocol::Parley if text.contains("\"auth:success\"") => break,
            Protocol::Socketio if text.starts_with("40") => break,
            Protocol::Socketio if text.starts_with("44") => bail!("refused: {text}"),
            _ if text.contains("\"auth:error\"") => bail!("refused: {text}"),
            _ => {}
        }
    }
    Ok(ws)
}

/// The next text frame during set-up; a close or the end of the stream is an error.
pub(crate) async fn next_text(ws: &mut Socket) -> anyhow::Result<String> {
    loop {
        match ws.next().await.context("closed during set-up")?? {
            Message::Text(text) => return Ok(text.as_str().to_owned()),
            Message::Close(frame) => bail!("closed during set-up: {frame:?}"),
            _ => {}
        }
    }
}

/// The frame that sends `content` to `conversation` with idempotency key `client_id`
/// (`n` is the Socket.IO ack id; the key is `k{n}` so the ack maps back to it).
///
/// Written directly, not through a JSON value: ids and contents are the generator's own and need
/// no escaping, and at tens of thousands of sends per second the generator must stay light.
pub(crate) fn send_frame(protocol: Protocol, conversation: &str, n: u64, content: &str) -> Message {
    if protocol == Protocol::Xmpp {
        return crate::xmpp::send_frame(conversation, n, content);
    }
    let data = format!(
        r#"{{"conversationId":"{conversation}","clientMessageId":"k{n}","content":"{content}"}}"#
    );
    match protocol {
        Protocol::Socketio => Message::text(format!(r#"42{n}["message:send",{data}]"#)),
        Protocol::Parley | Protocol::Matrix | Protocol::Xmpp => {
            Message::text(format!(r#"{{"event":"message:send","data":{data}}}"#))
        }
    }
}

/// Classifies an incoming text frame.
pub(crate) fn classify(protocol: Protocol, text: &str) -> Event<'_> {
    match protocol {
        Protocol::Parley => {
            let head = text.get(..40).unwrap_or(text);
            if head.contains("\"message:received\"") {
                content(text).map_or(Event::Other, Event::Delivered)
            } else if head.contains("\"message:sent\"") {
                string_field(text, "clientMessageId").map_or(Event::Other, Event::Acked)
            } else if head.contains("\"message:error\"") {
                Event::Failed(
                    string_field(text, "clientMessageId").unwrap_or(""),
                    string_field(text, "code").unwrap_or("?"),
                )
            } else {
                Event::Other
            }
        }
        Protocol::Matrix => Event::Other,
        Protocol::Xmpp => match crate::xmpp::classify(text) {
            crate::xmpp::Stanza::Groupchat(message) => Event::Groupchat(message),
            crate::xmpp::Stanza::Error(id, condition) => Event::Failed(id, condition),
            crate::xmpp::Stanza::Other => Event::Other,
        },
        Protocol::Socketio => {
            if text == "2" {
                Event::Ping
            } else if text.starts_with("42[\"message:received\"") {
                content(text).map_or(Event::Other, Event::Delivered)
            } else if let Some(ack) = text.strip_prefix("43") {
                // The ack id (`43<id>[...]`) is the send's number whatever the payload holds: an
                // error ack without the client id (the literal peer's) still ends its send once.
                let digits = ack.len() - ack.trim_start_matches(|c: char| c.is_ascii_digit()).len();
                let key = match digits {
                    0 => string_field(ack, "clientMessageId").unwrap_or(""),
                    n => &ack[..n],
                };
                if ack.contains("\"status\":\"ok\"") {
                    Event::Acked(key)
                } else {
                    Event::Failed(key, string_field(ack, "code").unwrap_or("?"))
                }
            } else {
                Event::Other
            }
        }
    }
}

/// The first `"<name>":"<value>"` in `text` (values without escapes, as the generator sends).
fn string_field<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    let key = format!("\"{name}\":\"");
    let start = text.find(&key)? + key.len();
    let len = text[start..].find('"')?;
    Some(&text[start..start + len])
}

fn content(text: &str) -> Option<&str> {
    string_field(text, "content")
}

/// Reads the next text frame (ignoring others); `None` when the connection ended.
pub(crate) async fn next(reader: &mut Reader) -> Option<Result<String, String>> {
    loop {
        match reader.next().await? {
            Ok(Message::Text(text)) => return Some(Ok(text.as_str().to_owned())),
            Ok(Message::Close(_)) => return None,
            Ok(_) => {}
            Err(error) => return Some(Err(error.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_classified_without_parsing() {
        let p = Protocol::Parley;
        assert_eq!(
            classify(
                p,
                r#"{"event":"message:received","data":{"message":{"id":"m","content":"t=12;i=3"}}}"#
            ),
            Event::Delivered("t=12;i=3")
        );
        assert_eq!(
            classify(
                p,
                r#"{"event":"message:sent","data":{"clientMessageId":"k7","message":{}}}"#
            ),
            Event::Acked("k7")
        );
        assert_eq!(
            classify(
                p,
                r#"{"event":"message:error","data":{"code":"OVERLOADED","clientMessageId":"k9"}}"#
            ),
            Event::Failed("k9", "OVERLOADED")
        );
        let s = Protocol::Socketio;
        assert_eq!(classify(s, "2"), Event::Ping);
        assert_eq!(
            classify(
                s,
                r#"43[{"status":"ok","message":{"clientMessageId":"k5"}}]"#
            ),
            Event::Acked("k5")
        );
        assert_eq!(
            classify(
                s,
                r#"4312[{"status":"error","error":{"code":"DB_ERROR","message":"could not save"}}]"#
            ),
            Event::Failed("12", "DB_ERROR"),
            "keyed by the ack id when the payload has no client id"
        );
        assert_eq!(
            classify(
                s,
                r#"42["message:received",{"message":{"content":"t=1;i=0"}}]"#
            ),
            Event::Delivered("t=1;i=0")
        );
    }
}
