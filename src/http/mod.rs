//! HTTP layer: routes, middleware and server start-up. Handlers live in one module per API area.
//!
//! Request path: `routes` → a handler in `lock_routes` (hosts) or `admin_routes` (Foreman users)
//! → `caller` / `identity` (certificate → host, Basic → user, permissions) → `locks` (domain) →
//! `storage` (SQL). Failures travel back as `ApiError`, mapped in `error.rs`.

pub mod admin_routes;
pub mod caller;
pub mod error;
pub mod lock_routes;
pub mod tls;
pub mod views;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::dev::Service;
use actix_web::middleware::{Condition, DefaultHeaders, Logger};
use actix_web::{web, App, HttpServer};

use crate::identity::users::UserAuthenticator;
use crate::identity::ClientCertAuthenticator;
use crate::locks::LockManager;
use crate::settings::Settings;
use crate::storage::Database;
use error::ApiError;

/// Everything a request handler needs, shared by all workers.
pub struct AppState {
    pub db: Database,
    pub services: Arc<Services>,
}

/// The request-independent parts of identity and the lock domain, used inside database closures.
pub struct Services {
    pub certificates: ClientCertAuthenticator,
    pub users: UserAuthenticator,
    pub locks: LockManager,
}

impl AppState {
    /// Loads the CA/CRL files and prepares (without opening) the database pool. A file that cannot
    /// be used is an error here, before the service listens.
    pub fn from_settings(settings: &Settings) -> Result<AppState, String> {
        let url = settings.database_url().map_err(|e| e.to_string())?;
        let certificates = ClientCertAuthenticator::from_settings(&settings.client_cert)
            .map_err(|e| e.to_string())?;
        Ok(AppState {
            db: Database::new(
                &url,
                settings.database.pool_size,
                Duration::from_secs(settings.database.connect_timeout_seconds),
            ),
            services: Arc::new(Services {
                certificates,
                users: UserAuthenticator::new(&settings.foreman.settings_yml),
                locks: LockManager::new(settings.locks.stale_time_hours),
            }),
        })
    }
}

/// The API routes, under both `/api/` and `/api/v2/` as in Foreman.
pub fn routes(cfg: &mut web::ServiceConfig) {
    for prefix in ["/api", "/api/v2"] {
        cfg.service(
            web::resource(format!("{prefix}/dlmlocks/{{id}}/lock"))
                .route(web::get().to(lock_routes::show))
                .route(web::put().to(lock_routes::acquire))
                .route(web::delete().to(lock_routes::release))
                .default_service(web::to(method_not_allowed)),
        );
        cfg.service(
            web::resource(format!("{prefix}/dlmlocks/{{id}}/dlmlock_events"))
                .route(web::get().to(admin_routes::events))
                .default_service(web::to(method_not_allowed)),
        );
        cfg.service(
            web::resource(format!("{prefix}/dlmlocks/{{id}}"))
                .route(web::get().to(lock_routes::show))
                .route(web::put().to(admin_routes::update))
                .route(web::patch().to(admin_routes::update))
                .route(web::delete().to(admin_routes::destroy))
                .default_service(web::to(method_not_allowed)),
        );
        cfg.service(
            web::resource(format!("{prefix}/dlmlocks"))
                .route(web::get().to(admin_routes::index))
                .route(web::post().to(admin_routes::create))
                .default_service(web::to(method_not_allowed)),
        );
    }
}

/// JSON bodies: at most 64 KiB, `Content-Type: application/json` required (Foreman answers 415
/// otherwise), and parse errors in Foreman's own shape.
fn json_config() -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(64 * 1024)
        .content_type_required(true)
        .error_handler(|error, _req| {
            use actix_web::error::JsonPayloadError;
            let api_error = match &error {
                JsonPayloadError::ContentType => ApiError::UnsupportedMediaType,
                JsonPayloadError::Overflow { .. }
                | JsonPayloadError::OverflowKnownLength { .. } => ApiError::PayloadTooLarge,
                JsonPayloadError::Deserialize(e) => ApiError::BadJson(e.to_string()),
                _ => ApiError::BadRequest("the request body could not be read".into()),
            };
            api_error.into()
        })
}

fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|_, _| {
        ApiError::BadRequest("the query string could not be parsed".into()).into()
    })
}

/// The path with repeated slashes squeezed and a trailing slash removed, when it needs that;
/// `None` for the usual path, which is then not touched at all.
fn squeezed_path(path: &str) -> Option<String> {
    if !path.contains("//") && (path.len() <= 1 || !path.ends_with('/')) {
        return None;
    }
    let mut squeezed = String::with_capacity(path.len());
    for c in path.chars() {
        if c == '/' && squeezed.ends_with('/') {
            continue;
        }
        squeezed.push(c);
    }
    while squeezed.len() > 1 && squeezed.ends_with('/') {
        squeezed.pop();
    }
    Some(squeezed)
}

async fn method_not_allowed() -> Result<actix_web::HttpResponse, ApiError> {
    Err(ApiError::MethodNotAllowed)
}

async fn route_not_found() -> Result<actix_web::HttpResponse, ApiError> {
    Err(ApiError::RouteNotFound)
}

/// The addresses a started server listens on.
#[derive(Debug, Clone)]
pub struct Listening {
    pub http: Vec<SocketAddr>,
    pub tls: Vec<SocketAddr>,
}

/// Binds the plain-HTTP listener (for Apache) and, when `[tls]` is configured, the direct TLS
/// listener; returns the server (not yet awaited) and where it listens.
pub fn start(settings: &Settings, state: AppState) -> Result<(Server, Listening), String> {
    let listen = settings
        .listen_addr()
        .map_err(|e| format!("http.listen: {e}"))?;
    let tls = match &settings.tls {
        Some(tls) => {
            let addr: SocketAddr = tls.listen.parse().map_err(|e| format!("tls.listen: {e}"))?;
            Some((addr, tls::acceptor(tls, &settings.client_cert.ca_files)?))
        }
        None => None,
    };
    start_on(
        listen,
        tls,
        settings.http.workers,
        settings.database.pool_size,
        state,
    )
}

pub fn start_on(
    listen: SocketAddr,
    tls: Option<(SocketAddr, openssl::ssl::SslAcceptorBuilder)>,
    workers: usize,
    pool_size: u32,
    state: AppState,
) -> Result<(Server, Listening), String> {
    let workers = if workers > 0 {
        workers
    } else {
        std::thread::available_parallelism().map_or(1, usize::from)
    };
    // Database work runs on blocking threads, and each needs one of `pool_size` connections:
    // more threads than that would only sit waiting on the pool (costing memory and context
    // switches); with this bound, excess requests queue as tasks instead.
    let blocking_threads = (pool_size as usize).div_ceil(workers).max(1) + 1;
    let state = web::Data::new(state);
    let log_requests = log::log_enabled!(log::Level::Info);
    let mut server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .app_data(json_config())
            .app_data(query_config())
            .wrap(DefaultHeaders::new().add(("Foreman_api_version", "2")))
            // `%a` is the TCP peer (the proxy), never a client-supplied X-Forwarded-For. Only
            // wrapped when it will print: it renders the request line for every request.
            .wrap(Condition::new(
                log_requests,
                Logger::new("%a \"%r\" %s %b %Dms"),
            ))
            // The plugin's updatelock script requests `/api/dlmlocks//NAME/lock`; Rails squeezes
            // the slashes, so must we.
            .wrap_fn(|mut req, srv| {
                if let Some(path) = squeezed_path(req.path()) {
                    let query = req.query_string();
                    let rewritten = if query.is_empty() {
                        path
                    } else {
                        format!("{path}?{query}")
                    };
                    if let Ok(uri) = rewritten.parse::<actix_web::http::Uri>() {
                        req.match_info_mut().get_mut().update(&uri);
                        req.head_mut().uri = uri;
                    }
                }
                srv.call(req)
            })
            .configure(routes)
            .default_service(web::to(route_not_found))
    })
    .on_connect(tls::record_peer_certificate)
    .client_request_timeout(Duration::from_secs(10))
    .client_disconnect_timeout(Duration::from_secs(2));
    server = server
        .workers(workers)
        .worker_max_blocking_threads(blocking_threads);
    server = server
        .bind(listen)
        .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
    let http = server.addrs();
    if let Some((tls_listen, acceptor)) = tls {
        server = server
            .bind_openssl(tls_listen, acceptor)
            .map_err(|e| format!("cannot listen on {tls_listen}: {e}"))?;
    }
    let tls = server.addrs().split_off(http.len());
    Ok((server.run(), Listening { http, tls }))
}

#[cfg(test)]
mod tests {
    use super::squeezed_path;

    #[test]
    fn slashes_are_squeezed_like_rails() {
        assert_eq!(squeezed_path("/api/dlmlocks/x/lock"), None);
        assert_eq!(squeezed_path("/"), None);
        assert_eq!(
            squeezed_path("/api/dlmlocks//x/lock").as_deref(),
            Some("/api/dlmlocks/x/lock")
        );
        assert_eq!(
            squeezed_path("//api///dlmlocks/x/lock/").as_deref(),
            Some("/api/dlmlocks/x/lock")
        );
        assert_eq!(
            squeezed_path("/api/dlmlocks/x/lock//").as_deref(),
            Some("/api/dlmlocks/x/lock")
        );
        assert_eq!(squeezed_path("//").as_deref(), Some("/"));
    }
}
