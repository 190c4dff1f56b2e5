//! `[prometheus]`: where the alert gate asks whether a lock may take a new holder.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// The Prometheus server whose alerts gate new holders (a lock's `block_on_alerts`). Debug and
/// the effective configuration ([`PrometheusSettings::shown`]) mask the URL's password.
#[derive(Clone, Deserialize, Serialize)]
pub struct PrometheusSettings {
    /// The server's root, as its own links name it: `https://host:9090`, or with the path prefix
    /// of a reverse proxy (`https://host/prometheus`). Credentials in it (`https://user:pw@…`)
    /// are sent as Basic authentication, never shown in an answer or a log.
    pub url: String,
    /// The CA that vouches for an https `url` (else the system's CAs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
    /// Read again on each query that is not answered from the cache, so that a rotated token
    /// needs no restart.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bearer_token_file: Option<PathBuf>,
    /// A query that takes longer blocks the lock (the gate fails closed).
    #[serde(default = "default_timeout_seconds")]
    pub timeout_seconds: u64,
    /// How long an answer (an error too) stands for the same expression, so that a fleet of
    /// polling hosts costs Prometheus one query per lock per period; 0 = ask every time.
    #[serde(default = "default_cache_seconds")]
    pub cache_seconds: u64,
}

impl std::fmt::Debug for PrometheusSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PrometheusSettings")
            .field("url", &super::redact_database_url(&self.url))
            .field("ca_file", &self.ca_file)
            .field("bearer_token_file", &self.bearer_token_file)
            .field("timeout_seconds", &self.timeout_seconds)
            .field("cache_seconds", &self.cache_seconds)
            .finish()
    }
}

impl PrometheusSettings {
    /// As `check-config` prints it: the URL with its password masked.
    pub fn shown(&self) -> PrometheusSettings {
        PrometheusSettings {
            url: super::redact_database_url(&self.url),
            ..self.clone()
        }
    }

    /// The mistakes that would otherwise only show at the first gated request, as a lock that
    /// never takes a holder.
    pub fn check(&self) -> Result<(), String> {
        let Some((_, rest)) = self
            .url
            .split_once("://")
            .filter(|(scheme, _)| matches!(*scheme, "http" | "https"))
        else {
            return Err("prometheus.url must start with http:// or https://".to_owned());
        };
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        let host = authority
            .rsplit_once('@')
            .map_or(authority, |(_, host)| host);
        if host.is_empty() {
            return Err("prometheus.url has no host name".to_owned());
        }
        if rest.contains(['?', '#']) {
            return Err("prometheus.url must not have a query (?) or fragment (#)".to_owned());
        }
        if authority.contains('@') && self.bearer_token_file.is_some() {
            return Err(
                "prometheus.url has credentials and prometheus.bearer_token_file is set: \
                 use one of them"
                    .to_owned(),
            );
        }
        if self.timeout_seconds < 1 {
            return Err("prometheus.timeout_seconds must be at least 1".to_owned());
        }
        Ok(())
    }
}

fn default_timeout_seconds() -> u64 {
    5
}

fn default_cache_seconds() -> u64 {
    15
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_url(url: &str) -> PrometheusSettings {
        PrometheusSettings {
            url: url.to_owned(),
            ca_file: None,
            bearer_token_file: None,
            timeout_seconds: default_timeout_seconds(),
            cache_seconds: default_cache_seconds(),
        }
    }

    #[test]
    fn good_urls_pass() {
        for url in [
            "http://localhost:9090",
            "https://prom.example.com/",
            "https://prom.example.com/prometheus",
            "https://user:pw@prom.example.com",
        ] {
            assert_eq!(with_url(url).check(), Ok(()), "{url}");
        }
    }

    #[test]
    fn bad_settings_are_named() {
        let message = |settings: PrometheusSettings| settings.check().unwrap_err();
        assert_eq!(
            message(with_url("prom:9090")),
            "prometheus.url must start with http:// or https://"
        );
        assert!(message(with_url("ftp://prom")).contains("prometheus.url"));
        assert!(message(with_url("https://")).contains("no host"));
        assert!(message(with_url("https://user@/x")).contains("no host"));
        assert!(message(with_url("https://prom/?x=1")).contains("query"));
        let mut zero = with_url("http://prom");
        zero.timeout_seconds = 0;
        assert!(message(zero).contains("prometheus.timeout_seconds"));
        let mut both = with_url("http://u:p@prom");
        both.bearer_token_file = Some("/token".into());
        assert!(message(both).contains("bearer_token_file"));
    }
}
