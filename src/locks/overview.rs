//! The locks at a glance, for the metrics gauges: counts by state and the holders per lock.

use super::{LockError, LockManager};
use crate::clock;
use crate::storage::locks::overview as store;

/// Locks by state; a lock may count in several (a held lock with every slot taken is held and
/// full). `holders`: (lock name, how many hosts hold it) for the locks with the most holders;
/// `other_holders`: how many hosts hold the other locks, together.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LockOverview {
    pub free: i64,
    pub held: i64,
    pub full: i64,
    pub stale: i64,
    pub disabled: i64,
    pub halted: i64,
    pub holders: Vec<(String, i64)>,
    pub other_holders: i64,
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
    /// Hosts refused in the last quarter of an hour for these locks: the status page shows
    /// them as waiting.
    pub async fn waiting(&self, lock_ids: &[i32]) -> Result<Vec<Waiting>, LockError> {
        let mut conn = self.admin_conn().await?;
        let rows = store::waiting(&mut conn, lock_ids, clock::test_now(), WAITING_MINUTES).await?;
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

    /// The summary, with the holders of at most `most_held` locks named (those with the most
    /// holders): one series per lock would let a host that creates locks grow every scrape.
    pub async fn overview(&self, most_held: usize) -> Result<LockOverview, LockError> {
        let mut conn = self.admin_conn().await?;
        let stale_hours = i32::try_from(self.stale_hours).unwrap_or(i32::MAX);
        let most_held = i64::try_from(most_held).unwrap_or(i64::MAX);
        let (row, top) = store::overview(
            &mut conn,
            self.statements(),
            clock::test_now(),
            stale_hours,
            most_held,
        )
        .await?;
        let named: i64 = top.iter().map(|l| l.holders).sum();
        Ok(LockOverview {
            free: row.locks - row.disabled - row.enabled_held,
            held: row.held,
            full: row.full_locks,
            stale: row.stale,
            disabled: row.disabled,
            halted: row.halted,
            other_holders: row.holders - named,
            holders: top.into_iter().map(|l| (l.name, l.holders)).collect(),
        })
    }
}
