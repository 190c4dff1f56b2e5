//! A synchronous diesel connection for the commands that are not a server (`migrate`, `demo`,
//! the benchmark's seeding): the service's own async connection, with its TLS handling, behind
//! diesel-async's `AsyncConnectionWrapper`. The binary then needs no libpq at all.

use std::ops::{Deref, DerefMut};

use diesel_async::async_connection_wrapper::AsyncConnectionWrapper;
use diesel_async::AsyncPgConnection;

use super::connect::ConnectOptions;
use crate::settings::Secret;

/// A blocking connection and the runtime that drives it. Not for use inside an async task.
pub struct BlockingConnection {
    // Declared before the runtime: the connection must go before what drives it.
    conn: AsyncConnectionWrapper<AsyncPgConnection>,
    _runtime: tokio::runtime::Runtime,
}

impl BlockingConnection {
    pub fn connect(url: &Secret) -> Result<BlockingConnection, String> {
        // One worker thread drives the connection while the caller blocks on its queries.
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start a runtime for the database connection: {e}"))?;
        let options = ConnectOptions::parse(url.expose())?;
        let conn = runtime.block_on(options.connect())?;
        // The wrapper picks up the runtime it is created in.
        let _entered = runtime.enter();
        Ok(BlockingConnection {
            conn: AsyncConnectionWrapper::from(conn),
            _runtime: runtime,
        })
    }
}

impl Deref for BlockingConnection {
    type Target = AsyncConnectionWrapper<AsyncPgConnection>;

    fn deref(&self) -> &Self::Target {
        &self.conn
    }
}

impl DerefMut for BlockingConnection {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.conn
    }
}
