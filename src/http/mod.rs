//! HTTP layer: the route table, the handlers, and the listeners.
//!
//! Request path: `routes` → a handler in `lock_routes` (hosts) or `admin_routes` (Foreman users)
//! → `caller` (certificate or Basic credentials, through `identity`) → the lock domain (`locks`)
//! → its SQL in `storage`, which this layer never touches. The status page (`status_page`, under
//! `/dlm`) is the same path for people: a session cookie instead of Basic credentials. Failures
//! travel back as `ApiError`, mapped to a status and a JSON body in `error.rs` only.

pub mod admin_routes;
pub mod caller;
pub mod error;
mod listeners;
pub mod lock_routes;
mod middleware;
pub mod observability;
pub mod pagination;
pub mod params;
pub mod routes;
pub mod server;
pub mod status_page;
pub mod tls;
pub mod views;

use std::time::Duration;

use crate::services::Services;
pub use server::{start, Listening};

/// Everything a request handler needs, shared by all workers.
pub struct AppState {
    pub services: Services,
    /// How long an admin request's body may take to arrive.
    pub body_timeout: Duration,
}
