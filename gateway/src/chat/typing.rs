//! Typing indicators: a start is limited to one per `chat.typing_interval` per user and
//! conversation, tells the conversation's subscribers when it begins, and stops by itself after
//! `chat.typing_timeout` unless renewed; a stop (or a message sent, or leaving the conversation)
//! ends it at once. The door checks who may type where (a WebSocket connection must have
//! subscribed to the conversation).

use std::sync::Arc;

use parley_shared::{ConversationId, UserId};

use crate::app::App;
use crate::protocol as codec;
use crate::protocol::events::server;
use crate::typing::Start;

/// `user` is typing in `conversation` (on a shard: the auto-stop is a task of its runtime).
pub(crate) fn start(app: &Arc<App>, conversation: ConversationId, user: UserId) {
    let Start::Accepted { began, generation } =
        app.typing
            .start(conversation, user, std::time::Instant::now())
    else {
        return;
    };
    if began {
        app.bus
            .ephemeral(conversation, user, frame(conversation, user, true));
    }
    let app = Arc::clone(app);
    tokio::task::spawn_local(async move {
        tokio::time::sleep(app.chat.typing_timeout).await;
        if app.typing.expire(conversation, user, generation) {
            app.bus
                .ephemeral(conversation, user, frame(conversation, user, false));
        }
    });
}

/// Ends `user`'s typing in `conversation` wherever it started, telling the others.
pub(crate) fn stop(app: &App, conversation: ConversationId, user: UserId) {
    if app.typing.stop(conversation, user) {
        app.bus
            .ephemeral(conversation, user, frame(conversation, user, false));
    }
}

fn frame(conversation: ConversationId, user: UserId, started: bool) -> bytes::Bytes {
    let event = if started {
        server::TYPING_STARTED
    } else {
        server::TYPING_STOPPED
    };
    codec::encode(
        event,
        None,
        serde_json::json!({"conversationId": conversation, "userId": user}),
    )
}
