//! The background sweep that frees expired holders' slots on locks nobody asks for, so that a
//! dead host's slot comes back within `locks.sweep_interval_seconds` even on a quiet night.

use std::time::Duration;

use super::{LockError, LockManager};
use crate::clock;
use crate::storage::locks::leases;

/// Locks handled per statement; a sweep repeats until a pass frees nothing.
const BATCH: i64 = 200;

impl LockManager {
    /// One sweep: `None` when another instance is sweeping now; else the holders freed.
    pub async fn sweep_expired_leases(&self) -> Result<Option<i64>, LockError> {
        let mut conn = self.change_conn().await?;
        let mut freed = 0;
        loop {
            match leases::sweep(&mut conn, self.statements(), clock::test_now(), BATCH).await? {
                None if freed == 0 => return Ok(None),
                Some(n) if n > 0 => freed += n,
                _ => return Ok(Some(freed)),
            }
        }
    }

    /// Runs the sweep every `interval` for as long as the service runs. Errors are logged and
    /// the next tick tries again: a database that is away now is probably back then.
    pub async fn sweep_leases_forever(&self, interval: Duration) {
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            match self.sweep_expired_leases().await {
                Ok(Some(freed)) if freed > 0 => {
                    log::info!("lease sweep: freed {freed} expired holder slot(s)");
                }
                Ok(_) => {}
                // The database's outage is reported once, by the pool.
                Err(LockError::Unavailable(e)) => log::log!(
                    crate::outage::DATABASE.consequence_level(),
                    "lease sweep skipped: {e}"
                ),
                Err(e) => log::error!("lease sweep failed: {e}"),
            }
        }
    }
}
