//! The session's events beyond sending: subscriptions, message changes (edit, delete, react:
//! through the persister, answered after COMMIT), read marks, typing, sync after a reconnect,
//! and presence (set, watch).
//! Every one checks the user against the stored conversation before it acts.

use std::rc::Rc;

use parley_persister::store::{messages, users};
use parley_persister::writer::FrameOrigin;
use parley_shared::policy::Action;
use parley_shared::time::format_timestamp;
use parley_shared::{ConversationId, ErrorBody, ErrorCode, UserId};

use super::session::Session;
use crate::api::views::MessageView;
use crate::authz::{AuthzError, authorize};
use crate::chat::{
    self,
    change::{self as changes, Asked},
};
use crate::limits::Key;
use crate::protocol as codec;
use crate::protocol::events::server;

/// Most conversations one connection may subscribe to.
const MAX_SUBSCRIPTIONS: usize = 1024;

fn not_found() -> ErrorBody {
    ErrorBody::new(ErrorCode::NotFound, "Conversation not found")
}

fn origin(session: &Session, id: Option<&str>) -> FrameOrigin {
    FrameOrigin {
        to: session.address(),
        request: id.map(str::to_owned),
    }
}

fn authz_error(error: AuthzError) -> ErrorBody {
    match error {
        AuthzError::NotFound | AuthzError::Denied(_) => not_found(),
        AuthzError::Db(error) => {
            ErrorBody::new(error.code(), "Database unavailable").with_retry_after(1)
        }
    }
}

/// `subscribe` / `unsubscribe`: typing indicators of the conversation go to subscribers.
pub(super) async fn subscribe(
    session: &Rc<Session>,
    user: UserId,
    id: Option<&str>,
    raw: &str,
    on: bool,
) {
    let Ok(conversation) = raw.parse::<ConversationId>() else {
        return session.fail(server::ERROR, id, not_found());
    };
    let reply = if on {
        server::SUBSCRIBED
    } else {
        server::UNSUBSCRIBED
    };
    let handle = &session.handle;
    if !on {
        handle.subscriptions.borrow_mut().remove(&conversation);
        session.state.hub.unsubscribe(handle.conn, conversation);
        return session.push(codec::encode(
            reply,
            id,
            serde_json::json!({"conversationId": conversation}),
        ));
    }
    if handle.subscriptions.borrow().len() >= MAX_SUBSCRIPTIONS {
        return session.fail(
            server::ERROR,
            id,
            ErrorBody::new(
                ErrorCode::ValidationError,
                "Too many subscriptions on one connection",
            ),
        );
    }
    let checked = match session.state.pool.get().await {
        Ok(conn) => authorize(&conn, user, conversation, Action::Read).await,
        Err(error) => Err(AuthzError::Db(error.into())),
    };
    match checked {
        Ok(_) => {
            handle.subscriptions.borrow_mut().insert(conversation);
            session.state.hub.subscribe(handle.conn, conversation);
            session.push(codec::encode(
                reply,
                id,
                serde_json::json!({"conversationId": conversation}),
            ));
        }
        Err(error) => session.fail(server::ERROR, id, authz_error(error)),
    }
}

/// `focus`: the conversation this connection shows now (its messages are not toasted here), or
/// none. Nothing is answered unless it is refused (a conversation the user is not a member of).
pub(super) async fn focus(
    session: &Rc<Session>,
    user: UserId,
    id: Option<&str>,
    raw: Option<&str>,
) {
    let handle = &session.handle;
    let Some(raw) = raw else {
        return handle.focus.set(None);
    };
    let Ok(conversation) = raw.parse::<ConversationId>() else {
        return session.fail(server::ERROR, id, not_found());
    };
    if handle.focus.get() == Some(conversation) {
        return;
    }
    let checked = match session.state.pool.get().await {
        Ok(conn) => authorize(&conn, user, conversation, Action::Read).await,
        Err(error) => Err(AuthzError::Db(error.into())),
    };
    match checked {
        Ok(_) => handle.focus.set(Some(conversation)),
        Err(error) => session.fail(server::ERROR, id, authz_error(error)),
    }
}

/// `message:edit`, `message:delete`, `message:react`: answered (`message:edited` ... with the
/// frame's `id`, or `error`) after the persister committed; the members get the same event.
pub(super) async fn change(
    session: &Rc<Session>,
    user: UserId,
    id: Option<&str>,
    message_id: &str,
    asked: Asked,
) {
    if session.handle.draining.get() {
        return session.fail(
            server::ERROR,
            id,
            ErrorBody::new(
                ErrorCode::Overloaded,
                "Server shutting down; retry after reconnecting",
            )
            .with_retry_after(1),
        );
    }
    // Edits, deletes and reactions share the REST API's per-user allowance.
    if let Some(limits) = &session.state.app.limits {
        let decision = limits.api.check(&Key::User(user)).await;
        if !decision.allowed {
            session.state.app.metrics.ws_rate_limited.inc();
            return session.fail(
                server::ERROR,
                id,
                ErrorBody::new(ErrorCode::RateLimited, "Too many changes")
                    .with_retry_after(decision.retry_after_secs()),
            );
        }
    }
    let request = match changes::prepare(&session.state, user, message_id, asked).await {
        Ok(request) => request,
        Err(body) => return session.fail(server::ERROR, id, body),
    };
    let persister = &session.state.app.persister;
    match persister.submit_change_from_socket(request, origin(session, id)) {
        Ok(()) => session.handle.pending.set(session.handle.pending.get() + 1),
        Err(error) => session.fail(server::ERROR, id, changes::submit_error(error)),
    }
}

/// `receipt:read {conversationId, seq}`: `chat::marks::read`. Only a non-member gets an answer
/// (`error` NOT_FOUND).
pub(super) fn read(session: &Rc<Session>, user: UserId, id: Option<&str>, raw: &str, seq: i64) {
    let Ok(conversation) = raw.parse::<ConversationId>() else {
        return session.fail(server::ERROR, id, not_found());
    };
    let origin = Some(origin(session, id));
    if let Err(body) = chat::marks::read(&session.state.app, user, conversation, seq, origin) {
        session.fail(server::ERROR, id, body);
    }
}

/// `typing:start` / `typing:stop`: the connection must have subscribed to the conversation (the
/// subscription checked membership); then `chat::typing`.
pub(super) fn typing(
    session: &Rc<Session>,
    user: UserId,
    id: Option<&str>,
    raw: &str,
    start: bool,
) {
    let Ok(conversation) = raw.parse::<ConversationId>() else {
        return session.fail(server::ERROR, id, not_found());
    };
    if !session
        .handle
        .subscriptions
        .borrow()
        .contains(&conversation)
    {
        return session.fail(
            server::ERROR,
            id,
            ErrorBody::new(
                ErrorCode::ValidationError,
                "Subscribe to the conversation before sending typing events",
            )
            .with_detail("conversationId", "is not subscribed on this connection"),
        );
    }
    match start {
        true => chat::typing::start(&session.state.app, conversation, user),
        false => chat::typing::stop(&session.state.app, conversation, user),
    }
}

/// `sync:request {conversations: [{conversationId, lastSeq}]}`: per conversation, the messages
/// after `lastSeq` in pages (`sync:response` frames, `hasMore` on all but the last) and the
/// messages up to `lastSeq` changed since (edits, deletes, reactions: `mod_seq >= lastSeq`), with
/// the current unread count. More than `chat.sync_max_messages` missed: `tooLarge`, no messages
/// (page through `GET .../messages?after=`). Served from PostgreSQL by `seq`: no time window.
pub(super) async fn sync(
    session: &Rc<Session>,
    user: UserId,
    id: Option<&str>,
    wanted: Vec<(String, i64)>,
) {
    let app = &session.state.app;
    if let Some(limits) = &app.limits {
        let decision = limits.history.check(&Key::User(user)).await;
        if !decision.allowed {
            let seconds = decision.retry_after_secs();
            return session.fail(
                server::ERROR,
                id,
                ErrorBody::new(ErrorCode::RateLimited, "Too many sync requests")
                    .with_retry_after(seconds),
            );
        }
    }
    for (raw, last) in wanted {
        let answer = match raw.parse::<ConversationId>() {
            Ok(conversation) => sync_one(session, user, id, conversation, last).await,
            Err(_) => Err(not_found()),
        };
        if let Err(body) = answer {
            let body = body.with_detail("conversationId", raw);
            session.fail(server::ERROR, id, body);
        }
    }
}

async fn sync_one(
    session: &Rc<Session>,
    user: UserId,
    id: Option<&str>,
    conversation: ConversationId,
    last: i64,
) -> Result<(), ErrorBody> {
    let chat = &session.state.app.chat;
    let db = |e: parley_persister::DbError| {
        ErrorBody::new(e.code(), "Database unavailable").with_retry_after(1)
    };
    // A pooled connection is held only while querying, never while the client drains pages.
    let (membership, mut changes, expired) = {
        let conn = session.state.pool.get().await.map_err(|e| db(e.into()))?;
        let membership = authorize(&conn, user, conversation, Action::Read)
            .await
            .map_err(authz_error)?;
        let limit = chat.sync_max_messages as i64;
        let changed = messages::changed_since(&conn, conversation, last, last, limit)
            .await
            .map_err(db)?;
        let changes = MessageView::page(&conn, &changed).await.map_err(db)?;
        let expired = parley_persister::store::retention::expired_through(&conn, conversation)
            .await
            .map_err(db)?;
        (membership, changes, expired)
    };
    let top = membership.conversation.last_seq;
    let unread = membership.unread();
    let too_large = (top - last).max(0) > chat.sync_max_messages as i64;
    let mut after = last;
    loop {
        let page = if too_large || after >= top {
            Vec::new()
        } else {
            let conn = session.state.pool.get().await.map_err(|e| db(e.into()))?;
            let rows = messages::page_after(&conn, conversation, after, chat.sync_page as i64)
                .await
                .map_err(db)?;
            MessageView::page(&conn, &rows).await.map_err(db)?
        };
        if let Some(newest) = page.last() {
            after = newest.seq;
        }
        let has_more = !too_large && !page.is_empty() && after < top;
        let frame = codec::encode(
            server::SYNC_RESPONSE,
            id,
            serde_json::json!({
                "conversationId": conversation,
                "messages": page,
                "changes": std::mem::take(&mut changes),
                "hasMore": has_more,
                "tooLarge": too_large,
                "lastSeq": top,
                "unreadCount": unread,
                "expiredThroughSeq": expired,
            }),
        );
        session.handle.outbox.room().await;
        session.push(frame);
        if !has_more {
            return Ok(());
        }
    }
}

/// `presence:set {status}`: `chat::marks::set_status`, answered `presence:status`.
pub(super) fn presence_set(session: &Rc<Session>, user: UserId, id: Option<&str>, raw: &str) {
    match chat::marks::set_status(&session.state.app, user, raw) {
        Ok(status) => session.push(codec::encode(
            server::PRESENCE_STATUS,
            id,
            serde_json::json!({"status": status.as_str()}),
        )),
        Err(body) => session.fail(server::ERROR, id, body),
    }
}

/// `presence:subscribe` / `presence:unsubscribe {userIds}`: watch people who share a
/// conversation with the caller (others are left out of the answer); the answer carries each
/// watched user's current status and last seen.
pub(super) async fn presence_watch(
    session: &Rc<Session>,
    user: UserId,
    id: Option<&str>,
    raw: Vec<String>,
    on: bool,
) {
    let ids: Vec<UserId> = raw.iter().filter_map(|r| r.parse().ok()).collect();
    let handle = &session.handle;
    let hub = &session.state.hub;
    if !on {
        for watched in &ids {
            handle.presence_subscriptions.borrow_mut().remove(watched);
            hub.watchers.borrow_mut().unsubscribe(handle.conn, *watched);
        }
        return session.push(codec::encode(
            server::PRESENCE_UNSUBSCRIBED,
            id,
            serde_json::json!({"userIds": ids}),
        ));
    }
    let cap = session.state.app.presence_config.max_subscriptions;
    if handle.presence_subscriptions.borrow().len() + ids.len() > cap {
        return session.fail(
            server::ERROR,
            id,
            ErrorBody::new(
                ErrorCode::ValidationError,
                format!("At most {cap} watched users per connection"),
            ),
        );
    }
    let allowed = match session.state.pool.get().await {
        Ok(conn) => {
            let users = users::sharing_conversation(&conn, user, &ids).await;
            match users {
                Ok(allowed) => users::get_many(&conn, &allowed).await,
                Err(error) => Err(error),
            }
        }
        Err(error) => Err(error.into()),
    };
    let allowed = match allowed {
        Ok(allowed) => allowed,
        Err(error) => {
            return session.fail(
                server::ERROR,
                id,
                ErrorBody::new(error.code(), "Database unavailable").with_retry_after(1),
            );
        }
    };
    let presence = &session.state.app.presence;
    let mut statuses = Vec::with_capacity(allowed.len());
    for watched in &allowed {
        handle
            .presence_subscriptions
            .borrow_mut()
            .insert(watched.id);
        hub.watchers.borrow_mut().subscribe(handle.conn, watched.id);
        statuses.push(serde_json::json!({
            "userId": watched.id,
            "status": presence.status(watched.id).as_str(),
            "lastSeenAt": watched.last_seen_at.map(format_timestamp),
        }));
    }
    session.push(codec::encode(
        server::PRESENCE_SUBSCRIBED,
        id,
        serde_json::json!({"users": statuses}),
    ));
}
