//! Parley's configuration: the typed tree, its defaults, and layered loading with key-naming errors.
//!
//! Layers, lowest first: built-in defaults, the TOML file, `PARLEY_<SECTION>__<KEY>` environment
//! variables, then explicit overrides (command-line flags). Every key that is not part of the tree
//! and every value of the wrong type is rejected with the dotted key and where it came from.
//! `config/parley.toml` documents every key; a test keeps it in step with [`Config::default`].

mod notifications;
mod privacy;
mod redis;
mod retention;
mod sections;
mod uploads;

use serde::{Deserialize, Serialize};

pub use notifications::{NotificationsConfig, PushContent};
pub use privacy::PrivacyConfig;
pub use redis::RedisConfig;
pub use retention::RetentionConfig;
pub use sections::*;
pub use uploads::UploadsConfig;

/// Prefix of every environment variable Parley reads.
pub const ENV_PREFIX: &str = "PARLEY_";

/// The whole configuration of one `parley` process.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub server: ServerConfig,
    pub database: DatabaseConfig,
    pub auth: AuthConfig,
    pub limits: LimitsConfig,
    pub chat: ChatConfig,
    pub presence: PresenceConfig,
    pub persister: PersisterConfig,
    pub ws: WsConfig,
    pub metrics: MetricsConfig,
    pub notifications: NotificationsConfig,
    pub log: LogConfig,
    pub redis: RedisConfig,
    pub privacy: PrivacyConfig,
    pub retention: RetentionConfig,
    pub uploads: UploadsConfig,
}

/// One value set from outside the file: an environment variable or a command-line flag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Override {
    /// Dotted key, e.g. `server.listen`.
    pub key: String,
    /// The value as the user wrote it; converted to the key's type.
    pub value: String,
    /// Where it came from, for error messages: `environment variable PARLEY_X__Y`, `flag --listen`.
    pub origin: String,
}

/// Why a configuration was refused. Every variant names the offending key or source.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("{origin}: not valid TOML: {message}")]
    Syntax { origin: String, message: String },
    #[error("{origin}: unknown key `{key}`")]
    UnknownKey { key: String, origin: String },
    #[error("{origin}: invalid value for `{key}`: {message}")]
    InvalidValue {
        key: String,
        origin: String,
        message: String,
    },
}

impl Config {
    /// Builds the configuration from an optional file `(name, text)`, the process environment
    /// (pass `std::env::vars()`), and explicit overrides, then validates it.
    pub fn load(
        file: Option<(&str, &str)>,
        env: impl IntoIterator<Item = (String, String)>,
        overrides: Vec<Override>,
    ) -> Result<Config, ConfigError> {
        let defaults = toml::Value::try_from(Config::default())
            .expect("the default configuration serialises to TOML");
        let mut tree = toml::Table::new();
        let mut origin = "defaults".to_owned();
        if let Some((name, text)) = file {
            origin = format!("config file {name}");
            tree = text
                .parse::<toml::Table>()
                .map_err(|e| ConfigError::Syntax {
                    origin: origin.clone(),
                    message: e.message().to_owned() + &line_hint(text, e.span()),
                })?;
        }
        let mut layered: Vec<Override> = env_overrides(env);
        layered.extend(overrides);
        // Which layer set each overridden key, so a type error names the right source.
        let mut origins = std::collections::HashMap::new();
        for item in layered {
            let kind = lookup(&defaults, &item.key).ok_or_else(|| ConfigError::UnknownKey {
                key: item.key.clone(),
                origin: item.origin.clone(),
            })?;
            let value =
                convert(kind, &item.value).map_err(|message| ConfigError::InvalidValue {
                    key: item.key.clone(),
                    origin: item.origin.clone(),
                    message,
                })?;
            insert(&mut tree, &item.key, value);
            origins.insert(item.key, item.origin);
        }
        let config: Config =
            serde_path_to_error::deserialize(toml::Value::Table(tree)).map_err(|e| {
                let key = e.path().to_string();
                let message = e.inner().message().to_owned();
                let origin = origins.get(&key).cloned().unwrap_or_else(|| origin.clone());
                if message.starts_with("unknown field") {
                    ConfigError::UnknownKey { key, origin }
                } else {
                    ConfigError::InvalidValue {
                        key,
                        origin,
                        message,
                    }
                }
            })?;
        config.validate()?;
        Ok(config)
    }

    /// Range checks that types alone cannot express.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key: &str, message: &str| ConfigError::InvalidValue {
            key: key.to_owned(),
            origin: "configuration".to_owned(),
            message: message.to_owned(),
        };
        let s = &self.server;
        if s.shards > 1024 {
            return Err(invalid(
                "server.shards",
                "must be between 0 (one per core) and 1024",
            ));
        }
        if s.backlog == 0 || s.backlog > 65_535 {
            return Err(invalid("server.backlog", "must be between 1 and 65535"));
        }
        if s.max_connections == 0 {
            return Err(invalid("server.max_connections", "must be at least 1"));
        }
        if s.max_header_bytes < 8192 {
            return Err(invalid("server.max_header_bytes", "must be at least 8192"));
        }
        if s.max_headers == 0 {
            return Err(invalid("server.max_headers", "must be at least 1"));
        }
        if s.tls_cert.as_os_str().is_empty() != s.tls_key.as_os_str().is_empty() {
            return Err(invalid(
                "server.tls_cert",
                "server.tls_cert and server.tls_key go together: set both or neither",
            ));
        }
        if s.body_read_timeout.is_zero() {
            return Err(invalid("server.body_read_timeout", "must be longer than 0"));
        }
        if s.body_min_rate == 0 {
            return Err(invalid("server.body_min_rate", "must be at least 1"));
        }
        if !self.metrics.listen.is_empty()
            && self.metrics.listen.parse::<std::net::SocketAddr>().is_err()
        {
            return Err(invalid(
                "metrics.listen",
                "must be an address like 127.0.0.1:9464, or empty",
            ));
        }
        if !self.metrics.token.is_empty() && self.metrics.token.len() < 16 {
            return Err(invalid(
                "metrics.token",
                "must be at least 16 characters, or empty",
            ));
        }
        if s.header_read_timeout.is_zero() {
            return Err(invalid(
                "server.header_read_timeout",
                "must be longer than 0",
            ));
        }
        if s.data_dir.as_os_str().is_empty() {
            return Err(invalid("server.data_dir", "must not be empty"));
        }
        let d = &self.database;
        if d.pool_size == 0 || d.pool_size > 1024 {
            return Err(invalid("database.pool_size", "must be between 1 and 1024"));
        }
        for (key, value) in [
            ("database.connect_timeout", d.connect_timeout),
            ("database.probe_timeout", d.probe_timeout),
            ("database.embedded_start_timeout", d.embedded_start_timeout),
        ] {
            if value.is_zero() {
                return Err(invalid(key, "must be longer than 0"));
            }
        }
        if s.max_body_bytes < 1024 {
            return Err(invalid("server.max_body_bytes", "must be at least 1024"));
        }
        let a = &self.auth;
        if !a.jwt_secret.is_empty() && a.jwt_secret.len() < 32 {
            return Err(invalid(
                "auth.jwt_secret",
                "must be at least 32 bytes (or empty to generate one)",
            ));
        }
        for (key, value) in [
            ("auth.access_ttl", a.access_ttl),
            ("auth.refresh_ttl", a.refresh_ttl),
            ("auth.hash_queue_timeout", a.hash_queue_timeout),
        ] {
            if value.is_zero() {
                return Err(invalid(key, "must be longer than 0"));
            }
        }
        if a.issuer.trim().is_empty() {
            return Err(invalid("auth.issuer", "must not be empty"));
        }
        if self.limits.max_keys == 0 {
            return Err(invalid("limits.max_keys", "must be at least 1"));
        }
        let p = &self.persister;
        if p.lanes == 0 || p.lanes > 64 {
            return Err(invalid("persister.lanes", "must be between 1 and 64"));
        }
        if p.queue_capacity < p.lanes {
            return Err(invalid(
                "persister.queue_capacity",
                "must be at least persister.lanes",
            ));
        }
        if p.max_batch == 0 || p.max_batch > 10_000 {
            return Err(invalid(
                "persister.max_batch",
                "must be between 1 and 10000",
            ));
        }
        if p.retries > 10 {
            return Err(invalid("persister.retries", "must be at most 10"));
        }
        if p.search_index_batch == 0 || p.search_index_batch > 100_000 {
            return Err(invalid(
                "persister.search_index_batch",
                "must be between 1 and 100000",
            ));
        }
        if p.search_index_interval > std::time::Duration::from_secs(60) {
            return Err(invalid(
                "persister.search_index_interval",
                "must be at most 60s",
            ));
        }
        let w = &self.ws;
        for (key, value) in [
            ("ws.max_message_bytes", w.max_message_bytes),
            ("ws.outbound_frames", w.outbound_frames),
            ("ws.outbound_bytes", w.outbound_bytes),
            ("ws.max_per_user", w.max_per_user),
            ("ws.fanout_queue", w.fanout_queue),
        ] {
            if value == 0 {
                return Err(invalid(key, "must be at least 1"));
            }
        }
        if w.max_message_bytes > 16 * 1024 * 1024 {
            return Err(invalid("ws.max_message_bytes", "must be at most 16 MiB"));
        }
        for (key, value) in [
            ("ws.auth_timeout", w.auth_timeout),
            ("ws.write_timeout", w.write_timeout),
            ("ws.close_timeout", w.close_timeout),
        ] {
            if value.is_zero() {
                return Err(invalid(key, "must be longer than 0"));
            }
        }
        if p.read_flush_interval > std::time::Duration::from_secs(10) {
            return Err(invalid(
                "persister.read_flush_interval",
                "must be at most 10s",
            ));
        }
        let c = &self.chat;
        if c.max_group_members < 2 {
            return Err(invalid("chat.max_group_members", "must be at least 2"));
        }
        for (key, value) in [
            ("chat.max_reaction_kinds", c.max_reaction_kinds),
            ("chat.sync_page", c.sync_page),
            ("chat.sync_max_messages", c.sync_max_messages),
        ] {
            if value == 0 {
                return Err(invalid(key, "must be at least 1"));
            }
        }
        if c.sync_page > 1000 || c.sync_max_messages > 100_000 {
            return Err(invalid(
                "chat.sync_page",
                "sync_page must be at most 1000 and sync_max_messages at most 100000",
            ));
        }
        if c.typing_timeout.is_zero() {
            return Err(invalid("chat.typing_timeout", "must be longer than 0"));
        }
        let pr = &self.presence;
        for (key, value) in [
            ("presence.heartbeat_interval", pr.heartbeat_interval),
            ("presence.idle_after", pr.idle_after),
            ("presence.coalesce", pr.coalesce),
        ] {
            if value.is_zero() {
                return Err(invalid(key, "must be longer than 0"));
            }
        }
        if pr.max_subscriptions == 0 {
            return Err(invalid("presence.max_subscriptions", "must be at least 1"));
        }
        if let Err((key, message)) = self.redis.check() {
            return Err(invalid(key, message));
        }
        if let Err((key, message)) = self.privacy.check() {
            return Err(invalid(key, message));
        }
        if let Err((key, message)) = self.retention.check() {
            return Err(invalid(key, message));
        }
        if let Err((key, message)) = self.uploads.check() {
            return Err(invalid(key, message));
        }
        if let Err((key, message)) = self.notifications.check() {
            return Err(invalid(key, message));
        }
        if self.log.level.trim().is_empty() {
            return Err(invalid("log.level", "must not be empty (e.g. \"info\")"));
        }
        Ok(())
    }

    /// The configuration as TOML, as `parley config` would show it (secrets redacted).
    pub fn to_redacted_toml(&self) -> String {
        let mut copy = self.clone();
        copy.database.url = redact_url(&copy.database.url);
        copy.redis.url = redact_url(&copy.redis.url);
        copy.notifications.webhook_url = redact_url(&copy.notifications.webhook_url);
        if !copy.notifications.webhook_secret.is_empty() {
            copy.notifications.webhook_secret = "***".to_owned();
        }
        if !copy.notifications.vapid_private_key.is_empty() {
            copy.notifications.vapid_private_key = "***".to_owned();
        }
        if !copy.auth.jwt_secret.is_empty() {
            copy.auth.jwt_secret = "***".to_owned();
        }
        if !copy.metrics.token.is_empty() {
            copy.metrics.token = "***".to_owned();
        }
        if !copy.uploads.s3_secret_access_key.is_empty() {
            copy.uploads.s3_secret_access_key = "***".to_owned();
        }
        toml::to_string(&copy).expect("the configuration serialises to TOML")
    }
}

/// `PARLEY_SECTION__KEY=value` pairs become overrides of `section.key`. Variables without `__`
/// (`PARLEY_LISTEN`, ...) belong to command-line flags and are not read here.
fn env_overrides(env: impl IntoIterator<Item = (String, String)>) -> Vec<Override> {
    let mut found: Vec<Override> = env
        .into_iter()
        .filter_map(|(name, value)| {
            let rest = name.strip_prefix(ENV_PREFIX)?;
            rest.contains("__").then(|| Override {
                key: rest.to_ascii_lowercase().replace("__", "."),
                value,
                origin: format!("environment variable {name}"),
            })
        })
        .collect();
    found.sort_by(|a, b| a.key.cmp(&b.key));
    found
}

fn lookup<'a>(tree: &'a toml::Value, key: &str) -> Option<&'a toml::Value> {
    key.split('.').try_fold(tree, |node, part| node.get(part))
}

fn insert(tree: &mut toml::Table, key: &str, value: toml::Value) {
    let mut parts: Vec<&str> = key.split('.').collect();
    let last = parts.pop().expect("split yields at least one part");
    let mut node = tree;
    for part in parts {
        let entry = node
            .entry(part.to_owned())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        if !entry.is_table() {
            *entry = toml::Value::Table(toml::Table::new());
        }
        node = entry.as_table_mut().expect("made a table just above");
    }
    node.insert(last.to_owned(), value);
}

/// Converts a raw string to the TOML type the default value at that key has.
fn convert(kind: &toml::Value, raw: &str) -> Result<toml::Value, String> {
    match kind {
        toml::Value::String(_) => Ok(toml::Value::String(raw.to_owned())),
        toml::Value::Integer(_) => raw
            .trim()
            .parse::<i64>()
            .map(toml::Value::Integer)
            .map_err(|_| format!("expected a whole number, got `{raw}`")),
        toml::Value::Float(_) => raw
            .trim()
            .parse::<f64>()
            .map(toml::Value::Float)
            .map_err(|_| format!("expected a number, got `{raw}`")),
        toml::Value::Boolean(_) => match raw.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => Ok(toml::Value::Boolean(true)),
            "false" | "0" | "no" | "off" => Ok(toml::Value::Boolean(false)),
            _ => Err(format!("expected true or false, got `{raw}`")),
        },
        toml::Value::Array(_) => format!("v = {raw}")
            .parse::<toml::Table>()
            .ok()
            .and_then(|mut t| t.remove("v"))
            .filter(toml::Value::is_array)
            .ok_or_else(|| format!("expected a TOML array such as [\"a\", \"b\"], got `{raw}`")),
        toml::Value::Datetime(_) | toml::Value::Table(_) => {
            Err("this key takes a section, not a single value".to_owned())
        }
    }
}

fn line_hint(text: &str, span: Option<std::ops::Range<usize>>) -> String {
    match span {
        Some(span) => {
            let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
            format!(" (line {line})")
        }
        None => String::new(),
    }
}

#[cfg(test)]
mod tests;
