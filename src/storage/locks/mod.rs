//! SQL for the plugin's lock tables: one row type, and the statements grouped by concern.
//!
//! - `host_requests`: a host's show, acquire and release — each ONE statement that also finds the
//!   host, records its check-in and resolves its opt-out parameter.
//! - `admin`: create, edit, delete.
//! - `search`: the admin index.
//! - `events`: a lock's event log and its expiry.
//!
//! Timestamps come from the database clock (`now() AT TIME ZONE 'UTC'`): Foreman stores UTC in
//! `timestamp without time zone`, and every instance of an HA pair then agrees on "now".

pub mod admin;
pub mod events;
pub mod host_requests;
pub mod search;

use std::sync::LazyLock;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::{Bool, Integer, Nullable, Timestamp, Varchar};
use diesel_async::RunQueryDsl;

use super::sql::sql;
use super::{Conn, StorageError};
use crate::locks::model::Lock;

/// The columns every statement that returns a lock ends with, in this order and with these names.
#[derive(Debug, Clone, QueryableByName)]
pub struct LockRow {
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

impl From<LockRow> for Lock {
    fn from(r: LockRow) -> Self {
        Lock {
            id: r.id,
            name: r.name,
            lock_type: r.lock_type,
            enabled: r.enabled,
            host_id: r.host_id,
            holder_name: r.holder_name,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

/// The holder's name for a lock row aliased `l`: a primary-key lookup per row, so that reads,
/// sorts and searches never scan Foreman's `hosts` table.
const HOLDER_NAME_OF_L: &str = "(SELECT h.name FROM hosts h WHERE h.id = l.host_id)";

/// The select list of a lock row aliased `l` (see [`LockRow`]).
static LOCK_COLUMNS: LazyLock<String> = LazyLock::new(|| {
    format!(
        "l.id, l.name, l.type AS lock_type, l.enabled, l.host_id, l.created_at, l.updated_at, \
         {HOLDER_NAME_OF_L} AS holder_name"
    )
});

/// A lock by id ($2) or name ($3), as the host statements find it.
static FIND_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {} FROM dlmlocks l WHERE l.id = {}",
        *LOCK_COLUMNS,
        include_str!("sql/find_lock.sql")
    )
});

/// The hidden user Foreman runs certificate-authenticated API requests as; the plugin records its
/// id in `dlmlock_events.user_id` for host requests. A unique-index lookup inside each statement.
const API_ADMIN_ID: &str = "(SELECT id FROM users WHERE lower_login = 'foreman_api_admin')";

/// A lock by id (when the client gave an all-digit `:id`), else by name. The plugin's table may
/// hold duplicate names: the oldest row (lowest id) is the lock, for every operation.
pub async fn find(
    conn: &mut Conn,
    id: Option<i32>,
    name: &str,
) -> Result<Option<Lock>, StorageError> {
    let row: Option<LockRow> = sql(FIND_SQL.as_str())
        .bind(None::<&str>)
        .bind(id)
        .bind(name)
        .get_result(conn)
        .await
        .optional()?;
    Ok(row.map(Lock::from))
}
