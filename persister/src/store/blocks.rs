//! Blocks between users: who blocked whom, and the `can_send` flag of the blocked member of their
//! DM, kept in step in the same transaction (the send path reads only the flag).

use parley_shared::UserId;
use time::OffsetDateTime;

use super::Conn;
use crate::DbError;

/// Most blocks one user keeps.
pub const MAX_BLOCKS: i64 = 1000;

/// One block of the caller's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    pub user: UserId,
    pub username: String,
    pub display_name: String,
    pub created_at: OffsetDateTime,
}

/// What [`block`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockOutcome {
    Blocked,
    AlreadyBlocked,
    /// `MAX_BLOCKS` reached.
    Full,
}

/// The flag of `blocked`'s membership in the DM with `blocker`: off while the block stands.
const SYNC_DM: &str = "UPDATE conversation_members m SET can_send = NOT EXISTS (
         SELECT 1 FROM user_blocks b WHERE b.blocker_id = $1::uuid AND b.blocked_id = $2::uuid)
     FROM conversations c
     WHERE c.kind = 'dm' AND c.dm_user_low = least($1::uuid, $2::uuid)
       AND c.dm_user_high = greatest($1::uuid, $2::uuid)
       AND m.conversation_id = c.id AND m.user_id = $2::uuid";

/// `blocker` blocks `blocked`.
pub async fn block(
    conn: &mut Conn,
    blocker: UserId,
    blocked: UserId,
) -> Result<BlockOutcome, DbError> {
    let tx = conn.transaction().await?;
    let insert = tx
        .prepare_cached(
            "INSERT INTO user_blocks (blocker_id, blocked_id)
             SELECT $1::uuid, $2::uuid WHERE (SELECT count(*) FROM user_blocks WHERE blocker_id = $1) < $3
             ON CONFLICT DO NOTHING",
        )
        .await?;
    if tx
        .execute(&insert, &[&blocker.0, &blocked.0, &MAX_BLOCKS])
        .await?
        == 0
    {
        let exists = tx
            .prepare_cached("SELECT 1 FROM user_blocks WHERE blocker_id = $1 AND blocked_id = $2")
            .await?;
        let already = tx
            .query_opt(&exists, &[&blocker.0, &blocked.0])
            .await?
            .is_some();
        return Ok(if already {
            BlockOutcome::AlreadyBlocked
        } else {
            BlockOutcome::Full
        });
    }
    let sync = tx.prepare_cached(SYNC_DM).await?;
    tx.execute(&sync, &[&blocker.0, &blocked.0]).await?;
    tx.commit().await?;
    Ok(BlockOutcome::Blocked)
}

/// `blocker` lifts their block of `blocked`; `false` if there was none.
pub async fn unblock(conn: &mut Conn, blocker: UserId, blocked: UserId) -> Result<bool, DbError> {
    let tx = conn.transaction().await?;
    let delete = tx
        .prepare_cached("DELETE FROM user_blocks WHERE blocker_id = $1 AND blocked_id = $2")
        .await?;
    if tx.execute(&delete, &[&blocker.0, &blocked.0]).await? == 0 {
        return Ok(false);
    }
    let sync = tx.prepare_cached(SYNC_DM).await?;
    tx.execute(&sync, &[&blocker.0, &blocked.0]).await?;
    tx.commit().await?;
    Ok(true)
}

/// Sets the DM flags of `a` and `b` from their blocks (after the DM was made).
pub async fn sync_dm(conn: &Conn, a: UserId, b: UserId) -> Result<(), DbError> {
    let sync = conn.prepare_cached(SYNC_DM).await?;
    conn.execute(&sync, &[&a.0, &b.0]).await?;
    conn.execute(&sync, &[&b.0, &a.0]).await?;
    Ok(())
}

/// Which of `users` have blocked `user`.
pub async fn blocking(conn: &Conn, user: UserId, users: &[UserId]) -> Result<Vec<UserId>, DbError> {
    let ids: Vec<uuid::Uuid> = users.iter().map(|u| u.0).collect();
    let statement = conn
        .prepare_cached(
            "SELECT blocker_id FROM user_blocks WHERE blocked_id = $1 AND blocker_id = ANY($2)",
        )
        .await?;
    Ok(conn
        .query(&statement, &[&user.0, &ids])
        .await?
        .iter()
        .map(|row| UserId(row.get(0)))
        .collect())
}

const BLOCK_COLUMNS: &str = "u.id, u.username, u.display_name, b.created_at
     FROM user_blocks b JOIN users u ON u.id = b.blocked_id";

fn from_row(row: &tokio_postgres::Row) -> Block {
    Block {
        user: UserId(row.get(0)),
        username: row.get(1),
        display_name: row.get(2),
        created_at: row.get(3),
    }
}

/// `blocker`'s block of `blocked`, if any.
pub async fn get(conn: &Conn, blocker: UserId, blocked: UserId) -> Result<Option<Block>, DbError> {
    let statement = conn
        .prepare_cached(&format!(
            "SELECT {BLOCK_COLUMNS} WHERE b.blocker_id = $1 AND b.blocked_id = $2"
        ))
        .await?;
    Ok(conn
        .query_opt(&statement, &[&blocker.0, &blocked.0])
        .await?
        .map(|row| from_row(&row)))
}

/// The users `blocker` blocked, newest first.
pub async fn list(conn: &Conn, blocker: UserId) -> Result<Vec<Block>, DbError> {
    let statement = conn
        .prepare_cached(&format!(
            "SELECT {BLOCK_COLUMNS} WHERE b.blocker_id = $1
             ORDER BY b.created_at DESC, u.id LIMIT $2"
        ))
        .await?;
    Ok(conn
        .query(&statement, &[&blocker.0, &MAX_BLOCKS])
        .await?
        .iter()
        .map(from_row)
        .collect())
}
