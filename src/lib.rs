//! foreman-dlm: the foreman_dlm plugin's lock API as a sidecar service on the Foreman server.
//!
//! Layers, top to bottom: [`http`] (routes, JSON, the one error mapping) → [`identity`] (client
//! certificates → Foreman hosts) → [`locks`] (what a host may do to a lock) → [`storage`]
//! (PostgreSQL: Foreman's database, the plugin's tables). [`commands`] holds the CLI subcommands.

pub mod alerts;
pub mod clock;
pub mod commands;
pub mod demo;
pub mod http;
pub mod identity;
pub mod locks;
pub mod metrics;
pub mod notifications;
pub mod outage;
pub mod services;
pub mod settings;
pub mod storage;

#[cfg(test)]
mod fuzz_properties;
