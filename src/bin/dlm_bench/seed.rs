//! A fresh database for the run: Foreman's schema, foreman-dlm's migrations, N hosts that have
//! checked in before, and the locks the scenarios use. Dropped when the run ends.

use std::path::Path;
use std::process::Command;

use diesel::connection::SimpleConnection;

use foreman_dlm::demo::FOREMAN_SCHEMA_SQL;
use foreman_dlm::settings::Secret;
use foreman_dlm::storage::blocking::BlockingConnection;
use foreman_dlm::storage::migrations;
use foreman_dlm::storage::Database;

/// The bench database; dropped on drop.
pub struct BenchDatabase {
    admin_url: String,
    pub name: String,
    pub url: String,
}

/// What to seed.
pub struct Seed {
    pub hosts: usize,
    /// Hosts with a lock of their own (`own-NNNNNN`).
    pub own_locks: usize,
    /// Locks `cluster-NNNN` shared by ten hosts each.
    pub cluster_locks: usize,
}

pub fn host_name(i: usize) -> String {
    format!("bench-{i:06}.example.com")
}

impl BenchDatabase {
    /// A fresh database, seeded. `migrated_by`: another build's `foreman-dlm`, whose own
    /// `migrate` gives the database that build's migrations and functions (for `--baseline`);
    /// else this build's. `suffix` tells the databases of one run apart.
    pub fn create(
        admin_url: &str,
        seed: &Seed,
        migrated_by: Option<&Path>,
        suffix: &str,
    ) -> Result<BenchDatabase, Box<dyn std::error::Error>> {
        let name = format!("fdlm_bench_{}{suffix}", std::process::id());
        let base = admin_url.rsplit_once('/').map_or(admin_url, |(b, _)| b);
        let url = format!("{base}/{name}");
        let mut admin = BlockingConnection::connect(&Secret::new(admin_url))?;
        admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))?;
        admin.batch_execute(&format!("CREATE DATABASE {name}"))?;
        let database = BenchDatabase {
            admin_url: admin_url.to_string(),
            name,
            url,
        };
        let mut conn = BlockingConnection::connect(&Secret::new(database.url.as_str()))?;
        conn.batch_execute(FOREMAN_SCHEMA_SQL)?;
        match migrated_by {
            Some(binary) => migrate_with(binary, &database.url)?,
            None => {
                migrations::run_pending(&database.url)?;
            }
        }
        // Steady state: every host has checked in before, and the locks exist.
        conn.batch_execute(&format!(
            "INSERT INTO hosts (name, managed, type, created_at, updated_at)
               SELECT 'bench-' || lpad(i::text, 6, '0') || '.example.com', true, 'Host::Managed',
                      now(), now()
                 FROM generate_series(1, {hosts}) i;
             INSERT INTO dlm_facets (host_id, last_checkin_at, created_at, updated_at)
               SELECT id, now(), now(), now() FROM hosts;
             INSERT INTO dlmlocks (name, type, enabled, created_at, updated_at)
               SELECT 'own-' || lpad(i::text, 6, '0'), 'ForemanDlm::Dlmlock::Update', true,
                      now(), now()
                 FROM generate_series(1, {own}) i;
             INSERT INTO dlmlocks (name, type, enabled, created_at, updated_at)
               SELECT 'cluster-' || lpad(i::text, 4, '0'), 'ForemanDlm::Dlmlock::Update', true,
                      now(), now()
                 FROM generate_series(0, {clusters}) i;",
            hosts = seed.hosts,
            own = seed.own_locks,
            clusters = seed.cluster_locks,
        ))?;
        // A statement of its own: VACUUM refuses to run inside the batch's implicit transaction.
        conn.batch_execute("VACUUM ANALYZE")?;
        Ok(database)
    }
}

/// `BINARY migrate` on the database: that build's migrations and database functions.
fn migrate_with(binary: &Path, url: &str) -> Result<(), Box<dyn std::error::Error>> {
    let output = Command::new(binary)
        .arg("migrate")
        .env("FOREMAN_DLM__DATABASE__URL", url)
        .output()
        .map_err(|e| format!("cannot run {}: {e}", binary.display()))?;
    if !output.status.success() {
        return Err(format!(
            "{} migrate failed: {}",
            binary.display(),
            String::from_utf8_lossy(&output.stderr)
        )
        .into());
    }
    Ok(())
}

impl BenchDatabase {
    /// What autovacuum does on a site (this machine's PostgreSQL runs without it): the lock
    /// tables shed the row versions the last round left, so every round starts from the same
    /// steady state instead of an ever more bloated one.
    pub async fn vacuum_lock_tables(&self) -> Result<(), Box<dyn std::error::Error>> {
        use diesel_async::SimpleAsyncConnection;
        let mut conn = Database::connect_once(&Secret::new(self.url.as_str())).await?;
        conn.batch_execute(
            "VACUUM dlmlocks, dlmlock_events, dlm_facets, foreman_dlm_lock_holders, \
             foreman_dlm_waiting",
        )
        .await?;
        Ok(())
    }
}

impl Drop for BenchDatabase {
    fn drop(&mut self) {
        if let Ok(mut admin) = BlockingConnection::connect(&Secret::new(self.admin_url.as_str())) {
            let _ = admin.batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ));
        }
    }
}
