//! The `parley` command line: subcommands, flags and their environment variables, turned into
//! configuration overrides.

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use parley_shared::config::Override;

/// Parley: a real-time chat backend. Acknowledges a message only after PostgreSQL committed it.
#[derive(Debug, Parser)]
#[command(name = "parley", version, about, propagate_version = true)]
pub(crate) struct Cli {
    /// TOML configuration file (every key is documented in config/parley.toml).
    #[arg(long, global = true, env = "PARLEY_CONFIG", value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,
    /// Address for HTTP and WebSocket [default: 127.0.0.1:8080].
    #[arg(long, global = true, env = "PARLEY_LISTEN", value_name = "ADDR")]
    pub(crate) listen: Option<String>,
    /// PostgreSQL URL. Without one, Parley runs its own cluster in the data dir.
    #[arg(
        long,
        global = true,
        env = "PARLEY_DATABASE_URL",
        value_name = "URL",
        hide_env_values = true
    )]
    pub(crate) database_url: Option<String>,
    /// Directory for Parley's state (embedded PostgreSQL, secrets) [default: ./.parley].
    #[arg(long, global = true, env = "PARLEY_DATA_DIR", value_name = "DIR")]
    pub(crate) data_dir: Option<String>,
    /// Number of shards (threads with their own event loop) [default: one per core].
    #[arg(long, global = true, env = "PARLEY_SHARDS", value_name = "N")]
    pub(crate) shards: Option<String>,
    /// Start even if PostgreSQL runs with fsync or synchronous_commit off (acks are then not durable).
    #[arg(long, global = true)]
    pub(crate) allow_unsafe_durability: bool,
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Run the gateway (applies pending migrations first).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Print the effective configuration (secrets redacted) and exit.
    Config,
    /// Print the REST API's OpenAPI 3 document and exit.
    Openapi,
}

impl Cli {
    /// The flags the user gave, as configuration overrides (they beat the file and PARLEY_X__Y).
    pub(crate) fn overrides(&self) -> Vec<Override> {
        let flag = |key: &str, name: &str, value: &Option<String>| {
            value.as_ref().map(|value| Override {
                key: key.to_owned(),
                value: value.clone(),
                origin: format!("--{name} (or its environment variable)"),
            })
        };
        let mut overrides: Vec<Override> = [
            flag("server.listen", "listen", &self.listen),
            flag("database.url", "database-url", &self.database_url),
            flag("server.data_dir", "data-dir", &self.data_dir),
            flag("server.shards", "shards", &self.shards),
        ]
        .into_iter()
        .flatten()
        .collect();
        // The token key is read from the environment only: a flag would show it in `ps`.
        if let Ok(secret) = std::env::var("PARLEY_JWT_SECRET") {
            overrides.push(Override {
                key: "auth.jwt_secret".to_owned(),
                value: secret,
                origin: "environment variable PARLEY_JWT_SECRET".to_owned(),
            });
        }
        if self.allow_unsafe_durability {
            overrides.push(Override {
                key: "database.allow_unsafe_durability".to_owned(),
                value: "true".to_owned(),
                origin: "--allow-unsafe-durability".to_owned(),
            });
        }
        overrides
    }
}
