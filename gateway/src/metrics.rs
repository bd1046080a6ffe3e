//! The gateway's metrics registry, handed to every shard, the bus and the persister, and its
//! `/metrics` rendering in Prometheus text format. Names start with `parley_`.

use std::sync::Arc;

use parley_persister::writer::PersisterMetrics;
use parley_shared::metrics::{Counter, Exposition, Gauge};

/// Why uploads are refused, as `parley_upload_refusals_total` labels them.
pub const UPLOAD_REFUSALS: [&str; 10] = [
    "too_large",
    "quota",
    "image_too_large",
    "malformed",
    "slow",
    "aborted",
    "busy",
    "empty",
    "rate_limited",
    "error",
];

/// Results a send can have, in the order they are rendered.
pub const SEND_RESULTS: [&str; 8] = [
    "stored",
    "duplicate",
    "VALIDATION_ERROR",
    "NOT_FOUND",
    "RATE_LIMITED",
    "OVERLOADED",
    "DB_ERROR",
    "INTERNAL_ERROR",
];

/// The push outbox's counters.
#[derive(Debug, Default)]
pub(crate) struct PushMetrics {
    pub(crate) enqueued: Counter,
    pub(crate) sent: Counter,
    pub(crate) failed: Counter,
    pub(crate) dead: Counter,
    pub(crate) gone: Counter,
}

/// Every metric of one process.
#[derive(Debug)]
pub struct Metrics {
    pub(crate) ws_connections: Vec<Gauge>,
    pub(crate) http_requests: Counter,
    pub(crate) frames_in: Counter,
    pub(crate) frames_out: Counter,
    pub(crate) sends: [Counter; SEND_RESULTS.len()],
    pub(crate) dropped_ephemeral: Counter,
    pub(crate) resync_closes: Counter,
    /// Presence changes published (after coalescing).
    pub(crate) presence_updates: Counter,
    /// `notification:toast`s sent (one per user and toast, however many connections get it).
    pub(crate) toasts: Counter,
    /// The push outbox and its deliveries.
    pub(crate) push: PushMetrics,
    pub(crate) fanout_overflows: Counter,
    /// Connections refused at accept: past `max_connections`, past `max_connections_per_ip`.
    pub(crate) refused: [Counter; 2],
    /// Request bodies that stalled or trickled (408).
    pub(crate) body_timeouts: Counter,
    /// WebSocket events refused by a rate limit (typing dropped included).
    pub(crate) ws_rate_limited: Counter,
    /// Times the embedded PostgreSQL died and was started again.
    pub(crate) embedded_restarts: Counter,
    /// From a message's COMMIT to its frames queued on the local members' connections (per
    /// shard).
    pub(crate) commit_to_delivery_seconds: parley_shared::metrics::Histogram,
    pub(crate) persister: Arc<PersisterMetrics>,
    /// Messages deleted by the retention sweep.
    pub(crate) retention_deleted: Counter,
    /// Uploads accepted, and refused by reason (one of [`UPLOAD_REFUSALS`]).
    pub(crate) uploads: Counter,
    pub(crate) upload_refusals: [Counter; UPLOAD_REFUSALS.len()],
    pub(crate) upload_bytes: Counter,
    /// Uploads removed by the sweep.
    pub(crate) uploads_swept: Counter,
    /// The link between instances (Redis).
    pub(crate) cluster: crate::cluster::ClusterMetrics,
}

impl Metrics {
    /// A registry for `shards` shards.
    pub fn new(shards: usize) -> Self {
        Self {
            ws_connections: (0..shards).map(|_| Gauge::default()).collect(),
            http_requests: Counter::default(),
            frames_in: Counter::default(),
            frames_out: Counter::default(),
            sends: Default::default(),
            dropped_ephemeral: Counter::default(),
            resync_closes: Counter::default(),
            presence_updates: Counter::default(),
            toasts: Counter::default(),
            push: PushMetrics::default(),
            fanout_overflows: Counter::default(),
            refused: Default::default(),
            body_timeouts: Counter::default(),
            ws_rate_limited: Counter::default(),
            embedded_restarts: Counter::default(),
            commit_to_delivery_seconds: parley_shared::metrics::Histogram::new(
                parley_shared::metrics::SECONDS,
            ),
            persister: Arc::default(),
            retention_deleted: Counter::default(),
            uploads: Counter::default(),
            upload_refusals: Default::default(),
            upload_bytes: Counter::default(),
            uploads_swept: Counter::default(),
            cluster: crate::cluster::ClusterMetrics::default(),
        }
    }

    /// The persister's part, to give to `WriterSettings`.
    pub fn persister(&self) -> Arc<PersisterMetrics> {
        Arc::clone(&self.persister)
    }

    /// Counts one upload refused for `reason` (one of [`UPLOAD_REFUSALS`]).
    pub(crate) fn upload_refused(&self, reason: &str) {
        if let Some(index) = UPLOAD_REFUSALS.iter().position(|r| *r == reason) {
            self.upload_refusals[index].inc();
        }
    }

    /// Counts one send with `result` (one of [`SEND_RESULTS`]).
    pub(crate) fn send(&self, result: &str) {
        if let Some(index) = SEND_RESULTS.iter().position(|r| *r == result) {
            self.sends[index].inc();
        }
    }

    /// Counts a connection refused at accept.
    pub(crate) fn connection_refused(&self, refusal: crate::permits::Refusal) {
        let index = match refusal {
            crate::permits::Refusal::Full => 0,
            crate::permits::Refusal::PerIp => 1,
        };
        self.refused[index].inc();
    }

    /// The exposition, with the persister queue depth and the open connections read now.
    pub(crate) fn render(&self, queued: usize, open: usize) -> String {
        let mut out = Exposition::default();
        out.family(
            "parley_connections_open",
            "gauge",
            "Connections held now (HTTP and WebSocket, against server.max_connections).",
        )
        .sample("parley_connections_open", "", open);
        out.family(
            "parley_ws_connections",
            "gauge",
            "Open WebSocket connections, per shard.",
        );
        for (shard, gauge) in self.ws_connections.iter().enumerate() {
            out.sample(
                "parley_ws_connections",
                &format!("shard=\"{shard}\""),
                gauge.get(),
            );
        }
        out.family(
            "parley_http_requests_total",
            "counter",
            "HTTP requests served (WebSocket upgrades included).",
        )
        .sample("parley_http_requests_total", "", self.http_requests.get());
        out.family(
            "parley_ws_frames_total",
            "counter",
            "WebSocket text frames, by direction.",
        )
        .sample(
            "parley_ws_frames_total",
            "direction=\"in\"",
            self.frames_in.get(),
        )
        .sample(
            "parley_ws_frames_total",
            "direction=\"out\"",
            self.frames_out.get(),
        );
        out.family(
            "parley_toasts_total",
            "counter",
            "notification:toast events sent (per user and toast).",
        )
        .sample("parley_toasts_total", "", self.toasts.get());
        out.family(
            "parley_push_total",
            "counter",
            "Push deliveries: enqueued (put in the outbox), sent (2xx), failed (an attempt), dead (dead-lettered), gone (the device was removed).",
        );
        for (result, counter) in [
            ("enqueued", &self.push.enqueued),
            ("sent", &self.push.sent),
            ("failed", &self.push.failed),
            ("dead", &self.push.dead),
            ("gone", &self.push.gone),
        ] {
            out.sample(
                "parley_push_total",
                &format!("result=\"{result}\""),
                counter.get(),
            );
        }
        out.family(
            "parley_sends_total",
            "counter",
            "Message sends (REST and WebSocket) by result: stored, duplicate, or the error code.",
        );
        for (result, counter) in SEND_RESULTS.iter().zip(&self.sends) {
            out.sample(
                "parley_sends_total",
                &format!("result=\"{result}\""),
                counter.get(),
            );
        }
        out.family(
            "parley_ws_dropped_ephemeral_total",
            "counter",
            "Typing/presence frames dropped because a connection's queue was full.",
        )
        .sample(
            "parley_ws_dropped_ephemeral_total",
            "",
            self.dropped_ephemeral.get(),
        );
        out.family(
            "parley_ws_resync_closes_total",
            "counter",
            "Connections closed with 4409 because they fell behind.",
        )
        .sample(
            "parley_ws_resync_closes_total",
            "",
            self.resync_closes.get(),
        );
        out.family(
            "parley_presence_updates_total",
            "counter",
            "Presence changes published to watchers (after coalescing and the offline grace).",
        )
        .sample(
            "parley_presence_updates_total",
            "",
            self.presence_updates.get(),
        );
        out.family(
            "parley_fanout_overflows_total",
            "counter",
            "Times a shard's fan-out inbox was full (its connections were told to resync).",
        )
        .sample(
            "parley_fanout_overflows_total",
            "",
            self.fanout_overflows.get(),
        );
        out.family(
            "parley_connections_refused_total",
            "counter",
            "Connections refused at accept (503), by the cap that refused them.",
        )
        .sample(
            "parley_connections_refused_total",
            "reason=\"max_connections\"",
            self.refused[0].get(),
        )
        .sample(
            "parley_connections_refused_total",
            "reason=\"max_connections_per_ip\"",
            self.refused[1].get(),
        );
        out.family(
            "parley_http_body_timeouts_total",
            "counter",
            "Request bodies that stalled or arrived below server.body_min_rate (408).",
        )
        .sample(
            "parley_http_body_timeouts_total",
            "",
            self.body_timeouts.get(),
        );
        out.family(
            "parley_ws_rate_limited_total",
            "counter",
            "WebSocket events refused (RATE_LIMITED) or dropped (typing) by a rate limit.",
        )
        .sample(
            "parley_ws_rate_limited_total",
            "",
            self.ws_rate_limited.get(),
        );
        out.family(
            "parley_embedded_pg_restarts_total",
            "counter",
            "Times the embedded PostgreSQL exited unexpectedly and was started again.",
        )
        .sample(
            "parley_embedded_pg_restarts_total",
            "",
            self.embedded_restarts.get(),
        );
        out.family(
            "parley_persister_queue_depth",
            "gauge",
            "Sends waiting for the persister.",
        )
        .sample("parley_persister_queue_depth", "", queued);
        out.histogram(
            "parley_persister_batch_size",
            "Sends per committed transaction.",
            &self.persister.batch_size,
        );
        out.histogram(
            "parley_persister_commit_seconds",
            "Time from BEGIN to COMMIT returned.",
            &self.persister.commit_seconds,
        );
        out.histogram(
            "parley_persister_send_to_commit_seconds",
            "Time from a send queued for the persister to its batch's COMMIT returned (or failed).",
            &self.persister.send_to_commit_seconds,
        );
        out.histogram(
            "parley_fanout_commit_to_delivery_seconds",
            "Time from a message's COMMIT to its frames queued on the local members' connections, per shard.",
            &self.commit_to_delivery_seconds,
        );
        out.family(
            "parley_persister_failed_attempts_total",
            "counter",
            "Batch attempts that failed (each retry counts).",
        )
        .sample(
            "parley_persister_failed_attempts_total",
            "",
            self.persister.failed_attempts.get(),
        );
        out.family(
            "parley_search_indexed_total",
            "counter",
            "Messages added to the full-text search index (behind the writer).",
        )
        .sample(
            "parley_search_indexed_total",
            "",
            self.persister.search_indexed.get(),
        );
        out.family(
            "parley_search_index_failures_total",
            "counter",
            "Search indexing statements that failed (the work is retried).",
        )
        .sample(
            "parley_search_index_failures_total",
            "",
            self.persister.search_index_failures.get(),
        );
        out.family(
            "parley_retention_deleted_total",
            "counter",
            "Messages deleted because they were older than their conversation keeps them.",
        )
        .sample(
            "parley_retention_deleted_total",
            "",
            self.retention_deleted.get(),
        );
        out.family("parley_uploads_total", "counter", "Uploads accepted.")
            .sample("parley_uploads_total", "", self.uploads.get());
        out.family(
            "parley_upload_refusals_total",
            "counter",
            "Uploads refused, by reason.",
        );
        for (reason, counter) in UPLOAD_REFUSALS.iter().zip(&self.upload_refusals) {
            out.sample(
                "parley_upload_refusals_total",
                &format!("reason=\"{reason}\""),
                counter.get(),
            );
        }
        out.family(
            "parley_upload_bytes_total",
            "counter",
            "Bytes of accepted uploads, as stored.",
        )
        .sample("parley_upload_bytes_total", "", self.upload_bytes.get());
        out.family(
            "parley_uploads_swept_total",
            "counter",
            "Uploads removed because no message holds them.",
        )
        .sample("parley_uploads_swept_total", "", self.uploads_swept.get());
        self.cluster.render(&mut out);
        out.finish()
    }
}
