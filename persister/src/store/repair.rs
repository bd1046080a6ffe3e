//! The reads that fill a delivery gap when several instances share a conversation: a range of
//! its messages by `seq`, who receives them, and how far conversations have committed.

use parley_shared::{ConversationId, UserId};

use super::Conn;
use super::messages::{COLUMNS, Message, from_row};
use crate::DbError;

/// The messages `from..=to` of `conversation` (at most `limit`), oldest first.
pub async fn range(
    conn: &Conn,
    conversation: ConversationId,
    from: i64,
    to: i64,
    limit: i64,
) -> Result<Vec<Message>, DbError> {
    let statement = conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM messages
             WHERE conversation_id = $1 AND seq >= $2 AND seq <= $3
             ORDER BY seq ASC LIMIT $4"
        ))
        .await?;
    let rows = conn
        .query(&statement, &[&conversation.0, &from, &to, &limit])
        .await?;
    Ok(rows.iter().map(|r| from_row(r, 0)).collect())
}

/// The members of `conversation` now (the recipients of a repaired message).
pub async fn member_ids(conn: &Conn, conversation: ConversationId) -> Result<Vec<UserId>, DbError> {
    let statement = conn
        .prepare_cached("SELECT user_id FROM conversation_members WHERE conversation_id = $1")
        .await?;
    let rows = conn.query(&statement, &[&conversation.0]).await?;
    Ok(rows.iter().map(|r| UserId(r.get(0))).collect())
}

/// The last committed `seq` of each of `conversations` (absent ones are left out).
pub async fn last_seqs(
    conn: &Conn,
    conversations: &[ConversationId],
) -> Result<Vec<(ConversationId, i64)>, DbError> {
    let statement = conn
        .prepare_cached("SELECT id, last_seq FROM conversations WHERE id = ANY($1)")
        .await?;
    let ids: Vec<uuid::Uuid> = conversations.iter().map(|c| c.0).collect();
    let rows = conn.query(&statement, &[&ids]).await?;
    Ok(rows
        .iter()
        .map(|r| (ConversationId(r.get(0)), r.get(1)))
        .collect())
}
