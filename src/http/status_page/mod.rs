//! The status page at `/dlm`: who holds which lock and since when, who is waiting, each lock's
//! policy and history, and the admin's buttons (release a holder, disable, enable).
//!
//! A Foreman user signs in with the same credentials, limits and permissions as the API
//! (`view_dlmlocks` to look, `edit_dlmlocks` for the buttons, `view_dlmlock_events` for the
//! history). The session lives in the database (`identity::sessions`); every form carries the
//! session's CSRF token. Pages are server-rendered and work without JavaScript.

mod actions;
mod halts;
mod pages;

use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::header::{self, ContentType, HeaderValue};
use actix_web::middleware::DefaultHeaders;
use actix_web::{body::BoxBody, web, HttpRequest, HttpResponse, ResponseError};
use maud::Markup;
use serde::Deserialize;

use super::caller::over_https;
use super::error::ApiError;
use super::AppState;
use crate::identity::sessions::Session;
use crate::identity::users::Permission;
use crate::locks::admin::{ListRequest, PerPage};
use crate::locks::LockRef;
use pages::Viewer;

const COOKIE: &str = "foreman_dlm_session";
/// Locks per page of the list: a site with many locks (or a host that created them) gets pages,
/// not one page as big as the table.
const LOCKS_PER_PAGE: i64 = 100;

/// History rows per page of a lock's page.
const EVENTS_PER_PAGE: i64 = 25;
/// Pages load only what they name: this stylesheet and script, from here.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'self'; script-src 'self'; \
     img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/dlm")
            .wrap(
                DefaultHeaders::new()
                    .add(("Content-Security-Policy", CONTENT_SECURITY_POLICY))
                    .add(("X-Content-Type-Options", "nosniff"))
                    .add(("Referrer-Policy", "same-origin"))
                    .add(("X-Frame-Options", "DENY")),
            )
            .route("", web::get().to(list))
            .route("/login", web::get().to(actions::login_form))
            .route("/login", web::post().to(actions::login))
            .route("/logout", web::post().to(actions::logout))
            .route("/halt-all", web::post().to(halts::halt_all))
            .route("/resume-all", web::post().to(halts::resume_all))
            .route("/locks/{id}", web::get().to(lock))
            .route(
                "/locks/{id}/holders/{host_id}/release",
                web::post().to(actions::release_holder),
            )
            .route("/locks/{id}/{switch}", web::post().to(actions::switch))
            .route("/static/style.css", web::get().to(style))
            .route("/static/refresh.js", web::get().to(script))
            .default_service(web::to(not_found)),
    );
}

/// An [`ApiError`] shown to a person: its status (and Retry-After) from the one mapping in
/// `error.rs`, as an HTML page instead of JSON.
#[derive(Debug)]
pub struct PageError {
    error: ApiError,
    signed_in: bool,
}

/// Whatever becomes an [`ApiError`] becomes a page.
impl<E> From<E> for PageError
where
    ApiError: From<E>,
{
    fn from(error: E) -> Self {
        PageError {
            error: ApiError::from(error),
            signed_in: true,
        }
    }
}

impl std::fmt::Display for PageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.error.fmt(f)
    }
}

impl ResponseError for PageError {
    fn status_code(&self) -> actix_web::http::StatusCode {
        self.error.status_code()
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.error.status_code();
        let markup = pages::problem(
            status.as_u16(),
            &self.error.message_for_people(),
            self.signed_in,
        );
        html_for_error(&self.error, markup)
    }
}

impl PageError {
    /// An error before anyone signed in: its page links to the sign-in form.
    fn anonymous(error: ApiError) -> PageError {
        PageError {
            error,
            signed_in: false,
        }
    }
}

/// `error`'s answer (status, Retry-After, the log line) with `markup` as its body.
fn html_for_error(error: &ApiError, markup: Markup) -> HttpResponse {
    let mut response = error
        .error_response()
        .set_body(BoxBody::new(markup.into_string()));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    response
}

/// Browsers say where a form came from (`Sec-Fetch-Site`); a form posted from another site is
/// refused before it is read, the sign-in form included (login CSRF). Clients that send no such
/// header (curl, scripts) are not browsers a page could misuse.
fn from_another_site(req: &HttpRequest) -> bool {
    req.headers()
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|site| !matches!(site, "same-origin" | "none"))
}

fn html(markup: Markup) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(ContentType::html())
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(markup.into_string())
}

fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location))
        .finish()
}

/// The session the request's cookie names, if it is still live; `extend`: see
/// `UserAuthenticator::session`.
async fn session(
    req: &HttpRequest,
    state: &AppState,
    extend: bool,
) -> Result<Option<Session>, ApiError> {
    match req.cookie(COOKIE) {
        Some(cookie) => Ok(state.services.users.session(cookie.value(), extend).await?),
        None => Ok(None),
    }
}

/// The session cookie: HttpOnly, only for /dlm, Secure whenever the browser came over HTTPS.
fn session_cookie<'a>(req: &HttpRequest, state: &AppState, token: String) -> Cookie<'a> {
    Cookie::build(COOKIE, token)
        .path("/dlm")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(over_https(req, state))
        .finish()
}

/// A page's viewer: the signed-in user, if they may view locks, with what else they may do.
async fn viewer<'a>(state: &AppState, session: &'a Session) -> Result<Viewer<'a>, ApiError> {
    state.require(&session.user, Permission::ViewLocks).await?;
    let users = &state.services.users;
    Ok(Viewer {
        login: &session.user.login,
        csrf: &session.csrf_token,
        can_edit: users
            .authorize(&session.user, Permission::EditLocks)
            .await?,
        can_read_events: users
            .authorize(&session.user, Permission::ViewLockEvents)
            .await?,
        now: crate::clock::test_now().unwrap_or_else(|| chrono::Utc::now().naive_utc()),
        stale_after: state.services.locks.stale_after(),
    })
}

#[derive(Deserialize)]
struct ListQuery {
    search: Option<String>,
    page: Option<String>,
    /// Set by refresh.js: the reload is not the person's activity.
    auto: Option<String>,
}

/// GET /dlm: every lock (or those the search finds), their holders and who waits.
async fn list(
    req: HttpRequest,
    query: web::Query<ListQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    let Some(session) = session(&req, &state, query.auto.is_none()).await? else {
        return Ok(see_other("/dlm/login"));
    };
    let viewer = viewer(&state, &session).await?;
    let search = query.search.as_deref().unwrap_or("").trim();
    let page = page_number(query.page.as_deref())?;
    let request = ListRequest {
        search: Some(search.to_string()).filter(|s| !s.is_empty()),
        order: Some("name".into()),
        page,
        per_page: PerPage::Count(LOCKS_PER_PAGE),
    };
    let locks = state.services.locks.list(&request).await?;
    let shown: Vec<i32> = locks.page.items.iter().map(|lock| lock.id).collect();
    let waiting = state.services.locks.waiting(&shown).await?;
    let fleet = state.services.locks.fleet_halt().await?;
    Ok(html(pages::list(
        &viewer,
        &pages::ListPage {
            locks: &locks.page,
            waiting: &waiting,
            fleet: fleet.as_ref(),
            search,
            page,
            per_page: LOCKS_PER_PAGE,
        },
    )))
}

/// `?page=N`: 1 when absent.
fn page_number(text: Option<&str>) -> Result<i64, ApiError> {
    match text {
        None => Ok(1),
        Some(text) => text
            .parse::<i64>()
            .ok()
            .filter(|n| (1..=1_000_000).contains(n))
            .ok_or_else(|| ApiError::BadRequest("page must be a positive number".into())),
    }
}

#[derive(Deserialize)]
struct LockQuery {
    page: Option<String>,
}

/// GET /dlm/locks/{id}: one lock, and its history for those who may read it.
async fn lock(
    req: HttpRequest,
    id: web::Path<String>,
    query: web::Query<LockQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    let Some(session) = session(&req, &state, true).await? else {
        return Ok(see_other("/dlm/login"));
    };
    let viewer = viewer(&state, &session).await?;
    let lock_ref = LockRef::parse(&id)?;
    let page = page_number(query.page.as_deref())?;
    let locks = &state.services.locks;
    let found = locks.show(&lock_ref).await?;
    let events = if viewer.can_read_events {
        let listed = locks
            .events(&lock_ref, true, page, PerPage::Count(EVENTS_PER_PAGE))
            .await?;
        Some(listed.page)
    } else {
        None
    };
    Ok(html(pages::lock(
        &viewer,
        &found,
        events.as_ref(),
        page,
        EVENTS_PER_PAGE,
    )))
}

async fn style() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "max-age=3600"))
        .body(include_str!("static/style.css"))
}

async fn script() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/javascript; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "max-age=3600"))
        .body(include_str!("static/refresh.js"))
}

async fn not_found() -> Result<HttpResponse, PageError> {
    Err(PageError {
        error: ApiError::RouteNotFound,
        signed_in: false,
    })
}
