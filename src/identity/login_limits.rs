//! Rate limits on failed logins, per source address and per login name.
//!
//! Each failure spends one cell of a GCRA bucket (governor) holding `N` per minute; when a bucket
//! is empty the address or login is blocked until a cell comes back. A blocked caller is answered
//! before any hashing, so guessing costs the service nothing once the limit is reached.

use std::collections::HashMap;
use std::net::IpAddr;
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
    Address(IpAddr),
    Login(String),
}

type Buckets<K> = RateLimiter<K, DashMapStateStore<K>, DefaultClock, StateInformationMiddleware>;

pub struct LoginLimits {
    by_address: Buckets<IpAddr>,
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
                Key::Address(ip) => self.by_address.check_key(ip),
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

fn keys(address: Option<IpAddr>, login: &str) -> Vec<Key> {
    let mut keys: Vec<Key> = address.map(Key::Address).into_iter().collect();
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
}
