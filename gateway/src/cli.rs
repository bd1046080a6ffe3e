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
    /// Back up the embedded database (and the generated token secret) into a new directory;
    /// safe while Parley serves.
    Backup {
        /// The directory to create.
        #[arg(long, value_name = "DIR")]
        to: PathBuf,
    },
    /// Moderation from the command line (works while Parley serves; each action is audited).
    Admin {
        #[command(subcommand)]
        action: AdminCommand,
    },
    /// Restore a backup into a fresh data dir (--data-dir), then `parley serve` it.
    Restore {
        /// A directory written by `parley backup`.
        #[arg(long, value_name = "DIR")]
        from: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum AdminCommand {
    /// Make USER a server admin (moderation over REST: deactivate, delete any message, reports,
    /// the audit log).
    Grant { user: String },
    /// Withdraw USER's admin role.
    Ungrant { user: String },
    /// Print a one-time password-reset link for USER (their sessions end when it is used).
    ResetPassword {
        user: String,
        /// How long the link works (e.g. 30m, 24h; at most 7d).
        #[arg(long, default_value = "24h", value_parser = parse_duration)]
        valid: std::time::Duration,
        /// The address users open Parley at [default: http://<server.listen>].
        #[arg(long, value_name = "URL")]
        url: Option<String>,
    },
    /// Deactivate USER: sessions revoked, sockets closed, sign-in refused.
    Deactivate { user: String },
    /// Let a deactivated USER sign in again.
    Reactivate { user: String },
    /// Delete USER's account: signed out, out of every group, their messages' content removed (or
    /// the messages, privacy.delete_messages), their direct messages and the account deleted.
    DeleteUser { user: String },
    /// Write USER's data export (profile, settings, sessions, memberships, their messages and
    /// reactions) as JSON to a new file.
    Export {
        user: String,
        /// The file to create (mode 0600; it must not exist).
        #[arg(long, value_name = "FILE")]
        to: PathBuf,
    },
}

fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    parley_shared::duration::parse_duration(text)
}

impl AdminCommand {
    /// The library's action, with `listen` as the default base URL.
    pub(crate) fn action(&self, listen: std::net::SocketAddr) -> parley_gateway::admin::Action {
        use parley_gateway::admin::Action;
        match self {
            AdminCommand::Grant { user } => Action::Grant { user: user.clone() },
            AdminCommand::Ungrant { user } => Action::Ungrant { user: user.clone() },
            AdminCommand::ResetPassword { user, valid, url } => Action::ResetPassword {
                user: user.clone(),
                valid: *valid,
                base_url: url.clone().unwrap_or_else(|| format!("http://{listen}")),
            },
            AdminCommand::Deactivate { user } => Action::Deactivate { user: user.clone() },
            AdminCommand::Reactivate { user } => Action::Reactivate { user: user.clone() },
            AdminCommand::DeleteUser { user } => Action::DeleteUser { user: user.clone() },
            AdminCommand::Export { user, to } => Action::Export {
                user: user.clone(),
                to: to.clone(),
            },
        }
    }
}

/// Secrets that may come from a file instead (systemd credentials, Kubernetes secrets): the
/// variable named here holds a path, and the file's content (trailing newline trimmed) is the value.
const SECRET_FILES: [(&str, &str, &str); 4] = [
    (
        "PARLEY_JWT_SECRET_FILE",
        "PARLEY_JWT_SECRET",
        "auth.jwt_secret",
    ),
    (
        "PARLEY_DATABASE_URL_FILE",
        "PARLEY_DATABASE_URL",
        "database.url",
    ),
    (
        "PARLEY_METRICS_TOKEN_FILE",
        "PARLEY_METRICS__TOKEN",
        "metrics.token",
    ),
    ("PARLEY_REDIS__URL_FILE", "PARLEY_REDIS__URL", "redis.url"),
];

/// Why the command line or its environment could not be turned into overrides.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CliError {
    #[error("{file_var} and {var} are both set; use one")]
    Both { file_var: String, var: String },
    #[error("could not read {path} (from {file_var}): {source}")]
    Read {
        path: String,
        file_var: String,
        #[source]
        source: std::io::Error,
    },
}

/// The `*_FILE` secrets of `env`, read.
pub(crate) fn secret_files(
    env: impl Fn(&str) -> Option<String>,
) -> Result<Vec<Override>, CliError> {
    let mut overrides = Vec::new();
    for (file_var, var, key) in SECRET_FILES {
        let Some(path) = env(file_var) else {
            continue;
        };
        if env(var).is_some() {
            return Err(CliError::Both {
                file_var: file_var.to_owned(),
                var: var.to_owned(),
            });
        }
        let text = std::fs::read_to_string(&path).map_err(|source| CliError::Read {
            path: path.clone(),
            file_var: file_var.to_owned(),
            source,
        })?;
        overrides.push(Override {
            key: key.to_owned(),
            value: text.trim_end_matches(['\n', '\r']).to_owned(),
            origin: format!("the file named by {file_var}"),
        });
    }
    Ok(overrides)
}

impl Cli {
    /// The flags the user gave, as configuration overrides (they beat the file and PARLEY_X__Y),
    /// with the secrets given as files.
    pub(crate) fn overrides(&self) -> Result<Vec<Override>, CliError> {
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
        overrides.extend(secret_files(|name| std::env::var(name).ok())?);
        Ok(overrides)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_from_files() {
        let dir = std::env::temp_dir().join(format!("parley-cli-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let secret = dir.join("jwt");
        std::fs::write(&secret, "0123456789abcdef0123456789abcdef\n").expect("write");
        let path = secret.display().to_string();
        let env = |name: &str| (name == "PARLEY_JWT_SECRET_FILE").then(|| path.clone());
        let found = secret_files(env).expect("read");
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].key, "auth.jwt_secret");
        assert_eq!(found[0].value, "0123456789abcdef0123456789abcdef");
        let both = |name: &str| {
            matches!(name, "PARLEY_JWT_SECRET_FILE" | "PARLEY_JWT_SECRET").then(|| path.clone())
        };
        assert!(matches!(secret_files(both), Err(CliError::Both { .. })));
        let missing = |name: &str| {
            (name == "PARLEY_DATABASE_URL_FILE").then(|| "/nonexistent/parley".to_owned())
        };
        assert!(matches!(secret_files(missing), Err(CliError::Read { .. })));
        let _ = std::fs::remove_dir_all(dir);
    }
}
