//! State shared by every shard of one process (behind an `Arc`): token keys, the password-hashing
//! service, rate limiters, and the request bounds from configuration. Built once in
//! `Gateway::start` from the validated `Config`.

use std::time::Duration;

use parley_persister::writer::PersisterHandle;
use parley_shared::Config;
use parley_shared::config::WsConfig;

use crate::auth::jwt::JwtKeys;
use crate::auth::password::{HashError, Hasher};
use crate::limits::{ConnectionCounter, Limits};

/// Process-wide state; shards hold it in an `Arc`.
#[derive(Debug)]
pub struct App {
    pub(crate) jwt: JwtKeys,
    pub(crate) hasher: Hasher,
    /// `None` when `limits.enabled` is false.
    pub(crate) limits: Option<Limits>,
    pub(crate) refresh_ttl: Duration,
    pub(crate) max_body_bytes: usize,
    /// The web client served at `/` (empty: none).
    pub(crate) web: crate::web::WebAssets,
    pub(crate) max_group_members: usize,
    /// Conversation rules: edit window, reactions, typing, sync bounds.
    pub(crate) chat: parley_shared::config::ChatConfig,
    /// Who is typing where.
    pub(crate) typing: Box<dyn crate::typing::TypingState>,
    /// Who is online.
    pub(crate) presence: Box<dyn crate::presence::PresenceState>,
    pub(crate) presence_config: parley_shared::config::PresenceConfig,
    /// Where sends go to be committed.
    pub(crate) persister: PersisterHandle,
    pub(crate) ws: WsConfig,
    /// Open WebSocket connections per user.
    pub(crate) connections: ConnectionCounter,
    pub(crate) metrics: std::sync::Arc<crate::metrics::Metrics>,
    /// The fan-out bus, for events that start in the gateway (session revocations).
    pub(crate) bus: std::sync::Arc<crate::fanout::Bus>,
}

impl App {
    /// Builds the shared state. `jwt_secret` is the resolved access-token key (configured or
    /// generated), at least 32 bytes.
    pub fn new(
        config: &Config,
        jwt_secret: &[u8],
        persister: PersisterHandle,
        metrics: std::sync::Arc<crate::metrics::Metrics>,
        bus: std::sync::Arc<crate::fanout::Bus>,
    ) -> Result<Self, HashError> {
        let concurrency = match config.auth.hash_concurrency {
            0 => std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get),
            n => n,
        };
        Ok(Self {
            jwt: JwtKeys::new(jwt_secret, &config.auth.issuer, config.auth.access_ttl),
            hasher: Hasher::new(concurrency, config.auth.hash_queue_timeout)?,
            limits: Limits::from_config(&config.limits),
            refresh_ttl: config.auth.refresh_ttl,
            max_body_bytes: config.server.max_body_bytes,
            web: crate::web::WebAssets::default(),
            max_group_members: config.chat.max_group_members,
            chat: config.chat.clone(),
            typing: Box::new(crate::typing::LocalTyping::new(config.chat.typing_interval)),
            presence: Box::new(crate::presence::LocalPresence::new(&config.presence)),
            presence_config: config.presence.clone(),
            persister,
            ws: config.ws.clone(),
            connections: ConnectionCounter::default(),
            metrics,
            bus,
        })
    }
}
