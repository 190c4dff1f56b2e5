//! Delivering what lock changes must tell others: monitoring downtimes through the host's smart
//! proxy, Foreman's "Distributed Lock" host status, and webhooks.
//!
//! The database writes the notifications, in the transaction of the lock change (the outbox, see
//! `storage::notifications`); this worker delivers them. It never runs on a request's path: a
//! receiver that is down or slow changes no lock answer. Each destination has a delivery loop of
//! its own, so a receiver that hangs delays only its own notifications. Each row is claimed by
//! one worker of an HA pair at a time, each host's notifications go out in order per destination,
//! failures are retried with exponential backoff, and a notification too old to matter is kept,
//! marked failed, and logged. Delivery is at least once: every notification carries a unique id.
//! Delivered and failed rows are deleted after their retention.

mod host_status;
mod monitoring;
mod outbound;
mod webhooks;

use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::clock;
use crate::settings::{MonitoringSettings, Settings, Switch, WebhookSettings};
use crate::storage::notifications::{self as store, NotificationRow};
use crate::storage::{catalog, Database, StorageError};
pub use webhooks::{payload, signature, SIGNATURE_HEADER};

/// The events each kind of destination takes.
const MONITORING_EVENTS: [&str; 4] = ["acquire", "release", "expire", "force_release"];
const HOST_STATUS_EVENTS: [&str; 5] = ["acquire", "release", "expire", "force_release", "stale"];

/// Notifications claimed per round of a destination; each is for a different host.
const BATCH: i64 = 32;

/// How often delivered and failed notifications past their retention are deleted, and how many
/// a statement.
const PRUNE_INTERVAL: Duration = Duration::from_secs(3600);
const PRUNE_BATCH: i64 = 1000;

/// What one attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    Done,
    /// Worth trying again later: the receiver is down, slow or busy.
    Retry(String),
    /// The receiver refused it for good (a 4xx): kept, marked failed.
    Refused(String),
}

/// Everything the worker needs from the settings.
#[derive(Clone)]
pub struct Notifier {
    db: Database,
    monitoring: MonitoringSettings,
    /// Foreman's settings.yaml, for the smart-proxy client certificate.
    foreman_yml: std::path::PathBuf,
    host_status: bool,
    webhooks: Vec<WebhookSettings>,
    stale_hours: i32,
    /// How often holders are checked for going stale (`locks.sweep_interval_seconds`).
    stale_check: Duration,
    poll: Duration,
    max_retry_seconds: u64,
    max_age_seconds: u64,
    keep_delivered_days: u32,
    keep_failed_days: u32,
    /// True once the destinations table matches the settings; see [`Notifier::set_up`].
    set_up: Arc<tokio::sync::watch::Sender<bool>>,
}

/// A destination this instance delivers to.
enum Destination {
    Monitoring(monitoring::MonitoringClient),
    HostStatus,
    Webhook(webhooks::WebhookClient),
}

impl Notifier {
    pub fn new(db: Database, settings: &Settings) -> Notifier {
        Notifier {
            db,
            monitoring: settings.monitoring.clone(),
            foreman_yml: settings.foreman.settings_yml.clone(),
            host_status: settings.foreman.host_status,
            webhooks: settings.webhooks.clone(),
            stale_hours: i32::try_from(settings.locks.stale_time_hours).unwrap_or(i32::MAX),
            stale_check: Duration::from_secs(settings.locks.sweep_interval_seconds),
            poll: Duration::from_millis(settings.notifications.poll_interval_ms),
            max_retry_seconds: settings.notifications.max_retry_interval_seconds,
            max_age_seconds: settings.notifications.max_age_seconds,
            keep_delivered_days: settings.notifications.keep_delivered_days,
            keep_failed_days: settings.notifications.keep_failed_days,
            set_up: Arc::new(tokio::sync::watch::channel(false).0),
        }
    }

    /// Turns true once the destinations are written. The outbox trigger enqueues a lock change
    /// only for the destinations in the table at that moment, so a change made before the
    /// service wrote this instance's settings there would tell nobody: lock changes wait for it.
    pub fn set_up(&self) -> tokio::sync::watch::Receiver<bool> {
        self.set_up.subscribe()
    }

    /// Whether monitoring downtimes are on: `auto` asks Foreman's database for
    /// foreman_monitoring's column.
    pub async fn monitoring_enabled(&self) -> Result<bool, StorageError> {
        match self.monitoring.enabled {
            Switch::Fixed(on) => Ok(on),
            Switch::Auto(_) => {
                let mut conn = self.db.conn().await?;
                catalog::column_exists(&mut conn, "hosts", "monitoring_proxy_id").await
            }
        }
    }

    /// (pending, failed) notifications, for the metrics.
    pub async fn backlog(&self) -> Result<(i64, i64), StorageError> {
        let mut conn = self.db.conn().await?;
        store::backlog(&mut conn).await
    }

    /// Builds the clients and writes the destinations table. Runs on the actix runtime (the
    /// HTTP client is bound to it).
    async fn destinations(&self) -> Result<Vec<(String, Destination)>, StorageError> {
        let mut destinations = Vec::new();
        if self.monitoring_enabled().await? {
            let client = monitoring::MonitoringClient::new(&self.monitoring, &self.foreman_yml);
            destinations.push(("monitoring".to_string(), Destination::Monitoring(client)));
        }
        if self.host_status {
            destinations.push(("host_status".to_string(), Destination::HostStatus));
        }
        for webhook in &self.webhooks {
            let client = webhooks::WebhookClient::new(webhook);
            destinations.push((
                client.destination().to_string(),
                Destination::Webhook(client),
            ));
        }
        let table: Vec<(String, Vec<String>)> = destinations
            .iter()
            .map(|(name, destination)| (name.clone(), destination.events()))
            .collect();
        let mut conn = self.db.conn().await?;
        let orphaned = store::set_destinations(&mut conn, &table).await?;
        for gone in orphaned {
            log::error!(
                "notifications: {} undelivered notification(s) for {} marked failed: {}",
                gone.notifications,
                gone.destination,
                store::NO_LONGER_A_DESTINATION
            );
        }
        for (name, destination) in &destinations {
            log::info!(
                "notifications: {} gets {}",
                destination.label(name),
                destination.events().join(", ")
            );
        }
        Ok(destinations)
    }

    /// Delivers for as long as the service runs: one loop per destination, and the stale check
    /// and the pruning beside them. Errors are logged and retried on the next round: a database
    /// that is away now is probably back then.
    pub async fn run_forever(self) {
        let destinations = loop {
            match self.destinations().await {
                Ok(destinations) => {
                    self.set_up.send_replace(true);
                    break destinations;
                }
                Err(e) => {
                    // The database's outage is reported once, by the pool.
                    log::log!(
                        crate::outage::DATABASE.consequence_level(),
                        "notifications: cannot set up the destinations yet: {e}"
                    );
                    actix_web::rt::time::sleep(self.poll.max(Duration::from_secs(1))).await;
                }
            }
        };
        if destinations.is_empty() {
            log::info!("notifications: no destination is configured");
        }
        let check_stale = !destinations.is_empty();
        let notifier = Rc::new(self);
        for (name, destination) in destinations {
            let notifier = notifier.clone();
            actix_web::rt::spawn(async move { notifier.deliver_forever(name, destination).await });
        }
        notifier.housekeeping_forever(check_stale).await;
    }

    /// One destination's loop: claim, deliver, record, and again at once while there was work.
    async fn deliver_forever(&self, name: String, destination: Destination) {
        loop {
            match self.round(&name, &destination).await {
                Ok(claimed) if claimed > 0 => continue,
                Ok(_) => {}
                Err(e) => log::warn!("notifications to {}: {e}", destination.label(&name)),
            }
            actix_web::rt::time::sleep(self.poll).await;
        }
    }

    /// The stale check (only where there is someone to tell) and the pruning.
    async fn housekeeping_forever(&self, check_stale: bool) {
        let mut pruned: Option<Instant> = None;
        loop {
            if check_stale {
                self.report_stale().await;
            }
            if pruned.is_none_or(|at| at.elapsed() >= PRUNE_INTERVAL) {
                pruned = Some(Instant::now());
                self.prune().await;
            }
            actix_web::rt::time::sleep(self.stale_check).await;
        }
    }

    async fn prune(&self) {
        let pruned = async {
            let mut conn = self.db.conn().await?;
            store::prune(
                &mut conn,
                self.keep_delivered_days,
                self.keep_failed_days,
                PRUNE_BATCH,
                Duration::from_millis(50),
            )
            .await
        };
        match pruned.await {
            Ok(0) => {}
            Ok(n) => log::info!("notifications: deleted {n} past their retention"),
            Err(e) => log::warn!("notifications: pruning skipped: {e}"),
        }
    }

    async fn report_stale(&self) {
        let reported = async {
            let mut conn = self.db.conn().await?;
            store::report_stale_holders(&mut conn, clock::test_now(), self.stale_hours).await
        };
        match reported.await {
            Ok(0) => {}
            Ok(n) => log::warn!(
                "{n} lock holder(s) went stale (not refreshed for {}h)",
                self.stale_hours
            ),
            Err(e) => log::warn!("notifications: stale check skipped: {e}"),
        }
    }

    /// One claim of `name`'s notifications and their deliveries; how many were claimed.
    async fn round(&self, name: &str, destination: &Destination) -> Result<usize, StorageError> {
        let claim_seconds = i32::try_from(self.claim_seconds()).unwrap_or(i32::MAX);
        let rows = {
            let mut conn = self.db.conn().await?;
            store::claim(&mut conn, &[name.to_string()], BATCH, claim_seconds).await?
        };
        let attempts = rows.iter().map(|row| async move {
            let outcome = destination.deliver(&self.db, row, self.stale_hours).await;
            (row, outcome)
        });
        let outcomes = futures_util::future::join_all(attempts).await;
        let mut conn = self.db.conn().await?;
        let label = destination.label(name);
        for (row, outcome) in outcomes {
            self.record(&mut conn, &label, row, outcome).await?;
        }
        Ok(rows.len())
    }

    async fn record(
        &self,
        conn: &mut crate::storage::Conn,
        label: &str,
        row: &NotificationRow,
        outcome: Delivery,
    ) -> Result<(), StorageError> {
        let (error, permanent) = match outcome {
            Delivery::Done => {
                log::debug!(
                    "notification {} ({}) delivered to {label}",
                    row.uuid,
                    row.event
                );
                return store::mark_delivered(conn, row.id).await;
            }
            Delivery::Retry(error) => (error, false),
            Delivery::Refused(error) => (error, true),
        };
        let retry_in = self.backoff(row.attempts);
        let max_age = i32::try_from(self.max_age_seconds).unwrap_or(i32::MAX);
        if store::mark_retry(conn, row.id, &error, retry_in, max_age, permanent).await? {
            log::error!(
                "notification {} ({} of lock {:?}, host {:?}) to {label} failed for good after {} \
                 attempt(s): {error}",
                row.uuid,
                row.event,
                row.lock_name.as_deref().unwrap_or("?"),
                row.host_name.as_deref().unwrap_or("-"),
                row.attempts
            );
        } else {
            log::warn!(
                "notification {} to {label} failed (attempt {}), retrying in {retry_in}s: {error}",
                row.uuid,
                row.attempts
            );
        }
        Ok(())
    }

    /// 1, 2, 4, … seconds, up to `notifications.max_retry_interval_seconds`.
    fn backoff(&self, attempts: i32) -> i32 {
        let exponent = u32::try_from(attempts.saturating_sub(1))
            .unwrap_or(0)
            .min(20);
        let seconds = 1u64.checked_shl(exponent).unwrap_or(u64::MAX);
        i32::try_from(seconds.min(self.max_retry_seconds)).unwrap_or(i32::MAX)
    }

    /// Longer than any attempt can take, so that a claim only runs out when its worker died.
    fn claim_seconds(&self) -> u64 {
        let slowest = self
            .webhooks
            .iter()
            .map(|w| w.timeout_seconds)
            .chain([self.monitoring.timeout_seconds])
            .max()
            .unwrap_or(10);
        slowest + 30
    }
}

/// For `check-config`: which client certificate the monitoring proxies get, checked by loading
/// it; the error names the file that fails.
pub fn monitoring_identity(settings: &Settings) -> Result<String, String> {
    let [certificate, key, ca_file] =
        monitoring::proxy_identity(&settings.monitoring, &settings.foreman.settings_yml);
    let (Some(certificate), Some(key)) = (certificate, key) else {
        return Err(format!(
            "no client certificate for the smart proxies: set monitoring.ssl_certificate and \
             monitoring.ssl_priv_key, or :ssl_certificate: and :ssl_priv_key: in {}",
            settings.foreman.settings_yml.display()
        ));
    };
    outbound::tls(&outbound::Identity {
        certificate: Some(&certificate),
        key: Some(&key),
        ca_file: ca_file.as_deref(),
    })?;
    Ok(format!(
        "client certificate {} (key {}), proxies verified with {}",
        certificate.display(),
        key.display(),
        ca_file.map_or("the system's CAs".into(), |f| f.display().to_string())
    ))
}

/// For `check-config` and the log: a webhook's URL without its path, which may hold a token.
pub fn webhook_label(url: &str) -> String {
    webhooks::label_of(url)
}

impl Destination {
    fn events(&self) -> Vec<String> {
        let events: &[&str] = match self {
            Destination::Monitoring(_) => &MONITORING_EVENTS,
            Destination::HostStatus => &HOST_STATUS_EVENTS,
            Destination::Webhook(client) => return client.events(),
        };
        events.iter().map(|e| e.to_string()).collect()
    }

    /// How logs name it: never a webhook's full URL, which may carry a token.
    fn label(&self, name: &str) -> String {
        match self {
            Destination::Webhook(client) => client.label(),
            _ => name.to_string(),
        }
    }

    async fn deliver(&self, db: &Database, row: &NotificationRow, stale_hours: i32) -> Delivery {
        match self {
            Destination::Monitoring(client) => client.deliver(db, row).await,
            Destination::HostStatus => host_status::deliver(db, row, stale_hours).await,
            Destination::Webhook(client) => client.deliver(row).await,
        }
    }
}
