//! The lock domain: what a host may do to a lock, and what an admin may do, independent of HTTP.
//!
//! [`LockManager`] owns the database pool for lock work: each operation borrows one connection
//! and does its SQL through `storage::locks`. A host's show, acquire and release are one round
//! trip in the common case (see `storage::locks::host_requests`), policy included.

pub mod admin;
pub mod history;
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
use crate::identity::{CertificateKind, HostCertificate};
use crate::storage::locks::host_requests::{self, HostRequest, HostRequestRow};
use crate::storage::locks::statements::{HostLimits, HostLookup, HostOperation, OptOutRule};
use crate::storage::locks::{self as lock_store, LockStatements};
use crate::storage::{catalog, Conn, Database, PooledConn, StorageError};
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

/// A host's request answered: who asked (as Foreman knows the host), what happened, and the
/// lock afterwards.
#[derive(Debug, Clone)]
pub struct HostAnswer {
    pub caller: Caller,
    pub outcome: HostOutcome,
    pub lock: Lock,
}

/// What a host's successful request did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostOutcome {
    Shown,
    /// The host became a holder.
    Granted,
    /// The host held a slot already; its lease starts again.
    Refreshed,
    Released,
    /// A release by a host that held nothing: nothing to give back.
    NotHeld,
}

/// The Foreman host a certificate identified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub id: i32,
    pub name: String,
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

    /// GET by a host: never creates a lock.
    pub async fn show_for_host(
        &self,
        certificate: &HostCertificate,
        lock: &LockRef,
    ) -> Result<HostAnswer, LockError> {
        let mut conn = self.conn().await?;
        let (caller, row) = self
            .host_request(&mut conn, certificate, lock, HostOperation::Show)
            .await?;
        match row.lock()? {
            Some(found) => Ok(HostAnswer {
                caller,
                outcome: HostOutcome::Shown,
                lock: found,
            }),
            None => Err(LockError::NotFound(lock.as_str().to_string())),
        }
    }

    /// PUT by a host: take a slot (or refresh the one it has); the statement creates a missing
    /// lock, as the plugin does.
    pub async fn acquire(
        &self,
        certificate: &HostCertificate,
        lock: &LockRef,
    ) -> Result<HostAnswer, LockError> {
        let mut conn = self.change_conn().await?;
        let mut verdict = None;
        // At most two passes: the first may leave an unusual opt-out value to us.
        for _ in 0..2 {
            let operation = HostOperation::Acquire {
                opt_out_verdict: verdict,
            };
            let (caller, row) = self
                .host_request(&mut conn, certificate, lock, operation)
                .await?;
            let Some(allowed) = row.allowed else {
                verdict = Some(opt_out::may_acquire(row.opt_out_value.as_deref()));
                continue;
            };
            if !allowed {
                log::info!(
                    "host {} may not acquire update locks ({OPT_OUT_PARAMETER})",
                    caller.name
                );
            }
            return answer(caller, &row);
        }
        Err(LockError::Internal(format!(
            "acquiring {:?} did not settle",
            lock.as_str()
        )))
    }

    /// DELETE by a host: give its slot back. Releasing a lock one does not hold succeeds (with one
    /// holder allowed: when the lock is free); a missing lock is created free, as the plugin does.
    pub async fn release(
        &self,
        certificate: &HostCertificate,
        lock: &LockRef,
    ) -> Result<HostAnswer, LockError> {
        let mut conn = self.change_conn().await?;
        let (caller, row) = self
            .host_request(&mut conn, certificate, lock, HostOperation::Release)
            .await?;
        answer(caller, &row)
    }

    /// GET by a Foreman user.
    pub async fn show(&self, lock: &LockRef) -> Result<Lock, LockError> {
        let mut conn = self.admin_conn().await?;
        self.find_existing(&mut conn, lock).await
    }

    /// The host the certificate names, and what its request saw and did.
    async fn host_request(
        &self,
        conn: &mut Conn,
        certificate: &HostCertificate,
        lock: &LockRef,
        operation: HostOperation,
    ) -> Result<(Caller, HostRequestRow), LockError> {
        let unknown = || LockError::UnknownHost {
            subject: certificate.subject.clone(),
        };
        let lookup = match certificate.kind {
            CertificateKind::Puppet => HostLookup::Certname,
            CertificateKind::Katello if self.has_katello_facets(conn).await? => {
                HostLookup::ConsumerUuid
            }
            CertificateKind::Katello => return Err(unknown()),
        };
        let request = HostRequest {
            lookup,
            subject: &certificate.subject,
            lock_id: lock.id(),
            lock_name: lock.as_str(),
            operation,
            clock: clock::test_now(),
        };
        let row = host_requests::run(conn, &self.statements, &request)
            .await?
            .ok_or_else(unknown)?;
        let caller = Caller {
            id: row.caller_id.ok_or_else(unknown)?,
            name: row.caller_name.clone().unwrap_or_default(),
        };
        Ok((caller, row))
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

    async fn has_katello_facets(&self, conn: &mut Conn) -> Result<bool, LockError> {
        if let Some(present) = self.katello_facets.get() {
            return Ok(*present);
        }
        let present = catalog::table_exists(conn, "katello_subscription_facets").await?;
        Ok(*self.katello_facets.get_or_init(|| present))
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

/// A decided acquire or release, as the domain answers it.
fn answer(caller: Caller, row: &HostRequestRow) -> Result<HostAnswer, LockError> {
    match row.outcome.as_deref() {
        Some("too_many_created") => {
            log::warn!(
                "host {} may not create more locks this hour \
                 (limits.locks_created_per_host_per_hour)",
                caller.name
            );
            return Err(LockError::TooManyCreated {
                retry_at: row.retry_at,
            });
        }
        Some("too_many_held") => {
            log::info!(
                "host {} holds as many locks as it may (limits.locks_held_per_host)",
                caller.name
            );
            return Err(LockError::PreconditionFailed {
                lock_id: row.lock_id,
                refusal: Refusal::TooManyHeld,
            });
        }
        _ => {}
    }
    let lock_id = row
        .lock_id
        .ok_or_else(|| LockError::Internal("a host request found no lock".into()))?;
    let outcome = match row.outcome.as_deref() {
        Some("granted") => HostOutcome::Granted,
        Some("refreshed") => HostOutcome::Refreshed,
        Some("released") => HostOutcome::Released,
        Some("not_held") => HostOutcome::NotHeld,
        other => {
            let refusal = Refusal::from_outcome(other, row.next_window_at).ok_or_else(|| {
                LockError::Internal(format!("unexpected outcome {other:?} for lock {lock_id}"))
            })?;
            return Err(LockError::PreconditionFailed {
                lock_id: Some(lock_id),
                refusal,
            });
        }
    };
    let lock = row
        .lock()?
        .ok_or_else(|| LockError::Internal(format!("lock {lock_id} missing after a change")))?;
    Ok(HostAnswer {
        caller,
        outcome,
        lock,
    })
}
