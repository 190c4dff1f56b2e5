//! The one place where failures become HTTP statuses and Foreman-shaped JSON bodies.
//!
//! Every answer is JSON, because deployed clients (`foreman_dlm_updater`) call `.json()` on every
//! response. Internal causes are logged here and never sent: a client sees a generic message.

use std::fmt;

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde_json::json;

use crate::locks::{InvalidLockName, LockError};
use crate::storage::{StorageError, StorageFailure};

/// Foreman's `resource_name` for this controller, used in its 404 message.
const RESOURCE_NAME: &str = "dlmlock";

#[derive(Debug)]
pub enum ApiError {
    /// No verified identity, or a verified certificate that matches no host. `login` is the
    /// certificate's subject when there was one, as Foreman's message shows it.
    Unauthorized {
        login: Option<String>,
    },
    NotFound {
        id: String,
    },
    PreconditionFailed {
        lock_id: i32,
    },
    BadRequest(String),
    RouteNotFound,
    MethodNotAllowed,
    Unavailable(String),
    Internal(String),
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Only for logs; the body comes from `error_response`.
        write!(f, "{self:?}")
    }
}

impl ApiError {
    fn body(&self) -> serde_json::Value {
        match self {
            ApiError::Unauthorized { login } => json!({"error": {
                "message": format!("Unable to authenticate user {}", login.as_deref().unwrap_or(""))
            }}),
            ApiError::NotFound { id } => json!({"error": {
                "message": format!("Resource {RESOURCE_NAME} not found by id '{id}'")
            }}),
            ApiError::PreconditionFailed { lock_id } => json!({"error": {
                "id": lock_id,
                "message": "Precondition failed. Lock is in invalid state for this operation."
            }}),
            ApiError::BadRequest(message) => json!({"error": {"message": message}}),
            ApiError::RouteNotFound => json!({"error": {"message": "Route not found"}}),
            ApiError::MethodNotAllowed => {
                json!({"error": {"message": "Method not allowed for this resource"}})
            }
            ApiError::Unavailable(_) => json!({"error": {
                "message": "The lock service cannot reach its database right now; please retry later."
            }}),
            ApiError::Internal(_) => json!({"error": {"message": "Internal server error"}}),
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
            ApiError::NotFound { .. } | ApiError::RouteNotFound => StatusCode::NOT_FOUND,
            ApiError::PreconditionFailed { .. } => StatusCode::PRECONDITION_FAILED,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            ApiError::Unavailable(cause) => log::warn!("answering 503: {cause}"),
            ApiError::Internal(cause) => log::error!("answering 500: {cause}"),
            _ => {}
        }
        let mut response = HttpResponse::build(self.status_code());
        if matches!(self, ApiError::Unavailable(_)) {
            response.insert_header(("Retry-After", "5"));
        }
        response.json(self.body())
    }
}

impl From<StorageError> for ApiError {
    fn from(e: StorageError) -> Self {
        match e {
            StorageError::Unavailable(cause) => ApiError::Unavailable(cause),
            StorageError::Query(cause) => ApiError::Internal(cause.to_string()),
        }
    }
}

impl From<LockError> for ApiError {
    fn from(e: LockError) -> Self {
        match e {
            LockError::NotFound(id) => ApiError::NotFound { id },
            LockError::PreconditionFailed { lock_id } => ApiError::PreconditionFailed { lock_id },
            LockError::Storage(e) => ApiError::from(e),
        }
    }
}

impl From<InvalidLockName> for ApiError {
    fn from(e: InvalidLockName) -> Self {
        ApiError::BadRequest(e.0)
    }
}

impl StorageFailure for ApiError {
    fn storage_error(&self) -> Option<&StorageError> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::body::MessageBody;

    fn body_of(e: ApiError) -> (u16, serde_json::Value) {
        let response = e.error_response();
        let status = response.status().as_u16();
        let bytes = response.into_body().try_into_bytes().expect("body");
        (status, serde_json::from_slice(&bytes).expect("json"))
    }

    #[test]
    fn each_error_kind_has_its_status_and_a_json_body() {
        let cases = [
            (ApiError::Unauthorized { login: None }, 401),
            (ApiError::NotFound { id: "x".into() }, 404),
            (ApiError::PreconditionFailed { lock_id: 7 }, 412),
            (ApiError::BadRequest("bad".into()), 400),
            (ApiError::RouteNotFound, 404),
            (ApiError::MethodNotAllowed, 405),
            (ApiError::Unavailable("connection refused".into()), 503),
            (
                ApiError::Internal("relation \"dlmlocks\" does not exist".into()),
                500,
            ),
        ];
        for (error, status) in cases {
            let (got, body) = body_of(error);
            assert_eq!(got, status);
            assert!(body["error"]["message"].is_string(), "{body}");
        }
    }

    #[test]
    fn internal_causes_never_reach_the_client() {
        let (_, body) = body_of(ApiError::Internal(
            "relation \"dlmlocks\" does not exist".into(),
        ));
        assert_eq!(body, json!({"error": {"message": "Internal server error"}}));
        let (_, body) = body_of(ApiError::Unavailable(
            "could not connect to 10.0.0.5".into(),
        ));
        assert!(!body.to_string().contains("10.0.0.5"));
    }

    #[test]
    fn plugin_bodies() {
        let (_, body) = body_of(ApiError::PreconditionFailed { lock_id: 7 });
        assert_eq!(
            body,
            json!({"error": {"id": 7, "message": "Precondition failed. Lock is in invalid state for this operation."}})
        );
        let (_, body) = body_of(ApiError::NotFound { id: "db".into() });
        assert_eq!(
            body,
            json!({"error": {"message": "Resource dlmlock not found by id 'db'"}})
        );
        let (_, body) = body_of(ApiError::Unauthorized {
            login: Some("web1.example.com".into()),
        });
        assert_eq!(
            body,
            json!({"error": {"message": "Unable to authenticate user web1.example.com"}})
        );
    }
}
