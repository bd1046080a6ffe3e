//! The serving side of one process, assembled in the only order that works and stopped in the
//! only order that loses nothing: metrics, then the fan-out bus, then the persister publishing to
//! it, then the gateway; on stop the gateway drains first (each connection waits for its sends'
//! commits), then the persister answers what is still queued. `serve` and the test kit both use it.

use std::sync::Arc;

use parley_persister::PgConfig;
use parley_persister::writer::{CommitSink, Persister, WriterSettings};
use parley_shared::Config;

use crate::auth::revoked::Revocations;
use crate::fanout::{Bus, BusParts};
use crate::metrics::Metrics;
use crate::server::{Gateway, GatewayDeps, StartError};

/// A running gateway and its persister.
#[derive(Debug)]
pub struct Parley {
    gateway: Gateway,
    persister: Persister,
    metrics: Arc<Metrics>,
    /// The link to the other instances (`redis.url`), stopped last.
    cluster: Option<crate::cluster::ClusterHandle>,
}

impl Parley {
    /// Starts everything against the database `db` with the access-token key `jwt_secret`.
    /// Async only for its one database read (the revoked sessions); everything else it starts
    /// runs on threads of its own.
    pub async fn start(
        config: &Config,
        db: PgConfig,
        jwt_secret: Vec<u8>,
    ) -> Result<Self, StartError> {
        let shards = crate::shard_count(config.server.shards);
        let metrics = Arc::new(Metrics::new(shards));
        let revocations = Arc::new(load_revocations(config, &db).await?);
        let instance = parley_shared::InstanceId::generate();
        tracing::info!(%instance, "starting");
        let link = match config.redis.enabled() {
            true => Some(
                crate::cluster::Link::new(instance, &config.redis, Arc::clone(&metrics))
                    .map_err(StartError::Cluster)?,
            ),
            false => None,
        };
        let (bus, inboxes) = Bus::new(BusParts {
            instance,
            shards,
            capacity: config.ws.fanout_queue,
            metrics: Arc::clone(&metrics),
            revocations,
            link: link.as_ref().map(|(link, _)| Arc::clone(link)),
            push: config.notifications.push_enabled(),
        });
        let cluster = match link {
            Some((link, parts)) => Some(
                crate::cluster::start(
                    link,
                    parts,
                    Arc::clone(&bus),
                    db.clone(),
                    config.database.connect_timeout,
                )
                .map_err(StartError::Cluster)?,
            ),
            None => None,
        };
        let sink: Arc<dyn CommitSink> = Arc::clone(&bus) as Arc<dyn CommitSink>;
        let settings = WriterSettings::from_config(config, metrics.persister());
        let (persister, handle) =
            Persister::start(db.clone(), settings, sink).map_err(StartError::Persister)?;
        let deps = GatewayDeps {
            db,
            jwt_secret,
            persister: handle,
            inboxes,
            metrics: Arc::clone(&metrics),
            bus,
        };
        match Gateway::start(config, deps) {
            Ok(gateway) => Ok(Self {
                gateway,
                persister,
                metrics,
                cluster,
            }),
            Err(error) => {
                // The gateway's persister handle is gone with it: the persister stops by itself.
                persister.join();
                Err(error)
            }
        }
    }

    /// The metrics registry (for what runs beside the gateway, like the database supervisor).
    pub fn metrics(&self) -> Arc<Metrics> {
        Arc::clone(&self.metrics)
    }

    /// The gateway, for its address and its shutdown trigger.
    pub fn gateway(&self) -> &Gateway {
        &self.gateway
    }

    /// Drains and stops the gateway, then the persister, then the link to the other instances
    /// (after publishing what the persister committed last). Returns when all are stopped.
    pub fn shutdown(self) {
        self.gateway.shutdown();
        self.persister.join();
        if let Some(cluster) = self.cluster {
            cluster.stop();
        }
    }
}

/// The sessions revoked within the last access-token lifetime, read once at start (their tokens
/// may still be unexpired), before any shard serves.
async fn load_revocations(config: &Config, db: &PgConfig) -> Result<Revocations, StartError> {
    // Tokens are accepted a few seconds past `exp` (clock leeway): keep entries a little longer.
    let keep = config.auth.access_ttl + std::time::Duration::from_secs(30);
    let within = config.database.connect_timeout;
    let client = parley_persister::db::connect_with_retry(db, within).await?;
    let rows = parley_persister::store::sessions::revoked_within(&client, keep).await?;
    let revocations = Revocations::new(keep);
    let rows = rows
        .into_iter()
        .map(|(_, session, ago)| (session, ago))
        .collect();
    revocations.load(rows, std::time::Instant::now());
    Ok(revocations)
}
