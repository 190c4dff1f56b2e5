//! Creating, editing and deleting locks, setting their policies, releasing one holder.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel::sql_types::{BigInt, Integer};
use diesel_async::{AsyncConnection, RunQueryDsl};

use super::{halts, LockStatements};
use crate::locks::model::{HaltChange, LockChanges};
use crate::locks::policy::PolicyChanges;
use crate::storage::sql::sql;
use crate::storage::{Conn, StorageError};

/// The statement that creates a lock; the benchmark's pgbench script runs it too.
pub fn create_statement() -> &'static str {
    include_str!("sql/create.sql")
}

#[derive(QueryableByName)]
struct Id {
    #[diesel(sql_type = Integer)]
    id: i32,
}

/// Creates a free lock `name`; `Ok(None)` when a lock of that name exists, so the caller looks
/// again instead.
pub async fn create(
    conn: &mut Conn,
    name: &str,
    lock_type: Option<&str>,
    enabled: bool,
) -> Result<Option<i32>, StorageError> {
    let row: Option<Id> = sql(create_statement())
        .bind(name)
        .bind(lock_type)
        .bind(enabled)
        .get_result(conn)
        .await
        .optional()?;
    Ok(row.map(|r| r.id))
}

#[derive(Debug, PartialEq, Eq)]
pub enum UpdateOutcome {
    Updated,
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
/// before it. A host id that names no host is refused by the foreign keys.
async fn update(
    conn: &mut Conn,
    statements: &LockStatements,
    clock: Option<NaiveDateTime>,
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
    let result: Result<Option<Id>, DieselError> = sql(statements.update)
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
        .bind(clock)
        .get_result(conn)
        .await
        .optional();
    match result {
        Ok(Some(_)) => Ok(UpdateOutcome::Updated),
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

/// An admin's new lock with its policy values, and halted (reason, by whom, the clock) if asked,
/// in one transaction, so that no host takes it in between; `Ok(None)`: the name is taken.
pub async fn create_with_policy(
    conn: &mut Conn,
    name: &str,
    lock_type: Option<&str>,
    enabled: bool,
    policy: &PolicyChanges,
    halt: Option<(&str, i32, Option<NaiveDateTime>)>,
) -> Result<Option<i32>, StorageError> {
    conn.transaction::<_, StorageError, _>(async |conn| {
        let created = create(conn, name, lock_type, enabled).await?;
        if let Some(id) = created.filter(|_| !policy.is_empty()) {
            set_policy(conn, id, policy).await?;
        }
        if let (Some(id), Some((reason, acting_user, clock))) = (created, halt) {
            halts::halt(conn, Some(id), reason, Some(acting_user), clock).await?;
        }
        Ok(created)
    })
    .await
}

/// An admin's edit of a lock's fields and policy, in one transaction.
pub async fn edit(
    conn: &mut Conn,
    statements: &LockStatements,
    clock: Option<NaiveDateTime>,
    lock_id: i32,
    changes: &LockChanges,
    acting_user: i32,
) -> Result<UpdateOutcome, StorageError> {
    /// A refused edit rolls the transaction back (a failed statement has aborted it anyway).
    enum Abort {
        Refused(UpdateOutcome),
        Failed(StorageError),
    }
    impl From<DieselError> for Abort {
        fn from(e: DieselError) -> Abort {
            Abort::Failed(e.into())
        }
    }
    let result = conn
        .transaction::<_, Abort, _>(async |conn| {
            let outcome = update(conn, statements, clock, lock_id, changes, acting_user)
                .await
                .map_err(Abort::Failed)?;
            if outcome != UpdateOutcome::Updated {
                return Err(Abort::Refused(outcome));
            }
            if !changes.policy.is_empty() {
                set_policy(conn, lock_id, &changes.policy)
                    .await
                    .map_err(Abort::Failed)?;
            }
            match &changes.halt {
                Some(HaltChange::Halt { reason }) => {
                    halts::halt(conn, Some(lock_id), reason, Some(acting_user), clock)
                        .await
                        .map_err(Abort::Failed)?;
                }
                Some(HaltChange::Resume) => {
                    halts::resume(conn, Some(lock_id), Some(acting_user), clock)
                        .await
                        .map_err(Abort::Failed)?;
                }
                None => {}
            }
            Ok(outcome)
        })
        .await;
    match result {
        Ok(outcome) | Err(Abort::Refused(outcome)) => Ok(outcome),
        Err(Abort::Failed(e)) => Err(e),
    }
}

/// Stores the policy values an admin gave for a lock (the others stay as they were).
async fn set_policy(
    conn: &mut Conn,
    lock_id: i32,
    changes: &PolicyChanges,
) -> Result<(), StorageError> {
    let windows = match &changes.windows {
        Some(windows) => Some(
            serde_json::to_string(windows)
                .map_err(|e| StorageError::Query(DieselError::SerializationError(Box::new(e))))?,
        ),
        None => None,
    };
    sql(include_str!("sql/set_policy.sql"))
        .bind(lock_id)
        .bind(changes.max_holders.is_some())
        .bind(changes.max_holders)
        .bind(changes.lease_seconds.is_some())
        // 0: no lease, set explicitly (see the migration).
        .bind(changes.lease_seconds.map(|lease| lease.unwrap_or(0)))
        .bind(windows.is_some())
        .bind(windows)
        .bind(changes.on_lease_expiry.is_some())
        .bind(changes.on_lease_expiry.map(|e| e.as_str().to_string()))
        .bind(changes.cooldown_seconds.is_some())
        .bind(changes.cooldown_seconds)
        .bind(changes.block_on_alerts.is_some())
        // '': no gate, set explicitly (see the migration).
        .bind(
            changes
                .block_on_alerts
                .clone()
                .map(Option::unwrap_or_default),
        )
        .execute(conn)
        .await?;
    Ok(())
}

#[derive(QueryableByName)]
struct Released {
    #[diesel(sql_type = BigInt)]
    locks: i64,
    #[diesel(sql_type = BigInt)]
    released: i64,
}

#[derive(Debug, PartialEq, Eq)]
pub enum HolderRelease {
    Released,
    NotAHolder,
    NoSuchLock,
}

/// An admin frees one holder's slot, with a `release` event naming the admin.
pub async fn release_holder(
    conn: &mut Conn,
    statements: &LockStatements,
    clock: Option<NaiveDateTime>,
    lock_id: i32,
    host_id: i32,
    acting_user: i32,
) -> Result<HolderRelease, StorageError> {
    let row: Released = sql(statements.release_holder)
        .bind(lock_id)
        .bind(host_id)
        .bind(acting_user)
        .bind(clock)
        .get_result(conn)
        .await?;
    Ok(match (row.locks, row.released) {
        (0, _) => HolderRelease::NoSuchLock,
        (_, 0) => HolderRelease::NotAHolder,
        _ => HolderRelease::Released,
    })
}

/// Deletes a lock and its events in one statement; whether it was there.
pub async fn destroy(conn: &mut Conn, lock_id: i32) -> Result<bool, StorageError> {
    let row: Option<Id> = sql(include_str!("sql/destroy.sql"))
        .bind(lock_id)
        .get_result(conn)
        .await
        .optional()?;
    Ok(row.is_some())
}

#[derive(QueryableByName)]
struct Zone {
    #[diesel(sql_type = diesel::sql_types::Text)]
    zone: String,
}

/// Which of these time zone names the database does not know: the database evaluates windows, so
/// its zone list is the one that counts. One query: `pg_timezone_names` reads the whole zone
/// directory each time it is scanned.
pub async fn unknown_time_zones(
    conn: &mut Conn,
    names: &[String],
) -> Result<Vec<String>, StorageError> {
    if names.is_empty() {
        return Ok(Vec::new());
    }
    let rows: Vec<Zone> = sql("SELECT z AS zone FROM unnest($1::text[]) z \
          WHERE NOT EXISTS (SELECT 1 FROM pg_timezone_names t WHERE t.name = z) ORDER BY z")
    .bind(names)
    .load(conn)
    .await?;
    Ok(rows.into_iter().map(|r| r.zone).collect())
}
