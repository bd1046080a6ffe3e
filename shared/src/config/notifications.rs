//! `[notifications]`: how users hear of messages beyond their badges: toasts to connected users,
//! and push to the devices of users with no connection, through a signed webhook to the
//! operator's push gateway.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::duration::serde_human;

/// `notifications.push_content`: how much of a message a push carries past the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PushContent {
    /// The conversation's title and the text (cut to 100 characters).
    #[serde(alias = "preview")]
    Full,
    /// The conversation's title (a DM's is the sender's name); "New message" as the text.
    Sender,
    /// "New message" only.
    #[serde(alias = "hidden")]
    None,
}

/// `[notifications]`.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NotificationsConfig {
    /// After a toast for a conversation, further messages there within this long are gathered
    /// into one toast at its end ("3 new messages"), so a busy conversation toasts at most about
    /// twice per window per user.
    #[serde(with = "serde_human")]
    pub toast_group_window: Duration,
    /// Where pushes for devices of `kind: "webhook"` are POSTed (`http://` or `https://`); empty:
    /// no push, and devices cannot be registered.
    pub webhook_url: String,
    /// The key each webhook request is signed with (HMAC-SHA256, `Parley-Signature`); required
    /// with `webhook_url`, at least 32 characters.
    pub webhook_secret: String,
    /// What a push says: `full` (the title and the text cut to 100 characters), `sender` (the
    /// title, "New message" as the text) or `none` ("New message" only: neither names nor text
    /// leave the server).
    pub push_content: PushContent,
    /// Committed messages are gathered this long before the outbox looks at them.
    #[serde(with = "serde_human")]
    pub push_interval: Duration,
    /// Messages older than this are never pushed (after an outage, only what is still news).
    #[serde(with = "serde_human")]
    pub push_max_age: Duration,
    /// Attempts per delivery before it is dead-lettered.
    pub push_attempts: u32,
    /// The wait after the first failed attempt, doubled after each (up to `push_retry_max`).
    #[serde(with = "serde_human")]
    pub push_retry_base: Duration,
    #[serde(with = "serde_human")]
    pub push_retry_max: Duration,
    /// One webhook request's deadline (connect, TLS, answer).
    #[serde(with = "serde_human")]
    pub push_timeout: Duration,
    /// Deliveries in flight at once.
    pub push_concurrency: usize,
    /// Web Push (RFC 8030) to browsers: the contact the push services see in each request's VAPID
    /// token (`mailto:` or `https:`); empty: no Web Push, and browsers cannot subscribe.
    pub vapid_subject: String,
    /// The VAPID private key (PKCS#8, base64url); empty: `parley serve` generates one into the data
    /// dir (`vapid.key`) and uses it from then on.
    pub vapid_private_key: String,
    /// Hosts a browser's push endpoint may be at (exact, or `*.` and a suffix): the push services.
    /// Parley POSTs to what browsers hand it, so nothing else is allowed.
    pub webpush_hosts: Vec<String>,
    /// Allow `http://` push endpoints (tests with a local push service; never in production).
    pub webpush_allow_http: bool,
}

impl Default for NotificationsConfig {
    fn default() -> Self {
        Self {
            toast_group_window: Duration::from_secs(3),
            webhook_url: String::new(),
            webhook_secret: String::new(),
            push_content: PushContent::Full,
            push_interval: Duration::from_millis(250),
            push_max_age: Duration::from_secs(3600),
            push_attempts: 8,
            push_retry_base: Duration::from_secs(2),
            push_retry_max: Duration::from_secs(600),
            push_timeout: Duration::from_secs(5),
            push_concurrency: 16,
            vapid_subject: String::new(),
            vapid_private_key: String::new(),
            webpush_hosts: vec![
                "fcm.googleapis.com".to_owned(),
                "updates.push.services.mozilla.com".to_owned(),
                "*.push.apple.com".to_owned(),
                "*.notify.windows.com".to_owned(),
            ],
            webpush_allow_http: false,
        }
    }
}

impl std::fmt::Debug for NotificationsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NotificationsConfig")
            .field("toast_group_window", &self.toast_group_window)
            .field("webhook_url", &super::redact_url(&self.webhook_url))
            .field("push_content", &self.push_content)
            .field("vapid_subject", &self.vapid_subject)
            .finish_non_exhaustive()
    }
}

impl NotificationsConfig {
    /// Whether pushes go out (a webhook or Web Push is configured).
    pub fn push_enabled(&self) -> bool {
        self.webhook_enabled() || self.webpush_enabled()
    }

    /// Whether `webhook` devices are pushed to.
    pub fn webhook_enabled(&self) -> bool {
        !self.webhook_url.trim().is_empty()
    }

    /// Whether browsers are pushed to (Web Push).
    pub fn webpush_enabled(&self) -> bool {
        !self.vapid_subject.trim().is_empty()
    }

    /// Whether `host` is one of `webpush_hosts`.
    pub fn webpush_host_allowed(&self, host: &str) -> bool {
        let host = host.to_ascii_lowercase();
        self.webpush_hosts.iter().any(|allowed| {
            let allowed = allowed.to_ascii_lowercase();
            match allowed.strip_prefix("*.") {
                Some(suffix) => host.ends_with(&format!(".{suffix}")),
                None => host == allowed,
            }
        })
    }

    /// Checks the section; `Err((key, message))` names the first bad key.
    pub(super) fn check(&self) -> Result<(), (&'static str, &'static str)> {
        if self.toast_group_window.is_zero() || self.toast_group_window > Duration::from_secs(60) {
            return Err((
                "notifications.toast_group_window",
                "must be between 1ms and 60s",
            ));
        }
        for (key, value) in [
            ("notifications.push_interval", self.push_interval),
            ("notifications.push_max_age", self.push_max_age),
            ("notifications.push_retry_base", self.push_retry_base),
            ("notifications.push_timeout", self.push_timeout),
        ] {
            if value.is_zero() {
                return Err((key, "must be longer than 0"));
            }
        }
        if self.push_retry_max < self.push_retry_base {
            return Err((
                "notifications.push_retry_max",
                "must be at least push_retry_base",
            ));
        }
        if self.push_attempts == 0 || self.push_concurrency == 0 {
            return Err((
                "notifications.push_attempts",
                "push_attempts and push_concurrency must be at least 1",
            ));
        }
        if self.webpush_enabled()
            && !(self.vapid_subject.starts_with("mailto:")
                || self.vapid_subject.starts_with("https:"))
        {
            return Err((
                "notifications.vapid_subject",
                "must be a mailto: or https: contact (or empty)",
            ));
        }
        if !self.webhook_enabled() {
            return Ok(());
        }
        let url = self.webhook_url.trim();
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err((
                "notifications.webhook_url",
                "must start with http:// or https:// (or be empty)",
            ));
        }
        if self.webhook_secret.chars().count() < 32 {
            return Err((
                "notifications.webhook_secret",
                "must be at least 32 characters when webhook_url is set",
            ));
        }
        Ok(())
    }
}
