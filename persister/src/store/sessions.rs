//! Login sessions and their refresh tokens: issue, rotate (with reuse detection and a short grace
//! for concurrent refreshes), list, revoke. Only SHA-256 hashes of refresh tokens reach the
//! database.

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

/// Starts a session for `user` with its first refresh token. `false` (nothing stored) when the
/// account is deactivated or gone: a deactivation that lands between the password check and here
/// still wins.
pub async fn create(
    conn: &mut Conn,
    user: UserId,
    session: SessionId,
    token: NewToken<'_>,
    origin: Origin<'_>,
) -> Result<bool, DbError> {
    let tx = conn.transaction().await?;
    let insert_session = tx
        .prepare_cached(
            "INSERT INTO auth_sessions (id, user_id, user_agent, client_ip)
             SELECT $1, id, $3, $4 FROM users WHERE id = $2 AND deactivated_at IS NULL",
        )
        .await?;
    let user_agent = origin.user_agent.map(|ua| super::truncate(ua, 512));
    let inserted = tx
        .execute(
            &insert_session,
            &[&session.0, &user.0, &user_agent, &origin.client_ip],
        )
        .await?;
    if inserted == 0 {
        return Ok(false);
    }
    insert_token(&tx, session, token).await?;
    tx.commit().await?;
    Ok(true)
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
/// one token are serialised. A token already rotated within `grace` (two tabs refreshing at once,
/// a client retrying after a lost reply) gets a successor too; later, presenting it again is
/// reuse, and the whole session is revoked.
pub async fn rotate(
    conn: &mut Conn,
    presented: &[u8; 32],
    next: NewToken<'_>,
    grace: std::time::Duration,
) -> Result<Rotation, DbError> {
    let tx = conn.transaction().await?;
    let find = tx
        .prepare_cached(
            "SELECT t.id, t.session_id, s.user_id, t.rotated_at IS NOT NULL,
                    t.expires_at <= now(), s.revoked_at IS NOT NULL,
                    t.rotated_at > now() - make_interval(secs => $2)
             FROM refresh_tokens t JOIN auth_sessions s ON s.id = t.session_id
             WHERE t.token_hash = $1
             FOR UPDATE OF t, s",
        )
        .await?;
    let grace_secs = grace.as_secs_f64();
    let Some(row) = tx
        .query_opt(&find, &[&presented.as_slice(), &grace_secs])
        .await?
    else {
        return Ok(Rotation::Invalid);
    };
    let token_id: uuid::Uuid = row.get(0);
    let session = SessionId(row.get(1));
    let user = UserId(row.get(2));
    let (rotated, expired, revoked): (bool, bool, bool) = (row.get(3), row.get(4), row.get(5));
    let within_grace: Option<bool> = row.get(6);
    if revoked || expired {
        return Ok(Rotation::Invalid);
    }
    if rotated && !within_grace.unwrap_or(false) {
        revoke_session(&tx, session, "reuse_detected").await?;
        tx.commit().await?;
        return Ok(Rotation::ReuseDetected { user, session });
    }
    if !rotated {
        let mark = tx
            .prepare_cached("UPDATE refresh_tokens SET rotated_at = now() WHERE id = $1")
            .await?;
        tx.execute(&mark, &[&token_id]).await?;
    }
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

/// Sessions revoked less than `within` ago, with their user and how long ago (at start, to
/// rebuild the in-memory revocation set: access tokens of those sessions may still be unexpired;
/// and when a gateway hears that sessions were revoked outside it).
pub async fn revoked_within(
    client: &tokio_postgres::Client,
    within: std::time::Duration,
) -> Result<Vec<(UserId, SessionId, std::time::Duration)>, DbError> {
    let rows = client
        .query(
            "SELECT user_id, id, EXTRACT(EPOCH FROM now() - revoked_at)::float8 FROM auth_sessions
             WHERE revoked_at IS NOT NULL AND revoked_at > now() - make_interval(secs => $1)",
            &[&within.as_secs_f64()],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| {
            let ago: f64 = r.get(2);
            (
                UserId(r.get(0)),
                SessionId(r.get(1)),
                std::time::Duration::from_secs_f64(ago.max(0.0)),
            )
        })
        .collect())
}

/// A live login session, for its owner's review.
#[derive(Debug, Clone)]
pub struct SessionInfo {
    pub id: SessionId,
    pub created_at: OffsetDateTime,
    pub last_used_at: OffsetDateTime,
    pub user_agent: Option<String>,
    pub client_ip: Option<std::net::IpAddr>,
}

/// Most sessions listed for one user (newest use first).
pub const MAX_LISTED: i64 = 200;

/// `user`'s sessions that are not revoked and still hold an unexpired refresh token, most recently
/// used first.
pub async fn list(conn: &Conn, user: UserId) -> Result<Vec<SessionInfo>, DbError> {
    let statement = conn
        .prepare_cached(
            "SELECT s.id, s.created_at, s.last_used_at, s.user_agent, s.client_ip
             FROM auth_sessions s
             WHERE s.user_id = $1 AND s.revoked_at IS NULL
               AND EXISTS (SELECT 1 FROM refresh_tokens t
                           WHERE t.session_id = s.id AND t.expires_at > now())
             ORDER BY s.last_used_at DESC, s.id DESC
             LIMIT $2",
        )
        .await?;
    let rows = conn.query(&statement, &[&user.0, &MAX_LISTED]).await?;
    Ok(rows
        .iter()
        .map(|r| SessionInfo {
            id: SessionId(r.get(0)),
            created_at: r.get(1),
            last_used_at: r.get(2),
            user_agent: r.get(3),
            client_ip: r.get(4),
        })
        .collect())
}

/// Logs `user` out of every live session, or all but `keep`. Returns those revoked now. (A
/// password change revokes in `users::change_password`, in the statement that changes it.)
pub async fn revoke_all(
    conn: &Conn,
    user: UserId,
    keep: Option<SessionId>,
) -> Result<Vec<SessionId>, DbError> {
    let statement = conn
        .prepare_cached(
            "UPDATE auth_sessions SET revoked_at = now(), revoked_reason = 'logout'
             WHERE user_id = $1 AND revoked_at IS NULL AND ($2::uuid IS NULL OR id <> $2)
             RETURNING id",
        )
        .await?;
    let keep = keep.map(|s| s.0);
    let rows = conn.query(&statement, &[&user.0, &keep]).await?;
    Ok(rows.iter().map(|r| SessionId(r.get(0))).collect())
}

/// Revokes `session` if it is `user`'s and live (a user's "sign out that device"). Returns whether
/// it was.
pub async fn revoke_own(conn: &Conn, user: UserId, session: SessionId) -> Result<bool, DbError> {
    let statement = conn
        .prepare_cached(
            "UPDATE auth_sessions SET revoked_at = now(), revoked_reason = 'logout'
             WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL",
        )
        .await?;
    Ok(conn.execute(&statement, &[&session.0, &user.0]).await? == 1)
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
