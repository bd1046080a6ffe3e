//! Edits, deletes and reactions from either door (REST or WebSocket), one path: the checks that need no
//! database, finding the message's stored conversation (every later check runs on it, in the
//! persister's transaction), the submission to that conversation's lane, and one mapping of
//! every outcome to the error catalog.

use bytes::Bytes;
use parley_persister::store::messages;
use parley_persister::writer::{
    ChangeEvent, ChangeKind, ChangeOutcome, ChangeRequest, Changed, Refusal, SubmitError,
};
use parley_shared::send::{validate_content, validate_emoji};
use parley_shared::{ErrorBody, ErrorCode, MessageId, UserId};
use serde::Serialize;

use crate::api::views::{MessageView, ReactionView};
use crate::protocol::events::server;
use crate::shard::ShardState;

pub(crate) use crate::protocol::Asked;

fn not_found() -> ErrorBody {
    ErrorBody::new(ErrorCode::NotFound, "Message not found")
}

/// Validates `asked` and finds the message's stored conversation: the request to submit.
pub(crate) async fn prepare(
    state: &ShardState,
    actor: UserId,
    raw_id: &str,
    asked: Asked,
) -> Result<ChangeRequest, ErrorBody> {
    let chat = &state.app.chat;
    let kind = match asked {
        Asked::Edit { content } => {
            validate_content(&content).map_err(|problem| {
                ErrorBody::new(ErrorCode::ValidationError, "Invalid message")
                    .with_detail("content", problem)
            })?;
            ChangeKind::Edit {
                content,
                window: chat.edit_window,
            }
        }
        Asked::Delete => ChangeKind::Delete,
        Asked::React { emoji, add } => {
            validate_emoji(&emoji).map_err(|problem| {
                ErrorBody::new(ErrorCode::ValidationError, "Invalid reaction")
                    .with_detail("emoji", problem)
            })?;
            ChangeKind::React {
                emoji,
                add,
                max_kinds: chat.max_reaction_kinds,
            }
        }
    };
    // A malformed id names no message: the same answer as a missing one.
    let message: MessageId = raw_id.parse().map_err(|_| not_found())?;
    let conn = state.pool.get().await.map_err(|error| {
        tracing::warn!(%error, "no database connection for a message change");
        ErrorBody::new(ErrorCode::DbError, "Database unavailable").with_retry_after(1)
    })?;
    let conversation = messages::conversation_of(&conn, message)
        .await
        .map_err(|e| ErrorBody::new(e.code(), "Database unavailable").with_retry_after(1))?
        .ok_or_else(not_found)?;
    Ok(ChangeRequest {
        message,
        conversation,
        actor,
        kind,
    })
}

/// The answer to a submission that could not be queued.
pub(crate) fn submit_error(error: SubmitError) -> ErrorBody {
    let message = match error {
        SubmitError::Overloaded => "Server busy, retry shortly",
        SubmitError::Stopped => "Server shutting down, retry shortly",
    };
    ErrorBody::new(ErrorCode::Overloaded, message).with_retry_after(1)
}

/// The catalog error of an outcome that is not `Applied`.
pub(crate) fn outcome_error(outcome: &ChangeOutcome) -> Option<ErrorBody> {
    Some(match outcome {
        ChangeOutcome::Applied(_) => return None,
        ChangeOutcome::Refused(Refusal::NotFound) => not_found(),
        ChangeOutcome::Refused(Refusal::Forbidden(why)) => {
            ErrorBody::new(ErrorCode::Forbidden, *why)
        }
        ChangeOutcome::Refused(Refusal::WindowClosed) => ErrorBody::new(
            ErrorCode::Forbidden,
            "The edit window for this message has closed",
        ),
        ChangeOutcome::Refused(Refusal::TooManyReactions) => {
            ErrorBody::new(ErrorCode::ValidationError, "Invalid reaction").with_detail(
                "emoji",
                "this message has the most different reactions allowed",
            )
        }
        ChangeOutcome::Failed(error) => {
            tracing::warn!(%error, "message change not committed");
            ErrorBody::new(ErrorCode::DbError, "Not saved; retry").with_retry_after(1)
        }
    })
}

/// The event a committed change produces.
pub(crate) fn event_name(event: ChangeEvent) -> &'static str {
    match event {
        ChangeEvent::Edited => server::MESSAGE_EDITED,
        ChangeEvent::Deleted => server::MESSAGE_DELETED,
        ChangeEvent::Reacted => server::MESSAGE_REACTED,
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Reacted<'a> {
    message_id: MessageId,
    conversation_id: parley_shared::ConversationId,
    reactions: &'a [ReactionView],
}

/// The event's `data`, encoded once: `{message}` for edits and deletes, `{messageId,
/// conversationId, reactions}` for reactions.
pub(crate) fn event_data(change: &Changed) -> Bytes {
    let view = MessageView::with_reactions(&change.message, &change.reactions);
    let json = match change.event {
        ChangeEvent::Edited | ChangeEvent::Deleted => {
            serde_json::to_vec(&serde_json::json!({ "message": view }))
        }
        ChangeEvent::Reacted => serde_json::to_vec(&Reacted {
            message_id: change.message.id,
            conversation_id: change.message.conversation_id,
            reactions: &view.reactions,
        }),
    };
    Bytes::from(json.expect("views serialise infallibly"))
}
