//! GET/PUT/DELETE `/api/dlmlocks/:id/lock` and GET `/api/dlmlocks/:id`: show, acquire, release.
//!
//! Hosts (by certificate) may do all three; the plugin's order of checks is kept: identify the
//! caller (401), record a host's check-in, find the lock (404, or auto-create for PUT/DELETE),
//! then act (412 when refused). Foreman users may show (`view_dlmlocks`); taking or giving back a
//! lock needs a host, so a user gets 403 (after the `edit_dlmlocks` check, as in the plugin).

use actix_web::{web, HttpRequest, HttpResponse};

use super::caller::{Caller, Credentials};
use super::error::{ApiError, NEEDS_HOST_CERTIFICATE};
use super::views::LockBody;
use super::AppState;
use crate::identity::users::Permission;
use crate::locks::LockRef;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Action {
    Show,
    Acquire,
    Release,
}

/// The `:id` path segment, parsed into a lock reference (400 when it cannot name a lock).
///
/// Read from the raw URI rather than the router's match: the router already decodes most escapes
/// and replaces invalid UTF-8 with U+FFFD, which would store a name the client never sent.
pub fn lock_ref(req: &HttpRequest) -> Result<LockRef, ApiError> {
    let mut segments = req.uri().path().split('/');
    let raw = segments
        .by_ref()
        .find(|segment| *segment == "dlmlocks")
        .and_then(|_| segments.next())
        .unwrap_or_default();
    Ok(LockRef::parse(raw)?)
}

pub async fn show(
    req: HttpRequest,
    credentials: Credentials,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    handle(req, credentials, state, Action::Show).await
}

pub async fn acquire(
    req: HttpRequest,
    credentials: Credentials,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    handle(req, credentials, state, Action::Acquire).await
}

pub async fn release(
    req: HttpRequest,
    credentials: Credentials,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    handle(req, credentials, state, Action::Release).await
}

/// Lock requests carry no body (clients send none or `{}`); anything large is refused unread.
const MAX_LOCK_BODY_BYTES: u64 = 64 * 1024;

async fn handle(
    req: HttpRequest,
    credentials: Credentials,
    state: web::Data<AppState>,
    action: Action,
) -> Result<HttpResponse, ApiError> {
    let declared_length = req
        .headers()
        .get(actix_web::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared_length.is_some_and(|n| n > MAX_LOCK_BODY_BYTES) {
        return Err(ApiError::PayloadTooLarge);
    }
    let services = state.services.clone();
    let lock_ref = lock_ref(&req);
    let body = state
        .db
        .run(move |conn| -> Result<LockBody, ApiError> {
            match services.host_or_user(conn, &credentials)? {
                Caller::Host(host) => {
                    let lock_ref = lock_ref?;
                    let view = match action {
                        Action::Show => services.locks.show(conn, &lock_ref)?,
                        Action::Acquire => services.locks.acquire(conn, &host, &lock_ref)?,
                        Action::Release => services.locks.release(conn, &host, &lock_ref)?,
                    };
                    log::debug!("host {} {:?}", host.name, lock_ref.as_str());
                    let viewer = (action == Action::Show).then_some(&host);
                    Ok(LockBody::new(view, viewer))
                }
                Caller::User(user) => {
                    let needed = if action == Action::Show {
                        Permission::ViewLocks
                    } else {
                        Permission::EditLocks
                    };
                    services.require(conn, &user, needed)?;
                    if action != Action::Show {
                        return Err(ApiError::Forbidden {
                            missing_permission: None,
                            details: NEEDS_HOST_CERTIFICATE.into(),
                        });
                    }
                    Ok(LockBody::new(services.locks.show(conn, &lock_ref?)?, None))
                }
            }
        })
        .await?;
    Ok(HttpResponse::Ok().json(body))
}
