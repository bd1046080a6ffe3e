//! A user's data export: the archive's sections as JSON text built by PostgreSQL (ids with their
//! wire prefixes, times in UTC with milliseconds, as the API writes them), the user's own
//! messages and reactions streamed row by row (never held whole), and the `data_exports` rows and
//! parts a background export is kept in until its owner downloads it once.

use futures_util::{Stream, StreamExt};
use parley_shared::UserId;
use time::OffsetDateTime;

use super::Conn;
use crate::DbError;

/// `prefix_<hex>` of a uuid column, as the API spells ids.
fn id(prefix: &str, column: &str) -> String {
    format!("('{prefix}_' || replace({column}::text, '-', ''))")
}

/// An RFC 3339 UTC time with milliseconds (`null` stays null).
fn ts(column: &str) -> String {
    format!("to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')")
}

/// The archive's small sections, as the members of one JSON object (no braces): `user`,
/// `twoFactor`, `settings`, `sessions`, `devices`, `blocks`, `memberships`, `reports`, `uploads`. `None`
/// when the user does not exist.
pub async fn head(conn: &Conn, user: UserId) -> Result<Option<String>, DbError> {
    let sql = format!(
        r#"SELECT concat(
             '"user":', json_build_object('id', {uid}, 'username', u.username,
                 'displayName', u.display_name, 'email', u.email, 'createdAt', {created},
                 'lastSeenAt', {seen})::text,
             ',"twoFactor":', (EXISTS (SELECT 1 FROM user_mfa f
                 WHERE f.user_id = u.id AND f.enabled_at IS NOT NULL))::text,
             ',"settings":', json_build_object(
                 'dndSchedule', (SELECT json_build_object('startMinute', n.dnd_start_minute,
                     'endMinute', n.dnd_end_minute, 'timeZone', n.time_zone)
                     FROM user_notifications n WHERE n.user_id = u.id),
                 'conversations', coalesce((SELECT json_agg(json_build_object(
                     'conversationId', {mconv}, 'level', mn.level,
                     'mutedUntil', {muted}) ORDER BY mn.conversation_id)
                     FROM member_notifications mn WHERE mn.user_id = u.id), '[]'))::text,
             ',"sessions":', coalesce((SELECT json_agg(json_build_object('id', {sid},
                 'createdAt', {screated}, 'lastUsedAt', {sused}, 'revokedAt', {srevoked},
                 'userAgent', s.user_agent, 'ipAddress', host(s.client_ip)) ORDER BY s.created_at)
                 FROM auth_sessions s WHERE s.user_id = u.id), '[]')::text,
             ',"devices":', coalesce((SELECT json_agg(json_build_object('id', {did},
                 'kind', p.kind, 'label', p.label, 'createdAt', {dcreated}) ORDER BY p.created_at)
                 FROM push_subscriptions p WHERE p.user_id = u.id), '[]')::text,
             ',"blocks":', coalesce((SELECT json_agg(json_build_object('userId', {blocked},
                 'createdAt', {bcreated}) ORDER BY b.created_at)
                 FROM user_blocks b WHERE b.blocker_id = u.id), '[]')::text,
             ',"memberships":', coalesce((SELECT json_agg(json_build_object(
                 'conversationId', {cid}, 'type', c.kind, 'name', c.name, 'role', m.role,
                 'joinedAt', {joined}, 'lastReadSeq', m.last_read_seq) ORDER BY m.joined_at)
                 FROM conversation_members m JOIN conversations c ON c.id = m.conversation_id
                 WHERE m.user_id = u.id), '[]')::text,
             ',"reports":', coalesce((SELECT json_agg(json_build_object('id', {rid},
                 'messageId', {rmsg}, 'reason', r.reason, 'createdAt', {rcreated},
                 'resolution', r.resolution) ORDER BY r.created_at)
                 FROM message_reports r WHERE r.reporter_id = u.id), '[]')::text,
             ',"uploads":', coalesce((SELECT json_agg(json_build_object('id', {upid},
                 'name', f.name, 'mimeType', f.mime_type, 'size', f.size, 'createdAt', {upcreated},
                 'attachedAt', {upattached}) ORDER BY f.created_at)
                 FROM uploads f WHERE f.user_id = u.id), '[]')::text)
           FROM users u WHERE u.id = $1"#,
        uid = id("usr", "u.id"),
        created = ts("u.created_at"),
        seen = ts("u.last_seen_at"),
        mconv = id("conv", "mn.conversation_id"),
        muted = ts("mn.muted_until"),
        sid = id("ses", "s.id"),
        screated = ts("s.created_at"),
        sused = ts("s.last_used_at"),
        srevoked = ts("s.revoked_at"),
        did = id("dev", "p.id"),
        dcreated = ts("p.created_at"),
        blocked = id("usr", "b.blocked_id"),
        bcreated = ts("b.created_at"),
        cid = id("conv", "c.id"),
        joined = ts("m.joined_at"),
        rid = id("rpt", "r.id"),
        rmsg = id("msg", "r.message_id"),
        rcreated = ts("r.created_at"),
        upid = id("att", "f.id"),
        upcreated = ts("f.created_at"),
        upattached = ts("f.attached_at"),
    );
    let row = conn.query_opt(&sql, &[&user.0]).await?;
    Ok(row.map(|r| r.get(0)))
}

/// What [`rows`] streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    /// Every message the user sent (deleted ones with their empty content), by conversation and
    /// seq.
    Messages,
    /// Every reaction the user gave.
    Reactions,
}

/// The rows of `section` for `user`, one JSON object each, as PostgreSQL sends them.
pub async fn rows(
    conn: &Conn,
    user: UserId,
    section: Section,
) -> Result<impl Stream<Item = Result<String, DbError>> + use<>, DbError> {
    let sql = match section {
        Section::Messages => format!(
            "SELECT json_build_object('id', {mid}, 'conversationId', {conv}, 'seq', m.seq,
                 'content', m.content, 'contentType', m.content_type, 'replyTo', {reply},
                 'createdAt', {created}, 'editedAt', {edited}, 'deletedAt', {deleted},
                 'attachments', coalesce(m.attachments, '[]'::jsonb))::text
             FROM messages m WHERE m.sender_id = $1",
            mid = id("msg", "m.id"),
            conv = id("conv", "m.conversation_id"),
            // NULL stays NULL through `||`.
            reply = id("msg", "m.reply_to"),
            created = ts("m.created_at"),
            edited = ts("m.edited_at"),
            deleted = ts("m.deleted_at"),
        ),
        Section::Reactions => format!(
            "SELECT json_build_object('messageId', {mid}, 'emoji', r.emoji,
                 'createdAt', {created})::text
             FROM message_reactions r WHERE r.user_id = $1",
            mid = id("msg", "r.message_id"),
            created = ts("r.created_at"),
        ),
    };
    let stream = conn.query_raw(&sql, [&user.0]).await?;
    Ok(stream.map(|row| row.map(|r| r.get::<_, String>(0)).map_err(DbError::from)))
}

/// One export, as its owner sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Export {
    pub id: uuid::Uuid,
    pub user: UserId,
    pub status: String,
    pub bytes: i64,
    pub created_at: OffsetDateTime,
    pub ready_at: Option<OffsetDateTime>,
    pub downloaded_at: Option<OffsetDateTime>,
    pub expires_at: OffsetDateTime,
}

/// An export still preparing after this long was left by a process that stopped (an archive of
/// 100,000 messages takes seconds).
pub const STALE: std::time::Duration = std::time::Duration::from_secs(15 * 60);

/// The columns of an export; its status as it is now (an export past its time reads `expired`,
/// one left preparing too long `failed`, before `sweep` writes it down).
const EXPORT_COLUMNS: &str = "id, user_id,
     CASE WHEN status IN ('ready', 'preparing') AND expires_at <= now() THEN 'expired'
          WHEN status = 'preparing' AND created_at < now() - interval '15 minutes' THEN 'failed'
          ELSE status END,
     bytes, created_at, ready_at, downloaded_at, expires_at";

fn export_from(row: &tokio_postgres::Row) -> Export {
    Export {
        id: row.get(0),
        user: UserId(row.get(1)),
        status: row.get(2),
        bytes: row.get(3),
        created_at: row.get(4),
        ready_at: row.get(5),
        downloaded_at: row.get(6),
        expires_at: row.get(7),
    }
}

/// Writes down what `EXPORT_COLUMNS` derives (expired, failed) and deletes those archives' parts,
/// and the parts a download cut short left [`STALE`] x 4 ago. Run by the periodic sweep.
pub async fn sweep(conn: &Conn) -> Result<u64, DbError> {
    let abandoned = OffsetDateTime::now_utc() - STALE * 4;
    let stale = OffsetDateTime::now_utc() - STALE;
    // A download cut short by a stopped process left its parts: gone after four times as long
    // (a slow reader of a large archive may still be downloading before that).
    conn.execute(
        "DELETE FROM data_export_parts WHERE export_id IN
             (SELECT id FROM data_exports WHERE status = 'downloaded' AND downloaded_at < $1)",
        &[&abandoned],
    )
    .await?;
    let swept = conn
        .execute(
            "WITH gone AS (
                 UPDATE data_exports SET status = CASE WHEN status = 'preparing' THEN 'failed'
                                                       ELSE 'expired' END
                 WHERE (status IN ('ready', 'preparing') AND expires_at < now())
                    OR (status = 'preparing' AND created_at < $1)
                 RETURNING id
             )
             DELETE FROM data_export_parts WHERE export_id IN (SELECT id FROM gone)",
            &[&stale],
        )
        .await?;
    Ok(swept)
}

/// The user's export still preparing or ready, else a new one (preparing); `true` when new.
pub async fn request(
    conn: &mut Conn,
    user: UserId,
    expires_at: OffsetDateTime,
    audit: &super::audit::Entry,
) -> Result<(Export, bool), DbError> {
    let tx = conn.transaction().await?;
    // One at a time per user: the user's row serialises two requests.
    tx.execute("SELECT 1 FROM users WHERE id = $1 FOR UPDATE", &[&user.0])
        .await?;
    let open = tx
        .query_opt(
            &format!(
                "SELECT {EXPORT_COLUMNS} FROM data_exports
                 WHERE user_id = $1 AND status IN ('preparing', 'ready') AND expires_at > now()
                   AND NOT (status = 'preparing' AND created_at < now() - interval '15 minutes')
                 ORDER BY created_at DESC LIMIT 1"
            ),
            &[&user.0],
        )
        .await?;
    if let Some(row) = open {
        tx.commit().await?;
        return Ok((export_from(&row), false));
    }
    let row = tx
        .query_one(
            &format!(
                "INSERT INTO data_exports (id, user_id, expires_at) VALUES ($1, $2, $3)
                 RETURNING {EXPORT_COLUMNS}"
            ),
            &[&uuid::Uuid::now_v7(), &user.0, &expires_at],
        )
        .await?;
    super::audit::record(&*tx, audit).await?;
    tx.commit().await?;
    Ok((export_from(&row), true))
}

/// The user's exports, newest first (at most 20).
pub async fn list(conn: &Conn, user: UserId) -> Result<Vec<Export>, DbError> {
    let rows = conn
        .query(
            &format!(
                "SELECT {EXPORT_COLUMNS} FROM data_exports WHERE user_id = $1
                 ORDER BY created_at DESC LIMIT 20"
            ),
            &[&user.0],
        )
        .await?;
    Ok(rows.iter().map(export_from).collect())
}

/// Stores part `n` of an export's archive.
pub async fn add_part(conn: &Conn, export: uuid::Uuid, n: i32, body: &[u8]) -> Result<(), DbError> {
    conn.execute(
        "INSERT INTO data_export_parts (export_id, n, body) VALUES ($1, $2, $3)",
        &[&export, &n, &body],
    )
    .await?;
    Ok(())
}

/// The archive is complete (`bytes` long), or failed (its parts deleted).
pub async fn finish(conn: &Conn, export: uuid::Uuid, bytes: Option<i64>) -> Result<(), DbError> {
    match bytes {
        Some(bytes) => {
            conn.execute(
                "UPDATE data_exports SET status = 'ready', ready_at = now(), bytes = $2
                 WHERE id = $1 AND status = 'preparing'",
                &[&export, &bytes],
            )
            .await?;
        }
        None => {
            conn.execute(
                "UPDATE data_exports SET status = 'failed' WHERE id = $1",
                &[&export],
            )
            .await?;
            conn.execute(
                "DELETE FROM data_export_parts WHERE export_id = $1",
                &[&export],
            )
            .await?;
        }
    }
    Ok(())
}

/// Takes the owner's ready export for its one download: `None` unless it is `user`'s, ready and
/// not expired. Recorded (with `audit`) in the same transaction.
pub async fn take(
    conn: &mut Conn,
    user: UserId,
    export: uuid::Uuid,
    audit: &super::audit::Entry,
) -> Result<Option<Export>, DbError> {
    let tx = conn.transaction().await?;
    let row = tx
        .query_opt(
            &format!(
                "UPDATE data_exports SET status = 'downloaded', downloaded_at = now()
                 WHERE id = $1 AND user_id = $2 AND status = 'ready' AND expires_at > now()
                 RETURNING {EXPORT_COLUMNS}"
            ),
            &[&export, &user.0],
        )
        .await?;
    if row.is_some() {
        super::audit::record(&*tx, audit).await?;
    }
    tx.commit().await?;
    Ok(row.as_ref().map(export_from))
}

/// Part `n` of an export (`None` past the last).
pub async fn part(conn: &Conn, export: uuid::Uuid, n: i32) -> Result<Option<Vec<u8>>, DbError> {
    let row = conn
        .query_opt(
            "SELECT body FROM data_export_parts WHERE export_id = $1 AND n = $2",
            &[&export, &n],
        )
        .await?;
    Ok(row.map(|r| r.get(0)))
}

/// Deletes a downloaded export's parts.
pub async fn drop_parts(conn: &Conn, export: uuid::Uuid) -> Result<(), DbError> {
    conn.execute(
        "DELETE FROM data_export_parts WHERE export_id = $1",
        &[&export],
    )
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_derived_status_uses_the_stale_bound() {
        let interval = format!("interval '{} minutes'", STALE.as_secs() / 60);
        assert!(EXPORT_COLUMNS.contains(&interval));
    }
}
