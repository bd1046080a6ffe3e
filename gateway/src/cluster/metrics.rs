//! The cluster link's metrics (`parley_cluster_*`), rendered with the rest of `/metrics`.

use parley_shared::metrics::{Counter, Exposition, Gauge};

/// Counters of the link between instances.
#[derive(Debug, Default)]
pub(crate) struct ClusterMetrics {
    /// 1 while both Redis connections are up (0 without Redis, or when it is down).
    pub(crate) redis_up: Gauge,
    pub(crate) published: Counter,
    /// Events that could not be published (queue full, Redis down): receivers repair.
    pub(crate) publish_failed: Counter,
    pub(crate) received: Counter,
    /// Events lost on the receiving side (the receive buffer overflowed) or not understood.
    pub(crate) receive_lost: Counter,
    /// Gaps filled from PostgreSQL, and the messages they delivered.
    pub(crate) repairs: Counter,
    pub(crate) repaired: Counter,
    /// Messages dropped because they had already been delivered.
    pub(crate) duplicates: Counter,
    /// Seqs given up on (PostgreSQL did not have them either; never expected).
    pub(crate) skipped: Counter,
    /// Rate-limit or presence commands answered locally because Redis was unreachable or slow.
    pub(crate) fallbacks: Counter,
    /// Times a Redis connection was re-established.
    pub(crate) reconnects: Counter,
    /// Messages and changes from other instances with no recipient connected here (not delivered).
    pub(crate) unwanted: Counter,
}

impl ClusterMetrics {
    pub(crate) fn render(&self, out: &mut Exposition) {
        out.family(
            "parley_cluster_redis_up",
            "gauge",
            "1 while this instance's Redis connections are up.",
        )
        .sample("parley_cluster_redis_up", "", self.redis_up.get());
        let counters: [(&str, &str, &Counter); 11] = [
            (
                "parley_cluster_published_total",
                "Events published to the other instances.",
                &self.published,
            ),
            (
                "parley_cluster_publish_failed_total",
                "Events that could not be published (receivers repair from PostgreSQL).",
                &self.publish_failed,
            ),
            (
                "parley_cluster_received_total",
                "Events received from other instances.",
                &self.received,
            ),
            (
                "parley_cluster_receive_lost_total",
                "Events lost on receipt (buffer overflow, undecodable); repaired from PostgreSQL.",
                &self.receive_lost,
            ),
            (
                "parley_cluster_repairs_total",
                "Delivery gaps filled from PostgreSQL.",
                &self.repairs,
            ),
            (
                "parley_cluster_repaired_messages_total",
                "Messages delivered by gap repairs.",
                &self.repaired,
            ),
            (
                "parley_cluster_duplicates_total",
                "Messages dropped because they had already been delivered.",
                &self.duplicates,
            ),
            (
                "parley_cluster_skipped_total",
                "Seqs given up on by a repair (never expected).",
                &self.skipped,
            ),
            (
                "parley_cluster_fallbacks_total",
                "Rate-limit or presence commands answered locally (Redis unreachable or slow).",
                &self.fallbacks,
            ),
            (
                "parley_cluster_reconnects_total",
                "Times a Redis connection was re-established.",
                &self.reconnects,
            ),
            (
                "parley_cluster_unwanted_total",
                "Messages and changes from other instances with no recipient connected here.",
                &self.unwanted,
            ),
        ];
        for (name, help, counter) in counters {
            out.family(name, "counter", help)
                .sample(name, "", counter.get());
        }
    }
}
