//! The locks at a glance, for the metrics gauges: counts by state and the holders per lock.

use super::{LockError, LockManager};
use crate::clock;
use crate::storage::locks::overview as store;

/// Locks by state; a lock may count in several (a held lock with every slot taken is held and
/// full). `holders`: (lock name, how many hosts hold it) for every lock with holders.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LockOverview {
    pub free: i64,
    pub held: i64,
    pub full: i64,
    pub stale: i64,
    pub disabled: i64,
    pub holders: Vec<(String, i64)>,
}

/// A host that asked for a lock recently and was refused (and holds nothing of it now).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Waiting {
    pub lock_id: i32,
    pub host: String,
    /// The refusal's reason: held, full, disabled, outside_window.
    pub reason: String,
    pub refused_at: chrono::NaiveDateTime,
}

/// How recent a refusal must be for its host to count as waiting.
const WAITING_MINUTES: i32 = 15;

impl LockManager {
    /// Hosts refused in the last quarter of an hour: the status page shows them as waiting.
    pub async fn waiting(&self) -> Result<Vec<Waiting>, LockError> {
        let mut conn = self.conn().await?;
        let rows = store::waiting(&mut conn, clock::test_now(), WAITING_MINUTES).await?;
        Ok(rows
            .into_iter()
            .map(|r| Waiting {
                lock_id: r.dlmlock_id,
                host: r.host_name,
                reason: r.reason,
                refused_at: r.refused_at,
            })
            .collect())
    }

    pub async fn overview(&self) -> Result<LockOverview, LockError> {
        let mut conn = self.conn().await?;
        let stale_hours = i32::try_from(self.stale_hours).unwrap_or(i32::MAX);
        let (locks, disabled, held) =
            store::overview(&mut conn, self.statements(), clock::test_now(), stale_hours).await?;
        let enabled_held = held.iter().filter(|l| l.enabled).count();
        Ok(LockOverview {
            free: locks - disabled - i64::try_from(enabled_held).unwrap_or(i64::MAX),
            held: i64::try_from(held.len()).unwrap_or(i64::MAX),
            full: i64::try_from(held.iter().filter(|l| l.full).count()).unwrap_or(i64::MAX),
            stale: i64::try_from(held.iter().filter(|l| l.stale).count()).unwrap_or(i64::MAX),
            disabled,
            holders: held.into_iter().map(|l| (l.name, l.holders)).collect(),
        })
    }
}
