//! Login sessions and their refresh tokens: issue, rotate (with reuse detection), revoke.
//! Only SHA-256 hashes of refresh tokens reach the database.

use parley_shared::{SessionId, UserId};
use time::OffsetDateTime;

use super::Conn;
use crate::DbError;

/// A refresh token to store: its id, hash and expiry.
#[derive(Debug, Clone, Copy)]
pub struct NewToken<'a> {
    pub id: uuid::Uuid,
    pub hash: &'a [u8; 32],
    pub expires_at: OffsetDateTime,
}

/// Where a login came from, kept with the session for the user's own review.
#[derive(Debug, Clone, Copy, Default)]
pub struct Origin<'a> {
    pub user_agent: Option<&'a str>,
    pub client_ip: Option<std::net::IpAddr>,
}

/// Starts a session for `user` with its first refresh token.
pub async fn create(
    conn: &mut Conn,
    user: UserId,
    session: SessionId,
    token: NewToken<'_>,
    origin: Origin<'_>,
) -> Result<(), DbError> {
    let tx = conn.transaction().await?;
    let insert_session = tx
        .prepare_cached(
            "INSERT INTO auth_sessions (id, user_id, user_agent, client_ip) VALUES ($1, $2, $3, $4)",
        )
        .await?;
    let user_agent = origin.user_agent.map(|ua| truncate(ua, 512));
    tx.execute(
        &insert_session,
        &[&session.0, &user.0, &user_agent, &origin.client_ip],
    )
    .await?;
    insert_token(&tx, session, token).await?;
    tx.commit().await?;
    Ok(())
}

/// What presenting a refresh token led to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rotation {
    /// The token was current: it is now rotated and the new one stored.
    Rotated { user: UserId, session: SessionId },
    /// The token had already been rotated: someone replayed it. The whole session is revoked.
    ReuseDetected { user: UserId, session: SessionId },
    /// Unknown, expired, or its session was revoked.
    Invalid,
}

/// Exchanges the token with hash `presented` for `next`, under a row lock so two concurrent uses of
/// one token cannot both succeed.
pub async fn rotate(
    conn: &mut Conn,
    presented: &[u8; 32],
    next: NewToken<'_>,
) -> Result<Rotation, DbError> {
    let tx = conn.transaction().await?;
    let find = tx
        .prepare_cached(
            "SELECT t.id, t.session_id, s.user_id, t.rotated_at IS NOT NULL,
                    t.expires_at <= now(), s.revoked_at IS NOT NULL
             FROM refresh_tokens t JOIN auth_sessions s ON s.id = t.session_id
             WHERE t.token_hash = $1
             FOR UPDATE OF t, s",
        )
        .await?;
    let Some(row) = tx.query_opt(&find, &[&presented.as_slice()]).await? else {
        return Ok(Rotation::Invalid);
    };
    let token_id: uuid::Uuid = row.get(0);
    let session = SessionId(row.get(1));
    let user = UserId(row.get(2));
    let (rotated, expired, revoked): (bool, bool, bool) = (row.get(3), row.get(4), row.get(5));
    if revoked || expired {
        return Ok(Rotation::Invalid);
    }
    if rotated {
        revoke_session(&tx, session, "reuse_detected").await?;
        tx.commit().await?;
        return Ok(Rotation::ReuseDetected { user, session });
    }
    let mark = tx
        .prepare_cached("UPDATE refresh_tokens SET rotated_at = now() WHERE id = $1")
        .await?;
    tx.execute(&mark, &[&token_id]).await?;
    let touch = tx
        .prepare_cached("UPDATE auth_sessions SET last_used_at = now() WHERE id = $1")
        .await?;
    tx.execute(&touch, &[&session.0]).await?;
    insert_token(&tx, session, next).await?;
    tx.commit().await?;
    Ok(Rotation::Rotated { user, session })
}

/// Revokes the session that issued the token with hash `presented` (logout). Returns the session
/// when one was revoked now.
pub async fn revoke_by_token(
    conn: &Conn,
    presented: &[u8; 32],
) -> Result<Option<(UserId, SessionId)>, DbError> {
    let statement = conn
        .prepare_cached(
            "UPDATE auth_sessions s SET revoked_at = now(), revoked_reason = 'logout'
             FROM refresh_tokens t
             WHERE t.token_hash = $1 AND s.id = t.session_id AND s.revoked_at IS NULL
             RETURNING s.user_id, s.id",
        )
        .await?;
    let row = conn.query_opt(&statement, &[&presented.as_slice()]).await?;
    Ok(row.map(|r| (UserId(r.get(0)), SessionId(r.get(1)))))
}

/// Whether `session` is still valid (not revoked).
pub async fn is_active(conn: &Conn, session: SessionId) -> Result<bool, DbError> {
    let statement = conn
        .prepare_cached("SELECT revoked_at IS NULL FROM auth_sessions WHERE id = $1")
        .await?;
    let row = conn.query_opt(&statement, &[&session.0]).await?;
    Ok(row.is_some_and(|r| r.get(0)))
}

async fn insert_token(
    tx: &deadpool_postgres::Transaction<'_>,
    session: SessionId,
    token: NewToken<'_>,
) -> Result<(), DbError> {
    let statement = tx
        .prepare_cached(
            "INSERT INTO refresh_tokens (id, session_id, token_hash, expires_at) VALUES ($1, $2, $3, $4)",
        )
        .await?;
    tx.execute(
        &statement,
        &[
            &token.id,
            &session.0,
            &token.hash.as_slice(),
            &token.expires_at,
        ],
    )
    .await?;
    Ok(())
}

async fn revoke_session(
    tx: &deadpool_postgres::Transaction<'_>,
    session: SessionId,
    reason: &str,
) -> Result<(), DbError> {
    let statement = tx
        .prepare_cached(
            "UPDATE auth_sessions SET revoked_at = now(), revoked_reason = $2
             WHERE id = $1 AND revoked_at IS NULL",
        )
        .await?;
    tx.execute(&statement, &[&session.0, &reason]).await?;
    Ok(())
}

fn truncate(text: &str, max_chars: usize) -> &str {
    match text.char_indices().nth(max_chars) {
        Some((index, _)) => &text[..index],
        None => text,
    }
}
