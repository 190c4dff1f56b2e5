//! SQL for the lock tables (the plugin's, and foreman-dlm's holders and policies): one row type,
//! and the statements grouped by concern.
//!
//! - `statements`: the texts, assembled once from the `.sql` files and the settings.
//! - `host_requests`: a host's show, acquire and release — each ONE statement that also finds the
//!   host, records its check-in, resolves its opt-out parameter and applies the lock's policy.
//! - `admin`: create, edit, delete, policies, releasing one holder.
//! - `search`: the admin index.
//! - `events`: a lock's event log and its expiry.
//! - `leases`: the sweep that frees expired holders' slots.
//!
//! Timestamps come from the database clock (`now() AT TIME ZONE 'UTC'`): Foreman stores UTC in
//! `timestamp without time zone`, and every instance of an HA pair then agrees on "now". Tests
//! may pass a clock of their own instead (see `crate::clock`).

pub mod admin;
pub mod events;
pub mod halts;
pub mod host_requests;
pub mod leases;
pub mod overview;
pub mod search;
pub mod statements;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::{Bool, Integer, Nullable, Text, Timestamp, Varchar};
use diesel_async::RunQueryDsl;
use serde::Deserialize;

use super::sql::sql;
use super::{Conn, StorageError};
use crate::locks::model::{Halt, Holder, Lock};
use crate::locks::policy::{LeaseExpiry, Policy, Window};
pub use statements::LockStatements;

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
    #[diesel(sql_type = Nullable<Timestamp>)]
    created_at: Option<NaiveDateTime>,
    #[diesel(sql_type = Nullable<Timestamp>)]
    updated_at: Option<NaiveDateTime>,
    #[diesel(sql_type = Integer)]
    max_holders: i32,
    #[diesel(sql_type = Nullable<Integer>)]
    lease_seconds: Option<i32>,
    /// JSON: the windows as the service stored them (or the settings give them).
    #[diesel(sql_type = Text)]
    windows: String,
    /// JSON: the live holders, oldest first (`foreman_dlm_holders_json`).
    #[diesel(sql_type = Text)]
    holders: String,
    #[diesel(sql_type = Text)]
    on_lease_expiry: String,
    #[diesel(sql_type = Integer)]
    cooldown_seconds: i32,
    #[diesel(sql_type = Nullable<Text>)]
    block_on_alerts: Option<String>,
    /// JSON: the halt the lock is under (`foreman_dlm_halt_json`), if any.
    #[diesel(sql_type = Nullable<Text>)]
    halt: Option<String>,
}

#[derive(Deserialize)]
struct HaltJson {
    halted_at: NaiveDateTime,
    reason: String,
    host_id: Option<i32>,
    user_id: Option<i32>,
    fleet: bool,
}

#[derive(Deserialize)]
struct HolderJson {
    host_id: i32,
    name: String,
    acquired_at: NaiveDateTime,
    refreshed_at: NaiveDateTime,
    expires_at: Option<NaiveDateTime>,
}

impl LockRow {
    /// A row whose JSON columns do not parse was written by hand: an internal error, not a panic.
    pub fn into_lock(self) -> Result<Lock, StorageError> {
        let bad_json = |e: serde_json::Error| {
            StorageError::Query(diesel::result::Error::DeserializationError(Box::new(e)))
        };
        let windows: Vec<Window> = serde_json::from_str(&self.windows).map_err(bad_json)?;
        let holders: Vec<HolderJson> = serde_json::from_str(&self.holders).map_err(bad_json)?;
        let halt = self.halt.as_deref().map(parse_halt).transpose()?;
        let on_lease_expiry = LeaseExpiry::parse(&self.on_lease_expiry).ok_or_else(|| {
            StorageError::Query(diesel::result::Error::DeserializationError(
                format!("on_lease_expiry {:?}", self.on_lease_expiry).into(),
            ))
        })?;
        Ok(Lock {
            id: self.id,
            name: self.name,
            lock_type: self.lock_type,
            enabled: self.enabled,
            created_at: self.created_at,
            updated_at: self.updated_at,
            policy: Policy {
                max_holders: self.max_holders,
                lease_seconds: self.lease_seconds,
                windows,
                on_lease_expiry,
                cooldown_seconds: self.cooldown_seconds,
                block_on_alerts: self.block_on_alerts,
            },
            holders: holders
                .into_iter()
                .map(|h| Holder {
                    host_id: h.host_id,
                    name: h.name,
                    acquired_at: h.acquired_at,
                    refreshed_at: h.refreshed_at,
                    expires_at: h.expires_at,
                })
                .collect(),
            halt,
        })
    }
}

/// A halt as `foreman_dlm_halt_json` gives it.
fn parse_halt(json: &str) -> Result<Halt, StorageError> {
    let h: HaltJson = serde_json::from_str(json).map_err(|e| {
        StorageError::Query(diesel::result::Error::DeserializationError(Box::new(e)))
    })?;
    Ok(Halt {
        halted_at: h.halted_at,
        reason: h.reason,
        host_id: h.host_id,
        user_id: h.user_id,
        fleet: h.fleet,
    })
}

/// A lock by id (when the client gave an all-digit `:id`), else by name. The plugin's table may
/// hold duplicate names: the oldest row (lowest id) is the lock, for every operation.
pub async fn find(
    conn: &mut Conn,
    statements: &LockStatements,
    clock: Option<NaiveDateTime>,
    id: Option<i32>,
    name: &str,
) -> Result<Option<Lock>, StorageError> {
    let row: Option<LockRow> = sql(statements.find)
        .bind(clock)
        .bind(id)
        .bind(name)
        .get_result(conn)
        .await
        .optional()?;
    row.map(LockRow::into_lock).transpose()
}
