//! Presence over several instances. Each instance keeps its own connections in a
//! [`LocalPresence`] (grace period, idle, manual status: exactly as for one instance) and writes
//! its view of each user into Redis: a hash per user with one field per instance,
//! `status:expiry_ms`, refreshed every third of `redis.instance_ttl`. One atomic script folds the
//! fields into the status everyone sees (`dnd` over `online` over `away`; none left: `offline`)
//! and returns it only when it differs from the last one published (`_pub`), so exactly one
//! instance publishes each change. A crashed instance's fields expire; a sweep over the due set
//! lets any instance publish the resulting change. Redis down: the instance's view waits and is
//! written when Redis is back; reads say `unknown`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use fred::types::scripts::Script;
use parley_shared::UserId;
use parley_shared::config::PresenceConfig;
use time::OffsetDateTime;

use super::Link;
use crate::presence::{Change, LocalPresence, PresenceState, Status, Ticked};

/// Writes one instance's view of a user (or only recomputes, with an empty status) and returns
/// the user's new status when it changed. KEYS: the user's hash, the due set. ARGV: instance,
/// status ("" to only recompute; "offline" to remove the field), now ms, expiry ms, user id,
/// hash ttl ms.
const FOLD: &str = r"
local h, due = KEYS[1], KEYS[2]
local inst, st, now, exp, user, ttl = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4], ARGV[5], ARGV[6]
if st == 'offline' then redis.call('HDEL', h, inst)
elseif st ~= '' then redis.call('HSET', h, inst, st .. ':' .. exp) end
local ranks = {dnd = 3, online = 2, away = 1}
local best, rank, soonest = 'offline', 0, nil
local all = redis.call('HGETALL', h)
for i = 1, #all, 2 do
  local f, v = all[i], all[i + 1]
  if f ~= '_pub' then
    local s, e = string.match(v, '^(%a+):(%d+)$')
    e = tonumber(e)
    if e == nil or e <= now then
      redis.call('HDEL', h, f)
    else
      local r = ranks[s] or 0
      if r > rank then rank, best = r, s end
      if soonest == nil or e < soonest then soonest = e end
    end
  end
end
local published = redis.call('HGET', h, '_pub') or 'offline'
if soonest == nil then
  redis.call('DEL', h)
  redis.call('ZREM', due, user)
else
  redis.call('HSET', h, '_pub', best)
  redis.call('PEXPIRE', h, ttl)
  redis.call('ZADD', due, soonest, user)
end
if published ~= best then return best end
return false
";

/// The users whose entries are due by ARGV[1] (ms), at most ARGV[2]. KEYS: the due set.
const DUE: &str = r"
return redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
";

/// Every user with a published status: `[user, status, ...]`, at most ARGV[1] users. KEYS: the
/// due set. ARGV[2]: the prefix of the users' hashes.
const WARM: &str = r"
local users = redis.call('ZRANGE', KEYS[1], 0, tonumber(ARGV[1]) - 1)
local out = {}
for _, u in ipairs(users) do
  local p = redis.call('HGET', ARGV[2] .. u, '_pub')
  if p then
    out[#out + 1] = u
    out[#out + 1] = p
  end
end
return out
";

/// Most users one sweep looks at.
const SWEEP_BATCH: i64 = 200;
/// Most statuses read when (re)joining.
const WARM_MAX: i64 = 1_000_000;

/// The presence of a user over every instance.
#[derive(Debug)]
pub(crate) struct RedisPresence {
    local: LocalPresence,
    link: Arc<Link>,
    fold: Script,
    due: Script,
    warm: Script,
    /// Whether Redis was up at the last tick (coming back reloads every status).
    was_up: std::sync::atomic::AtomicBool,
    /// This instance's views not yet written to Redis (it was unreachable).
    pending: Mutex<HashMap<UserId, Status>>,
    last_refresh: Mutex<Instant>,
}

impl RedisPresence {
    pub(crate) fn new(config: &PresenceConfig, link: Arc<Link>) -> Self {
        Self {
            local: LocalPresence::new(config),
            link,
            fold: Script::from_lua(FOLD),
            due: Script::from_lua(DUE),
            warm: Script::from_lua(WARM),
            was_up: std::sync::atomic::AtomicBool::new(false),
            pending: Mutex::new(HashMap::new()),
            last_refresh: Mutex::new(Instant::now()),
        }
    }

    fn now_ms() -> i64 {
        let now = OffsetDateTime::now_utc();
        i64::try_from(now.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
    }

    /// Runs the fold for `user`; `Ok(Some(status))` when it changed what everyone sees.
    async fn fold(&self, user: UserId, status: Option<Status>) -> Result<Option<Status>, ()> {
        let ttl = self.link.config.instance_ttl;
        let now = Self::now_ms();
        let expiry = now + i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX / 2);
        let keys = vec![self.link.keys.presence(user), self.link.keys.presence_due()];
        let args = vec![
            self.link.instance.to_string(),
            status.map_or(String::new(), |s| s.as_str().to_owned()),
            now.to_string(),
            expiry.to_string(),
            user.to_string(),
            (ttl.as_millis() * 2).to_string(),
        ];
        let call =
            self.fold
                .evalsha_with_reload::<Option<String>, _, _>(&self.link.client, keys, args);
        match tokio::time::timeout(self.link.config.command_timeout * 4, call).await {
            Ok(Ok(changed)) => Ok(changed.as_deref().and_then(Status::published)),
            Ok(Err(error)) => {
                tracing::debug!(%error, "presence fold failed");
                Err(())
            }
            Err(_) => Err(()),
        }
    }

    fn pending(&self) -> std::sync::MutexGuard<'_, HashMap<UserId, Status>> {
        self.pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    async fn step(&self, now: Instant) -> Vec<Change> {
        for change in self.local.changes(now) {
            self.pending().insert(change.user, change.status);
        }
        let mut changes = Vec::new();
        let up = self.link.is_up();
        let was_up = self.was_up.swap(up, std::sync::atomic::Ordering::AcqRel);
        if !up {
            return changes;
        }
        if !was_up && !self.load_statuses().await {
            self.was_up
                .store(false, std::sync::atomic::Ordering::Release);
        }
        let due: Vec<(UserId, Status)> = self.pending().drain().collect();
        let mut failed = Vec::new();
        for (user, status) in due {
            match self.fold(user, Some(status)).await {
                Ok(Some(new)) => changes.push(change(user, new)),
                Ok(None) => {}
                Err(()) => failed.push((user, status)),
            }
        }
        if !failed.is_empty() {
            self.link.metrics().fallbacks.add(failed.len() as u64);
            let mut pending = self.pending();
            for (user, status) in failed {
                pending.entry(user).or_insert(status);
            }
            return changes;
        }
        if self.refresh_due(now) {
            for (user, status) in self.local.snapshot() {
                if let Ok(Some(new)) = self.fold(user, Some(status)).await {
                    changes.push(change(user, new));
                }
            }
        }
        changes.extend(self.sweep().await);
        changes
    }

    fn refresh_due(&self, now: Instant) -> bool {
        let every = self.link.config.instance_ttl / 3;
        let mut last = self
            .last_refresh
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if now.duration_since(*last) >= every {
            *last = now;
            return true;
        }
        false
    }

    /// Users whose entries expired (an instance stopped refreshing them): their status again.
    async fn sweep(&self) -> Vec<Change> {
        let now = Self::now_ms();
        let keys = vec![self.link.keys.presence_due()];
        let args = vec![now.to_string(), SWEEP_BATCH.to_string()];
        let due = self
            .due
            .evalsha_with_reload::<Vec<String>, _, _>(&self.link.client, keys, args);
        let Ok(Ok(users)) = tokio::time::timeout(self.link.config.command_timeout, due).await
        else {
            return Vec::new();
        };
        let mut changes = Vec::new();
        for user in users.iter().filter_map(|u| u.parse::<UserId>().ok()) {
            if let Ok(Some(new)) = self.fold(user, None).await {
                changes.push(change(user, new));
            }
        }
        changes
    }
}

impl RedisPresence {
    /// Reads every published status into the link's table (after joining, or Redis coming
    /// back); false when it could not.
    async fn load_statuses(&self) -> bool {
        let keys = vec![self.link.keys.presence_due()];
        let prefix = self.link.keys.presence_prefix();
        let args = vec![WARM_MAX.to_string(), prefix];
        let read =
            self.warm
                .evalsha_with_reload::<Vec<String>, _, _>(&self.link.client, keys, args);
        let Ok(Ok(flat)) = tokio::time::timeout(self.link.config.command_timeout * 8, read).await
        else {
            return false;
        };
        let statuses = flat
            .chunks_exact(2)
            .filter_map(|pair| Some((pair[0].parse().ok()?, Status::published(&pair[1])?)))
            .collect();
        self.link.replace_statuses(statuses);
        true
    }
}

fn change(user: UserId, status: Status) -> Change {
    Change {
        user,
        status,
        last_seen_at: (status == Status::Offline).then(OffsetDateTime::now_utc),
    }
}

impl PresenceState for RedisPresence {
    fn connected(&self, user: UserId, now: Instant) {
        self.local.connected(user, now);
    }

    fn disconnected(&self, user: UserId, now: Instant) {
        self.local.disconnected(user, now);
    }

    fn activity(&self, user: UserId, now: Instant) {
        self.local.activity(user, now);
    }

    fn set(&self, user: UserId, status: Status, now: Instant) {
        self.local.set(user, status, now);
    }

    fn status(&self, user: UserId) -> Status {
        self.link.status_of(user)
    }

    fn tick(&self, now: Instant) -> Ticked<'_> {
        Box::pin(self.step(now))
    }
}
