//! Parley's shared vocabulary: configuration types, the error catalog and small value parsers.
//!
//! This crate does no I/O: it never opens a file, a socket or a database connection. Callers read
//! bytes and environment variables and hand them in.

pub mod cidr;
pub mod config;
pub mod duration;
pub mod error;
pub mod hash;
pub mod ids;
pub mod libpq;
pub mod mentions;
pub mod metrics;
pub mod policy;
pub mod rate;
pub mod send;
pub mod sniff;
pub mod text;
pub mod time;

pub use config::{Config, ConfigError};
pub use error::{ErrorBody, ErrorCode};
pub use ids::{
    AttachmentId, ConversationId, DeviceId, ExportId, IdError, InstanceId, MessageId, ReportId,
    SessionId, UserId,
};
pub use rate::Rate;
