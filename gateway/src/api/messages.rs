//! `POST /api/conversations/{id}/messages`: a send over REST, through `chat::send` like a
//! WebSocket send. Answers only after the message is committed: 201 with the new message, 200
//! with the original when the `clientMessageId` was already used by this sender here. Also the
//! changes to one message (`PATCH`, `DELETE`), through the same persister path as their WebSocket
//! events, and its read receipts.

use hyper::StatusCode;
use parley_persister::store::{messages, receipts};
use parley_persister::writer::{ChangeOutcome, Outcome, Verdict};
use parley_shared::policy::Action;
use parley_shared::{ErrorBody, ErrorCode, MessageId};
use serde::Deserialize;

use super::error::ApiError;
use super::request::Ctx;
use super::views::{self, MessageView, PageMeta, ReceiptView, Reply};
use crate::authz::authorize;
use crate::chat;
use crate::chat::change::{self as changes, Asked};
use crate::chat::send::{SendAsked, Sender};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct SendRequest {
    client_message_id: String,
    /// Optional with attachments.
    #[serde(default)]
    content: String,
    content_type: Option<String>,
    reply_to: Option<String>,
    priority: Option<String>,
    /// Upload ids (`POST /api/uploads`).
    #[serde(default)]
    attachments: Vec<String>,
}

/// The handler; counts duplicates and refusals (the fan-out counts commits).
pub(crate) async fn send(ctx: &Ctx) -> Result<Reply, ApiError> {
    let result = send_inner(ctx).await;
    if matches!(&result, Ok(reply) if reply.status == StatusCode::OK) {
        ctx.state.app.metrics.send("duplicate");
    }
    result
}

async fn send_inner(ctx: &Ctx) -> Result<Reply, ApiError> {
    let me = ctx.caller()?.user;
    let request: SendRequest = ctx.json()?;
    let asked = SendAsked {
        conversation: ctx.param("conversationId"),
        client_message_id: request.client_message_id,
        content: request.content,
        content_type: request.content_type,
        reply_to: request.reply_to,
        priority: request.priority,
        attachments: request.attachments,
    };
    let sender = Sender {
        user: me,
        rate: Some(&ctx.rate),
        pool: &ctx.state.pool,
    };
    let outcome = chat::send::send(&ctx.state.app, sender, asked)
        .await
        .map_err(ApiError)?;
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
        other => {
            let body = chat::send::outcome_error(&other).unwrap_or_else(|| {
                ErrorBody::new(ErrorCode::InternalError, "Unexpected send outcome")
            });
            // Counted here: the fan-out counts only what it commits.
            ctx.state.app.metrics.send(body.code.as_str());
            Err(ApiError(body))
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
    Ok(views::page(&items, PageMeta::new(None, false)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ReportRequest {
    reason: String,
}

/// `POST /api/messages/{messageId}/report {reason}`: for members of the message's stored
/// conversation (anyone else: 404, as for a missing message); reporting again answers the first.
pub(crate) async fn report(ctx: &Ctx) -> Result<Reply, ApiError> {
    use parley_persister::store::admin::{self, ReportError};
    let me = ctx.caller()?.user;
    let request: ReportRequest = ctx.json()?;
    let reason = request.reason.trim();
    let chars = reason.chars().count();
    if !(1..=1000).contains(&chars) || !parley_shared::text::storable(reason) {
        return Err(ApiError::field(
            "reason",
            "must be 1 to 1000 characters of text",
        ));
    }
    let id: MessageId = ctx.id_param("messageId", "Message")?;
    let conn = ctx.conn().await?;
    match admin::file_report(&conn, me, id, reason).await {
        Ok(report) => {
            tracing::info!(report = %report.id, message = %id, "message reported");
            Ok(views::data(
                StatusCode::CREATED,
                &super::admin::ReportView::from(report),
            ))
        }
        Err(ReportError::NotFound) => Err(ApiError::not_found("Message")),
        Err(ReportError::TooMany) => Err(ApiError(
            ErrorBody::new(
                ErrorCode::RateLimited,
                "Too many open reports; wait until the admins resolve some",
            )
            .with_retry_after(3600),
        )),
        Err(ReportError::Db(error)) => Err(error.into()),
    }
}
