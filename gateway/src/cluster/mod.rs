//! The link between gateway instances through Redis (`redis.url`): every fan-out event this
//! instance's persister commits or its gateway starts is published once, as one envelope, on the
//! deployment's event channel, and every instance delivers what it receives to its own
//! connections. Messages pass the per-conversation [`sequencer`] on every instance, so they
//! reach clients in `seq` order whichever instance committed them; gaps are filled from
//! PostgreSQL. Presence and rate limits share state through Redis scripts (`presence`,
//! `limits`). Without `redis.url` none of this exists and the bus is purely in-process.
//!
//! Redis is never a durability authority: a send is acknowledged after its commit whether or not
//! Redis is up. While Redis is down, local fan-out continues, remote messages are fetched from
//! PostgreSQL by the periodic catch-up, presence reads fall back to this instance's view and
//! rate limits to local limiters, and `/health/ready` says `degraded`.

pub(crate) mod connections;
mod envelope;
pub(crate) mod limits;
mod metrics;
pub(crate) mod presence;
mod run;
mod sequencer;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use bytes::Bytes;
use fred::prelude::{Builder, Config as FredConfig, ReconnectPolicy};
use parley_shared::config::RedisConfig;
use parley_shared::{InstanceId, UserId};
use tokio::sync::mpsc;

pub(crate) use self::envelope::decode;
pub(crate) use self::metrics::ClusterMetrics;
pub(crate) use self::run::{ClusterHandle, start};
use self::sequencer::Released;
use self::sequencer::Sequencer;
use crate::fanout::Delivery;
use crate::presence::Status;

/// Why the link could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("redis.url: {0}")]
    Url(#[source] fred::error::Error),
    #[error("could not build the Redis client: {0}")]
    Client(#[source] fred::error::Error),
    #[error("could not start the cluster thread: {0}")]
    Thread(#[source] std::io::Error),
}

/// Key and channel names, all under `redis.prefix` and a format version.
#[derive(Debug, Clone)]
pub(crate) struct Keys {
    base: String,
}

impl Keys {
    fn new(prefix: &str) -> Self {
        Self {
            base: format!("{prefix}:v1"),
        }
    }

    /// The one channel every instance publishes its events on and subscribes to.
    pub(crate) fn events(&self) -> String {
        format!("{}:events", self.base)
    }

    /// The hash of a user's presence: one field per instance holding their connections.
    pub(crate) fn presence(&self, user: parley_shared::UserId) -> String {
        format!("{}{user}", self.presence_prefix())
    }

    /// What every user's presence hash name starts with.
    pub(crate) fn presence_prefix(&self) -> String {
        format!("{}:presence:", self.base)
    }

    /// Users whose presence entries expire, by the earliest expiry (for the sweep).
    pub(crate) fn presence_due(&self) -> String {
        format!("{}:presence-due", self.base)
    }

    /// A user's open connections: one field per instance.
    pub(crate) fn connections(&self, user: parley_shared::UserId) -> String {
        format!("{}:conns:{user}", self.base)
    }

    /// What an instance's liveness key starts with (followed by its id).
    pub(crate) fn alive_prefix(&self) -> String {
        format!("{}:alive:", self.base)
    }

    /// One limit's GCRA timestamp for one key.
    pub(crate) fn limit(&self, limit: &str, key: &str) -> String {
        format!("{}:rl:{limit}:{key}", self.base)
    }
}

/// What the bus needs of the link (shared by the persister's thread, the shards and the
/// cluster thread).
#[derive(Debug)]
pub(crate) struct Link {
    instance: InstanceId,
    keys: Keys,
    config: RedisConfig,
    publish: mpsc::Sender<Bytes>,
    sequencer: Mutex<Sequencer<Arc<Delivery>>>,
    /// For scripts and publishing.
    pub(crate) client: fred::clients::Client,
    /// For the event channel.
    subscriber: fred::clients::SubscriberClient,
    up: AtomicBool,
    metrics: Arc<crate::metrics::Metrics>,
    /// Every user's status as last published by any instance (offline ones are absent).
    statuses: Mutex<HashMap<UserId, Status>>,
    /// Open WebSocket connections per user on this instance (the connection cap's local part):
    /// an event from another instance with no recipient connected here is not delivered.
    pub(crate) local: crate::limits::ConnectionCounter,
}

impl crate::fanout::Peers for Link {
    /// A message or change from another instance matters here only if one of its recipients
    /// has a connection here (everything else may concern anyone: it is delivered).
    fn wanted(&self, delivery: &Delivery) -> bool {
        let recipients = match delivery {
            Delivery::Message { recipients, .. } | Delivery::Changed { recipients, .. } => {
                recipients
            }
            _ => return true,
        };
        let wanted = recipients.iter().any(|user| self.local.count(*user) > 0);
        if !wanted {
            self.metrics.cluster.unwanted.inc();
            if let Delivery::Message { conversation, .. } = delivery {
                self.sequencer().forget_idle(*conversation);
            }
        }
        wanted
    }

    /// Publishes `delivery` to the other instances (never blocks: a full queue is counted as
    /// loss, which receivers repair).
    fn publish(&self, delivery: &Delivery) {
        let Some(bytes) = envelope::encode(self.instance, delivery) else {
            return;
        };
        if self.publish.try_send(bytes).is_err() {
            self.metrics.cluster.publish_failed.inc();
        }
    }

    /// Hands `delivery` to `deliver` when it may be delivered: a message passes the sequencer
    /// (it may be held, or release held ones with it), every other event passes at once.
    /// `deliver` runs under the sequencer's lock, so what one thread releases reaches the shards
    /// before what another releases next. A message already delivered comes back.
    fn offer(
        &self,
        delivery: Arc<Delivery>,
        deliver: &mut dyn FnMut(Arc<Delivery>),
    ) -> Option<Arc<Delivery>> {
        let Delivery::Message {
            conversation, seq, ..
        } = &*delivery
        else {
            deliver(delivery);
            return None;
        };
        let (conversation, seq) = (*conversation, *seq);
        let mut sequencer = self.sequencer();
        let released = sequencer.offer(conversation, seq, delivery, Instant::now());
        self.count(&released);
        released.items.into_iter().for_each(&mut *deliver);
        released.rejected
    }

    /// A published presence change (this instance's or another's).
    fn observe(&self, user: UserId, status: Status) {
        let mut statuses = self.statuses();
        if status == Status::Offline {
            statuses.remove(&user);
        } else {
            statuses.insert(user, status);
        }
    }
}

/// The parts of the link only the cluster thread uses.
#[derive(Debug)]
pub(crate) struct LinkParts {
    publish: mpsc::Receiver<Bytes>,
}

impl Link {
    /// Builds the link (nothing connects until [`start`]).
    pub(crate) fn new(
        instance: InstanceId,
        config: &RedisConfig,
        metrics: Arc<crate::metrics::Metrics>,
    ) -> Result<(Arc<Self>, LinkParts), ClusterError> {
        let fred_config = FredConfig::from_url(config.url.trim()).map_err(ClusterError::Url)?;
        let mut builder = Builder::from_config(fred_config);
        builder
            // Forever, from 50 ms up to 2 s between attempts.
            .set_policy(ReconnectPolicy::new_exponential(0, 50, 2_000, 2))
            .with_connection_config(|c| {
                c.connection_timeout = config
                    .command_timeout
                    .max(std::time::Duration::from_secs(1));
                c.max_command_buffer_len = config.publish_queue;
            })
            .with_performance_config(|p| {
                p.broadcast_channel_capacity = config.receive_capacity;
                p.default_command_timeout = config.command_timeout * 4;
            });
        let client = builder.build().map_err(ClusterError::Client)?;
        let subscriber = builder
            .build_subscriber_client()
            .map_err(ClusterError::Client)?;
        let (publish, publish_rx) = mpsc::channel(config.publish_queue);
        Ok((
            Arc::new(Self {
                instance,
                keys: Keys::new(&config.prefix),
                config: config.clone(),
                publish,
                sequencer: Mutex::new(Sequencer::new(config.reorder_hold, config.max_tracked)),
                client,
                subscriber,
                up: AtomicBool::new(false),
                metrics,
                statuses: Mutex::new(HashMap::new()),
                local: crate::limits::ConnectionCounter::default(),
            }),
            LinkParts {
                publish: publish_rx,
            },
        ))
    }

    pub(crate) fn metrics(&self) -> &ClusterMetrics {
        &self.metrics.cluster
    }

    /// Whether both Redis connections are up now.
    pub(crate) fn is_up(&self) -> bool {
        self.up.load(Ordering::Acquire)
    }

    fn set_up(&self, up: bool) {
        self.up.store(up, Ordering::Release);
        self.metrics.cluster.redis_up.set(i64::from(up));
    }

    /// `user`'s status as last published by any instance (unknown while Redis is down).
    pub(crate) fn status_of(&self, user: UserId) -> Status {
        if !self.is_up() {
            return Status::Unknown;
        }
        self.statuses()
            .get(&user)
            .copied()
            .unwrap_or(Status::Offline)
    }

    /// Every published status, read from Redis.
    pub(crate) fn replace_statuses(&self, statuses: HashMap<UserId, Status>) {
        *self.statuses() = statuses;
    }

    fn statuses(&self) -> std::sync::MutexGuard<'_, HashMap<UserId, Status>> {
        // Single inserts and removes: a poisoned map is still consistent.
        self.statuses
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn sequencer(&self) -> std::sync::MutexGuard<'_, Sequencer<Arc<Delivery>>> {
        // Every sequencer step leaves its maps consistent: a poisoned lock is still usable.
        self.sequencer
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn count<T>(&self, released: &Released<T>) {
        self.metrics.cluster.duplicates.add(released.duplicates);
        self.metrics.cluster.skipped.add(released.skipped);
    }
}
