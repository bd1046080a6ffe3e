//! Rate limiting: the `RateLimit` interface every limit is used through (so several instances can
//! later share the state in Redis), and its in-process implementation for one process: a GCRA
//! timestamp per key, in striped maps shared by every shard (a user's requests may land on any
//! shard). Bounded: past `limits.max_keys` idle keys are forgotten, and if none are idle new keys
//! are refused rather than memory growing.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use parley_shared::UserId;
use parley_shared::config::LimitsConfig;
use parley_shared::rate::{self, Decision, Rate};

const STRIPES: usize = 16;

/// Who a limit is counted against.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Key {
    User(UserId),
    Ip(IpAddr),
    Username(String),
}

/// One limit (e.g. "send: 30/1m") over all its keys, wherever its state lives.
pub trait RateLimit: Send + Sync + std::fmt::Debug {
    /// Counts one event for `key` and says whether it is allowed.
    fn check(&self, key: &Key) -> Decision;
}

impl<T: RateLimit + ?Sized> RateLimit for Box<T> {
    fn check(&self, key: &Key) -> Decision {
        (**self).check(key)
    }
}

/// One limit's state in this process.
#[derive(Debug)]
pub struct Limiter {
    rate: Rate,
    stripes: Vec<Mutex<HashMap<Key, u64>>>,
    keys_per_stripe: usize,
    hasher: RandomState,
    epoch: Instant,
}

impl Limiter {
    /// A limiter enforcing `rate` for at most `max_keys` keys.
    pub fn new(rate: Rate, max_keys: usize) -> Self {
        Self {
            rate,
            stripes: (0..STRIPES).map(|_| Mutex::new(HashMap::new())).collect(),
            keys_per_stripe: max_keys.div_ceil(STRIPES).max(1),
            hasher: RandomState::new(),
            epoch: Instant::now(),
        }
    }
}

impl RateLimit for Limiter {
    fn check(&self, key: &Key) -> Decision {
        let now = u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX);
        let stripe = &self.stripes[(self.hasher.hash_one(key) as usize) % STRIPES];
        // A poisoned stripe only means another thread panicked mid-update of plain integers.
        let mut map = stripe
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let stored = map.get(key).copied();
        if stored.is_none() && map.len() >= self.keys_per_stripe {
            map.retain(|_, tat| !rate::is_idle(*tat, now));
            if map.len() >= self.keys_per_stripe {
                return Decision {
                    allowed: false,
                    limit: self.rate.limit,
                    remaining: 0,
                    reset_after: Duration::from_secs(1),
                    retry_after: Duration::from_secs(1),
                };
            }
        }
        let (decision, next) = rate::check(self.rate, stored, now);
        if let Some(next) = next {
            map.insert(key.clone(), next);
        }
        decision
    }
}

/// Open WebSocket connections per user, over all shards.
#[derive(Debug, Default)]
pub struct ConnectionCounter {
    stripes: [Mutex<HashMap<UserId, usize>>; STRIPES],
    hasher: RandomState,
}

impl ConnectionCounter {
    /// Counts one more connection for `user` unless they already hold `max`.
    pub fn acquire(&self, user: UserId, max: usize) -> bool {
        let mut map = self.stripe(user);
        let count = map.entry(user).or_insert(0);
        if *count >= max {
            return false;
        }
        *count += 1;
        true
    }

    /// Forgets one of `user`'s connections.
    pub fn release(&self, user: UserId) {
        let mut map = self.stripe(user);
        if let Some(count) = map.get_mut(&user) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                map.remove(&user);
            }
        }
    }

    /// `user`'s open connections.
    pub fn count(&self, user: UserId) -> usize {
        self.stripe(user).get(&user).copied().unwrap_or(0)
    }

    fn stripe(&self, user: UserId) -> std::sync::MutexGuard<'_, HashMap<UserId, usize>> {
        let index = (self.hasher.hash_one(user) as usize) % STRIPES;
        self.stripes[index]
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Every limit of the API, built from `[limits]`. `None` when limits are disabled.
#[derive(Debug)]
pub struct Limits {
    pub register: Box<dyn RateLimit>,
    pub login: Box<dyn RateLimit>,
    pub send: Box<dyn RateLimit>,
    pub history: Box<dyn RateLimit>,
    pub ws_connect: Box<dyn RateLimit>,
    pub api: Box<dyn RateLimit>,
}

impl Limits {
    /// The limiters, or `None` when `limits.enabled` is false.
    pub fn from_config(config: &LimitsConfig) -> Option<Self> {
        config.enabled.then(|| {
            let make =
                |rate| -> Box<dyn RateLimit> { Box::new(Limiter::new(rate, config.max_keys)) };
            Self {
                register: make(config.register),
                login: make(config.login),
                send: make(config.send),
                history: make(config.history),
                ws_connect: make(config.ws_connect),
                api: make(config.api),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_counted_separately_and_capped() {
        // Room for many keys per stripe: alice and bob may share one.
        let roomy = Limiter::new(Rate::new(2, Duration::from_secs(60)), 64 * STRIPES);
        let alice = Key::Username("alice".to_owned());
        let bob = Key::Username("bob".to_owned());
        assert!(roomy.check(&alice).allowed);
        assert!(roomy.check(&alice).allowed);
        assert!(!roomy.check(&alice).allowed);
        assert!(roomy.check(&bob).allowed, "bob has his own allowance");
        // One key per stripe: fill every stripe with busy keys; new keys are then refused and
        // memory stays bounded.
        let limiter = Limiter::new(Rate::new(2, Duration::from_secs(60)), 16);
        for n in 0..1000 {
            let _ = limiter.check(&Key::Username(format!("u{n}")));
        }
        let total: usize = limiter
            .stripes
            .iter()
            .map(|s| s.lock().map(|m| m.len()).unwrap_or(0))
            .sum();
        assert!(total <= 16, "{total} keys kept");
    }
}
