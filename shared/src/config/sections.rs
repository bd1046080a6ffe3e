//! The sections of the configuration tree, each with its documented defaults.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::duration::serde_human;
use crate::rate::Rate;

/// `[server]`: the listening socket, shards and their bounds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Address for HTTP and WebSocket. Default `127.0.0.1:8080`.
    pub listen: SocketAddr,
    /// Number of shards (one OS thread and event loop each); 0 means one per CPU core.
    pub shards: usize,
    /// Directory for Parley's own state: the embedded PostgreSQL cluster and generated secrets.
    pub data_dir: PathBuf,
    /// Listen backlog of each shard's socket.
    pub backlog: u32,
    /// Most connections one process holds open (HTTP and WebSocket together, authenticated or
    /// not), counted from accept to close over all shards; past it a new connection gets 503.
    pub max_connections: usize,
    /// Most connections from one client address (IPv6: one /64); 0 = no cap. Behind a reverse
    /// proxy every client shares the proxy's address: raise it or set 0 there.
    pub max_connections_per_ip: usize,
    /// Time a client has to send complete request headers.
    #[serde(with = "serde_human")]
    pub header_read_timeout: Duration,
    /// Largest request head (request line and headers) in bytes; larger gets 431. At least 8192.
    pub max_header_bytes: usize,
    /// Most header fields in one request; more gets 431.
    pub max_headers: usize,
    /// A request body must keep arriving: no byte for this long, or the whole body not in by this
    /// long plus its length at `body_min_rate`, answers 408 and closes the connection.
    #[serde(with = "serde_human")]
    pub body_read_timeout: Duration,
    /// Slowest transfer rate a request body may have, in bytes per second (see above).
    pub body_min_rate: usize,
    /// Reverse proxies (addresses or ranges like `10.0.0.0/8`) whose `Forwarded` /
    /// `X-Forwarded-For` headers name the client; from any other peer those headers are ignored.
    /// Connections from them are not counted against `max_connections_per_ip`.
    pub trusted_proxies: Vec<crate::cidr::Cidr>,
    /// TLS termination: the certificate chain (PEM, leaf first) and its private key (PEM).
    /// Both empty: plain HTTP (terminate TLS at a proxy). Reloaded on SIGHUP.
    pub tls_cert: PathBuf,
    pub tls_key: PathBuf,
    /// How long shutdown waits for in-flight requests before closing them.
    #[serde(with = "serde_human")]
    pub shutdown_grace: Duration,
    /// Largest HTTP request body accepted, in bytes; larger ones get 413 before any parsing.
    pub max_body_bytes: usize,
    /// Serve the web client at `/` (false: the API only).
    pub web_client: bool,
    /// A built web client to serve instead of the one inside the binary (read once at start).
    /// Empty: the embedded build. A directory that does not exist is reported at start.
    pub web_dir: PathBuf,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            shards: 0,
            data_dir: PathBuf::from("./.parley"),
            backlog: 1024,
            max_connections: 10_000,
            max_connections_per_ip: 1_000,
            header_read_timeout: Duration::from_secs(10),
            max_header_bytes: 16 * 1024,
            max_headers: 100,
            body_read_timeout: Duration::from_secs(10),
            body_min_rate: 8 * 1024,
            trusted_proxies: Vec::new(),
            tls_cert: PathBuf::new(),
            tls_key: PathBuf::new(),
            shutdown_grace: Duration::from_secs(10),
            max_body_bytes: 64 * 1024,
            web_client: true,
            web_dir: PathBuf::new(),
        }
    }
}

/// `[database]`: where PostgreSQL is and how Parley talks to it.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseConfig {
    /// `postgres://` URL or key=value string. Empty: run an embedded cluster in `server.data_dir`.
    pub url: String,
    /// Connections in each shard's pool.
    pub pool_size: usize,
    /// Time allowed to open one connection.
    #[serde(with = "serde_human")]
    pub connect_timeout: Duration,
    /// Time one readiness probe may take before the database counts as down.
    #[serde(with = "serde_human")]
    pub probe_timeout: Duration,
    /// Start even if the server runs with `fsync` or `synchronous_commit` off (acks would not be durable).
    pub allow_unsafe_durability: bool,
    /// Directory holding `initdb` and `postgres` for the embedded cluster. Empty: look it up.
    pub pg_bin_dir: String,
    /// Time the embedded cluster has to accept connections after it is started.
    #[serde(with = "serde_human")]
    pub embedded_start_timeout: Duration,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            url: String::new(),
            pool_size: 4,
            connect_timeout: Duration::from_secs(5),
            probe_timeout: Duration::from_secs(2),
            allow_unsafe_durability: false,
            pg_bin_dir: String::new(),
            embedded_start_timeout: Duration::from_secs(60),
        }
    }
}

impl fmt::Debug for DatabaseConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DatabaseConfig")
            .field("url", &redact_url(&self.url))
            .field("pool_size", &self.pool_size)
            .field("connect_timeout", &self.connect_timeout)
            .field("probe_timeout", &self.probe_timeout)
            .field("allow_unsafe_durability", &self.allow_unsafe_durability)
            .field("pg_bin_dir", &self.pg_bin_dir)
            .field("embedded_start_timeout", &self.embedded_start_timeout)
            .finish()
    }
}

/// Hides every password in a database URL: `postgres://user:password@host/db`, a `password=` query
/// parameter (`?password=...&sslmode=require`), and a libpq `password=...` pair, quoted or not
/// (`password='two words'`).
pub fn redact_url(url: &str) -> String {
    if let Some(scheme_end) = url.find("://") {
        let (head, rest) = url.split_at(scheme_end + 3);
        let (before_query, query) = match rest.split_once('?') {
            Some((path, query)) => (path, Some(query)),
            None => (rest, None),
        };
        // The userinfo ends at the last '@' before the path.
        let authority_end = before_query.find('/').unwrap_or(before_query.len());
        let mut out = head.to_owned();
        match before_query[..authority_end].rfind('@') {
            Some(at) => {
                let userinfo = &before_query[..at];
                match userinfo.split_once(':') {
                    Some((user, _)) => out.push_str(&format!("{user}:***")),
                    None => out.push_str(userinfo),
                }
                out.push_str(&before_query[at..]);
            }
            None => out.push_str(before_query),
        }
        if let Some(query) = query {
            let pairs: Vec<String> = query
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((key, _)) if key.eq_ignore_ascii_case("password") => format!("{key}=***"),
                    _ => pair.to_owned(),
                })
                .collect();
            out.push('?');
            out.push_str(&pairs.join("&"));
        }
        return out;
    }
    redact_key_value(url)
}

/// A libpq `key=value` string with every password pair shown as `password=***`.
fn redact_key_value(text: &str) -> String {
    crate::libpq::pairs(text)
        .into_iter()
        .map(|pair| {
            if pair.key == "password" {
                "password=***".to_owned()
            } else {
                pair.raw
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// `[log]`: what is logged and how.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// A `tracing` filter such as `info` or `parley_gateway=debug,info`. `RUST_LOG` wins when set.
    pub level: String,
    /// `text` for people, `json` for one JSON object per line.
    pub format: LogFormat,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            level: "info".to_owned(),
            format: LogFormat::Text,
        }
    }
}

/// Output format of the logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

/// `[auth]`: tokens and password hashing.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// HS256 key for access tokens, at least 32 bytes. Empty: generated on first start and kept
    /// in `<data_dir>/jwt-secret` (mode 0600). Also `PARLEY_JWT_SECRET`.
    pub jwt_secret: String,
    /// Lifetime of an access token.
    #[serde(with = "serde_human")]
    pub access_ttl: Duration,
    /// Lifetime of a refresh token (each use rotates it and starts a new lifetime).
    #[serde(with = "serde_human")]
    pub refresh_ttl: Duration,
    /// `iss` claim written into and required of access tokens.
    pub issuer: String,
    /// Password hashes computed at once (each takes ~19 MiB and tens of ms); 0 = one per core.
    pub hash_concurrency: usize,
    /// How long a login or sign-up waits for a hashing slot before answering OVERLOADED.
    #[serde(with = "serde_human")]
    pub hash_queue_timeout: Duration,
    /// A refresh token presented again this soon after its rotation (two tabs refreshing at
    /// once, a retry after a lost reply) gets another successor instead of revoking the session.
    /// 0 turns the grace off.
    #[serde(with = "serde_human")]
    pub refresh_grace: Duration,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            jwt_secret: String::new(),
            access_ttl: Duration::from_secs(15 * 60),
            refresh_ttl: Duration::from_secs(30 * 86_400),
            issuer: "parley".to_owned(),
            hash_concurrency: 0,
            hash_queue_timeout: Duration::from_secs(10),
            refresh_grace: Duration::from_secs(10),
        }
    }
}

impl fmt::Debug for AuthConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthConfig")
            .field(
                "jwt_secret",
                &if self.jwt_secret.is_empty() {
                    ""
                } else {
                    "***"
                },
            )
            .field("access_ttl", &self.access_ttl)
            .field("refresh_ttl", &self.refresh_ttl)
            .field("issuer", &self.issuer)
            .field("hash_concurrency", &self.hash_concurrency)
            .field("hash_queue_timeout", &self.hash_queue_timeout)
            .field("refresh_grace", &self.refresh_grace)
            .finish()
    }
}

/// `[limits]`: request rates, written `"N/window"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsConfig {
    /// `false` turns every rate limit off (benchmarks).
    pub enabled: bool,
    /// Sign-ups per client IP.
    pub register: Rate,
    /// Login attempts per client IP (IPv6: per /64), failed or not.
    pub login: Rate,
    /// Failed logins per account and client IP; past it that client is refused for that account.
    pub login_failures: Rate,
    /// Failed logins per account from all clients together (the backstop against guessing from
    /// many addresses). Past it, clients that failed for the account are refused; a client that
    /// has not failed is never blocked by it.
    pub login_account_failures: Rate,
    /// Messages sent per user, REST and WebSocket together.
    pub send: Rate,
    /// Urgent messages (`priority: "urgent"`, which break through mutes and do-not-disturb) per
    /// user.
    pub urgent: Rate,
    /// Files uploaded per user (`POST /api/uploads`).
    pub uploads: Rate,
    /// History pages per user.
    pub history: Rate,
    /// WebSocket connections opened per user.
    pub ws_connect: Rate,
    /// Any other API request, per user (or per client IP before login); WebSocket edits,
    /// deletes and reactions draw from the same allowance.
    pub api: Rate,
    /// WebSocket events other than sends, changes and sync, per connection: subscriptions,
    /// presence, read marks, auth, pings (typing past it is dropped silently).
    pub ws_events: Rate,
    /// Keys (users, IPs) each limiter remembers at most; past it the least recently used is
    /// forgotten for a new one.
    pub max_keys: usize,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            register: Rate::new(3, Duration::from_secs(3600)),
            login: Rate::new(30, Duration::from_secs(900)),
            login_failures: Rate::new(5, Duration::from_secs(900)),
            login_account_failures: Rate::new(20, Duration::from_secs(3600)),
            send: Rate::new(30, Duration::from_secs(60)),
            urgent: Rate::new(3, Duration::from_secs(3600)),
            uploads: Rate::new(10, Duration::from_secs(60)),
            history: Rate::new(60, Duration::from_secs(60)),
            ws_connect: Rate::new(10, Duration::from_secs(60)),
            api: Rate::new(600, Duration::from_secs(60)),
            ws_events: Rate::new(300, Duration::from_secs(60)),
            max_keys: 100_000,
        }
    }
}

/// `[chat]`: conversation rules.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ChatConfig {
    /// Most members a group may have, owner included.
    pub max_group_members: usize,
    /// How long after sending its sender may edit a message.
    #[serde(with = "serde_human")]
    pub edit_window: Duration,
    /// Most distinct emojis on one message.
    pub max_reaction_kinds: usize,
    /// A typing indicator stops by itself after this long without a new `typing:start`.
    #[serde(with = "serde_human")]
    pub typing_timeout: Duration,
    /// `typing:start` frames closer together than this (per user and conversation) are dropped.
    #[serde(with = "serde_human")]
    pub typing_interval: Duration,
    /// Most messages `sync:request` returns per conversation; beyond it the answer is `tooLarge`
    /// and the client pages through history over REST.
    pub sync_max_messages: usize,
    /// Messages per `sync:response` frame.
    pub sync_page: usize,
}

impl Default for ChatConfig {
    fn default() -> Self {
        Self {
            max_group_members: 1000,
            edit_window: Duration::from_secs(15 * 60),
            max_reaction_kinds: 20,
            typing_timeout: Duration::from_secs(5),
            typing_interval: Duration::from_secs(1),
            sync_max_messages: 500,
            sync_page: 100,
        }
    }
}

/// `[presence]`: who is online.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PresenceConfig {
    /// How often clients are expected to send `presence:heartbeat` (or any frame); a connection
    /// silent for twice this long is closed (4408).
    #[serde(with = "serde_human")]
    pub heartbeat_interval: Duration,
    /// After a user's last connection closes, how long before they are shown offline (a
    /// reconnect within it changes nothing).
    #[serde(with = "serde_human")]
    pub offline_grace: Duration,
    /// A user with no activity (frames other than heartbeats) for this long shows as away.
    #[serde(with = "serde_human")]
    pub idle_after: Duration,
    /// Status changes are gathered this long and published at most once per user (a reconnect
    /// storm cannot become a presence storm).
    #[serde(with = "serde_human")]
    pub coalesce: Duration,
    /// Most users one connection may watch with `presence:subscribe`.
    pub max_subscriptions: usize,
}

impl Default for PresenceConfig {
    fn default() -> Self {
        Self {
            heartbeat_interval: Duration::from_secs(30),
            offline_grace: Duration::from_secs(5),
            idle_after: Duration::from_secs(5 * 60),
            coalesce: Duration::from_millis(250),
            max_subscriptions: 500,
        }
    }
}

/// `[persister]`: the batched writer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PersisterConfig {
    /// Writer connections, and the queues conversations are hashed onto. An idle lane takes
    /// every waiting queue into one transaction (up to `batch_split` jobs), so at moderate rates
    /// one lane commits everything in large batches and under load the lanes overlap their
    /// commits (docs/bench/lanes.md).
    pub lanes: usize,
    /// Sends waiting to be written, over all lanes; past it a send is answered OVERLOADED.
    pub queue_capacity: usize,
    /// Most sends committed in one transaction.
    pub max_batch: usize,
    /// Attempts after the first for a batch that failed for a transient reason.
    pub retries: usize,
    /// Wait before the first retry; doubled before each next one.
    #[serde(with = "serde_human")]
    pub retry_base: Duration,
    /// A batch whose attempt may have committed (the connection broke before COMMIT answered)
    /// is not answered DB_ERROR when its retries run out: it is retried at the last wait for up to
    /// this long, so that the outcome is learnt and a committed batch is fanned out in order.
    #[serde(with = "serde_human")]
    pub in_doubt_patience: Duration,
    /// How long the search indexer gathers committed messages before indexing them in one
    /// statement (how far search lags behind the conversation, at most, when all is well).
    #[serde(with = "serde_human")]
    pub search_index_interval: Duration,
    /// Most messages the search indexer reads and indexes in one statement.
    pub search_index_batch: usize,
    /// How long a lane gathers read marks before writing them in one transaction (a burst of
    /// marks from scrolling becomes one write); also how late a read receipt may be.
    #[serde(with = "serde_human")]
    pub read_flush_interval: Duration,
    /// Member ids the persister keeps in memory (16 bytes each) so a batch reads a
    /// conversation's members only when they changed; past it the cache starts over.
    pub member_cache: usize,
    /// Conversations are hashed onto `lanes` queues; an idle lane takes every waiting queue into
    /// one transaction until it holds this many jobs, and leaves the rest to another lane.
    pub batch_split: usize,
}

impl Default for PersisterConfig {
    fn default() -> Self {
        Self {
            lanes: 4,
            queue_capacity: 16_384,
            max_batch: 512,
            retries: 3,
            retry_base: Duration::from_millis(100),
            in_doubt_patience: Duration::from_secs(30),
            search_index_interval: Duration::from_millis(250),
            search_index_batch: 5_000,
            read_flush_interval: Duration::from_millis(100),
            member_cache: 1_000_000,
            batch_split: 128,
        }
    }
}

impl PersisterConfig {
    /// The waits between attempts: `retry_base`, doubled each time, `retries` of them.
    pub fn backoff(&self) -> Vec<Duration> {
        (0..self.retries)
            .map(|n| self.retry_base * 2u32.saturating_pow(n as u32))
            .collect()
    }
}

/// `[ws]`: WebSocket connections.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WsConfig {
    /// Largest message a client may send, in bytes, fragments included (close 1009 beyond).
    pub max_message_bytes: usize,
    /// Time an unauthenticated connection has to send a valid `auth` frame (close 4401).
    #[serde(with = "serde_human")]
    pub auth_timeout: Duration,
    /// Frames waiting to be written to one connection. When full, typing and presence events are
    /// dropped; a message that does not fit closes the connection with 4409 (resync by seq).
    pub outbound_frames: usize,
    /// Bytes waiting to be written to one connection (same policy as `outbound_frames`).
    pub outbound_bytes: usize,
    /// A write to a client that takes longer than this drops the connection.
    #[serde(with = "serde_human")]
    pub write_timeout: Duration,
    /// After Parley sends a close frame, how long it waits for the client's before dropping.
    #[serde(with = "serde_human")]
    pub close_timeout: Duration,
    /// Open WebSocket connections one user may hold at once, over all shards (close 4429).
    pub max_per_user: usize,
    /// `Origin` values allowed to open a WebSocket besides the server's own (an Origin whose
    /// host is the request's `Host`); `"*"` allows any. Requests without an Origin (native
    /// clients) are always allowed.
    pub allowed_origins: Vec<String>,
    /// Fan-out events waiting for one shard; if a shard ever falls this far behind, its
    /// connections are closed with 4409 so clients resync instead of missing messages.
    pub fanout_queue: usize,
}

impl Default for WsConfig {
    fn default() -> Self {
        Self {
            max_message_bytes: 64 * 1024,
            auth_timeout: Duration::from_secs(5),
            outbound_frames: 1024,
            outbound_bytes: 1024 * 1024,
            write_timeout: Duration::from_secs(10),
            close_timeout: Duration::from_secs(2),
            max_per_user: 16,
            allowed_origins: Vec::new(),
            fanout_queue: 65_536,
        }
    }
}

/// `[metrics]`: where the Prometheus exposition is served.
#[derive(Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsConfig {
    /// An internal address (e.g. `127.0.0.1:9464`) serving `GET /metrics` only, without a
    /// token. Empty: none.
    pub listen: String,
    /// When set, the main port serves `GET /metrics` to `Authorization: Bearer <token>` (404
    /// otherwise). Empty: the main port does not serve metrics at all. Also `PARLEY_METRICS__TOKEN`.
    pub token: String,
}

impl fmt::Debug for MetricsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MetricsConfig")
            .field("listen", &self.listen)
            .field("token", &if self.token.is_empty() { "" } else { "***" })
            .finish()
    }
}
