//! The plugin's admin API for Foreman users: index, create, update, destroy, and the event log.
//!
//! A body is read only once its sender is authenticated and authorised, and then within
//! `http.body_timeout_seconds`: an anonymous client can make the service wait for nothing.

use std::time::Duration;

use actix_web::http::header::CONTENT_TYPE;
use actix_web::mime;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::Value;

use super::caller::Credentials;
use super::error::ApiError;
use super::lock_routes::{lock_ref, refuse_body};
use super::pagination::IndexParams;
use super::params::{
    bool_field, halt_fields, host_id_field, lock_attributes, policy_fields, read_body, text_field,
    unprocessable,
};
use super::views::{EventBody, LockBody};
use super::AppState;
use crate::identity::users::Permission;
use crate::locks::admin::ListRequest;
use crate::locks::model::{HaltChange, LockChanges, NewLock};

/// JSON bodies of the admin API are small: a lock's attributes.
const MAX_BODY_BYTES: usize = 64 * 1024;

/// GET /api/dlmlocks
pub async fn index(
    req: HttpRequest,
    credentials: Credentials,
    params: web::Query<IndexParams>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    refuse_body(&req)?;
    state.user_with(&credentials, Permission::ViewLocks).await?;
    let page = params.page()?;
    let request = ListRequest {
        search: params.search(),
        order: params.order().map(str::to_string),
        page,
        per_page: params.per_page()?,
    };
    let listed = state.services.locks.list(&request).await?;
    Ok(params.envelope(page, listed, |lock| LockBody::new(lock, None)))
}

/// Foreman answers 415 to a body that is not JSON, before anything else.
fn require_json(req: &HttpRequest) -> Result<(), ApiError> {
    let json = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<mime::Mime>().ok())
        .is_some_and(|m| m.subtype() == mime::JSON || m.suffix() == Some(mime::JSON));
    if json {
        Ok(())
    } else {
        Err(ApiError::UnsupportedMediaType)
    }
}

/// Reads the JSON body within `timeout`, at most [`MAX_BODY_BYTES`].
async fn read_json(payload: web::Payload, timeout: Duration) -> Result<Value, ApiError> {
    let body = read_body(payload, timeout, MAX_BODY_BYTES).await?;
    serde_json::from_slice(&body).map_err(|e| ApiError::BadJson(e.to_string()))
}

/// POST /api/dlmlocks → 201
pub async fn create(
    req: HttpRequest,
    credentials: Credentials,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    require_json(&req)?;
    let user = state
        .user_with(&credentials, Permission::CreateLocks)
        .await?;
    let attributes = lock_attributes(read_json(payload, state.body_timeout).await?)?;
    let invalid = unprocessable(None);
    let new = NewLock {
        name: text_field(&attributes, "name").map_err(&invalid)?.flatten(),
        lock_type: text_field(&attributes, "type").map_err(&invalid)?.flatten(),
        enabled: bool_field(&attributes, "enabled").map_err(&invalid)?,
        policy: policy_fields(&attributes).map_err(&invalid)?,
        // `halted: false` on a new lock asks for what it is anyway.
        halt_reason: match halt_fields(&attributes).map_err(&invalid)? {
            Some(HaltChange::Halt { reason }) => Some(reason),
            Some(HaltChange::Resume) | None => None,
        },
    };
    let created = state.services.locks.create(new, user.id).await?;
    log::info!("user {:?} created lock {:?}", user.login, created.name);
    Ok(HttpResponse::Created().json(LockBody::new(created, None)))
}

/// PUT /api/dlmlocks/:id — name, type, host_id (null = force release of every holder), enabled,
/// the policy's values, and halted (with halt_reason).
pub async fn update(
    req: HttpRequest,
    credentials: Credentials,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    require_json(&req)?;
    let user = state.user_with(&credentials, Permission::EditLocks).await?;
    let lock = lock_ref(&req)?;
    let attributes = lock_attributes(read_json(payload, state.body_timeout).await?)?;
    let invalid = unprocessable(None);
    let changes = LockChanges {
        name: match text_field(&attributes, "name").map_err(&invalid)? {
            Some(Some(name)) => Some(name),
            Some(None) => return Err(invalid(("name", "can't be blank".into()))),
            None => None,
        },
        lock_type: text_field(&attributes, "type").map_err(&invalid)?,
        host_id: host_id_field(&attributes).map_err(&invalid)?,
        enabled: bool_field(&attributes, "enabled").map_err(&invalid)?,
        policy: policy_fields(&attributes).map_err(&invalid)?,
        halt: halt_fields(&attributes).map_err(&invalid)?,
    };
    let updated = state.services.locks.update(&lock, changes, user.id).await?;
    log::info!("user {:?} updated lock {:?}", user.login, updated.name);
    Ok(HttpResponse::Ok().json(LockBody::new(updated, None)))
}

/// DELETE /api/dlmlocks/:id — the lock and its events.
pub async fn destroy(
    req: HttpRequest,
    credentials: Credentials,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    refuse_body(&req)?;
    let user = state
        .user_with(&credentials, Permission::DestroyLocks)
        .await?;
    let deleted = state.services.locks.destroy(&lock_ref(&req)?).await?;
    log::info!("user {:?} deleted lock {:?}", user.login, deleted.name);
    Ok(HttpResponse::Ok().json(LockBody::new(deleted, None)))
}

/// DELETE /api/dlmlocks/:id/holders/:host_id — an admin frees one holder's slot.
pub async fn release_holder(
    req: HttpRequest,
    credentials: Credentials,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    refuse_body(&req)?;
    let user = state.user_with(&credentials, Permission::EditLocks).await?;
    let lock = lock_ref(&req)?;
    let host_id = req
        .match_info()
        .get("host_id")
        .filter(|id| id.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|id| id.parse::<i32>().ok())
        .ok_or_else(|| ApiError::BadRequest("host_id must be a host id".into()))?;
    let updated = state
        .services
        .locks
        .release_holder(&lock, host_id, user.id)
        .await?;
    log::info!(
        "user {:?} released host {host_id} from lock {:?}",
        user.login,
        updated.name
    );
    Ok(HttpResponse::Ok().json(LockBody::new(updated, None)))
}

/// `order` for events: `id` or `created_at`, ASC (default, oldest first) or DESC.
fn newest_first(order: Option<&str>) -> Result<bool, ApiError> {
    let Some(order) = order.map(str::trim).filter(|o| !o.is_empty()) else {
        return Ok(false);
    };
    let mut words = order.split_whitespace();
    let field_ok = matches!(words.next(), Some("id" | "created_at"));
    match (
        field_ok,
        words.next().map(str::to_ascii_uppercase).as_deref(),
        words.next(),
    ) {
        (true, None | Some("ASC"), None) => Ok(false),
        (true, Some("DESC"), None) => Ok(true),
        _ => Err(ApiError::BadRequest(
            "events can be ordered by 'id' or 'created_at', ASC or DESC".into(),
        )),
    }
}

/// GET /api/dlmlocks/:id/dlmlock_events — oldest first; `order=created_at DESC` (or `id DESC`)
/// for newest first.
pub async fn events(
    req: HttpRequest,
    credentials: Credentials,
    params: web::Query<IndexParams>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    refuse_body(&req)?;
    let newest_first = newest_first(params.order())?;
    if params.search().is_some() {
        return Err(ApiError::BadRequest("events cannot be searched".into()));
    }
    state
        .user_with(&credentials, Permission::ViewLockEvents)
        .await?;
    let lock = lock_ref(&req)?;
    let page = params.page()?;
    let listed = state
        .services
        .locks
        .events(&lock, newest_first, page, params.per_page()?)
        .await?;
    Ok(params.envelope(page, listed, EventBody::from))
}
