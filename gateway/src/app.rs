//! State shared by every shard of one process (behind an `Arc`): token keys, the password-hashing
//! service, rate limiters, and the request bounds from configuration. Built once in
//! `Gateway::start` from the validated `Config`.

use std::time::Duration;

use parley_persister::writer::PersisterHandle;
use parley_shared::Config;
use parley_shared::config::WsConfig;

use crate::auth::jwt::JwtKeys;
use crate::auth::password::{HashError, Hasher};
use crate::limits::{ConnectionCount, ConnectionCounter, Limits};

/// Process-wide state; shards hold it in an `Arc`.
#[derive(Debug)]
pub struct App {
    /// This process, in connection addresses (new at every start).
    pub(crate) instance: parley_shared::InstanceId,
    pub(crate) jwt: JwtKeys,
    pub(crate) hasher: Hasher,
    /// `None` when `limits.enabled` is false.
    pub(crate) limits: Option<Limits>,
    pub(crate) refresh_ttl: Duration,
    /// How soon a rotated refresh token may be presented again without revoking its session.
    pub(crate) refresh_grace: Duration,
    pub(crate) max_body_bytes: usize,
    /// Request bodies: longest pause, and slowest rate (bytes per second) over the whole body.
    pub(crate) body_read_timeout: Duration,
    pub(crate) body_min_rate: usize,
    /// Connection slots (`server.max_connections`, `server.max_connections_per_ip`).
    pub(crate) permits: std::sync::Arc<crate::permits::ConnectionPermits>,
    /// Login sessions revoked recently: their access tokens are refused everywhere.
    pub(crate) revocations: std::sync::Arc<crate::auth::revoked::Revocations>,
    /// TLS termination (`server.tls_cert`), if configured.
    pub(crate) tls: Option<std::sync::Arc<crate::tls::ServerTls>>,
    /// `server.trusted_proxies`: peers whose forwarding headers name the client.
    pub(crate) trusted_proxies: Vec<parley_shared::cidr::Cidr>,
    /// `metrics.token`: the bearer token `/metrics` on the main port wants (`None`: not served).
    pub(crate) metrics_token: Option<String>,
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
    /// Toasts: the grouping window; push.
    pub(crate) notifications: parley_shared::config::NotificationsConfig,
    /// The VAPID identity for Web Push (`None`: Web Push is off).
    pub(crate) vapid: Option<std::sync::Arc<crate::push::vapid::Vapid>>,
    /// Where sends go to be committed.
    pub(crate) persister: PersisterHandle,
    pub(crate) ws: WsConfig,
    /// Open WebSocket connections per user (over every instance when they are joined).
    pub(crate) connections: Box<dyn ConnectionCount>,
    pub(crate) metrics: std::sync::Arc<crate::metrics::Metrics>,
    /// The fan-out bus, for events that start in the gateway (session revocations).
    pub(crate) bus: std::sync::Arc<crate::fanout::Bus>,
    pub(crate) privacy: parley_shared::config::PrivacyConfig,
    pub(crate) retention: parley_shared::config::RetentionConfig,
    /// Exports being prepared at once (`privacy.export_concurrency` permits).
    pub(crate) exports: std::sync::Arc<tokio::sync::Semaphore>,
    pub(crate) uploads: parley_shared::config::UploadsConfig,
    /// Where uploaded files live (set by `Gateway::start`; a store that refuses everything
    /// until then).
    pub(crate) files: std::sync::Arc<dyn crate::files::BlobStore>,
    /// Uploads being received at once (`uploads.concurrency` permits).
    pub(crate) receiving: tokio::sync::Semaphore,
    /// Thumbnail decodes running at once.
    pub(crate) decodes: tokio::sync::Semaphore,
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
            instance: bus.instance(),
            jwt: JwtKeys::new(jwt_secret, &config.auth.issuer, config.auth.access_ttl),
            hasher: Hasher::new(concurrency, config.auth.hash_queue_timeout)?,
            limits: Limits::build(&config.limits, bus.link()),
            refresh_ttl: config.auth.refresh_ttl,
            refresh_grace: config.auth.refresh_grace,
            max_body_bytes: config.server.max_body_bytes,
            body_read_timeout: config.server.body_read_timeout,
            body_min_rate: config.server.body_min_rate,
            permits: crate::permits::ConnectionPermits::new(
                config.server.max_connections,
                config.server.max_connections_per_ip,
                config.server.trusted_proxies.clone(),
            ),
            revocations: bus.revocations(),
            metrics_token: (!config.metrics.token.is_empty()).then(|| config.metrics.token.clone()),
            trusted_proxies: config.server.trusted_proxies.clone(),
            tls: None,
            web: crate::web::WebAssets::default(),
            max_group_members: config.chat.max_group_members,
            chat: config.chat.clone(),
            typing: Box::new(crate::typing::LocalTyping::new(config.chat.typing_interval)),
            presence: match bus.link() {
                Some(link) => Box::new(crate::cluster::presence::RedisPresence::new(
                    &config.presence,
                    std::sync::Arc::clone(link),
                )),
                None => Box::new(crate::presence::LocalPresence::new(&config.presence)),
            },
            presence_config: config.presence.clone(),
            notifications: config.notifications.clone(),
            vapid: vapid(&config.notifications),
            persister,
            ws: config.ws.clone(),
            connections: match bus.link() {
                Some(link) => Box::new(crate::cluster::connections::RedisConnections::new(
                    std::sync::Arc::clone(link),
                )),
                None => Box::new(ConnectionCounter::default()),
            },
            metrics,
            bus,
            privacy: config.privacy.clone(),
            retention: config.retention.clone(),
            exports: std::sync::Arc::new(tokio::sync::Semaphore::new(
                config.privacy.export_concurrency.max(1),
            )),
            uploads: config.uploads.clone(),
            files: std::sync::Arc::new(crate::files::NoStore),
            receiving: tokio::sync::Semaphore::new(config.uploads.concurrency.max(1)),
            decodes: tokio::sync::Semaphore::new(crate::files::thumbs::THUMBNAIL_DECODES),
        })
    }

    /// Verifies an access token now: signature, claims, and that its login session has not been
    /// revoked (in memory, no database round trip). Used by REST, handshakes and `auth` frames.
    pub(crate) fn verify_access(
        &self,
        token: &str,
    ) -> Result<crate::auth::jwt::AccessClaims, crate::auth::jwt::TokenError> {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let claims = self.jwt.verify(token, now)?;
        if self.revocations.is_revoked(claims.sid) {
            return Err(crate::auth::jwt::TokenError::Revoked);
        }
        Ok(claims)
    }
}

/// The VAPID identity when Web Push is on: the configured key (`serve` has checked it and filled
/// it from the data dir), or one generated for this process only (tests, embedders), logged.
fn vapid(
    config: &parley_shared::config::NotificationsConfig,
) -> Option<std::sync::Arc<crate::push::vapid::Vapid>> {
    use crate::push::vapid::{Vapid, generate};
    if !config.webpush_enabled() {
        return None;
    }
    let key = match config.vapid_private_key.as_str() {
        "" => {
            tracing::warn!("no VAPID key configured: using one for this process only");
            generate().ok()?
        }
        key => key.to_owned(),
    };
    match Vapid::new(&key, &config.vapid_subject) {
        Ok(vapid) => Some(std::sync::Arc::new(vapid)),
        Err(error) => {
            tracing::error!(%error, "Web Push is off");
            None
        }
    }
}
