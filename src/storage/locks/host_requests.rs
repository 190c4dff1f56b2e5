//! A host's show, acquire and release: ONE statement each, one round trip.
//!
//! Each statement finds the host by its certificate's subject, records its check-in, finds the
//! lock (by id, else name), and — for acquire — resolves the `can_acquire_update_locks` parameter
//! through Foreman's whole inheritance chain; then it decides, changes the holder and writes the
//! event. Nothing can interleave between deciding and changing: the lock row is locked
//! `FOR UPDATE` inside the statement. A lock's very first use needs a second round trip
//! (`admin::create`), as does an opt-out value the statement cannot classify.

use diesel::prelude::*;
use diesel::sql_types::{Bool, Integer, Nullable, Text, Varchar};
use diesel_async::RunQueryDsl;

use super::{LockRow, API_ADMIN_ID};
use crate::locks::model::Lock;
use crate::storage::sql::{compact, sql};
use crate::storage::{Conn, StorageError};

/// Which column a certificate's subject is looked up in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostLookup {
    /// Puppet: `hosts.certname`, then `hosts.name`.
    Certname,
    /// Katello: `katello_subscription_facets.uuid`.
    ConsumerUuid,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostOperation {
    Show,
    /// `opt_out_verdict`: the application's decision on a parameter value the statement returned
    /// unclassified; `None` on the first try.
    Acquire {
        opt_out_verdict: Option<bool>,
    },
    Release,
}

/// The statements, assembled once from the `.sql` files: one per operation and host lookup.
pub struct HostStatements {
    show: [&'static str; 2],
    acquire: [&'static str; 2],
    release: [&'static str; 2],
}

impl HostStatements {
    /// `parameter` is the opt-out parameter's name; `allowed` and `denied` are stored values
    /// (YAML, as Foreman writes them) that the domain's cast rules classify, so that the
    /// statement decides the common cases itself. Any other value comes back undecided.
    pub fn new(parameter: &str, allowed: &[String], denied: &[String]) -> HostStatements {
        let array = |values: &[String]| {
            let literals: Vec<String> = values
                .iter()
                .map(|v| format!("'{}'", v.replace('\'', "''")))
                .collect();
            format!("ARRAY[{}]::text[]", literals.join(", "))
        };
        let opt_out =
            include_str!("sql/opt_out.sql").replace("{parameter}", &parameter.replace('\'', "''"));
        let build = |template: &str, lookup: HostLookup| -> &'static str {
            let host = match lookup {
                HostLookup::Certname => include_str!("sql/host_puppet.sql"),
                HostLookup::ConsumerUuid => include_str!("sql/host_katello.sql"),
            };
            let text = template
                .replace("{host}", host.trim_end())
                .replace("{checkin}", include_str!("sql/checkin.sql").trim_end())
                .replace("{opt_out}", opt_out.trim_end())
                .replace("{find_lock}", include_str!("sql/find_lock.sql").trim_end())
                .replace("{allow}", &array(allowed))
                .replace("{deny}", &array(denied))
                .replace("{api_admin}", API_ADMIN_ID);
            // Built once per process; the statement cache keys prepared statements by this text.
            Box::leak(compact(&text).into_boxed_str())
        };
        let both = |template: &str| {
            [
                build(template, HostLookup::Certname),
                build(template, HostLookup::ConsumerUuid),
            ]
        };
        HostStatements {
            show: both(include_str!("sql/show.sql")),
            acquire: both(include_str!("sql/acquire.sql")),
            release: both(include_str!("sql/release.sql")),
        }
    }

    /// The statement text a host request runs; the benchmark's pgbench script uses the same.
    pub fn text(&self, operation: HostOperation, lookup: HostLookup) -> &'static str {
        let index = match lookup {
            HostLookup::Certname => 0,
            HostLookup::ConsumerUuid => 1,
        };
        match operation {
            HostOperation::Show => self.show[index],
            HostOperation::Acquire { .. } => self.acquire[index],
            HostOperation::Release => self.release[index],
        }
    }
}

/// What one host statement saw and did. No row at all: no host has that subject.
#[derive(Debug, Clone, QueryableByName)]
pub struct HostRequestRow {
    #[diesel(sql_type = Integer)]
    pub caller_id: i32,
    #[diesel(sql_type = Varchar)]
    pub caller_name: String,
    /// Acquire: whether the opt-out parameter allows it; NULL = a value left to the application.
    #[diesel(sql_type = Nullable<Bool>)]
    pub allowed: Option<bool>,
    /// The opt-out parameter's stored value, for the application to classify.
    #[diesel(sql_type = Nullable<Text>)]
    pub opt_out_value: Option<String>,
    /// The lock the request is about; NULL when no lock has that id or name.
    #[diesel(sql_type = Nullable<Integer>)]
    pub lock_id: Option<i32>,
    /// Show: the lock exists. Acquire/release: the change was made (or was a no-op success).
    #[diesel(sql_type = Bool)]
    pub done: bool,
    #[diesel(embed)]
    lock: Option<LockRow>,
}

impl HostRequestRow {
    /// The lock as it is after the request, when `done`.
    pub fn lock(&self) -> Option<Lock> {
        self.lock.clone().map(Lock::from)
    }
}

/// Runs one host request. `lock_id` is tried first (an all-digit `:id`), then `lock_name`.
pub async fn run(
    conn: &mut Conn,
    statements: &HostStatements,
    lookup: HostLookup,
    subject: &str,
    lock_id: Option<i32>,
    lock_name: &str,
    operation: HostOperation,
) -> Result<Option<HostRequestRow>, StorageError> {
    let verdict = match operation {
        HostOperation::Acquire { opt_out_verdict } => opt_out_verdict,
        _ => None,
    };
    sql(statements.text(operation, lookup))
        .bind(subject)
        .bind(lock_id)
        .bind(lock_name)
        .bind(verdict)
        .get_result(conn)
        .await
        .optional()
        .map_err(StorageError::from)
}
