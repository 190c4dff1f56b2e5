//! What every request goes through before and after its handler.

use std::future::Future;
use std::panic::AssertUnwindSafe;

use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::CONTENT_TYPE;
use actix_web::middleware::{ErrorHandlerResponse, ErrorHandlers};
use actix_web::ResponseError;
use futures_util::FutureExt;

use super::error::ApiError;

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

/// The plugin's updatelock script requests `/api/dlmlocks//NAME/lock`; Rails squeezes the
/// slashes, so this does too, before routing.
pub fn squeeze_slashes(req: &mut ServiceRequest) {
    let Some(path) = squeezed_path(req.path()) else {
        return;
    };
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

/// A handler that panics is a bug, not an outage: its request is answered with the generic 500
/// (the panic itself is printed by the panic hook, the 500 logged), and the worker goes on.
pub async fn answer_panics<B, F>(response: F) -> ServiceResult<B>
where
    F: Future<Output = ServiceResult<B>>,
{
    match AssertUnwindSafe(response).catch_unwind().await {
        Ok(outcome) => outcome,
        Err(_) => Err(ApiError::Internal("a request handler panicked".into()).into()),
    }
}

type ServiceResult<B> = Result<ServiceResponse<B>, actix_web::Error>;

/// Any error response the framework made itself inside the application (an extractor, a
/// payload error) gets the API's JSON envelope: deployed clients call `.json()` on every answer.
/// Errors answered before a request reaches the application (a malformed request line, headers
/// over 128 KiB) stay actix's own, bodiless responses.
pub fn json_errors<B: 'static>() -> ErrorHandlers<B> {
    ErrorHandlers::new().default_handler(|response: ServiceResponse<B>| {
        // JSON from the API, HTML from the status page: both are ours already.
        let is_ours = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json") || v.starts_with("text/html"));
        if is_ours {
            return Ok(ErrorHandlerResponse::Response(
                response.map_into_left_body(),
            ));
        }
        let (request, response) = response.into_parts();
        let replaced = ApiError::Framework(response.status()).error_response();
        let replaced = ServiceResponse::new(request, replaced).map_into_right_body();
        Ok(ErrorHandlerResponse::Response(replaced))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::dev::Service;
    use actix_web::test as actix_test;
    use actix_web::{web, App, HttpResponse};

    #[actix_web::test]
    async fn a_panicking_handler_is_a_generic_500_and_the_service_goes_on() {
        async fn boom() -> HttpResponse {
            panic!("a bug in a handler")
        }
        async fn fine() -> HttpResponse {
            HttpResponse::Ok().finish()
        }
        let app = actix_test::init_service(
            App::new()
                .wrap_fn(|req, srv| answer_panics(srv.call(req)))
                .route("/boom", web::get().to(boom))
                .route("/fine", web::get().to(fine)),
        )
        .await;
        let boom = actix_test::TestRequest::get().uri("/boom").to_request();
        // The dispatcher turns a service error into its response, as here.
        let error = match actix_test::try_call_service(&app, boom).await {
            Err(error) => error,
            Ok(_) => panic!("a panic must not answer normally"),
        };
        let response = error.error_response();
        assert_eq!(response.status(), 500);
        let body = actix_web::body::to_bytes(response.into_body())
            .await
            .expect("body");
        assert_eq!(
            body.as_ref(),
            br#"{"error":{"message":"Internal server error"}}"#
        );
        let response = actix_test::call_service(
            &app,
            actix_test::TestRequest::get().uri("/fine").to_request(),
        )
        .await;
        assert_eq!(response.status(), 200);
    }

    #[actix_web::test]
    async fn plain_error_responses_become_the_json_envelope() {
        async fn plain() -> HttpResponse {
            HttpResponse::BadRequest().body("plain text from somewhere")
        }
        async fn ours() -> Result<HttpResponse, ApiError> {
            Err(ApiError::NotFound { id: "x".into() })
        }
        let app = actix_test::init_service(
            App::new()
                .wrap(json_errors())
                .route("/plain", web::get().to(plain))
                .route("/ours", web::get().to(ours)),
        )
        .await;
        let plain = actix_test::TestRequest::get().uri("/plain").to_request();
        let response = actix_test::call_service(&app, plain).await;
        assert_eq!(response.status(), 400);
        let body: serde_json::Value = actix_test::read_body_json(response).await;
        assert_eq!(
            body,
            serde_json::json!({"error": {"message": "Bad Request"}})
        );
        let ours = actix_test::TestRequest::get().uri("/ours").to_request();
        let body: serde_json::Value =
            actix_test::read_body_json(actix_test::call_service(&app, ours).await).await;
        assert_eq!(
            body,
            serde_json::json!({"error": {"message": "Resource dlmlock not found by id 'x'"}}),
            "our own JSON is kept as it is"
        );
    }

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
