//! `[retention]`: how long messages are kept (issue 18). Each conversation keeps the shorter of
//! `messages` and its own setting; a sweep deletes what is older.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::duration::serde_human;

/// `[retention]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetentionConfig {
    /// Messages older than this are deleted everywhere; `"0"`: kept (conversations may still
    /// set their own).
    #[serde(with = "serde_human")]
    pub messages: Duration,
    /// How often the sweep runs.
    #[serde(with = "serde_human")]
    pub interval: Duration,
    /// Messages deleted per transaction.
    pub batch: usize,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        Self {
            messages: Duration::ZERO,
            interval: Duration::from_secs(3600),
            batch: 1000,
        }
    }
}

impl RetentionConfig {
    /// Checks the section; `Err((key, message))` names the first bad key.
    pub(super) fn check(&self) -> Result<(), (&'static str, &'static str)> {
        if !self.messages.is_zero() && self.messages < Duration::from_secs(1) {
            return Err(("retention.messages", "must be \"0\" (keep) or at least 1s"));
        }
        if self.interval.is_zero() {
            return Err(("retention.interval", "must be longer than 0"));
        }
        if self.batch == 0 {
            return Err(("retention.batch", "must be at least 1"));
        }
        Ok(())
    }
}
