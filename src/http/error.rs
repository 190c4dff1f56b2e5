//! The one place where failures become HTTP statuses and Foreman-shaped JSON bodies.
//!
//! Every answer is JSON, because deployed clients (`foreman_dlm_updater`) call `.json()` on every
//! response. Internal causes are logged here and never sent: a client sees a generic message.

use std::fmt;

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use chrono::SecondsFormat;
use serde_json::{json, Map, Value};

use crate::identity::users::{LoginFailure, MalformedLogin};
use crate::locks::model::Refusal;
use crate::locks::{InvalidLockName, LockError};
use crate::outage::Outage;

const UNAVAILABLE: &str =
    "The lock service cannot reach its database right now; please retry later.";
const ACCOUNT_DISABLED: &str = "User account is disabled, please contact your administrator";
const PRECONDITION_FAILED: &str =
    "Precondition failed. Lock is in invalid state for this operation.";
const NEEDS_JSON: &str = "'Content-Type: application/json' header is required";
const BUSY: &str = "The service is busy checking logins; please retry shortly.";
const TOO_SLOW: &str = "The request took longer than the service allows and was stopped; \
                        narrow the search down or retry later.";

/// Foreman's `resource_name` for this controller, used in its 404 message.
const RESOURCE_NAME: &str = "dlmlock";

/// The plugin's explanation when a Foreman user (not a host) tries to take or give back a lock.
pub const NEEDS_HOST_CERTIFICATE: &str =
    "You need to authenticate with a valid client cert. The DN has to match a known host.";

#[derive(Debug)]
pub enum ApiError {
    /// No verified identity, bad credentials, or a certificate that matches no host. `login` is
    /// the user or certificate subject, as Foreman's message shows it.
    Unauthorized {
        login: Option<String>,
    },
    /// Verified credentials of a disabled Foreman user.
    AccountDisabled,
    /// A Foreman user whose passwords live in LDAP or an external SSO.
    ExternalAuthSource {
        login: String,
        source: String,
    },
    /// Authenticated, but not allowed: a missing permission, or a user where a host is needed.
    Forbidden {
        missing_permission: Option<&'static str>,
        details: String,
    },
    NotFound {
        id: String,
    },
    /// The plugin's 412 envelope, plus why.
    PreconditionFailed {
        lock_id: Option<i32>,
        refusal: Refusal,
    },
    /// Foreman's 422: field errors.
    Unprocessable {
        id: Option<i32>,
        errors: Vec<(&'static str, String)>,
    },
    BadRequest(String),
    /// A request body that is not valid JSON (Foreman's own, flat error shape).
    BadJson(String),
    UnsupportedMediaType,
    PayloadTooLarge,
    /// The body did not arrive within `http.body_timeout_seconds`.
    RequestTimeout,
    RouteNotFound,
    MethodNotAllowed,
    /// Too many failed logins from this address or for this login.
    TooManyRequests {
        retry_after_seconds: u64,
    },
    /// A host that created `limits.locks_created_per_host_per_hour` locks asks for another
    /// missing one.
    TooManyLocksCreated {
        retry_at: Option<chrono::NaiveDateTime>,
    },
    /// Every password-hashing thread is busy: retry shortly.
    Busy,
    /// A read ran past the statement timeout of people's traffic.
    TooSlow,
    Unavailable(String),
    Internal(String),
    /// An error the framework produced (a status and nothing else we can trust).
    Framework(StatusCode),
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Only for logs; the body comes from `error_response`.
        write!(f, "{self:?}")
    }
}

fn message(text: impl Into<String>) -> Value {
    json!({"error": {"message": text.into()}})
}

/// `name` → `Name`, `host_id` → `Host`, as Rails' full_messages humanise attribute names.
fn humanize(field: &str) -> String {
    let base = field.strip_suffix("_id").unwrap_or(field).replace('_', " ");
    let mut chars = base.chars();
    chars.next().map_or_else(String::new, |first| {
        first.to_uppercase().chain(chars).collect()
    })
}

/// A fleet's requests during an outage: the first 503 in full, then a count every 30 s.
static ANSWERING_503: Outage = Outage::repeated("answering 503");

impl ApiError {
    /// The cause of a 5xx goes to the log, never to the client.
    pub fn log_cause(&self) {
        match self {
            ApiError::Unavailable(cause) => ANSWERING_503.failed(cause),
            ApiError::TooSlow => ANSWERING_503.failed("a statement ran past its timeout"),
            ApiError::Internal(cause) => log::error!("answering 500: {cause}"),
            _ => {}
        }
    }

    /// What a person is told (the status page): the API body's message, and a 403's details.
    pub fn message_for_people(&self) -> String {
        let body = self.body();
        let error = &body["error"];
        let text = error["message"]
            .as_str()
            .or_else(|| error.as_str())
            .unwrap_or("The request failed");
        match error["details"].as_str() {
            Some(details) => format!("{text}: {details}"),
            None => text.to_string(),
        }
    }

    fn body(&self) -> Value {
        match self {
            ApiError::Unauthorized { login } => message(format!(
                "Unable to authenticate user {}",
                login.as_deref().unwrap_or("")
            )),
            ApiError::AccountDisabled => message(ACCOUNT_DISABLED),
            ApiError::ExternalAuthSource { login, source } => message(format!(
                "Unable to authenticate user {login}: the account authenticates with {source}, \
                 which foreman-dlm cannot verify; use an account with Foreman's internal \
                 authentication"
            )),
            ApiError::Forbidden {
                missing_permission,
                details,
            } => {
                let mut error = Map::new();
                error.insert("message".into(), json!("Access denied"));
                error.insert("details".into(), json!(details));
                if let Some(permission) = missing_permission {
                    error.insert("missing_permissions".into(), json!([permission]));
                }
                json!({ "error": error })
            }
            ApiError::NotFound { id } => {
                message(format!("Resource {RESOURCE_NAME} not found by id '{id}'"))
            }
            ApiError::PreconditionFailed { lock_id, refusal } => {
                let mut error = json!({"id": lock_id, "message": PRECONDITION_FAILED,
                                       "reason": refusal.reason()});
                let utc = |at: &chrono::NaiveDateTime| {
                    json!(at.and_utc().to_rfc3339_opts(SecondsFormat::Secs, true))
                };
                match refusal {
                    Refusal::OutsideWindow {
                        next_window_at: Some(at),
                    } => error["next_window_at"] = utc(at),
                    Refusal::Halted { halt_reason } => error["halt_reason"] = json!(halt_reason),
                    // Rounded up: a host that comes back at the second it was given is let in.
                    Refusal::CoolingDown { retry_at: Some(at) } => {
                        error["retry_at"] = utc(&ceil_to_second(*at))
                    }
                    Refusal::Blocked { blocked_by } => error["blocked_by"] = json!(blocked_by),
                    _ => {}
                }
                json!({ "error": error })
            }
            ApiError::Unprocessable { id, errors } => {
                let mut by_field = Map::new();
                for (field, text) in errors {
                    let list = by_field
                        .entry(field.to_string())
                        .or_insert_with(|| json!([]));
                    if let Value::Array(list) = list {
                        list.push(json!(text));
                    }
                }
                let full: Vec<String> = errors
                    .iter()
                    .map(|(f, t)| format!("{} {t}", humanize(f)))
                    .collect();
                json!({"error": {"id": id, "errors": by_field, "full_messages": full}})
            }
            ApiError::BadRequest(text) => message(text.clone()),
            ApiError::BadJson(text) => json!({
                "status": 400,
                "error": format!("There was a problem in the JSON you submitted: {text}")
            }),
            ApiError::UnsupportedMediaType => message(NEEDS_JSON),
            ApiError::PayloadTooLarge => message("Request body too large"),
            ApiError::RequestTimeout => message("The request body did not arrive in time"),
            ApiError::RouteNotFound => message("Route not found"),
            ApiError::MethodNotAllowed => message("Method not allowed for this resource"),
            ApiError::TooManyRequests {
                retry_after_seconds,
            } => message(format!(
                "Too many failed logins, please try again in {retry_after_seconds} seconds."
            )),
            ApiError::TooManyLocksCreated { retry_at } => {
                let mut error = json!({
                    "message": "This host has created as many locks as it may this hour; \
                                retry later or use an existing lock.",
                    "reason": "too_many_created",
                });
                if let Some(at) = retry_at {
                    error["retry_at"] =
                        json!(at.and_utc().to_rfc3339_opts(SecondsFormat::Secs, true));
                }
                json!({ "error": error })
            }
            ApiError::Busy => message(BUSY),
            ApiError::TooSlow => message(TOO_SLOW),
            ApiError::Unavailable(_) => message(UNAVAILABLE),
            ApiError::Internal(_) => message("Internal server error"),
            ApiError::Framework(status) => message(
                status
                    .canonical_reason()
                    .unwrap_or("The request could not be handled"),
            ),
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::Unauthorized { .. }
            | ApiError::AccountDisabled
            | ApiError::ExternalAuthSource { .. } => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden { .. } => StatusCode::FORBIDDEN,
            ApiError::NotFound { .. } | ApiError::RouteNotFound => StatusCode::NOT_FOUND,
            ApiError::PreconditionFailed { .. } => StatusCode::PRECONDITION_FAILED,
            ApiError::Unprocessable { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::BadRequest(_) | ApiError::BadJson(_) => StatusCode::BAD_REQUEST,
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::TooManyRequests { .. } | ApiError::TooManyLocksCreated { .. } => {
                StatusCode::TOO_MANY_REQUESTS
            }
            ApiError::Busy | ApiError::TooSlow | ApiError::Unavailable(_) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::Framework(status) => *status,
        }
    }

    fn error_response(&self) -> HttpResponse {
        self.log_cause();
        let mut response = HttpResponse::build(self.status_code());
        match self {
            ApiError::Unavailable(_) | ApiError::TooSlow => {
                response.insert_header(("Retry-After", "5"));
            }
            ApiError::Busy => {
                response.insert_header(("Retry-After", "1"));
            }
            ApiError::TooManyRequests {
                retry_after_seconds,
            } => {
                response.insert_header(("Retry-After", retry_after_seconds.to_string()));
            }
            ApiError::TooManyLocksCreated { retry_at } => {
                let seconds = retry_at.map_or(60, |at| {
                    (at - chrono::Utc::now().naive_utc())
                        .num_seconds()
                        .clamp(1, 3600)
                });
                response.insert_header(("Retry-After", seconds.to_string()));
            }
            _ => {}
        }
        response.json(self.body())
    }
}

impl From<LockError> for ApiError {
    fn from(e: LockError) -> Self {
        match e {
            LockError::UnknownHost { subject } => ApiError::Unauthorized {
                login: Some(subject),
            },
            LockError::NotFound(id) => ApiError::NotFound { id },
            LockError::PreconditionFailed { lock_id, refusal } => {
                ApiError::PreconditionFailed { lock_id, refusal }
            }
            LockError::TooManyCreated { retry_at } => ApiError::TooManyLocksCreated { retry_at },
            LockError::BadQuery(text) => ApiError::BadRequest(text),
            LockError::Invalid { lock_id, errors } => ApiError::Unprocessable {
                id: lock_id,
                errors,
            },
            LockError::Unavailable(cause) => ApiError::Unavailable(cause),
            LockError::TimedOut => ApiError::TooSlow,
            LockError::Internal(cause) => ApiError::Internal(cause),
        }
    }
}

impl From<LoginFailure> for ApiError {
    fn from(e: LoginFailure) -> Self {
        match e {
            LoginFailure::BadCredentials { login } => ApiError::Unauthorized { login: Some(login) },
            LoginFailure::Disabled => ApiError::AccountDisabled,
            LoginFailure::ExternalSource { login, source } => {
                ApiError::ExternalAuthSource { login, source }
            }
            LoginFailure::RateLimited { retry_after } => ApiError::TooManyRequests {
                retry_after_seconds: retry_after.as_secs().max(1),
            },
            LoginFailure::Busy => ApiError::Busy,
            LoginFailure::Unavailable(cause) => ApiError::Unavailable(cause),
            LoginFailure::Internal(cause) => ApiError::Internal(cause),
        }
    }
}

impl From<InvalidLockName> for ApiError {
    fn from(e: InvalidLockName) -> Self {
        ApiError::BadRequest(e.0)
    }
}

impl From<MalformedLogin> for ApiError {
    fn from(e: MalformedLogin) -> Self {
        ApiError::BadRequest(e.0)
    }
}

/// `at`, or the next whole second when it has a fraction.
fn ceil_to_second(at: chrono::NaiveDateTime) -> chrono::NaiveDateTime {
    use chrono::Timelike;
    match at.with_nanosecond(0) {
        Some(whole) if whole != at => whole + chrono::Duration::seconds(1),
        _ => at,
    }
}

#[cfg(test)]
mod tests;
