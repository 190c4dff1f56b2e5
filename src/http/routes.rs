//! Every route the service answers, in one table.

use actix_web::{web, HttpResponse};

use super::error::ApiError;
use super::{admin_routes, lock_routes};

/// The API routes, under both `/api/` and `/api/v2/` as in Foreman.
///
/// The hosts' lock routes come first: actix tries the routes in order, each pattern with a
/// dynamic segment is a regular expression, and hosts make nearly every request.
pub fn routes(cfg: &mut web::ServiceConfig) {
    for prefix in ["/api", "/api/v2"] {
        cfg.service(
            web::resource(format!("{prefix}/dlmlocks/{{id}}/lock"))
                .route(web::get().to(lock_routes::show))
                .route(web::put().to(lock_routes::acquire))
                .route(web::delete().to(lock_routes::release))
                .default_service(web::to(method_not_allowed)),
        );
    }
    super::observability::health_routes(cfg);
    super::status_page::routes(cfg);
    for prefix in ["/api", "/api/v2"] {
        cfg.service(
            web::resource(format!("{prefix}/dlmlocks/{{id}}/dlmlock_events"))
                .route(web::get().to(admin_routes::events))
                .default_service(web::to(method_not_allowed)),
        );
        cfg.service(
            web::resource(format!("{prefix}/dlmlocks/{{id}}/holders/{{host_id}}"))
                .route(web::delete().to(admin_routes::release_holder))
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

/// Query strings that cannot be parsed get the API's JSON 400.
pub fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|_, _| {
        ApiError::BadRequest("the query string could not be parsed".into()).into()
    })
}

pub async fn method_not_allowed() -> Result<HttpResponse, ApiError> {
    Err(ApiError::MethodNotAllowed)
}

pub async fn route_not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::RouteNotFound)
}
