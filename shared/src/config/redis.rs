//! `[redis]`: the broker that joins several gateway instances. Empty `url`: one instance, no
//! Redis, the in-process implementations.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::duration::serde_human;

/// `[redis]`.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RedisConfig {
    /// `redis://[:password@]host:port[/db]`; empty: a single instance without Redis.
    pub url: String,
    /// Every instance of one deployment uses the same prefix (keys and channels start with it).
    pub prefix: String,
    /// How long a message that arrived ahead of its conversation's next `seq` is held before the
    /// gap is repaired from PostgreSQL.
    #[serde(with = "serde_human")]
    pub reorder_hold: Duration,
    /// Conversations whose delivery order this instance tracks; the least recently active is
    /// forgotten beyond it (its next message is held once, briefly).
    pub max_tracked: usize,
    /// Events received from Redis waiting to be decoded (fred's broadcast channel); a burst past
    /// it is counted as loss and repaired from PostgreSQL.
    pub receive_capacity: usize,
    /// Events waiting to be published; past it they are counted as lost (receivers repair).
    pub publish_queue: usize,
    /// A rate-limit or presence command slower than this falls back to the local answer.
    #[serde(with = "serde_human")]
    pub command_timeout: Duration,
    /// How long an instance's presence entries and liveness outlive its last refresh (a crashed
    /// instance's users go offline after it).
    #[serde(with = "serde_human")]
    pub instance_ttl: Duration,
}

impl Default for RedisConfig {
    fn default() -> Self {
        Self {
            url: String::new(),
            prefix: "parley".to_owned(),
            reorder_hold: Duration::from_millis(40),
            max_tracked: 100_000,
            receive_capacity: 65_536,
            publish_queue: 65_536,
            command_timeout: Duration::from_millis(250),
            instance_ttl: Duration::from_secs(30),
        }
    }
}

impl std::fmt::Debug for RedisConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisConfig")
            .field("url", &super::redact_url(&self.url))
            .field("prefix", &self.prefix)
            .field("reorder_hold", &self.reorder_hold)
            .finish_non_exhaustive()
    }
}

impl RedisConfig {
    /// Whether instances are joined through Redis.
    pub fn enabled(&self) -> bool {
        !self.url.trim().is_empty()
    }

    /// Checks the section; `Err((key, message))` names the first bad key.
    pub(super) fn check(&self) -> Result<(), (&'static str, &'static str)> {
        if !self.enabled() {
            return Ok(());
        }
        let url = self.url.trim();
        if !(url.starts_with("redis://") || url.starts_with("rediss://")) {
            return Err(("redis.url", "must start with redis:// (or be empty)"));
        }
        if url.starts_with("rediss://") {
            return Err(("redis.url", "TLS to Redis (rediss://) is not supported yet"));
        }
        if self.prefix.is_empty()
            || !self
                .prefix
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(("redis.prefix", "must be letters, digits, - or _"));
        }
        if self.reorder_hold.is_zero() || self.reorder_hold > Duration::from_secs(5) {
            return Err(("redis.reorder_hold", "must be between 1ms and 5s"));
        }
        if self.command_timeout.is_zero() {
            return Err(("redis.command_timeout", "must be longer than 0"));
        }
        if self.instance_ttl < Duration::from_secs(3) {
            return Err(("redis.instance_ttl", "must be at least 3s"));
        }
        for (key, value) in [
            ("redis.max_tracked", self.max_tracked),
            ("redis.receive_capacity", self.receive_capacity),
            ("redis.publish_queue", self.publish_queue),
        ] {
            if value == 0 {
                return Err((key, "must be at least 1"));
            }
        }
        Ok(())
    }
}
