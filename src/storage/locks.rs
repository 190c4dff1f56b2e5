//! SQL for lock rows, their events and host check-ins.
//!
//! Timestamps come from the database clock (`now() AT TIME ZONE 'UTC'`): Foreman stores UTC in
//! `timestamp without time zone`, and every instance of an HA pair then agrees on "now".

use chrono::NaiveDateTime;
use diesel::pg::PgConnection;
use diesel::prelude::*;
use diesel::sql_types::{Bool, Integer, Nullable, Text, Timestamp, Varchar};

use super::schema::{dlmlocks, hosts};
use super::StorageError;

/// The lock type the plugin gives auto-created locks (its only type in practice).
pub const UPDATE_LOCK_TYPE: &str = "ForemanDlm::Dlmlock::Update";

/// Advisory-lock namespaces (first key of the two-key form), so that foreman-dlm's locks never
/// collide with another application's advisory locks on Foreman's database.
const CREATE_LOCK_NAMESPACE: i32 = 0x444c_4d01;
const CREATE_FACET_NAMESPACE: i32 = 0x444c_4d02;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = dlmlocks, check_for_backend(diesel::pg::Pg))]
pub struct LockRow {
    pub id: i32,
    pub name: String,
    pub lock_type: Option<String>,
    pub enabled: bool,
    pub host_id: Option<i32>,
    pub created_at: Option<NaiveDateTime>,
    pub updated_at: Option<NaiveDateTime>,
}

/// A lock with its holder's name, as the API shows it.
#[derive(Debug, Clone)]
pub struct LockWithHolder {
    pub lock: LockRow,
    pub holder_name: Option<String>,
}

pub fn find_by_id(
    conn: &mut PgConnection,
    id: i32,
) -> Result<Option<LockWithHolder>, StorageError> {
    with_holder()
        .filter(dlmlocks::id.eq(id))
        .first::<(LockRow, Option<String>)>(conn)
        .optional()
        .map(|row| row.map(into_with_holder))
        .map_err(StorageError::from)
}

/// The plugin's table has no unique index on `name`, so a site may hold duplicates: the oldest row
/// (lowest id) is the lock, consistently for every operation, and the others are left untouched.
pub fn find_by_name(
    conn: &mut PgConnection,
    name: &str,
) -> Result<Option<LockWithHolder>, StorageError> {
    with_holder()
        .filter(dlmlocks::name.eq(name))
        .order(dlmlocks::id.asc())
        .first::<(LockRow, Option<String>)>(conn)
        .optional()
        .map(|row| row.map(into_with_holder))
        .map_err(StorageError::from)
}

#[allow(clippy::type_complexity)]
fn with_holder() -> diesel::dsl::Select<
    diesel::dsl::LeftJoin<dlmlocks::table, hosts::table>,
    (
        diesel::dsl::AsSelect<LockRow, diesel::pg::Pg>,
        diesel::dsl::Nullable<hosts::name>,
    ),
> {
    dlmlocks::table
        .left_join(hosts::table)
        .select((LockRow::as_select(), hosts::name.nullable()))
}

fn into_with_holder((lock, holder_name): (LockRow, Option<String>)) -> LockWithHolder {
    LockWithHolder { lock, holder_name }
}

/// Creates an enabled update lock called `name` unless one exists, and returns the lock.
///
/// Two hosts acquiring a new name at the same moment must not create two rows, and the table
/// offers no unique index to lean on. A transaction-scoped advisory lock on the name serialises
/// the creators; the INSERT runs as a later statement, so its snapshot already sees a row that the
/// previous holder of the advisory lock committed.
pub fn create_if_missing(
    conn: &mut PgConnection,
    name: &str,
) -> Result<LockWithHolder, StorageError> {
    conn.transaction(|conn| {
        diesel::sql_query("SELECT pg_advisory_xact_lock($1, hashtext($2))")
            .bind::<Integer, _>(CREATE_LOCK_NAMESPACE)
            .bind::<Text, _>(name)
            .execute(conn)?;
        diesel::sql_query(
            "INSERT INTO dlmlocks (name, type, enabled, created_at, updated_at) \
             SELECT $1, $2, true, now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC' \
             WHERE NOT EXISTS (SELECT 1 FROM dlmlocks WHERE name = $1)",
        )
        .bind::<Varchar, _>(name)
        .bind::<Varchar, _>(UPDATE_LOCK_TYPE)
        .execute(conn)?;
        find_by_name(conn, name)?.ok_or(StorageError::Query(diesel::result::Error::NotFound))
    })
}

/// What one acquire or release statement did.
#[derive(Debug, Clone)]
pub enum TransferOutcome {
    /// The holder is now `requested_holder`; the row as it is after the change.
    Done(LockRow),
    /// Disabled, or held by another host; nothing changed but the `fail` event.
    Refused,
}

#[derive(QueryableByName)]
struct TransferRow {
    #[diesel(sql_type = Integer)]
    id: i32,
    #[diesel(sql_type = Bool)]
    done: bool,
    #[diesel(sql_type = Nullable<Varchar>)]
    name: Option<String>,
    #[diesel(sql_type = Nullable<Varchar>)]
    lock_type: Option<String>,
    #[diesel(sql_type = Nullable<Bool>)]
    enabled: Option<bool>,
    #[diesel(sql_type = Nullable<Integer>)]
    host_id: Option<i32>,
    #[diesel(sql_type = Nullable<Timestamp>)]
    created_at: Option<NaiveDateTime>,
    #[diesel(sql_type = Nullable<Timestamp>)]
    updated_at: Option<NaiveDateTime>,
}

/// Acquire (`new_holder = Some(host)`) or release (`new_holder = None`) in ONE statement, so that
/// no interleaving of requests, instances or crashes can give a lock two holders or lose an event.
///
/// The change succeeds when the lock is enabled and free or held by `requester`; it then writes an
/// `acquire`/`release` event only if the holder actually changed. A refusal writes `fail` naming
/// the current holder. `FOR UPDATE` in the first CTE waits for a concurrent transfer and then reads
/// the committed holder, so the decision and the event both see the newest row.
const TRANSFER_SQL: &str = "\
WITH current_lock AS (
    SELECT id, host_id, enabled FROM dlmlocks WHERE id = $1 FOR UPDATE
), changed AS (
    UPDATE dlmlocks AS l
       SET host_id = $3, updated_at = now() AT TIME ZONE 'UTC'
      FROM current_lock c
     WHERE l.id = c.id AND c.enabled AND (c.host_id IS NULL OR c.host_id = $2)
 RETURNING l.id, l.name, l.type, l.enabled, l.host_id, l.created_at, l.updated_at
), event AS (
    INSERT INTO dlmlock_events (dlmlock_id, event_type, host_id, user_id, created_at, updated_at)
    SELECT c.id,
           CASE WHEN ch.id IS NULL THEN 'fail' WHEN $3 IS NULL THEN 'release' ELSE 'acquire' END,
           CASE WHEN ch.id IS NULL THEN c.host_id ELSE COALESCE($3, c.host_id) END,
           $4, now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC'
      FROM current_lock c LEFT JOIN changed ch ON ch.id = c.id
     WHERE ch.id IS NULL OR c.host_id IS DISTINCT FROM $3
)
SELECT c.id, ch.id IS NOT NULL AS done, ch.name, ch.type AS lock_type, ch.enabled, ch.host_id,
       ch.created_at, ch.updated_at
  FROM current_lock c LEFT JOIN changed ch ON ch.id = c.id";

pub fn transfer(
    conn: &mut PgConnection,
    lock_id: i32,
    requester: i32,
    new_holder: Option<i32>,
    acting_user: Option<i32>,
) -> Result<Option<TransferOutcome>, StorageError> {
    let row: Option<TransferRow> = diesel::sql_query(TRANSFER_SQL)
        .bind::<Integer, _>(lock_id)
        .bind::<Integer, _>(requester)
        .bind::<Nullable<Integer>, _>(new_holder)
        .bind::<Nullable<Integer>, _>(acting_user)
        .get_result(conn)
        .optional()?;
    // None: the lock row no longer exists (deleted between lookup and transfer).
    Ok(row.map(|r| {
        if r.done {
            TransferOutcome::Done(LockRow {
                id: r.id,
                name: r.name.unwrap_or_default(),
                lock_type: r.lock_type,
                enabled: r.enabled.unwrap_or(true),
                host_id: r.host_id,
                created_at: r.created_at,
                updated_at: r.updated_at,
            })
        } else {
            TransferOutcome::Refused
        }
    }))
}

/// Records that a host called in (`dlm_facets.last_checkin_at`), creating its facet on first
/// contact. The facet table has no unique index on host_id either, so creation takes the same kind
/// of advisory lock as lock creation.
pub fn record_checkin(conn: &mut PgConnection, host_id: i32) -> Result<(), StorageError> {
    const TOUCH: &str = "UPDATE dlm_facets \
        SET last_checkin_at = now() AT TIME ZONE 'UTC', updated_at = now() AT TIME ZONE 'UTC' \
        WHERE host_id = $1";
    let touched = diesel::sql_query(TOUCH)
        .bind::<Integer, _>(host_id)
        .execute(conn)?;
    if touched > 0 {
        return Ok(());
    }
    conn.transaction(|conn| {
        diesel::sql_query("SELECT pg_advisory_xact_lock($1, $2)")
            .bind::<Integer, _>(CREATE_FACET_NAMESPACE)
            .bind::<Integer, _>(host_id)
            .execute(conn)?;
        let touched = diesel::sql_query(TOUCH).bind::<Integer, _>(host_id).execute(conn)?;
        if touched == 0 {
            diesel::sql_query(
                "INSERT INTO dlm_facets (host_id, last_checkin_at, created_at, updated_at) \
                 VALUES ($1, now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC')",
            )
            .bind::<Integer, _>(host_id)
            .execute(conn)?;
        }
        Ok(())
    })
}
