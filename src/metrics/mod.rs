//! Prometheus metrics, served on a listener of their own (`metrics.listen`), never through
//! Apache. The names are a public interface (README, contrib/monitoring).
//!
//! Counters and the request histogram move as requests are answered; the gauges over the locks
//! table, the database pool and the outbox are read when a scrape comes, through the domain
//! layer, from one aggregate query cached for a few seconds.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use crate::locks::name::printable;
use crate::locks::overview::LockOverview;

/// How long a scrape's view of the locks table is reused.
const GAUGES_TTL: Duration = Duration::from_secs(5);

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabel {
    state: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LockLabel {
    lock: LabelText,
}

/// A label value from outside (a lock name, which the plugin's UI or SQL may have written with
/// any character), escaped by the exposition format's rules: prometheus-client writes label
/// values as they are, and one `"` or newline would end the value early or break the line, and
/// with it the whole scrape. Control and formatting characters are shown as `\u{…}` first.
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
struct LabelText(String);

impl EncodeLabelValue for LabelText {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        use std::fmt::Write;
        for c in printable(&self.0).chars() {
            match c {
                '\\' => encoder.write_str("\\\\")?,
                '"' => encoder.write_str("\\\"")?,
                '\n' => encoder.write_str("\\n")?,
                c => encoder.write_char(c)?,
            }
        }
        Ok(())
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    operation: &'static str,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HttpLabels {
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabel {
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VersionLabel {
    version: &'static str,
}

/// A host request's operation, as `foreman_dlm_lock_requests_total` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Show,
    Acquire,
    Release,
}

/// How a certificate was checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verification {
    CacheHit,
    Verified,
    Refused,
}

/// The gauges' inputs: read by the scrape handler through the domain.
pub struct Snapshot {
    pub locks: LockOverview,
    pub connections_in_use: usize,
    pub connections_idle: usize,
    pub notifications_pending: i64,
    pub notifications_failed: i64,
}

pub struct Metrics {
    registry: Registry,
    lock_requests: Family<RequestLabels, Counter>,
    http_duration: Family<HttpLabels, Histogram>,
    verifications: Family<ResultLabel, Counter>,
    alert_gate_queries: Family<ResultLabel, Counter>,
    locks: Family<StateLabel, Gauge>,
    lock_holders: Family<LockLabel, Gauge>,
    other_lock_holders: Gauge,
    db_connections: Family<StateLabel, Gauge>,
    notifications: Family<StateLabel, Gauge>,
    refreshed: Mutex<Option<Instant>>,
    /// Held while the gauges are read from the database: concurrent scrapes wait for that one
    /// read instead of each running the query.
    refreshing: tokio::sync::Mutex<()>,
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::default();
        let lock_requests = Family::<RequestLabels, Counter>::default();
        let http_duration = Family::<HttpLabels, Histogram>::new_with_constructor(
            (|| Histogram::new(exponential_buckets(0.001, 2.0, 14))) as fn() -> Histogram,
        );
        let verifications = Family::<ResultLabel, Counter>::default();
        let locks = Family::<StateLabel, Gauge>::default();
        let lock_holders = Family::<LockLabel, Gauge>::default();
        let other_lock_holders = Gauge::default();
        let db_connections = Family::<StateLabel, Gauge>::default();
        let notifications = Family::<StateLabel, Gauge>::default();
        let build_info = Family::<VersionLabel, Gauge>::default();
        build_info
            .get_or_create(&VersionLabel {
                version: env!("CARGO_PKG_VERSION"),
            })
            .set(1);
        registry.register(
            "foreman_dlm_locks",
            "Locks by state (free, held, full, stale, disabled); a lock may be in several",
            locks.clone(),
        );
        registry.register(
            "foreman_dlm_lock_holders",
            "Hosts holding each of the locks with the most holders (metrics.lock_series)",
            lock_holders.clone(),
        );
        registry.register(
            "foreman_dlm_lock_holders_other",
            "Hosts holding the held locks that foreman_dlm_lock_holders leaves out, together",
            other_lock_holders.clone(),
        );
        registry.register(
            "foreman_dlm_lock_requests",
            "Host lock requests by operation and outcome",
            lock_requests.clone(),
        );
        registry.register(
            "foreman_dlm_http_request_duration_seconds",
            "HTTP requests by route and status, in seconds",
            http_duration.clone(),
        );
        registry.register(
            "foreman_dlm_db_connections",
            "Database pool connections, idle or in use",
            db_connections.clone(),
        );
        registry.register(
            "foreman_dlm_notifications",
            "Outbox notifications pending delivery or failed for good",
            notifications.clone(),
        );
        registry.register(
            "foreman_dlm_certificate_verifications",
            "Client certificates: from the cache, verified, or refused",
            verifications.clone(),
        );
        let alert_gate_queries = Family::<ResultLabel, Counter>::default();
        registry.register(
            "foreman_dlm_alert_gate_queries",
            "Alert gate answers: from the cache, or asked of Prometheus (quiet, firing, error)",
            alert_gate_queries.clone(),
        );
        for result in crate::alerts::QueryResult::ALL {
            let _ = alert_gate_queries.get_or_create(&ResultLabel {
                result: result.label(),
            });
        }
        registry.register("foreman_dlm_build_info", "The running version", build_info);
        // Every label value appears from the start, so that rate() and absent() work at once.
        for operation in ["show", "acquire", "release"] {
            for outcome in OUTCOMES {
                let _ = lock_requests.get_or_create(&RequestLabels { operation, outcome });
            }
        }
        for result in ["cache_hit", "verified", "refused"] {
            let _ = verifications.get_or_create(&ResultLabel { result });
        }
        Metrics {
            registry,
            lock_requests,
            http_duration,
            verifications,
            alert_gate_queries,
            locks,
            lock_holders,
            other_lock_holders,
            db_connections,
            notifications,
            refreshed: Mutex::new(None),
            refreshing: tokio::sync::Mutex::new(()),
        }
    }

    pub fn lock_request(&self, operation: Operation, outcome: &'static str) {
        let operation = match operation {
            Operation::Show => "show",
            Operation::Acquire => "acquire",
            Operation::Release => "release",
        };
        self.lock_requests
            .get_or_create(&RequestLabels { operation, outcome })
            .inc();
    }

    /// How the alert gate answered one acquire (`cached`, `quiet`, `firing`, `error`).
    pub fn alert_gate_query(&self, result: &'static str) {
        self.alert_gate_queries
            .get_or_create(&ResultLabel { result })
            .inc();
    }

    pub fn http_request(&self, route: &str, status: u16, seconds: f64) {
        self.http_duration
            .get_or_create(&HttpLabels {
                route: route.to_string(),
                status,
            })
            .observe(seconds);
    }

    pub fn certificate(&self, verification: Verification) {
        let result = match verification {
            Verification::CacheHit => "cache_hit",
            Verification::Verified => "verified",
            Verification::Refused => "refused",
        };
        self.verifications
            .get_or_create(&ResultLabel { result })
            .inc();
    }

    /// Whether the gauges are older than a few seconds (then the scrape reads the database).
    pub fn gauges_due(&self) -> bool {
        self.refreshed
            .lock()
            .map(|at| at.is_none_or(|at| at.elapsed() >= GAUGES_TTL))
            .unwrap_or(true)
    }

    /// The right to refresh the gauges, one scrape at a time; check [`Metrics::gauges_due`]
    /// again once it is held.
    pub async fn refresh_turn(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.refreshing.lock().await
    }

    pub fn set_gauges(&self, snapshot: &Snapshot) {
        let counts = &snapshot.locks;
        for (state, value) in [
            ("free", counts.free),
            ("held", counts.held),
            ("full", counts.full),
            ("stale", counts.stale),
            ("disabled", counts.disabled),
            ("halted", counts.halted),
        ] {
            self.locks.get_or_create(&StateLabel { state }).set(value);
        }
        self.lock_holders.clear();
        for (lock, holders) in &counts.holders {
            self.lock_holders
                .get_or_create(&LockLabel {
                    lock: LabelText(lock.clone()),
                })
                .set(*holders);
        }
        self.other_lock_holders.set(counts.other_holders);
        let as_gauge = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
        self.db_connections
            .get_or_create(&StateLabel { state: "in_use" })
            .set(as_gauge(snapshot.connections_in_use));
        self.db_connections
            .get_or_create(&StateLabel { state: "idle" })
            .set(as_gauge(snapshot.connections_idle));
        self.notifications
            .get_or_create(&StateLabel { state: "pending" })
            .set(snapshot.notifications_pending);
        self.notifications
            .get_or_create(&StateLabel { state: "failed" })
            .set(snapshot.notifications_failed);
        if let Ok(mut at) = self.refreshed.lock() {
            *at = Some(Instant::now());
        }
    }

    /// The text exposition (OpenMetrics), as Prometheus scrapes it.
    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)?;
        Ok(text)
    }
}

/// `outcome` values of `foreman_dlm_lock_requests_total`.
pub const OUTCOMES: [&str; 15] = [
    "granted",
    "refreshed",
    "released",
    "held",
    "full",
    "disabled",
    "outside_window",
    "opted_out",
    "too_many_held",
    "too_many_created",
    "halted",
    "cooling_down",
    "blocked",
    "unauthenticated",
    "error",
];
