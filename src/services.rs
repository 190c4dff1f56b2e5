//! The running service's parts, wired together from the settings: the one place that builds the
//! database pool and hands it to the domain layers.

use std::sync::Arc;
use std::time::Duration;

use crate::identity::users::UserAuthenticator;
use crate::identity::ClientCertAuthenticator;
use crate::locks::LockManager;
use crate::notifications::Notifier;
use crate::settings::Settings;
use crate::storage::Database;

pub struct Services {
    pub certificates: Arc<ClientCertAuthenticator>,
    pub users: UserAuthenticator,
    pub locks: LockManager,
    /// Delivers the outbox; started beside the HTTP server.
    pub notifier: Notifier,
}

impl Services {
    /// Loads the CA/CRL files and prepares (without opening) the database pool. A file or a
    /// connection string that cannot be used is an error here, before the service listens.
    pub fn from_settings(settings: &Settings) -> Result<Services, String> {
        let url = settings.database_url().map_err(|e| e.to_string())?;
        let db = Database::new(
            &url,
            settings.database.pool_size,
            Duration::from_secs(settings.database.connect_timeout_seconds),
        )?;
        let certificates = ClientCertAuthenticator::from_settings(&settings.client_cert)
            .map_err(|e| e.to_string())?;
        Ok(Services {
            certificates: Arc::new(certificates),
            users: UserAuthenticator::new(
                db.clone(),
                &settings.logins,
                &settings.foreman.settings_yml,
            ),
            notifier: Notifier::new(db.clone(), settings),
            locks: LockManager::new(
                db,
                settings.locks.stale_time_hours,
                &settings.locks.policies,
            ),
        })
    }
}
