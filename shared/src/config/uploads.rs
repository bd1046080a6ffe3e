//! `[uploads]`: files and images attached to messages (issue 19): where their bytes live (the
//! data dir, or an S3-compatible bucket that several instances share), how large, how many bytes
//! per user, how many at once, which images are refused unread, and when unheld uploads go.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::duration::serde_human;

/// `[uploads]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UploadsConfig {
    /// `local` (under `<data_dir>/files`; one instance) or `s3` (the bucket below).
    pub store: String,
    /// The S3-compatible endpoint (`https://s3.eu-west-1.amazonaws.com`, a MinIO or Garage URL).
    pub s3_endpoint: String,
    pub s3_bucket: String,
    pub s3_region: String,
    /// Keys inside the bucket start with this (e.g. `parley/`).
    pub s3_prefix: String,
    pub s3_access_key_id: String,
    pub s3_secret_access_key: String,
    /// Allow a plain `http://` endpoint (a store on the same host or a private network).
    pub s3_allow_http: bool,
    /// Largest upload, in bytes.
    pub max_bytes: u64,
    /// Bytes one user's uploads may hold together.
    pub quota_bytes: u64,
    /// Uploads this instance receives at once.
    pub concurrency: usize,
    /// Largest image, in pixels (width × height from its header).
    pub max_pixels: u64,
    /// Largest image width or height.
    pub max_dimension: u32,
    /// An upload no message holds is removed after this long.
    #[serde(with = "serde_human")]
    pub unattached_ttl: Duration,
    /// How often unheld uploads and their files are removed.
    #[serde(with = "serde_human")]
    pub sweep_interval: Duration,
}

impl Default for UploadsConfig {
    fn default() -> Self {
        Self {
            store: "local".to_owned(),
            s3_endpoint: String::new(),
            s3_bucket: String::new(),
            s3_region: "us-east-1".to_owned(),
            s3_prefix: String::new(),
            s3_access_key_id: String::new(),
            s3_secret_access_key: String::new(),
            s3_allow_http: false,
            max_bytes: 25 * 1024 * 1024,
            quota_bytes: 1024 * 1024 * 1024,
            concurrency: 32,
            max_pixels: 50_000_000,
            max_dimension: 16_384,
            unattached_ttl: Duration::from_secs(24 * 3600),
            sweep_interval: Duration::from_secs(600),
        }
    }
}

/// An upload this close to `unattached_ttl` can no longer be attached, so the sweep never
/// removes an upload that a send in flight is about to link.
const ATTACH_MARGIN: Duration = Duration::from_secs(3600);

impl UploadsConfig {
    /// Checks the section; `Err((key, message))` names the first bad key.
    pub(super) fn check(&self) -> Result<(), (&'static str, &'static str)> {
        match self.store.as_str() {
            "local" => {}
            "s3" => {
                if self.s3_bucket.is_empty() {
                    return Err((
                        "uploads.s3_bucket",
                        "must name the bucket when uploads.store is s3",
                    ));
                }
                if self.s3_endpoint.starts_with("http://") && !self.s3_allow_http {
                    return Err((
                        "uploads.s3_endpoint",
                        "is plain http: set uploads.s3_allow_http = true to allow it",
                    ));
                }
            }
            _ => return Err(("uploads.store", "must be \"local\" or \"s3\"")),
        }
        if self.max_bytes == 0 {
            return Err(("uploads.max_bytes", "must be at least 1"));
        }
        if self.quota_bytes < self.max_bytes {
            return Err(("uploads.quota_bytes", "must be at least uploads.max_bytes"));
        }
        if self.concurrency == 0 {
            return Err(("uploads.concurrency", "must be at least 1"));
        }
        if self.max_pixels == 0 || self.max_dimension == 0 {
            return Err((
                "uploads.max_pixels",
                "must be at least 1 (and max_dimension too)",
            ));
        }
        if self.unattached_ttl < ATTACH_MARGIN * 2 {
            return Err(("uploads.unattached_ttl", "must be at least 2h"));
        }
        if self.sweep_interval.is_zero() {
            return Err(("uploads.sweep_interval", "must be longer than 0"));
        }
        Ok(())
    }

    /// How old an upload may be and still be attached.
    pub fn attachable_for(&self) -> Duration {
        self.unattached_ttl.saturating_sub(ATTACH_MARGIN)
    }
}
