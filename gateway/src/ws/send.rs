//! `message:send` from a socket: the connection's part (refused while it drains; a refusal is a
//! `message:error` with the client id), then `chat::send` like any send; the answer
//! (`message:sent` after COMMIT, or `message:error`) comes back through the fan-out, in order.

use std::rc::Rc;

use parley_persister::writer::SocketOrigin;
use parley_shared::{ErrorBody, ErrorCode, UserId};

use super::session::Session;
use crate::chat::{self, send::SendAsked, send::Sender};
use crate::protocol::events::server;
use crate::protocol::{self as codec, SendData};

/// Handles one `message:send`.
pub(super) async fn send(session: &Rc<Session>, user: UserId, id: Option<&str>, data: SendData) {
    let cmid = data.client_message_id.clone();
    let refuse = |body: ErrorBody| {
        session.push(codec::encode_error(
            server::MESSAGE_ERROR,
            id,
            Some(&cmid),
            &body,
        ));
    };
    if session.handle.draining.get() {
        let body = ErrorBody::new(
            ErrorCode::Overloaded,
            "Server shutting down; send again after reconnecting",
        )
        .with_retry_after(1);
        session.state.app.metrics.send(body.code.as_str());
        return refuse(body);
    }
    let origin = SocketOrigin {
        to: session.address(),
        request: id.map(str::to_owned),
        client_message_id: data.client_message_id.clone(),
    };
    let asked = SendAsked {
        conversation: &data.conversation_id,
        client_message_id: data.client_message_id,
        content: data.content,
        content_type: data.content_type,
        reply_to: data.reply_to,
        priority: data.priority,
        attachments: data.attachments,
    };
    let sender = Sender {
        user,
        rate: None,
        pool: &session.state.pool,
    };
    match chat::send::send_from_socket(&session.state.app, sender, asked, origin).await {
        Ok(()) => session.handle.pending.set(session.handle.pending.get() + 1),
        Err(body) => refuse(body),
    }
}
