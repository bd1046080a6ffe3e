//! Two-factor sign-in's rows: a user's TOTP secret (pending until confirmed), the last step
//! accepted (moved forward only, so a code works once), recovery codes (hashes, each used once)
//! and the challenges between a password and a code (hashes, expiring, a few attempts each).

use std::time::Duration;

use parley_shared::UserId;

use super::Conn;
use super::audit::Entry;
use crate::DbError;

/// A user's two-factor state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mfa {
    pub secret: Vec<u8>,
    pub enabled: bool,
    pub last_step: i64,
}

/// `user`'s secret (enabled or pending), if any.
pub async fn get(conn: &Conn, user: UserId) -> Result<Option<Mfa>, DbError> {
    let statement = conn
        .prepare_cached(
            "SELECT secret, enabled_at IS NOT NULL, last_step FROM user_mfa WHERE user_id = $1",
        )
        .await?;
    Ok(conn
        .query_opt(&statement, &[&user.0])
        .await?
        .map(|row| Mfa {
            secret: row.get(0),
            enabled: row.get(1),
            last_step: row.get(2),
        }))
}

/// Whether `user` signs in with a second factor.
pub async fn enabled(conn: &Conn, user: UserId) -> Result<bool, DbError> {
    Ok(get(conn, user).await?.is_some_and(|m| m.enabled))
}

/// Starts (or restarts) enrolment with `secret`, pending until [`confirm`]. `false` when two-factor
/// is already on (nothing changes).
pub async fn begin(conn: &Conn, user: UserId, secret: &[u8]) -> Result<bool, DbError> {
    let statement = conn
        .prepare_cached(
            "INSERT INTO user_mfa (user_id, secret) VALUES ($1, $2)
             ON CONFLICT (user_id) DO UPDATE SET secret = excluded.secret, last_step = 0,
                 created_at = now()
             WHERE user_mfa.enabled_at IS NULL",
        )
        .await?;
    Ok(conn.execute(&statement, &[&user.0, &secret]).await? == 1)
}

/// Moves `user`'s last accepted step to `step` if it is later (a code is accepted once: `false`
/// when another request used this step or a later one first).
pub async fn use_step(conn: &Conn, user: UserId, step: i64) -> Result<bool, DbError> {
    let statement = conn
        .prepare_cached("UPDATE user_mfa SET last_step = $2 WHERE user_id = $1 AND last_step < $2")
        .await?;
    Ok(conn.execute(&statement, &[&user.0, &step]).await? == 1)
}

/// Turns two-factor on at `step` (the confirming code's) with these recovery code hashes; `false`
/// if it was not pending or the step was used.
pub async fn confirm(
    conn: &mut Conn,
    user: UserId,
    step: i64,
    recovery_hashes: &[Vec<u8>],
    audit: &Entry,
) -> Result<bool, DbError> {
    let tx = conn.transaction().await?;
    let enable = tx
        .prepare_cached(
            "UPDATE user_mfa SET enabled_at = now(), last_step = $2
             WHERE user_id = $1 AND enabled_at IS NULL AND last_step < $2",
        )
        .await?;
    if tx.execute(&enable, &[&user.0, &step]).await? != 1 {
        return Ok(false);
    }
    replace_codes(&tx, user, recovery_hashes).await?;
    super::audit::record(&*tx, audit).await?;
    tx.commit().await?;
    Ok(true)
}

/// New recovery codes instead of the old ones (all of them, used or not).
pub async fn replace_recovery_codes(
    conn: &mut Conn,
    user: UserId,
    hashes: &[Vec<u8>],
    audit: &Entry,
) -> Result<(), DbError> {
    let tx = conn.transaction().await?;
    replace_codes(&tx, user, hashes).await?;
    super::audit::record(&*tx, audit).await?;
    tx.commit().await?;
    Ok(())
}

async fn replace_codes(
    tx: &deadpool_postgres::Transaction<'_>,
    user: UserId,
    hashes: &[Vec<u8>],
) -> Result<(), DbError> {
    let clear = tx
        .prepare_cached("DELETE FROM mfa_recovery_codes WHERE user_id = $1")
        .await?;
    tx.execute(&clear, &[&user.0]).await?;
    let insert = tx
        .prepare_cached(
            "INSERT INTO mfa_recovery_codes (user_id, code_hash)
             SELECT $1, h FROM unnest($2::bytea[]) AS h ON CONFLICT DO NOTHING",
        )
        .await?;
    tx.execute(&insert, &[&user.0, &hashes]).await?;
    Ok(())
}

/// Uses the recovery code hashed `hash` (once: `false` if unknown or already used).
pub async fn use_recovery_code(conn: &Conn, user: UserId, hash: &[u8]) -> Result<bool, DbError> {
    let statement = conn
        .prepare_cached(
            "UPDATE mfa_recovery_codes SET used_at = now()
             WHERE user_id = $1 AND code_hash = $2 AND used_at IS NULL",
        )
        .await?;
    Ok(conn.execute(&statement, &[&user.0, &hash]).await? == 1)
}

/// Recovery codes of `user` not used yet.
pub async fn recovery_codes_left(conn: &Conn, user: UserId) -> Result<i64, DbError> {
    let statement = conn
        .prepare_cached(
            "SELECT count(*) FROM mfa_recovery_codes WHERE user_id = $1 AND used_at IS NULL",
        )
        .await?;
    Ok(conn.query_one(&statement, &[&user.0]).await?.get(0))
}

/// Turns two-factor off: the secret, the recovery codes and open challenges go.
pub async fn disable(conn: &mut Conn, user: UserId, audit: &Entry) -> Result<(), DbError> {
    let tx = conn.transaction().await?;
    let statement = tx
        .prepare_cached(
            "WITH codes AS (DELETE FROM mfa_recovery_codes WHERE user_id = $1),
                  challenges AS (DELETE FROM mfa_challenges WHERE user_id = $1)
             DELETE FROM user_mfa WHERE user_id = $1",
        )
        .await?;
    if tx.execute(&statement, &[&user.0]).await? == 1 {
        super::audit::record(&*tx, audit).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Most open challenges per user (older ones are dropped when a new one is made).
const CHALLENGES_PER_USER: i64 = 5;

/// Stores a challenge (its token's hash) for `user`, valid for `ttl`; drops the user's expired
/// ones and all but the newest few.
pub async fn create_challenge(
    conn: &Conn,
    user: UserId,
    token_hash: &[u8],
    ttl: Duration,
) -> Result<(), DbError> {
    let statement = conn
        .prepare_cached(
            "WITH made AS (
                 INSERT INTO mfa_challenges (token_hash, user_id, expires_at)
                 VALUES ($2, $1, now() + make_interval(secs => $3::float8))
             )
             DELETE FROM mfa_challenges WHERE user_id = $1 AND token_hash IN (
                 SELECT token_hash FROM mfa_challenges WHERE user_id = $1
                 ORDER BY expires_at DESC OFFSET $4)
               OR (user_id = $1 AND expires_at < now())",
        )
        .await?;
    let ttl = ttl.as_secs_f64();
    conn.execute(
        &statement,
        &[&user.0, &token_hash, &ttl, &(CHALLENGES_PER_USER - 1)],
    )
    .await?;
    Ok(())
}

/// Counts an attempt on the live challenge hashed `token_hash`: its user while it has attempts
/// left (`max_attempts` in all), `None` when unknown, expired or spent (then it is gone).
pub async fn attempt_challenge(
    conn: &Conn,
    token_hash: &[u8],
    max_attempts: i32,
) -> Result<Option<UserId>, DbError> {
    let statement = conn
        .prepare_cached(
            "UPDATE mfa_challenges SET attempts = attempts + 1
             WHERE token_hash = $1 AND expires_at > now() AND attempts < $2
             RETURNING user_id",
        )
        .await?;
    let found = conn
        .query_opt(&statement, &[&token_hash, &max_attempts])
        .await?;
    if found.is_none() {
        end_challenge(conn, token_hash).await?;
    }
    Ok(found.map(|row| UserId(row.get(0))))
}

/// Ends a challenge (used, or spent).
pub async fn end_challenge(conn: &Conn, token_hash: &[u8]) -> Result<(), DbError> {
    let statement = conn
        .prepare_cached("DELETE FROM mfa_challenges WHERE token_hash = $1")
        .await?;
    conn.execute(&statement, &[&token_hash]).await?;
    Ok(())
}
