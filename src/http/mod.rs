//! HTTP layer: routes, middleware and server start-up. Handlers live in one module per API area.
//!
//! Request path: `routes` → `host_locks` handler → `identity` (certificate → host) → `locks`
//! (domain) → `storage` (SQL). Failures travel back as `ApiError`, mapped in `error.rs`.

pub mod error;
pub mod host_locks;
pub mod tls;
pub mod views;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::middleware::{DefaultHeaders, Logger, NormalizePath, TrailingSlash};
use actix_web::{web, App, HttpServer};

use crate::identity::ClientCertAuthenticator;
use crate::locks::LockManager;
use crate::settings::Settings;
use crate::storage::Database;
use error::ApiError;

/// Everything a request handler needs, shared by all workers.
pub struct AppState {
    pub db: Database,
    pub authenticator: Arc<ClientCertAuthenticator>,
    pub locks: Arc<LockManager>,
}

impl AppState {
    /// Loads the CA/CRL files and prepares (without opening) the database pool. A file that cannot
    /// be used is an error here, before the service listens.
    pub fn from_settings(settings: &Settings) -> Result<AppState, String> {
        let url = settings.database_url().map_err(|e| e.to_string())?;
        let authenticator = ClientCertAuthenticator::from_settings(&settings.client_cert)
            .map_err(|e| e.to_string())?;
        Ok(AppState {
            db: Database::new(
                &url,
                settings.database.pool_size,
                Duration::from_secs(settings.database.connect_timeout_seconds),
            ),
            authenticator: Arc::new(authenticator),
            locks: Arc::new(LockManager::new()),
        })
    }
}

/// The API routes, under both `/api/` and `/api/v2/` as in Foreman.
pub fn routes(cfg: &mut web::ServiceConfig) {
    for prefix in ["/api", "/api/v2"] {
        cfg.service(
            web::resource(format!("{prefix}/dlmlocks/{{id}}/lock"))
                .route(web::get().to(host_locks::show))
                .route(web::put().to(host_locks::acquire))
                .route(web::delete().to(host_locks::release))
                .default_service(web::to(method_not_allowed)),
        );
        cfg.service(
            web::resource(format!("{prefix}/dlmlocks/{{id}}"))
                .route(web::get().to(host_locks::show))
                .route(web::put().to(user_only))
                .route(web::delete().to(user_only))
                .default_service(web::to(method_not_allowed)),
        );
        cfg.service(
            web::resource(format!("{prefix}/dlmlocks"))
                .route(web::get().to(user_only))
                .route(web::post().to(user_only))
                .default_service(web::to(method_not_allowed)),
        );
        cfg.service(
            web::resource(format!("{prefix}/dlmlocks/{{id}}/dlmlock_events"))
                .route(web::get().to(user_only))
                .default_service(web::to(method_not_allowed)),
        );
    }
}

/// Routes the plugin reserves for Foreman users. A host certificate does not authenticate a user,
/// so hosts and anonymous callers get the plugin's 401.
async fn user_only() -> Result<actix_web::HttpResponse, ApiError> {
    Err(ApiError::Unauthorized { login: None })
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
    start_on(listen, tls, settings.http.workers, state)
}

pub fn start_on(
    listen: SocketAddr,
    tls: Option<(SocketAddr, openssl::ssl::SslAcceptorBuilder)>,
    workers: usize,
    state: AppState,
) -> Result<(Server, Listening), String> {
    let state = web::Data::new(state);
    let mut server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .wrap(DefaultHeaders::new().add(("Foreman_api_version", "2")))
            // `%a` is the TCP peer (the proxy), never a client-supplied X-Forwarded-For.
            .wrap(Logger::new("%a \"%r\" %s %b %Dms"))
            // The plugin's updatelock script requests `/api/dlmlocks//NAME/lock`; Rails squeezes
            // the slashes, so must we.
            .wrap(NormalizePath::new(TrailingSlash::Trim))
            .configure(routes)
            .default_service(web::to(route_not_found))
    })
    .on_connect(tls::record_peer_certificate)
    .client_request_timeout(Duration::from_secs(10))
    .client_disconnect_timeout(Duration::from_secs(2));
    if workers > 0 {
        server = server.workers(workers);
    }
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
