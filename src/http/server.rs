//! Start-up: the listeners (Unix socket or TCP for Apache, the optional direct TLS listener),
//! their timeouts and limits, and the background task that re-reads the CA and CRL files.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use actix_web::body::MessageBody;
use actix_web::dev::{Server, Service, ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::middleware::{Condition, DefaultHeaders, Logger};
use actix_web::{web, App};

use super::listeners::{self, tcp_listener, Timeouts};
use super::routes::{query_config, route_not_found, routes};
use super::tls::{self, ConnectionLimit};
use super::{middleware, observability, AppState};
use crate::identity::trust_store::Reload;
use crate::identity::ClientCertAuthenticator;
use crate::services::Services;
use crate::settings::{FileMode, ListenAddr, Settings};

/// Where a started server listens, as `http://…`, `unix:…` and `https://…` addresses.
#[derive(Debug, Clone)]
pub struct Listening {
    pub http: Vec<String>,
    pub tls: Vec<std::net::SocketAddr>,
    pub metrics: Option<std::net::SocketAddr>,
}

/// Binds the listeners and returns the server (not yet awaited) and where it listens. Must run
/// inside the actix system that will run the server.
pub fn start(settings: &Settings, services: Services) -> Result<(Server, Listening), String> {
    let tls_acceptor = match &settings.tls {
        Some(tls) => {
            let cas: Vec<_> = settings
                .client_cert
                .ca_files
                .iter()
                .chain(&settings.client_cert.katello_ca_files)
                .collect();
            Some((tls.listen, tls::acceptor(tls, &cas)?.build()))
        }
        None => None,
    };
    let connection_limit = ConnectionLimit::new(
        settings
            .tls
            .as_ref()
            .map_or(usize::MAX, |t| t.max_connections_per_address),
    );
    spawn_trust_reload(
        services.certificates.clone(),
        Duration::from_secs(settings.client_cert.reload_interval_seconds),
    );
    let state = web::Data::new(AppState {
        services,
        body_timeout: Duration::from_secs(settings.http.body_timeout_seconds),
    });
    actix_web::rt::spawn(state.services.notifier.clone().run_forever());
    let sweeper = state.clone();
    let sweep_interval = Duration::from_secs(settings.locks.sweep_interval_seconds);
    actix_web::rt::spawn(async move {
        sweeper
            .services
            .locks
            .sweep_leases_forever(sweep_interval)
            .await;
    });
    let metrics = match settings.metrics.listen_addr() {
        Some(listen) => {
            let (server, addr) = observability::metrics_server(listen, state.clone())?;
            actix_web::rt::spawn(server);
            Some(addr)
        }
        None => None,
    };
    let workers = match settings.http.workers {
        0 => std::thread::available_parallelism().map_or(1, usize::from),
        n => n,
    };
    let timeouts = Timeouts {
        request: Duration::from_secs(settings.http.header_timeout_seconds),
        disconnect: Duration::from_secs(2),
        handshake: Duration::from_secs(
            settings
                .tls
                .as_ref()
                .map_or(3, |t| t.handshake_timeout_seconds),
        ),
    };
    let log_requests = log::log_enabled!(log::Level::Info);
    // Every listener's connections are served on the same workers; each worker borrows database
    // connections of its own (see `storage::pool`), set up as it builds its first app.
    let app = move || {
        state.services.serve_database_from_this_thread(workers);
        app(state.clone(), log_requests)
    };
    let mut server = Server::build()
        .workers(workers)
        // Only certificate verification on a cache miss runs on blocking threads now.
        .worker_max_blocking_threads(2);
    let mut http = Vec::new();
    match &settings.http.listen {
        ListenAddr::Tcp(addr) => {
            let listener = tcp_listener(addr)
                .map_err(|e| format!("cannot listen on {addr} (http.listen): {e}"))?;
            if let Ok(bound) = listener.local_addr() {
                http.push(format!("http://{bound}"));
            }
            let app = app.clone();
            server = server
                .listen("foreman-dlm-http", listener, move || {
                    listeners::plain(app(), timeouts)
                })
                .map_err(|e| format!("cannot listen on {addr} (http.listen): {e}"))?;
        }
        ListenAddr::Unix(path) => {
            remove_stale_socket(path)?;
            let app = app.clone();
            server = server
                .bind_uds("foreman-dlm-socket", path, move || {
                    listeners::unix(app(), timeouts)
                })
                .map_err(|e| {
                    format!(
                        "cannot listen on unix:{} (http.listen): {e}",
                        path.display()
                    )
                })?;
            restrict_socket(path, settings.http.socket_mode, &settings.http.socket_group)?;
            http.push(format!("unix:{}", path.display()));
        }
    }
    let mut tls = Vec::new();
    if let Some((listen, acceptor)) = tls_acceptor {
        let listener = tcp_listener(&listen)
            .map_err(|e| format!("cannot listen on {listen} (tls.listen): {e}"))?;
        tls.extend(listener.local_addr().ok());
        server = server
            .listen("foreman-dlm-tls", listener, move || {
                listeners::tls(app(), timeouts, acceptor.clone(), connection_limit.clone())
            })
            .map_err(|e| format!("cannot listen on {listen} (tls.listen): {e}"))?;
    }
    Ok((server.run(), Listening { http, tls, metrics }))
}

/// The application every listener serves: the routes, and the middleware every answer passes.
fn app(
    state: web::Data<AppState>,
    log_requests: bool,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    App::new()
        .app_data(state.clone())
        .app_data(query_config())
        .wrap(middleware::json_errors())
        .wrap(DefaultHeaders::new().add(("Foreman_api_version", "2")))
        // `%a` is the TCP peer (the proxy), never a client-supplied X-Forwarded-For. Only
        // wrapped when it will print: it renders the request line for every request.
        .wrap(Condition::new(
            log_requests,
            Logger::new("%a \"%r\" %s %b %Dms"),
        ))
        .wrap_fn(|mut req, srv| {
            middleware::squeeze_slashes(&mut req);
            srv.call(req)
        })
        .wrap_fn(|req, srv| middleware::answer_panics(srv.call(req)))
        .wrap_fn(move |req, srv| {
            let state = state.clone();
            let call = srv.call(req);
            async move { observability::record_duration(state, call).await }
        })
        .configure(routes)
        .default_service(web::to(route_not_found))
}

/// A socket file left by a previous run that was killed is replaced; anything else at that path
/// is an error, never deleted.
fn remove_stale_socket(path: &Path) -> Result<(), String> {
    use std::os::unix::fs::FileTypeExt;
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => std::fs::remove_file(path)
            .map_err(|e| format!("cannot replace the old socket {}: {e}", path.display())),
        Ok(_) => Err(format!(
            "http.listen: {} exists and is not a socket",
            path.display()
        )),
        Err(_) => Ok(()),
    }
}

/// Who may connect to the Unix socket is who may speak for Apache: the mode and group decide.
/// An empty group means Apache's: `apache` (EL) or `www-data` (Debian), whichever exists.
fn restrict_socket(path: &Path, mode: FileMode, group: &str) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode.0))
        .map_err(|e| format!("cannot set the mode of {}: {e}", path.display()))?;
    let gid = if group.is_empty() {
        ["apache", "www-data"]
            .iter()
            .find_map(|name| nix::unistd::Group::from_name(name).ok().flatten())
            .map(|g| (g.name, g.gid))
    } else if let Ok(number) = group.parse::<u32>() {
        Some((group.to_string(), nix::unistd::Gid::from_raw(number)))
    } else {
        let found = nix::unistd::Group::from_name(group)
            .map_err(|e| format!("http.socket_group {group:?}: {e}"))?
            .ok_or_else(|| format!("http.socket_group {group:?} is not a group on this system"))?;
        Some((found.name, found.gid))
    };
    let Some((name, gid)) = gid else {
        log::info!(
            "no group apache or www-data: {} keeps the service's own group",
            path.display()
        );
        return Ok(());
    };
    std::os::unix::fs::chown(path, None, Some(gid.as_raw())).map_err(|e| {
        format!(
            "cannot give {} to group {name}: {e} (the service must be a member of it, e.g. \
             SupplementaryGroups={name} in its unit)",
            path.display()
        )
    })
}

/// Re-reads the CA and CRL files every `interval` when they changed, and at once on SIGHUP.
fn spawn_trust_reload(certificates: Arc<ClientCertAuthenticator>, interval: Duration) {
    actix_web::rt::spawn(async move {
        let mut hangup =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let forced = tokio::select! {
                _ = ticks.tick() => false,
                Some(()) = async {
                    match hangup.as_mut() {
                        Some(signal) => signal.recv().await,
                        None => std::future::pending().await,
                    }
                } => true,
            };
            let certificates = certificates.clone();
            let outcome = web::block(move || certificates.reload_trust(forced)).await;
            match outcome {
                Ok(Reload::Unchanged) => {}
                Ok(Reload::Reloaded) => log::info!(
                    "CA and CRL files re-read ({}); cached verifications dropped",
                    if forced { "SIGHUP" } else { "they changed" }
                ),
                Ok(Reload::Failed(e)) => log::error!(
                    "the CA or CRL files changed but cannot be used, keeping the previous ones: {e}"
                ),
                Err(e) => log::error!("re-reading the CA and CRL files failed: {e}"),
            }
        }
    });
}
