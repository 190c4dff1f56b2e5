//! The built-in defaults: every key a settings file may leave out, with the value documented in
//! docs/configuration.md and `contrib/settings.toml` (unit and integration tests hold them
//! together).

use config::Config;

use super::{SettingsError, FOREMAN_DATABASE_YML};

pub(super) fn defaults(
) -> Result<config::ConfigBuilder<config::builder::DefaultState>, SettingsError> {
    let none = Vec::<String>::new;
    let entries: Vec<(&str, config::Value)> = vec![
        ("database.foreman_database_yml", FOREMAN_DATABASE_YML.into()),
        ("database.pool_size", 10.into()),
        ("database.admin_pool_size", 2.into()),
        ("database.connect_timeout_seconds", 5.into()),
        ("http.listen", "unix:/run/foreman-dlm/http.sock".into()),
        ("http.workers", 0.into()),
        ("http.socket_mode", "0660".into()),
        ("http.socket_group", "".into()),
        ("http.header_timeout_seconds", 10.into()),
        ("http.body_timeout_seconds", 10.into()),
        ("client_cert.ca_files", none().into()),
        ("client_cert.katello_ca_files", none().into()),
        ("client_cert.crl_files", none().into()),
        (
            "client_cert.trusted_proxies",
            vec!["127.0.0.1/32".to_string(), "::1/128".to_string()].into(),
        ),
        ("client_cert.cert_header", "SSL-CLIENT-CERT".into()),
        ("client_cert.verify_header", "SSL-CLIENT-VERIFY".into()),
        ("client_cert.dn_header", "SSL-CLIENT-S-DN".into()),
        ("client_cert.trust_proxy_verification", false.into()),
        ("client_cert.reload_interval_seconds", 10.into()),
        ("logins.hashing_threads", 0.into()),
        ("logins.hashing_queue", 32.into()),
        ("logins.failures_per_address_per_minute", 20.into()),
        ("logins.failures_per_login_per_minute", 10.into()),
        ("locks.stale_time_hours", 4.into()),
        ("locks.sweep_interval_seconds", 10.into()),
        ("foreman.settings_yml", "/etc/foreman/settings.yaml".into()),
        ("foreman.host_status", false.into()),
        ("monitoring.enabled", "auto".into()),
        ("monitoring.author", "Foreman".into()),
        ("monitoring.comment", "Host acquired lock.".into()),
        ("monitoring.downtime_minutes", 180.into()),
        ("monitoring.ssl_certificate", "".into()),
        ("monitoring.ssl_priv_key", "".into()),
        ("monitoring.ssl_ca_file", "".into()),
        ("monitoring.timeout_seconds", 10.into()),
        ("metrics.listen", "127.0.0.1:9464".into()),
        ("metrics.lock_series", 100.into()),
        ("limits.search_conditions", 20.into()),
        ("limits.search_chars", 1000.into()),
        ("limits.admin_statement_timeout_seconds", 10.into()),
        ("limits.locks_created_per_host_per_hour", 60.into()),
        ("limits.locks_held_per_host", 20.into()),
        ("limits.windows_per_lock", 50.into()),
        ("notifications.poll_interval_ms", 1000.into()),
        ("notifications.max_retry_interval_seconds", 300.into()),
        ("notifications.max_age_seconds", 86400.into()),
        ("notifications.keep_delivered_days", 7.into()),
        ("notifications.keep_failed_days", 30.into()),
    ];
    let mut builder = Config::builder();
    for (key, value) in entries {
        builder = builder
            .set_default(key, value)
            .map_err(|e| SettingsError::Invalid(format!("internal default {key}: {e}")))?;
    }
    Ok(builder)
}
