//! A send from either door: the rules a message must meet (`shared::send`), the per-user
//! `limits.send` (REST and WebSocket together), the submission to the conversation's persister
//! lane (membership is checked there, on the stored data, in the same transaction), and one
//! mapping of every outcome to the error catalog. The answer comes after COMMIT: awaited by a REST
//! handler, or through the fan-out for a socket.

use std::cell::Cell;

use parley_persister::writer::{NewMessage, Outcome, SocketOrigin, SubmitError, Verdict};
use parley_shared::rate::Decision;
use parley_shared::send::{self, SendFields};
use parley_shared::{ConversationId, ErrorBody, ErrorCode, MessageId, UserId};
use tokio::sync::oneshot;

use crate::app::App;
use crate::limits::Key;

/// A send as a client wrote it (unvalidated), from either door.
#[derive(Debug)]
pub(crate) struct SendAsked<'a> {
    /// The conversation's id as written (a malformed one names no conversation: not found).
    pub(crate) conversation: &'a str,
    pub(crate) client_message_id: String,
    pub(crate) content: String,
    pub(crate) content_type: Option<String>,
    pub(crate) reply_to: Option<String>,
    /// `normal` (the default) or `urgent`.
    pub(crate) priority: Option<String>,
    /// Upload ids as written.
    pub(crate) attachments: Vec<String>,
}

/// The sender and what the door wants to know of the limit.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Sender<'a> {
    pub(crate) user: UserId,
    /// Where the door keeps the limit decision it reports (REST's `X-RateLimit-*`).
    pub(crate) rate: Option<&'a Cell<Option<Decision>>>,
    /// The shard's pool (a send with attachments looks its uploads up).
    pub(crate) pool: &'a parley_persister::Pool,
}

/// Validates, limits and queues one send whose outcome the caller awaits (REST).
pub(crate) async fn send(
    app: &App,
    sender: Sender<'_>,
    asked: SendAsked<'_>,
) -> Result<oneshot::Receiver<Outcome>, ErrorBody> {
    let message = counted(app, prepare(app, sender, asked).await)?;
    let (conversation, user) = (message.conversation_id, message.sender_id);
    let outcome = counted(app, app.persister.submit(message).map_err(submit_error))?;
    sent(app, conversation, user);
    Ok(outcome)
}

/// Validates, limits and queues one send from a socket: its outcome reaches the socket's shard
/// through the fan-out, in the conversation's order.
pub(crate) async fn send_from_socket(
    app: &App,
    sender: Sender<'_>,
    asked: SendAsked<'_>,
    origin: SocketOrigin,
) -> Result<(), ErrorBody> {
    let message = counted(app, prepare(app, sender, asked).await)?;
    let (conversation, user) = (message.conversation_id, message.sender_id);
    counted(
        app,
        app.persister
            .submit_from_socket(message, origin)
            .map_err(submit_error),
    )?;
    sent(app, conversation, user);
    Ok(())
}

/// A refusal before the queue is counted here (the fan-out counts what commits).
fn counted<T>(app: &App, result: Result<T, ErrorBody>) -> Result<T, ErrorBody> {
    if let Err(body) = &result {
        app.metrics.send(body.code.as_str());
    }
    result
}

/// The checks that need no database, and the message to queue.
async fn prepare(
    app: &App,
    sender: Sender<'_>,
    asked: SendAsked<'_>,
) -> Result<NewMessage, ErrorBody> {
    let valid = send::validate(SendFields {
        client_message_id: &asked.client_message_id,
        content: &asked.content,
        content_type: asked.content_type.as_deref(),
        reply_to: asked.reply_to.as_deref(),
        priority: asked.priority.as_deref(),
        attachments: &asked.attachments,
    })
    .map_err(|problems| {
        problems.into_iter().fold(
            ErrorBody::new(ErrorCode::ValidationError, "Invalid message"),
            |body, (field, problem)| body.with_detail(field, problem),
        )
    })?;
    let conversation: ConversationId = asked.conversation.parse().map_err(|_| not_found())?;
    if let Some(limits) = &app.limits {
        let decision = limits.send.check(&Key::User(sender.user)).await;
        if let Some(rate) = sender.rate {
            rate.set(Some(decision));
        }
        if !decision.allowed {
            return Err(ErrorBody::new(ErrorCode::RateLimited, "Too many messages")
                .with_retry_after(decision.retry_after_secs()));
        }
        if valid.urgent {
            let decision = limits.urgent.check(&Key::User(sender.user)).await;
            if !decision.allowed {
                return Err(
                    ErrorBody::new(ErrorCode::RateLimited, "Too many urgent messages")
                        .with_retry_after(decision.retry_after_secs()),
                );
            }
        }
    }
    let (content_type, attachments) = match valid.attachments.is_empty() {
        true => (valid.content_type, None),
        false => super::attach::resolve(app, sender, &asked.client_message_id, &valid).await?,
    };
    Ok(NewMessage {
        id: MessageId::generate(),
        conversation_id: conversation,
        sender_id: sender.user,
        client_message_id: asked.client_message_id,
        content_type: content_type.to_owned(),
        attachments,
        reply_to: valid.reply_to,
        mentions: parley_shared::mentions::parse(&asked.content),
        urgent: valid.urgent,
        content: asked.content,
    })
}

/// After queueing: sending ends the sender's typing indicator there, whichever door it came
/// through.
fn sent(app: &App, conversation: ConversationId, user: UserId) {
    super::typing::stop(app, conversation, user);
}

fn not_found() -> ErrorBody {
    ErrorBody::new(ErrorCode::NotFound, "Conversation not found")
}

fn submit_error(error: SubmitError) -> ErrorBody {
    let message = match error {
        SubmitError::Overloaded => "Server busy, retry shortly",
        SubmitError::Stopped => "Server shutting down, retry shortly",
    };
    ErrorBody::new(ErrorCode::Overloaded, message).with_retry_after(1)
}

/// The catalog's answer to an outcome that stored nothing new (`None`: stored, now or before).
pub(crate) fn outcome_error(outcome: &Outcome) -> Option<ErrorBody> {
    match outcome {
        Outcome::Stored(Verdict::Inserted(_) | Verdict::Duplicate(_)) => None,
        Outcome::Stored(Verdict::NotMember) => Some(not_found()),
        Outcome::Stored(Verdict::Blocked) => Some(ErrorBody::new(
            ErrorCode::Forbidden,
            "You cannot send messages in this conversation",
        )),
        Outcome::Stored(Verdict::BadReply) => Some(
            ErrorBody::new(ErrorCode::ValidationError, "Invalid message")
                .with_detail("replyTo", "is not a message of this conversation"),
        ),
        // The persister logged why; the client is told what to do.
        Outcome::Failed(_) => Some(
            ErrorBody::new(
                ErrorCode::DbError,
                "Message not saved; retry with the same clientMessageId",
            )
            .with_retry_after(1),
        ),
    }
}
