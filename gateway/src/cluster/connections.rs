//! Connections per user (`ws.max_per_user`) over every instance. Each instance counts its own
//! connections locally (authoritative for itself) and writes that count into the user's hash in
//! Redis, one field per instance; admitting a connection sums the fields of live instances (each
//! instance keeps `alive:<id>` set while it runs, so a crashed instance's counts stop counting
//! when it expires) and refuses past the cap. Redis down: the local count alone decides (the cap
//! then holds per instance).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use fred::types::scripts::Script;
use parley_shared::UserId;

use super::Link;
use crate::limits::{ConnectionCount, ConnectionCounter};

impl RedisConnections {
    /// This instance's own counts (kept by the link: delivery asks them too).
    fn local(&self) -> &ConnectionCounter {
        &self.link.local
    }
}

/// KEYS: the user's hash. ARGV: this instance, its count with the new connection, the cap, the
/// liveness key prefix, the hash's ttl ms. 1: admitted (and written), 0: refused.
const ACQUIRE: &str = r"
local h = KEYS[1]
local me, mine, max, alive = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]
local total = mine
local all = redis.call('HGETALL', h)
for i = 1, #all, 2 do
  local f, v = all[i], tonumber(all[i + 1]) or 0
  if f ~= me then
    if redis.call('EXISTS', alive .. f) == 1 then total = total + v else redis.call('HDEL', h, f) end
  end
end
if total > max then return 0 end
redis.call('HSET', h, me, mine)
redis.call('PEXPIRE', h, ARGV[5])
return 1
";

/// KEYS: the user's hash. ARGV: this instance, its count now.
const SET: &str = r"
if tonumber(ARGV[2]) <= 0 then redis.call('HDEL', KEYS[1], ARGV[1])
else redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) end
return 1
";

/// How long a user's hash outlives its last change (a day: connections rarely live longer, and
/// a crashed instance's leftovers go).
const HASH_TTL_MS: u64 = 24 * 60 * 60 * 1000;

/// The cap over every instance.
#[derive(Debug)]
pub(crate) struct RedisConnections {
    link: Arc<Link>,
    acquire: Script,
    set: Arc<Script>,
}

impl RedisConnections {
    pub(crate) fn new(link: Arc<Link>) -> Self {
        Self {
            link,
            acquire: Script::from_lua(ACQUIRE),
            set: Arc::new(Script::from_lua(SET)),
        }
    }

    async fn admit(&self, user: UserId, max: usize) -> bool {
        if !self.local().acquire(user, max) {
            return false;
        }
        if !self.link.is_up() {
            self.link.metrics().fallbacks.inc();
            return true;
        }
        let args = vec![
            self.link.instance.to_string(),
            self.local().count(user).to_string(),
            max.to_string(),
            self.link.keys.alive_prefix(),
            HASH_TTL_MS.to_string(),
        ];
        let call = self.acquire.evalsha_with_reload::<i64, _, _>(
            &self.link.client,
            vec![self.link.keys.connections(user)],
            args,
        );
        match tokio::time::timeout(self.link.config.command_timeout, call).await {
            Ok(Ok(1)) => true,
            Ok(Ok(_)) => {
                self.local().release(user);
                false
            }
            _ => {
                self.link.metrics().fallbacks.inc();
                true
            }
        }
    }
}

impl ConnectionCount for RedisConnections {
    fn acquire<'a>(
        &'a self,
        user: UserId,
        max: usize,
    ) -> Pin<Box<dyn Future<Output = bool> + Send + 'a>> {
        Box::pin(self.admit(user, max))
    }

    fn release(&self, user: UserId) {
        self.local().release(user);
        if !self.link.is_up() {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let (link, set) = (Arc::clone(&self.link), Arc::clone(&self.set));
        let count = self.local().count(user);
        runtime.spawn(async move {
            let args = vec![link.instance.to_string(), count.to_string()];
            let call = set.evalsha_with_reload::<i64, _, _>(
                &link.client,
                vec![link.keys.connections(user)],
                args,
            );
            let _ = tokio::time::timeout(link.config.command_timeout, call).await;
        });
    }
}
