//! Revocations written outside this gateway (`parley admin` on the command line: a deactivation
//! or a password reset): a connection listening on `parley_revoked` hears each commit, and the
//! sessions revoked recently that this process has not recorded are revoked here (tokens refused,
//! sockets closed). Reconnects after the database goes away, reading what it missed meanwhile.

use std::sync::Arc;
use std::time::Duration;

use parley_persister::PgConfig;
use parley_persister::store::{admin::REVOKED_CHANNEL, sessions};

use crate::fanout::Bus;
use crate::shutdown::Shutdown;

/// Pause before listening again after the connection failed.
const RETRY: Duration = Duration::from_secs(1);

/// Listens until shutdown (run by shard 0).
pub(crate) async fn run(bus: Arc<Bus>, db: PgConfig, mut shutdown: Shutdown) {
    loop {
        let listening = tokio::select! {
            () = shutdown.triggered() => return,
            listening = parley_persister::db::listen(&db, REVOKED_CHANNEL) => listening,
        };
        match listening {
            Ok((client, mut heard)) => {
                // What was revoked while nobody here listened.
                catch_up(&bus, &client).await;
                loop {
                    tokio::select! {
                        () = shutdown.triggered() => return,
                        changed = heard.changed() => match changed {
                            Ok(()) => catch_up(&bus, &client).await,
                            Err(_) => break,
                        },
                    }
                }
                tracing::debug!("revocation listener lost its connection; reconnecting");
            }
            Err(error) => tracing::debug!(%error, "revocation listener could not connect"),
        }
        tokio::select! {
            () = shutdown.triggered() => return,
            () = tokio::time::sleep(RETRY) => {}
        }
    }
}

/// Revokes here the recent revocations this process has not recorded.
async fn catch_up(bus: &Bus, client: &parley_persister::Client) {
    let revocations = bus.revocations();
    match sessions::revoked_within(client, revocations.keep()).await {
        Ok(rows) => {
            for (user, session, _) in rows {
                if !revocations.is_revoked(session) {
                    bus.revoke_here(user, session);
                }
            }
        }
        Err(error) => tracing::warn!(%error, "could not read revoked sessions; will retry"),
    }
}
