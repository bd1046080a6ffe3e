//! Connection permits: `server.max_connections` over the whole process and
//! `server.max_connections_per_ip` per client address (IPv6 by /64). A permit is taken at accept,
//! before a byte is read, and held by whoever owns the connection: the HTTP connection task, and
//! after a WebSocket upgrade the session (so unauthenticated and authenticated sockets count alike).
//! Dropping the permit gives the slot back.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use crate::limits::ip_bucket;

const STRIPES: usize = 16;

/// Why a connection was refused at accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// The process holds `server.max_connections` already.
    Full,
    /// This client address holds `server.max_connections_per_ip` already.
    PerIp,
}

/// The counts behind the permits; one per process.
#[derive(Debug)]
pub(crate) struct ConnectionPermits {
    max_total: usize,
    /// 0: no per-address cap.
    max_per_ip: usize,
    /// Reverse proxies: many clients behind one address, so not capped per address.
    trusted: Vec<parley_shared::cidr::Cidr>,
    total: AtomicUsize,
    per_ip: [Mutex<HashMap<IpAddr, usize>>; STRIPES],
    hasher: RandomState,
}

/// One open connection's slot; given back on drop.
#[derive(Debug)]
pub(crate) struct Permit {
    permits: Arc<ConnectionPermits>,
    /// The address counted, if it was (not for trusted proxies, nor without a per-address cap).
    ip: Option<IpAddr>,
}

impl ConnectionPermits {
    pub(crate) fn new(
        max_total: usize,
        max_per_ip: usize,
        trusted: Vec<parley_shared::cidr::Cidr>,
    ) -> Arc<Self> {
        Arc::new(Self {
            max_total,
            max_per_ip,
            trusted,
            total: AtomicUsize::new(0),
            per_ip: Default::default(),
            hasher: RandomState::new(),
        })
    }

    /// A permit for a connection from `peer`, unless a cap is reached.
    pub(crate) fn acquire(self: &Arc<Self>, peer: IpAddr) -> Result<Permit, Refusal> {
        let taken = self.total.fetch_add(1, Ordering::AcqRel);
        if taken >= self.max_total {
            self.total.fetch_sub(1, Ordering::AcqRel);
            return Err(Refusal::Full);
        }
        let ip = ip_bucket(peer);
        let per_ip = self.max_per_ip > 0 && !crate::proxy::is_trusted(&self.trusted, peer);
        if per_ip {
            let mut map = self.stripe(ip);
            let count = map.entry(ip).or_insert(0);
            if *count >= self.max_per_ip {
                drop(map);
                self.total.fetch_sub(1, Ordering::AcqRel);
                return Err(Refusal::PerIp);
            }
            *count += 1;
        }
        Ok(Permit {
            permits: Arc::clone(self),
            ip: per_ip.then_some(ip),
        })
    }

    /// Connections open now.
    pub(crate) fn open(&self) -> usize {
        self.total.load(Ordering::Acquire)
    }

    fn stripe(&self, ip: IpAddr) -> std::sync::MutexGuard<'_, HashMap<IpAddr, usize>> {
        let index = (self.hasher.hash_one(ip) as usize) % STRIPES;
        // Plain integers: a panic elsewhere cannot leave them half-updated.
        self.per_ip[index]
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        let permits = &self.permits;
        if let Some(ip) = self.ip {
            let mut map = permits.stripe(ip);
            if let Some(count) = map.get_mut(&ip) {
                *count = count.saturating_sub(1);
                if *count == 0 {
                    map.remove(&ip);
                }
            }
        }
        permits.total.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_total_and_per_address() {
        let permits = ConnectionPermits::new(4, 2, Vec::new());
        let a: IpAddr = "10.0.0.1".parse().expect("ip");
        let b: IpAddr = "10.0.0.2".parse().expect("ip");
        let first = permits.acquire(a).expect("1");
        let _second = permits.acquire(a).expect("2");
        assert_eq!(permits.acquire(a).err(), Some(Refusal::PerIp));
        let _third = permits.acquire(b).expect("3");
        let _fourth = permits.acquire(b).expect("4");
        let c: IpAddr = "10.0.0.3".parse().expect("ip");
        assert_eq!(permits.acquire(c).err(), Some(Refusal::Full));
        assert_eq!(permits.open(), 4);
        drop(first);
        assert!(
            permits.acquire(a).is_ok(),
            "a dropped permit frees its slot"
        );
        assert_eq!(permits.open(), 3, "the temporary permit was given back too");
    }

    #[test]
    fn ipv6_addresses_of_one_64_share_a_cap() {
        let permits = ConnectionPermits::new(100, 1, vec!["10.0.0.0/8".parse().expect("cidr")]);
        let one: IpAddr = "2001:db8:1:2::1".parse().expect("ip");
        let other: IpAddr = "2001:db8:1:2:ffff::9".parse().expect("ip");
        let elsewhere: IpAddr = "2001:db8:1:3::1".parse().expect("ip");
        let _held = permits.acquire(one).expect("first");
        assert_eq!(permits.acquire(other).err(), Some(Refusal::PerIp));
        assert!(permits.acquire(elsewhere).is_ok());
        let proxy: IpAddr = "10.1.2.3".parse().expect("ip");
        let through: Vec<_> = (0..5)
            .map(|_| permits.acquire(proxy).expect("a proxy is not capped"))
            .collect();
        drop(through);
    }

    #[test]
    fn no_per_address_cap_when_zero() {
        let permits = ConnectionPermits::new(3, 0, Vec::new());
        let a: IpAddr = "127.0.0.1".parse().expect("ip");
        let held: Vec<_> = (0..3).map(|_| permits.acquire(a).expect("slot")).collect();
        assert_eq!(permits.acquire(a).err(), Some(Refusal::Full));
        drop(held);
        assert_eq!(permits.open(), 0);
    }
}
