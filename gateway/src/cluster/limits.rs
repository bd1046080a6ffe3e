//! Rate limits shared by every instance: the same GCRA as [`crate::limits::Limiter`], one atomic
//! Redis script per check, on Redis's clock (so instances' clocks need not agree). When Redis is
//! unreachable or slower than `redis.command_timeout`, the instance's own limiter answers
//! instead: each limit then holds per instance (at most N times the rate over N instances) until
//! Redis is back. It fails open to that bound, never closed: a Redis outage does not lock
//! people out.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use fred::types::scripts::Script;
use parley_shared::rate::{Decision, Rate};

use super::Link;
use crate::limits::{Decided, Key, Limiter, RateLimit};

/// KEYS: the limit's key. ARGV: interval µs, window µs, mode (`check`, `peek`, `reset`).
/// Returns {allowed, remaining, reset_after µs, retry_after µs}.
const GCRA: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval, window, mode = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3]
if mode == 'reset' then
  redis.call('DEL', KEYS[1])
  return {1, 0, 0, 0}
end
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local nxt = tat + interval
local ahead = nxt - now
if ahead > window then
  return {0, 0, tat - now, ahead - window}
end
if mode == 'check' then
  redis.call('SET', KEYS[1], string.format('%.0f', nxt), 'PX', math.ceil(ahead / 1000) + 1)
end
return {1, math.floor((window - ahead) / interval), ahead, 0}
";

/// One limit over every instance.
#[derive(Debug)]
pub(crate) struct RedisLimit {
    name: &'static str,
    rate: Rate,
    link: Arc<Link>,
    script: Arc<Script>,
    /// Answers while Redis cannot.
    local: Limiter,
}

impl RedisLimit {
    pub(crate) fn new(name: &'static str, rate: Rate, max_keys: usize, link: Arc<Link>) -> Self {
        Self {
            name,
            rate,
            link,
            script: Arc::new(Script::from_lua(GCRA)),
            local: Limiter::new(rate, max_keys),
        }
    }

    fn key(&self, key: &Key) -> String {
        let id = match key {
            Key::User(user) => format!("u:{user}"),
            Key::Ip(net) => format!("ip:{net}"),
            Key::Username(name) => format!("n:{name}"),
            Key::Login(name, net) => format!("l:{net}:{name}"),
        };
        self.link.keys.limit(self.name, &id)
    }

    async fn run(&self, key: &Key, mode: &'static str) -> Option<Decision> {
        if !self.link.is_up() {
            return None;
        }
        let micros = |d: Duration| u64::try_from(d.as_micros()).unwrap_or(u64::MAX / 4);
        let interval = (micros(self.rate.window) / u64::from(self.rate.limit.max(1))).max(1);
        let args = vec![
            interval.to_string(),
            micros(self.rate.window).to_string(),
            mode.to_owned(),
        ];
        let call = self.script.evalsha_with_reload::<Vec<i64>, _, _>(
            &self.link.client,
            vec![self.key(key)],
            args,
        );
        let answer = tokio::time::timeout(self.link.config.command_timeout, call).await;
        let Ok(Ok(values)) = answer else {
            self.link.metrics().fallbacks.inc();
            return None;
        };
        let [allowed, remaining, reset_after, retry_after] = values[..] else {
            self.link.metrics().fallbacks.inc();
            return None;
        };
        let micros = |v: i64| Duration::from_micros(u64::try_from(v).unwrap_or(0));
        Some(Decision {
            allowed: allowed == 1,
            limit: self.rate.limit,
            remaining: u32::try_from(remaining).unwrap_or(0),
            reset_after: micros(reset_after),
            retry_after: micros(retry_after),
        })
    }
}

impl RateLimit for RedisLimit {
    fn check<'a>(&'a self, key: &'a Key) -> Decided<'a> {
        Box::pin(async move {
            match self.run(key, "check").await {
                Some(decision) => decision,
                None => self.local.check_now(key),
            }
        })
    }

    fn peek<'a>(&'a self, key: &'a Key) -> Decided<'a> {
        Box::pin(async move {
            match self.run(key, "peek").await {
                Some(decision) => decision,
                None => self.local.peek_now(key),
            }
        })
    }

    fn reset<'a>(&'a self, key: &'a Key) -> Pin<Box<dyn Future<Output = ()> + Send + 'a>> {
        Box::pin(async move {
            self.local.reset_now(key);
            let _ = self.run(key, "reset").await;
        })
    }
}
