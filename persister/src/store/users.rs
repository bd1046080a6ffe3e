//! Users: sign-up, login lookup, profiles and prefix search.

use parley_shared::{SessionId, UserId};
use time::OffsetDateTime;
use tokio_postgres::Row;
use tokio_postgres::error::SqlState;

use super::Conn;
use crate::DbError;

/// A user as the API shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct User {
    pub id: UserId,
    pub username: String,
    pub display_name: String,
    pub email: Option<String>,
    pub created_at: OffsetDateTime,
    pub last_seen_at: Option<OffsetDateTime>,
    /// A server admin (moderation over REST).
    pub is_admin: bool,
}

const COLUMNS: &str = "id, username, display_name, email, created_at, last_seen_at, is_admin";

fn from_row(row: &Row) -> User {
    User {
        id: UserId(row.get(0)),
        username: row.get(1),
        display_name: row.get(2),
        email: row.get(3),
        created_at: row.get(4),
        last_seen_at: row.get(5),
        is_admin: row.get(6),
    }
}

/// A new account.
#[derive(Debug)]
pub struct NewUser<'a> {
    pub id: UserId,
    pub username: &'a str,
    pub display_name: &'a str,
    pub email: Option<&'a str>,
    pub password_hash: &'a str,
}

/// Why an account could not be created.
#[derive(Debug, thiserror::Error)]
pub enum CreateUserError {
    #[error("username taken")]
    UsernameTaken,
    #[error("email taken")]
    EmailTaken,
    #[error(transparent)]
    Db(#[from] DbError),
}

/// Inserts a user.
pub async fn create(conn: &Conn, new: &NewUser<'_>) -> Result<User, CreateUserError> {
    let statement = conn
        .prepare_cached(&format!(
            "INSERT INTO users (id, username, display_name, email, password_hash)
             VALUES ($1, $2, $3, $4, $5) RETURNING {COLUMNS}"
        ))
        .await
        .map_err(DbError::from)?;
    let result = conn
        .query_one(
            &statement,
            &[
                &new.id.0,
                &new.username,
                &new.display_name,
                &new.email,
                &new.password_hash,
            ],
        )
        .await;
    match result {
        Ok(row) => Ok(from_row(&row)),
        Err(error) if error.code() == Some(&SqlState::UNIQUE_VIOLATION) => {
            let constraint = error
                .as_db_error()
                .and_then(|e| e.constraint())
                .unwrap_or_default();
            if constraint.contains("email") {
                Err(CreateUserError::EmailTaken)
            } else {
                Err(CreateUserError::UsernameTaken)
            }
        }
        Err(error) => Err(CreateUserError::Db(error.into())),
    }
}

/// The user with `username` and their password hash, for login.
pub async fn find_for_login(
    conn: &Conn,
    username: &str,
) -> Result<Option<(User, String)>, DbError> {
    let statement = conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS}, password_hash FROM users WHERE username = $1"
        ))
        .await?;
    let row = conn.query_opt(&statement, &[&username]).await?;
    Ok(row.map(|row| (from_row(&row), row.get(7))))
}

/// One user by id.
pub async fn get(conn: &Conn, id: UserId) -> Result<Option<User>, DbError> {
    let statement = conn
        .prepare_cached(&format!("SELECT {COLUMNS} FROM users WHERE id = $1"))
        .await?;
    Ok(conn
        .query_opt(&statement, &[&id.0])
        .await?
        .map(|r| from_row(&r)))
}

/// `user`'s password hash (to check the current password before a change).
pub async fn password_hash(conn: &Conn, user: UserId) -> Result<Option<String>, DbError> {
    let statement = conn
        .prepare_cached("SELECT password_hash FROM users WHERE id = $1")
        .await?;
    Ok(conn
        .query_opt(&statement, &[&user.0])
        .await?
        .map(|r| r.get(0)))
}

/// Changes `user`'s display name; the updated user (`None` if the account is gone).
pub async fn set_display_name(
    conn: &Conn,
    user: UserId,
    display_name: &str,
) -> Result<Option<User>, DbError> {
    let statement = conn
        .prepare_cached(&format!(
            "UPDATE users SET display_name = $2, updated_at = now() WHERE id = $1 RETURNING {COLUMNS}"
        ))
        .await?;
    Ok(conn
        .query_opt(&statement, &[&user.0, &display_name])
        .await?
        .map(|r| from_row(&r)))
}

/// Stores `user`'s new password hash and, in the same statement, revokes every live session of
/// theirs but `keep`. Returns the sessions revoked.
pub async fn change_password(
    conn: &Conn,
    user: UserId,
    hash: &str,
    keep: SessionId,
) -> Result<Vec<SessionId>, DbError> {
    let statement = conn
        .prepare_cached(
            "WITH changed AS (
                 UPDATE users SET password_hash = $2, updated_at = now() WHERE id = $1 RETURNING id
             )
             UPDATE auth_sessions s SET revoked_at = now(), revoked_reason = 'password_changed'
             FROM changed
             WHERE s.user_id = changed.id AND s.revoked_at IS NULL AND s.id <> $3
             RETURNING s.id",
        )
        .await?;
    let rows = conn.query(&statement, &[&user.0, &hash, &keep.0]).await?;
    Ok(rows.iter().map(|r| SessionId(r.get(0))).collect())
}

/// Users whose username or display name contains `part` (case-insensitive): those starting with it
/// first, then by username.
pub async fn search(conn: &Conn, part: &str, limit: i64) -> Result<Vec<User>, DbError> {
    let escaped = escape_like(&part.to_lowercase());
    let (anywhere, prefix) = (format!("%{escaped}%"), format!("{escaped}%"));
    // Any part of either name (trigram indexes, migration 0006); prefix matches first.
    let statement = conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM users
             WHERE (username LIKE $1 OR lower(display_name) LIKE $1) AND deleted_at IS NULL
             ORDER BY (username LIKE $2 OR lower(display_name) LIKE $2) DESC, username LIMIT $3"
        ))
        .await?;
    let rows = conn
        .query(&statement, &[&anywhere, &prefix, &limit])
        .await?;
    Ok(rows.iter().map(from_row).collect())
}

/// Which of `ids` exist (a deleted account's tombstone does not).
pub async fn existing(conn: &Conn, ids: &[UserId]) -> Result<Vec<UserId>, DbError> {
    let raw: Vec<uuid::Uuid> = ids.iter().map(|id| id.0).collect();
    let statement = conn
        .prepare_cached("SELECT id FROM users WHERE id = ANY($1) AND deleted_at IS NULL")
        .await?;
    let rows = conn.query(&statement, &[&raw]).await?;
    Ok(rows.iter().map(|r| UserId(r.get(0))).collect())
}

/// Escapes LIKE's wildcards so user input matches literally.
fn escape_like(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Records when each user was last seen (their last connection closed, after the grace period).
pub async fn set_last_seen(
    conn: &Conn,
    seen: &[(UserId, time::OffsetDateTime)],
) -> Result<(), DbError> {
    let ids: Vec<uuid::Uuid> = seen.iter().map(|(u, _)| u.0).collect();
    let times: Vec<time::OffsetDateTime> = seen.iter().map(|(_, t)| *t).collect();
    let statement = conn
        .prepare_cached(
            "UPDATE users u SET last_seen_at = v.seen
             FROM unnest($1::uuid[], $2::timestamptz[]) AS v(id, seen) WHERE u.id = v.id",
        )
        .await?;
    conn.execute(&statement, &[&ids, &times]).await?;
    Ok(())
}

/// Those of `ids` who share a conversation with `user` (whose presence `user` may watch).
pub async fn sharing_conversation(
    conn: &Conn,
    user: UserId,
    ids: &[UserId],
) -> Result<Vec<UserId>, DbError> {
    let raw: Vec<uuid::Uuid> = ids.iter().map(|u| u.0).collect();
    let statement = conn
        .prepare_cached(
            "SELECT DISTINCT theirs.user_id
             FROM conversation_members mine
             JOIN conversation_members theirs ON theirs.conversation_id = mine.conversation_id
             WHERE mine.user_id = $1 AND theirs.user_id = ANY($2)",
        )
        .await?;
    let rows = conn.query(&statement, &[&user.0, &raw]).await?;
    Ok(rows.iter().map(|r| UserId(r.get(0))).collect())
}

/// The users of `ids` that exist.
pub async fn get_many(conn: &Conn, ids: &[UserId]) -> Result<Vec<User>, DbError> {
    let raw: Vec<uuid::Uuid> = ids.iter().map(|u| u.0).collect();
    let statement = conn
        .prepare_cached(&format!("SELECT {COLUMNS} FROM users WHERE id = ANY($1)"))
        .await?;
    let rows = conn.query(&statement, &[&raw]).await?;
    Ok(rows.iter().map(from_row).collect())
}

#[cfg(test)]
mod tests {
    #[test]
    fn like_wildcards_are_escaped() {
        assert_eq!(super::escape_like("a_b%c\\"), "a\\_b\\%c\\\\");
    }
}
