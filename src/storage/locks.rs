//! SQL for lock rows, their events and host check-ins.
//!
//! Timestamps come from the database clock (`now() AT TIME ZONE 'UTC'`): Foreman stores UTC in
//! `timestamp without time zone`, and every instance of an HA pair then agrees on "now".

use chrono::NaiveDateTime;
use diesel::pg::PgConnection;
use diesel::prelude::*;
use diesel::sql_types::{Bool, Integer, Nullable, Text, Timestamp, Varchar};

use super::sql::{sql, Sql};
use super::StorageError;

/// The lock type the plugin gives auto-created locks (its only type in practice).
pub const UPDATE_LOCK_TYPE: &str = "ForemanDlm::Dlmlock::Update";

/// Advisory-lock namespaces (first key of the two-key form), so that foreman-dlm's locks never
/// collide with another application's advisory locks on Foreman's database.
const CREATE_LOCK_NAMESPACE: i32 = 0x444c_4d01;
const CREATE_FACET_NAMESPACE: i32 = 0x444c_4d02;

#[derive(Debug, Clone)]
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

/// The holder's name for a lock row aliased `l`: a primary-key lookup per row, so that reads,
/// sorts and searches never scan Foreman's `hosts` table.
macro_rules! holder_name_of_l {
    () => {
        "(SELECT h.name FROM hosts h WHERE h.id = l.host_id)"
    };
}

/// The columns every lock read returns: the row and its holder's name. (Macros rather than
/// consts so that `concat!` builds the statements as `&'static str`.)
macro_rules! lock_columns {
    () => {
        concat!(
            "l.id, l.name, l.type AS lock_type, l.enabled, l.host_id, l.created_at, l.updated_at, ",
            holder_name_of_l!(),
            " AS holder_name"
        )
    };
}

/// A lock by id ($1).
const FIND_LOCK_BY_ID_SQL: &str = concat!(
    "SELECT ",
    lock_columns!(),
    " FROM dlmlocks l WHERE l.id = $1"
);

/// A lock by name ($1). The plugin's table has no unique index on `name`, so a site may hold
/// duplicates: the oldest row (lowest id) is the lock, consistently for every operation, and the
/// others are left untouched.
const FIND_LOCK_BY_NAME_SQL: &str = concat!(
    "SELECT ",
    lock_columns!(),
    " FROM dlmlocks l WHERE l.name = $1 ORDER BY l.id LIMIT 1"
);

pub fn find_by_id(
    conn: &mut PgConnection,
    id: i32,
) -> Result<Option<LockWithHolder>, StorageError> {
    sql(FIND_LOCK_BY_ID_SQL)
        .bind(id)
        .get_result::<ListedLock>(conn)
        .optional()
        .map(|row| row.map(LockWithHolder::from))
        .map_err(StorageError::from)
}

pub fn find_by_name(
    conn: &mut PgConnection,
    name: &str,
) -> Result<Option<LockWithHolder>, StorageError> {
    sql(FIND_LOCK_BY_NAME_SQL)
        .bind(name)
        .get_result::<ListedLock>(conn)
        .optional()
        .map(|row| row.map(LockWithHolder::from))
        .map_err(StorageError::from)
}

/// Creates an enabled update lock called `name` unless one exists, and returns the lock: a
/// host's first acquire or release of a name.
pub fn create_if_missing(
    conn: &mut PgConnection,
    name: &str,
) -> Result<LockWithHolder, StorageError> {
    match create_named(conn, name, Some(UPDATE_LOCK_TYPE), true)? {
        Some(created) => Ok(created),
        None => {
            find_by_name(conn, name)?.ok_or(StorageError::Query(diesel::result::Error::NotFound))
        }
    }
}

/// What one acquire or release statement did.
#[derive(Debug, Clone)]
pub enum TransferOutcome {
    /// The holder is now `requested_holder`; the row as it is after the change.
    Done(LockRow),
    /// Disabled, or held by another host; nothing changed but the `fail` event.
    Refused { lock_id: i32 },
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
/// The lock is found in the same statement: by id ($1, when the client gave an all-digit `:id`)
/// and otherwise by name ($2), lowest id first, as `find_by_id`/`find_by_name` do.
///
/// The change succeeds when the lock is enabled and free or held by `requester`; it then writes an
/// `acquire`/`release` event only if the holder actually changed. A refusal writes `fail` naming
/// the current holder. `FOR UPDATE` in the first CTE waits for a concurrent transfer and then reads
/// the committed holder, so the decision and the event both see the newest row.
pub const TRANSFER_SQL: &str = "\
WITH current_lock AS (
    SELECT id, host_id, enabled FROM dlmlocks
     WHERE id = COALESCE((SELECT id FROM dlmlocks WHERE id = $1),
                         (SELECT id FROM dlmlocks WHERE name = $2 ORDER BY id LIMIT 1))
       FOR UPDATE
), changed AS (
    UPDATE dlmlocks AS l
       SET host_id = $4, updated_at = now() AT TIME ZONE 'UTC'
      FROM current_lock c
     WHERE l.id = c.id AND c.enabled AND (c.host_id IS NULL OR c.host_id = $3)
 RETURNING l.id, l.name, l.type, l.enabled, l.host_id, l.created_at, l.updated_at
), event AS (
    INSERT INTO dlmlock_events (dlmlock_id, event_type, host_id, user_id, created_at, updated_at)
    SELECT c.id,
           CASE WHEN ch.id IS NULL THEN 'fail' WHEN $4 IS NULL THEN 'release' ELSE 'acquire' END,
           CASE WHEN ch.id IS NULL THEN c.host_id ELSE COALESCE($4, c.host_id) END,
           $5, now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC'
      FROM current_lock c LEFT JOIN changed ch ON ch.id = c.id
     WHERE ch.id IS NULL OR c.host_id IS DISTINCT FROM $4
)
SELECT c.id, ch.id IS NOT NULL AS done, ch.name, ch.type AS lock_type, ch.enabled, ch.host_id,
       ch.created_at, ch.updated_at
  FROM current_lock c LEFT JOIN changed ch ON ch.id = c.id";

pub fn transfer(
    conn: &mut PgConnection,
    lock_id: Option<i32>,
    lock_name: &str,
    requester: i32,
    new_holder: Option<i32>,
    acting_user: Option<i32>,
) -> Result<Option<TransferOutcome>, StorageError> {
    let row: Option<TransferRow> = sql(TRANSFER_SQL)
        .bind(lock_id)
        .bind(lock_name)
        .bind(requester)
        .bind(new_holder)
        .bind(acting_user)
        .get_result(conn)
        .optional()?;
    // None: no such lock (never created, or deleted meanwhile).
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
            TransferOutcome::Refused { lock_id: r.id }
        }
    }))
}

/// A host's check-in ($1 = host id), the common case where its facet exists.
pub const CHECKIN_SQL: &str = "UPDATE dlm_facets \
    SET last_checkin_at = now() AT TIME ZONE 'UTC', updated_at = now() AT TIME ZONE 'UTC' \
    WHERE host_id = $1";

/// Records that a host called in (`dlm_facets.last_checkin_at`), creating its facet on first
/// contact. The facet table has no unique index on host_id either, so creation takes the same kind
/// of advisory lock as lock creation.
pub fn record_checkin(conn: &mut PgConnection, host_id: i32) -> Result<(), StorageError> {
    let touched = sql(CHECKIN_SQL).bind(host_id).execute(conn)?;
    if touched > 0 {
        return Ok(());
    }
    conn.transaction(|conn| {
        sql(
        "SELECT pg_advisory_xact_lock($1, $2)")
            .bind(CREATE_FACET_NAMESPACE)
            .bind(host_id)
            .execute(conn)?;
        let touched = sql(CHECKIN_SQL).bind(host_id).execute(conn)?;
        if touched == 0 {
            sql(
        "INSERT INTO dlm_facets (host_id, last_checkin_at, created_at, updated_at) \
                 VALUES ($1, now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC')",
            )
            .bind(host_id)
            .execute(conn)?;
        }
        Ok(())
    })
}

// ---------------------------------------------------------------------------------------------
// Admin operations: listing, creating, editing and deleting locks, and their events.

/// A text comparison as Foreman's scoped search offers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TextMatch {
    Equals(String),
    NotEquals(String),
    Contains(String),
    NotContains(String),
}

/// One condition of a lock search; conditions are joined with AND.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LockFilter {
    Name(TextMatch),
    /// The holder's host name.
    Host(TextMatch),
    Type(TextMatch),
    Enabled(bool),
    Locked(bool),
    /// Held and not refreshed for `ListQuery::stale_hours`.
    Stale(bool),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortField {
    Id,
    Name,
    Type,
    Enabled,
    Host,
    CreatedAt,
    UpdatedAt,
}

impl SortField {
    fn column(self) -> &'static str {
        match self {
            SortField::Id => "l.id",
            SortField::Name => "l.name",
            SortField::Type => "l.type",
            SortField::Enabled => "l.enabled",
            SortField::Host => holder_name_of_l!(),
            SortField::CreatedAt => "l.created_at",
            SortField::UpdatedAt => "l.updated_at",
        }
    }
}

#[derive(Debug, Clone)]
pub struct ListQuery {
    pub filters: Vec<LockFilter>,
    pub sort: SortField,
    pub descending: bool,
    /// None: all rows.
    pub limit: Option<i64>,
    pub offset: i64,
    pub stale_hours: u32,
}

fn like_pattern(value: &str) -> String {
    let escaped = value
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}

/// Builds `WHERE …` for the filters. Every condition is answered from `dlmlocks` itself, an index
/// on `hosts.name`, or a per-row primary-key lookup of the holder: never a scan of `hosts`.
fn where_clause(statement: &mut Sql, query: &ListQuery) -> String {
    let holder = holder_name_of_l!();
    let mut conditions = Vec::new();
    for filter in &query.filters {
        let condition = match filter {
            LockFilter::Name(m) | LockFilter::Type(m) => {
                let column = if matches!(filter, LockFilter::Name(_)) { "l.name" } else { "l.type" };
                match m {
                    TextMatch::Equals(v) => format!("{column} = {}", statement.placeholder(v.clone())),
                    TextMatch::NotEquals(v) => format!(
                        "{column} IS DISTINCT FROM {}",
                        statement.placeholder(v.clone())
                    ),
                    TextMatch::Contains(v) => format!(
                        "{column} ILIKE {}",
                        statement.placeholder(like_pattern(v))
                    ),
                    TextMatch::NotContains(v) => format!(
                        "COALESCE({column}, '') NOT ILIKE {}",
                        statement.placeholder(like_pattern(v))
                    ),
                }
            }
            LockFilter::Host(m) => match m {
                TextMatch::Equals(v) => format!(
                    "l.host_id IN (SELECT id FROM hosts WHERE name = {})",
                    statement.placeholder(v.to_lowercase())
                ),
                TextMatch::NotEquals(v) => format!(
                    "(l.host_id IS NULL OR l.host_id NOT IN (SELECT id FROM hosts WHERE name = {}))",
                    statement.placeholder(v.to_lowercase())
                ),
                TextMatch::Contains(v) => format!(
                    "l.host_id IS NOT NULL AND {holder} ILIKE {}",
                    statement.placeholder(like_pattern(v))
                ),
                TextMatch::NotContains(v) => format!(
                    "(l.host_id IS NULL OR {holder} NOT ILIKE {})",
                    statement.placeholder(like_pattern(v))
                ),
            },
            LockFilter::Enabled(v) => format!("l.enabled = {}", statement.placeholder(*v)),
            LockFilter::Locked(true) => "l.host_id IS NOT NULL".to_string(),
            LockFilter::Locked(false) => "l.host_id IS NULL".to_string(),
            LockFilter::Stale(stale) => {
                let hours = statement.placeholder(i32::try_from(query.stale_hours).unwrap_or(i32::MAX));
                let is_stale = format!(
                    "(l.host_id IS NOT NULL AND l.updated_at < now() AT TIME ZONE 'UTC' - make_interval(hours => {hours}))"
                );
                if *stale {
                    is_stale
                } else {
                    format!("NOT COALESCE({is_stale}, false)")
                }
            }
        };
        conditions.push(condition);
    }
    if conditions.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", conditions.join(" AND "))
    }
}

#[derive(QueryableByName)]
struct ListedLock {
    #[diesel(sql_type = Integer)]
    id: i32,
    #[diesel(sql_type = Varchar)]
    name: String,
    #[diesel(sql_type = Nullable<Varchar>)]
    lock_type: Option<String>,
    #[diesel(sql_type = Bool)]
    enabled: bool,
    #[diesel(sql_type = Nullable<Integer>)]
    host_id: Option<i32>,
    #[diesel(sql_type = Nullable<Timestamp>)]
    created_at: Option<NaiveDateTime>,
    #[diesel(sql_type = Nullable<Timestamp>)]
    updated_at: Option<NaiveDateTime>,
    #[diesel(sql_type = Nullable<Varchar>)]
    holder_name: Option<String>,
}

impl From<ListedLock> for LockWithHolder {
    fn from(r: ListedLock) -> Self {
        LockWithHolder {
            lock: LockRow {
                id: r.id,
                name: r.name,
                lock_type: r.lock_type,
                enabled: r.enabled,
                host_id: r.host_id,
                created_at: r.created_at,
                updated_at: r.updated_at,
            },
            holder_name: r.holder_name,
        }
    }
}

fn list_statement(query: &ListQuery) -> Sql {
    let mut statement = sql(concat!("SELECT ", lock_columns!(), " FROM dlmlocks l"));
    let conditions = where_clause(&mut statement, query);
    let direction = if query.descending { "DESC" } else { "ASC" };
    statement.push_text(&format!(
        "{conditions} ORDER BY {} {direction} NULLS LAST, l.id {direction}",
        query.sort.column()
    ));
    if let Some(limit) = query.limit {
        let limit = statement.placeholder(limit);
        statement.push_text(&format!(" LIMIT {limit}"));
    }
    let offset = statement.placeholder(query.offset);
    statement.push_text(&format!(" OFFSET {offset}"));
    statement
}

fn count_statement(query: &ListQuery) -> Sql {
    let mut statement = sql("SELECT count(*) AS n FROM dlmlocks l");
    let conditions = where_clause(&mut statement, query);
    statement.push_text(&conditions);
    statement
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

/// One page of locks matching `query`, and how many match in all.
pub fn list(
    conn: &mut PgConnection,
    query: &ListQuery,
) -> Result<(i64, Vec<LockWithHolder>), StorageError> {
    let total = count_statement(query).get_result::<Count>(conn)?.n;
    let rows = list_statement(query).load::<ListedLock>(conn)?;
    Ok((total, rows.into_iter().map(LockWithHolder::from).collect()))
}

#[derive(QueryableByName)]
struct PlanLine {
    #[diesel(sql_type = Text, column_name = "QUERY PLAN")]
    line: String,
}

/// The plans of the statements `list` runs, for checking that searches stay index-bound.
pub fn explain_list(
    conn: &mut PgConnection,
    query: &ListQuery,
) -> Result<Vec<String>, StorageError> {
    let mut plans = Vec::new();
    for statement in [count_statement(query), list_statement(query)] {
        let lines = statement.explained().load::<PlanLine>(conn)?;
        plans.push(
            lines
                .into_iter()
                .map(|l| l.line)
                .collect::<Vec<_>>()
                .join("\n"),
        );
    }
    Ok(plans)
}

/// Creates a lock unless a lock with that name exists (`Ok(None)` then).
///
/// Two creators of one new name at the same moment must not make two rows, and the table offers
/// no unique index to lean on. A transaction-scoped advisory lock on the name serialises them; the
/// INSERT runs as a later statement, so its snapshot already sees a row that the previous holder
/// of the advisory lock committed.
pub fn create_named(
    conn: &mut PgConnection,
    name: &str,
    lock_type: Option<&str>,
    enabled: bool,
) -> Result<Option<LockWithHolder>, StorageError> {
    conn.transaction(|conn| {
        lock_name(conn, name)?;
        let inserted = sql(
            "INSERT INTO dlmlocks (name, type, enabled, created_at, updated_at) \
             SELECT $1, $2, $3, now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC' \
             WHERE NOT EXISTS (SELECT 1 FROM dlmlocks WHERE name = $1)",
        )
        .bind(name)
        .bind(lock_type)
        .bind(enabled)
        .execute(conn)?;
        if inserted == 0 {
            return Ok(None);
        }
        find_by_name(conn, name)
    })
}

/// Takes the per-name creation lock for the rest of the transaction.
fn lock_name(conn: &mut PgConnection, name: &str) -> Result<(), StorageError> {
    sql("SELECT pg_advisory_xact_lock($1, hashtext($2))")
        .bind(CREATE_LOCK_NAMESPACE)
        .bind(name)
        .execute(conn)?;
    Ok(())
}

/// Fields an admin changes; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LockChanges {
    pub name: Option<String>,
    pub lock_type: Option<Option<String>>,
    pub host_id: Option<Option<i32>>,
    pub enabled: Option<bool>,
}

#[derive(Debug)]
pub enum UpdateOutcome {
    Updated(LockWithHolder),
    NotFound,
    NameTaken,
    UnknownHost,
}

/// An admin's edit in one statement with its events, as the plugin's after_save callbacks write
/// them: `enable`/`disable` (host = the holder after the change), then `release` (old holder)
/// and `acquire` (new holder) when the holder changes. Renames are serialised per name.
pub fn update(
    conn: &mut PgConnection,
    lock_id: i32,
    changes: &LockChanges,
    acting_user: i32,
) -> Result<UpdateOutcome, StorageError> {
    conn.transaction(|conn| {
        if let Some(name) = &changes.name {
            lock_name(conn, name)?;
            let taken: Count = sql(
        "SELECT count(*) AS n FROM dlmlocks WHERE name = $1 AND id <> $2")
                .bind(name)
                .bind(lock_id)
                .get_result(conn)?;
            if taken.n > 0 {
                return Ok(UpdateOutcome::NameTaken);
            }
        }
        if let Some(Some(host_id)) = changes.host_id {
            let exists: Count = sql(
        "SELECT count(*) AS n FROM hosts WHERE id = $1")
                .bind(host_id)
                .get_result(conn)?;
            if exists.n == 0 {
                return Ok(UpdateOutcome::UnknownHost);
            }
        }
        const SQL: &str = "\
WITH old AS (
    SELECT id, host_id, enabled FROM dlmlocks WHERE id = $1 FOR UPDATE
), new AS (
    UPDATE dlmlocks AS l
       SET name = CASE WHEN $2 THEN $3 ELSE l.name END,
           type = CASE WHEN $4 THEN $5 ELSE l.type END,
           host_id = CASE WHEN $6 THEN $7 ELSE l.host_id END,
           enabled = CASE WHEN $8 THEN $9 ELSE l.enabled END,
           updated_at = now() AT TIME ZONE 'UTC'
      FROM old
     WHERE l.id = old.id
 RETURNING l.id, l.name, l.type, l.enabled, l.host_id, l.created_at, l.updated_at
), events AS (
    INSERT INTO dlmlock_events (dlmlock_id, event_type, host_id, user_id, created_at, updated_at)
    SELECT e.dlmlock_id, e.event_type, e.host_id, $10, now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC'
      FROM (
        SELECT 1 AS ord, new.id AS dlmlock_id,
               CASE WHEN new.enabled THEN 'enable' ELSE 'disable' END AS event_type, new.host_id
          FROM old JOIN new ON new.id = old.id WHERE old.enabled <> new.enabled
        UNION ALL
        SELECT 2, new.id, 'release', old.host_id
          FROM old JOIN new ON new.id = old.id
         WHERE old.host_id IS NOT NULL AND old.host_id IS DISTINCT FROM new.host_id
        UNION ALL
        SELECT 3, new.id, 'acquire', new.host_id
          FROM old JOIN new ON new.id = old.id
         WHERE new.host_id IS NOT NULL AND old.host_id IS DISTINCT FROM new.host_id
      ) e
     ORDER BY e.ord
)
SELECT new.id, new.name, new.type AS lock_type, new.enabled, new.host_id, new.created_at, new.updated_at,
       (SELECT h.name FROM hosts h WHERE h.id = new.host_id) AS holder_name
  FROM new";
        let row: Option<ListedLock> = sql(SQL)
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
            .optional()?;
        Ok(row.map_or(UpdateOutcome::NotFound, |r| UpdateOutcome::Updated(r.into())))
    })
}

/// Deletes a lock and its events in one statement; returns the lock as it was.
pub fn destroy(
    conn: &mut PgConnection,
    lock_id: i32,
) -> Result<Option<LockWithHolder>, StorageError> {
    let row: Option<ListedLock> = sql(
        "WITH gone AS (DELETE FROM dlmlocks WHERE id = $1 \
                       RETURNING id, name, type, enabled, host_id, created_at, updated_at), \
              events AS (DELETE FROM dlmlock_events WHERE dlmlock_id IN (SELECT id FROM gone)) \
         SELECT gone.id, gone.name, gone.type AS lock_type, gone.enabled, gone.host_id, gone.created_at, \
                gone.updated_at, (SELECT h.name FROM hosts h WHERE h.id = gone.host_id) AS holder_name \
           FROM gone",
    )
    .bind(lock_id)
    .get_result(conn)
    .optional()?;
    Ok(row.map(LockWithHolder::from))
}

#[derive(Debug, Clone, QueryableByName)]
pub struct EventRow {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub id: i64,
    #[diesel(sql_type = Nullable<Varchar>)]
    pub event_type: Option<String>,
    #[diesel(sql_type = Nullable<Integer>)]
    pub host_id: Option<i32>,
    #[diesel(sql_type = Nullable<Integer>)]
    pub user_id: Option<i32>,
    #[diesel(sql_type = Timestamp)]
    pub created_at: NaiveDateTime,
    #[diesel(sql_type = Timestamp)]
    pub updated_at: NaiveDateTime,
}

/// A page of a lock's events (by `index_dlmlock_events_on_dlmlock_id`) and their number.
pub fn events(
    conn: &mut PgConnection,
    lock_id: i32,
    newest_first: bool,
    limit: Option<i64>,
    offset: i64,
) -> Result<(i64, Vec<EventRow>), StorageError> {
    let total: Count = sql("SELECT count(*) AS n FROM dlmlock_events WHERE dlmlock_id = $1")
        .bind(lock_id)
        .get_result(conn)?;
    let direction = if newest_first { "DESC" } else { "ASC" };
    let rows = sql(format!(
        "SELECT id, event_type, host_id, user_id, created_at, updated_at FROM dlmlock_events \
         WHERE dlmlock_id = $1 ORDER BY id {direction} LIMIT $2 OFFSET $3"
    ))
    .bind(lock_id)
    .bind(limit)
    .bind(offset)
    .load(conn)?;
    Ok((total.n, rows))
}

/// Deletes up to `batch` events created before `days` days ago; returns how many it deleted.
/// Small batches keep each transaction (and its row locks) short on a busy table.
pub fn expire_events(
    conn: &mut PgConnection,
    days: u32,
    batch: i64,
) -> Result<usize, StorageError> {
    // `= ANY(ARRAY(…))` makes the batch an init plan: the delete then probes the primary key for
    // exactly those ids, where `IN (subquery)` may hash-join against a scan of the whole table.
    sql("DELETE FROM dlmlock_events WHERE id = ANY(ARRAY( \
             SELECT id FROM dlmlock_events \
              WHERE created_at < now() AT TIME ZONE 'UTC' - make_interval(days => $1) \
              ORDER BY created_at LIMIT $2))")
    .bind(i32::try_from(days).unwrap_or(i32::MAX))
    .bind(batch)
    .execute(conn)
    .map_err(StorageError::from)
}
