//! Monitoring downtimes, as foreman_monitoring sets them through the host's smart proxy (its
//! `hosts.monitoring_proxy_id`): `POST {proxy}/monitoring/downtime/host/{name}` with the form
//! fields author, comment, start_time and end_time (epoch seconds) when a host becomes a holder;
//! `DELETE {proxy}/monitoring/downtime/host/{name}?author=…&comment=…` when it stops. The author
//! and comment are the plugin's by default, so a downtime it set is removed by foreman-dlm.

use std::path::{Path, PathBuf};
use std::time::Duration;

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// What is escaped in a host name or a query value: everything but letters, digits, `.`, `-`
/// and `_` (a host name stays readable in the proxy's log).
const ESCAPED: &AsciiSet = &NON_ALPHANUMERIC.remove(b'.').remove(b'-').remove(b'_');

use super::outbound::{client, judge, Identity};
use super::Delivery;
use crate::settings::{ForemanYml, MonitoringSettings};
use crate::storage::notifications::{self as store, NotificationRow};
use crate::storage::Database;

pub struct MonitoringClient {
    client: Result<awc::Client, String>,
    settings: MonitoringSettings,
}

/// The client certificate, key and CA Foreman presents to smart proxies: the settings' paths,
/// else Foreman's settings.yaml (`:ssl_certificate:`, `:ssl_priv_key:`, `:ssl_ca_file:`).
pub fn proxy_identity(settings: &MonitoringSettings, foreman_yml: &Path) -> [Option<PathBuf>; 3] {
    let yml = ForemanYml::load(foreman_yml);
    let pick = |own: &Path, key: &str| {
        if own.as_os_str().is_empty() {
            yml.string(key).map(PathBuf::from)
        } else {
            Some(own.to_path_buf())
        }
    };
    [
        pick(&settings.ssl_certificate, "ssl_certificate"),
        pick(&settings.ssl_priv_key, "ssl_priv_key"),
        pick(&settings.ssl_ca_file, "ssl_ca_file"),
    ]
}

impl MonitoringClient {
    pub fn new(settings: &MonitoringSettings, foreman_yml: &Path) -> MonitoringClient {
        let [certificate, key, ca_file] = proxy_identity(settings, foreman_yml);
        let client = client(
            &Identity {
                certificate: certificate.as_deref(),
                key: key.as_deref(),
                ca_file: ca_file.as_deref(),
            },
            Duration::from_secs(settings.timeout_seconds),
        );
        if let Err(e) = &client {
            log::error!("monitoring downtimes cannot be sent: {e}");
        }
        MonitoringClient {
            client,
            settings: settings.clone(),
        }
    }

    pub async fn deliver(&self, db: &Database, row: &NotificationRow) -> Delivery {
        let (Some(host_id), Some(host)) = (row.host_id, row.host_name.as_deref()) else {
            return Delivery::Done;
        };
        let proxy = async {
            let mut conn = db.conn().await?;
            store::monitoring_proxy_url(&mut conn, host_id).await
        };
        let proxy = match proxy.await {
            Ok(Some(url)) => url,
            // Not monitored: nothing to tell anyone.
            Ok(None) => return Delivery::Done,
            Err(e) => return Delivery::Retry(e.to_string()),
        };
        let client = match &self.client {
            Ok(client) => client,
            Err(e) => return Delivery::Retry(e.clone()),
        };
        let url = format!(
            "{}/monitoring/downtime/host/{}",
            proxy.trim_end_matches('/'),
            utf8_percent_encode(host, ESCAPED)
        );
        let author = self.settings.author.as_str();
        let comment = self.settings.comment.as_str();
        let sent = if row.event == "acquire" {
            let start = row.occurred_at.and_utc().timestamp();
            let end = start + i64::from(self.settings.downtime_minutes) * 60;
            let form = [
                ("author", author.to_string()),
                ("comment", comment.to_string()),
                ("start_time", start.to_string()),
                ("end_time", end.to_string()),
            ];
            client.post(&url).send_form(&form).await
        } else {
            let query = format!(
                "{url}?author={}&comment={}",
                utf8_percent_encode(author, ESCAPED),
                utf8_percent_encode(comment, ESCAPED)
            );
            client.delete(query).send().await
        };
        match sent {
            // The proxy has no downtime (or no host) to remove: the goal is reached.
            Ok(response) if row.event != "acquire" && response.status().as_u16() == 404 => {
                Delivery::Done
            }
            Ok(response) => judge(response.status(), "the monitoring proxy"),
            Err(e) => Delivery::Retry(format!("the monitoring proxy: {e}")),
        }
    }
}
