//! The host lock API: GET/PUT/DELETE `/api/dlmlocks/:id/lock` and GET `/api/dlmlocks/:id`.
//!
//! Order of checks, as in the plugin: identify the host (401), record its check-in, find the lock
//! (404, or auto-create for PUT/DELETE), then act (412 when refused).

use std::future::{ready, Ready};
use std::sync::Arc;

use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest, HttpResponse};

use super::error::ApiError;
use super::tls::TlsPeer;
use super::views::LockBody;
use super::AppState;
use crate::identity::{Credential, Host};
use crate::locks::{LockManager, LockRef, LockView};

/// The request's certificate credential, checked before any database work.
pub struct HostCredential(Credential);

impl FromRequest for HostCredential {
    type Error = ApiError;
    type Future = Ready<Result<HostCredential, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let result = match req.app_data::<web::Data<AppState>>() {
            // On the TLS listener only the handshake's certificate counts; elsewhere the
            // headers of a trusted proxy.
            Some(state) => Ok(HostCredential(match req.conn_data::<TlsPeer>() {
                Some(TlsPeer(cert)) => state
                    .authenticator
                    .credential_from_peer_certificate(cert.as_deref()),
                None => {
                    let peer = req.peer_addr().map(|a| a.ip());
                    state
                        .authenticator
                        .credential_from_headers(peer, req.headers())
                }
            })),
            None => Err(ApiError::Internal("application state missing".into())),
        };
        ready(result)
    }
}

/// The `:id` path segment, parsed into a lock reference (400 when it cannot name a lock).
///
/// Read from the raw URI rather than the router's match: the router already decodes most escapes
/// and replaces invalid UTF-8 with U+FFFD, which would store a name the client never sent.
fn lock_ref(req: &HttpRequest) -> Result<LockRef, ApiError> {
    let mut segments = req.uri().path().split('/');
    let raw = segments
        .by_ref()
        .find(|segment| *segment == "dlmlocks")
        .and_then(|_| segments.next())
        .unwrap_or_default();
    Ok(LockRef::parse(raw)?)
}

#[derive(Clone, Copy)]
enum HostAction {
    Show,
    Acquire,
    Release,
}

pub async fn show(
    req: HttpRequest,
    credential: HostCredential,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    handle(req, credential, state, HostAction::Show).await
}

pub async fn acquire(
    req: HttpRequest,
    credential: HostCredential,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    handle(req, credential, state, HostAction::Acquire).await
}

pub async fn release(
    req: HttpRequest,
    credential: HostCredential,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    handle(req, credential, state, HostAction::Release).await
}

async fn handle(
    req: HttpRequest,
    HostCredential(credential): HostCredential,
    state: web::Data<AppState>,
    action: HostAction,
) -> Result<HttpResponse, ApiError> {
    let subject = match credential {
        Credential::Verified { subject } => subject,
        Credential::Missing { reason } => {
            log::info!(
                "{} {}: no host identity ({reason})",
                req.method(),
                req.path()
            );
            return Err(ApiError::Unauthorized { login: None });
        }
    };
    let lock_ref = lock_ref(&req)?;
    let locks: Arc<LockManager> = state.locks.clone();
    let authenticator = state.authenticator.clone();
    let (host, view) = state
        .db
        .run(move |conn| -> Result<(Host, LockView), HostRequestError> {
            let host = authenticator
                .find_host(conn, &subject)?
                .ok_or(HostRequestError::UnknownHost(subject))?;
            locks.record_checkin(conn, &host)?;
            let view = match action {
                HostAction::Show => locks.show(conn, &lock_ref)?,
                HostAction::Acquire => locks.acquire(conn, &host, &lock_ref)?,
                HostAction::Release => locks.release(conn, &host, &lock_ref)?,
            };
            Ok((host, view))
        })
        .await
        .map_err(|e| match e {
            HostRequestError::UnknownHost(subject) => {
                log::info!(
                    "{} {}: certificate {subject:?} matches no host",
                    req.method(),
                    req.path()
                );
                ApiError::Unauthorized {
                    login: Some(subject),
                }
            }
            HostRequestError::Lock(e) => ApiError::from(e),
        })?;
    log::debug!("{} {} by host {}", req.method(), req.path(), host.name);
    let viewer = matches!(action, HostAction::Show).then_some(&host);
    Ok(HttpResponse::Ok().json(LockBody::new(view, viewer)))
}

/// Failures of one host request's database work.
enum HostRequestError {
    UnknownHost(String),
    Lock(crate::locks::LockError),
}

impl From<crate::locks::LockError> for HostRequestError {
    fn from(e: crate::locks::LockError) -> Self {
        HostRequestError::Lock(e)
    }
}

impl From<crate::storage::StorageError> for HostRequestError {
    fn from(e: crate::storage::StorageError) -> Self {
        HostRequestError::Lock(e.into())
    }
}

impl crate::storage::StorageFailure for HostRequestError {
    fn storage_error(&self) -> Option<&crate::storage::StorageError> {
        match self {
            HostRequestError::Lock(e) => e.storage_error(),
            HostRequestError::UnknownHost(_) => None,
        }
    }
}
