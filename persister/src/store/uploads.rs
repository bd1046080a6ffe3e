//! Uploads and who may read them: an upload's row (its bytes live in the gateway's blob store,
//! addressed by `sha256`), recorded under the user's quota; the uploads a send may attach; the
//! access check of a download (the owner before it is sent, then the members of a conversation
//! with a message, not deleted, that holds it); and the sweep of uploads nothing holds.

use parley_shared::{AttachmentId, UserId};
use time::OffsetDateTime;
use tokio_postgres::Row;

use super::Conn;
use crate::DbError;

/// A stored upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upload {
    pub id: AttachmentId,
    pub user_id: UserId,
    /// Hex SHA-256 of the bytes: the blob's address.
    pub sha256: String,
    pub size: i64,
    /// Sniffed from the bytes.
    pub mime_type: String,
    /// `image` or `file`.
    pub kind: String,
    pub name: String,
    pub width: Option<i32>,
    pub height: Option<i32>,
    /// Thumbnail sizes made (longest side), stored as `<sha256>.t<size>`.
    pub thumbnails: Vec<i32>,
    pub thumbnail_mime: Option<String>,
    pub created_at: OffsetDateTime,
}

const COLUMNS: &str = "id, user_id, sha256, size, mime_type, kind, name, width, height, \
                       thumbnails, thumbnail_mime, created_at";

fn from_row(row: &Row) -> Upload {
    Upload {
        id: AttachmentId(row.get(0)),
        user_id: UserId(row.get(1)),
        sha256: row.get(2),
        size: row.get(3),
        mime_type: row.get(4),
        kind: row.get(5),
        name: row.get(6),
        width: row.get(7),
        height: row.get(8),
        thumbnails: row.get(9),
        thumbnail_mime: row.get(10),
        created_at: row.get(11),
    }
}

/// What `record` did.
#[derive(Debug)]
pub enum Recorded {
    Stored(Box<Upload>),
    /// The user's uploads already hold `used` bytes: this one would pass the quota.
    OverQuota {
        used: i64,
    },
    /// Moving the bytes into the blob store failed (nothing recorded).
    PutFailed(std::io::Error),
}

/// The advisory lock of blob `sha` (held for a transaction): taken by an upload from before its
/// blob is put until its row commits, and by the sweep while it removes an unused blob, so the
/// sweep never removes a blob an upload is about to record.
const LOCK_BLOB: &str = "SELECT pg_advisory_xact_lock(hashtextextended('parley.blob.' || $1, 0))";

/// What a user's uploads hold, in bytes: what the quota counts.
const USAGE: &str = "SELECT coalesce(sum(size), 0)::int8 FROM uploads WHERE user_id = $1";

/// Bytes held by `user`'s uploads (attached or not).
pub async fn usage(conn: &Conn, user: UserId) -> Result<i64, DbError> {
    let statement = conn.prepare_cached(USAGE).await?;
    Ok(conn.query_one(&statement, &[&user.0]).await?.get(0))
}

/// Records `upload` unless the user's uploads would then hold more than `quota` bytes, running
/// `put` (which moves its bytes into the blob store) under the blob's lock first. Uploads of one
/// user are recorded one at a time (a transaction-scoped advisory lock), so two at once cannot
/// both pass the quota.
pub async fn record(
    conn: &mut Conn,
    upload: &Upload,
    quota: i64,
    put: impl std::future::Future<Output = std::io::Result<()>>,
) -> Result<Recorded, DbError> {
    let tx = conn.transaction().await?;
    tx.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended('parley.uploads.' || $1::uuid::text, 0))",
        &[&upload.user_id.0],
    )
    .await?;
    tx.execute(LOCK_BLOB, &[&upload.sha256]).await?;
    let used: i64 = tx.query_one(USAGE, &[&upload.user_id.0]).await?.get(0);
    if used.saturating_add(upload.size) > quota {
        tx.commit().await?;
        return Ok(Recorded::OverQuota { used });
    }
    if let Err(error) = put.await {
        tx.rollback().await?;
        return Ok(Recorded::PutFailed(error));
    }
    let row = tx
        .query_one(
            &format!(
                "INSERT INTO uploads (id, user_id, sha256, size, mime_type, kind, name, width, height,
                                      thumbnails, thumbnail_mime)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING {COLUMNS}"
            ),
            &[
                &upload.id.0,
                &upload.user_id.0,
                &upload.sha256,
                &upload.size,
                &upload.mime_type,
                &upload.kind,
                &upload.name,
                &upload.width,
                &upload.height,
                &upload.thumbnails,
                &upload.thumbnail_mime,
            ],
        )
        .await?;
    tx.commit().await?;
    Ok(Recorded::Stored(Box::new(from_row(&row))))
}

/// Of `ids`, the uploads `user` may attach to a send with `client_message_id`: their own, newer
/// than `max_age_secs`, and not attached yet, or attached to their message with that client id (a
/// retry, which returns the message stored first). An upload attaches once: the sweep's removal
/// of an attached upload nothing holds any more can then never race a new attachment.
pub async fn attachable(
    conn: &Conn,
    user: UserId,
    ids: &[uuid::Uuid],
    client_message_id: &str,
    max_age_secs: i64,
) -> Result<Vec<Upload>, DbError> {
    let statement = conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM uploads u
             WHERE u.id = ANY($1) AND u.user_id = $2
               AND u.created_at > now() - make_interval(secs => $4::int8)
               AND (u.attached_at IS NULL OR EXISTS (
                    SELECT 1 FROM message_attachments a JOIN messages m ON m.id = a.message_id
                    WHERE a.upload_id = u.id AND m.sender_id = $2 AND m.client_message_id = $3))"
        ))
        .await?;
    let rows = conn
        .query(
            &statement,
            &[&ids, &user.0, &client_message_id, &max_age_secs],
        )
        .await?;
    Ok(rows.iter().map(from_row).collect())
}

/// Upload `id` if `user` may read it: their own not yet attached, or held by a message (not
/// deleted) of a conversation they are a member of. `None` alike for a missing upload and one
/// they may not read.
pub async fn readable(
    conn: &Conn,
    user: UserId,
    id: AttachmentId,
) -> Result<Option<Upload>, DbError> {
    let statement = conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM uploads u
             WHERE u.id = $1 AND (
                 (u.user_id = $2 AND u.attached_at IS NULL)
                 OR EXISTS (
                     SELECT 1 FROM message_attachments a
                     JOIN messages m ON m.id = a.message_id AND m.deleted_at IS NULL
                     JOIN conversation_members cm ON cm.conversation_id = m.conversation_id
                          AND cm.user_id = $2
                     WHERE a.upload_id = u.id))"
        ))
        .await?;
    let row = conn.query_opt(&statement, &[&id.0, &user.0]).await?;
    Ok(row.as_ref().map(from_row))
}

/// Deletes up to `batch` uploads nothing holds: never attached and older than `unattached_secs`,
/// or attached once and held by no message any more (their messages were deleted). Returns the
/// blob addresses they used (`collect_blob` removes those no other upload uses).
pub async fn sweep(conn: &Conn, unattached_secs: i64, batch: i64) -> Result<Vec<String>, DbError> {
    let rows = conn
        .query(
            "DELETE FROM uploads WHERE id IN (
                 SELECT u.id FROM uploads u
                 WHERE (u.attached_at IS NULL
                        AND u.created_at < now() - make_interval(secs => $1::int8))
                    OR (u.attached_at IS NOT NULL AND NOT EXISTS (
                        SELECT 1 FROM message_attachments a WHERE a.upload_id = u.id))
                 LIMIT $2)
             RETURNING sha256",
            &[&unattached_secs, &batch],
        )
        .await?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// Runs `remove` (which deletes blob `sha` and its thumbnails) if no upload uses the blob, under
/// the blob's lock; whether it ran.
pub async fn collect_blob(
    conn: &mut Conn,
    sha: &str,
    remove: impl std::future::Future<Output = std::io::Result<()>>,
) -> Result<std::io::Result<bool>, DbError> {
    let tx = conn.transaction().await?;
    tx.execute(LOCK_BLOB, &[&sha]).await?;
    let used = tx
        .query_opt("SELECT 1 FROM uploads WHERE sha256 = $1 LIMIT 1", &[&sha])
        .await?
        .is_some();
    let removed = if used {
        Ok(false)
    } else {
        remove.await.map(|()| true)
    };
    tx.commit().await?;
    Ok(removed)
}
