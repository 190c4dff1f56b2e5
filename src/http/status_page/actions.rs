//! The status page's forms: sign in, sign out, release a holder, disable and enable a lock
//! (halting is in `halts`).
//!
//! Every form but the sign-in needs a live session and its CSRF token; a form without them
//! changes nothing and is answered 403. Bodies are small and read within the body timeout.

use actix_web::cookie::Cookie;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::de::DeserializeOwned;
use serde::Deserialize;

use super::{
    from_another_site, html, html_for_error, pages, see_other, session, session_cookie, PageError,
    COOKIE,
};
use crate::http::caller::Credentials;
use crate::http::error::ApiError;
use crate::http::params::read_body;
use crate::http::AppState;
use crate::identity::sessions::Session;
use crate::identity::users::{BasicCredentials, Permission};
use crate::locks::model::LockChanges;
use crate::locks::LockRef;

/// A form here holds a login and a password, or a token and a place to go back to.
const MAX_FORM_BYTES: usize = 8 * 1024;

async fn read_form<T: DeserializeOwned>(
    req: &HttpRequest,
    payload: web::Payload,
    state: &AppState,
) -> Result<T, ApiError> {
    if from_another_site(req) {
        return Err(ApiError::Forbidden {
            missing_permission: None,
            details: "this form was sent from another site".into(),
        });
    }
    let body = read_body(payload, state.body_timeout, MAX_FORM_BYTES).await?;
    serde_urlencoded::from_bytes(&body)
        .map_err(|_| ApiError::BadRequest("the form could not be read".into()))
}

fn csrf_refused() -> ApiError {
    ApiError::Forbidden {
        missing_permission: None,
        details: "this form has expired; reload the page and try again".into(),
    }
}

fn signed_out() -> PageError {
    PageError::anonymous(ApiError::Forbidden {
        missing_permission: None,
        details: "your session has ended; sign in again".into(),
    })
}

/// A signed-in user's form: refused before its body is read when the browser sends no session
/// cookie, then read, and accepted only with that session's CSRF token.
pub(super) async fn signed_form(
    req: &HttpRequest,
    payload: web::Payload,
    state: &AppState,
) -> Result<(TokenForm, Session), PageError> {
    if req.cookie(COOKIE).is_none() {
        return Err(signed_out());
    }
    let form: TokenForm = read_form(req, payload, state).await?;
    let session = session(req, state, true).await?.ok_or_else(signed_out)?;
    if !session.csrf_matches(&form.csrf) {
        log::warn!(
            "status page form from user {:?} without its CSRF token",
            session.user.login
        );
        return Err(csrf_refused().into());
    }
    Ok((form, session))
}

/// Where a form came from: the list or a lock's page; nothing else (no open redirect).
pub(super) fn back_to(back: Option<&str>, lock_id: i32) -> String {
    match back {
        Some(back) if back == format!("lock:{lock_id}") => format!("/dlm/locks/{lock_id}"),
        _ => "/dlm".to_string(),
    }
}

/// GET /dlm/login
pub async fn login_form(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    // Already signed in: straight to the locks.
    if let Ok(Some(_)) = session(&req, &state, true).await {
        return see_other("/dlm");
    }
    html(pages::login(None, ""))
}

#[derive(Deserialize)]
pub struct LoginForm {
    login: String,
    password: String,
}

/// POST /dlm/login: the API's login (password or personal access token, same limits), and
/// `view_dlmlocks`; then a new session.
pub async fn login(
    req: HttpRequest,
    credentials: Credentials,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    let form: LoginForm = read_form(&req, payload, &state)
        .await
        .map_err(PageError::anonymous)?;
    // The form again with the API's message, and its status and Retry-After.
    let refused = |error: ApiError| -> Result<HttpResponse, PageError> {
        let markup = pages::login(Some(&error.message_for_people()), &form.login);
        Ok(html_for_error(&error, markup))
    };
    let basic = match BasicCredentials::new(&form.login, &form.password) {
        Ok(basic) => basic,
        Err(malformed) => return refused(malformed.into()),
    };
    let user = match state.login(&basic, credentials.client).await {
        Ok(user) => user,
        Err(error) => return refused(error),
    };
    if let Err(error) = state.require(&user, Permission::ViewLocks).await {
        return refused(error);
    }
    // Signing in again replaces the session the browser had.
    if let Some(old) = req.cookie(COOKIE) {
        state.services.users.end_session(old.value()).await?;
    }
    let (token, _) = state.services.users.start_session(&user).await?;
    log::info!("user {:?} signed in to the status page", user.login);
    let mut response = see_other("/dlm");
    response
        .add_cookie(&session_cookie(&req, &state, token))
        .map_err(|e| ApiError::Internal(format!("cannot set the session cookie: {e}")))?;
    Ok(response)
}

#[derive(Deserialize)]
pub struct TokenForm {
    #[serde(default)]
    csrf: String,
    pub back: Option<String>,
    /// A halt's reason.
    pub reason: Option<String>,
}

/// POST /dlm/logout: the session row goes, so the cookie is worthless even if kept.
pub async fn logout(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    signed_form(&req, payload, &state).await?;
    if let Some(cookie) = req.cookie(COOKIE) {
        state.services.users.end_session(cookie.value()).await?;
    }
    let mut response = see_other("/dlm/login");
    let mut gone = Cookie::build(COOKIE, "").path("/dlm").finish();
    gone.make_removal();
    response
        .add_cookie(&gone)
        .map_err(|e| ApiError::Internal(format!("cannot clear the session cookie: {e}")))?;
    Ok(response)
}

/// POST /dlm/locks/{id}/holders/{host_id}/release
pub async fn release_holder(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    let (form, session) = signed_form(&req, payload, &state).await?;
    state.require(&session.user, Permission::EditLocks).await?;
    let (id, host_id) = path.into_inner();
    let lock = LockRef::parse(&id)?;
    let host_id: i32 = host_id.parse().map_err(|_| ApiError::NotFound {
        id: format!("holder {host_id}"),
    })?;
    let released = state
        .services
        .locks
        .release_holder(&lock, host_id, session.user.id)
        .await?;
    log::info!(
        "user {:?} released host {host_id} from lock {:?} on the status page",
        session.user.login,
        released.name
    );
    Ok(see_other(&back_to(form.back.as_deref(), released.id)))
}

/// POST /dlm/locks/{id}/disable and /enable: a disabled lock refuses every host; /halt and
/// /resume: a halted lock takes no new holder (see `halts`).
pub async fn switch(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    let (id, switch) = path.into_inner();
    let enabled = match switch.as_str() {
        "enable" => true,
        "disable" => false,
        "halt" | "resume" => {
            return super::halts::lock_switch(req, id, switch == "halt", payload, state).await
        }
        _ => return Err(ApiError::RouteNotFound.into()),
    };
    let (form, session) = signed_form(&req, payload, &state).await?;
    state.require(&session.user, Permission::EditLocks).await?;
    let lock = LockRef::parse(&id)?;
    let changes = LockChanges {
        enabled: Some(enabled),
        ..LockChanges::default()
    };
    let updated = state
        .services
        .locks
        .update(&lock, changes, session.user.id)
        .await?;
    log::info!(
        "user {:?} {switch}d lock {:?} on the status page",
        session.user.login,
        updated.name
    );
    Ok(see_other(&back_to(form.back.as_deref(), updated.id)))
}
