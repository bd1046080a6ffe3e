//! Connections to PostgreSQL: parsing settings (TLS included), pools, the durability check and
//! the readiness probe.

use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio_postgres::{Client, NoTls};
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::error::DbError;
use crate::migrate;

/// How to reach the database: tokio-postgres' settings and, when TLS may be used, the rustls
/// configuration that checks the server (see `tls`).
#[derive(Clone)]
pub struct PgConfig {
    pg: tokio_postgres::Config,
    tls: Option<Arc<rustls::ClientConfig>>,
}

impl PgConfig {
    /// The same settings with ` ROLE` appended to the application name (`parley lane`).
    pub(crate) fn with_role(&self, role: &str) -> Self {
        let mut pg = self.pg.clone();
        let name = format!("{} {role}", pg.get_application_name().unwrap_or("parley"));
        pg.application_name(&name);
        Self {
            pg,
            tls: self.tls.clone(),
        }
    }

    /// Plain connections only (Unix sockets, `sslmode=disable`).
    pub fn plain(pg: tokio_postgres::Config) -> Self {
        Self { pg, tls: None }
    }

    /// tokio-postgres' settings.
    pub fn pg(&self) -> &tokio_postgres::Config {
        &self.pg
    }

    /// Whether connections may use TLS.
    pub fn uses_tls(&self) -> bool {
        self.tls.is_some()
    }
}

impl std::fmt::Debug for PgConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // tokio-postgres' Debug redacts the password.
        f.debug_struct("PgConfig")
            .field("pg", &self.pg)
            .field("tls", &self.tls.is_some())
            .finish()
    }
}

impl From<tokio_postgres::Config> for PgConfig {
    fn from(pg: tokio_postgres::Config) -> Self {
        Self::plain(pg)
    }
}

/// Parses a `postgres://` URL or `key=value` string into connection settings, with libpq's
/// `sslmode` and `sslrootcert`.
pub fn parse_url(url: &str, connect_timeout: Duration) -> Result<PgConfig, DbError> {
    let (rest, tls) = crate::tls::extract(url)?;
    let mut config: tokio_postgres::Config = rest
        .parse()
        .map_err(|e: tokio_postgres::Error| DbError::BadUrl(e.to_string()))?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(connect_timeout);
    }
    if config.get_application_name().is_none() {
        config.application_name("parley");
    }
    Ok(PgConfig {
        pg: config,
        tls: crate::tls::client_config(&tls)?,
    })
}

/// A pool of at most `size` connections. Connections open lazily, on the runtime that asks for
/// them: build one pool per shard so each shard's queries stay on its own event loop.
pub fn pool(config: PgConfig, size: usize, connect_timeout: Duration) -> Pool {
    let recycling = || ManagerConfig {
        recycling_method: RecyclingMethod::Fast,
    };
    let manager = match config.tls {
        Some(tls) => Manager::from_config(
            config.pg,
            MakeRustlsConnect::new((*tls).clone()),
            recycling(),
        ),
        None => Manager::from_config(config.pg, NoTls, recycling()),
    };
    Pool::builder(manager)
        .max_size(size)
        .runtime(Runtime::Tokio1)
        .create_timeout(Some(connect_timeout))
        .wait_timeout(Some(connect_timeout))
        .build()
        .expect("a runtime is set, so timeouts are allowed")
}

/// Opens one connection and drives it on the current runtime.
pub async fn connect(config: &PgConfig) -> Result<Client, DbError> {
    let unavailable = |e: tokio_postgres::Error| DbError::Unavailable(e.to_string());
    let log_end = |result: Result<(), tokio_postgres::Error>| {
        if let Err(error) = result {
            tracing::debug!(%error, "database connection closed");
        }
    };
    match &config.tls {
        Some(tls) => {
            let (client, connection) = config
                .pg
                .connect(MakeRustlsConnect::new((**tls).clone()))
                .await
                .map_err(unavailable)?;
            tokio::spawn(async move { log_end(connection.await) });
            Ok(client)
        }
        None => {
            let (client, connection) = config.pg.connect(NoTls).await.map_err(unavailable)?;
            tokio::spawn(async move { log_end(connection.await) });
            Ok(client)
        }
    }
}

/// Opens one connection that runs `LISTEN channel`: the receiver's value moves on every
/// notification (many coalesce into one change), and it reports closed once the connection ends.
pub async fn listen(
    config: &PgConfig,
    channel: &str,
) -> Result<(Client, tokio::sync::watch::Receiver<u64>), DbError> {
    let unavailable = |e: tokio_postgres::Error| DbError::Unavailable(e.to_string());
    let (tx, rx) = tokio::sync::watch::channel(0u64);
    let client = match &config.tls {
        Some(tls) => {
            let (client, connection) = config
                .pg
                .connect(MakeRustlsConnect::new((**tls).clone()))
                .await
                .map_err(unavailable)?;
            tokio::spawn(forward_notifications(connection, tx));
            client
        }
        None => {
            let (client, connection) = config.pg.connect(NoTls).await.map_err(unavailable)?;
            tokio::spawn(forward_notifications(connection, tx));
            client
        }
    };
    // A quoted identifier: the channel name is ours, but quoting keeps it one.
    let quoted = format!("LISTEN \"{}\"", channel.replace('"', "\"\""));
    client.batch_execute(&quoted).await?;
    Ok((client, rx))
}

/// Drives `connection`, counting its notifications into `tx`, until it ends.
async fn forward_notifications<S, T>(
    mut connection: tokio_postgres::Connection<S, T>,
    tx: tokio::sync::watch::Sender<u64>,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    loop {
        match std::future::poll_fn(|cx| connection.poll_message(cx)).await {
            Some(Ok(tokio_postgres::AsyncMessage::Notification(_))) => {
                tx.send_modify(|n| *n = n.wrapping_add(1));
            }
            Some(Ok(_)) => {}
            Some(Err(error)) => {
                tracing::debug!(%error, "listening connection closed");
                return;
            }
            None => return,
        }
    }
}

/// Connects, retrying until `deadline` passes: a server that is still starting refuses for a while.
pub async fn connect_with_retry(config: &PgConfig, within: Duration) -> Result<Client, DbError> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match connect(config).await {
            Ok(client) => return Ok(client),
            Err(error) if tokio::time::Instant::now() >= deadline => return Err(error),
            Err(error) => {
                tracing::debug!(%error, "database not reachable yet; retrying");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
}

/// Refuses a server where a commit may not survive a crash (`fsync` or `synchronous_commit` off),
/// unless `allow_unsafe` is set, in which case it logs a warning.
pub async fn check_durability(client: &Client, allow_unsafe: bool) -> Result<(), DbError> {
    for setting in ["fsync", "synchronous_commit"] {
        let row = client.query_one(&format!("SHOW {setting}"), &[]).await?;
        let value: String = row.get(0);
        if value == "off" {
            if allow_unsafe {
                tracing::warn!(
                    setting,
                    value = %value,
                    "durability is off (--allow-unsafe-durability): acknowledged messages can be lost in a crash"
                );
            } else {
                return Err(DbError::UnsafeDurability { setting, value });
            }
        }
    }
    Ok(())
}

/// Creates database `name` if it does not exist (used for the embedded cluster and by tests).
pub async fn ensure_database(admin: &Client, name: &str) -> Result<(), DbError> {
    let exists = admin
        .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&name])
        .await?
        .is_some();
    if !exists {
        // Identifiers cannot be bound; quote it instead.
        let quoted = format!("\"{}\"", name.replace('"', "\"\""));
        admin
            .batch_execute(&format!("CREATE DATABASE {quoted}"))
            .await?;
    }
    Ok(())
}

/// Readiness: the database answers within `timeout` and every migration this build knows is
/// applied.
pub async fn probe(pool: &Pool, timeout: Duration) -> Result<(), DbError> {
    let check = async {
        let client = pool.get().await?;
        let version = migrate::applied_version(&client).await?;
        let wanted = migrate::latest_version();
        if version < wanted {
            return Err(DbError::SchemaBehind {
                found: version,
                wanted,
            });
        }
        Ok(())
    };
    tokio::time::timeout(timeout, check)
        .await
        .map_err(|_| DbError::Timeout(timeout))?
}

/// Everything `serve` and `migrate` do before traffic: connect (retrying while the server starts),
/// refuse unsafe durability, apply migrations.
pub async fn prepare(
    config: &PgConfig,
    within: Duration,
    allow_unsafe_durability: bool,
) -> Result<migrate::MigrationReport, crate::MigrateError> {
    let mut client = connect_with_retry(config, within).await?;
    check_durability(&client, allow_unsafe_durability).await?;
    migrate::migrate(&mut client).await
}
