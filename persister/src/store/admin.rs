//! Server administration: the admin role, deactivated accounts, operator-issued password resets
//! and members' reports of messages. Each change writes its audit row in its own transaction, and
//! each that ends login sessions tells every gateway at commit (`NOTIFY parley_revoked`: a gateway
//! listening reads the revocations it has not heard of, so a change made by `parley admin` on the
//! command line closes sockets too).

use parley_shared::{ConversationId, MessageId, ReportId, SessionId, UserId};
use time::OffsetDateTime;

use super::Conn;
use super::audit::{self, Entry};
use crate::DbError;

/// The channel gateways listen on for revocations written outside them.
pub const REVOKED_CHANNEL: &str = "parley_revoked";

/// An account as an operator sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub id: UserId,
    pub username: String,
    pub display_name: String,
    pub is_admin: bool,
    pub deactivated_at: Option<OffsetDateTime>,
    pub created_at: OffsetDateTime,
}

const ACCOUNT_COLUMNS: &str = "id, username, display_name, is_admin, deactivated_at, created_at";

fn account_from(r: &tokio_postgres::Row) -> Account {
    Account {
        id: UserId(r.get(0)),
        username: r.get(1),
        display_name: r.get(2),
        is_admin: r.get(3),
        deactivated_at: r.get(4),
        created_at: r.get(5),
    }
}

/// The account named `username`.
pub async fn find(conn: &Conn, username: &str) -> Result<Option<Account>, DbError> {
    let statement = conn
        .prepare_cached(&format!(
            "SELECT {ACCOUNT_COLUMNS} FROM users WHERE username = $1"
        ))
        .await?;
    Ok(conn
        .query_opt(&statement, &[&username])
        .await?
        .map(|r| account_from(&r)))
}

/// The account `id`.
pub async fn account(conn: &Conn, id: UserId) -> Result<Option<Account>, DbError> {
    let statement = conn
        .prepare_cached(&format!(
            "SELECT {ACCOUNT_COLUMNS} FROM users WHERE id = $1"
        ))
        .await?;
    Ok(conn
        .query_opt(&statement, &[&id.0])
        .await?
        .map(|r| account_from(&r)))
}

/// Whether `user` is a server admin with an active account.
pub async fn is_admin(conn: &Conn, user: UserId) -> Result<bool, DbError> {
    let statement = conn
        .prepare_cached("SELECT is_admin AND deactivated_at IS NULL FROM users WHERE id = $1")
        .await?;
    Ok(conn
        .query_opt(&statement, &[&user.0])
        .await?
        .is_some_and(|r| r.get(0)))
}

/// Grants (or withdraws) the admin role; `false` if it already was so. Audited as
/// `admin.granted` / `admin.revoked`.
pub async fn set_admin(
    conn: &mut Conn,
    user: UserId,
    admin: bool,
    entry: Entry,
) -> Result<bool, DbError> {
    let tx = conn.transaction().await?;
    let changed = tx
        .execute(
            "UPDATE users SET is_admin = $2, updated_at = now() WHERE id = $1 AND is_admin <> $2",
            &[&user.0, &admin],
        )
        .await?;
    if changed == 1 {
        audit::record(&*tx, &entry).await?;
    }
    tx.commit().await?;
    Ok(changed == 1)
}

/// Deactivates `user` (every live session revoked: their sockets close, sign-in is refused) or
/// reactivates them. `None` when there is no such account or it already was so; else the sessions
/// revoked now.
pub async fn set_deactivated(
    conn: &mut Conn,
    user: UserId,
    deactivate: bool,
    entry: Entry,
) -> Result<Option<Vec<SessionId>>, DbError> {
    let tx = conn.transaction().await?;
    let changed = tx
        .execute(
            "UPDATE users SET deactivated_at = CASE WHEN $2 THEN now() END, updated_at = now()
             WHERE id = $1 AND (deactivated_at IS NOT NULL) <> $2 AND deleted_at IS NULL",
            &[&user.0, &deactivate],
        )
        .await?;
    if changed == 0 {
        return Ok(None);
    }
    let revoked = match deactivate {
        true => revoke_sessions(&tx, user, "deactivated").await?,
        false => Vec::new(),
    };
    audit::record(&*tx, &entry).await?;
    tx.commit().await?;
    Ok(Some(revoked))
}

/// Revokes every live session of `user` for `reason` and tells the gateways at commit.
pub(crate) async fn revoke_sessions(
    tx: &deadpool_postgres::Transaction<'_>,
    user: UserId,
    reason: &str,
) -> Result<Vec<SessionId>, DbError> {
    let rows = tx
        .query(
            "UPDATE auth_sessions SET revoked_at = now(), revoked_reason = $2
             WHERE user_id = $1 AND revoked_at IS NULL RETURNING id",
            &[&user.0, &reason],
        )
        .await?;
    if !rows.is_empty() {
        tx.execute("SELECT pg_notify($1, '')", &[&REVOKED_CHANNEL])
            .await?;
    }
    Ok(rows.iter().map(|r| SessionId(r.get(0))).collect())
}

/// Stores a reset link's token (its SHA-256) for `user`, valid until `expires_at`; earlier unused
/// links of theirs stop working. Audited as `user.password_reset_issued`.
pub async fn issue_reset(
    conn: &mut Conn,
    user: UserId,
    token_hash: &[u8; 32],
    expires_at: OffsetDateTime,
    entry: Entry,
) -> Result<(), DbError> {
    let tx = conn.transaction().await?;
    tx.execute("DELETE FROM password_resets WHERE user_id = $1", &[&user.0])
        .await?;
    tx.execute(
        "INSERT INTO password_resets (token_hash, user_id, expires_at) VALUES ($1, $2, $3)",
        &[&token_hash.as_slice(), &user.0, &expires_at],
    )
    .await?;
    audit::record(&*tx, &entry).await?;
    tx.commit().await?;
    Ok(())
}

/// Spends the reset link with token hash `presented`: the new password hash is stored and every
/// session revoked, in one transaction. `None` for an unknown, used or expired link, or a
/// deactivated account. Audited (as `entry`, with the user filled in) as `user.password_reset`.
pub async fn use_reset(
    conn: &mut Conn,
    presented: &[u8; 32],
    password_hash: &str,
    entry: Entry,
) -> Result<Option<(UserId, Vec<SessionId>)>, DbError> {
    let tx = conn.transaction().await?;
    let Some(row) = tx
        .query_opt(
            "UPDATE password_resets r SET used_at = now()
             FROM users u
             WHERE r.token_hash = $1 AND r.used_at IS NULL AND r.expires_at > now()
               AND u.id = r.user_id AND u.deactivated_at IS NULL
             RETURNING r.user_id",
            &[&presented.as_slice()],
        )
        .await?
    else {
        return Ok(None);
    };
    let user = UserId(row.get(0));
    tx.execute(
        "UPDATE users SET password_hash = $2, updated_at = now() WHERE id = $1",
        &[&user.0, &password_hash],
    )
    .await?;
    let revoked = revoke_sessions(&tx, user, "password_reset").await?;
    audit::record(&*tx, &entry.user(user)).await?;
    tx.commit().await?;
    Ok(Some((user, revoked)))
}

/// A member's report of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub id: ReportId,
    pub message: MessageId,
    pub conversation: ConversationId,
    pub reported_user: UserId,
    pub reporter: UserId,
    pub reason: String,
    pub created_at: OffsetDateTime,
    pub resolved_at: Option<OffsetDateTime>,
    pub resolved_by: Option<UserId>,
    pub resolution: Option<String>,
}

const REPORT_COLUMNS: &str = "id, message_id, conversation_id, reported_user, reporter_id, reason,
     created_at, resolved_at, resolved_by, resolution";
/// How many columns `REPORT_COLUMNS` names, and a row of as many NULLs.
const REPORT_WIDTH: usize = 10;
const NO_REPORT: &str = "NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL";

fn report_from(r: &tokio_postgres::Row) -> Report {
    Report {
        id: ReportId(r.get(0)),
        message: MessageId(r.get(1)),
        conversation: ConversationId(r.get(2)),
        reported_user: UserId(r.get(3)),
        reporter: UserId(r.get(4)),
        reason: r.get(5),
        created_at: r.get(6),
        resolved_at: r.get(7),
        resolved_by: r.get::<_, Option<uuid::Uuid>>(8).map(UserId),
        resolution: r.get(9),
    }
}

/// Most open reports one user may have at once (a report flood stays bounded).
pub const MAX_OPEN_REPORTS_PER_USER: i64 = 100;

/// Why a report was not stored.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// No message `message` (not deleted) in a conversation `reporter` is a member of.
    #[error("no such message")]
    NotFound,
    /// The reporter has `MAX_OPEN_REPORTS_PER_USER` open reports.
    #[error("too many open reports")]
    TooMany,
    #[error(transparent)]
    Db(#[from] DbError),
}

/// Files `reporter`'s report of `message`, checked on its stored conversation's membership. A
/// second report of one message by one member answers the first.
pub async fn file_report(
    conn: &Conn,
    reporter: UserId,
    message: MessageId,
    reason: &str,
) -> Result<Report, ReportError> {
    // One statement: the message must be one the reporter can see; a report they already made
    // answers again (whatever their count); a new one needs room under the open-report cap.
    let statement = conn
        .prepare_cached(&format!(
            "WITH target AS (
                 SELECT m.id, m.conversation_id, m.sender_id FROM messages m
                 JOIN conversation_members cm
                   ON cm.conversation_id = m.conversation_id AND cm.user_id = $2
                 WHERE m.id = $1 AND m.deleted_at IS NULL
             ), inserted AS (
                 INSERT INTO message_reports (id, message_id, conversation_id, reported_user,
                     reporter_id, reason)
                 SELECT $3, id, conversation_id, sender_id, $2, $4 FROM target
                 WHERE (SELECT count(*) FROM message_reports
                        WHERE reporter_id = $2 AND resolved_at IS NULL) < $5
                 ON CONFLICT (message_id, reporter_id) DO NOTHING
                 RETURNING {REPORT_COLUMNS}
             )
             SELECT {REPORT_COLUMNS}, true FROM inserted
             UNION ALL
             SELECT {REPORT_COLUMNS}, true FROM message_reports
             WHERE message_id = $1 AND reporter_id = $2 AND EXISTS (SELECT 1 FROM target)
             UNION ALL
             SELECT {NO_REPORT}, false FROM target"
        ))
        .await
        .map_err(DbError::from)?;
    let id = ReportId::generate();
    let rows = conn
        .query(
            &statement,
            &[
                &message.0,
                &reporter.0,
                &id.0,
                &reason,
                &MAX_OPEN_REPORTS_PER_USER,
            ],
        )
        .await
        .map_err(DbError::from)?;
    match rows.iter().find(|row| row.get::<_, bool>(REPORT_WIDTH)) {
        Some(row) => Ok(report_from(row)),
        // The message is there and visible, and no report came of it: the cap.
        None if !rows.is_empty() => Err(ReportError::TooMany),
        None => Err(ReportError::NotFound),
    }
}

/// A page of reports, newest first, below `before` (a report id): open ones only, or all.
pub async fn reports(
    conn: &Conn,
    open_only: bool,
    before: Option<ReportId>,
    limit: i64,
) -> Result<Vec<Report>, DbError> {
    let statement = conn
        .prepare_cached(&format!(
            "SELECT {REPORT_COLUMNS} FROM message_reports
             WHERE (NOT $1 OR resolved_at IS NULL) AND ($2::uuid IS NULL OR id < $2)
             ORDER BY id DESC LIMIT $3"
        ))
        .await?;
    let before = before.map(|r| r.0);
    let rows = conn
        .query(&statement, &[&open_only, &before, &limit])
        .await?;
    Ok(rows.iter().map(report_from).collect())
}

/// Report `id`.
pub async fn find_report(conn: &Conn, id: ReportId) -> Result<Option<Report>, DbError> {
    let statement = conn
        .prepare_cached(&format!(
            "SELECT {REPORT_COLUMNS} FROM message_reports WHERE id = $1"
        ))
        .await?;
    Ok(conn
        .query_opt(&statement, &[&id.0])
        .await?
        .map(|r| report_from(&r)))
}

/// Resolves report `id` (and every other open report of its message) as `resolution` by admin
/// `by`. `None` when there is no such report; a resolved one answers as it is.
pub async fn resolve(
    conn: &mut Conn,
    id: ReportId,
    by: UserId,
    resolution: &str,
    entry: Entry,
) -> Result<Option<Report>, DbError> {
    let tx = conn.transaction().await?;
    let Some(row) = tx
        .query_opt(
            &format!("SELECT {REPORT_COLUMNS} FROM message_reports WHERE id = $1 FOR UPDATE"),
            &[&id.0],
        )
        .await?
    else {
        return Ok(None);
    };
    let found = report_from(&row);
    if found.resolved_at.is_some() {
        return Ok(Some(found));
    }
    tx.execute(
        "UPDATE message_reports SET resolved_at = now(), resolved_by = $2, resolution = $3
         WHERE message_id = $1 AND resolved_at IS NULL",
        &[&found.message.0, &by.0, &resolution],
    )
    .await?;
    let row = tx
        .query_one(
            &format!("SELECT {REPORT_COLUMNS} FROM message_reports WHERE id = $1"),
            &[&id.0],
        )
        .await?;
    audit::record(
        &*tx,
        &entry
            .message(found.message)
            .conversation(found.conversation)
            .user(found.reported_user),
    )
    .await?;
    tx.commit().await?;
    Ok(Some(report_from(&row)))
}
