//! Creating, editing and deleting locks.

use std::sync::LazyLock;

use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel::sql_types::BigInt;
use diesel_async::RunQueryDsl;

use super::{LockRow, API_ADMIN_ID};
use crate::locks::model::{Lock, LockChanges};
use crate::storage::sql::sql;
use crate::storage::{Conn, StorageError};

static CREATE_SQL: LazyLock<String> =
    LazyLock::new(|| include_str!("sql/create.sql").replace("{api_admin}", API_ADMIN_ID));

/// The statement that creates a lock; the benchmark's pgbench script runs it too.
pub fn create_statement() -> &'static str {
    CREATE_SQL.as_str()
}

/// Creates a lock `name` held by `holder` (with its `acquire` event), in one statement; `Ok(None)`
/// when a lock of that name exists, so the caller looks again instead.
pub async fn create(
    conn: &mut Conn,
    name: &str,
    lock_type: Option<&str>,
    enabled: bool,
    holder: Option<i32>,
) -> Result<Option<Lock>, StorageError> {
    let row: Option<LockRow> = sql(CREATE_SQL.as_str())
        .bind(name)
        .bind(lock_type)
        .bind(enabled)
        .bind(holder)
        .get_result(conn)
        .await
        .optional()?;
    Ok(row.map(Lock::from))
}

#[derive(Debug)]
pub enum UpdateOutcome {
    Updated(Lock),
    NotFound,
    NameTaken,
    UnknownHost,
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// An admin's edit and its events, in one statement. A name another lock has is refused: by the
/// unique index, or — for the names it leaves out (duplicated before foreman-dlm) — by the check
/// before it. A host id that names no host is refused by the plugin's foreign key.
pub async fn update(
    conn: &mut Conn,
    lock_id: i32,
    changes: &LockChanges,
    acting_user: i32,
) -> Result<UpdateOutcome, StorageError> {
    if let Some(name) = &changes.name {
        let taken: Count = sql("SELECT count(*) AS n FROM dlmlocks WHERE name = $1 AND id <> $2")
            .bind(name)
            .bind(lock_id)
            .get_result(conn)
            .await?;
        if taken.n > 0 {
            return Ok(UpdateOutcome::NameTaken);
        }
    }
    let result: Result<Option<LockRow>, DieselError> = sql(include_str!("sql/update.sql"))
        .bind(lock_id)
        .bind(changes.name.is_some())
        .bind(changes.name.as_deref())
        .bind(changes.lock_type.is_some())
        .bind(changes.lock_type.clone().flatten())
        .bind(changes.host_id.is_some())
        .bind(changes.host_id.flatten())
        .bind(changes.enabled.is_some())
        .bind(changes.enabled)
        .bind(acting_user)
        .get_result(conn)
        .await
        .optional();
    match result {
        Ok(Some(row)) => Ok(UpdateOutcome::Updated(row.into())),
        Ok(None) => Ok(UpdateOutcome::NotFound),
        Err(DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => {
            Ok(UpdateOutcome::NameTaken)
        }
        Err(DieselError::DatabaseError(DatabaseErrorKind::ForeignKeyViolation, _)) => {
            Ok(UpdateOutcome::UnknownHost)
        }
        Err(e) => Err(e.into()),
    }
}

/// Deletes a lock and its events in one statement; returns the lock as it was.
pub async fn destroy(conn: &mut Conn, lock_id: i32) -> Result<Option<Lock>, StorageError> {
    let row: Option<LockRow> = sql(include_str!("sql/destroy.sql"))
        .bind(lock_id)
        .get_result(conn)
        .await
        .optional()?;
    Ok(row.map(Lock::from))
}
