//! What Foreman users do to locks: list and search, create, edit (including force-release and
//! enable/disable), delete, and read the event log. Permission checks happen before these run.

use diesel::pg::PgConnection;

use super::lock_ref::validate_name;
use super::search::{parse_order, parse_search};
use super::{find, LockError, LockManager, LockRef, LockView};
use crate::storage::locks::{
    self as lock_store, EventRow, ListQuery, LockChanges, UpdateOutcome, UPDATE_LOCK_TYPE,
};

/// The lock types a lock may have: the plugin's update lock, or none (its base class).
const VALID_TYPES: [&str; 1] = [UPDATE_LOCK_TYPE];

/// Index parameters as the client sent them; `per_page = None` means all.
#[derive(Debug, Clone)]
pub struct ListRequest {
    pub search: Option<String>,
    pub order: Option<String>,
    pub page: i64,
    pub per_page: Option<i64>,
}

pub struct LockPage {
    pub total: i64,
    pub locks: Vec<LockView>,
}

pub struct EventPage {
    pub total: i64,
    pub events: Vec<EventRow>,
}

/// A new lock from `POST /api/dlmlocks`.
#[derive(Debug, Clone)]
pub struct NewLock {
    pub name: Option<String>,
    pub lock_type: Option<String>,
    pub enabled: Option<bool>,
}

impl LockManager {
    pub fn list(
        &self,
        conn: &mut PgConnection,
        request: &ListRequest,
    ) -> Result<LockPage, LockError> {
        let filters = match request.search.as_deref().map(str::trim) {
            Some(search) if !search.is_empty() => {
                parse_search(search).map_err(|e| LockError::BadQuery(e.0))?
            }
            _ => Vec::new(),
        };
        let (sort, descending) = parse_order(request.order.as_deref().unwrap_or_default())
            .map_err(|e| LockError::BadQuery(e.0))?;
        let query = ListQuery {
            filters,
            sort,
            descending,
            limit: request.per_page,
            offset: request
                .per_page
                .map_or(0, |per_page| (request.page - 1).saturating_mul(per_page)),
            stale_hours: self.stale_hours,
        };
        let (total, locks) = lock_store::list(conn, &query)?;
        Ok(LockPage { total, locks })
    }

    /// Validation as the plugin's model does it (presence, uniqueness, a known type), plus the
    /// name rules a lock needs to be addressable in a URL.
    pub fn create(&self, conn: &mut PgConnection, new: NewLock) -> Result<LockView, LockError> {
        let mut errors = Vec::new();
        let name = new.name.unwrap_or_default();
        if name.trim().is_empty() {
            errors.push(("name", "can't be blank".to_string()));
        } else if let Err(e) = validate_name(&name) {
            errors.push(("name", e.0));
        }
        if let Some(t) = &new.lock_type {
            if !VALID_TYPES.contains(&t.as_str()) {
                errors.push(("type", format!("is invalid (use {UPDATE_LOCK_TYPE})")));
            }
        }
        if !errors.is_empty() {
            return Err(LockError::Invalid {
                lock_id: None,
                errors,
            });
        }
        lock_store::create_named(
            conn,
            &name,
            new.lock_type.as_deref(),
            new.enabled.unwrap_or(true),
        )?
        .ok_or(LockError::Invalid {
            lock_id: None,
            errors: vec![("name", "has already been taken".into())],
        })
    }

    /// An admin's edit; `host_id: Some(None)` is a force release. Events carry `acting_user`.
    pub fn update(
        &self,
        conn: &mut PgConnection,
        lock_ref: &LockRef,
        changes: LockChanges,
        acting_user: i32,
    ) -> Result<LockView, LockError> {
        let lock = find(conn, lock_ref)?
            .ok_or_else(|| LockError::NotFound(lock_ref.as_str().to_string()))?;
        let invalid = |field: &'static str, message: String| LockError::Invalid {
            lock_id: Some(lock.lock.id),
            errors: vec![(field, message)],
        };
        if let Some(name) = &changes.name {
            validate_name(name).map_err(|e| invalid("name", e.0))?;
        }
        if let Some(Some(t)) = &changes.lock_type {
            if !VALID_TYPES.contains(&t.as_str()) {
                return Err(invalid(
                    "type",
                    format!("is invalid (use {UPDATE_LOCK_TYPE})"),
                ));
            }
        }
        match lock_store::update(conn, lock.lock.id, &changes, acting_user)? {
            UpdateOutcome::Updated(view) => Ok(view),
            UpdateOutcome::NotFound => Err(LockError::NotFound(lock_ref.as_str().to_string())),
            UpdateOutcome::NameTaken => Err(invalid("name", "has already been taken".into())),
            UpdateOutcome::UnknownHost => Err(invalid("host_id", "does not match any host".into())),
        }
    }

    /// Deletes the lock and its events; returns the lock as it was.
    pub fn destroy(
        &self,
        conn: &mut PgConnection,
        lock_ref: &LockRef,
    ) -> Result<LockView, LockError> {
        let not_found = || LockError::NotFound(lock_ref.as_str().to_string());
        let lock = find(conn, lock_ref)?.ok_or_else(not_found)?;
        lock_store::destroy(conn, lock.lock.id)?.ok_or_else(not_found)
    }

    pub fn events(
        &self,
        conn: &mut PgConnection,
        lock_ref: &LockRef,
        newest_first: bool,
        page: i64,
        per_page: Option<i64>,
    ) -> Result<EventPage, LockError> {
        let lock = find(conn, lock_ref)?
            .ok_or_else(|| LockError::NotFound(lock_ref.as_str().to_string()))?;
        let offset = per_page.map_or(0, |n| (page - 1).saturating_mul(n));
        let (total, events) =
            lock_store::events(conn, lock.lock.id, newest_first, per_page, offset)?;
        Ok(EventPage { total, events })
    }
}
