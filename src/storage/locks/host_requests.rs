//! A host's show, acquire and release: ONE statement each, one round trip.
//!
//! Each statement is one call of `foreman_dlm_host_request_v3` (`sql/functions/`),
//! which finds the host by its certificate's subject, records its check-in, finds the lock (by
//! id, else name) and creates it on first use, and — for acquire — resolves the
//! `can_acquire_update_locks` parameter through Foreman's whole inheritance chain; then it applies
//! the lock's policy (holders, lease, windows), changes the holders and writes the events. Nothing
//! can interleave between deciding and changing: the lock row is locked `FOR UPDATE` first. Only an
//! opt-out value the statement cannot classify takes a second round trip.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::{Bool, Integer, Nullable, Text, Timestamp, Varchar};
use diesel_async::RunQueryDsl;

use super::statements::{HostLookup, HostOperation, LockStatements};
use super::LockRow;
use crate::locks::model::Lock;
use crate::storage::sql::sql;
use crate::storage::{Conn, StorageError};

/// What one host statement saw and did. No caller: no host has that subject.
#[derive(Debug, Clone, QueryableByName)]
pub struct HostRequestRow {
    #[diesel(sql_type = Nullable<Integer>)]
    pub caller_id: Option<i32>,
    #[diesel(sql_type = Nullable<Varchar>)]
    pub caller_name: Option<String>,
    /// Acquire: whether the opt-out parameter allows it; NULL = a value left to the application.
    #[diesel(sql_type = Nullable<Bool>)]
    pub allowed: Option<bool>,
    /// The opt-out parameter's stored value, for the application to classify.
    #[diesel(sql_type = Nullable<Text>)]
    pub opt_out_value: Option<String>,
    /// The lock the request is about; NULL only for a show of a lock that does not exist.
    #[diesel(sql_type = Nullable<Integer>)]
    pub lock_id: Option<i32>,
    /// Show: the lock exists. Acquire/release: the change was made (or was a no-op success).
    #[diesel(sql_type = Bool)]
    pub done: bool,
    /// Acquire: granted, refreshed, opted_out, disabled, halted, outside_window, held, full,
    /// cooling_down, blocked or too_many_held, or ask_gate (nothing done: the lock's alert gate
    /// decides, and the service asks again with its verdict). Release: released, not_held,
    /// disabled or held. Either, for a missing lock: too_many_created.
    #[diesel(sql_type = Nullable<Text>)]
    pub outcome: Option<String>,
    /// For outside_window: when the next window opens (UTC).
    #[diesel(sql_type = Nullable<Timestamp>)]
    pub next_window_at: Option<NaiveDateTime>,
    /// For too_many_created: when the host may create a lock again; for cooling_down: when the
    /// next holder may start (UTC).
    #[diesel(sql_type = Nullable<Timestamp>)]
    pub retry_at: Option<NaiveDateTime>,
    #[diesel(embed)]
    lock: Option<LockRow>,
}

impl HostRequestRow {
    /// The lock as it is after the request.
    pub fn lock(&self) -> Result<Option<Lock>, StorageError> {
        self.lock.clone().map(LockRow::into_lock).transpose()
    }
}

/// One host request: who asks, about which lock, and when (`clock`: the test clock, else NULL).
pub struct HostRequest<'a> {
    pub lookup: HostLookup,
    pub subject: &'a str,
    /// Tried first (an all-digit `:id`), then `lock_name`.
    pub lock_id: Option<i32>,
    pub lock_name: &'a str,
    pub operation: HostOperation,
    pub clock: Option<NaiveDateTime>,
    /// The expression the gate's verdict (in `operation`) answers.
    pub gate_expression: Option<&'a str>,
}

/// `None`: no host has the subject.
pub async fn run(
    conn: &mut Conn,
    statements: &LockStatements,
    request: &HostRequest<'_>,
) -> Result<Option<HostRequestRow>, StorageError> {
    let (verdict, gate_verdict) = match request.operation {
        HostOperation::Acquire {
            opt_out_verdict,
            gate_verdict,
        } => (opt_out_verdict, gate_verdict),
        _ => (None, None),
    };
    sql(statements.host_request(request.operation, request.lookup))
        .bind(request.subject)
        .bind(request.lock_id)
        .bind(request.lock_name)
        .bind(verdict)
        .bind(request.clock)
        .bind(gate_verdict)
        .bind(request.gate_expression)
        .get_result::<HostRequestRow>(conn)
        .await
        .optional()
        .map(|row| row.filter(|r| r.caller_id.is_some()))
        .map_err(StorageError::from)
}
