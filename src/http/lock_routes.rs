//! GET/PUT/DELETE `/api/dlmlocks/:id/lock` and GET `/api/dlmlocks/:id`: show, acquire, release.
//!
//! Hosts (by certificate) may do all three. Foreman users may show (`view_dlmlocks`); taking or
//! giving back a lock needs a host, so a user gets 403 (after the `edit_dlmlocks` check, as in
//! the plugin). These routes take no body: one is never read, so a client trickling a body holds
//! nothing, and a large one is refused.

use actix_web::http::header::{CONTENT_LENGTH, TRANSFER_ENCODING};
use actix_web::{web, HttpRequest, HttpResponse};

use super::caller::{display_address, Credentials};
use super::error::{ApiError, NEEDS_HOST_CERTIFICATE};
use super::views::LockBody;
use super::AppState;
use crate::identity::users::Permission;
use crate::identity::Credential;
use crate::locks::{HostAnswer, HostOutcome, LockError, LockRef};
use crate::metrics::Operation;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Action {
    Show,
    Acquire,
    Release,
}

/// The most a lock request's (ignored) body may announce: clients send none, or `{}`.
const MAX_IGNORED_BODY_BYTES: u64 = 1024;

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

/// Refuses a body on a route that takes none, before anything else happens.
pub fn refuse_body(req: &HttpRequest) -> Result<(), ApiError> {
    if req.headers().contains_key(TRANSFER_ENCODING) {
        return Err(ApiError::PayloadTooLarge);
    }
    let declared = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_IGNORED_BODY_BYTES) {
        return Err(ApiError::PayloadTooLarge);
    }
    Ok(())
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

async fn handle(
    req: HttpRequest,
    mut credentials: Credentials,
    state: web::Data<AppState>,
    action: Action,
) -> Result<HttpResponse, ApiError> {
    refuse_body(&req)?;
    let lock = lock_ref(&req)?;
    let locks = &state.services.locks;
    let metrics = &state.services.metrics;
    let operation = match action {
        Action::Show => Operation::Show,
        Action::Acquire => Operation::Acquire,
        Action::Release => Operation::Release,
    };
    let unknown_subject = match credentials.certificate(&state).await? {
        Credential::Verified(certificate) => {
            let answer = match action {
                Action::Show => locks.show_for_host(&certificate, &lock).await,
                Action::Acquire => locks.acquire(&certificate, &lock).await,
                Action::Release => locks.release(&certificate, &lock).await,
            };
            metrics.lock_request(operation, outcome_of(&answer));
            match answer {
                Ok(answer) => {
                    log::debug!("host {} {action:?} {:?}", answer.caller.name, lock.as_str());
                    let viewer = (action == Action::Show).then_some(&answer.caller);
                    return Ok(HttpResponse::Ok().json(LockBody::new(answer.lock, viewer)));
                }
                Err(LockError::UnknownHost { subject }) => {
                    log::info!(
                        "certificate {subject:?} from {} matches no host",
                        display_address(credentials.client)
                    );
                    Some(subject)
                }
                Err(e) => return Err(e.into()),
            }
        }
        Credential::Missing { reason } => {
            if !credentials.has_login() {
                log::info!(
                    "request from {} without identity ({reason})",
                    display_address(credentials.client)
                );
                metrics.lock_request(operation, "unauthenticated");
            }
            None
        }
    };
    // Boxed: a user on these routes is rare, and its login's future would otherwise make every
    // host request's future (allocated per request) as large as itself.
    Box::pin(as_user(
        &state,
        &credentials,
        unknown_subject,
        action,
        &lock,
    ))
    .await
}

/// The `outcome` label of a host's request: what happened, or why not.
fn outcome_of(answer: &Result<HostAnswer, LockError>) -> &'static str {
    match answer {
        // A show that was answered counts as granted.
        Ok(answer) => match answer.outcome {
            HostOutcome::Shown | HostOutcome::Granted => "granted",
            HostOutcome::Refreshed => "refreshed",
            HostOutcome::Released | HostOutcome::NotHeld => "released",
        },
        Err(LockError::PreconditionFailed { refusal, .. }) => refusal.reason(),
        Err(LockError::TooManyCreated { .. }) => "too_many_created",
        Err(LockError::UnknownHost { .. }) => "unauthenticated",
        Err(_) => "error",
    }
}

async fn as_user(
    state: &AppState,
    credentials: &Credentials,
    unknown_subject: Option<String>,
    action: Action,
    lock: &LockRef,
) -> Result<HttpResponse, ApiError> {
    let user = state.user(credentials, unknown_subject).await?;
    let needed = if action == Action::Show {
        Permission::ViewLocks
    } else {
        Permission::EditLocks
    };
    state.require(&user, needed).await?;
    if action != Action::Show {
        return Err(ApiError::Forbidden {
            missing_permission: None,
            details: NEEDS_HOST_CERTIFICATE.into(),
        });
    }
    let shown = state.services.locks.show(lock).await?;
    Ok(HttpResponse::Ok().json(LockBody::new(shown, None)))
}
