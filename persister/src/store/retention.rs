//! Message retention: each conversation keeps its messages for the shorter of the server's
//! `retention.messages` and its own setting (either may be off). A sweep, behind the writer and
//! off the send path, deletes what is older in batches, in `seq` order, and records how far each
//! conversation has expired (`retention_marks`), so history and sync tell a gap left by retention
//! from missing data. Members' read watermarks move up to the mark (expired messages are not
//! "unread").

use std::time::Duration;

use parley_shared::ConversationId;
use time::OffsetDateTime;

use super::Conn;
use crate::DbError;

/// Conversations looked at per query of a sweep.
const SCAN: i64 = 500;

/// What one sweep did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Swept {
    pub conversations: u64,
    pub messages: u64,
}

/// How far `conversation` has expired: every message with `seq` at or below it is gone by
/// retention (0: none).
pub async fn expired_through(conn: &Conn, conversation: ConversationId) -> Result<i64, DbError> {
    let statement = conn
        .prepare_cached(
            "SELECT expired_through_seq FROM retention_marks WHERE conversation_id = $1",
        )
        .await?;
    let row = conn.query_opt(&statement, &[&conversation.0]).await?;
    Ok(row.map_or(0, |r| r.get(0)))
}

/// Serialises sweeps across instances ("retention").
const SWEEP_LOCK: i64 = 0x7265_7465_6e74;

/// One pass over every conversation with a retention (the server's `global`, zero for none, or
/// its own): deletes expired messages `batch` per transaction. `None`: another instance is
/// sweeping now.
pub async fn sweep(
    conn: &mut Conn,
    global: Duration,
    batch: i64,
) -> Result<Option<Swept>, DbError> {
    let locked: bool = conn
        .query_one("SELECT pg_try_advisory_lock($1)", &[&SWEEP_LOCK])
        .await?
        .get(0);
    if !locked {
        return Ok(None);
    }
    let result = sweep_locked(conn, global, batch).await;
    conn.execute("SELECT pg_advisory_unlock($1)", &[&SWEEP_LOCK])
        .await?;
    result.map(Some)
}

async fn sweep_locked(conn: &mut Conn, global: Duration, batch: i64) -> Result<Swept, DbError> {
    let global = i64::try_from(global.as_secs()).unwrap_or(i64::MAX);
    let mut swept = Swept::default();
    let mut after = uuid::Uuid::nil();
    loop {
        let rows = conn
            .query(
                "SELECT c.id, coalesce(r.expired_through_seq, 0),
                        LEAST(CASE WHEN $1::int8 > 0 THEN $1::int8 END, c.retention_seconds)
                 FROM conversations c LEFT JOIN retention_marks r ON r.conversation_id = c.id
                 WHERE c.id > $2 AND ($1::int8 > 0 OR c.retention_seconds IS NOT NULL)
                 ORDER BY c.id LIMIT $3",
                &[&global, &after, &SCAN],
            )
            .await?;
        let Some(last) = rows.last() else {
            return Ok(swept);
        };
        after = last.get(0);
        for row in &rows {
            let Some(keep) = row.get::<_, Option<i64>>(2) else {
                continue;
            };
            let conversation = ConversationId(row.get(0));
            let cutoff = OffsetDateTime::now_utc() - time::Duration::seconds(keep);
            let mut mark: i64 = row.get(1);
            let mut any = false;
            loop {
                let (deleted, through) = purge(conn, conversation, mark, cutoff, batch).await?;
                if deleted == 0 {
                    break;
                }
                any = true;
                swept.messages += deleted;
                mark = through;
            }
            swept.conversations += u64::from(any);
        }
    }
}

/// Deletes up to `batch` messages of `conversation` after `mark` created before `cutoff`, in
/// `seq` order; (how many, the new mark).
async fn purge(
    conn: &mut Conn,
    conversation: ConversationId,
    mark: i64,
    cutoff: OffsetDateTime,
    batch: i64,
) -> Result<(u64, i64), DbError> {
    let tx = conn.transaction().await?;
    let rows = tx
        .query(
            "SELECT id, seq FROM messages
             WHERE conversation_id = $1 AND seq > $2 AND created_at < $3
             ORDER BY seq LIMIT $4 FOR UPDATE",
            &[&conversation.0, &mark, &cutoff, &batch],
        )
        .await?;
    let Some(last) = rows.last() else {
        tx.commit().await?;
        return Ok((0, mark));
    };
    let through: i64 = last.get(1);
    let ids: Vec<uuid::Uuid> = rows.iter().map(|r| r.get(0)).collect();
    for statement in [
        "DELETE FROM message_search WHERE message_id = ANY($1)",
        "DELETE FROM push_outbox WHERE message_id = ANY($1)",
        "DELETE FROM messages WHERE id = ANY($1)",
    ] {
        tx.execute(statement, &[&ids]).await?;
    }
    tx.execute(
        "DELETE FROM message_mentions WHERE conversation_id = $1 AND seq <= $2",
        &[&conversation.0, &through],
    )
    .await?;
    tx.execute(
        "INSERT INTO retention_marks (conversation_id, expired_through_seq) VALUES ($1, $2)
         ON CONFLICT (conversation_id) DO UPDATE
         SET expired_through_seq = GREATEST(retention_marks.expired_through_seq, excluded.expired_through_seq)",
        &[&conversation.0, &through],
    )
    .await?;
    tx.execute(
        "UPDATE conversation_members SET last_read_seq = $2
         WHERE conversation_id = $1 AND last_read_seq < $2",
        &[&conversation.0, &through],
    )
    .await?;
    tx.commit().await?;
    Ok((ids.len() as u64, through))
}
