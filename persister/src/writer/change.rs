//! Edits, deletes and reactions: each one transaction on its conversation's lane, so it is
//! ordered with that conversation's sends. The conversation row is locked like a send batch locks
//! it; the message is read on its stored conversation and the actor's stored membership; the
//! change stamps `mod_seq` (the conversation's `last_seq`, for sync) and keeps `message_search`
//! in step in the same transaction.

use std::sync::Arc;
use std::time::Duration;

use parley_shared::policy::{ConversationKind, Role};
use parley_shared::{ConversationId, MessageId, UserId};
use tokio_postgres::Client;

use crate::store::messages::{self, Message};
use crate::store::reactions::{self, Reaction};

/// A change to one message, as asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeRequest {
    pub message: MessageId,
    /// The message's stored conversation (looked up by the caller; checked again here).
    pub conversation: ConversationId,
    pub actor: UserId,
    pub kind: ChangeKind,
}

/// What to change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChangeKind {
    /// New content (validated by the caller); only the sender, within `window` of sending.
    Edit { content: String, window: Duration },
    /// Soft delete: the content and reactions go, the `seq` stays. The sender, or an owner or
    /// admin of a group.
    Delete,
    /// A server admin's delete of any message (the actor need not be a member): as `Delete`,
    /// with `audit` recorded in the same transaction.
    AdminDelete { audit: crate::store::audit::Entry },
    /// Add or remove the actor's `emoji`; any member. At most `max_kinds` distinct emojis.
    React {
        emoji: String,
        add: bool,
        max_kinds: usize,
    },
}

/// Which event a change produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeEvent {
    Edited,
    Deleted,
    Reacted,
}

/// A committed change: the message as it now is, its reactions, and who to tell.
#[derive(Debug, Clone, PartialEq)]
pub struct Changed {
    pub event: ChangeEvent,
    pub message: Message,
    pub reactions: Vec<Reaction>,
    /// The conversation's members at commit.
    pub members: Arc<[UserId]>,
}

/// Why a change was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No such message in a conversation the actor is in (or it is deleted, for edits and
    /// reactions): the same answer as a message that never existed.
    NotFound,
    /// A member who may not do this (not the sender, not an admin).
    Forbidden(&'static str),
    /// Too late to edit.
    WindowClosed,
    /// The message already carries `max_kinds` distinct emojis.
    TooManyReactions,
}

/// How a change ended.
#[derive(Debug, Clone, PartialEq)]
pub enum ChangeOutcome {
    Applied(Box<Changed>),
    Refused(Refusal),
    /// The database failed through every retry; nothing changed.
    Failed(String),
}

const LOCK: &str = "SELECT c.kind, c.last_seq, m.role FROM conversations c
     LEFT JOIN conversation_members m ON m.conversation_id = c.id AND m.user_id = $2
     WHERE c.id = $1 FOR NO KEY UPDATE OF c";

/// Runs `request` in one transaction. `Err` only for database failures (the caller retries).
pub(crate) async fn apply(
    client: &mut Client,
    request: &ChangeRequest,
) -> Result<Result<Changed, Refusal>, tokio_postgres::Error> {
    let tx = client.transaction().await?;
    let conversation = request.conversation.0;
    let Some(row) = tx
        .query_opt(LOCK, &[&conversation, &request.actor.0])
        .await?
    else {
        return Ok(Err(Refusal::NotFound));
    };
    let kind = ConversationKind::parse(row.get(0));
    let last_seq: i64 = row.get(1);
    let role = row.get::<_, Option<&str>>(2).and_then(Role::parse);
    let by_admin = matches!(request.kind, ChangeKind::AdminDelete { .. });
    if by_admin {
        let admin: Option<bool> = tx
            .query_opt(
                "SELECT is_admin AND deactivated_at IS NULL FROM users WHERE id = $1",
                &[&request.actor.0],
            )
            .await?
            .map(|r| r.get(0));
        if admin != Some(true) {
            return Ok(Err(Refusal::Forbidden("Server admins only")));
        }
    } else if role.is_none() {
        return Ok(Err(Refusal::NotFound));
    }
    let select = format!(
        "SELECT {} FROM messages
             WHERE id = $1 AND conversation_id IS NOT DISTINCT FROM $2 FOR UPDATE",
        messages::COLUMNS
    );
    let Some(row) = tx
        .query_opt(&select, &[&request.message.0, &conversation])
        .await?
    else {
        return Ok(Err(Refusal::NotFound));
    };
    let stored = messages::from_row(&row, 0);
    // A system message ("Ann added Ben") is the timeline's record of a group change: only a
    // server admin's delete touches it.
    if stored.content_type == "system" && !by_admin {
        return Ok(Err(Refusal::Forbidden("System messages cannot be changed")));
    }
    let is_sender = stored.sender_id == request.actor;
    let returning = messages::COLUMNS;
    let (event, row) = match &request.kind {
        ChangeKind::Edit { content, window } => {
            if stored.deleted_at.is_some() {
                return Ok(Err(Refusal::NotFound));
            }
            if !is_sender {
                return Ok(Err(Refusal::Forbidden(
                    "Only the sender can edit a message",
                )));
            }
            // The window is judged by PostgreSQL's clock, the one that stamped `created_at`:
            // a gateway whose clock jumped (NTP stepping it) neither refuses a fresh edit nor
            // lets a stale one through (regression: chaos_nemesis' clock jumps).
            let window_secs = window.as_secs_f64();
            let Some(row) = tx
                .query_opt(
                    &format!(
                        "UPDATE messages SET content = $2, edited_at = now(), mod_seq = $3
                         WHERE id = $1 AND created_at >= now() - make_interval(secs => $4)
                         RETURNING {returning}"
                    ),
                    &[&request.message.0, content, &last_seq, &window_secs],
                )
                .await?
            else {
                return Ok(Err(Refusal::WindowClosed));
            };
            index(&tx, request).await?;
            (ChangeEvent::Edited, row)
        }
        ChangeKind::Delete => {
            let moderator = kind == Some(ConversationKind::Group)
                && matches!(role, Some(Role::Owner | Role::Admin));
            if !is_sender && !moderator {
                return Ok(Err(Refusal::Forbidden(
                    "Only the sender or a group admin can delete a message",
                )));
            }
            (
                ChangeEvent::Deleted,
                soft_delete(&tx, request, &stored, last_seq).await?,
            )
        }
        ChangeKind::AdminDelete { audit } => {
            let row = soft_delete(&tx, request, &stored, last_seq).await?;
            let entry = audit
                .clone()
                .message(request.message)
                .conversation(request.conversation)
                .user(stored.sender_id);
            crate::store::audit::record(&tx, &entry).await?;
            (ChangeEvent::Deleted, row)
        }
        ChangeKind::React {
            emoji,
            add,
            max_kinds,
        } => {
            if stored.deleted_at.is_some() {
                return Ok(Err(Refusal::NotFound));
            }
            if *add {
                let kinds: i64 = tx
                    .query_one(
                        "SELECT count(DISTINCT emoji) FILTER (WHERE emoji <> $2)
                         FROM message_reactions WHERE message_id = $1",
                        &[&request.message.0, emoji],
                    )
                    .await?
                    .get(0);
                if kinds >= *max_kinds as i64 {
                    return Ok(Err(Refusal::TooManyReactions));
                }
                tx.execute(
                    "INSERT INTO message_reactions (message_id, user_id, emoji) VALUES ($1, $2, $3)
                     ON CONFLICT DO NOTHING",
                    &[&request.message.0, &request.actor.0, emoji],
                )
                .await?;
            } else {
                tx.execute(
                    "DELETE FROM message_reactions
                     WHERE message_id = $1 AND user_id = $2 AND emoji = $3",
                    &[&request.message.0, &request.actor.0, emoji],
                )
                .await?;
            }
            let row = tx
                .query_one(
                    &format!(
                        "UPDATE messages SET mod_seq = $2 WHERE id = $1 RETURNING {returning}"
                    ),
                    &[&request.message.0, &last_seq],
                )
                .await?;
            (ChangeEvent::Reacted, row)
        }
    };
    let members: Arc<[UserId]> = tx
        .query(
            "SELECT user_id FROM conversation_members WHERE conversation_id = $1",
            &[&conversation],
        )
        .await?
        .iter()
        .map(|r| UserId(r.get(0)))
        .collect();
    let message = messages::from_row(&row, 0);
    let reactions = if event == ChangeEvent::Deleted {
        Vec::new()
    } else {
        let mut by_message = reactions::load(&tx, &[message.id]).await?;
        by_message.remove(&message.id).unwrap_or_default()
    };
    tx.commit().await?;
    Ok(Ok(Changed {
        event,
        message,
        reactions,
        members,
    }))
}

/// Soft-deletes `stored`: content, mentions, reactions and attachments go (the sweep then removes
/// uploads no message holds), the `seq` stays. Deleting twice
/// answers the deleted message again (a retried request is harmless).
async fn soft_delete(
    tx: &tokio_postgres::Transaction<'_>,
    request: &ChangeRequest,
    stored: &Message,
    last_seq: i64,
) -> Result<tokio_postgres::Row, tokio_postgres::Error> {
    let row = tx
        .query_one(
            &format!(
                "UPDATE messages SET content = '', mentions = NULL, mention_everyone = false,
                     attachments = NULL, deleted_at = coalesce(deleted_at, now()), mod_seq = $2
                 WHERE id = $1 RETURNING {}",
                messages::COLUMNS
            ),
            &[&request.message.0, &last_seq],
        )
        .await?;
    for statement in [
        "DELETE FROM message_reactions WHERE message_id = $1",
        "DELETE FROM message_attachments WHERE message_id = $1",
    ] {
        tx.execute(statement, &[&request.message.0]).await?;
    }
    // Its mentions no longer count (the rows were written from what it mentioned).
    if stored.mention_everyone || !stored.mentions.is_empty() {
        let named: Vec<uuid::Uuid> = stored.mentions.iter().map(|u| u.0).collect();
        tx.execute(
            "DELETE FROM message_mentions
             WHERE conversation_id = $1 AND seq = $2 AND ($4 OR user_id = ANY($3))",
            &[
                &request.conversation.0,
                &stored.seq,
                &named,
                &stored.mention_everyone,
            ],
        )
        .await?;
    }
    index(tx, request).await?;
    Ok(row)
}

/// Keeps the search row in step with the message as just changed (its content and attachment
/// names; an empty vector once deleted). An upsert: the indexer may not have reached this message
/// yet, and its insert then finds this row and keeps it.
async fn index(
    tx: &tokio_postgres::Transaction<'_>,
    request: &ChangeRequest,
) -> Result<(), tokio_postgres::Error> {
    tx.execute(
        &format!(
            "INSERT INTO message_search (message_id, conversation_id, search)
             SELECT m.id, $2, to_tsvector('simple', {})
             FROM messages m WHERE m.id = $1
             ON CONFLICT (message_id) DO UPDATE SET search = excluded.search",
            crate::store::search::INDEXED_TEXT
        ),
        &[&request.message.0, &request.conversation.0],
    )
    .await?;
    Ok(())
}
