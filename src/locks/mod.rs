//! The lock domain: what a host may do to a lock, independent of HTTP.
//!
//! Every operation is a synchronous function over one database connection, so that a request does
//! all its work with a single pool checkout (see `storage::Database::run`).

pub mod admin;
pub mod lock_ref;
pub mod opt_out;
pub mod search;

use std::fmt;
use std::sync::OnceLock;

use diesel::pg::PgConnection;

use crate::identity::Host;
/// A lock as the API shows it: the row and its holder's name.
pub use crate::storage::locks::LockWithHolder as LockView;
use crate::storage::locks::{self as lock_store, TransferOutcome};
use crate::storage::{hosts as host_store, StorageError, StorageFailure};
pub use lock_ref::{InvalidLockName, LockRef};

/// The host parameter through which an admin opts a host out of update locks.
pub const OPT_OUT_PARAMETER: &str = "can_acquire_update_locks";

#[derive(Debug)]
pub enum LockError {
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
    Storage(StorageError),
}

impl fmt::Display for LockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LockError::NotFound(id) => write!(f, "lock {id:?} not found"),
            LockError::PreconditionFailed { lock_id } => {
                write!(f, "lock {lock_id} is in the wrong state")
            }
            LockError::BadQuery(e) => write!(f, "{e}"),
            LockError::Invalid { errors, .. } => write!(f, "invalid: {errors:?}"),
            LockError::Storage(e) => write!(f, "{e}"),
        }
    }
}

impl From<StorageError> for LockError {
    fn from(e: StorageError) -> Self {
        LockError::Storage(e)
    }
}

impl StorageFailure for LockError {
    fn is_unavailable(&self) -> bool {
        matches!(self, LockError::Storage(e) if e.is_unavailable())
    }
}

/// Lock operations. Holds what is worth remembering between requests.
pub struct LockManager {
    /// Foreman's hidden `foreman_api_admin` user, recorded as the actor of host requests.
    api_admin_id: OnceLock<Option<i32>>,
    /// `locks.stale_time_hours`: a held lock not refreshed for this long is stale.
    stale_hours: u32,
}

impl LockManager {
    pub fn new(stale_hours: u32) -> LockManager {
        LockManager {
            api_admin_id: OnceLock::new(),
            stale_hours,
        }
    }

    /// GET: never creates a lock.
    pub fn show(&self, conn: &mut PgConnection, lock_ref: &LockRef) -> Result<LockView, LockError> {
        find(conn, lock_ref)?.ok_or_else(|| LockError::NotFound(lock_ref.as_str().to_string()))
    }

    /// PUT: take the lock for `host`, creating the lock on first use.
    pub fn acquire(
        &self,
        conn: &mut PgConnection,
        host: &Host,
        lock_ref: &LockRef,
    ) -> Result<LockView, LockError> {
        let stored = host_store::effective_parameter(conn, host.id, OPT_OUT_PARAMETER)?;
        if !opt_out::may_acquire(stored.as_deref()) {
            log::info!(
                "host {} may not acquire update locks ({OPT_OUT_PARAMETER})",
                host.name
            );
            // As the plugin: the lock is still auto-created, and no event is recorded.
            let lock = find_or_create(conn, lock_ref)?;
            return Err(LockError::PreconditionFailed {
                lock_id: lock.lock.id,
            });
        }
        self.transfer(conn, host, lock_ref, Some(host.id))
    }

    /// DELETE: give the lock back. Releasing a free lock succeeds.
    pub fn release(
        &self,
        conn: &mut PgConnection,
        host: &Host,
        lock_ref: &LockRef,
    ) -> Result<LockView, LockError> {
        self.transfer(conn, host, lock_ref, None)
    }

    /// One statement finds the lock and transfers it; only a lock's first use needs a second
    /// round (create it, then transfer by its id).
    fn transfer(
        &self,
        conn: &mut PgConnection,
        host: &Host,
        lock_ref: &LockRef,
        new_holder: Option<i32>,
    ) -> Result<LockView, LockError> {
        let actor = self.api_admin_id(conn)?;
        let name = lock_ref.as_str();
        let outcome =
            match lock_store::transfer(conn, lock_ref.id(), name, host.id, new_holder, actor)? {
                Some(outcome) => outcome,
                None => {
                    let created = lock_store::create_if_missing(conn, name)?;
                    lock_store::transfer(
                        conn,
                        Some(created.lock.id),
                        name,
                        host.id,
                        new_holder,
                        actor,
                    )?
                    .ok_or_else(|| LockError::NotFound(name.to_string()))?
                }
            };
        match outcome {
            TransferOutcome::Done(lock) => Ok(LockView {
                holder_name: lock.host_id.map(|_| host.name.clone()),
                lock,
            }),
            TransferOutcome::Refused { lock_id } => Err(LockError::PreconditionFailed { lock_id }),
        }
    }

    fn api_admin_id(&self, conn: &mut PgConnection) -> Result<Option<i32>, StorageError> {
        if let Some(id) = self.api_admin_id.get() {
            return Ok(*id);
        }
        let id = host_store::api_admin_user_id(conn)?;
        Ok(*self.api_admin_id.get_or_init(|| id))
    }
}

pub(crate) fn find(
    conn: &mut PgConnection,
    lock_ref: &LockRef,
) -> Result<Option<LockView>, StorageError> {
    match lock_ref {
        LockRef::IdOrName(id, name) => match lock_store::find_by_id(conn, *id)? {
            Some(lock) => Ok(Some(lock)),
            None => lock_store::find_by_name(conn, name),
        },
        LockRef::Name(name) => lock_store::find_by_name(conn, name),
    }
}

fn find_or_create(conn: &mut PgConnection, lock_ref: &LockRef) -> Result<LockView, StorageError> {
    match find(conn, lock_ref)? {
        Some(lock) => Ok(lock),
        None => lock_store::create_if_missing(conn, lock_ref.as_str()),
    }
}
