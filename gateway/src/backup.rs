//! `parley backup --to DIR` and `parley restore --from DIR`: the embedded cluster's Parley
//! database as a `pg_dump` snapshot (taken from the running server when a Parley serves this data
//! dir, else from a server started for it), with the generated access-token secret and the
//! uploaded files (`files/blobs`, copied after the dump: every file a dumped upload names was
//! stored before its row, so it is there; one the sweep removes during the backup may be missing),
//! so a restore into a fresh data dir serves the same conversations, attachments and tokens.

use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use anyhow::{Context, bail};
use parley_persister::backup::Tools;
use parley_shared::Config;

use crate::ownership::{OwnershipError, lock_data_dir};
use crate::serve::{EMBEDDED_DATABASE, open_database, startup_runtime};

const DUMP: &str = "parley.dump";
const SECRET: &str = "jwt-secret";
const MANIFEST: &str = "BACKUP";
/// Uploaded files, under the data dir and in a backup.
const BLOBS: &str = "files/blobs";

fn embedded_only(config: &Config, what: &str) -> anyhow::Result<()> {
    if !config.database.url.is_empty() {
        bail!(
            "parley {what} covers the embedded PostgreSQL; with database.url, use your server's \
             backups (pg_dump, pg_basebackup, or the provider's snapshots)"
        );
    }
    Ok(())
}

fn tools(config: &Config) -> anyhow::Result<Tools> {
    let bin_dir = (!config.database.pg_bin_dir.is_empty())
        .then(|| Path::new(&config.database.pg_bin_dir).to_path_buf());
    Ok(Tools::find(bin_dir.as_deref())?)
}

/// Writes a backup of the data dir's database (and secret) into the new directory `to`.
pub fn backup(config: &Config, to: &Path) -> anyhow::Result<()> {
    embedded_only(config, "backup")?;
    if to.exists() && std::fs::read_dir(to)?.next().is_some() {
        bail!(
            "{} is not empty; back up into a new directory",
            to.display()
        );
    }
    std::fs::create_dir_all(to).with_context(|| format!("could not create {}", to.display()))?;
    let data_dir = &config.server.data_dir;
    let tools = tools(config)?;
    let root = data_dir.join("pg");
    match lock_data_dir(data_dir) {
        // Nobody serves this data dir: start its server just for the dump.
        Ok(lock) => {
            let runtime = startup_runtime()?;
            let database = open_database(config, &runtime)?;
            tools.dump(&root, EMBEDDED_DATABASE, &to.join(DUMP))?;
            drop(database);
            drop(lock);
        }
        // A Parley serves it: dump from its running server (a consistent snapshot).
        Err(OwnershipError::DataDirInUse { holder, .. }) => {
            tracing::info!(?holder, "backing up from the running Parley's database");
            tools.dump(&root, EMBEDDED_DATABASE, &to.join(DUMP))?;
        }
        Err(error) => return Err(error.into()),
    }
    let secret = data_dir.join(SECRET);
    if secret.exists() {
        copy_private(&secret, &to.join(SECRET))?;
    }
    let files = copy_tree(&data_dir.join(BLOBS), &to.join(BLOBS))?;
    let manifest = format!(
        "parley backup\nversion = {}\nschema = {}\ncreated = {}\n",
        env!("CARGO_PKG_VERSION"),
        parley_persister::migrate::latest_version(),
        parley_shared::time::format_timestamp(time::OffsetDateTime::now_utc()),
    );
    std::fs::write(to.join(MANIFEST), manifest)?;
    tracing::info!(to = %to.display(), files, "backup written");
    Ok(())
}

/// Restores the backup `from` into the configured data dir, which must hold no cluster yet.
pub fn restore(config: &Config, from: &Path) -> anyhow::Result<()> {
    embedded_only(config, "restore")?;
    let dump = from.join(DUMP);
    if !dump.is_file() {
        bail!("{} holds no {DUMP}: not a parley backup", from.display());
    }
    let data_dir = &config.server.data_dir;
    let lock = lock_data_dir(data_dir)?;
    if data_dir.join("pg/data/PG_VERSION").exists() {
        bail!(
            "{} already holds a database; restore into a fresh --data-dir",
            data_dir.display()
        );
    }
    let tools = tools(config)?;
    let runtime = startup_runtime()?;
    let database = open_database(config, &runtime)?;
    tools.restore(&data_dir.join("pg"), EMBEDDED_DATABASE, &dump)?;
    drop(database);
    let secret = from.join(SECRET);
    if secret.exists() && config.auth.jwt_secret.is_empty() {
        copy_private(&secret, &data_dir.join(SECRET))?;
    }
    copy_tree(&from.join(BLOBS), &data_dir.join(BLOBS))?;
    drop(lock);
    tracing::info!(from = %from.display(), data_dir = %data_dir.display(), "backup restored");
    Ok(())
}

/// Copies the files under `from` (missing: none) into `to`, keeping the layout; how many.
fn copy_tree(from: &Path, to: &Path) -> anyhow::Result<u64> {
    if !from.is_dir() {
        return Ok(0);
    }
    std::fs::create_dir_all(to).with_context(|| format!("could not create {}", to.display()))?;
    let mut copied = 0;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copied += copy_tree(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)
                .with_context(|| format!("could not copy {}", entry.path().display()))?;
            copied += 1;
        }
    }
    Ok(copied)
}

/// Copies a secret, readable by this user only.
fn copy_private(from: &Path, to: &Path) -> anyhow::Result<()> {
    let bytes =
        std::fs::read(from).with_context(|| format!("could not read {}", from.display()))?;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(to)
        .with_context(|| format!("could not create {}", to.display()))?;
    std::io::Write::write_all(&mut file, &bytes)?;
    file.sync_all()?;
    Ok(())
}
