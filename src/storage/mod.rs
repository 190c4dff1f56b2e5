//! Storage: the PostgreSQL pool and every SQL statement foreman-dlm runs.
//!
//! Diesel is synchronous, so all database work runs on actix's blocking pool through
//! [`Database::run`]; the pool checkout happens inside that closure so a slow pool never stalls an
//! async worker.

pub mod foreman_settings;
pub mod hosts;
pub mod locks;
pub mod migrations;
pub mod schema;
pub mod sql;
pub mod users;

use std::fmt;
use std::time::Duration;

use diesel::pg::PgConnection;
use diesel::r2d2::{self, ManageConnection};
use diesel::result::{ConnectionError, DatabaseErrorKind, Error as DieselError};
use diesel::{Connection, RunQueryDsl};

/// What went wrong below the lock domain. Only the two kinds the HTTP layer answers differently.
#[derive(Debug)]
pub enum StorageError {
    /// The database cannot be reached (down, restarting, connection lost, pool exhausted): 503.
    Unavailable(String),
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
            StorageError::Query(e) => write!(f, "database query failed: {e}"),
        }
    }
}

impl std::error::Error for StorageError {}

impl From<DieselError> for StorageError {
    fn from(e: DieselError) -> Self {
        match e {
            DieselError::DatabaseError(DatabaseErrorKind::ClosedConnection, ref info)
            | DieselError::DatabaseError(DatabaseErrorKind::UnableToSendCommand, ref info) => {
                StorageError::Unavailable(info.message().to_string())
            }
            other => StorageError::Query(other),
        }
    }
}

impl From<r2d2::PoolError> for StorageError {
    fn from(e: r2d2::PoolError) -> Self {
        StorageError::Unavailable(e.to_string())
    }
}

/// Errors of the layers above that may stem from a lost database; [`Database::run`] asks them, to
/// retire a connection that the database dropped.
pub trait StorageFailure {
    fn is_unavailable(&self) -> bool;
}

impl StorageFailure for StorageError {
    fn is_unavailable(&self) -> bool {
        StorageError::is_unavailable(self)
    }
}

/// A pooled connection that remembers when the server dropped it. Diesel's own r2d2 check only
/// sees broken transactions, not a lost socket, and a `SELECT 1` on every checkout would cost a
/// round trip per request; this flag lets the pool discard exactly the dead connections.
pub struct TrackedConnection {
    conn: PgConnection,
    lost: bool,
}

pub struct TrackedConnectionManager {
    database_url: String,
}

impl ManageConnection for TrackedConnectionManager {
    type Connection = TrackedConnection;
    type Error = ConnectionError;

    fn connect(&self) -> Result<TrackedConnection, ConnectionError> {
        PgConnection::establish(&self.database_url)
            .map(|conn| TrackedConnection { conn, lost: false })
    }

    fn is_valid(&self, c: &mut TrackedConnection) -> Result<(), ConnectionError> {
        diesel::sql_query("SELECT 1")
            .execute(&mut c.conn)
            .map(|_| ())
            .map_err(ConnectionError::CouldntSetupConfiguration)
    }

    fn has_broken(&self, c: &mut TrackedConnection) -> bool {
        c.lost
    }
}

#[derive(Clone)]
pub struct Database {
    pool: r2d2::Pool<TrackedConnectionManager>,
}

impl Database {
    /// Builds the pool without connecting: the service starts (and answers 503) while the
    /// database is still coming up, and recovers by itself when it is back.
    pub fn new(database_url: &str, pool_size: u32, checkout_timeout: Duration) -> Database {
        let pool = r2d2::Pool::builder()
            .max_size(pool_size)
            .min_idle(Some(0))
            .test_on_check_out(false)
            .connection_timeout(checkout_timeout)
            .error_handler(Box::new(LogConnectError))
            .build_unchecked(TrackedConnectionManager {
                database_url: database_url.to_string(),
            });
        Database { pool }
    }

    /// Runs `work` with one pooled connection on the blocking thread pool.
    pub async fn run<T, E, F>(&self, work: F) -> Result<T, E>
    where
        F: FnOnce(&mut PgConnection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<StorageError> + StorageFailure + Send + 'static,
    {
        let pool = self.pool.clone();
        let outcome = actix_web::web::block(move || {
            let mut tracked = pool.get().map_err(StorageError::from)?;
            let result = work(&mut tracked.conn);
            if let Err(e) = &result {
                if e.is_unavailable() {
                    tracked.lost = true;
                }
            }
            result
        })
        .await;
        match outcome {
            Ok(result) => result,
            Err(blocking) => Err(E::from(StorageError::Unavailable(format!(
                "database worker failed: {blocking}"
            )))),
        }
    }

    /// A connection for command-line work (check-config, demo), outside any async runtime.
    pub fn connect_now(database_url: &str) -> Result<PgConnection, ConnectionError> {
        PgConnection::establish(database_url)
    }
}

/// r2d2 reports failed connection attempts here; the libpq text names host and user, never the
/// password.
#[derive(Debug)]
struct LogConnectError;

impl r2d2::HandleError<ConnectionError> for LogConnectError {
    fn handle_error(&self, error: ConnectionError) {
        log::warn!(
            "cannot connect to the database: {}",
            error.to_string().trim()
        );
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
            Box::new("no connection to the server".to_string()),
        );
        assert!(StorageError::from(unsent).is_unavailable());
        let unique = DieselError::DatabaseError(
            DatabaseErrorKind::UniqueViolation,
            Box::new("duplicate key".to_string()),
        );
        assert!(!StorageError::from(unique).is_unavailable());
        assert!(!StorageError::from(DieselError::NotFound).is_unavailable());
    }
}
