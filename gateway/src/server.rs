//! The gateway as a whole: binds the shards' listeners, starts the shards, and stops them.

use std::net::SocketAddr;
use std::thread::JoinHandle;

use std::sync::Arc;

use parley_persister::PgConfig;
use parley_persister::writer::PersisterHandle;
use parley_shared::Config;

use crate::app::App;
use crate::fanout::Inboxes;

use crate::listener;
use crate::shard::{self, ShardSettings, ShardSpec};
use crate::shutdown::{self, ShutdownTrigger};

/// Why the gateway could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Ownership(#[from] crate::ownership::OwnershipError),
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
    #[error("could not listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("could not start the persister: {0}")]
    Persister(#[source] std::io::Error),
    #[error("could not open the file store at {dir}: {source}")]
    Files {
        dir: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("could not start a shard thread: {0}")]
    Thread(#[source] std::io::Error),
    #[error("the fan-out bus has {bus} shard inboxes but the gateway runs {shards} shards")]
    BusMismatch { bus: usize, shards: usize },
    #[error("could not set up password hashing: {0}")]
    Hashing(#[from] crate::auth::password::HashError),
    #[error(transparent)]
    Web(#[from] crate::web::WebError),
    #[error(transparent)]
    Cluster(#[from] crate::cluster::ClusterError),
    #[error("could not read the revoked sessions: {0}")]
    Revocations(#[from] parley_persister::DbError),
    #[error("could not listen for metrics on {addr}: {source}")]
    MetricsBind {
        addr: String,
        #[source]
        source: std::io::Error,
    },
}

/// What the gateway needs besides configuration.
#[derive(Debug)]
pub struct GatewayDeps {
    /// How shards reach PostgreSQL.
    pub db: PgConfig,
    /// The access-token key (configured, or generated and kept in the data dir).
    pub jwt_secret: Vec<u8>,
    /// The running persister. The gateway's copies are dropped when its shards exit, which lets
    /// the persister drain and stop.
    pub persister: PersisterHandle,
    /// The receiving ends of the fan-out bus the persister publishes to (one per shard).
    pub inboxes: Inboxes,
    /// The registry shared with the bus and the persister.
    pub metrics: Arc<crate::metrics::Metrics>,
    /// The bus itself (the persister publishes to it; the gateway sends revocations).
    pub bus: Arc<crate::fanout::Bus>,
}

/// A running gateway: N shards serving HTTP on one address.
#[derive(Debug)]
pub struct Gateway {
    addr: SocketAddr,
    /// `metrics.listen`, bound (the real port when it asked for port 0).
    metrics_addr: Option<SocketAddr>,
    /// TLS termination, to reload its certificate.
    tls: Option<Arc<crate::tls::ServerTls>>,
    shards: usize,
    trigger: ShutdownTrigger,
    threads: Vec<JoinHandle<()>>,
}

impl Gateway {
    /// Binds `config.server.listen` and starts the shards.
    pub fn start(config: &Config, deps: GatewayDeps) -> Result<Self, StartError> {
        let web_dir = &config.server.web_dir;
        let web = match (config.server.web_client, web_dir.as_os_str().is_empty()) {
            (false, _) => crate::web::WebAssets::default(),
            (true, true) => crate::web::WebAssets::embedded(),
            (true, false) => crate::web::WebAssets::load(web_dir)?,
        };
        if web.is_empty() && config.server.web_client {
            tracing::info!(dir = %web_dir.display(), "no web client built (make run builds it); serving the API only");
        }
        let mut app = App::new(
            config,
            &deps.jwt_secret,
            deps.persister.clone(),
            Arc::clone(&deps.metrics),
            Arc::clone(&deps.bus),
        )?;
        app.web = web;
        app.files = crate::files::open(config).map_err(|source| StartError::Files {
            dir: config.server.data_dir.join("files"),
            source,
        })?;
        let tls = match config.server.tls_cert.as_os_str().is_empty() {
            true => None,
            false => Some(Arc::new(crate::tls::ServerTls::load(
                &config.server.tls_cert,
                &config.server.tls_key,
            )?)),
        };
        app.tls = tls.clone();
        let app = Arc::new(app);
        let shards = shard_count(config.server.shards);
        let Inboxes {
            receivers,
            overflowed,
            mut push,
        } = deps.inboxes;
        if receivers.len() != shards {
            return Err(StartError::BusMismatch {
                bus: receivers.len(),
                shards,
            });
        }
        let mut receivers = receivers.into_iter();
        let listen = config.server.listen;
        crate::ownership::ensure_free(listen)?;
        let listeners =
            listener::bind_all(listen, shards, config.server.backlog).map_err(|source| {
                StartError::Bind {
                    addr: listen,
                    source,
                }
            })?;
        let addr = listeners
            .first()
            .and_then(|listener| listener.local_addr().ok())
            .expect("bind_all returns one listener per shard, at least one");
        let settings = ShardSettings {
            header_read_timeout: config.server.header_read_timeout,
            max_header_bytes: config.server.max_header_bytes,
            max_headers: config.server.max_headers,
            shutdown_grace: config.server.shutdown_grace,
            pool_size: config.database.pool_size,
            connect_timeout: config.database.connect_timeout,
            probe_timeout: config.database.probe_timeout,
        };
        let mut internal = match config.metrics.listen.as_str() {
            "" => None,
            addr => {
                Some(
                    crate::internal::bind(addr).map_err(|source| StartError::MetricsBind {
                        addr: addr.to_owned(),
                        source,
                    })?,
                )
            }
        };
        let metrics_addr = internal.as_ref().and_then(|l| l.local_addr().ok());
        let (trigger, stop) = shutdown::channel();
        let mut gateway = Gateway {
            addr,
            metrics_addr,
            tls,
            shards,
            trigger,
            threads: Vec::with_capacity(shards),
        };
        for (id, listener) in listeners.into_iter().enumerate() {
            let spec = ShardSpec {
                id,
                listener,
                db: deps.db.clone(),
                settings,
                app: Arc::clone(&app),
                inbox: receivers
                    .next()
                    .expect("one inbox per shard, checked above"),
                overflowed: Arc::clone(&overflowed),
                shutdown: stop.clone(),
                internal: internal.take(),
                push: push.take(),
            };
            match shard::spawn(spec) {
                Ok(thread) => gateway.threads.push(thread),
                Err(error) => {
                    gateway.stop();
                    return Err(StartError::Thread(error));
                }
            }
        }
        match metrics_addr {
            Some(metrics) => tracing::info!(%addr, shards, %metrics, "gateway listening"),
            None => tracing::info!(%addr, shards, "gateway listening"),
        }
        Ok(gateway)
    }

    /// The bound address (the real port when `listen` asked for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The internal metrics address, when `metrics.listen` is set.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_addr
    }

    /// Whether the gateway terminates TLS.
    pub fn uses_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// Reads the TLS certificate and key again (SIGHUP): new connections use them, open ones
    /// keep theirs. Without TLS, does nothing.
    pub fn reload_tls(&self) -> Result<(), crate::tls::TlsError> {
        match &self.tls {
            Some(tls) => tls.reload(),
            None => Ok(()),
        }
    }

    /// Number of shards running.
    pub fn shards(&self) -> usize {
        self.shards
    }

    /// A handle that starts the shutdown from elsewhere (a signal handler, a test).
    pub fn trigger(&self) -> ShutdownTrigger {
        self.trigger.clone()
    }

    /// Stops accepting, lets in-flight requests finish within the grace period, and waits for
    /// every shard thread to exit.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        self.trigger.trigger();
        for thread in self.threads.drain(..) {
            if thread.join().is_err() {
                tracing::error!("a shard thread panicked");
            }
        }
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `0` means one shard per core.
pub fn shard_count(configured: usize) -> usize {
    if configured > 0 {
        return configured;
    }
    std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
}
