//! A lock's event log, and the expiry of old events.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Integer, Nullable, Timestamp, Varchar};
use diesel_async::RunQueryDsl;

use crate::locks::model::{LockEvent, Page};
use crate::storage::sql::sql;
use crate::storage::{Conn, StorageError};

#[derive(QueryableByName)]
struct EventRow {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = Nullable<Varchar>)]
    event_type: Option<String>,
    #[diesel(sql_type = Nullable<Integer>)]
    host_id: Option<i32>,
    #[diesel(sql_type = Nullable<Integer>)]
    user_id: Option<i32>,
    #[diesel(sql_type = Timestamp)]
    created_at: NaiveDateTime,
    #[diesel(sql_type = Timestamp)]
    updated_at: NaiveDateTime,
    #[diesel(sql_type = Nullable<Varchar>)]
    host_name: Option<String>,
    #[diesel(sql_type = Nullable<Varchar>)]
    user_login: Option<String>,
}

impl From<EventRow> for LockEvent {
    fn from(e: EventRow) -> Self {
        LockEvent {
            id: e.id,
            event_type: e.event_type,
            host_id: e.host_id,
            user_id: e.user_id,
            created_at: e.created_at,
            updated_at: e.updated_at,
            host_name: e.host_name,
            user_login: e.user_login,
        }
    }
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// The statement that counts a lock's events ($1 = lock id).
pub const COUNT_SQL: &str = "SELECT count(*) AS n FROM dlmlock_events WHERE dlmlock_id = $1";

/// A page of a lock's events ($1 = lock id, $2 = limit, $3 = offset), by the plugin's index on
/// `dlmlock_id`.
/// Names are primary-key lookups per row of the page.
pub const PAGE_OLDEST_FIRST_SQL: &str = "SELECT e.id, e.event_type, e.host_id, e.user_id, \
     e.created_at, e.updated_at, (SELECT h.name FROM hosts h WHERE h.id = e.host_id) AS host_name, \
     (SELECT u.login FROM users u WHERE u.id = e.user_id) AS user_login FROM dlmlock_events e \
     WHERE e.dlmlock_id = $1 ORDER BY e.id ASC LIMIT $2 OFFSET $3";
pub const PAGE_NEWEST_FIRST_SQL: &str = "SELECT e.id, e.event_type, e.host_id, e.user_id, \
     e.created_at, e.updated_at, (SELECT h.name FROM hosts h WHERE h.id = e.host_id) AS host_name, \
     (SELECT u.login FROM users u WHERE u.id = e.user_id) AS user_login FROM dlmlock_events e \
     WHERE e.dlmlock_id = $1 ORDER BY e.id DESC LIMIT $2 OFFSET $3";

/// A page of a lock's events and their number; `limit = None` means all.
pub async fn page(
    conn: &mut Conn,
    lock_id: i32,
    newest_first: bool,
    limit: Option<i64>,
    offset: i64,
) -> Result<Page<LockEvent>, StorageError> {
    let total: Count = sql(COUNT_SQL).bind(lock_id).get_result(conn).await?;
    let text = if newest_first {
        PAGE_NEWEST_FIRST_SQL
    } else {
        PAGE_OLDEST_FIRST_SQL
    };
    let rows: Vec<EventRow> = sql(text)
        .bind(lock_id)
        .bind(limit)
        .bind(offset)
        .load(conn)
        .await?;
    Ok(Page {
        total: total.n,
        items: rows.into_iter().map(LockEvent::from).collect(),
    })
}

/// One batch of an expiry run, for `storage::batches` (the index on `created_at`).
pub const EXPIRE_SQL: &str = include_str!("sql/expire_events.sql");
