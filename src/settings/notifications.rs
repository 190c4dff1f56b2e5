//! `[monitoring]`, `[notifications]` and `[[webhooks]]`: where lock changes are delivered.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::Secret;

/// `[monitoring] enabled`: `"auto"` (on where Foreman's database has foreman_monitoring's
/// `hosts.monitoring_proxy_id`), `true` or `false`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Switch {
    Fixed(bool),
    Auto(AutoWord),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AutoWord {
    Auto,
}

/// Monitoring downtimes while a host holds a lock, set through its smart proxy as
/// foreman_monitoring does.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct MonitoringSettings {
    pub enabled: Switch,
    /// The plugin's values by default, so that a downtime it set is removed by foreman-dlm.
    pub author: String,
    pub comment: String,
    pub downtime_minutes: u32,
    /// Client certificate, key and CA for the smart proxy; empty = Foreman's settings.yaml
    /// `:ssl_certificate:`, `:ssl_priv_key:`, `:ssl_ca_file:`.
    pub ssl_certificate: PathBuf,
    pub ssl_priv_key: PathBuf,
    pub ssl_ca_file: PathBuf,
    pub timeout_seconds: u64,
}

/// How the outbox is delivered.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct NotificationSettings {
    /// How often the worker looks for notifications to deliver.
    pub poll_interval_ms: u64,
    /// Retries wait twice as long each time, up to this.
    pub max_retry_interval_seconds: u64,
    /// A notification still undelivered this long after its lock change is marked failed.
    pub max_age_seconds: u64,
    /// Delivered notifications are deleted this many days after their delivery.
    pub keep_delivered_days: u32,
    /// Failed notifications are deleted this many days after they failed: longer, so that an
    /// admin can still read why.
    pub keep_failed_days: u32,
}

/// One webhook receiver.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct WebhookSettings {
    pub url: String,
    /// acquire, release, expire, fail, enable, disable, stale, force_release, halt, resume.
    pub events: Vec<String>,
    /// HMAC-SHA256 key of `X-Foreman-DLM-Signature`; without one, no signature is sent.
    #[serde(default)]
    pub secret: Option<Secret>,
    /// CA certificates for the receiver's TLS; absent = the system's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
    #[serde(default = "default_webhook_timeout")]
    pub timeout_seconds: u64,
}

fn default_webhook_timeout() -> u64 {
    10
}

/// The event names a webhook may subscribe to.
pub const WEBHOOK_EVENTS: [&str; 10] = [
    "acquire",
    "release",
    "expire",
    "fail",
    "enable",
    "disable",
    "stale",
    "force_release",
    "halt",
    "resume",
];

impl WebhookSettings {
    pub fn check(&self) -> Result<(), String> {
        let url = self.url.trim();
        if !(url.starts_with("https://") || url.starts_with("http://")) {
            return Err(format!(
                "webhooks: url {url:?} must start with https:// or http://"
            ));
        }
        if self.events.is_empty() {
            return Err(format!(
                "webhooks ({url}): events must name at least one event"
            ));
        }
        if let Some(unknown) = self
            .events
            .iter()
            .find(|e| !WEBHOOK_EVENTS.contains(&e.as_str()))
        {
            return Err(format!(
                "webhooks ({url}): unknown event {unknown:?}; use {}",
                WEBHOOK_EVENTS.join(", ")
            ));
        }
        if !(1..=300).contains(&self.timeout_seconds) {
            return Err(format!(
                "webhooks ({url}): timeout_seconds must be between 1 and 300"
            ));
        }
        Ok(())
    }
}

/// `https://chat.example.com/…`: a URL without its path and credentials, which may hold a
/// token (chat webhooks do), for logs and `check-config`.
pub fn redact_url_path(url: &str) -> String {
    let url = url.trim();
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = host.rsplit('@').next().unwrap_or_default();
    format!("{scheme}://{host}/…")
}

/// How a webhook is shown in the effective configuration.
#[derive(Serialize)]
pub struct ShownWebhook<'a> {
    url: String,
    events: &'a [String],
    secret: &'a Option<Secret>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ca_file: &'a Option<PathBuf>,
    timeout_seconds: u64,
}

impl<'a> From<&'a WebhookSettings> for ShownWebhook<'a> {
    fn from(w: &'a WebhookSettings) -> ShownWebhook<'a> {
        ShownWebhook {
            url: redact_url_path(&w.url),
            events: &w.events,
            secret: &w.secret,
            ca_file: &w.ca_file,
            timeout_seconds: w.timeout_seconds,
        }
    }
}
