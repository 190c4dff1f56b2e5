//! Rate limits on failed logins, per source address and per login name.
//!
//! Each failure spends one cell of a GCRA bucket (governor) holding `N` per minute; when a bucket
//! is empty the address or login is blocked until a cell comes back. A blocked caller is answered
//! before any hashing, so guessing costs the service nothing once the limit is reached.
//!
//! An IPv6 client is counted per /64: one host or site gets a whole /64 (RFC 6177), and
//! counting per /128 would let it try from billions of addresses.

use std::collections::HashMap;
use std::net::IpAddr;

use ipnet::IpNet;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DashMapStateStore;
use governor::{Quota, RateLimiter};

/// Logins are case-insensitive in Foreman; a login longer than this is cut for its key, so that
/// hostile logins cannot grow the tables without bound.
const MAX_LOGIN_KEY_CHARS: usize = 255;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Address(IpNet),
    Login(String),
}

type Buckets<K> = RateLimiter<K, DashMapStateStore<K>, DefaultClock, StateInformationMiddleware>;

pub struct LoginLimits {
    by_address: Buckets<IpNet>,
    by_login: Buckets<String>,
    blocked: Mutex<HashMap<Key, Instant>>,
    clock: DefaultClock,
}

impl LoginLimits {
    pub fn new(per_address_per_minute: u32, per_login_per_minute: u32) -> LoginLimits {
        let quota = |n: u32| Quota::per_minute(NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN));
        LoginLimits {
            by_address: RateLimiter::dashmap(quota(per_address_per_minute))
                .with_middleware::<StateInformationMiddleware>(),
            by_login: RateLimiter::dashmap(quota(per_login_per_minute))
                .with_middleware::<StateInformationMiddleware>(),
            blocked: Mutex::new(HashMap::new()),
            clock: DefaultClock::default(),
        }
    }

    /// Before a login is tried: how long to wait when its address or login name is blocked.
    pub fn check(&self, address: Option<IpAddr>, login: &str) -> Result<(), Duration> {
        let now = Instant::now();
        let Ok(mut blocked) = self.blocked.lock() else {
            return Ok(());
        };
        blocked.retain(|_, until| *until > now);
        let keys = keys(address, login);
        let wait = keys
            .iter()
            .filter_map(|key| blocked.get(key))
            .map(|until| until.saturating_duration_since(now))
            .max();
        match wait {
            Some(wait) => Err(wait.max(Duration::from_secs(1))),
            None => Ok(()),
        }
    }

    /// After a login failed: spends a cell of each bucket, and blocks what ran out, until its
    /// next cell comes back.
    pub fn record_failure(&self, address: Option<IpAddr>, login: &str) {
        let mut newly_blocked = Vec::new();
        for key in keys(address, login) {
            let outcome = match &key {
                Key::Address(network) => self.by_address.check_key(network),
                Key::Login(name) => self.by_login.check_key(name),
            };
            let wait = match outcome {
                Ok(state) if state.remaining_burst_capacity() == 0 => {
                    Some(state.quota().replenish_interval())
                }
                Ok(_) => None,
                Err(not_until) => Some(not_until.wait_time_from(self.clock.now())),
            };
            if let Some(wait) = wait {
                newly_blocked.push((key, Instant::now() + wait));
            }
        }
        if newly_blocked.is_empty() {
            return;
        }
        if let Ok(mut blocked) = self.blocked.lock() {
            for (key, until) in newly_blocked {
                log::warn!("too many failed logins from {key:?}; refusing it for a while");
                blocked.insert(key, until);
            }
        }
        // Forget buckets that have filled up again, so hostile keys do not accumulate.
        self.by_address.retain_recent();
        self.by_login.retain_recent();
    }
}

/// The network an address is counted in: the address itself for IPv4 (an IPv4-mapped IPv6
/// address too), its /64 for IPv6.
fn counted_network(address: IpAddr) -> IpNet {
    let address = match address {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(address, IpAddr::V4),
        v4 => v4,
    };
    let prefix = if address.is_ipv4() { 32 } else { 64 };
    IpNet::new(address, prefix).map_or(IpNet::from(address), |net| net.trunc())
}

fn keys(address: Option<IpAddr>, login: &str) -> Vec<Key> {
    let mut keys: Vec<Key> = address
        .map(|a| Key::Address(counted_network(a)))
        .into_iter()
        .collect();
    let login: String = login
        .to_lowercase()
        .chars()
        .take(MAX_LOGIN_KEY_CHARS)
        .collect();
    keys.push(Key::Login(login));
    keys
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_once_the_burst_is_spent_per_address_and_per_login() {
        let limits = LoginLimits::new(3, 2);
        let a: IpAddr = "192.0.2.1".parse().expect("ip");
        let b: IpAddr = "192.0.2.2".parse().expect("ip");
        assert!(limits.check(Some(a), "admin").is_ok());
        limits.record_failure(Some(a), "admin");
        assert!(limits.check(Some(b), "ADMIN").is_ok(), "one failure of two");
        limits.record_failure(Some(a), "Admin");
        let wait = limits
            .check(Some(b), "admin")
            .expect_err("the login is blocked, from any address");
        assert!(
            wait >= Duration::from_secs(1) && wait <= Duration::from_secs(60),
            "{wait:?}"
        );
        assert!(limits.check(Some(b), "someone-else").is_ok());
        assert!(limits.check(Some(a), "y").is_ok(), "two failures of three");
        limits.record_failure(Some(a), "x");
        assert!(
            limits.check(Some(a), "y").is_err(),
            "the third failure from one address blocks it"
        );
    }

    #[test]
    fn ipv6_clients_are_counted_per_64_and_mapped_ipv4_as_ipv4() {
        let limits = LoginLimits::new(3, 100);
        for n in 1..=3 {
            let address: IpAddr = format!("2001:db8:1:2::{n:x}").parse().expect("ip");
            limits.record_failure(Some(address), &format!("user{n}"));
        }
        let same_64: IpAddr = "2001:db8:1:2:ffff::1".parse().expect("ip");
        let other_64: IpAddr = "2001:db8:1:3::1".parse().expect("ip");
        assert!(limits.check(Some(same_64), "someone").is_err());
        assert!(limits.check(Some(other_64), "someone").is_ok());
        let v4: IpAddr = "192.0.2.5".parse().expect("ip");
        let mapped: IpAddr = "::ffff:192.0.2.5".parse().expect("ip");
        assert_eq!(counted_network(mapped), counted_network(v4));
        assert_ne!(
            counted_network("192.0.2.6".parse().expect("ip")),
            counted_network(v4)
        );
    }
}
