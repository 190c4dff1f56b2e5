//! What every request goes through before and after its handler.

use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::CONTENT_TYPE;
use actix_web::middleware::{ErrorHandlerResponse, ErrorHandlers};
use actix_web::ResponseError;

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

/// Any error response the framework made itself inside the application (an extractor, a
/// payload error) gets the API's JSON envelope: deployed clients call `.json()` on every answer.
/// Errors answered before a request reaches the application (a malformed request line, headers
/// over 32 KiB) stay actix's own, bodiless responses.
pub fn json_errors<B: 'static>() -> ErrorHandlers<B> {
    ErrorHandlers::new().default_handler(|response: ServiceResponse<B>| {
        let is_json = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"));
        if is_json {
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
