//! The lock domain: what a host may do to a lock, and what an admin may do, independent of HTTP.
//!
//! [`LockManager`] owns the database pool for lock work: each operation borrows one connection
//! and does its SQL through `storage::locks`. A host's show, acquire and release are one round
//! trip in the common case (see `storage::locks::host_requests`), policy included.

pub mod admin;
mod gate;
mod halts;
pub mod history;
mod host;
pub mod leases;
pub mod model;
pub mod name;
pub mod opt_out;
pub mod overview;
pub mod policy;
pub mod search;

use std::fmt;
use std::sync::OnceLock;

use crate::clock;
use crate::storage::locks::statements::{HostLimits, OptOutRule};
use crate::storage::locks::{self as lock_store, LockStatements};
use crate::storage::{Conn, Database, PooledConn, StorageError};
pub use gate::GateObserver;
pub use host::{Caller, HostAnswer, HostOutcome};
use model::{Lock, Refusal};
pub use name::{InvalidLockName, LockName, LockRef};
use policy::PolicyPattern;

/// The host parameter through which an admin opts a host out of update locks.
pub const OPT_OUT_PARAMETER: &str = "can_acquire_update_locks";

#[derive(Debug)]
pub enum LockError {
    /// A verified certificate whose subject names no Foreman host.
    UnknownHost {
        subject: String,
    },
    NotFound(String),
    /// The host may not take (or give back) the lock now: 412, with the reason. No lock id: the
    /// lock does not exist, and the refusal kept it from being created.
    PreconditionFailed {
        lock_id: Option<i32>,
        refusal: Refusal,
    },
    /// The lock does not exist, and the host has created `limits.locks_created_per_host_per_hour`
    /// locks in its current hour: 429 until `retry_at` (UTC).
    TooManyCreated {
        retry_at: Option<chrono::NaiveDateTime>,
    },
    /// A search or order that is not understood: 400.
    BadQuery(String),
    /// Field validation failed (Foreman's 422): (field, message) pairs.
    Invalid {
        lock_id: Option<i32>,
        errors: Vec<(&'static str, String)>,
    },
    /// The database cannot be reached now: 503.
    Unavailable(String),
    /// A read ran past `limits.admin_statement_timeout_seconds` and was stopped: 503.
    TimedOut,
    /// A bug or an unexpected schema: 500, logged with this cause.
    Internal(String),
}

impl fmt::Display for LockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LockError::UnknownHost { subject } => write!(f, "no host has subject {subject:?}"),
            LockError::NotFound(id) => write!(f, "lock {id:?} not found"),
            LockError::PreconditionFailed { lock_id, refusal } => {
                write!(f, "lock {lock_id:?} refused: {}", refusal.reason())
            }
            LockError::TooManyCreated { .. } => write!(f, "the host created too many locks"),
            LockError::BadQuery(e) => write!(f, "{e}"),
            LockError::Invalid { errors, .. } => write!(f, "invalid: {errors:?}"),
            LockError::Unavailable(e) | LockError::Internal(e) => write!(f, "{e}"),
            LockError::TimedOut => write!(f, "the statement ran past its statement_timeout"),
        }
    }
}

impl From<StorageError> for LockError {
    fn from(e: StorageError) -> Self {
        match e {
            StorageError::Unavailable(cause) => LockError::Unavailable(cause),
            StorageError::TimedOut => LockError::TimedOut,
            StorageError::Query(cause) => LockError::Internal(cause.to_string()),
        }
    }
}

/// What one client may cost: searches, locks per host, windows per lock (`[limits]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    pub search_conditions: usize,
    pub search_chars: usize,
    /// 0: no limit.
    pub locks_created_per_host_per_hour: u32,
    /// 0: no limit.
    pub locks_held_per_host: u32,
    pub windows_per_lock: usize,
}

impl Default for Limits {
    /// The settings' defaults.
    fn default() -> Limits {
        Limits {
            search_conditions: 20,
            search_chars: 1000,
            locks_created_per_host_per_hour: 60,
            locks_held_per_host: 20,
            windows_per_lock: 50,
        }
    }
}

/// Lock operations, and what is worth remembering between them.
pub struct LockManager {
    db: Database,
    statements: LockStatements,
    /// `locks.stale_time_hours`: a holder not refreshed for this long is stale.
    stale_hours: u32,
    /// The `[[locks.policies]]` patterns, for checking their time zones against the database.
    patterns: Vec<PolicyPattern>,
    limits: Limits,
    /// Whether Foreman's database has Katello's subscription facets; asked once.
    katello_facets: OnceLock<bool>,
    /// Set in the service: lock work waits (at most the second field) until the notifier has
    /// written its destinations, so that no change goes unreported.
    notifications_set_up: Option<(tokio::sync::watch::Receiver<bool>, std::time::Duration)>,
    /// Prometheus, for locks with `block_on_alerts` (see `gate`).
    alert_gate: Option<crate::alerts::AlertGate>,
    gate_observer: Option<GateObserver>,
}

impl LockManager {
    pub fn new(db: Database, stale_hours: u32, patterns: &[PolicyPattern]) -> LockManager {
        LockManager {
            db,
            statements: lock_statements(patterns),
            stale_hours,
            patterns: patterns.to_vec(),
            limits: Limits::default(),
            katello_facets: OnceLock::new(),
            notifications_set_up: None,
            alert_gate: None,
            gate_observer: None,
        }
    }

    /// The same manager with these limits, and the statements that enforce them.
    pub fn with_limits(mut self, limits: Limits) -> LockManager {
        self.statements = lock_statements_with(&self.patterns, &limits);
        self.limits = limits;
        self
    }

    /// Lock work waits up to `wait` for `set_up` (the notifier's destinations) to turn true,
    /// and is answered 503 after that.
    pub fn after_notifications(
        mut self,
        set_up: tokio::sync::watch::Receiver<bool>,
        wait: std::time::Duration,
    ) -> LockManager {
        self.notifications_set_up = Some((set_up, wait));
        self
    }

    /// How long a holder may go without a refresh before it counts as stale.
    pub fn stale_after(&self) -> chrono::Duration {
        chrono::Duration::hours(i64::from(self.stale_hours))
    }

    /// The statements the requests run, for the benchmark's pgbench script and plan tests.
    pub fn statements(&self) -> &LockStatements {
        &self.statements
    }

    /// A connection for a host's request (or background work).
    async fn conn(&self) -> Result<PooledConn, LockError> {
        Ok(self.db.conn().await?)
    }

    /// A connection for people's traffic: never one a host request needs.
    async fn admin_conn(&self) -> Result<PooledConn, LockError> {
        Ok(self.db.admin_conn().await?)
    }

    /// A connection for a host's change of a lock (which writes events): in the service, only
    /// once the notifier has written its destinations.
    async fn change_conn(&self) -> Result<PooledConn, LockError> {
        self.notifications_written().await?;
        self.conn().await
    }

    /// The same for an admin's change.
    async fn admin_change_conn(&self) -> Result<PooledConn, LockError> {
        self.notifications_written().await?;
        self.admin_conn().await
    }

    async fn notifications_written(&self) -> Result<(), LockError> {
        if let Some((set_up, wait)) = &self.notifications_set_up {
            if !*set_up.borrow() {
                let mut set_up = set_up.clone();
                let waited = async { set_up.wait_for(|done| *done).await.is_ok() };
                if !tokio::time::timeout(*wait, waited).await.unwrap_or(false) {
                    return Err(LockError::Unavailable(
                        "the notification destinations are not written yet".into(),
                    ));
                }
            }
        }
        Ok(())
    }

    /// GET by a Foreman user.
    pub async fn show(&self, lock: &LockRef) -> Result<Lock, LockError> {
        let mut conn = self.admin_conn().await?;
        self.find_existing(&mut conn, lock).await
    }

    async fn find_existing(&self, conn: &mut Conn, lock: &LockRef) -> Result<Lock, LockError> {
        lock_store::find(
            conn,
            &self.statements,
            clock::test_now(),
            lock.id(),
            lock.as_str(),
        )
        .await?
        .ok_or_else(|| LockError::NotFound(lock.as_str().to_string()))
    }

    async fn find_by_id(&self, conn: &mut Conn, id: i32) -> Result<Lock, LockError> {
        lock_store::find(conn, &self.statements, clock::test_now(), Some(id), "")
            .await?
            .ok_or_else(|| LockError::NotFound(id.to_string()))
    }
}

/// The statements as the service builds them from these patterns, with the default limits (the
/// benchmark and the plan tests build the same).
pub fn lock_statements(patterns: &[PolicyPattern]) -> LockStatements {
    lock_statements_with(patterns, &Limits::default())
}

fn lock_statements_with(patterns: &[PolicyPattern], limits: &Limits) -> LockStatements {
    let (allowed, denied) = opt_out::classified_values();
    LockStatements::new(
        &OptOutRule {
            parameter: OPT_OUT_PARAMETER,
            allowed: &allowed,
            denied: &denied,
        },
        patterns,
        &HostLimits {
            created_per_hour: limits.locks_created_per_host_per_hour,
            held: limits.locks_held_per_host,
        },
    )
}
