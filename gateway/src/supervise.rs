//! Supervision of the embedded PostgreSQL: `serve` checks the postmaster it started every
//! [`CHECK_EVERY`]; if it died, it starts it again on the same data dir (crash recovery replays the
//! WAL) with backoff, logging each attempt and counting restarts in
//! `parley_embedded_pg_restarts_total`. Meanwhile readiness answers 503 (the probe fails) and sends
//! get `DB_ERROR` or `OVERLOADED`, never an ack; lanes and pools reconnect by themselves.

use std::time::Duration;

use parley_persister::embedded::EmbeddedPg;

use crate::metrics::Metrics;

/// How often the postmaster is checked.
const CHECK_EVERY: Duration = Duration::from_millis(250);
/// First wait between failed restarts (doubled each time, up to [`MAX_BACKOFF`]).
const FIRST_BACKOFF: Duration = Duration::from_millis(200);
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// Watches `pg` until the future is dropped (at shutdown), restarting it whenever it dies.
pub(crate) async fn embedded_postgres(
    pg: &mut EmbeddedPg,
    metrics: &Metrics,
    start_timeout: Duration,
) {
    loop {
        tokio::time::sleep(CHECK_EVERY).await;
        if pg.is_running() {
            continue;
        }
        tracing::error!(
            data = %pg.data_dir().display(),
            "the embedded PostgreSQL exited unexpectedly; restarting it"
        );
        metrics.embedded_restarts.inc();
        let mut backoff = FIRST_BACKOFF;
        let mut attempt = 1u32;
        // Blocking while it starts (about a second of crash recovery); the main thread has
        // nothing else to do meanwhile but wait for a stop signal, which waits for this.
        while let Err(error) = pg.respawn(start_timeout) {
            tracing::warn!(%error, attempt, retry_in = ?backoff, "the embedded PostgreSQL did not come back yet");
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
            attempt += 1;
        }
        tracing::info!(attempt, "the embedded PostgreSQL is back");
    }
}
