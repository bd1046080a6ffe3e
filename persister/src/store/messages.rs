//! History reads: pages of a conversation's messages by `seq`, both directions, as index scans on
//! the `(conversation_id, seq)` unique index.

use parley_shared::{ConversationId, MessageId, UserId};
use time::OffsetDateTime;
use tokio_postgres::Row;

use super::Conn;
use crate::DbError;

/// A stored message. A deleted one keeps its place (`seq`) with empty content.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub id: MessageId,
    pub conversation_id: ConversationId,
    pub sender_id: UserId,
    pub seq: i64,
    pub client_message_id: String,
    pub content: String,
    pub content_type: String,
    pub reply_to: Option<MessageId>,
    pub created_at: OffsetDateTime,
    pub edited_at: Option<OffsetDateTime>,
    pub deleted_at: Option<OffsetDateTime>,
    /// Members it mentions by name (resolved at commit; never the sender's own name).
    pub mentions: Vec<UserId>,
    /// It mentions every member (`@everyone` in a group, by an owner or admin).
    pub mention_everyone: bool,
    /// Sent with `priority: "urgent"`.
    pub urgent: bool,
    /// Its attachments as the JSON array the gateway wrote when it was sent (uploads never
    /// change, so the copy never goes stale); `None` without attachments or once deleted.
    pub attachments: Option<String>,
}

/// Column list matching [`from_row`], for use in other modules' joins.
pub(crate) const COLUMNS: &str = "id, conversation_id, sender_id, seq, client_message_id, content, \
                                  content_type, reply_to, created_at, edited_at, deleted_at, \
                                  mentions, mention_everyone, urgent, attachments::text";

/// How many columns `COLUMNS` has.
pub(crate) const COLUMN_COUNT: usize = 15;

/// Reads a message from `COLUMNS` starting at column `at`.
pub(crate) fn from_row(row: &Row, at: usize) -> Message {
    Message {
        id: MessageId(row.get(at)),
        conversation_id: ConversationId(row.get(at + 1)),
        sender_id: UserId(row.get(at + 2)),
        seq: row.get(at + 3),
        client_message_id: row.get(at + 4),
        content: row.get(at + 5),
        content_type: row.get(at + 6),
        reply_to: row.get::<_, Option<uuid::Uuid>>(at + 7).map(MessageId),
        created_at: row.get(at + 8),
        edited_at: row.get(at + 9),
        deleted_at: row.get(at + 10),
        mentions: row
            .get::<_, Option<Vec<uuid::Uuid>>>(at + 11)
            .map(|ids| ids.into_iter().map(UserId).collect())
            .unwrap_or_default(),
        mention_everyone: row.get(at + 12),
        urgent: row.get(at + 13),
        attachments: row.get(at + 14),
    }
}

/// Up to `limit` messages with `seq < before` (or the newest), newest first.
pub async fn page_before(
    conn: &Conn,
    conversation: ConversationId,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<Message>, DbError> {
    let statement = conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM messages
             WHERE conversation_id = $1 AND seq < $2
             ORDER BY seq DESC LIMIT $3"
        ))
        .await?;
    let before = before.unwrap_or(i64::MAX);
    let rows = conn
        .query(&statement, &[&conversation.0, &before, &limit])
        .await?;
    Ok(rows.iter().map(|r| from_row(r, 0)).collect())
}

/// Up to `limit` messages with `seq > after`, oldest first (gap-fill after a reconnect).
pub async fn page_after(
    conn: &Conn,
    conversation: ConversationId,
    after: i64,
    limit: i64,
) -> Result<Vec<Message>, DbError> {
    let statement = conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM messages
             WHERE conversation_id = $1 AND seq > $2
             ORDER BY seq ASC LIMIT $3"
        ))
        .await?;
    let rows = conn
        .query(&statement, &[&conversation.0, &after, &limit])
        .await?;
    Ok(rows.iter().map(|r| from_row(r, 0)).collect())
}

/// The stored conversation of message `id` (what every check on the message uses), if it exists.
pub async fn conversation_of(
    conn: &Conn,
    id: MessageId,
) -> Result<Option<ConversationId>, DbError> {
    let statement = conn
        .prepare_cached("SELECT conversation_id FROM messages WHERE id = $1")
        .await?;
    let row = conn.query_opt(&statement, &[&id.0]).await?;
    Ok(row.map(|r| ConversationId(r.get(0))))
}

/// One message by id.
pub async fn get(conn: &Conn, id: MessageId) -> Result<Option<Message>, DbError> {
    let statement = conn
        .prepare_cached(&format!("SELECT {COLUMNS} FROM messages WHERE id = $1"))
        .await?;
    let row = conn.query_opt(&statement, &[&id.0]).await?;
    Ok(row.map(|r| from_row(&r, 0)))
}

/// Messages of `conversation` with `seq <= upto` changed (edited, deleted, reacted to) since
/// `since` (`mod_seq >= since`), oldest change first, at most `limit`: what a client holding
/// messages up to `since` missed about them.
pub async fn changed_since(
    conn: &Conn,
    conversation: ConversationId,
    since: i64,
    upto: i64,
    limit: i64,
) -> Result<Vec<Message>, DbError> {
    let statement = conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM messages
             WHERE conversation_id = $1 AND mod_seq >= $2 AND seq <= $3
             ORDER BY mod_seq, seq LIMIT $4"
        ))
        .await?;
    let rows = conn
        .query(&statement, &[&conversation.0, &since, &upto, &limit])
        .await?;
    Ok(rows.iter().map(|r| from_row(r, 0)).collect())
}
