//! The locks table summed up for the metrics gauges, in one statement.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use diesel_async::RunQueryDsl;
use serde::Deserialize;

use super::LockStatements;
use crate::storage::sql::{sql, BindValue};
use crate::storage::{Conn, StorageError};

/// A lock among the most held, with how many hosts hold it.
#[derive(Debug, Clone, Deserialize)]
pub struct MostHeld {
    pub name: String,
    pub holders: i64,
}

/// The locks table summed up.
#[derive(Debug, Clone, QueryableByName)]
pub struct OverviewRow {
    #[diesel(sql_type = BigInt)]
    pub locks: i64,
    #[diesel(sql_type = BigInt)]
    pub disabled: i64,
    /// Locks with live holders, and how many of those are enabled.
    #[diesel(sql_type = BigInt)]
    pub held: i64,
    #[diesel(sql_type = BigInt)]
    pub enabled_held: i64,
    #[diesel(sql_type = BigInt)]
    pub full_locks: i64,
    #[diesel(sql_type = BigInt)]
    pub stale: i64,
    /// Live holders over all locks.
    #[diesel(sql_type = BigInt)]
    pub holders: i64,
    #[diesel(sql_type = BigInt)]
    pub halted: i64,
    #[diesel(sql_type = Text)]
    top: String,
}

/// The summary, and the `most_held` locks with the most holders.
pub async fn overview(
    conn: &mut Conn,
    statements: &LockStatements,
    clock: Option<NaiveDateTime>,
    stale_hours: i32,
    most_held: i64,
) -> Result<(OverviewRow, Vec<MostHeld>), StorageError> {
    let row: OverviewRow = sql(statements.overview)
        .bind(clock)
        .bind(stale_hours)
        .bind(most_held)
        .get_result(conn)
        .await?;
    let top: Vec<MostHeld> = serde_json::from_str(&row.top).map_err(|e| {
        StorageError::Query(diesel::result::Error::DeserializationError(Box::new(e)))
    })?;
    Ok((row, top))
}

/// A host that asked for a lock and was refused, recently.
#[derive(Debug, Clone, QueryableByName)]
pub struct WaitingRow {
    #[diesel(sql_type = diesel::sql_types::Integer)]
    pub dlmlock_id: i32,
    #[diesel(sql_type = diesel::sql_types::Varchar)]
    pub host_name: String,
    #[diesel(sql_type = Text)]
    pub reason: String,
    #[diesel(sql_type = diesel::sql_types::Timestamp)]
    pub refused_at: NaiveDateTime,
}

/// Hosts refused within `minutes` for these locks that do not hold them now, newest first.
pub async fn waiting(
    conn: &mut Conn,
    lock_ids: &[i32],
    clock: Option<NaiveDateTime>,
    minutes: i32,
) -> Result<Vec<WaitingRow>, StorageError> {
    Ok(sql(
        "SELECT w.dlmlock_id, h.name AS host_name, w.reason, w.refused_at \
              FROM foreman_dlm_waiting w JOIN hosts h ON h.id = w.host_id \
             WHERE w.dlmlock_id = ANY ($3) \
               AND w.refused_at > COALESCE($1::timestamp, now() AT TIME ZONE 'UTC') \
                                  - make_interval(mins => $2) \
               AND NOT EXISTS (SELECT 1 FROM foreman_dlm_lock_holders x \
                                WHERE x.dlmlock_id = w.dlmlock_id AND x.host_id = w.host_id) \
             ORDER BY w.refused_at DESC",
    )
    .bind(clock)
    .bind(minutes)
    .bind(BindValue::IntArray(lock_ids.to_vec()))
    .load(conn)
    .await?)
}
