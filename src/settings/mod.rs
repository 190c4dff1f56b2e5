//! Configuration: built-in defaults, then a TOML file, then `FOREMAN_DLM__SECTION__KEY` variables.
//!
//! Every key here is a public interface documented in docs/configuration.md and
//! `contrib/settings.toml`; values are parsed into their types here (addresses, modes, secrets),
//! once.

mod database_yml;
mod defaults;
mod describe;
mod foreman_yml;
mod listen;
mod notifications;
mod prometheus;
mod secret;
mod sources;
mod unknown_keys;
pub use unknown_keys::known_keys;

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use config::{Config, File, FileFormat};
use ipnet::IpNet;
use serde::{Deserialize, Serialize};

pub use database_yml::{conninfo_from_foreman_yml, redact_database_url, FOREMAN_DATABASE_YML};
pub use foreman_yml::ForemanYml;
pub use listen::{FileMode, ListenAddr};
pub use notifications::{
    redact_url_path, MonitoringSettings, NotificationSettings, Switch, WebhookSettings,
    WEBHOOK_EVENTS,
};
pub use prometheus::PrometheusSettings;
pub use secret::Secret;

use crate::locks::policy::PolicyPattern;

/// Where operators put the settings file; a missing file at this default path is not an error.
pub const DEFAULT_SETTINGS_PATH: &str = "/etc/foreman-dlm/settings.toml";

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Settings {
    pub database: DatabaseSettings,
    pub http: HttpSettings,
    pub client_cert: ClientCertSettings,
    pub logins: LoginSettings,
    pub locks: LockSettings,
    pub foreman: ForemanSettings,
    pub monitoring: MonitoringSettings,
    pub notifications: NotificationSettings,
    pub metrics: MetricsSettings,
    pub limits: LimitSettings,
    /// Receivers of lock changes; none by default.
    #[serde(default)]
    pub webhooks: Vec<WebhookSettings>,
    /// Optional direct TLS listener, beside the one Apache uses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsSettings>,
    /// The alert gate's Prometheus (locks with `block_on_alerts`); without it, such locks take
    /// no new holder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prometheus: Option<PrometheusSettings>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct DatabaseSettings {
    /// A libpq URL or `key=value` string. Unset means: read Foreman's own database.yml, so the
    /// database password lives in exactly one file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<Secret>,
    pub foreman_database_yml: PathBuf,
    pub pool_size: u32,
    /// Connections for people's traffic (admin API, status page, logins, metrics), apart from
    /// the hosts' `pool_size`.
    pub admin_pool_size: u32,
    /// How long a request waits for a database connection before it is answered 503.
    pub connect_timeout_seconds: u64,
}

/// Bounds on what one client may cost the service: each refusal is answered with the reason.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct LimitSettings {
    /// Conditions one search may join with `and` (400 beyond).
    pub search_conditions: usize,
    /// Characters one search may have (400 beyond).
    pub search_chars: usize,
    /// A statement of people's traffic (admin API, status page, metrics) is stopped after this
    /// long, and answered 503 with Retry-After.
    pub admin_statement_timeout_seconds: u64,
    /// Locks one host may create (by acquiring or releasing a missing lock) per hour; 0 = none.
    pub locks_created_per_host_per_hour: u32,
    /// Locks one host may hold at once; 0 = no limit.
    pub locks_held_per_host: u32,
    /// Windows one lock or one `[[locks.policies]]` pattern may have.
    pub windows_per_lock: usize,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct HttpSettings {
    pub listen: ListenAddr,
    /// 0 = one worker per CPU core.
    pub workers: usize,
    /// Permissions of a Unix-socket `listen`: who may connect is who may speak for Apache.
    pub socket_mode: FileMode,
    /// Group of a Unix-socket `listen`; empty = Apache's group (`apache`, else `www-data`).
    pub socket_group: String,
    /// Time a client has to send its request line and headers.
    pub header_timeout_seconds: u64,
    /// Time a client has to send a request body, once it is wanted.
    pub body_timeout_seconds: u64,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct ClientCertSettings {
    /// CAs whose certificates name hosts by Puppet certname (`hosts.certname`, then `hosts.name`).
    pub ca_files: Vec<PathBuf>,
    /// CAs whose certificates name Katello hosts by subscription-manager consumer uuid.
    pub katello_ca_files: Vec<PathBuf>,
    pub crl_files: Vec<PathBuf>,
    #[serde(deserialize_with = "listen::networks")]
    pub trusted_proxies: Vec<IpNet>,
    pub cert_header: String,
    pub verify_header: String,
    pub dn_header: String,
    pub trust_proxy_verification: bool,
    /// How often the CA and CRL files are checked for changes (SIGHUP checks at once).
    pub reload_interval_seconds: u64,
}

/// Foreman users logging in with HTTP Basic: where their password hashing runs and how often
/// one address or one login may fail.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct LoginSettings {
    /// Threads that hash passwords and tokens; 0 = half the CPU cores (at least one).
    pub hashing_threads: usize,
    /// Logins waiting for a hashing thread; more are answered 503 at once.
    pub hashing_queue: usize,
    /// Failed logins allowed per source address per minute (a burst of this many, then 429).
    pub failures_per_address_per_minute: u32,
    /// Failed logins allowed per login name per minute.
    pub failures_per_login_per_minute: u32,
}

/// Where Foreman's own configuration lives.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct ForemanSettings {
    /// Foreman's settings.yaml: `bcrypt_cost`/`pbkdf2_cost`/`password_hash` set there win over
    /// the settings table, as in Foreman (they shape how tokens and new passwords are hashed).
    pub settings_yml: PathBuf,
    /// Keep the plugin's "Distributed Lock" host status (needs the plugin's Ruby class in
    /// Foreman: without it, Rails cannot load the rows and host pages fail).
    pub host_status: bool,
}

/// The metrics listener: Prometheus and health checks, never routed by Apache.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct MetricsSettings {
    /// `address:port`, or empty for no metrics listener.
    pub listen: String,
    /// Locks with a `foreman_dlm_lock_holders` series of their own (those with the most
    /// holders); the rest are summed in `foreman_dlm_lock_holders_other`.
    pub lock_series: usize,
}

impl MetricsSettings {
    pub fn listen_addr(&self) -> Option<SocketAddr> {
        self.listen.trim().parse().ok()
    }
}

/// A TLS listener that hosts reach without Apache: the TLS peer certificate identifies the host.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct TlsSettings {
    pub listen: SocketAddr,
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
    /// Intermediate certificates sent after `cert_file`, if `cert_file` holds only the leaf.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chain_file: Option<PathBuf>,
    /// Open connections one source address may hold, handshakes included; more are closed as
    /// they are accepted.
    #[serde(default = "default_connections_per_address")]
    pub max_connections_per_address: usize,
    /// Time a client has for its TLS handshake; meanwhile it counts against its address.
    #[serde(default = "default_handshake_timeout")]
    pub handshake_timeout_seconds: u64,
}

fn default_connections_per_address() -> usize {
    64
}

fn default_handshake_timeout() -> u64 {
    3
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct LockSettings {
    pub stale_time_hours: u32,
    /// How often expired leases are swept on locks nobody asks for.
    pub sweep_interval_seconds: u64,
    /// Policy defaults by lock name; the first match wins.
    #[serde(default)]
    pub policies: Vec<PolicyPattern>,
}

#[derive(Debug)]
pub enum SettingsError {
    /// The file, an environment variable or a value could not be read; the text says which.
    Invalid(String),
    /// No `database.url` and Foreman's database.yml did not give a usable connection.
    ForemanDatabaseYml { path: PathBuf, problem: String },
}

impl fmt::Display for SettingsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SettingsError::Invalid(text) => write!(f, "{text}"),
            SettingsError::ForemanDatabaseYml { path, problem } => write!(
                f,
                "database.url is not set and Foreman's database settings in {} cannot be used: \
                 {problem}",
                path.display()
            ),
        }
    }
}

impl std::error::Error for SettingsError {}

impl Settings {
    /// Loads the layered configuration. `explicit_path` is the `--config` argument: a file the
    /// operator named must exist, while the default path may be absent.
    pub fn load(explicit_path: Option<&Path>) -> Result<Settings, SettingsError> {
        let (path, required) = match explicit_path {
            Some(path) => (path.to_path_buf(), true),
            None => (PathBuf::from(DEFAULT_SETTINGS_PATH), false),
        };
        let mut builder = defaults::defaults()?;
        let text = sources::read_settings_file(&path, required)?;
        if let Some(text) = &text {
            // TOML's own error says where in the file, with the line; the path says which file.
            toml::de::DeTable::parse(text)
                .map_err(|e| SettingsError::Invalid(format!("{}: {e}", path.display())))?;
            builder = builder.add_source(File::from_str(text, FileFormat::Toml));
        }
        let file = text
            .as_deref()
            .map(|text| unknown_keys::FileText { path: &path, text });
        Self::from_config(
            builder.add_source(sources::environment()).build(),
            file.as_ref(),
        )
    }

    /// Defaults plus environment only; the demo builds settings this way.
    pub fn from_defaults_and_env() -> Result<Settings, SettingsError> {
        Self::from_config(
            defaults::defaults()?
                .add_source(sources::environment())
                .build(),
            None,
        )
    }

    fn from_config(
        built: Result<Config, config::ConfigError>,
        file: Option<&unknown_keys::FileText<'_>>,
    ) -> Result<Settings, SettingsError> {
        let invalid =
            |e: config::ConfigError| SettingsError::Invalid(format!("invalid configuration: {e}"));
        let mut ignored = Vec::new();
        let settings: Settings = serde_ignored::deserialize(built.map_err(invalid)?, |key| {
            ignored.push(key.to_string())
        })
        .map_err(invalid)?;
        let known = toml::Table::try_from(&settings).unwrap_or_default();
        if let Some(unknown) = unknown_keys::describe(&ignored, file, &known) {
            return Err(SettingsError::Invalid(unknown));
        }
        settings.validate()?;
        Ok(settings)
    }

    fn validate(&self) -> Result<(), SettingsError> {
        let invalid = |text: &str| Err(SettingsError::Invalid(text.to_string()));
        if self.database.pool_size == 0 || self.database.admin_pool_size == 0 {
            return invalid("database.pool_size and database.admin_pool_size must be at least 1");
        }
        let limits = &self.limits;
        if limits.search_conditions == 0
            || limits.search_chars == 0
            || limits.admin_statement_timeout_seconds == 0
            || limits.windows_per_lock == 0
        {
            return invalid(
                "limits.search_conditions, limits.search_chars, \
                 limits.admin_statement_timeout_seconds and limits.windows_per_lock must be at \
                 least 1",
            );
        }
        if self.locks.stale_time_hours == 0 {
            return invalid("locks.stale_time_hours must be at least 1");
        }
        if !(1..=30).contains(&self.locks.sweep_interval_seconds) {
            return invalid("locks.sweep_interval_seconds must be between 1 and 30");
        }
        if !self.metrics.listen.trim().is_empty() && self.metrics.listen_addr().is_none() {
            return Err(SettingsError::Invalid(format!(
                "metrics.listen = {:?} is not an address:port (or empty for none)",
                self.metrics.listen
            )));
        }
        for webhook in &self.webhooks {
            webhook.check().map_err(SettingsError::Invalid)?;
        }
        if self.monitoring.downtime_minutes == 0
            || self.monitoring.timeout_seconds == 0
            || self.notifications.poll_interval_ms == 0
            || self.notifications.max_retry_interval_seconds == 0
            || self.notifications.max_age_seconds == 0
            || self.notifications.keep_delivered_days == 0
            || self.notifications.keep_failed_days == 0
        {
            return invalid(
                "monitoring.downtime_minutes, monitoring.timeout_seconds and the notifications.* \
                 values must be at least 1",
            );
        }
        for pattern in &self.locks.policies {
            pattern
                .check(self.limits.windows_per_lock)
                .map_err(|e| SettingsError::Invalid(e.to_string()))?;
        }
        if self.http.header_timeout_seconds == 0 || self.http.body_timeout_seconds == 0 {
            return invalid(
                "http.header_timeout_seconds and http.body_timeout_seconds must be at least 1",
            );
        }
        if self.client_cert.reload_interval_seconds == 0 {
            return invalid("client_cert.reload_interval_seconds must be at least 1");
        }
        if self.logins.hashing_queue == 0
            || self.logins.failures_per_address_per_minute == 0
            || self.logins.failures_per_login_per_minute == 0
        {
            return invalid(
                "logins.hashing_queue and the logins.failures_* limits must be at least 1",
            );
        }
        if self
            .tls
            .as_ref()
            .is_some_and(|tls| tls.max_connections_per_address == 0)
        {
            return invalid("tls.max_connections_per_address must be at least 1");
        }
        if self
            .tls
            .as_ref()
            .is_some_and(|tls| !(1..=60).contains(&tls.handshake_timeout_seconds))
        {
            return invalid("tls.handshake_timeout_seconds must be between 1 and 60");
        }
        for (key, value) in [
            ("client_cert.cert_header", &self.client_cert.cert_header),
            ("client_cert.verify_header", &self.client_cert.verify_header),
            ("client_cert.dn_header", &self.client_cert.dn_header),
        ] {
            if actix_web::http::header::HeaderName::try_from(value.as_str()).is_err() {
                return Err(SettingsError::Invalid(format!(
                    "{key} = {value:?} is not a valid HTTP header name"
                )));
            }
        }
        Ok(())
    }

    /// The connection string to use: `database.url`, or one built from Foreman's database.yml.
    pub fn database_url(&self) -> Result<Secret, SettingsError> {
        match &self.database.url {
            Some(url) if !url.is_blank() => Ok(Secret::new(url.expose().trim())),
            _ => conninfo_from_foreman_yml(&self.database.foreman_database_yml).map(Secret::new),
        }
    }
}

#[cfg(test)]
mod tests;
