//! Deleting old rows in small batches, each starting where the previous one stopped.
//!
//! Each batch statement takes the cutoff ($1), the key of the last row the previous batch
//! deleted ($2 timestamp, $3 id; NULL at first) and the batch size ($4), walks an index on
//! (timestamp, id) from that key, and returns how many it deleted and its own last key. Started
//! from the beginning of the index instead, each batch walks the dead entries of every batch
//! before it (nothing vacuums between them), and a run over two million rows grows slower with
//! every batch.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Timestamp};
use diesel_async::RunQueryDsl;

use super::sql::sql;
use super::{Conn, StorageError};

/// Where a run has got to: the last deleted row's timestamp and id.
pub type BatchKey = (NaiveDateTime, i64);

#[derive(QueryableByName)]
struct Cutoff {
    #[diesel(sql_type = Timestamp)]
    cutoff: NaiveDateTime,
}

/// `days` days ago by the database's clock (the one every instance shares), fixed for a whole
/// run so that its batches agree.
pub async fn days_ago(conn: &mut Conn, days: u32) -> Result<NaiveDateTime, StorageError> {
    let row: Cutoff = sql("SELECT now() AT TIME ZONE 'UTC' - make_interval(days => $1) AS cutoff")
        .bind(i32::try_from(days).unwrap_or(i32::MAX))
        .get_result(conn)
        .await?;
    Ok(row.cutoff)
}

#[derive(QueryableByName)]
struct Deleted {
    #[diesel(sql_type = BigInt)]
    deleted: i64,
    #[diesel(sql_type = Nullable<Timestamp>)]
    at: Option<NaiveDateTime>,
    #[diesel(sql_type = Nullable<BigInt>)]
    id: Option<i64>,
}

/// One batch of `statement`: how many rows it deleted, and where it stopped.
pub async fn delete_batch(
    conn: &mut Conn,
    statement: &'static str,
    cutoff: NaiveDateTime,
    after: Option<BatchKey>,
    size: i64,
) -> Result<(usize, Option<BatchKey>), StorageError> {
    let row: Deleted = sql(statement)
        .bind(Some(cutoff))
        .bind(after.map(|(at, _)| at))
        .bind(after.map(|(_, id)| id))
        .bind(size)
        .get_result(conn)
        .await?;
    Ok((
        usize::try_from(row.deleted).unwrap_or(0),
        row.at.zip(row.id),
    ))
}

/// Batches of `statement` until one deletes fewer than `size`, with `pause` between them (short
/// transactions, and room for other work on a busy table): (rows deleted, batches run).
pub async fn delete_all(
    conn: &mut Conn,
    statement: &'static str,
    cutoff: NaiveDateTime,
    size: i64,
    pause: std::time::Duration,
) -> Result<(usize, usize), StorageError> {
    let (mut total, mut batches, mut after) = (0, 0, None);
    loop {
        let (deleted, last) = delete_batch(conn, statement, cutoff, after, size).await?;
        total += deleted;
        batches += 1;
        if i64::try_from(deleted).unwrap_or(i64::MAX) < size {
            return Ok((total, batches));
        }
        after = last;
        tokio::time::sleep(pause).await;
    }
}
