//! XMPP over WebSocket (RFC 7395) for the ejabberd peer (`benches/peers/ejabberd`): in-band
//! registration (XEP-0077), SASL PLAIN, resource binding, and group conversations as MUC rooms
//! (XEP-0045). A groupchat message is acknowledged durably when the room reflects it to its
//! sender (the room's archive, mod_mam in SQL, has stored it by then), and delivered when another
//! occupant receives it; so `steady` measures ejabberd the way it measures Parley. Stanzas are
//! read by scanning, as the other protocols' frames are.

use std::net::SocketAddr;

use anyhow::bail;
use base64::Engine;
use futures_util::SinkExt;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::client::Socket;
use crate::http;

/// The XMPP domain the peer serves (its `hosts`), and its MUC service.
pub(crate) const DOMAIN: &str = "bench.local";
const MUC: &str = "conference.bench.local";
const PASSWORD: &str = "loadtest-password";

/// A groupchat message as the generator reads it.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Groupchat<'a> {
    /// The occupant's nickname (the resource of `from`).
    pub(crate) nick: &'a str,
    pub(crate) id: &'a str,
    pub(crate) body: &'a str,
}

/// What an incoming stanza is, for the load: a groupchat message, an error for one of ours, or
/// anything else.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Stanza<'a> {
    Groupchat(Groupchat<'a>),
    /// A message bounced with `type='error'`: (its id, the condition).
    Error(&'a str, &'a str),
    Other,
}

/// Classifies one text frame (one stanza, RFC 7395 §3.3.3).
pub(crate) fn classify(text: &str) -> Stanza<'_> {
    if !text.starts_with("<message") {
        return Stanza::Other;
    }
    let head = &text[..text.find('>').unwrap_or(text.len())];
    match attr(head, "type") {
        Some("groupchat") => {
            let (Some(from), Some(body)) = (attr(head, "from"), element(text, "body")) else {
                return Stanza::Other;
            };
            Stanza::Groupchat(Groupchat {
                nick: from.split_once('/').map_or("", |(_, nick)| nick),
                id: attr(head, "id").unwrap_or(""),
                body,
            })
        }
        Some("error") => Stanza::Error(attr(head, "id").unwrap_or(""), condition(text)),
        _ => Stanza::Other,
    }
}

/// The value of ` name='…'` or ` name="…"` in a start tag (values the generator chose: no
/// entities to undo).
fn attr<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    for quote in ['\'', '"'] {
        let key = format!(" {name}={quote}");
        if let Some(at) = tag.find(&key) {
            let rest = &tag[at + key.len()..];
            return rest.find(quote).map(|end| &rest[..end]);
        }
    }
    None
}

/// The text of the first `<name>…</name>`.
fn element<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    let open = format!("<{name}>");
    let start = text.find(&open)? + open.len();
    let len = text[start..].find(&format!("</{name}>"))?;
    Some(&text[start..start + len])
}

/// The defined condition of an `<error>` (its first child element's name).
fn condition(text: &str) -> &str {
    let Some(at) = text.find("<error") else {
        return "xmpp-error";
    };
    let inner = &text[at..];
    let Some(child) = inner.find("><").map(|i| &inner[i + 2..]) else {
        return "xmpp-error";
    };
    let end = child.find([' ', '/', '>']).unwrap_or(child.len());
    &child[..end]
}

/// The frame that sends `body` to `room` with stanza id `k{n}`.
pub(crate) fn send_frame(room: &str, n: u64, body: &str) -> Message {
    Message::text(format!(
        "<message to='{room}' type='groupchat' id='k{n}'><body>{body}</body></message>"
    ))
}

/// A room's address.
pub(crate) fn room(name: &str) -> String {
    format!("{name}@{MUC}")
}

/// Reads frames until one contains `needle`; a stream error or a failure ends set-up.
async fn until(ws: &mut Socket, needle: &str) -> anyhow::Result<String> {
    loop {
        let text = crate::client::next_text(ws).await?;
        if text.contains(needle) {
            return Ok(text);
        }
        if text.starts_with("<failure")
            || text.contains("<stream:error")
            || text.starts_with("<close")
        {
            bail!("xmpp set-up failed: {text}");
        }
        if text.contains("type='error'") || text.contains("type=\"error\"") {
            bail!("xmpp set-up refused: {text}");
        }
    }
}

async fn open_stream(ws: &mut Socket) -> anyhow::Result<String> {
    ws.send(Message::text(format!(
        "<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='{DOMAIN}' version='1.0'/>"
    )))
    .await?;
    until(ws, "<stream:features").await
}

/// Connects as `user` (registering it first when `register`), binds a resource, and returns the
/// authenticated stream.
pub(crate) async fn connect(
    addr: SocketAddr,
    user: &str,
    register: bool,
) -> anyhow::Result<Socket> {
    let stream = tokio::net::TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let mut request = format!("ws://{addr}/xmpp").into_client_request()?;
    request
        .headers_mut()
        .insert("sec-websocket-protocol", "xmpp".parse()?);
    let (mut ws, _) = tokio_tungstenite::client_async(request, stream).await?;
    open_stream(&mut ws).await?;
    if register {
        ws.send(Message::text(format!(
            "<iq type='set' id='reg'><query xmlns='jabber:iq:register'><username>{user}</username>\
             <password>{PASSWORD}</password></query></iq>"
        )))
        .await?;
        until(&mut ws, "id='reg'").await?;
    }
    let plain = base64::engine::general_purpose::STANDARD.encode(format!("\0{user}\0{PASSWORD}"));
    ws.send(Message::text(format!(
        "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>{plain}</auth>"
    )))
    .await?;
    until(&mut ws, "<success").await?;
    open_stream(&mut ws).await?;
    ws.send(Message::text(
        "<iq type='set' id='bind'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>\
         <resource>load</resource></bind></iq>",
    ))
    .await?;
    until(&mut ws, "id='bind'").await?;
    Ok(ws)
}

/// Joins `room` as `nick` (no history); the first to join creates it and accepts the default
/// configuration (persistent, archived: `default_room_options`) as an instant room.
pub(crate) async fn join(ws: &mut Socket, room: &str, nick: &str) -> anyhow::Result<()> {
    ws.send(Message::text(format!(
        "<presence to='{room}/{nick}'><x xmlns='http://jabber.org/protocol/muc'>\
         <history maxstanzas='0'/></x></presence>"
    )))
    .await?;
    // Self-presence carries status 110 (and 201 when this join created the room).
    let me = until(ws, "code='110'").await?;
    if me.contains("code='201'") {
        ws.send(Message::text(format!(
            "<iq to='{room}' type='set' id='cfg'><query xmlns='http://jabber.org/protocol/muc#owner'>\
             <x xmlns='jabber:x:data' type='submit'/></query></iq>"
        )))
        .await?;
        until(ws, "id='cfg'").await?;
    }
    Ok(())
}

/// Set-up for `steady`: `connections` users over `conversations` rooms, every socket joined to
/// its room. Returns the sockets, the rooms, and each connection's nickname.
pub(crate) async fn setup(
    addr: SocketAddr,
    connections: usize,
    conversations: usize,
) -> anyhow::Result<(Vec<Socket>, Vec<String>, Vec<String>)> {
    let prefix = format!("x{}", std::process::id());
    let names: Vec<String> = (0..connections).map(|n| format!("{prefix}u{n}")).collect();
    let rooms: Vec<String> = (0..conversations)
        .map(|c| room(&format!("{prefix}r{c}")))
        .collect();
    let mut sockets = http::in_batches(connections, 8, |n| {
        let name = names[n].clone();
        async move { connect(addr, &name, true).await }
    })
    .await?;
    // Owners first (they create the rooms), then everyone else.
    for (n, socket) in sockets.iter_mut().enumerate() {
        if n < conversations {
            join(socket, &rooms[n], &names[n]).await?;
        }
    }
    for (n, socket) in sockets.iter_mut().enumerate().skip(conversations) {
        join(socket, &rooms[n % conversations], &names[n]).await?;
    }
    Ok((sockets, rooms, names))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stanzas_are_classified_without_parsing() {
        assert_eq!(
            classify(
                "<message xml:lang='en' to='a@bench.local/load' from='r@conference.bench.local/bob' \
                 type='groupchat' id='k7'><body>t=12;i=7</body></message>"
            ),
            Stanza::Groupchat(Groupchat {
                nick: "bob",
                id: "k7",
                body: "t=12;i=7"
            })
        );
        assert_eq!(
            classify(
                "<message from=\"r@c/ann\" type=\"groupchat\" id=\"k1\"><body>t=1;i=1</body></message>"
            ),
            Stanza::Groupchat(Groupchat {
                nick: "ann",
                id: "k1",
                body: "t=1;i=1"
            }),
            "either quote"
        );
        assert_eq!(
            classify(
                "<message type='error' id='k9' from='r@c'><error type='wait'>\
                 <resource-constraint xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>"
            ),
            Stanza::Error("k9", "resource-constraint")
        );
        assert_eq!(
            classify("<message type='groupchat' from='r@c'><subject/></message>"),
            Stanza::Other,
            "a subject change has no body"
        );
        assert_eq!(classify("<presence from='r@c/x'/>"), Stanza::Other);
        assert_eq!(
            send_frame("r@c", 3, "t=1;i=3").to_text().ok(),
            Some("<message to='r@c' type='groupchat' id='k3'><body>t=1;i=3</body></message>")
        );
    }
}
