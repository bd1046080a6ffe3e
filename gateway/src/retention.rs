//! The retention sweep: on shard 0 of each instance, every `retention.interval`, expired
//! messages are deleted in batches (`store::retention`), behind the writer and never on the send
//! path; one instance at a time sweeps (a PostgreSQL advisory lock). Counted in
//! `parley_retention_deleted_total`. Expired data exports' archives are deleted on the same tick.

use std::sync::Arc;

use parley_persister::Pool;
use parley_persister::store::retention;

use crate::app::App;
use crate::shutdown::Shutdown;

/// Runs sweeps until shutdown (nothing to do when no retention is set anywhere: the sweep's
/// first query finds no conversation).
pub(crate) async fn run(app: Arc<App>, pool: Pool, mut shutdown: Shutdown) {
    let config = app.retention.clone();
    let mut ticker = tokio::time::interval(config.interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.triggered() => return,
            _ = ticker.tick() => {}
        }
        let mut conn = match pool.get().await {
            Ok(conn) => conn,
            Err(error) => {
                tracing::debug!(%error, "retention sweep: no database connection");
                continue;
            }
        };
        let batch = i64::try_from(config.batch).unwrap_or(i64::MAX);
        let sweep = retention::sweep(&mut conn, config.messages, batch);
        let result = tokio::select! {
            () = shutdown.triggered() => return,
            result = sweep => result,
        };
        // Expired and abandoned exports' archives go at the same pace.
        if let Err(error) = parley_persister::store::export::sweep(&conn).await {
            tracing::warn!(%error, "export sweep failed; next time");
        }
        match result {
            Ok(Some(swept)) => {
                app.metrics.retention_deleted.add(swept.messages);
                if swept.messages > 0 {
                    tracing::info!(
                        messages = swept.messages,
                        conversations = swept.conversations,
                        "expired messages deleted"
                    );
                }
            }
            // Another instance is sweeping.
            Ok(None) => {}
            Err(error) => tracing::warn!(%error, "retention sweep failed; next time"),
        }
    }
}
