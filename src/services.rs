//! The running service's parts, wired together from the settings: the one place that builds the
//! database pool and hands it to the domain layers.

use std::sync::Arc;
use std::time::Duration;

use crate::alerts::AlertGate;
use crate::identity::users::UserAuthenticator;
use crate::identity::ClientCertAuthenticator;
use crate::locks::{Limits, LockManager};
use crate::metrics::{Metrics, Snapshot};
use crate::notifications::Notifier;
use crate::settings::Settings;
use crate::storage::{migrations, Database};

pub struct Services {
    pub certificates: Arc<ClientCertAuthenticator>,
    pub users: UserAuthenticator,
    pub locks: LockManager,
    /// Delivers the outbox; started beside the HTTP server.
    pub notifier: Notifier,
    pub metrics: Arc<Metrics>,
    db: Database,
    /// `metrics.lock_series`: how many locks get a holders series of their own.
    lock_series: usize,
}

/// What `/health/ready` reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Readiness {
    Ready,
    /// The database cannot be reached; the text says why (for the log, not the client).
    DatabaseUnavailable(String),
    /// Migrations are pending: `foreman-dlm migrate` has not run for this version.
    MigrationsPending(Vec<String>),
}

impl Services {
    /// Loads the CA/CRL files and prepares (without opening) the database pool. A file or a
    /// connection string that cannot be used is an error here, before the service listens.
    pub fn from_settings(settings: &Settings) -> Result<Services, String> {
        let url = settings.database_url().map_err(|e| e.to_string())?;
        let limits = &settings.limits;
        let db = Database::new(
            &url,
            settings.database.pool_size,
            Duration::from_secs(settings.database.connect_timeout_seconds),
        )?
        .with_admin_pool(
            settings.database.admin_pool_size,
            Duration::from_secs(limits.admin_statement_timeout_seconds),
        )?;
        let notifier = Notifier::new(db.clone(), settings);
        let metrics = Arc::new(Metrics::new());
        let alert_gate = settings
            .prometheus
            .as_ref()
            .map(AlertGate::new)
            .transpose()
            .map_err(|e| format!("[prometheus]: {e}"))?;
        let gate_metrics = metrics.clone();
        let certificates = ClientCertAuthenticator::from_settings(&settings.client_cert)
            .map_err(|e| e.to_string())?;
        Ok(Services {
            certificates: Arc::new(certificates),
            users: UserAuthenticator::new(
                db.clone(),
                &settings.logins,
                &settings.foreman.settings_yml,
            ),
            metrics,
            db: db.clone(),
            lock_series: settings.metrics.lock_series,
            locks: LockManager::new(
                db,
                settings.locks.stale_time_hours,
                &settings.locks.policies,
            )
            .with_limits(Limits {
                search_conditions: limits.search_conditions,
                search_chars: limits.search_chars,
                locks_created_per_host_per_hour: limits.locks_created_per_host_per_hour,
                locks_held_per_host: limits.locks_held_per_host,
                windows_per_lock: limits.windows_per_lock,
            })
            .after_notifications(
                notifier.set_up(),
                Duration::from_secs(settings.database.connect_timeout_seconds),
            )
            .with_alert_gate(
                alert_gate,
                Box::new(move |result| gate_metrics.alert_gate_query(result)),
            ),
            notifier,
        })
    }
}

impl Services {
    /// Called on each HTTP worker thread as it starts: its requests borrow connections opened on
    /// that thread (see `storage::pool`).
    pub fn serve_database_from_this_thread(&self, workers: usize) {
        if let Err(e) = self.db.serve_from_this_thread(workers) {
            log::warn!("HTTP worker keeps the shared database pool: {e}");
        }
    }

    /// Ready when the database answers and its migrations are current.
    pub async fn readiness(&self) -> Readiness {
        let mut conn = match self.db.conn().await {
            Ok(conn) => conn,
            Err(e) => return Readiness::DatabaseUnavailable(e.to_string()),
        };
        match migrations::pending_on(&mut conn).await {
            Ok(pending) if pending.is_empty() => Readiness::Ready,
            Ok(pending) => Readiness::MigrationsPending(pending),
            Err(e) => Readiness::DatabaseUnavailable(e.to_string()),
        }
    }

    /// Brings the gauges up to date when they are older than a few seconds; a database that
    /// cannot be read leaves the last values (the pool's gauges are always fresh). One scrape
    /// reads the database at a time, and the ones that waited for it use what it read.
    pub async fn refresh_gauges(&self) {
        if !self.metrics.gauges_due() {
            return;
        }
        let _turn = self.metrics.refresh_turn().await;
        if !self.metrics.gauges_due() {
            return;
        }
        let locks = match self.locks.overview(self.lock_series).await {
            Ok(locks) => locks,
            Err(e) => {
                log::warn!("metrics: cannot read the locks: {e}");
                return;
            }
        };
        let (pending, failed) = self.notifier.backlog().await.unwrap_or_else(|e| {
            log::warn!("metrics: cannot read the outbox: {e}");
            (0, 0)
        });
        let pool = self.db.status();
        self.metrics.set_gauges(&Snapshot {
            locks,
            connections_in_use: pool.open.saturating_sub(pool.idle),
            connections_idle: pool.idle,
            notifications_pending: pending,
            notifications_failed: failed,
        });
    }
}
