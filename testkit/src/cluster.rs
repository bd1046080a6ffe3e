//! Throwaway PostgreSQL clusters built with the same code as `parley serve`'s embedded cluster.
//! Each cluster starts from a template initialised once per machine (under a file lock), so a test
//! pays for a copy and a start, not an `initdb`. Clusters live under `$PARLEY_TEST_DIR` (default
//! `/tmp/parley-test`) and are stopped and removed when dropped.

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use anyhow::Context;
use parley_persister::PgConfig;
use parley_persister::db;
use parley_persister::embedded::{EmbeddedOptions, EmbeddedPg};

/// Database created in every test cluster.
pub const TEST_DATABASE: &str = "parley";

static NEXT: AtomicU32 = AtomicU32::new(0);

/// Root of every test cluster and scratch directory.
pub fn test_root() -> PathBuf {
    std::env::var_os("PARLEY_TEST_DIR")
        .map_or_else(|| PathBuf::from("/tmp/parley-test"), PathBuf::from)
}

/// A fresh empty directory under the test root, reachable by the `postgres` user, removed by the
/// caller (or left for inspection when a test fails).
pub fn scratch_dir(label: &str) -> anyhow::Result<PathBuf> {
    let root = test_root();
    create_open_dir(&root)?;
    let dir = root.join(format!(
        "{label}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    if dir.exists() {
        fs::remove_dir_all(&dir).with_context(|| format!("clearing {}", dir.display()))?;
    }
    create_open_dir(&dir)?;
    Ok(dir)
}

/// A running cluster with the `parley` database created (not migrated).
#[derive(Debug)]
pub struct TestCluster {
    pg: Option<EmbeddedPg>,
    dir: PathBuf,
}

impl TestCluster {
    /// Starts a new cluster from the template and creates the test database.
    pub async fn start() -> anyhow::Result<Self> {
        Self::start_with(scratch_dir("cluster")?, |_| {}).await
    }

    /// Like [`start`](Self::start), in `dir`, with the server options changed by `adjust` (a
    /// TCP port, TLS settings...).
    pub async fn start_with(
        dir: PathBuf,
        adjust: impl FnOnce(&mut EmbeddedOptions),
    ) -> anyhow::Result<Self> {
        let template = template()?;
        let mut options = EmbeddedOptions {
            template: Some(template),
            ..EmbeddedOptions::new(dir.join("pg"))
        };
        adjust(&mut options);
        let pg = EmbeddedPg::start(&options)?;
        let admin =
            db::connect_with_retry(&pg.connect_config("postgres"), Duration::from_secs(30)).await?;
        db::ensure_database(&admin, TEST_DATABASE).await?;
        Ok(Self { pg: Some(pg), dir })
    }

    /// Starts a cluster and applies every migration, as `parley serve` would.
    pub async fn migrated() -> anyhow::Result<Self> {
        let cluster = Self::start().await?;
        db::prepare(&cluster.config(), Duration::from_secs(30), false).await?;
        Ok(cluster)
    }

    /// Connection settings for the test database.
    pub fn config(&self) -> PgConfig {
        self.pg().connect_config(TEST_DATABASE)
    }

    /// The same settings as a libpq key=value string, for `--database-url`.
    pub fn url(&self) -> String {
        format!(
            "host={} port=5432 user={} dbname={TEST_DATABASE}",
            self.pg().socket_dir().display(),
            parley_persister::embedded::SUPERUSER
        )
    }

    /// A new connection to the test database.
    pub async fn client(&self) -> anyhow::Result<tokio_postgres::Client> {
        Ok(db::connect(&self.config()).await?)
    }

    /// Rows in `messages`: what was stored, whatever was acknowledged.
    pub async fn message_count(&self) -> anyhow::Result<i64> {
        Ok(self
            .client()
            .await?
            .query_one("SELECT count(*) FROM messages", &[])
            .await?
            .get(0))
    }

    /// The embedded server, to stop and restart it.
    pub fn pg_mut(&mut self) -> &mut EmbeddedPg {
        self.pg.as_mut().expect("the server lives until drop")
    }

    fn pg(&self) -> &EmbeddedPg {
        self.pg.as_ref().expect("the server lives until drop")
    }

    /// Directory holding the cluster.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for TestCluster {
    fn drop(&mut self) {
        if let Some(mut pg) = self.pg.take() {
            let _ = pg.stop();
        }
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// The initialised template data dir, created once (atomically, under a lock) and reused.
fn template() -> anyhow::Result<PathBuf> {
    let root = test_root();
    create_open_dir(&root)?;
    let bins = parley_persister::embedded::find_binaries(None)?;
    let version = bins
        .parent()
        .and_then(Path::file_name)
        .map_or_else(|| "pg".to_owned(), |v| v.to_string_lossy().into_owned());
    let template = root.join(format!("template-{version}"));
    if template.join("PG_VERSION").exists() {
        return Ok(template);
    }
    let lock = File::create(root.join("template.lock")).context("creating the template lock")?;
    lock.lock().context("locking the template")?;
    if !template.join("PG_VERSION").exists() {
        let building = root.join(format!(
            "template-{version}.building-{}",
            std::process::id()
        ));
        let _ = fs::remove_dir_all(&building);
        EmbeddedPg::init_template(Some(&bins), &building)?;
        let _ = fs::remove_dir_all(&template);
        fs::rename(&building, &template).context("publishing the template")?;
    }
    Ok(template)
}

/// Creates `dir` with mode 0755 so the `postgres` user can pass through it when tests run as root.
fn create_open_dir(dir: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mode = fs::metadata(dir)?.permissions().mode();
    if mode & 0o005 != 0o005 && mode & 0o1000 == 0 {
        fs::set_permissions(dir, fs::Permissions::from_mode(0o755))?;
    }
    Ok(())
}
