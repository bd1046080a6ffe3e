//! `[notifications]`: how connected users hear of messages beyond their badges.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::duration::serde_human;

/// `[notifications]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NotificationsConfig {
    /// After a toast for a conversation, further messages there within this long are gathered
    /// into one toast at its end ("3 new messages"), so a busy conversation toasts at most about
    /// twice per window per user.
    #[serde(with = "serde_human")]
    pub toast_group_window: Duration,
}

impl Default for NotificationsConfig {
    fn default() -> Self {
        Self {
            toast_group_window: Duration::from_secs(3),
        }
    }
}

impl NotificationsConfig {
    /// Checks the section; `Err((key, message))` names the first bad key.
    pub(super) fn check(&self) -> Result<(), (&'static str, &'static str)> {
        if self.toast_group_window.is_zero() || self.toast_group_window > Duration::from_secs(60) {
            return Err((
                "notifications.toast_group_window",
                "must be between 1ms and 60s",
            ));
        }
        Ok(())
    }
}
