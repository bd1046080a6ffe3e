//! Rate limiting: the `RateLimit` interface every limit is used through (so several instances can
//! later share the state in Redis), and its in-process implementation for one process: a GCRA
//! timestamp per key, in striped tables shared by every shard (a user's requests may land on any
//! shard). Bounded: each limiter remembers at most `limits.max_keys` keys and, when full, forgets
//! the least recently used one for a new key (`clock`), so a flood of new keys neither grows memory
//! nor locks anyone out. Client addresses are keyed by [`ClientNet`]: IPv4 addresses as they are,
//! IPv6 by their /64 (one subscriber's whole prefix is one client).

mod clock;

use std::collections::HashMap;
use std::future::Future;
use std::hash::{BuildHasher, RandomState};
use std::net::{IpAddr, Ipv6Addr};
use std::pin::Pin;
use std::sync::Mutex;
use std::time::Instant;

use parley_shared::UserId;
use parley_shared::config::LimitsConfig;
use parley_shared::rate::{self, Decision, Rate};

use self::clock::ClockTable;

const STRIPES: usize = 16;

/// The network a client address stands for: itself for IPv4 (and IPv4-mapped IPv6), its /64 for
/// IPv6, where one subscriber usually holds a whole /64 and could rotate through it.
pub fn ip_bucket(addr: IpAddr) -> IpAddr {
    match parley_shared::cidr::canonical(addr) {
        IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !((1u128 << 64) - 1))),
        v4 => v4,
    }
}

/// A client address as limits see it (built only through [`ClientNet::of`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClientNet(IpAddr);

impl std::fmt::Display for ClientNet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl ClientNet {
    pub fn of(addr: IpAddr) -> Self {
        Self(ip_bucket(addr))
    }
}

/// Who a limit is counted against.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Key {
    User(UserId),
    Ip(ClientNet),
    /// An account by its (lowercased) username, from every client together.
    Username(String),
    /// One account from one client: failed logins.
    Login(String, ClientNet),
}

impl Key {
    /// The key of a client address.
    pub fn ip(addr: IpAddr) -> Self {
        Self::Ip(ClientNet::of(addr))
    }
}

/// What a limit answers, possibly after a round trip to the shared store.
pub type Decided<'a> = Pin<Box<dyn Future<Output = Decision> + Send + 'a>>;

/// One limit (e.g. "send: 30/1m") over all its keys, wherever its state lives: in this process
/// ([`Limiter`]) or shared by every instance through Redis (`cluster::limits`).
pub trait RateLimit: Send + Sync + std::fmt::Debug {
    /// Counts one event for `key` and says whether it is allowed.
    fn check<'a>(&'a self, key: &'a Key) -> Decided<'a>;
    /// What `check` would say now, without counting anything.
    fn peek<'a>(&'a self, key: &'a Key) -> Decided<'a>;
    /// Gives `key` its full allowance back.
    fn reset<'a>(&'a self, key: &'a Key) -> Pin<Box<dyn Future<Output = ()> + Send + 'a>>;
}

/// One limit's state in this process.
#[derive(Debug)]
pub struct Limiter {
    rate: Rate,
    stripes: Vec<Mutex<ClockTable<Key>>>,
    hasher: RandomState,
    epoch: Instant,
}

impl Limiter {
    /// A limiter enforcing `rate` for at most `max_keys` keys.
    pub fn new(rate: Rate, max_keys: usize) -> Self {
        let per_stripe = max_keys.div_ceil(STRIPES).max(1);
        Self {
            rate,
            stripes: (0..STRIPES)
                .map(|_| Mutex::new(ClockTable::new(per_stripe)))
                .collect(),
            hasher: RandomState::new(),
            epoch: Instant::now(),
        }
    }

    fn now(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    fn stripe(&self, key: &Key) -> std::sync::MutexGuard<'_, ClockTable<Key>> {
        let stripe = &self.stripes[(self.hasher.hash_one(key) as usize) % STRIPES];
        // A poisoned stripe only means another thread panicked mid-update of plain integers.
        stripe
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Keys remembered now (for tests).
    pub fn len(&self) -> usize {
        (0..STRIPES)
            .map(|n| {
                self.stripes[n]
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .len()
            })
            .sum()
    }

    /// Whether no key is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Limiter {
    /// `check`, answered at once.
    pub fn check_now(&self, key: &Key) -> Decision {
        let now = self.now();
        let mut table = self.stripe(key);
        let stored = table.get(key);
        let (decision, next) = rate::check(self.rate, stored, now);
        if let Some(next) = next
            && Some(next) != stored
        {
            table.insert(key, next);
        }
        decision
    }

    /// `peek`, answered at once.
    pub fn peek_now(&self, key: &Key) -> Decision {
        let now = self.now();
        let stored = self.stripe(key).peek(key);
        rate::check(self.rate, stored, now).0
    }

    /// `reset`, at once.
    pub fn reset_now(&self, key: &Key) {
        self.stripe(key).remove(key);
    }
}

impl RateLimit for Limiter {
    fn check<'a>(&'a self, key: &'a Key) -> Decided<'a> {
        Box::pin(std::future::ready(self.check_now(key)))
    }

    fn peek<'a>(&'a self, key: &'a Key) -> Decided<'a> {
        Box::pin(std::future::ready(self.peek_now(key)))
    }

    fn reset<'a>(&'a self, key: &'a Key) -> Pin<Box<dyn Future<Output = ()> + Send + 'a>> {
        self.reset_now(key);
        Box::pin(std::future::ready(()))
    }
}

/// Counts open WebSocket connections per user, in this process ([`ConnectionCounter`]) or over
/// every instance (`cluster::connections`).
pub trait ConnectionCount: Send + Sync + std::fmt::Debug {
    /// Counts one more connection for `user` unless they already hold `max`.
    fn acquire<'a>(
        &'a self,
        user: UserId,
        max: usize,
    ) -> Pin<Box<dyn Future<Output = bool> + Send + 'a>>;
    /// Forgets one of `user`'s connections.
    fn release(&self, user: UserId);
}

impl ConnectionCount for ConnectionCounter {
    fn acquire<'a>(
        &'a self,
        user: UserId,
        max: usize,
    ) -> Pin<Box<dyn Future<Output = bool> + Send + 'a>> {
        Box::pin(std::future::ready(ConnectionCounter::acquire(
            self, user, max,
        )))
    }

    fn release(&self, user: UserId) {
        ConnectionCounter::release(self, user);
    }
}

/// Open WebSocket connections per user, over all shards of this process.
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
    /// Login attempts per client address.
    pub login: Box<dyn RateLimit>,
    /// Failed logins per (account, client address).
    pub login_failures: Box<dyn RateLimit>,
    /// Failed logins per account from every client: the backstop.
    pub login_account_failures: Box<dyn RateLimit>,
    pub send: Box<dyn RateLimit>,
    /// Urgent messages per user.
    pub urgent: Box<dyn RateLimit>,
    /// `limits.uploads`, per user.
    pub uploads: Box<dyn RateLimit>,
    pub history: Box<dyn RateLimit>,
    pub ws_connect: Box<dyn RateLimit>,
    pub api: Box<dyn RateLimit>,
    /// Per WebSocket connection: subscriptions, presence queries, read marks, auth and pings.
    pub ws_events: Rate,
}

impl Limits {
    /// The limiters, or `None` when `limits.enabled` is false.
    pub fn from_config(config: &LimitsConfig) -> Option<Self> {
        Self::build(config, None)
    }

    /// The limits of one instance: shared through `link` by every instance when there is one.
    pub(crate) fn build(
        config: &LimitsConfig,
        link: Option<&std::sync::Arc<crate::cluster::Link>>,
    ) -> Option<Self> {
        config.enabled.then(|| {
            let make = |name: &'static str, rate| -> Box<dyn RateLimit> {
                match link {
                    Some(link) => Box::new(crate::cluster::limits::RedisLimit::new(
                        name,
                        rate,
                        config.max_keys,
                        std::sync::Arc::clone(link),
                    )),
                    None => Box::new(Limiter::new(rate, config.max_keys)),
                }
            };
            Self {
                register: make("register", config.register),
                login: make("login", config.login),
                login_failures: make("login_failures", config.login_failures),
                login_account_failures: make(
                    "login_account_failures",
                    config.login_account_failures,
                ),
                send: make("send", config.send),
                urgent: make("urgent", config.urgent),
                uploads: make("uploads", config.uploads),
                history: make("history", config.history),
                ws_connect: make("ws_connect", config.ws_connect),
                api: make("api", config.api),
                ws_events: config.ws_events,
            }
        })
    }
}

/// A limit kept by its one owner (a WebSocket connection): the same GCRA step, no lock, no table.
#[derive(Debug)]
pub(crate) struct LocalBudget {
    rate: Rate,
    tat: std::cell::Cell<Option<u64>>,
    epoch: Instant,
}

impl LocalBudget {
    pub(crate) fn new(rate: Rate) -> Self {
        Self {
            rate,
            tat: std::cell::Cell::new(None),
            epoch: Instant::now(),
        }
    }

    /// Counts one event.
    pub(crate) fn check(&self) -> Decision {
        let now = u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX);
        let (decision, next) = rate::check(self.rate, self.tat.get(), now);
        self.tat.set(next);
        decision
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn keys_are_counted_separately() {
        let limiter = Limiter::new(Rate::new(2, Duration::from_secs(60)), 64 * STRIPES);
        let alice = Key::Username("alice".to_owned());
        let bob = Key::Username("bob".to_owned());
        assert!(limiter.check_now(&alice).allowed);
        assert!(limiter.peek_now(&alice).allowed, "peek counts nothing");
        assert!(limiter.check_now(&alice).allowed);
        assert!(!limiter.peek_now(&alice).allowed);
        assert!(!limiter.check_now(&alice).allowed);
        assert!(limiter.check_now(&bob).allowed, "bob has his own allowance");
        limiter.reset_now(&alice);
        assert_eq!(
            limiter.peek_now(&alice).remaining,
            1,
            "reset gives the allowance back"
        );
    }

    #[test]
    fn a_full_limiter_forgets_old_keys_instead_of_refusing_new_ones() {
        // Room for 16 keys; 1,000 busy keys (each at its limit) come through.
        let limiter = Limiter::new(Rate::new(1, Duration::from_secs(3600)), 16);
        for n in 0..1000 {
            let key = Key::Username(format!("u{n}"));
            assert!(limiter.check_now(&key).allowed, "new key {n} is admitted");
            assert!(!limiter.check_now(&key).allowed, "and then limited");
        }
        assert!(limiter.len() <= 16, "{} keys kept", limiter.len());
        let fresh = Key::ip("203.0.113.7".parse().expect("ip"));
        assert!(
            limiter.check_now(&fresh).allowed,
            "a new client is still admitted"
        );
    }

    #[test]
    fn ipv6_is_keyed_per_64() {
        let table = [
            ("2001:db8:aa:bb:1:2:3:4", "2001:db8:aa:bb::"),
            ("2001:db8:aa:bb::", "2001:db8:aa:bb::"),
            ("::ffff:192.0.2.9", "192.0.2.9"),
            ("192.0.2.9", "192.0.2.9"),
            ("::1", "::"),
        ];
        for (addr, bucket) in table {
            let addr: IpAddr = addr.parse().expect("ip");
            assert_eq!(
                ip_bucket(addr),
                bucket.parse::<IpAddr>().expect("ip"),
                "{addr}"
            );
        }
        assert_eq!(
            Key::ip("2001:db8::1".parse().expect("ip")),
            Key::ip("2001:db8::ffff:1".parse().expect("ip"))
        );
    }

    #[test]
    fn local_budget_allows_a_burst_then_refuses() {
        let budget = LocalBudget::new(Rate::new(3, Duration::from_secs(60)));
        let allowed: Vec<bool> = (0..4).map(|_| budget.check().allowed).collect();
        assert_eq!(allowed, [true, true, true, false]);
        assert!(budget.check().retry_after_secs() >= 1);
    }
}
