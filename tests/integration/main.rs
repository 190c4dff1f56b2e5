//! All HTTP and database tests in one binary (one link step), each on its own database.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod admin_api;
mod admin_auth;
mod cli;
mod client;
mod client_resilience;
mod common;
mod concurrency;
mod database_outage;
mod database_tls;
mod demo;
mod deployment;
mod docs;
mod faults;
mod floods;
mod host_locks;
mod hostile;
mod hostile_load;
mod identity;
mod monitoring;
mod notifications;
mod observability;
mod opt_out;
mod packaging;
mod policies;
mod policy_admin;
mod query_plans;
mod safety;
mod schema;
mod security;
mod settings_typos;
mod status_page;
mod windows;
