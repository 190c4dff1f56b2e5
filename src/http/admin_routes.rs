//! The plugin's admin API for Foreman users: index, create, update, destroy, and the event log.

use actix_web::{web, HttpRequest, HttpResponse};
use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::caller::Credentials;
use super::error::ApiError;
use super::lock_routes::lock_ref;
use super::views::{foreman_time, LockBody};
use super::AppState;
use crate::identity::users::Permission;
use crate::locks::admin::{ListRequest, NewLock};
use crate::storage::foreman_settings;
use crate::storage::locks::{EventRow, LockChanges};

/// `page`, `per_page`, `search` and `order`, as Foreman's index actions take them.
#[derive(Debug, Deserialize)]
pub struct IndexParams {
    search: Option<String>,
    order: Option<String>,
    page: Option<String>,
    per_page: Option<String>,
}

/// Foreman's list envelope (app/views/api/v2/layouts/index_layout).
#[derive(Serialize)]
struct ListEnvelope<T: Serialize> {
    total: i64,
    subtotal: i64,
    page: i64,
    per_page: i64,
    search: Option<String>,
    sort: SortBody,
    results: Vec<T>,
}

#[derive(Serialize)]
struct SortBody {
    by: Option<String>,
    order: Option<String>,
}

/// `page` and `per_page` as sent; resolved once Foreman's default page size is known.
#[derive(Debug, Clone)]
struct PageParams {
    page: Option<String>,
    per_page: Option<String>,
}

impl PageParams {
    /// (page, per_page; None = all). Foreman's default page size is its `entries_per_page` setting.
    fn resolve(&self, default_per_page: i64) -> Result<(i64, Option<i64>), ApiError> {
        let page = match self.page.as_deref() {
            None | Some("") => 1,
            Some(text) => text
                .parse::<i64>()
                .ok()
                .filter(|n| (1..=1_000_000_000).contains(n))
                .ok_or_else(|| ApiError::BadRequest("page must be a positive integer".into()))?,
        };
        let per_page = match self.per_page.as_deref() {
            None | Some("") => Some(default_per_page),
            Some("all") => None,
            Some(text) => Some(
                text.parse::<i64>()
                    .ok()
                    .filter(|n| (1..=1_000_000_000).contains(n))
                    .ok_or_else(|| {
                        ApiError::BadRequest("per_page must be a positive integer or 'all'".into())
                    })?,
            ),
        };
        Ok((page, per_page))
    }
}

impl IndexParams {
    fn paging(&self) -> PageParams {
        PageParams {
            page: self.page.clone(),
            per_page: self.per_page.clone(),
        }
    }

    fn sort(&self) -> SortBody {
        let mut words = self.order.as_deref().unwrap_or_default().split_whitespace();
        let by = words.next().map(str::to_string);
        let order = by.as_ref().map(|_| {
            words
                .next()
                .map_or("ASC".to_string(), str::to_ascii_uppercase)
        });
        SortBody { by, order }
    }

    fn search(&self) -> Option<String> {
        self.search.clone().filter(|s| !s.trim().is_empty())
    }
}

fn envelope<T: Serialize>(
    params: &IndexParams,
    page: i64,
    per_page: Option<i64>,
    total: i64,
    results: Vec<T>,
) -> HttpResponse {
    HttpResponse::Ok().json(ListEnvelope {
        // The plugin reports the searched count as total, like subtotal.
        total,
        subtotal: total,
        page,
        per_page: per_page.unwrap_or(total),
        search: params.search(),
        sort: params.sort(),
        results,
    })
}

/// GET /api/dlmlocks
pub async fn index(
    credentials: Credentials,
    params: web::Query<IndexParams>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let services = state.services.clone();
    let params = params.into_inner();
    let search = params.search();
    let order = params.order.clone();
    let paging = params.paging();
    let (page, per_page, total, results) = state
        .db
        .run(move |conn| -> Result<_, ApiError> {
            services.user_with(conn, &credentials, Permission::ViewLocks)?;
            let (page, per_page) = paging.resolve(foreman_settings::entries_per_page(conn)?)?;
            let request = ListRequest {
                search,
                order,
                page,
                per_page,
            };
            let listed = services.locks.list(conn, &request)?;
            let results: Vec<LockBody> = listed
                .locks
                .into_iter()
                .map(|l| LockBody::new(l, None))
                .collect();
            Ok((page, per_page, listed.total, results))
        })
        .await?;
    Ok(envelope(&params, page, per_page, total, results))
}

/// The lock attributes of a create/update body: `{"dlmlock": {…}}`, or the fields at the top level
/// (Rails' wrap_parameters accepts both).
fn lock_attributes(body: Value) -> Result<Map<String, Value>, ApiError> {
    let mut object = match body {
        Value::Object(object) => object,
        _ => {
            return Err(ApiError::BadRequest(
                "the request body must be a JSON object".into(),
            ))
        }
    };
    match object.remove("dlmlock") {
        Some(Value::Object(inner)) => Ok(inner),
        Some(_) => Err(ApiError::BadRequest("dlmlock must be a JSON object".into())),
        None => Ok(object),
    }
}

type FieldResult<T> = Result<T, (&'static str, String)>;

/// Absent → None; null → Some(None); text → Some(Some(text)).
fn text_field(
    attributes: &Map<String, Value>,
    field: &'static str,
) -> FieldResult<Option<Option<String>>> {
    match attributes.get(field) {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(None)),
        Some(Value::String(text)) => Ok(Some(Some(text.clone()))),
        Some(_) => Err((field, "must be a string".into())),
    }
}

/// Rails' boolean casting: true/false, "true"/"false", "1"/"0", 1/0.
fn bool_field(attributes: &Map<String, Value>, field: &'static str) -> FieldResult<Option<bool>> {
    match attributes.get(field) {
        None => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(Value::Number(n)) if n.as_i64() == Some(1) => Ok(Some(true)),
        Some(Value::Number(n)) if n.as_i64() == Some(0) => Ok(Some(false)),
        Some(Value::String(s)) => match s.to_ascii_lowercase().as_str() {
            "true" | "t" | "1" | "yes" | "on" => Ok(Some(true)),
            "false" | "f" | "0" | "no" | "off" => Ok(Some(false)),
            _ => Err((field, "must be true or false".into())),
        },
        Some(_) => Err((field, "must be true or false".into())),
    }
}

/// A host id, its digits as text, or null/"" for no host.
fn host_id_field(attributes: &Map<String, Value>) -> FieldResult<Option<Option<i32>>> {
    let invalid = || ("host_id", "must be a host id or null".to_string());
    match attributes.get("host_id") {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(None)),
        Some(Value::String(s)) if s.is_empty() => Ok(Some(None)),
        Some(Value::String(s)) => s
            .parse::<i32>()
            .map(|n| Some(Some(n)))
            .map_err(|_| invalid()),
        Some(Value::Number(n)) => n
            .as_i64()
            .and_then(|n| i32::try_from(n).ok())
            .map(|n| Some(Some(n)))
            .ok_or_else(invalid),
        Some(_) => Err(invalid()),
    }
}

fn unprocessable(id: Option<i32>) -> impl Fn((&'static str, String)) -> ApiError {
    move |(field, message)| ApiError::Unprocessable {
        id,
        errors: vec![(field, message)],
    }
}

/// POST /api/dlmlocks → 201
pub async fn create(
    credentials: Credentials,
    body: web::Json<Value>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let services = state.services.clone();
    let attributes = lock_attributes(body.into_inner())?;
    let created = state
        .db
        .run(move |conn| -> Result<LockBody, ApiError> {
            let user = services.user_with(conn, &credentials, Permission::CreateLocks)?;
            let invalid = unprocessable(None);
            let new = NewLock {
                name: text_field(&attributes, "name").map_err(&invalid)?.flatten(),
                lock_type: text_field(&attributes, "type").map_err(&invalid)?.flatten(),
                enabled: bool_field(&attributes, "enabled").map_err(&invalid)?,
            };
            let view = services.locks.create(conn, new)?;
            log::info!("user {:?} created lock {:?}", user.login, view.lock.name);
            Ok(LockBody::new(view, None))
        })
        .await?;
    Ok(HttpResponse::Created().json(created))
}

/// PUT /api/dlmlocks/:id — name, type, host_id (null = force release), enabled.
pub async fn update(
    req: HttpRequest,
    credentials: Credentials,
    body: web::Json<Value>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let services = state.services.clone();
    let attributes = lock_attributes(body.into_inner())?;
    let lock_ref = lock_ref(&req);
    let updated = state
        .db
        .run(move |conn| -> Result<LockBody, ApiError> {
            let user = services.user_with(conn, &credentials, Permission::EditLocks)?;
            let lock_ref = lock_ref?;
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
            };
            let view = services.locks.update(conn, &lock_ref, changes, user.id)?;
            log::info!("user {:?} updated lock {:?}", user.login, view.lock.name);
            Ok(LockBody::new(view, None))
        })
        .await?;
    Ok(HttpResponse::Ok().json(updated))
}

/// DELETE /api/dlmlocks/:id — the lock and its events.
pub async fn destroy(
    req: HttpRequest,
    credentials: Credentials,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let services = state.services.clone();
    let lock_ref = lock_ref(&req);
    let deleted = state
        .db
        .run(move |conn| -> Result<LockBody, ApiError> {
            let user = services.user_with(conn, &credentials, Permission::DestroyLocks)?;
            let view = services.locks.destroy(conn, &lock_ref?)?;
            log::info!("user {:?} deleted lock {:?}", user.login, view.lock.name);
            Ok(LockBody::new(view, None))
        })
        .await?;
    Ok(HttpResponse::Ok().json(deleted))
}

/// The plugin's event view (id, event_type, timestamps) plus who: host and user ids.
#[derive(Serialize)]
struct EventBody {
    id: i64,
    event_type: Option<String>,
    host_id: Option<i32>,
    user_id: Option<i32>,
    #[serde(serialize_with = "foreman_time")]
    created_at: Option<NaiveDateTime>,
    #[serde(serialize_with = "foreman_time")]
    updated_at: Option<NaiveDateTime>,
}

impl From<EventRow> for EventBody {
    fn from(e: EventRow) -> Self {
        EventBody {
            id: e.id,
            event_type: e.event_type,
            host_id: e.host_id,
            user_id: e.user_id,
            created_at: Some(e.created_at),
            updated_at: Some(e.updated_at),
        }
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
    let services = state.services.clone();
    let params = params.into_inner();
    let newest_first = match params.order.as_deref().map(str::trim) {
        None | Some("") => false,
        Some(order) => {
            let mut words = order.split_whitespace();
            let field_ok = matches!(words.next(), Some("id" | "created_at"));
            match (
                field_ok,
                words.next().map(str::to_ascii_uppercase).as_deref(),
                words.next(),
            ) {
                (true, None | Some("ASC"), None) => false,
                (true, Some("DESC"), None) => true,
                _ => {
                    return Err(ApiError::BadRequest(
                        "events can be ordered by 'id' or 'created_at', ASC or DESC".into(),
                    ))
                }
            }
        }
    };
    if params.search().is_some() {
        return Err(ApiError::BadRequest("events cannot be searched".into()));
    }
    let lock_ref = lock_ref(&req);
    let paging = params.paging();
    let (page, per_page, total, results) = state
        .db
        .run(move |conn| -> Result<_, ApiError> {
            services.user_with(conn, &credentials, Permission::ViewLockEvents)?;
            let (page, per_page) = paging.resolve(foreman_settings::entries_per_page(conn)?)?;
            let listed = services
                .locks
                .events(conn, &lock_ref?, newest_first, page, per_page)?;
            let results: Vec<EventBody> = listed.events.into_iter().map(EventBody::from).collect();
            Ok((page, per_page, listed.total, results))
        })
        .await?;
    Ok(envelope(&params, page, per_page, total, results))
}
