//! What the lock domain talks about: locks, their events, and an admin's changes. Storage maps its
//! rows into these; `http` renders them.

use chrono::NaiveDateTime;

/// The lock type the plugin gives auto-created locks (its only type in practice).
pub const UPDATE_LOCK_TYPE: &str = "ForemanDlm::Dlmlock::Update";

/// A row of `dlmlocks` with its holder's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lock {
    pub id: i32,
    pub name: String,
    pub lock_type: Option<String>,
    pub enabled: bool,
    pub host_id: Option<i32>,
    pub holder_name: Option<String>,
    pub created_at: Option<NaiveDateTime>,
    pub updated_at: Option<NaiveDateTime>,
}

/// A row of `dlmlock_events`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockEvent {
    pub id: i64,
    pub event_type: Option<String>,
    pub host_id: Option<i32>,
    pub user_id: Option<i32>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// A new lock from `POST /api/dlmlocks`, as sent.
#[derive(Debug, Clone, Default)]
pub struct NewLock {
    pub name: Option<String>,
    pub lock_type: Option<String>,
    pub enabled: Option<bool>,
}

/// Fields an admin changes; `None` leaves a field as it is, `Some(None)` clears it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LockChanges {
    pub name: Option<String>,
    pub lock_type: Option<Option<String>>,
    /// `Some(None)` is a force release.
    pub host_id: Option<Option<i32>>,
    pub enabled: Option<bool>,
}

/// A page of results and how many there are in all.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub total: i64,
    pub items: Vec<T>,
}
