//! `check-config`'s view of the settings: the effective configuration as TOML, every secret
//! masked, the connection URL's host still visible.

use std::path::Path;

use serde::Serialize;

use super::*;

impl Settings {
    /// The effective configuration as TOML, secrets masked: what `check-config` prints.
    pub fn describe(&self) -> String {
        let mut shown = self.clone();
        if let Some(url) = &self.database.url {
            shown.database.url = Some(Secret::new(redact_database_url(url.expose())));
        }
        let mut text = toml::to_string(&Describe(&shown))
            .unwrap_or_else(|e| format!("# the configuration cannot be printed: {e}\n"));
        if self.database.url.as_ref().is_none_or(Secret::is_blank) {
            text.push_str("\n# database.url is unset: Foreman's database.yml is used\n");
        }
        if self.tls.is_none() {
            text.push_str("# [tls] is not configured: no direct TLS listener\n");
        }
        text
    }
}

/// Serialises the settings with the connection URL visible but its password masked (the URL's
/// own `Secret` would print only asterisks, hiding the host an operator wants to check).
struct Describe<'a>(&'a Settings);

impl Serialize for Describe<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Database<'a> {
            #[serde(skip_serializing_if = "Option::is_none")]
            url: Option<&'a str>,
            foreman_database_yml: &'a Path,
            pool_size: u32,
            admin_pool_size: u32,
            connect_timeout_seconds: u64,
        }
        #[derive(Serialize)]
        struct Shown<'a> {
            database: Database<'a>,
            http: &'a HttpSettings,
            client_cert: &'a ClientCertSettings,
            logins: &'a LoginSettings,
            locks: &'a LockSettings,
            foreman: &'a ForemanSettings,
            monitoring: &'a MonitoringSettings,
            notifications: &'a NotificationSettings,
            metrics: &'a MetricsSettings,
            limits: &'a LimitSettings,
            #[serde(skip_serializing_if = "Option::is_none")]
            tls: &'a Option<TlsSettings>,
            webhooks: Vec<notifications::ShownWebhook<'a>>,
            #[serde(skip_serializing_if = "Option::is_none")]
            prometheus: Option<PrometheusSettings>,
        }
        let settings = self.0;
        Shown {
            database: Database {
                url: settings.database.url.as_ref().map(Secret::expose),
                foreman_database_yml: &settings.database.foreman_database_yml,
                pool_size: settings.database.pool_size,
                admin_pool_size: settings.database.admin_pool_size,
                connect_timeout_seconds: settings.database.connect_timeout_seconds,
            },
            http: &settings.http,
            client_cert: &settings.client_cert,
            logins: &settings.logins,
            locks: &settings.locks,
            foreman: &settings.foreman,
            monitoring: &settings.monitoring,
            notifications: &settings.notifications,
            metrics: &settings.metrics,
            limits: &settings.limits,
            tls: &settings.tls,
            webhooks: settings.webhooks.iter().map(Into::into).collect(),
            prometheus: settings.prometheus.as_ref().map(PrometheusSettings::shown),
        }
        .serialize(s)
    }
}
