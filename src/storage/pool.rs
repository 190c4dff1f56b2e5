//! The connection pools: one per HTTP worker thread, and one for everything else.
//!
//! A connection's socket and the task that drives it belong to the thread (the tokio runtime) on
//! which it was opened: actix runs each HTTP worker on a runtime of its own. A connection opened on
//! one worker and borrowed by another makes every query hop between the two threads and back,
//! which cost about a quarter of the service's CPU per request in the benchmark. So each worker
//! borrows only from a pool of its own, filled on that thread, and `database.pool_size` is shared
//! out among the workers. Background work (the outbox, the sweeps) and the commands use a small
//! shared pool.
//!
//! People's traffic (the admin API, the status page, logins, the metrics' gauges) has a pool of
//! its own, `database.admin_pool_size`, whose sessions stop any statement after
//! `limits.admin_statement_timeout_seconds`: however heavy the searches, they can neither take a
//! connection a host request needs nor run without end.

use std::cell::RefCell;
use std::mem::ManuallyDrop;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use deadpool::managed::Timeouts;
use deadpool::Runtime;
use diesel_async::pooled_connection::deadpool::{Object, Pool};
use diesel_async::pooled_connection::{
    AsyncDieselConnectionManager, ManagerConfig, RecyclingMethod,
};
use diesel_async::AsyncPgConnection;
use futures_util::FutureExt;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_postgres::CancelToken;

use super::connect::ConnectOptions;
use super::StorageError;
use crate::settings::Secret;

/// A connection borrowed from a pool; it goes back when dropped, unless it was lost, or dropped
/// while a statement ran that [`Database::cancel_if_dropped`] marked.
pub struct PooledConn {
    /// Taken once, in `drop`.
    connection: ManuallyDrop<Object<AsyncPgConnection>>,
    /// Set while a statement runs that must not outlive its request (boxed: host requests,
    /// which never set it, keep their futures small).
    cancel: Option<Box<(CancelToken, ConnectOptions)>>,
    /// The borrower's turn at a worker's pool (see `WorkerPool`), given up after the connection
    /// has gone back: fields drop after `drop` has run.
    _turn: Option<OwnedSemaphorePermit>,
}

impl PooledConn {
    fn new(connection: Object<AsyncPgConnection>, turn: Option<OwnedSemaphorePermit>) -> Self {
        PooledConn {
            connection: ManuallyDrop::new(connection),
            cancel: None,
            _turn: turn,
        }
    }

    /// The marked statement has finished: the connection goes back to its pool when dropped.
    pub fn finished(&mut self) {
        self.cancel = None;
    }
}

impl Drop for PooledConn {
    fn drop(&mut self) {
        // SAFETY: `connection` is taken here, once, and not touched again.
        let connection = unsafe { ManuallyDrop::take(&mut self.connection) };
        let Some(cancel) = self.cancel.take() else {
            return drop(connection);
        };
        // Dropped mid-statement (its request's client went away): the statement is cancelled,
        // and the connection leaves the pool, so that the cancel can never reach a statement of
        // the connection's next borrower.
        let connection = Object::take(connection);
        let (token, options) = *cancel;
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                if let Err(e) = options.cancel(&token).await {
                    log::warn!("cannot cancel the statement of a request whose client left: {e}");
                }
                drop(connection);
            });
        }
    }
}

impl std::ops::Deref for PooledConn {
    type Target = AsyncPgConnection;

    fn deref(&self) -> &AsyncPgConnection {
        &self.connection
    }
}

impl std::ops::DerefMut for PooledConn {
    fn deref_mut(&mut self) -> &mut AsyncPgConnection {
        &mut self.connection
    }
}

/// A worker's pool and its turns, one per connection. With 1,000 clients, nearly all of their
/// requests wait for a connection at once; deadpool's checkout future, which also holds the one
/// that opens a connection, is about 2 KB and sits inside each waiting request's future. Waiting
/// for a turn instead takes a few hundred bytes, and only a request whose turn has come makes the
/// (boxed) checkout, which then finds a connection free or room to open one.
#[derive(Clone)]
struct WorkerPool {
    pool: Pool<AsyncPgConnection>,
    turns: Arc<Semaphore>,
}

/// Connections of the shared pool once the workers have pools of their own: enough for the
/// background tasks and a metrics scrape at the same time.
const SHARED_WHEN_SPLIT: usize = 2;

/// Why a request got no connection within `connect_timeout_seconds` (answered 503).
pub(super) const CHECKOUT_TIMED_OUT: &str = "no database connection became free in time";

/// The pools. Cloning shares them.
#[derive(Clone)]
pub struct Database {
    inner: Arc<Pools>,
}

struct Pools {
    /// Tells this database's pools apart in a thread's list (tests run several in one process).
    key: usize,
    options: ConnectOptions,
    checkout_timeout: Duration,
    size: usize,
    shared: Pool<AsyncPgConnection>,
    /// People's traffic; `None` (the commands): the shared pool.
    admin: Option<Pool<AsyncPgConnection>>,
    /// Each worker's pool, for the metrics' totals.
    workers: Mutex<Vec<WorkerPool>>,
}

thread_local! {
    /// The pools this thread (an HTTP worker) borrows from, by `Pools::key`.
    static WORKER_POOLS: RefCell<Vec<(usize, WorkerPool)>> =
        const { RefCell::new(Vec::new()) };
}

static NEXT_KEY: AtomicUsize = AtomicUsize::new(0);

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
        let size = pool_size.max(1) as usize;
        let shared = build_pool(&options, size, checkout_timeout)?;
        Ok(Database {
            inner: Arc::new(Pools {
                key: NEXT_KEY.fetch_add(1, Ordering::Relaxed),
                options,
                checkout_timeout,
                size,
                shared,
                admin: None,
                workers: Mutex::new(Vec::new()),
            }),
        })
    }

    /// The same database with a pool of `size` connections for people's traffic, whose sessions
    /// cancel a statement after `statement_timeout`. Called once, before the pools are shared.
    pub fn with_admin_pool(
        self,
        size: u32,
        statement_timeout: Duration,
    ) -> Result<Database, String> {
        let Ok(mut pools) = Arc::try_unwrap(self.inner) else {
            return Err("the database pools are in use already".into());
        };
        let options = pools.options.with_statement_timeout(statement_timeout);
        pools.admin = Some(build_pool(
            &options,
            size.max(1) as usize,
            pools.checkout_timeout,
        )?);
        Ok(Database {
            inner: Arc::new(pools),
        })
    }

    /// Gives the calling thread, one of `workers` HTTP workers, a pool of its own with its share
    /// of the connections, and shrinks the shared pool to what background work needs. Called on
    /// each worker thread as it builds its app (once per listener: the first call counts).
    pub fn serve_from_this_thread(&self, workers: usize) -> Result<(), String> {
        let inner = &self.inner;
        if self.own_pool().is_some() {
            return Ok(());
        }
        let share = inner.size.div_ceil(workers.max(1));
        let pool = WorkerPool {
            pool: build_pool(&inner.options, share, inner.checkout_timeout)?,
            turns: Arc::new(Semaphore::new(share)),
        };
        inner.shared.resize(SHARED_WHEN_SPLIT.min(inner.size));
        if let Ok(mut pools) = inner.workers.lock() {
            pools.push(pool.clone());
        }
        WORKER_POOLS.with(|pools| pools.borrow_mut().push((inner.key, pool)));
        Ok(())
    }

    /// Borrows a connection from this thread's pool (the shared one on other threads), waiting
    /// at most the checkout timeout.
    pub async fn conn(&self) -> Result<PooledConn, StorageError> {
        let Some(own) = self.own_pool() else {
            let connection = Box::pin(self.inner.shared.get()).await?;
            return Ok(PooledConn::new(connection, None));
        };
        let turn = tokio::time::timeout(self.inner.checkout_timeout, own.turns.acquire_owned())
            .await
            .map_err(|_| StorageError::Unavailable(CHECKOUT_TIMED_OUT.into()))?
            .map_err(|_| StorageError::Unavailable("the pool is closed".into()))?;
        let connection = Box::pin(own.pool.get()).await?;
        Ok(PooledConn::new(connection, Some(turn)))
    }

    /// Borrows a connection for people's traffic: the admin pool, never a host's connection.
    pub async fn admin_conn(&self) -> Result<PooledConn, StorageError> {
        let pool = self.inner.admin.as_ref().unwrap_or(&self.inner.shared);
        let connection = Box::pin(pool.get()).await?;
        Ok(PooledConn::new(connection, None))
    }

    /// Marks the statement about to run on `conn`: if `conn` is dropped before
    /// [`PooledConn::finished`], the statement is cancelled. When a client goes away, actix drops
    /// its request's future, and the query it waited for would otherwise run on to its end.
    pub fn cancel_if_dropped(&self, conn: &mut PooledConn) {
        conn.cancel = Some(Box::new((
            conn.connection.cancel_token(),
            self.inner.options.clone(),
        )));
    }

    fn own_pool(&self) -> Option<WorkerPool> {
        WORKER_POOLS.with(|pools| {
            pools
                .borrow()
                .iter()
                .find(|(key, _)| *key == self.inner.key)
                .map(|(_, pool)| pool.clone())
        })
    }

    /// All pools together.
    pub fn status(&self) -> PoolStatus {
        let mut total = PoolStatus { open: 0, idle: 0 };
        let mut add = |pool: &Pool<AsyncPgConnection>| {
            let status = pool.status();
            total.open += status.size;
            total.idle += status.available;
        };
        add(&self.inner.shared);
        if let Some(admin) = &self.inner.admin {
            add(admin);
        }
        if let Ok(pools) = self.inner.workers.lock() {
            pools.iter().map(|worker| &worker.pool).for_each(&mut add);
        }
        total
    }

    /// One connection outside the pool, for commands (check-config, status).
    pub async fn connect_once(url: &Secret) -> Result<AsyncPgConnection, String> {
        ConnectOptions::parse(url.expose())?.connect().await
    }
}

fn build_pool(
    options: &ConnectOptions,
    size: usize,
    checkout_timeout: Duration,
) -> Result<Pool<AsyncPgConnection>, String> {
    let options = options.clone();
    let mut config = ManagerConfig::default();
    // A lost socket is noticed without a query (`is_closed` at recycle); a `SELECT 1` on every
    // checkout would cost a round trip per request.
    config.recycling_method = RecyclingMethod::Fast;
    config.custom_setup = Box::new(move |_| {
        let options = options.clone();
        async move {
            match options.connect().await {
                Ok(connection) => {
                    crate::outage::DATABASE.recovered();
                    Ok(connection)
                }
                Err(e) => {
                    crate::outage::DATABASE.failed(&e);
                    Err(diesel::ConnectionError::BadConnection(e))
                }
            }
        }
        .boxed()
    });
    // The URL itself is never used: `custom_setup` connects with the parsed options.
    let manager = AsyncDieselConnectionManager::new_with_config("", config);
    Pool::builder(manager)
        .max_size(size)
        .timeouts(Timeouts {
            wait: Some(checkout_timeout),
            create: Some(checkout_timeout),
            recycle: Some(checkout_timeout),
        })
        .runtime(Runtime::Tokio1)
        .build()
        .map_err(|e| format!("cannot build the database pool: {e}"))
}
