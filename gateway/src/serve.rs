//! `parley serve` and `parley migrate`: find or start the database, migrate, run the gateway until
//! SIGINT/SIGTERM, then stop in order (gateway first, embedded PostgreSQL last).

use std::io::Write;
use std::path::Path;

use anyhow::Context;
use parley_persister::db;
use parley_persister::embedded::{EmbeddedOptions, EmbeddedPg};
use parley_persister::migrate::MigrationReport;
use parley_shared::Config;

use crate::ownership::{ensure_free, lock_data_dir};
use crate::{Gateway, Parley};

/// Name of the database Parley uses inside its embedded cluster.
pub const EMBEDDED_DATABASE: &str = "parley";

/// Where the database is, and the embedded server when Parley runs its own.
#[derive(Debug)]
pub struct Database {
    /// Connection settings for the Parley database.
    pub connect: parley_persister::PgConfig,
    /// The embedded server, stopped when this is dropped.
    pub embedded: Option<EmbeddedPg>,
}

/// Runs the gateway until a stop signal. Returns once everything is stopped.
pub fn serve(config: &Config) -> anyhow::Result<()> {
    // Before anything else: this process owns the data dir and the port, or it stops here.
    let owned = lock_data_dir(&config.server.data_dir)?;
    tracing::debug!(lock = %owned.path().display(), "data dir locked");
    let config = &with_vapid_key(config)?;
    ensure_free(config.server.listen)?;
    let runtime = startup_runtime()?;
    let database = open_database(config, &runtime)?;
    let report = runtime.block_on(prepare(config, &database))?;
    tracing::info!(schema = report.version, applied = ?report.applied, "database ready");
    let parley = runtime.block_on(Parley::start(
        config,
        database.connect.clone(),
        jwt_secret(config)?,
    ))?;
    announce(parley.gateway());
    let trigger = parley.gateway().trigger();
    let metrics = parley.metrics();
    let mut database = database;
    let start_timeout = config.database.embedded_start_timeout;
    runtime.block_on(async {
        match database.embedded.as_mut() {
            // The embedded server is watched (and brought back) until the stop signal.
            Some(pg) => tokio::select! {
                stop = wait_for_signal(parley.gateway()) => stop,
                () = crate::supervise::embedded_postgres(pg, &metrics, start_timeout) => Ok(()),
            },
            None => wait_for_signal(parley.gateway()).await,
        }
    })?;
    tracing::info!(grace = ?config.server.shutdown_grace, "stop signal received; draining");
    trigger.trigger();
    // The gateway and the persister drain first; PostgreSQL stops last.
    parley.shutdown();
    drop(database);
    tracing::info!("stopped");
    drop(owned);
    Ok(())
}

/// Applies pending migrations and reports what it did.
pub fn migrate(config: &Config) -> anyhow::Result<MigrationReport> {
    // The embedded cluster lives in the data dir: only its owner may start it.
    let _owned = match config.database.url.is_empty() {
        true => Some(lock_data_dir(&config.server.data_dir)?),
        false => None,
    };
    let runtime = startup_runtime()?;
    let database = open_database(config, &runtime)?;
    Ok(runtime.block_on(prepare(config, &database))?)
}

/// Connect (retrying while the server starts), check durability, migrate.
async fn prepare(
    config: &Config,
    database: &Database,
) -> Result<MigrationReport, parley_persister::MigrateError> {
    db::prepare(
        &database.connect,
        config.database.connect_timeout,
        config.database.allow_unsafe_durability,
    )
    .await
}

/// The configured database, or the embedded cluster in `<data_dir>/pg` (started, with the Parley
/// database created).
pub fn open_database(
    config: &Config,
    runtime: &tokio::runtime::Runtime,
) -> anyhow::Result<Database> {
    if !config.database.url.is_empty() {
        let connect = db::parse_url(&config.database.url, config.database.connect_timeout)?;
        return Ok(Database {
            connect,
            embedded: None,
        });
    }
    let data_dir = &config.server.data_dir;
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("could not create the data dir {}", data_dir.display()))?;
    let options = EmbeddedOptions {
        bin_dir: non_empty_path(&config.database.pg_bin_dir),
        start_timeout: config.database.embedded_start_timeout,
        ..EmbeddedOptions::new(data_dir.join("pg"))
    };
    let embedded = EmbeddedPg::start(&options)?;
    let admin_config = embedded.connect_config("postgres");
    runtime.block_on(async {
        let admin =
            db::connect_with_retry(&admin_config, config.database.embedded_start_timeout).await?;
        db::ensure_database(&admin, EMBEDDED_DATABASE).await
    })?;
    Ok(Database {
        connect: embedded.connect_config(EMBEDDED_DATABASE),
        embedded: Some(embedded),
    })
}

/// The access-token key: `auth.jwt_secret` when configured, else the one kept in
/// `<data_dir>/jwt-secret`, generated (256 random bits, mode 0600) on first start.
pub fn jwt_secret(config: &Config) -> anyhow::Result<Vec<u8>> {
    if !config.auth.jwt_secret.is_empty() {
        return Ok(config.auth.jwt_secret.as_bytes().to_vec());
    }
    let path = config.server.data_dir.join("jwt-secret");
    if path.exists() {
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("could not read {}", path.display()))?;
        let secret = text.trim();
        anyhow::ensure!(
            secret.len() >= 32,
            "{} holds a secret shorter than 32 bytes; delete it to generate a new one",
            path.display()
        );
        return Ok(secret.as_bytes().to_vec());
    }
    let mut bytes = [0u8; 32];
    crate::auth::random_bytes(&mut bytes);
    let secret: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    write_secret(&config.server.data_dir, &path, &secret)?;
    tracing::info!(path = %path.display(), "generated the access-token secret");
    Ok(secret.into_bytes())
}

/// Writes a generated secret to `path` in `dir` (created if need be): a new file, mode 0600,
/// synced before it is used.
fn write_secret(dir: &Path, path: &Path, secret: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt;

    std::fs::create_dir_all(dir).with_context(|| format!("could not create {}", dir.display()))?;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("could not create {}", path.display()))?;
    file.write_all(secret.as_bytes())?;
    file.sync_all()?;
    Ok(())
}

/// With Web Push on and no `notifications.vapid_private_key`: the one kept in
/// `<data_dir>/vapid.key`, generated (mode 0600) on first start, so browsers' subscriptions keep
/// working across restarts. A configured key is checked here (start fails on a bad one).
fn with_vapid_key(config: &Config) -> anyhow::Result<Config> {
    let mut config = config.clone();
    let notifications = &mut config.notifications;
    if !notifications.webpush_enabled() {
        return Ok(config);
    }
    if notifications.vapid_private_key.is_empty() {
        let path = config.server.data_dir.join("vapid.key");
        if path.exists() {
            notifications.vapid_private_key = std::fs::read_to_string(&path)
                .with_context(|| format!("could not read {}", path.display()))?
                .trim()
                .to_owned();
        } else {
            let key = crate::push::vapid::generate()?;
            write_secret(&config.server.data_dir, &path, &key)?;
            tracing::info!(path = %path.display(), "generated the VAPID key for Web Push");
            notifications.vapid_private_key = key;
        }
    }
    crate::push::vapid::Vapid::new(
        &notifications.vapid_private_key,
        &notifications.vapid_subject,
    )?;
    Ok(config)
}

fn non_empty_path(text: &str) -> Option<std::path::PathBuf> {
    (!text.is_empty()).then(|| Path::new(text).to_path_buf())
}

/// The main thread's own small runtime, for startup work and waiting on signals.
pub(crate) fn startup_runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("could not build the startup runtime")
}

fn announce(gateway: &Gateway) {
    let addr = gateway.local_addr();
    let scheme = if gateway.uses_tls() { "https" } else { "http" };
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(
        stdout,
        "Parley is listening on {scheme}://{addr} ({} shards). Health: {scheme}://{addr}/health/ready. Ctrl-C stops it.",
        gateway.shards()
    );
    let _ = stdout.flush();
}

/// Waits for SIGTERM or SIGINT; on SIGHUP meanwhile, reloads the TLS certificate.
async fn wait_for_signal(gateway: &Gateway) -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate()).context("could not watch SIGTERM")?;
    let mut interrupt = signal(SignalKind::interrupt()).context("could not watch SIGINT")?;
    let mut hangup = signal(SignalKind::hangup()).context("could not watch SIGHUP")?;
    loop {
        tokio::select! {
            _ = terminate.recv() => return Ok(()),
            _ = interrupt.recv() => return Ok(()),
            _ = hangup.recv() => match gateway.reload_tls() {
                Ok(()) if gateway.uses_tls() => tracing::info!("TLS certificate reloaded"),
                Ok(()) => tracing::info!("SIGHUP: nothing to reload (no server.tls_cert)"),
                Err(error) => tracing::error!(%error, "TLS certificate not reloaded; keeping the current one"),
            },
        }
    }
}
