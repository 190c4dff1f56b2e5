//! The lease sweep: frees the slots of holders whose lease ran out on locks nobody asks for (a
//! host's own acquire or release evicts them on its lock already).

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool};
use diesel_async::RunQueryDsl;

use super::LockStatements;
use crate::storage::sql::sql;
use crate::storage::{Conn, StorageError};

#[derive(QueryableByName)]
struct Swept {
    /// False: another instance is sweeping right now.
    #[diesel(sql_type = Bool)]
    swept: bool,
    #[diesel(sql_type = BigInt)]
    expired: i64,
}

/// What one pass did: `None` when another instance holds the sweep; else the holders it freed.
pub async fn sweep(
    conn: &mut Conn,
    statements: &LockStatements,
    clock: Option<NaiveDateTime>,
    batch: i64,
) -> Result<Option<i64>, StorageError> {
    let row: Swept = sql(statements.sweep)
        .bind(clock)
        .bind(batch)
        .get_result(conn)
        .await?;
    Ok(row.swept.then_some(row.expired))
}
