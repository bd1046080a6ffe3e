//! Who read a message: the members (other than its sender) whose read watermark covers it, with
//! the time of the first read mark that did. The same rule as the `receipt:count` a sender sees.

use parley_shared::{MessageId, UserId};
use time::OffsetDateTime;

use super::Conn;
use crate::DbError;

/// One reader of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    pub user_id: UserId,
    pub username: String,
    pub display_name: String,
    /// When their watermark first covered the message; `None` when it was covered without a
    /// read mark (they sent a later message, or joined after it).
    pub read_at: Option<OffsetDateTime>,
}

/// Readers of `message`, earliest first (those without a time last), at most `limit`.
pub async fn for_message(
    conn: &Conn,
    message: MessageId,
    limit: i64,
) -> Result<Vec<Receipt>, DbError> {
    let statement = conn
        .prepare_cached(
            "SELECT u.id, u.username, u.display_name,
                    (SELECT min(r.read_at) FROM read_marks r
                     WHERE r.conversation_id = m.conversation_id AND r.user_id = cm.user_id
                       AND r.seq >= m.seq) AS read_at
             FROM messages m
             JOIN conversation_members cm ON cm.conversation_id = m.conversation_id
                  AND cm.user_id <> m.sender_id AND cm.last_read_seq >= m.seq
             JOIN users u ON u.id = cm.user_id
             WHERE m.id = $1
             ORDER BY read_at NULLS LAST, u.username
             LIMIT $2",
        )
        .await?;
    let rows = conn.query(&statement, &[&message.0, &limit]).await?;
    Ok(rows
        .iter()
        .map(|r| Receipt {
            user_id: UserId(r.get(0)),
            username: r.get(1),
            display_name: r.get(2),
            read_at: r.get(3),
        })
        .collect())
}
