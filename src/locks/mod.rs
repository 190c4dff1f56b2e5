//! The lock domain: what a host may do to a lock, and what an admin may do, independent of HTTP.
//!
//! [`LockManager`] owns the database pool for lock work: each operation borrows one connection
//! and does its SQL through `storage::locks`. A host's show, acquire and release are one round
//! trip in the common case (see `storage::locks::host_requests`).

pub mod admin;
pub mod history;
pub mod model;
pub mod name;
pub mod opt_out;
pub mod search;

use std::fmt;
use std::sync::OnceLock;

use crate::identity::{CertificateKind, HostCertificate};
use crate::storage::locks::host_requests::{self, HostLookup, HostOperation, HostStatements};
use crate::storage::locks::{self as lock_store, admin as admin_store};
use crate::storage::{catalog, Conn, Database, StorageError};
use model::{Lock, UPDATE_LOCK_TYPE};
pub use name::{InvalidLockName, LockName, LockRef};

/// The host parameter through which an admin opts a host out of update locks.
pub const OPT_OUT_PARAMETER: &str = "can_acquire_update_locks";

#[derive(Debug)]
pub enum LockError {
    /// A verified certificate whose subject names no Foreman host.
    UnknownHost {
        subject: String,
    },
    NotFound(String),
    /// The lock is disabled, held by another host, or the host is opted out: 412.
    PreconditionFailed {
        lock_id: i32,
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
    /// A bug or an unexpected schema: 500, logged with this cause.
    Internal(String),
}

impl fmt::Display for LockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LockError::UnknownHost { subject } => write!(f, "no host has subject {subject:?}"),
            LockError::NotFound(id) => write!(f, "lock {id:?} not found"),
            LockError::PreconditionFailed { lock_id } => {
                write!(f, "lock {lock_id} is in the wrong state")
            }
            LockError::BadQuery(e) => write!(f, "{e}"),
            LockError::Invalid { errors, .. } => write!(f, "invalid: {errors:?}"),
            LockError::Unavailable(e) | LockError::Internal(e) => write!(f, "{e}"),
        }
    }
}

impl From<StorageError> for LockError {
    fn from(e: StorageError) -> Self {
        match e {
            StorageError::Unavailable(cause) => LockError::Unavailable(cause),
            StorageError::Query(cause) => LockError::Internal(cause.to_string()),
        }
    }
}

/// A host's request answered: who asked (as Foreman knows the host) and the lock afterwards.
#[derive(Debug, Clone)]
pub struct HostAnswer {
    pub caller: Caller,
    pub lock: Lock,
}

/// The Foreman host a certificate identified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub id: i32,
    pub name: String,
}

/// Lock operations, and what is worth remembering between them.
pub struct LockManager {
    db: Database,
    statements: HostStatements,
    /// `locks.stale_time_hours`: a held lock not refreshed for this long is stale.
    stale_hours: u32,
    /// Whether Foreman's database has Katello's subscription facets; asked once.
    katello_facets: OnceLock<bool>,
}

impl LockManager {
    pub fn new(db: Database, stale_hours: u32) -> LockManager {
        let (allowed, denied) = opt_out::classified_values();
        LockManager {
            db,
            statements: HostStatements::new(OPT_OUT_PARAMETER, &allowed, &denied),
            stale_hours,
            katello_facets: OnceLock::new(),
        }
    }

    /// The statements a host request runs, for the benchmark's pgbench script.
    pub fn host_statements(&self) -> &HostStatements {
        &self.statements
    }

    async fn conn(&self) -> Result<crate::storage::PooledConn, LockError> {
        Ok(self.db.conn().await?)
    }

    /// GET by a host: never creates a lock.
    pub async fn show_for_host(
        &self,
        certificate: &HostCertificate,
        lock: &LockRef,
    ) -> Result<HostAnswer, LockError> {
        let mut conn = self.conn().await?;
        let row = self
            .host_request(&mut conn, certificate, lock, HostOperation::Show)
            .await?;
        let caller = caller_of(&row);
        match row.lock() {
            Some(found) => Ok(HostAnswer {
                caller,
                lock: found,
            }),
            None => Err(LockError::NotFound(lock.as_str().to_string())),
        }
    }

    /// PUT by a host: take the lock, creating it on first use.
    pub async fn acquire(
        &self,
        certificate: &HostCertificate,
        lock: &LockRef,
    ) -> Result<HostAnswer, LockError> {
        let mut conn = self.conn().await?;
        let mut verdict = None;
        // At most three passes: the first may leave an unusual opt-out value to us, and a lock
        // created by someone else between our look and our create is looked at once more.
        for _ in 0..3 {
            let operation = HostOperation::Acquire {
                opt_out_verdict: verdict,
            };
            let row = self
                .host_request(&mut conn, certificate, lock, operation)
                .await?;
            let caller = caller_of(&row);
            match row.allowed {
                None => {
                    verdict = Some(opt_out::may_acquire(row.opt_out_value.as_deref()));
                    continue;
                }
                Some(false) => {
                    log::info!(
                        "host {} may not acquire update locks ({OPT_OUT_PARAMETER})",
                        caller.name
                    );
                    // As the plugin: the lock is still auto-created, and no event is recorded.
                    let lock_id = match row.lock_id {
                        Some(id) => id,
                        None => self.find_or_create(&mut conn, lock, None).await?.id,
                    };
                    return Err(LockError::PreconditionFailed { lock_id });
                }
                Some(true) => {}
            }
            if let Some(acquired) = row.lock() {
                return Ok(HostAnswer {
                    caller,
                    lock: acquired,
                });
            }
            if let Some(lock_id) = row.lock_id {
                return Err(LockError::PreconditionFailed { lock_id });
            }
            if let Some(created) = self
                .create_for_host(&mut conn, lock, Some(caller.id))
                .await?
            {
                return Ok(HostAnswer {
                    caller,
                    lock: created,
                });
            }
        }
        Err(LockError::Internal(format!(
            "acquiring {:?} did not settle",
            lock.as_str()
        )))
    }

    /// DELETE by a host: give the lock back. Releasing a free lock succeeds; a missing lock is
    /// created free, as the plugin does.
    pub async fn release(
        &self,
        certificate: &HostCertificate,
        lock: &LockRef,
    ) -> Result<HostAnswer, LockError> {
        let mut conn = self.conn().await?;
        for _ in 0..2 {
            let row = self
                .host_request(&mut conn, certificate, lock, HostOperation::Release)
                .await?;
            let caller = caller_of(&row);
            if let Some(released) = row.lock() {
                return Ok(HostAnswer {
                    caller,
                    lock: released,
                });
            }
            if let Some(lock_id) = row.lock_id {
                return Err(LockError::PreconditionFailed { lock_id });
            }
            if let Some(created) = self.create_for_host(&mut conn, lock, None).await? {
                return Ok(HostAnswer {
                    caller,
                    lock: created,
                });
            }
        }
        Err(LockError::Internal(format!(
            "releasing {:?} did not settle",
            lock.as_str()
        )))
    }

    /// GET by a Foreman user.
    pub async fn show(&self, lock: &LockRef) -> Result<Lock, LockError> {
        let mut conn = self.conn().await?;
        find(&mut conn, lock)
            .await?
            .ok_or_else(|| LockError::NotFound(lock.as_str().to_string()))
    }

    async fn host_request(
        &self,
        conn: &mut Conn,
        certificate: &HostCertificate,
        lock: &LockRef,
        operation: HostOperation,
    ) -> Result<host_requests::HostRequestRow, LockError> {
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
        host_requests::run(
            conn,
            &self.statements,
            lookup,
            &certificate.subject,
            lock.id(),
            lock.as_str(),
            operation,
        )
        .await?
        .ok_or_else(unknown)
    }

    /// A host's first use of a name; `None` when someone else created it meanwhile.
    async fn create_for_host(
        &self,
        conn: &mut Conn,
        lock: &LockRef,
        holder: Option<i32>,
    ) -> Result<Option<Lock>, LockError> {
        Ok(admin_store::create(conn, lock.as_str(), Some(UPDATE_LOCK_TYPE), true, holder).await?)
    }

    async fn find_or_create(
        &self,
        conn: &mut Conn,
        lock: &LockRef,
        holder: Option<i32>,
    ) -> Result<Lock, LockError> {
        if let Some(created) = self.create_for_host(conn, lock, holder).await? {
            return Ok(created);
        }
        find(conn, lock)
            .await?
            .ok_or_else(|| LockError::NotFound(lock.as_str().to_string()))
    }

    async fn has_katello_facets(&self, conn: &mut Conn) -> Result<bool, LockError> {
        if let Some(present) = self.katello_facets.get() {
            return Ok(*present);
        }
        let present = catalog::table_exists(conn, "katello_subscription_facets").await?;
        Ok(*self.katello_facets.get_or_init(|| present))
    }
}

fn caller_of(row: &host_requests::HostRequestRow) -> Caller {
    Caller {
        id: row.caller_id,
        name: row.caller_name.clone(),
    }
}

async fn find(conn: &mut Conn, lock: &LockRef) -> Result<Option<Lock>, LockError> {
    Ok(lock_store::find(conn, lock.id(), lock.as_str()).await?)
}
