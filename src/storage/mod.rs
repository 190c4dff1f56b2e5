//! Storage: the PostgreSQL pool and every SQL statement foreman-dlm runs.
//!
//! Statements run on diesel-async's `AsyncPgConnection`, on the HTTP workers themselves: a request
//! waiting for PostgreSQL costs a parked future, not a thread. Only the layers below `http` use
//! this module; they turn [`StorageError`] into their own errors.

pub mod batches;
pub mod blocking;
pub mod catalog;
pub mod connect;
mod conninfo;
pub mod foreman_settings;
pub mod functions;
pub mod locks;
pub mod migrations;
pub mod notifications;
mod pool;
pub mod schema;
pub mod sessions;
pub mod sql;
pub mod users;

use std::fmt;

use deadpool::managed::PoolError;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel_async::AsyncPgConnection;

pub use pool::{Database, PoolStatus, PooledConn};

/// The connection every storage function takes.
pub type Conn = AsyncPgConnection;

/// What went wrong below the domain layers. Only the two kinds that are answered differently.
#[derive(Debug)]
pub enum StorageError {
    /// The database cannot be reached (down, restarting, connection lost, pool exhausted): 503.
    Unavailable(String),
    /// The statement ran past the session's `statement_timeout` and was stopped: 503.
    TimedOut,
    /// Anything else: a bug or an unexpected schema. Logged with its cause, answered 500.
    Query(DieselError),
}

impl StorageError {
    pub fn is_unavailable(&self) -> bool {
        matches!(self, StorageError::Unavailable(_))
    }
}

impl fmt::Display for StorageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StorageError::Unavailable(cause) => write!(f, "database unavailable: {cause}"),
            StorageError::TimedOut => write!(f, "the statement ran past its statement_timeout"),
            StorageError::Query(e) => write!(f, "database query failed: {e}"),
        }
    }
}

impl std::error::Error for StorageError {}

/// Messages of PostgreSQL's class 57 (operator intervention) errors: the server ended the
/// session, so the statement was not the problem.
const SERVER_WENT_AWAY: [&str; 4] = [
    "terminating connection",
    "the database system is shutting down",
    "the database system is starting up",
    "the database system is in recovery mode",
];

/// PostgreSQL's message when `statement_timeout` stops a statement (SQLSTATE 57014).
const STATEMENT_TIMEOUT: &str = "canceling statement due to statement timeout";

impl From<DieselError> for StorageError {
    fn from(e: DieselError) -> Self {
        match e {
            DieselError::DatabaseError(_, ref info) if info.message() == STATEMENT_TIMEOUT => {
                StorageError::TimedOut
            }
            DieselError::DatabaseError(DatabaseErrorKind::ClosedConnection, ref info)
            | DieselError::DatabaseError(DatabaseErrorKind::UnableToSendCommand, ref info) => {
                StorageError::Unavailable(info.message().to_string())
            }
            DieselError::DatabaseError(_, ref info)
                if SERVER_WENT_AWAY
                    .iter()
                    .any(|m| info.message().starts_with(m)) =>
            {
                StorageError::Unavailable(info.message().to_string())
            }
            other => StorageError::Query(other),
        }
    }
}

impl From<PoolError<diesel_async::pooled_connection::PoolError>> for StorageError {
    fn from(e: PoolError<diesel_async::pooled_connection::PoolError>) -> Self {
        match e {
            PoolError::Timeout(_) => StorageError::Unavailable(pool::CHECKOUT_TIMED_OUT.into()),
            other => StorageError::Unavailable(other.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lost_connections_are_unavailable_other_errors_are_not() {
        let lost = DieselError::DatabaseError(
            DatabaseErrorKind::ClosedConnection,
            Box::new("server closed the connection unexpectedly".to_string()),
        );
        assert!(StorageError::from(lost).is_unavailable());
        let unsent = DieselError::DatabaseError(
            DatabaseErrorKind::UnableToSendCommand,
            Box::new("connection closed".to_string()),
        );
        assert!(StorageError::from(unsent).is_unavailable());
        let terminated = DieselError::DatabaseError(
            DatabaseErrorKind::Unknown,
            Box::new("terminating connection due to administrator command".to_string()),
        );
        assert!(StorageError::from(terminated).is_unavailable());
        let timed_out = DieselError::DatabaseError(
            DatabaseErrorKind::Unknown,
            Box::new(STATEMENT_TIMEOUT.to_string()),
        );
        assert!(matches!(
            StorageError::from(timed_out),
            StorageError::TimedOut
        ));
        let unique = DieselError::DatabaseError(
            DatabaseErrorKind::UniqueViolation,
            Box::new("duplicate key".to_string()),
        );
        assert!(!StorageError::from(unique).is_unavailable());
        assert!(!StorageError::from(DieselError::NotFound).is_unavailable());
    }
}
