//! The uploads sweep: on shard 0 of each instance, every `uploads.sweep_interval`, uploads no
//! message holds (never attached within `uploads.unattached_ttl`, or whose messages were all
//! deleted) are deleted, then their blobs and thumbnails if no other upload uses the same bytes
//! (`store::uploads::collect_blob`, under the blob's lock, so a concurrent upload of the same
//! bytes keeps them). Once a day, and first a minute after start, the store itself is walked for
//! blobs no upload uses (an upload cut off between its blob and its row by a crash).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use parley_persister::Pool;
use parley_persister::store::uploads;

use super::BlobStore;
use crate::app::App;
use crate::shutdown::Shutdown;

/// Rows deleted per statement.
const BATCH: i64 = 500;
/// Blobs looked at per walk of the store.
const WALK: usize = 100_000;
/// How often the store is walked for orphans.
const WALK_EVERY: Duration = Duration::from_secs(24 * 3600);
/// A blob this recent may belong to an upload still being recorded: left for the next walk.
const SETTLE: Duration = Duration::from_secs(3600);

/// Runs sweeps until shutdown.
pub(crate) async fn run(app: Arc<App>, pool: Pool, mut shutdown: Shutdown) {
    let mut ticker = tokio::time::interval(app.uploads.sweep_interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut next_walk = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        tokio::select! {
            () = shutdown.triggered() => return,
            _ = ticker.tick() => {}
        }
        let walk = tokio::time::Instant::now() >= next_walk;
        if walk {
            next_walk = tokio::time::Instant::now() + WALK_EVERY;
        }
        let sweep = sweep(&app, &pool, walk);
        tokio::select! {
            () = shutdown.triggered() => return,
            () = sweep => {}
        }
    }
}

async fn sweep(app: &App, pool: &Pool, walk: bool) {
    let mut conn = match pool.get().await {
        Ok(conn) => conn,
        Err(error) => {
            tracing::debug!(%error, "uploads sweep: no database connection");
            return;
        }
    };
    let ttl = i64::try_from(app.uploads.unattached_ttl.as_secs()).unwrap_or(i64::MAX);
    let mut shas = BTreeSet::new();
    loop {
        match uploads::sweep(&conn, ttl, BATCH).await {
            Ok(found) if found.is_empty() => break,
            Ok(found) => {
                app.metrics.uploads_swept.add(found.len() as u64);
                shas.extend(found);
            }
            Err(error) => {
                tracing::warn!(%error, "uploads sweep failed; next time");
                return;
            }
        }
    }
    if walk {
        match app.files.older_than(SETTLE, WALK).await {
            Ok(keys) => shas.extend(keys.iter().map(|key| super::sha_of(key).to_owned())),
            Err(error) => tracing::warn!(%error, "walking the file store failed"),
        }
    }
    let mut removed = 0u64;
    for sha in shas {
        let remove = remove_all(&*app.files, &sha);
        match uploads::collect_blob(&mut conn, &sha, remove).await {
            Ok(Ok(true)) => removed += 1,
            Ok(Ok(false)) => {}
            Ok(Err(error)) => tracing::warn!(%error, "removing a file failed; next time"),
            Err(error) => {
                tracing::warn!(%error, "uploads sweep failed; next time");
                return;
            }
        }
    }
    if removed > 0 {
        tracing::info!(files = removed, "unused uploaded files removed");
    }
}

/// Removes blob `sha` and its thumbnails.
async fn remove_all(store: &dyn BlobStore, sha: &str) -> std::io::Result<()> {
    for size in super::thumbs::SIZES {
        store.remove(&format!("{sha}.t{size}")).await?;
    }
    store.remove(sha).await
}
