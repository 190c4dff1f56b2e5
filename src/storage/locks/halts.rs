//! Halts: one lock's, or every lock's at once (the fleet's). The rules that honour them are in
//! the host request (`foreman_dlm_host_request_v3`); these are the admins' switches.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Integer, Nullable, Text};
use diesel_async::RunQueryDsl;

use super::statements::clock_of;
use crate::locks::model::Halt;
use crate::storage::sql::sql;
use crate::storage::{Conn, StorageError};

#[derive(QueryableByName)]
struct Changed {
    #[diesel(sql_type = Bool)]
    changed: bool,
}

#[derive(QueryableByName)]
struct FleetHalt {
    #[diesel(sql_type = Nullable<Text>)]
    halt: Option<String>,
}

/// The fleet-wide halt, if every lock is halted.
pub async fn fleet(conn: &mut Conn) -> Result<Option<Halt>, StorageError> {
    let row: FleetHalt = sql("SELECT foreman_dlm_halt_json(NULL) AS halt")
        .get_result(conn)
        .await?;
    row.halt.as_deref().map(super::parse_halt).transpose()
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// How many locks have a halt of their own.
pub async fn own_halts(conn: &mut Conn) -> Result<i64, StorageError> {
    let row: Count =
        sql("SELECT count(*) AS n FROM foreman_dlm_halts WHERE dlmlock_id IS NOT NULL")
            .get_result(conn)
            .await?;
    Ok(row.n)
}

#[derive(QueryableByName)]
struct Lifted {
    #[diesel(sql_type = Integer)]
    lifted: i32,
}

/// Halts `lock_id` (`None`: every lock); `false` when it was halted already (its first reason
/// stays).
pub async fn halt(
    conn: &mut Conn,
    lock_id: Option<i32>,
    reason: &str,
    acting_user: Option<i32>,
    clock: Option<NaiveDateTime>,
) -> Result<bool, StorageError> {
    let text = format!(
        "SELECT foreman_dlm_halt($1, $2, NULL, $3, {}) AS changed",
        clock_of("$4")
    );
    let row: Changed = sql(text)
        .bind(lock_id)
        .bind(reason)
        .bind(acting_user)
        .bind(clock)
        .get_result(conn)
        .await?;
    Ok(row.changed)
}

/// Lifts `lock_id`'s own halt (`None`: the fleet's); how many were lifted (0 or 1).
pub async fn resume(
    conn: &mut Conn,
    lock_id: Option<i32>,
    acting_user: Option<i32>,
    clock: Option<NaiveDateTime>,
) -> Result<i32, StorageError> {
    let text = format!(
        "SELECT foreman_dlm_resume($1, $2, {}) AS lifted",
        clock_of("$3")
    );
    let row: Lifted = sql(text)
        .bind(lock_id)
        .bind(acting_user)
        .bind(clock)
        .get_result(conn)
        .await?;
    Ok(row.lifted)
}
