//! `message:send` from a socket: validated (the same rules as REST), limited per user (REST and
//! WebSocket share `limits.send`), then queued on the conversation's persister lane; the answer
//! (`message:sent` after COMMIT, or `message:error`) comes back through the fan-out, in order.

use std::rc::Rc;

use parley_persister::writer::{NewMessage, SocketOrigin, SubmitError};
use parley_shared::send::{self, SendFields};
use parley_shared::{ConversationId, ErrorBody, ErrorCode, MessageId, UserId};

use super::events;
use super::session::Session;
use crate::limits::Key;
use crate::protocol::events::server;
use crate::protocol::{self as codec, SendData};

/// Handles one `message:send`.
pub(super) fn send(session: &Rc<Session>, user: UserId, id: Option<&str>, data: SendData) {
    let cmid = data.client_message_id.as_str();
    let error = |body: ErrorBody| {
        session.state.app.metrics.send(body.code.as_str());
        session.push(codec::encode_error(
            server::MESSAGE_ERROR,
            id,
            Some(cmid),
            &body,
        ));
    };
    if session.handle.draining.get() {
        return error(
            ErrorBody::new(
                ErrorCode::Overloaded,
                "Server shutting down; send again after reconnecting",
            )
            .with_retry_after(1),
        );
    }
    let valid = match send::validate(SendFields {
        client_message_id: cmid,
        content: &data.content,
        content_type: data.content_type.as_deref(),
        reply_to: data.reply_to.as_deref(),
    }) {
        Ok(valid) => valid,
        Err(problems) => {
            let body = problems.into_iter().fold(
                ErrorBody::new(ErrorCode::ValidationError, "Invalid message"),
                |body, (field, problem)| body.with_detail(field, problem),
            );
            return error(body);
        }
    };
    let Ok(conversation) = data.conversation_id.parse::<ConversationId>() else {
        // A malformed id names no conversation: the same answer as any other missing one.
        return error(ErrorBody::new(
            ErrorCode::NotFound,
            "Conversation not found",
        ));
    };
    if let Some(limits) = &session.state.app.limits {
        let decision = limits.send.check(&Key::User(user));
        if !decision.allowed {
            let seconds = decision.retry_after_secs();
            return error(
                ErrorBody::new(ErrorCode::RateLimited, "Too many messages")
                    .with_retry_after(seconds),
            );
        }
    }
    let message = NewMessage {
        id: MessageId::generate(),
        conversation_id: conversation,
        sender_id: user,
        client_message_id: data.client_message_id.clone(),
        content: data.content,
        content_type: valid.content_type.to_owned(),
        reply_to: valid.reply_to,
    };
    let origin = SocketOrigin {
        shard: session.state.shard,
        conn: session.handle.conn,
        request: id.map(str::to_owned),
        client_message_id: data.client_message_id.clone(),
    };
    // Membership is checked by the persister on the stored data, in the same transaction.
    match session
        .state
        .app
        .persister
        .submit_from_socket(message, origin)
    {
        Ok(()) => {
            session.handle.pending.set(session.handle.pending.get() + 1);
            // Sending ends the sender's typing indicator there.
            events::stop_typing(session, conversation, user);
        }
        Err(SubmitError::Overloaded) => error(
            ErrorBody::new(ErrorCode::Overloaded, "Server busy, retry shortly").with_retry_after(1),
        ),
        Err(SubmitError::Stopped) => {
            error(ErrorBody::new(ErrorCode::Overloaded, "Server shutting down").with_retry_after(1))
        }
    }
}
