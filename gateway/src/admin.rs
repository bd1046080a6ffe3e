//! `parley admin ...`: the operator's moderation and data-protection commands, run against the
//! same database as the gateways (the embedded cluster of the data dir, through the socket of
//! the Parley serving it or started for the command, or `database.url`). Each writes its audit
//! row (actor: the command line) in its own transaction; revocations reach every running gateway
//! at commit.

use std::time::Duration;

use anyhow::{Context, bail};
use parley_persister::store::admin::{self, Account};
use parley_persister::store::audit::Entry;
use parley_persister::{PgConfig, Pool};
use parley_shared::Config;

use crate::ownership::{OwnershipError, lock_data_dir};
use crate::serve::{EMBEDDED_DATABASE, open_database, startup_runtime};

/// What the operator asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Make `user` a server admin.
    Grant { user: String },
    /// Withdraw the admin role.
    Ungrant { user: String },
    /// Issue a one-time password-reset link for `user`, valid for `valid`, under `base_url`.
    ResetPassword {
        user: String,
        valid: Duration,
        base_url: String,
    },
    /// Deactivate `user`: sessions revoked, sockets closed, sign-in refused.
    Deactivate { user: String },
    /// Let `user` sign in again.
    Reactivate { user: String },
    /// Delete `user`'s account (as `DELETE /api/users/me` does).
    DeleteUser { user: String },
    /// Write `user`'s data export to a new file `to` (mode 0600).
    Export {
        user: String,
        to: std::path::PathBuf,
    },
}

/// Longest a reset link may be valid.
pub const MAX_RESET_VALIDITY: Duration = Duration::from_secs(7 * 24 * 3600);

/// Runs `action`; the line to print for the operator.
pub fn run(config: &Config, action: &Action) -> anyhow::Result<String> {
    if let Action::ResetPassword { valid, .. } = action
        && (valid.is_zero() || *valid > MAX_RESET_VALIDITY)
    {
        bail!("a reset link is valid for between 1 second and 7 days");
    }
    let runtime = startup_runtime()?;
    // The embedded cluster: through the socket of the Parley serving it, or started for this.
    let (connect, _database, _lock) = match config.database.url.is_empty() {
        false => (
            parley_persister::db::parse_url(&config.database.url, config.database.connect_timeout)?,
            None,
            None,
        ),
        true => match lock_data_dir(&config.server.data_dir) {
            Ok(lock) => {
                let database = open_database(config, &runtime)?;
                let connect = database.connect.clone();
                // Nobody serves this data dir: bring its schema up to date as `serve` would.
                runtime.block_on(parley_persister::db::prepare(
                    &connect,
                    config.database.connect_timeout,
                    config.database.allow_unsafe_durability,
                ))?;
                (connect, Some(database), Some(lock))
            }
            Err(OwnershipError::DataDirInUse { .. }) => (
                parley_persister::embedded::connect_running(
                    &config.server.data_dir.join("pg"),
                    EMBEDDED_DATABASE,
                )?,
                None,
                None,
            ),
            Err(error) => return Err(error.into()),
        },
    };
    runtime.block_on(execute(config, connect, action))
}

async fn execute(config: &Config, connect: PgConfig, action: &Action) -> anyhow::Result<String> {
    let timeout = config.database.connect_timeout;
    {
        let client = parley_persister::db::connect_with_retry(&connect, timeout).await?;
        let version = parley_persister::migrate::applied_version(&client).await?;
        let latest = parley_persister::migrate::latest_version();
        if version < latest {
            bail!(
                "the database schema is at version {version}, this build needs {latest}: run `parley migrate` first"
            );
        }
    }
    let pool: Pool = parley_persister::db::pool(connect.clone(), 2, timeout);
    let mut conn = pool.get().await.context("no database connection")?;
    let user = match action {
        Action::Grant { user }
        | Action::Ungrant { user }
        | Action::ResetPassword { user, .. }
        | Action::Deactivate { user }
        | Action::Reactivate { user }
        | Action::DeleteUser { user }
        | Action::Export { user, .. } => user,
    };
    let Some(account) = admin::find(&conn, &user.to_lowercase()).await? else {
        bail!("no user named {user}");
    };
    let Account { id, username, .. } = account;
    Ok(match action {
        Action::Grant { .. } | Action::Ungrant { .. } => {
            let grant = matches!(action, Action::Grant { .. });
            let name = if grant {
                "admin.granted"
            } else {
                "admin.revoked"
            };
            let changed =
                admin::set_admin(&mut conn, id, grant, Entry::new(None, name).user(id)).await?;
            match (grant, changed) {
                (true, true) => format!("{username} is now a server admin"),
                (true, false) => format!("{username} already is a server admin"),
                (false, true) => format!("{username} is no longer a server admin"),
                (false, false) => format!("{username} is not a server admin"),
            }
        }
        Action::Deactivate { .. } | Action::Reactivate { .. } => {
            let off = matches!(action, Action::Deactivate { .. });
            let name = if off {
                "user.deactivated"
            } else {
                "user.reactivated"
            };
            let changed =
                admin::set_deactivated(&mut conn, id, off, Entry::new(None, name).user(id)).await?;
            match (off, changed) {
                (true, Some(revoked)) => format!(
                    "{username} is deactivated ({} sessions signed out)",
                    revoked.len()
                ),
                (true, None) => format!("{username} already is deactivated"),
                (false, Some(_)) => format!("{username} may sign in again"),
                (false, None) => format!("{username} is not deactivated"),
            }
        }
        Action::DeleteUser { .. } => {
            drop(conn);
            let erased = delete_user(config, connect, &pool, id).await?;
            format!(
                "{username} is deleted (left {} groups, {} direct messages deleted, {} messages {})",
                erased.groups,
                erased.dms,
                erased.messages,
                if config.privacy.delete_messages {
                    "deleted"
                } else {
                    "emptied"
                }
            )
        }
        Action::Export { to, .. } => {
            let bytes = export_to_file(&conn, id, to).await?;
            let entry = Entry::new(None, "user.exported").user(id);
            parley_persister::store::audit::record(&**conn, &entry).await?;
            format!("{username}'s data: {bytes} bytes in {}", to.display())
        }
        Action::ResetPassword {
            valid, base_url, ..
        } => {
            let (token, hash) = crate::auth::refresh::generate();
            let expires = time::OffsetDateTime::now_utc() + *valid;
            let entry = Entry::new(None, "user.password_reset_issued")
                .user(id)
                .details(serde_json::json!({"validSeconds": valid.as_secs()}).to_string());
            admin::issue_reset(&mut conn, id, &hash, expires, entry).await?;
            format!(
                "{}/reset-password#token={token}\n(one use, for {username}, until {})",
                base_url.trim_end_matches('/'),
                parley_shared::time::format_timestamp(expires)
            )
        }
    })
}

/// A new file, readable by its owner only, that an archive is written to (the command line's
/// runtime does nothing else meanwhile: plain blocking writes).
struct FileOut(std::io::BufWriter<std::fs::File>);

impl crate::privacy::export::Out for FileOut {
    async fn write(&mut self, bytes: &[u8]) -> Result<(), crate::privacy::export::ExportError> {
        use std::io::Write;
        Ok(self.0.write_all(bytes)?)
    }
}

async fn export_to_file(
    conn: &parley_persister::store::Conn,
    user: parley_shared::UserId,
    to: &std::path::Path,
) -> anyhow::Result<u64> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(to)
        .with_context(|| format!("cannot create {} (it must not exist yet)", to.display()))?;
    let mut out = FileOut(std::io::BufWriter::new(file));
    let bytes = crate::privacy::export::write_archive(conn, user, &mut out).await?;
    out.0.flush()?;
    out.0.get_ref().sync_all()?;
    Ok(bytes)
}

/// Deletes `user` with a persister of this command's own (group changes go through lanes, as
/// in the gateways; their members' connections hear of them at their next sync).
async fn delete_user(
    config: &Config,
    connect: PgConfig,
    pool: &Pool,
    user: parley_shared::UserId,
) -> anyhow::Result<crate::privacy::erase::Erased> {
    use parley_persister::writer::{NoSink, Persister, WriterSettings};
    let settings = WriterSettings::from_config(config, std::sync::Arc::default());
    let (persister, handle) = Persister::start(connect, settings, std::sync::Arc::new(NoSink))?;
    let eraser = crate::privacy::erase::Eraser {
        pool,
        persister: &handle,
        bus: None,
        delete_messages: config.privacy.delete_messages,
        audit: Entry::new(None, "user.deleted"),
    };
    let result = eraser.erase(user).await;
    drop(handle);
    tokio::task::spawn_blocking(move || persister.join()).await?;
    result?.context("the account is gone already")
}
