//! One WebSocket connection. Two tasks on the shard: the reader (the only one that reads; it
//! never sits in a `select!`, because fastwebsockets' `read_frame` is not cancel-safe), and the
//! writer (drains the outbox, one write per burst, and enforces the auth timeout and token
//! expiry). Events are handled in the reader, one at a time, in arrival order.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use crate::transport::WriteHalf;
use bytes::Bytes;
use parley_shared::time::format_timestamp;
use parley_shared::{ErrorBody, ErrorCode, SessionId, UserId};
use tokio::io::AsyncWriteExt;

use super::events;
use super::framed::FrameLimited;
use super::hub::SessionHandle;
use super::outbox::{self, Class, Next};
use super::reader::{self, ReadEnd};
use crate::limits::{Key, LocalBudget};
use crate::protocol::events::{client, server};
use crate::protocol::{self as codec, ClientEvent, close};
use crate::shard::ShardState;

/// Who the connection acts for, from a verified access token.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Authed {
    pub(crate) user: UserId,
    pub(crate) session: SessionId,
    /// Unix seconds.
    pub(crate) expires_at: i64,
}

/// A live connection's state.
pub(crate) struct Session {
    pub(crate) state: Rc<ShardState>,
    pub(crate) handle: Rc<SessionHandle>,
    pub(crate) authed: Cell<Option<Authed>>,
    /// When this connection last reported activity to the presence table.
    reported: Cell<Option<std::time::Instant>>,
    /// `limits.ws_events` for this connection (`None` when limits are off).
    budget: Option<LocalBudget>,
}

impl Session {
    pub(crate) fn new(state: Rc<ShardState>, handle: Rc<SessionHandle>) -> Self {
        let budget = state
            .app
            .limits
            .as_ref()
            .map(|limits| LocalBudget::new(limits.ws_events));
        Self {
            state,
            handle,
            authed: Cell::new(None),
            reported: Cell::new(None),
            budget,
        }
    }

    /// Counts `event` against the connection's budget (`limits.ws_events`); `Some(seconds)` to
    /// wait when it is spent. Sends, changes and sync draw from their own per-user limits, and a
    /// heartbeat is the keep-alive itself (it costs no more than reading it).
    fn over_budget(&self, event: &ClientEvent) -> Option<u64> {
        let exempt = matches!(
            event,
            ClientEvent::Heartbeat
                | ClientEvent::Send(_)
                | ClientEvent::Change { .. }
                | ClientEvent::Sync(_)
        );
        let budget = self.budget.as_ref().filter(|_| !exempt)?;
        let decision = budget.check();
        if decision.allowed {
            return None;
        }
        self.state.app.metrics.ws_rate_limited.inc();
        Some(decision.retry_after_secs())
    }

    pub(crate) fn push(&self, frame: Bytes) {
        self.handle.outbox.push(Class::Durable, frame);
    }

    pub(crate) fn fail(&self, event: &str, id: Option<&str>, body: ErrorBody) {
        self.push(codec::encode_error(event, id, None, &body));
    }

    /// Refuses further use: `auth:error`, then close with `code`.
    fn reject(&self, id: Option<&str>, body: ErrorBody, code: u16) {
        self.fail(server::AUTH_ERROR, id, body);
        self.handle.outbox.close(code, "authentication failed");
    }

    /// Takes `authed` as this connection's identity (first time: counts the connection).
    /// On refusal, queues `auth:error` and the close instead.
    pub(crate) async fn accept(&self, id: Option<&str>, authed: Authed) {
        let app = &self.state.app;
        match self.authed.get() {
            Some(current) if current.user != authed.user => {
                self.reject(
                    id,
                    ErrorBody::new(ErrorCode::Unauthorized, "A connection cannot change user"),
                    close::UNAUTHORIZED,
                );
                return;
            }
            Some(_) => {}
            None => {
                if let Some(limits) = &app.limits
                    && !limits
                        .ws_connect
                        .check(&Key::User(authed.user))
                        .await
                        .allowed
                {
                    self.reject(
                        id,
                        ErrorBody::new(ErrorCode::RateLimited, "Connecting too often")
                            .with_retry_after(60),
                        close::TOO_MANY,
                    );
                    return;
                }
                if !app
                    .connections
                    .acquire(authed.user, app.ws.max_per_user)
                    .await
                {
                    self.reject(
                        id,
                        ErrorBody::new(ErrorCode::RateLimited, "Too many open connections"),
                        close::TOO_MANY,
                    );
                    return;
                }
                self.handle.user.set(Some(authed.user));
                self.state.hub.bind_user(self.handle.conn, authed.user);
                app.presence
                    .connected(authed.user, std::time::Instant::now());
                crate::shard::load_unread(&self.state.hub, &self.state.pool, app);
            }
        }
        // A renewed token may come from another login of the same user: follow it.
        self.handle.session.set(Some(authed.session));
        self.authed.set(Some(authed));
        let expires = time::OffsetDateTime::from_unix_timestamp(authed.expires_at)
            .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
        self.push(codec::encode(
            server::AUTH_SUCCESS,
            id,
            serde_json::json!({"userId": authed.user, "expiresAt": format_timestamp(expires)}),
        ));
    }

    /// Where this connection lives, for answers that travel through the persister.
    pub(crate) fn address(&self) -> parley_persister::writer::ConnAddress {
        parley_persister::writer::ConnAddress {
            instance: self.state.app.instance,
            shard: self.state.shard,
            conn: self.handle.conn,
        }
    }

    /// Tells the presence table `user` is active (at most once a second per connection).
    fn active(&self, user: UserId) {
        let now = std::time::Instant::now();
        if self
            .reported
            .get()
            .is_none_or(|at| now.duration_since(at) >= Duration::from_secs(1))
        {
            self.reported.set(Some(now));
            self.state.app.presence.activity(user, now);
        }
    }

    /// Verifies an access token (revoked sessions included).
    pub(crate) fn verify(&self, token: &str) -> Option<Authed> {
        let claims = self.state.app.verify_access(token).ok()?;
        Some(Authed {
            user: claims.sub,
            session: claims.sid,
            expires_at: claims.exp,
        })
    }
}

/// Reads and handles frames until the connection ends; then makes sure the writer closes it.
pub(crate) async fn read_loop(mut source: FrameLimited, session: Rc<Session>) {
    let max = session.state.app.ws.max_message_bytes;
    let end = reader::read_frames(&mut source, max, &session).await;
    let outbox = &session.handle.outbox;
    match end {
        ReadEnd::ClientClosed => outbox.close(close::NORMAL, ""),
        ReadEnd::Gone => outbox.close(close::NORMAL, ""),
        ReadEnd::Close(code, reason) => outbox.close(code, reason),
    }
}

impl reader::Frames for Rc<Session> {
    fn closing(&self) -> bool {
        self.handle.outbox.is_closing()
    }

    fn control(&self, opcode: u8, payload: Bytes) {
        self.handle.outbox.push_control(opcode, payload);
    }

    fn touched(&self) {
        self.handle.last_frame.set(tokio::time::Instant::now());
    }

    fn message(&self, buf: &mut [u8]) -> impl std::future::Future<Output = ()> {
        dispatch(self, buf)
    }
}

/// Handles one text message.
async fn dispatch(session: &Rc<Session>, buf: &mut [u8]) {
    session.state.app.metrics.frames_in.inc();
    let (id, event) = match codec::parse(buf) {
        Ok(parsed) => parsed,
        Err(error) => {
            let name = if error.event.as_deref() == Some(client::SEND) {
                server::MESSAGE_ERROR
            } else {
                server::ERROR
            };
            let frame = codec::encode_error(
                name,
                error.id.as_deref(),
                error.client_message_id.as_deref(),
                &error.body,
            );
            session.push(frame);
            return;
        }
    };
    let id = id.as_deref();
    if let Some(seconds) = session.over_budget(&event) {
        // Typing is ephemeral: past the budget it is dropped without a word.
        if !matches!(event, ClientEvent::Typing { .. }) {
            session.fail(
                server::ERROR,
                id,
                ErrorBody::new(ErrorCode::RateLimited, "Too many events on this connection")
                    .with_retry_after(seconds),
            );
        }
        return;
    }
    let Some(authed) = session.authed.get() else {
        match event {
            ClientEvent::Auth { token } => match session.verify(&token) {
                Some(authed) => {
                    session.accept(id, authed).await;
                }
                None => session.reject(
                    id,
                    ErrorBody::new(ErrorCode::Unauthorized, "Invalid or expired token"),
                    close::UNAUTHORIZED,
                ),
            },
            ClientEvent::Ping => {
                session.push(codec::encode(server::PONG, id, serde_json::json!({})))
            }
            _ => session.reject(
                id,
                ErrorBody::new(ErrorCode::Unauthorized, "Authenticate first"),
                close::UNAUTHORIZED,
            ),
        }
        return;
    };
    if !matches!(event, ClientEvent::Heartbeat | ClientEvent::Ping) {
        session.active(authed.user);
    }
    match event {
        ClientEvent::Auth { token } => match session.verify(&token) {
            Some(fresh) => {
                session.accept(id, fresh).await;
            }
            None => session.reject(
                id,
                ErrorBody::new(ErrorCode::Unauthorized, "Invalid or expired token"),
                close::UNAUTHORIZED,
            ),
        },
        ClientEvent::Ping => session.push(codec::encode(server::PONG, id, serde_json::json!({}))),
        ClientEvent::Send(data) => super::send::send(session, authed.user, id, data).await,
        ClientEvent::Subscribe { conversation_id } => {
            events::subscribe(session, authed.user, id, &conversation_id, true).await
        }
        ClientEvent::Unsubscribe { conversation_id } => {
            events::subscribe(session, authed.user, id, &conversation_id, false).await
        }
        ClientEvent::Change { message_id, asked } => {
            events::change(session, authed.user, id, &message_id, asked).await
        }
        ClientEvent::Read {
            conversation_id,
            seq,
        } => events::read(session, authed.user, id, &conversation_id, seq),
        ClientEvent::Typing {
            conversation_id,
            start,
        } => events::typing(session, authed.user, id, &conversation_id, start),
        ClientEvent::Sync(wanted) => events::sync(session, authed.user, id, wanted).await,
        ClientEvent::Heartbeat => {}
        ClientEvent::PresenceSet { status } => {
            events::presence_set(session, authed.user, id, &status)
        }
        ClientEvent::PresenceWatch { user_ids, on } => {
            events::presence_watch(session, authed.user, id, user_ids, on).await
        }
        ClientEvent::Focus { conversation_id } => {
            events::focus(session, authed.user, id, conversation_id.as_deref()).await
        }
    }
}

/// Closes the connection when it stays unauthenticated too long or its token expires.
/// When the connection's next deadline falls: the auth timeout until it authenticates, then its
/// token's expiry (renewed by each accepted `auth` frame).
fn next_deadline(session: &Session, auth_deadline: tokio::time::Instant) -> tokio::time::Instant {
    match session.authed.get() {
        None => auth_deadline,
        Some(authed) => {
            let now = time::OffsetDateTime::now_utc().unix_timestamp();
            let left = u64::try_from(authed.expires_at.saturating_sub(now)).unwrap_or(0);
            let expiry = tokio::time::Instant::now() + Duration::from_secs(left);
            expiry.min(session.handle.last_frame.get() + silence_limit(session))
        }
    }
}

/// How long an authenticated connection may stay silent: twice the heartbeat interval.
fn silence_limit(session: &Session) -> Duration {
    session.state.app.presence_config.heartbeat_interval * 2
}

/// At a deadline: closes the connection (4401) if it is still unauthenticated or its token has
/// expired. Returns whether it did.
fn enforce_deadline(session: &Session) -> bool {
    let message = match session.authed.get() {
        None => "Authentication timed out",
        Some(authed) if authed.expires_at <= time::OffsetDateTime::now_utc().unix_timestamp() => {
            "Token expired; send a fresh auth frame or reconnect"
        }
        Some(_) if session.handle.last_frame.get().elapsed() >= silence_limit(session) => {
            session.handle.outbox.close(close::SILENT, "no heartbeat");
            return true;
        }
        Some(_) => return false,
    };
    session.reject(
        None,
        ErrorBody::new(ErrorCode::Unauthorized, message),
        close::UNAUTHORIZED,
    );
    true
}

/// Writes what the outbox holds, one write per burst, until the close.
pub(crate) async fn write_loop(mut writer: WriteHalf, session: &Session, write_timeout: Duration) {
    // Idle, this task holds no buffer: each burst is encoded into one made for it, and the write
    // (with its timer) lives on the heap only while it runs. It also keeps the connection's
    // deadlines (both branches of the select are cancel-safe; the reader is never in one).
    let auth_deadline = tokio::time::Instant::now() + session.state.app.ws.auth_timeout;
    let deadline = tokio::time::sleep_until(next_deadline(session, auth_deadline));
    tokio::pin!(deadline);
    let mut enforcing = true;
    loop {
        let next = tokio::select! {
            next = session.handle.outbox.next() => next,
            () = &mut deadline, if enforcing => {
                if enforce_deadline(session) {
                    // The close is queued; the outbox says when to stop.
                    enforcing = false;
                } else {
                    deadline.as_mut().reset(next_deadline(session, auth_deadline));
                }
                continue;
            }
        };
        match next {
            Next::Frames(frames) => {
                session
                    .state
                    .app
                    .metrics
                    .frames_out
                    .add(frames.len() as u64);
                let size = frames.iter().map(|(_, p)| p.len() + 10).sum();
                let mut buf = Vec::with_capacity(size);
                for (opcode, payload) in &frames {
                    codec::frame_head(*opcode, payload.len(), &mut buf);
                    buf.extend_from_slice(payload);
                }
                drop(frames);
                let write = Box::pin(tokio::time::timeout(write_timeout, writer.write_all(&buf)));
                match write.await {
                    Ok(Ok(())) => {}
                    Ok(Err(error)) => {
                        tracing::debug!(%error, "client write failed");
                        return;
                    }
                    Err(_) => {
                        tracing::info!(timeout = ?write_timeout, "client stopped reading; dropping the connection");
                        return;
                    }
                }
            }
            Next::Close(frame) => {
                if let Some((code, reason)) = frame {
                    let mut buf = Vec::new();
                    let mut payload = code.to_be_bytes().to_vec();
                    payload.extend_from_slice(&reason.as_bytes()[..reason.len().min(120)]);
                    codec::frame_head(outbox::OP_CLOSE, payload.len(), &mut buf);
                    buf.extend_from_slice(&payload);
                    let _ = tokio::time::timeout(write_timeout, writer.write_all(&buf)).await;
                }
                let _ = writer.shutdown().await;
                return;
            }
        }
    }
}
