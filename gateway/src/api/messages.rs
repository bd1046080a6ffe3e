//! `POST /api/conversations/{id}/messages`: a send over REST, through the same persister path as
//! a WebSocket send. Answers only after the message is committed: 201 with the new message, 200
//! with the original when the `clientMessageId` was already used by this sender here. Also the
//! changes to one message (`PATCH`, `DELETE`), through the same persister path as their WebSocket
//! events, and its read receipts.

use hyper::StatusCode;
use parley_persister::store::{messages, receipts};
use parley_persister::writer::{ChangeOutcome, NewMessage, Outcome, SubmitError, Verdict};
use parley_shared::policy::Action;
use parley_shared::send::{self, SendFields};
use parley_shared::{ConversationId, ErrorBody, ErrorCode, MessageId};
use serde::Deserialize;

use super::error::{ApiError, Problems};
use super::request::Ctx;
use super::views::{self, MessageView, PageMeta, ReceiptView, Reply};
use crate::authz::authorize;
use crate::changes::{self, Asked};
use crate::limits::Key;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct SendRequest {
    client_message_id: String,
    content: String,
    content_type: Option<String>,
    reply_to: Option<String>,
}

/// The handler; counts every result but `stored` (the fan-out counts commits).
pub(crate) async fn send(ctx: &Ctx) -> Result<Reply, ApiError> {
    let result = send_inner(ctx).await;
    let metrics = &ctx.state.app.metrics;
    match &result {
        Ok(reply) if reply.status == StatusCode::OK => metrics.send("duplicate"),
        Ok(_) => {}
        Err(ApiError(body)) => metrics.send(body.code.as_str()),
    }
    result
}

async fn send_inner(ctx: &Ctx) -> Result<Reply, ApiError> {
    let me = ctx.caller()?.user;
    let conversation: ConversationId = ctx.id_param("conversationId", "Conversation")?;
    let request: SendRequest = ctx.json()?;
    let valid = send::validate(SendFields {
        client_message_id: &request.client_message_id,
        content: &request.content,
        content_type: request.content_type.as_deref(),
        reply_to: request.reply_to.as_deref(),
    })
    .map_err(|list| {
        let mut problems = Problems::default();
        for (field, problem) in list {
            problems.add(field, problem);
        }
        problems
            .into_result()
            .expect_err("validate returned problems")
    })?;
    if let Some(limits) = &ctx.state.app.limits {
        ctx.limit(&limits.send, &Key::User(me))?;
    }
    {
        let conn = ctx.conn().await?;
        authorize(&conn, me, conversation, Action::Send).await?;
    }
    let message = NewMessage {
        id: MessageId::generate(),
        conversation_id: conversation,
        sender_id: me,
        client_message_id: request.client_message_id,
        content: request.content,
        content_type: valid.content_type.to_owned(),
        reply_to: valid.reply_to,
    };
    let outcome = ctx.state.app.persister.submit(message).map_err(|error| {
        let body = match error {
            SubmitError::Overloaded => {
                ErrorBody::new(ErrorCode::Overloaded, "Server busy, retry shortly")
            }
            SubmitError::Stopped => {
                ErrorBody::new(ErrorCode::Overloaded, "Server shutting down, retry shortly")
            }
        };
        ApiError(body.with_retry_after(1))
    })?;
    // The persister answers every queued send, even during shutdown; a dropped sender would be a
    // bug, answered as a retryable error rather than a hang.
    let outcome = outcome
        .await
        .unwrap_or_else(|_| Outcome::Failed("persister stopped".to_owned()));
    match outcome {
        Outcome::Stored(Verdict::Inserted(message)) => Ok(views::data(
            StatusCode::CREATED,
            &MessageView::from(&message),
        )),
        Outcome::Stored(Verdict::Duplicate(message)) => {
            Ok(views::data(StatusCode::OK, &MessageView::from(&message)))
        }
        Outcome::Stored(Verdict::NotMember) => Err(ApiError::not_found("Conversation")),
        Outcome::Stored(Verdict::BadReply) => Err(ApiError::field(
            "replyTo",
            "is not a message of this conversation",
        )),
        Outcome::Failed(error) => {
            tracing::warn!(%error, "send not committed");
            Err(ApiError::new(
                ErrorCode::DbError,
                "Message not saved; retry with the same clientMessageId",
            ))
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EditRequest {
    content: String,
}

/// `PATCH /api/messages/{messageId}`: the edited message, after commit.
pub(crate) async fn edit(ctx: &Ctx) -> Result<Reply, ApiError> {
    let request: EditRequest = ctx.json()?;
    change(
        ctx,
        Asked::Edit {
            content: request.content,
        },
    )
    .await
}

/// `DELETE /api/messages/{messageId}`: the deleted message (empty content, `deletedAt`), after
/// commit. Deleting again answers the same.
pub(crate) async fn delete(ctx: &Ctx) -> Result<Reply, ApiError> {
    change(ctx, Asked::Delete).await
}

async fn change(ctx: &Ctx, asked: Asked) -> Result<Reply, ApiError> {
    let me = ctx.caller()?.user;
    let request = changes::prepare(&ctx.state, me, ctx.param("messageId"), asked)
        .await
        .map_err(ApiError)?;
    let outcome = ctx
        .state
        .app
        .persister
        .submit_change(request)
        .map_err(|error| ApiError(changes::submit_error(error)))?
        .await
        .unwrap_or_else(|_| ChangeOutcome::Failed("persister stopped".to_owned()));
    match outcome {
        ChangeOutcome::Applied(change) => Ok(views::data(
            StatusCode::OK,
            &MessageView::with_reactions(&change.message, &change.reactions),
        )),
        other => Err(ApiError(changes::outcome_error(&other).unwrap_or_else(
            || ErrorBody::new(ErrorCode::InternalError, "Unexpected outcome"),
        ))),
    }
}

/// Most readers listed by `GET /api/messages/{id}/receipts` (a group holds at most
/// `chat.max_group_members`).
const MAX_RECEIPTS: i64 = 1000;

/// `GET /api/messages/{messageId}/receipts`: who read it, for members of its stored conversation.
pub(crate) async fn receipts(ctx: &Ctx) -> Result<Reply, ApiError> {
    let me = ctx.caller()?.user;
    let id: MessageId = ctx.id_param("messageId", "Message")?;
    let conn = ctx.conn().await?;
    let conversation = messages::conversation_of(&conn, id)
        .await?
        .ok_or_else(|| ApiError::not_found("Message"))?;
    authorize(&conn, me, conversation, Action::Read)
        .await
        .map_err(|_| ApiError::not_found("Message"))?;
    let list = receipts::for_message(&conn, id, MAX_RECEIPTS).await?;
    let items: Vec<ReceiptView> = list.iter().map(ReceiptView::from).collect();
    Ok(views::page(
        &items,
        PageMeta {
            cursor: None,
            has_more: false,
        },
    ))
}
