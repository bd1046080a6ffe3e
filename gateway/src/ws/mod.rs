//! WebSocket at `GET /ws`: the upgrade (the server's own Origin, or the allowlist; an optional
//! token in the handshake), then a session on this shard, which takes over the connection's
//! permit. Frames are the protocol v1 of `docs/protocol.md`.

mod events;
pub(crate) mod framed;
pub(crate) mod hub;
pub(crate) mod outbox;
pub(crate) mod reader;
mod send;
mod session;
pub(crate) mod toasts;
mod unread;
mod watch;

use std::rc::Rc;

use bytes::Bytes;
use hyper::body::Incoming;
use hyper::header::{AUTHORIZATION, HOST, ORIGIN};
use hyper::upgrade::Upgraded;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use parley_shared::{ErrorBody, ErrorCode};
use tracing::Instrument;

use self::hub::SessionHandle;
use self::outbox::Outbox;
use self::session::{Authed, Session};
use crate::http::{ConnInfo, HttpResponse, error_response};
use crate::permits::Permit;
use crate::shard::ShardState;

/// Handles `GET /ws`.
pub(crate) async fn upgrade(
    mut request: Request<Incoming>,
    conn_info: &ConnInfo,
    state: Rc<ShardState>,
) -> HttpResponse {
    let peer = conn_info.peer;
    if !fastwebsockets::upgrade::is_upgrade_request(&request) {
        return error_response(&ErrorBody::new(
            ErrorCode::ValidationError,
            "Expected a WebSocket upgrade",
        ));
    }
    if state.hub.is_draining() {
        return error_response(
            &ErrorBody::new(ErrorCode::Overloaded, "Shutting down").with_retry_after(1),
        );
    }
    if !origin_allowed(&request, &state.app.ws.allowed_origins) {
        return error_response(&ErrorBody::new(ErrorCode::Forbidden, "Origin not allowed"));
    }
    let token = handshake_token(&request);
    let (response, upgrade) = match fastwebsockets::upgrade::upgrade(&mut request) {
        Ok(parts) => parts,
        Err(error) => {
            tracing::debug!(%error, "bad websocket handshake");
            return error_response(&ErrorBody::new(
                ErrorCode::ValidationError,
                "Bad WebSocket handshake",
            ));
        }
    };
    let conn = state.next_ws_conn();
    let handle = Rc::new(SessionHandle::new(
        conn,
        Outbox::new(state.app.ws.outbound_frames, state.app.ws.outbound_bytes),
    ));
    let session = Rc::new(Session::new(Rc::clone(&state), handle));
    // A bad handshake token is refused before anything is registered.
    let authed = match token {
        Some(token) => match session.verify(&token) {
            Some(authed) => Some(authed),
            None => {
                return error_response(&ErrorBody::new(
                    ErrorCode::Unauthorized,
                    "Invalid or expired token",
                ));
            }
        },
        None => None,
    };
    // Registered once, here; `accept` binds the user (a refusal is queued and the session closes).
    state.hub.register(Rc::clone(&session.handle));
    if let Some(authed) = authed {
        session.accept(None, authed).await;
    }
    let client = crate::proxy::client_ip(peer, request.headers(), &state.app.trusted_proxies);
    let span = tracing::debug_span!("ws", shard = state.shard, conn, %peer, %client);
    // The session owns the connection from here: its slot under `server.max_connections` too.
    let permit = conn_info.take_permit();
    tokio::task::spawn_local(run(upgrade, session, permit).instrument(span));
    let (parts, _) = response.into_parts();
    Response::from_parts(parts, crate::body::Body::full(Bytes::new()))
}

/// `Authorization: Bearer` or `?token=` (browsers cannot set headers on a WebSocket).
fn handshake_token(request: &Request<Incoming>) -> Option<String> {
    if let Some(value) = request
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        && let Some((scheme, token)) = value.split_once(' ')
        && scheme.eq_ignore_ascii_case("bearer")
    {
        return Some(token.trim().to_owned());
    }
    crate::api::query_param(request.uri().query(), "token")
}

/// Whether a browser page from `Origin` may open this socket: no Origin (a native client), the
/// server's own origin (its host is the request's `Host`), a listed one, or any with `"*"`.
fn origin_allowed(request: &Request<Incoming>, allowed: &[String]) -> bool {
    let Some(origin) = request.headers().get(ORIGIN) else {
        return true;
    };
    let Ok(origin) = origin.to_str() else {
        return false;
    };
    if allowed
        .iter()
        .any(|a| a == "*" || a.eq_ignore_ascii_case(origin))
    {
        return true;
    }
    let host = request
        .headers()
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| request.uri().authority().map(|a| a.as_str()));
    host.is_some_and(|host| same_origin(origin, host))
}

/// Whether `origin` (`scheme://host[:port]`) names the host `host` (`host[:port]`), default ports
/// being the same as none.
fn same_origin(origin: &str, host: &str) -> bool {
    let (scheme, authority) = match origin.split_once("://") {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("http") => ("http", rest),
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("https") => ("https", rest),
        _ => return false,
    };
    let strip = |authority: &str| -> String {
        let lower = authority.to_ascii_lowercase();
        let default = if scheme == "http" { ":80" } else { ":443" };
        lower
            .strip_suffix(default)
            .map_or(lower.clone(), str::to_owned)
    };
    !authority.is_empty() && !authority.contains('/') && strip(authority) == strip(host)
}

async fn run(
    upgrade: fastwebsockets::upgrade::UpgradeFut,
    session: Rc<Session>,
    permit: Option<Permit>,
) {
    let state = Rc::clone(&session.state);
    match upgrade.await {
        Ok(ws) => serve(ws, &session).await,
        Err(error) => tracing::debug!(%error, "websocket upgrade failed"),
    }
    state.hub.unregister(session.handle.conn);
    if let Some(Authed { user, .. }) = session.authed.get() {
        state.app.connections.release(user);
        state
            .app
            .presence
            .disconnected(user, std::time::Instant::now());
    }
    drop(permit);
}

async fn serve(ws: fastwebsockets::WebSocket<TokioIo<Upgraded>>, session: &Rc<Session>) {
    let upgraded = ws.into_inner().into_inner();
    // Take the TCP stream back from hyper so reading and writing are independent halves.
    let parts = match upgraded.downcast::<TokioIo<crate::transport::Stream>>() {
        Ok(parts) => parts,
        Err(_) => {
            tracing::error!("upgraded connection is not a TCP stream");
            return;
        }
    };
    let (read_half, write_half) = parts.io.into_inner().split();
    // Bytes the client sent right after the handshake are already in hyper's buffer; copied out,
    // as holding `read_buf` would keep hyper's whole read buffer alive per connection.
    let early = bytes::Bytes::copy_from_slice(&parts.read_buf);
    drop(parts.read_buf);
    let source = framed::FrameLimited::new(early, read_half);
    let mut reader =
        tokio::task::spawn_local(session::read_loop(source, Rc::clone(session)).in_current_span());
    let ws = &session.state.app.ws;
    session::write_loop(write_half, session, ws.write_timeout).await;
    // Give the client a moment to answer our close, then drop the reader.
    if tokio::time::timeout(ws.close_timeout, &mut reader)
        .await
        .is_err()
    {
        reader.abort();
    }
    let dropped = session.handle.outbox.dropped();
    let metrics = &session.state.app.metrics;
    metrics.dropped_ephemeral.add(dropped);
    if session.handle.outbox.close_code() == Some(crate::protocol::close::RESYNC) {
        metrics.resync_closes.inc();
    }
    tracing::debug!(dropped, "websocket closed");
}

#[cfg(test)]
mod tests {
    #[test]
    fn same_origin_table() {
        let cases = [
            ("http://127.0.0.1:8080", "127.0.0.1:8080", true),
            ("https://chat.example.com", "chat.example.com", true),
            ("https://Chat.Example.com", "chat.example.com:443", true),
            ("http://chat.example.com", "chat.example.com:80", true),
            ("http://chat.example.com:8080", "chat.example.com", false),
            ("https://evil.example", "chat.example.com", false),
            (
                "https://chat.example.com.evil.example",
                "chat.example.com",
                false,
            ),
            ("null", "chat.example.com", false),
            ("file://", "chat.example.com", false),
            ("ws://chat.example.com", "chat.example.com", false),
            ("https://chat.example.com/path", "chat.example.com", false),
        ];
        for (origin, host, want) in cases {
            assert_eq!(super::same_origin(origin, host), want, "{origin} vs {host}");
        }
    }
}
