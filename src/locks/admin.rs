//! What Foreman users do to locks: list and search, create, edit (including force-release and
//! enable/disable), delete, and read the event log. Permission checks happen before these run.

use super::model::{HaltChange, Lock, LockChanges, LockEvent, NewLock, Page, UPDATE_LOCK_TYPE};
use super::policy::{self, PolicyChanges};
use super::search::{parse_order, parse_search, ListQuery};
use super::{LockError, LockManager, LockName, LockRef};
use crate::clock;
use crate::storage::locks::admin::{self as admin_store, HolderRelease, UpdateOutcome};
use crate::storage::locks::{events as event_store, search as search_store};
use crate::storage::{foreman_settings, Conn};

/// The lock types a lock may have: the plugin's update lock, or none (its base class).
const VALID_TYPES: [&str; 1] = [UPDATE_LOCK_TYPE];

/// Which page of a list; `per_page = None` means all, `Default` means Foreman's
/// `entries_per_page` setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PerPage {
    Default,
    All,
    Count(i64),
}

/// Index parameters as the client sent them, already checked for shape.
#[derive(Debug, Clone)]
pub struct ListRequest {
    pub search: Option<String>,
    pub order: Option<String>,
    pub page: i64,
    pub per_page: PerPage,
}

/// A page with the page size that was used (Foreman's envelope reports it).
#[derive(Debug, Clone)]
pub struct Listed<T> {
    pub page: Page<T>,
    pub per_page: Option<i64>,
}

impl LockManager {
    async fn resolve(
        &self,
        conn: &mut crate::storage::Conn,
        per_page: PerPage,
    ) -> Result<Option<i64>, LockError> {
        Ok(match per_page {
            PerPage::All => None,
            PerPage::Count(n) => Some(n),
            PerPage::Default => Some(foreman_settings::entries_per_page(conn).await?),
        })
    }

    pub async fn list(&self, request: &ListRequest) -> Result<Listed<Lock>, LockError> {
        let filters = match request.search.as_deref().map(str::trim) {
            Some(search) if !search.is_empty() => parse_search(
                search,
                self.limits.search_conditions,
                self.limits.search_chars,
            )
            .map_err(|e| LockError::BadQuery(e.0))?,
            _ => Vec::new(),
        };
        let (sort, descending) = parse_order(request.order.as_deref().unwrap_or_default())
            .map_err(|e| LockError::BadQuery(e.0))?;
        let mut conn = self.admin_conn().await?;
        let per_page = self.resolve(&mut conn, request.per_page).await?;
        let query = ListQuery {
            filters,
            sort,
            descending,
            limit: per_page,
            offset: per_page.map_or(0, |n| (request.page - 1).saturating_mul(n)),
            stale_hours: self.stale_hours,
            clock: clock::test_now(),
        };
        // A search may run for seconds: it stops with its request.
        self.db.cancel_if_dropped(&mut conn);
        let page = search_store::list(&mut conn, self.statements(), &query).await;
        conn.finished();
        Ok(Listed {
            page: page?,
            per_page,
        })
    }

    /// Validation as the plugin's model does it (presence, uniqueness, a known type), plus the
    /// name rules a lock needs to be addressable in a URL.
    pub async fn create(&self, new: NewLock, acting_user: i32) -> Result<Lock, LockError> {
        let mut errors = Vec::new();
        let name = match new.name.as_deref() {
            // Rails' presence validation, in its words.
            None => {
                errors.push(("name", "can't be blank".to_string()));
                None
            }
            Some(text) if text.trim().is_empty() => {
                errors.push(("name", "can't be blank".to_string()));
                None
            }
            Some(text) => match LockName::parse(text) {
                Ok(name) => Some(name),
                Err(e) => {
                    errors.push(("name", e.0));
                    None
                }
            },
        };
        if let Some(t) = &new.lock_type {
            if !VALID_TYPES.contains(&t.as_str()) {
                errors.push(("type", format!("is invalid (use {UPDATE_LOCK_TYPE})")));
            }
        }
        errors.extend(new.policy.check(self.limits.windows_per_lock));
        let mut conn = self.admin_conn().await?;
        errors.extend(self.unknown_time_zones(&mut conn, &new.policy).await?);
        let Some(name) = name.filter(|_| errors.is_empty()) else {
            return Err(LockError::Invalid {
                lock_id: None,
                errors,
            });
        };
        let enabled = new.enabled.unwrap_or(true);
        let created = admin_store::create_with_policy(
            &mut conn,
            name.as_str(),
            new.lock_type.as_deref(),
            enabled,
            &new.policy,
            new.halt_reason
                .as_deref()
                .map(|reason| (reason, acting_user, clock::test_now())),
        )
        .await?;
        match created {
            Some(id) => self.find_by_id(&mut conn, id).await,
            None => Err(LockError::Invalid {
                lock_id: None,
                errors: vec![("name", "has already been taken".into())],
            }),
        }
    }

    /// Windows naming a time zone the database does not know (it is the one evaluating them),
    /// checked in one query whatever the number of windows. Too many windows are refused by
    /// `PolicyChanges::check` and not looked up.
    async fn unknown_time_zones(
        &self,
        conn: &mut Conn,
        policy: &PolicyChanges,
    ) -> Result<Vec<(&'static str, String)>, LockError> {
        if policy
            .windows
            .as_ref()
            .is_none_or(|w| w.len() > self.limits.windows_per_lock)
        {
            return Ok(Vec::new());
        }
        let unknown = admin_store::unknown_time_zones(conn, &policy.time_zones()).await?;
        Ok(unknown
            .into_iter()
            .map(|zone| ("windows", format!("has an unknown time_zone {zone:?}")))
            .collect())
    }

    /// The `[[locks.policies]]` time zone the database does not know, in words; `None` when
    /// every one is known.
    pub async fn unknown_policy_time_zone(&self) -> Result<Option<String>, LockError> {
        let mut conn = self.admin_conn().await?;
        let zones = policy::pattern_time_zones(&self.patterns);
        let unknown = admin_store::unknown_time_zones(&mut conn, &zones).await?;
        Ok(policy::unknown_pattern_time_zone(&self.patterns, &unknown))
    }

    /// An admin's edit; `host_id: Some(None)` is a force release. Events carry `acting_user`.
    pub async fn update(
        &self,
        lock: &LockRef,
        changes: LockChanges,
        acting_user: i32,
    ) -> Result<Lock, LockError> {
        let mut conn = self.admin_change_conn().await?;
        let found = self.find_existing(&mut conn, lock).await?;
        let invalid = |field: &'static str, message: String| LockError::Invalid {
            lock_id: Some(found.id),
            errors: vec![(field, message)],
        };
        if let Some(HaltChange::Halt { reason }) = &changes.halt {
            super::halts::check_reason(reason)?;
        }
        let mut policy_errors = changes.policy.check(self.limits.windows_per_lock);
        policy_errors.extend(self.unknown_time_zones(&mut conn, &changes.policy).await?);
        if !policy_errors.is_empty() {
            return Err(LockError::Invalid {
                lock_id: Some(found.id),
                errors: policy_errors,
            });
        }
        if let Some(name) = &changes.name {
            if name.trim().is_empty() {
                return Err(invalid("name", "can't be blank".into()));
            }
            LockName::parse(name).map_err(|e| invalid("name", e.0))?;
        }
        if let Some(Some(t)) = &changes.lock_type {
            if !VALID_TYPES.contains(&t.as_str()) {
                return Err(invalid(
                    "type",
                    format!("is invalid (use {UPDATE_LOCK_TYPE})"),
                ));
            }
        }
        let edited = admin_store::edit(
            &mut conn,
            self.statements(),
            clock::test_now(),
            found.id,
            &changes,
            acting_user,
        )
        .await?;
        match edited {
            UpdateOutcome::Updated => self.find_by_id(&mut conn, found.id).await,
            UpdateOutcome::NotFound => Err(LockError::NotFound(lock.as_str().to_string())),
            UpdateOutcome::NameTaken => Err(invalid("name", "has already been taken".into())),
            UpdateOutcome::UnknownHost => Err(invalid("host_id", "does not match any host".into())),
        }
    }

    /// Deletes the lock and its events; returns the lock as it was.
    pub async fn destroy(&self, lock: &LockRef) -> Result<Lock, LockError> {
        let not_found = || LockError::NotFound(lock.as_str().to_string());
        let mut conn = self.admin_change_conn().await?;
        let found = self.find_existing(&mut conn, lock).await?;
        if admin_store::destroy(&mut conn, found.id).await? {
            Ok(found)
        } else {
            Err(not_found())
        }
    }

    /// An admin frees one holder's slot; the lock afterwards.
    pub async fn release_holder(
        &self,
        lock: &LockRef,
        host_id: i32,
        acting_user: i32,
    ) -> Result<Lock, LockError> {
        let mut conn = self.admin_change_conn().await?;
        let found = self.find_existing(&mut conn, lock).await?;
        let released = admin_store::release_holder(
            &mut conn,
            self.statements(),
            clock::test_now(),
            found.id,
            host_id,
            acting_user,
        )
        .await?;
        match released {
            HolderRelease::Released => self.find_by_id(&mut conn, found.id).await,
            HolderRelease::NotAHolder => Err(LockError::NotFound(format!(
                "holder {host_id} of lock {}",
                found.id
            ))),
            HolderRelease::NoSuchLock => Err(LockError::NotFound(lock.as_str().to_string())),
        }
    }

    pub async fn events(
        &self,
        lock: &LockRef,
        newest_first: bool,
        page: i64,
        per_page: PerPage,
    ) -> Result<Listed<LockEvent>, LockError> {
        let mut conn = self.admin_conn().await?;
        let found = self.find_existing(&mut conn, lock).await?;
        let per_page = self.resolve(&mut conn, per_page).await?;
        let offset = per_page.map_or(0, |n| (page - 1).saturating_mul(n));
        let page = event_store::page(&mut conn, found.id, newest_first, per_page, offset).await?;
        Ok(Listed { page, per_page })
    }
}
