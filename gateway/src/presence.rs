//! Who is online, per user over all their devices: `online`, `away` (idle, or set), `dnd` (set),
//! `offline`. Behind a trait so several gateway instances can later share it through Redis; this
//! in-process table serves one instance. Changes are not published as they happen: a ticker
//! (on shard 0) asks for them every `presence.coalesce` and gets at most one per user, and only
//! when the status a watcher would see differs from the last one published. A user whose last
//! connection closed keeps their status for `presence.offline_grace`, so reconnecting (a flaky
//! network, a reconnect storm) publishes nothing at all.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::protocol::events::server;
use parley_shared::UserId;
use parley_shared::config::PresenceConfig;
use time::OffsetDateTime;

/// A user's status as watchers see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Status {
    Online,
    Away,
    Dnd,
    Offline,
    /// Not known now (several instances, and Redis unreachable): only ever read, never published.
    Unknown,
}

impl Status {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Status::Online => "online",
            Status::Away => "away",
            Status::Dnd => "dnd",
            Status::Offline => "offline",
            Status::Unknown => "unknown",
        }
    }

    /// A status as published (what an instance may announce).
    pub(crate) fn published(text: &str) -> Option<Status> {
        match text {
            "offline" => Some(Status::Offline),
            other => Status::settable(other),
        }
    }

    /// A status a user may set (`presence:set`).
    pub(crate) fn settable(text: &str) -> Option<Status> {
        match text {
            "online" => Some(Status::Online),
            "away" => Some(Status::Away),
            "dnd" => Some(Status::Dnd),
            _ => None,
        }
    }
}

/// A published change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Change {
    pub(crate) user: UserId,
    pub(crate) status: Status,
    /// Set when the user went offline (to be persisted as `users.last_seen_at`).
    pub(crate) last_seen_at: Option<OffsetDateTime>,
}

/// The presence table's interface.
pub(crate) trait PresenceState: Send + Sync + std::fmt::Debug {
    /// A connection of `user` authenticated.
    fn connected(&self, user: UserId, now: Instant);
    /// A connection of `user` closed.
    fn disconnected(&self, user: UserId, now: Instant);
    /// `user` did something (a frame other than a heartbeat).
    fn activity(&self, user: UserId, now: Instant);
    /// `presence:set`: `away` or `dnd` until changed; `online` returns to automatic.
    fn set(&self, user: UserId, status: Status, now: Instant);
    /// What watchers currently see (the last published status; offline if unknown).
    fn status(&self, user: UserId) -> Status;
    /// The changes due at `now`, at most one per user (several instances agree on them first).
    fn tick(&self, now: Instant) -> Ticked<'_>;
}

/// The changes a presence tick publishes.
pub(crate) type Ticked<'a> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Vec<Change>> + Send + 'a>>;

#[derive(Debug)]
struct Entry {
    connections: usize,
    manual: Option<Status>,
    last_activity: Instant,
    disconnected_at: Option<Instant>,
    published: Status,
}

/// The in-process table.
#[derive(Debug)]
pub(crate) struct LocalPresence {
    grace: Duration,
    idle_after: Duration,
    users: Mutex<HashMap<UserId, Entry>>,
}

impl LocalPresence {
    pub(crate) fn new(config: &PresenceConfig) -> Self {
        Self {
            grace: config.offline_grace,
            idle_after: config.idle_after,
            users: Mutex::new(HashMap::new()),
        }
    }

    fn users(&self) -> std::sync::MutexGuard<'_, HashMap<UserId, Entry>> {
        // Every update is a single field write: a poisoned table is still consistent.
        self.users
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn effective(&self, entry: &Entry, now: Instant) -> Status {
        if entry.connections == 0 {
            return match entry.disconnected_at {
                Some(at) if now.duration_since(at) < self.grace => entry.published,
                _ => Status::Offline,
            };
        }
        match entry.manual {
            Some(status) => status,
            None if now.duration_since(entry.last_activity) >= self.idle_after => Status::Away,
            None => Status::Online,
        }
    }
}

impl PresenceState for LocalPresence {
    fn connected(&self, user: UserId, now: Instant) {
        let mut users = self.users();
        let entry = users.entry(user).or_insert(Entry {
            connections: 0,
            manual: None,
            last_activity: now,
            disconnected_at: None,
            published: Status::Offline,
        });
        entry.connections += 1;
        entry.disconnected_at = None;
        entry.last_activity = now;
    }

    fn disconnected(&self, user: UserId, now: Instant) {
        if let Some(entry) = self.users().get_mut(&user) {
            entry.connections = entry.connections.saturating_sub(1);
            if entry.connections == 0 {
                entry.disconnected_at = Some(now);
            }
        }
    }

    fn activity(&self, user: UserId, now: Instant) {
        if let Some(entry) = self.users().get_mut(&user) {
            entry.last_activity = now;
        }
    }

    fn set(&self, user: UserId, status: Status, now: Instant) {
        if let Some(entry) = self.users().get_mut(&user) {
            entry.manual = (status != Status::Online).then_some(status);
            entry.last_activity = now;
        }
    }

    fn status(&self, user: UserId) -> Status {
        self.users()
            .get(&user)
            .map_or(Status::Offline, |e| e.published)
    }

    fn tick(&self, now: Instant) -> Ticked<'_> {
        Box::pin(std::future::ready(self.changes(now)))
    }
}

impl LocalPresence {
    /// Every user with a connection here (or within the grace period) and the status they show
    /// from here: what this instance refreshes in the shared table.
    pub(crate) fn snapshot(&self) -> Vec<(UserId, Status)> {
        self.users()
            .iter()
            .filter(|(_, e)| e.published != Status::Offline)
            .map(|(u, e)| (*u, e.published))
            .collect()
    }

    /// The changes of this table due at `now` (see [`PresenceState::tick`]).
    pub(crate) fn changes(&self, now: Instant) -> Vec<Change> {
        let mut changes = Vec::new();
        let mut users = self.users();
        users.retain(|user, entry| {
            let status = self.effective(entry, now);
            if status != entry.published {
                entry.published = status;
                changes.push(Change {
                    user: *user,
                    status,
                    last_seen_at: (status == Status::Offline).then(OffsetDateTime::now_utc),
                });
            }
            // Offline and gone: nothing to remember (last_seen_at is in the database).
            !(entry.connections == 0 && entry.published == Status::Offline)
        });
        changes
    }
}

/// Publishes presence changes every `presence.coalesce` (run on shard 0 until shutdown):
/// `presence:update {userId, status, lastSeenAt}` to the watchers on every shard, and
/// `last_seen_at` written for those who went offline.
pub(crate) async fn publish(
    app: std::sync::Arc<crate::app::App>,
    pool: parley_persister::Pool,
    mut shutdown: crate::shutdown::Shutdown,
) {
    let mut every = tokio::time::interval(app.presence_config.coalesce);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.triggered() => return,
            _ = every.tick() => {}
        }
        let changes = app.presence.tick(Instant::now()).await;
        if changes.is_empty() {
            continue;
        }
        app.metrics.presence_updates.add(changes.len() as u64);
        let mut seen = Vec::new();
        for change in &changes {
            let frame = crate::protocol::encode(
                server::PRESENCE_UPDATE,
                None,
                serde_json::json!({
                    "userId": change.user,
                    "status": change.status.as_str(),
                    "lastSeenAt": change.last_seen_at.map(parley_shared::time::format_timestamp),
                }),
            );
            app.bus.presence(change.user, change.status, frame);
            if let Some(at) = change.last_seen_at {
                seen.push((change.user, at));
            }
        }
        if !seen.is_empty() {
            let written = match pool.get().await {
                Ok(conn) => parley_persister::store::users::set_last_seen(&conn, &seen)
                    .await
                    .map_err(|e| e.to_string()),
                Err(error) => Err(error.to_string()),
            };
            if let Err(error) = written {
                tracing::warn!(%error, users = seen.len(), "could not record last_seen_at");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> LocalPresence {
        LocalPresence::new(&PresenceConfig {
            offline_grace: Duration::from_secs(5),
            idle_after: Duration::from_secs(300),
            ..PresenceConfig::default()
        })
    }

    fn statuses(changes: &[Change]) -> Vec<Status> {
        changes.iter().map(|c| c.status).collect()
    }

    #[test]
    fn transitions_with_grace_idle_and_manual() {
        let p = table();
        let u = UserId::generate();
        let t = Instant::now();
        let at = |s: u64| t + Duration::from_secs(s);
        p.connected(u, t);
        p.connected(u, t); // a second device
        assert_eq!(statuses(&p.changes(t)), [Status::Online]);
        assert!(p.changes(at(1)).is_empty(), "published once");
        p.disconnected(u, at(2));
        assert!(p.changes(at(3)).is_empty(), "one device left");
        p.disconnected(u, at(4));
        assert!(p.changes(at(8)).is_empty(), "within the grace period");
        p.connected(u, at(8));
        assert!(
            p.changes(at(20)).is_empty(),
            "reconnected in time: nothing happened"
        );
        p.set(u, Status::Dnd, at(21));
        assert_eq!(statuses(&p.changes(at(21))), [Status::Dnd]);
        p.set(u, Status::Online, at(22));
        assert_eq!(statuses(&p.changes(at(22))), [Status::Online]);
        assert_eq!(statuses(&p.changes(at(22 + 300))), [Status::Away], "idle");
        p.activity(u, at(330));
        assert_eq!(statuses(&p.changes(at(330))), [Status::Online]);
        p.disconnected(u, at(340));
        assert!(p.changes(at(344)).is_empty());
        let gone = p.changes(at(345));
        assert_eq!(statuses(&gone), [Status::Offline]);
        assert!(gone[0].last_seen_at.is_some());
        assert_eq!(p.status(u), Status::Offline);
    }

    #[test]
    fn a_storm_of_reconnects_publishes_nothing() {
        let p = table();
        let t = Instant::now();
        let users: Vec<UserId> = (0..200).map(|_| UserId::generate()).collect();
        for u in &users {
            p.connected(*u, t);
        }
        assert_eq!(p.changes(t).len(), 200);
        for u in &users {
            p.disconnected(*u, t + Duration::from_secs(1));
        }
        for u in &users {
            p.connected(*u, t + Duration::from_secs(3));
        }
        assert!(p.changes(t + Duration::from_secs(10)).is_empty());
    }
}
