//! `[privacy]`: what a user's data export and account deletion do (issue 18).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::duration::serde_human;

/// `[privacy]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PrivacyConfig {
    /// Deleting an account deletes its messages too; `false` keeps them, content removed, as a
    /// deleted user's (the conversation's seqs stay whole).
    pub delete_messages: bool,
    /// How long a prepared export waits for its one download.
    #[serde(with = "serde_human")]
    pub export_expiry: Duration,
    /// Exports one process prepares at once (others wait their turn).
    pub export_concurrency: usize,
}

impl Default for PrivacyConfig {
    fn default() -> Self {
        Self {
            delete_messages: false,
            export_expiry: Duration::from_secs(24 * 3600),
            export_concurrency: 1,
        }
    }
}

impl PrivacyConfig {
    /// Checks the section; `Err((key, message))` names the first bad key.
    pub(super) fn check(&self) -> Result<(), (&'static str, &'static str)> {
        if self.export_expiry < Duration::from_secs(60)
            || self.export_expiry > Duration::from_secs(30 * 86_400)
        {
            return Err(("privacy.export_expiry", "must be between 1m and 30d"));
        }
        if self.export_concurrency == 0 {
            return Err(("privacy.export_concurrency", "must be at least 1"));
        }
        Ok(())
    }
}
