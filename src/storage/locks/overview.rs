//! The locks table summed up for the metrics gauges, in one statement.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use diesel_async::RunQueryDsl;
use serde::Deserialize;

use super::LockStatements;
use crate::storage::sql::sql;
use crate::storage::{Conn, StorageError};

/// A lock that has holders.
#[derive(Debug, Clone, Deserialize)]
pub struct HeldLock {
    pub name: String,
    pub enabled: bool,
    pub holders: i64,
    pub full: bool,
    pub stale: bool,
}

#[derive(QueryableByName)]
struct Row {
    #[diesel(sql_type = BigInt)]
    locks: i64,
    #[diesel(sql_type = BigInt)]
    disabled: i64,
    #[diesel(sql_type = Text)]
    held: String,
}

/// (all locks, disabled locks, the locks with holders).
pub async fn overview(
    conn: &mut Conn,
    statements: &LockStatements,
    clock: Option<NaiveDateTime>,
    stale_hours: i32,
) -> Result<(i64, i64, Vec<HeldLock>), StorageError> {
    let row: Row = sql(statements.overview)
        .bind(clock)
        .bind(stale_hours)
        .get_result(conn)
        .await?;
    let held: Vec<HeldLock> = serde_json::from_str(&row.held).map_err(|e| {
        StorageError::Query(diesel::result::Error::DeserializationError(Box::new(e)))
    })?;
    Ok((row.locks, row.disabled, held))
}
