//! Log output: human-readable text by default, JSON lines with `log.format = "json"`, filtered by
//! `RUST_LOG` or `log.level`. Logs go to stderr; stdout carries only what the CLI prints.

use parley_shared::config::{LogConfig, LogFormat};
use tracing_subscriber::EnvFilter;

/// Why logging could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum LoggingError {
    #[error("invalid value for `log.level`: {0}")]
    Level(String),
    #[error("logging was already set up")]
    AlreadySet,
}

/// Installs the global subscriber. Call once, from `main`.
pub fn init(config: &LogConfig) -> Result<(), LoggingError> {
    let filter = match std::env::var("RUST_LOG") {
        Ok(spec) if !spec.trim().is_empty() => EnvFilter::try_new(spec),
        _ => EnvFilter::try_new(&config.level),
    }
    .map_err(|e| LoggingError::Level(e.to_string()))?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let result = match config.format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
    };
    result.map_err(|_| LoggingError::AlreadySet)
}
