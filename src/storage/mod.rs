//! Storage: the PostgreSQL pool and every SQL statement foreman-dlm runs.
//!
//! Statements run on diesel-async's `AsyncPgConnection`, on the HTTP workers themselves: a request
//! waiting for PostgreSQL costs a parked future, not a thread. Only the layers below `http` use
//! this module; they turn [`StorageError`] into their own errors.

pub mod blocking;
pub mod catalog;
pub mod connect;
mod conninfo;
pub mod foreman_settings;
pub mod locks;
pub mod migrations;
pub mod notifications;
pub mod schema;
pub mod sessions;
pub mod sql;
pub mod users;

use std::fmt;
use std::time::Duration;

use deadpool::managed::{PoolError, Timeouts};
use deadpool::Runtime;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel_async::pooled_connection::deadpool::{Object, Pool};
use diesel_async::pooled_connection::{
    AsyncDieselConnectionManager, ManagerConfig, RecyclingMethod,
};
use diesel_async::AsyncPgConnection;
use futures_util::FutureExt;

use crate::settings::Secret;
use connect::ConnectOptions;

/// The connection every storage function takes.
pub type Conn = AsyncPgConnection;

/// What went wrong below the domain layers. Only the two kinds that are answered differently.
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

/// Messages of PostgreSQL's class 57 (operator intervention) errors: the server ended the
/// session, so the statement was not the problem.
const SERVER_WENT_AWAY: [&str; 4] = [
    "terminating connection",
    "the database system is shutting down",
    "the database system is starting up",
    "the database system is in recovery mode",
];

impl From<DieselError> for StorageError {
    fn from(e: DieselError) -> Self {
        match e {
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
            PoolError::Timeout(_) => {
                StorageError::Unavailable("no database connection became free in time".into())
            }
            other => StorageError::Unavailable(other.to_string()),
        }
    }
}

/// A connection borrowed from the pool; it goes back when dropped, unless it was lost.
pub type PooledConn = Object<AsyncPgConnection>;

/// The pool. Cloning shares it.
#[derive(Clone)]
pub struct Database {
    pool: Pool<AsyncPgConnection>,
}

/// How many connections are open and how many are lent out, for metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStatus {
    pub open: usize,
    pub idle: usize,
}

impl Database {
    /// Builds the pool without connecting: the service starts (and answers 503) while the
    /// database is still coming up, and recovers by itself when it is back. Only a connection
    /// string that cannot be parsed is an error here.
    pub fn new(
        url: &Secret,
        pool_size: u32,
        checkout_timeout: Duration,
    ) -> Result<Database, String> {
        let options = ConnectOptions::parse(url.expose())?;
        let mut config = ManagerConfig::default();
        // A lost socket is noticed without a query (`is_closed` at recycle); a `SELECT 1` on every
        // checkout would cost a round trip per request.
        config.recycling_method = RecyclingMethod::Fast;
        config.custom_setup = Box::new(move |_| {
            let options = options.clone();
            async move {
                options.connect().await.map_err(|e| {
                    log::warn!("cannot connect to the database: {e}");
                    diesel::ConnectionError::BadConnection(e)
                })
            }
            .boxed()
        });
        // The URL itself is never used: `custom_setup` connects with the parsed options.
        let manager = AsyncDieselConnectionManager::new_with_config("", config);
        let pool = Pool::builder(manager)
            .max_size(pool_size as usize)
            .timeouts(Timeouts {
                wait: Some(checkout_timeout),
                create: Some(checkout_timeout),
                recycle: Some(checkout_timeout),
            })
            .runtime(Runtime::Tokio1)
            .build()
            .map_err(|e| format!("cannot build the database pool: {e}"))?;
        Ok(Database { pool })
    }

    /// Borrows a connection, waiting at most the checkout timeout.
    pub async fn conn(&self) -> Result<PooledConn, StorageError> {
        self.pool.get().await.map_err(StorageError::from)
    }

    pub fn status(&self) -> PoolStatus {
        let status = self.pool.status();
        PoolStatus {
            open: status.size,
            idle: status.available,
        }
    }

    /// One connection outside the pool, for commands (check-config, status).
    pub async fn connect_once(url: &Secret) -> Result<AsyncPgConnection, String> {
        ConnectOptions::parse(url.expose())?.connect().await
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
        let unique = DieselError::DatabaseError(
            DatabaseErrorKind::UniqueViolation,
            Box::new("duplicate key".to_string()),
        );
        assert!(!StorageError::from(unique).is_unavailable());
        assert!(!StorageError::from(DieselError::NotFound).is_unavailable());
    }
}
