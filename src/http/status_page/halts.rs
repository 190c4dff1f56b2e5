//! Halting and resuming on the status page: one lock (on its row and its page), or every lock
//! at once ("Halt all updates" above the list). Same rules and permission (`edit_dlmlocks`) as
//! the admin API and the command line.

use actix_web::{web, HttpRequest, HttpResponse};
use maud::{html, Markup};

use super::actions::{back_to, signed_form};
use super::pages::{utc, Viewer};
use super::{see_other, PageError};
use crate::http::AppState;
use crate::identity::users::Permission;
use crate::locks::model::{Halt, Lock, MAX_HALT_REASON_CHARS};
use crate::locks::name::printable;

/// A lock's halt and its reason, with the button that resumes it; else the form that halts it.
pub fn lock_control(viewer: &Viewer<'_>, lock: &Lock, back: &str) -> Markup {
    html! {
        @if let Some(halt) = &lock.halt {
            div.halted role="status" {
                strong { "halted" } " since " (utc(halt.halted_at)) ": " (printable(&halt.reason))
                @if halt.fleet { " " span.muted { "(every lock is halted)" } }
            }
            @if viewer.can_edit && !halt.fleet {
                form.inline method="post" action=(format!("/dlm/locks/{}/resume", lock.id)) {
                    input type="hidden" name="csrf" value=(viewer.csrf);
                    input type="hidden" name="back" value=(back);
                    button type="submit" aria-label=(format!("Resume {}", printable(&lock.name))) {
                        "Resume"
                    }
                }
            }
        } @else if viewer.can_edit {
            form.inline method="post" action=(format!("/dlm/locks/{}/halt", lock.id)) {
                input type="hidden" name="csrf" value=(viewer.csrf);
                input type="hidden" name="back" value=(back);
                input type="text" name="reason" required maxlength=(MAX_HALT_REASON_CHARS)
                    placeholder="why"
                    aria-label=(format!("Why halt {}", printable(&lock.name)));
                button type="submit" aria-label=(format!("Halt {}", printable(&lock.name))) {
                    "Halt"
                }
            }
        }
    }
}

/// Above the list: the fleet-wide halt and Resume all updates, or Halt all updates.
pub fn fleet_control(viewer: &Viewer<'_>, fleet: Option<&Halt>) -> Markup {
    html! {
        @if let Some(halt) = fleet {
            section.halted role="alert" {
                p {
                    strong { "Every lock is halted" } " since " (utc(halt.halted_at)) ": "
                    (printable(&halt.reason))
                }
                @if viewer.can_edit {
                    form.inline method="post" action="/dlm/resume-all" {
                        input type="hidden" name="csrf" value=(viewer.csrf);
                        button type="submit" { "Resume all updates" }
                        " " span.muted { "(locks halted on their own stay halted)" }
                    }
                }
            }
        } @else if viewer.can_edit {
            form method="post" action="/dlm/halt-all" {
                input type="hidden" name="csrf" value=(viewer.csrf);
                label for="halt-all-reason" { "Stop every new update, with a reason" }
                input #halt-all-reason type="text" name="reason" required
                    maxlength=(MAX_HALT_REASON_CHARS);
                " " button type="submit" { "Halt all updates" }
            }
        }
    }
}

/// POST /dlm/halt-all
pub async fn halt_all(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    let (form, session) = signed_form(&req, payload, &state).await?;
    state.require(&session.user, Permission::EditLocks).await?;
    let reason = form.reason.unwrap_or_default();
    state
        .services
        .locks
        .halt_all(reason.trim(), Some(session.user.id))
        .await?;
    log::warn!(
        "user {:?} halted every lock on the status page: {reason:?}",
        session.user.login
    );
    Ok(see_other("/dlm"))
}

/// POST /dlm/resume-all: the fleet-wide halt; locks halted on their own stay halted.
pub async fn resume_all(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    let (_, session) = signed_form(&req, payload, &state).await?;
    state.require(&session.user, Permission::EditLocks).await?;
    let lifted = state
        .services
        .locks
        .resume_all(Some(session.user.id))
        .await?;
    if lifted {
        log::warn!(
            "user {:?} lifted the halt of every lock on the status page",
            session.user.login
        );
    }
    Ok(see_other("/dlm"))
}

/// POST /dlm/locks/{id}/halt and /resume.
pub async fn lock_switch(
    req: HttpRequest,
    id: String,
    halt: bool,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    let (form, session) = signed_form(&req, payload, &state).await?;
    state.require(&session.user, Permission::EditLocks).await?;
    let lock = crate::locks::LockRef::parse(&id)?;
    let locks = &state.services.locks;
    let user = Some(session.user.id);
    let changed = if halt {
        let reason = form.reason.clone().unwrap_or_default();
        locks.halt_lock(&lock, reason.trim(), user).await?
    } else {
        locks.resume_lock(&lock, user).await?
    };
    log::info!(
        "user {:?} {} lock {:?} on the status page",
        session.user.login,
        if halt { "halted" } else { "resumed" },
        changed.name
    );
    Ok(see_other(&back_to(form.back.as_deref(), changed.id)))
}
