//! The export archive: one JSON document (`format: "parley-export/1"`) with the user's profile,
//! settings, sessions, devices, blocks, memberships, reports and uploads, then every message they sent
//! and every reaction they gave, streamed from PostgreSQL row by row into an [`Out`]: the
//! database's parts (a background export on a shard, downloaded once), or a file (the CLI). Only
//! the user's own content: other people's messages never enter it.

use std::rc::Rc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use parley_persister::DbError;
use parley_persister::store::Conn;
use parley_persister::store::export::{self, Section};
use parley_shared::UserId;

use crate::shard::ShardState;

/// An archive part at most this long (bytes); a download sends one part per chunk.
const PART_BYTES: usize = 1 << 20;
/// A download whose reader takes no chunk for this long is abandoned.
const READER_PATIENCE: Duration = Duration::from_secs(60);
/// Chunks a download prepares ahead of its reader.
const DOWNLOAD_DEPTH: usize = 2;

#[derive(Debug, thiserror::Error)]
pub(crate) enum ExportError {
    #[error("no such user")]
    NoUser,
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("writing the archive: {0}")]
    Io(#[from] std::io::Error),
}

/// Where an archive goes, a piece at a time.
pub(crate) trait Out {
    fn write(&mut self, bytes: &[u8]) -> impl Future<Output = Result<(), ExportError>>;
}

/// Writes `user`'s archive to `out`; returns its length in bytes.
pub(crate) async fn write_archive(
    conn: &Conn,
    user: UserId,
    out: &mut impl Out,
) -> Result<u64, ExportError> {
    let head = export::head(conn, user).await?.ok_or(ExportError::NoUser)?;
    let now = parley_shared::time::format_timestamp(time::OffsetDateTime::now_utc());
    let mut bytes = 0u64;
    let mut put = async |out: &mut _, piece: &[u8]| -> Result<(), ExportError> {
        bytes += piece.len() as u64;
        Out::write(out, piece).await
    };
    put(
        out,
        format!(r#"{{"format":"parley-export/1","exportedAt":"{now}","#).as_bytes(),
    )
    .await?;
    put(out, head.as_bytes()).await?;
    for (name, section) in [
        ("messages", Section::Messages),
        ("reactions", Section::Reactions),
    ] {
        put(out, format!(r#","{name}":["#).as_bytes()).await?;
        let rows = export::rows(conn, user, section).await?;
        let mut rows = std::pin::pin!(rows);
        let mut first = true;
        while let Some(row) = rows.next().await {
            let row = row?;
            if !first {
                put(out, b",").await?;
            }
            first = false;
            put(out, row.as_bytes()).await?;
        }
        put(out, b"]").await?;
    }
    put(out, b"}\n").await?;
    Ok(bytes)
}

/// The database's parts of one export, written `PART_BYTES` at a time.
struct Parts {
    conn: Conn,
    export: uuid::Uuid,
    buffer: Vec<u8>,
    next: i32,
}

impl Parts {
    async fn flush(&mut self) -> Result<(), ExportError> {
        if !self.buffer.is_empty() {
            export::add_part(&self.conn, self.export, self.next, &self.buffer).await?;
            self.next += 1;
            self.buffer.clear();
        }
        Ok(())
    }
}

impl Out for Parts {
    async fn write(&mut self, bytes: &[u8]) -> Result<(), ExportError> {
        self.buffer.extend_from_slice(bytes);
        if self.buffer.len() >= PART_BYTES {
            self.flush().await?;
        }
        Ok(())
    }
}

/// Prepares export `id` of `user` on this shard, in the background (one of
/// `privacy.export_concurrency` at a time per process).
pub(crate) fn prepare(state: Rc<ShardState>, user: UserId, id: uuid::Uuid) {
    tokio::task::spawn_local(async move {
        let _permit = std::sync::Arc::clone(&state.app.exports)
            .acquire_owned()
            .await;
        let result = build(&state, user, id).await;
        let bytes = match result {
            Ok(bytes) => {
                tracing::info!(export = %id, bytes, "export ready");
                Some(bytes as i64)
            }
            Err(error) => {
                tracing::warn!(export = %id, %error, "export failed");
                None
            }
        };
        match state.pool.get().await {
            Ok(conn) => {
                if let Err(error) = export::finish(&conn, id, bytes).await {
                    tracing::warn!(export = %id, %error, "export not recorded as finished");
                }
            }
            Err(error) => tracing::warn!(export = %id, %error, "export not recorded as finished"),
        }
    });
}

async fn build(state: &ShardState, user: UserId, id: uuid::Uuid) -> Result<u64, ExportError> {
    let read = state.pool.get().await.map_err(DbError::from)?;
    let write = state.pool.get().await.map_err(DbError::from)?;
    let mut parts = Parts {
        conn: write,
        export: id,
        buffer: Vec::with_capacity(PART_BYTES),
        next: 0,
    };
    let bytes = write_archive(&read, user, &mut parts).await?;
    parts.flush().await?;
    Ok(bytes)
}

/// The body of a taken export: its parts in order, each fetched when the reader has room, then
/// deleted.
pub(crate) fn download(state: Rc<ShardState>, id: uuid::Uuid) -> crate::body::Body {
    let (sender, body) = crate::body::Body::channel(DOWNLOAD_DEPTH);
    tokio::task::spawn_local(async move {
        let mut n = 0;
        loop {
            let part = match state.pool.get().await {
                Ok(conn) => export::part(&conn, id, n).await,
                Err(error) => Err(DbError::from(error)),
            };
            let chunk = match part {
                Ok(Some(chunk)) => Bytes::from(chunk),
                Ok(None) => break,
                Err(error) => {
                    tracing::warn!(export = %id, %error, "export download cut short");
                    return;
                }
            };
            match tokio::time::timeout(READER_PATIENCE, sender.send(chunk)).await {
                Ok(Ok(())) => n += 1,
                // The reader went away or stalled: the download is over.
                _ => {
                    tracing::info!(export = %id, "export download abandoned by its reader");
                    break;
                }
            }
        }
        if let Ok(conn) = state.pool.get().await
            && let Err(error) = export::drop_parts(&conn, id).await
        {
            tracing::warn!(export = %id, %error, "export parts not deleted");
        }
    });
    body
}
