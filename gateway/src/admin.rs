//! `parley admin ...`: the operator's moderation commands, run against the same database as the
//! gateways (the embedded cluster of the data dir, through the socket of the Parley serving it or
//! started for the command, or `database.url`). Each writes its audit row (actor: the command
//! line) in its own transaction; revocations reach every running gateway at commit.

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
    let pool: Pool = parley_persister::db::pool(connect, 1, timeout);
    let mut conn = pool.get().await.context("no database connection")?;
    let user = match action {
        Action::Grant { user }
        | Action::Ungrant { user }
        | Action::ResetPassword { user, .. }
        | Action::Deactivate { user }
        | Action::Reactivate { user } => user,
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
