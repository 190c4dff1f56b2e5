//! Material for `foreman-dlm demo` and the integration tests: a Foreman-like schema and a small
//! certificate authority. Nothing here runs in `serve`.

pub mod pki;

/// Foreman's tables as the tests and the demo create them (see the file's header).
pub const FOREMAN_SCHEMA_SQL: &str = include_str!("foreman_schema.sql");
