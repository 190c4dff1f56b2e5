//! Health checks and the Prometheus metrics: `/health/live` and `/health/ready` on the main
//! listener and on the metrics listener (`metrics.listen`), `/metrics` on the metrics listener
//! only. No authentication: they say nothing about who holds what beyond lock names and counts,
//! and the metrics listener is on loopback by default (Apache does not route it).

use std::future::Future;
use std::net::SocketAddr;
use std::time::Instant;

use actix_web::dev::{Server, ServiceResponse};
use actix_web::{web, App, HttpResponse, HttpServer};
use serde_json::json;

use super::error::ApiError;
use super::routes::{method_not_allowed, route_not_found};
use super::AppState;
use crate::outage::Outage;
use crate::services::Readiness;

/// The process answers.
pub async fn live() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

/// Probes run every few seconds: the first failure in full, then a count every 30 s.
static NOT_READY: Outage = Outage::repeated("not ready: the database cannot be reached");

/// The database answers and its migrations are current; otherwise 503, with the reason in the
/// log (not in the body).
pub async fn ready(state: web::Data<AppState>) -> HttpResponse {
    match state.services.readiness().await {
        Readiness::Ready => HttpResponse::Ok()
            .json(json!({"status": "ready", "database": "ok", "migrations": "current"})),
        Readiness::DatabaseUnavailable(cause) => {
            NOT_READY.failed(cause);
            HttpResponse::ServiceUnavailable()
                .insert_header(("Retry-After", "5"))
                .json(json!({"status": "unavailable", "database": "unreachable"}))
        }
        Readiness::MigrationsPending(pending) => {
            log::warn!("not ready: migrations pending: {}", pending.join(", "));
            HttpResponse::ServiceUnavailable().json(json!({
                "status": "unavailable", "database": "ok", "migrations": "pending",
                "pending": pending,
            }))
        }
    }
}

/// The text exposition, with the gauges brought up to date (at most every few seconds).
pub async fn metrics(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    state.services.refresh_gauges().await;
    let text = state
        .services
        .metrics
        .encode()
        .map_err(|e| ApiError::Internal(format!("cannot encode the metrics: {e}")))?;
    Ok(HttpResponse::Ok()
        .content_type("application/openmetrics-text; version=1.0.0; charset=utf-8")
        .body(text))
}

pub fn health_routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/health/live")
            .route(web::get().to(live))
            .default_service(web::to(method_not_allowed)),
    );
    cfg.service(
        web::resource("/health/ready")
            .route(web::get().to(ready))
            .default_service(web::to(method_not_allowed)),
    );
}

/// Times a request for `foreman_dlm_http_request_duration_seconds`, labelled with the matched
/// route pattern (bounded cardinality) and the status.
pub async fn record_duration<B>(
    state: web::Data<AppState>,
    call: impl Future<Output = Result<ServiceResponse<B>, actix_web::Error>>,
) -> Result<ServiceResponse<B>, actix_web::Error> {
    let started = Instant::now();
    let response = call.await?;
    let route = response
        .request()
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_string());
    state.services.metrics.http_request(
        &route,
        response.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    Ok(response)
}

/// The metrics listener: its own small server on the same runtime.
pub fn metrics_server(
    listen: SocketAddr,
    state: web::Data<AppState>,
) -> Result<(Server, SocketAddr), String> {
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .configure(health_routes)
            .service(
                web::resource("/metrics")
                    .route(web::get().to(metrics))
                    .default_service(web::to(method_not_allowed)),
            )
            .default_service(web::to(route_not_found))
    })
    .workers(1)
    .disable_signals()
    .bind(listen)
    .map_err(|e| format!("cannot listen on {listen} for metrics (metrics.listen): {e}"))?;
    let addr = server.addrs().first().copied().unwrap_or(listen);
    Ok((server.run(), addr))
}
