//! Embedded migrations, serialised across instances: two services started together on one
//! database must not both try to create the plugin's tables.

use diesel::migration::MigrationSource;
use diesel::sql_types::BigInt;
use diesel::RunQueryDsl;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use super::blocking::BlockingConnection;
use crate::settings::Secret;

pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");

/// Session-level advisory lock key ("fmdlmig" in ASCII), distinct from the lock namespaces.
const MIGRATION_LOCK_KEY: i64 = 0x0066_6d64_6c6d_6967;

#[derive(Debug)]
pub struct MigrationError(pub String);

impl std::fmt::Display for MigrationError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for MigrationError {}

/// What a `migrate` run changed.
#[derive(Debug, Default)]
pub struct Applied {
    /// Versioned migrations, in order.
    pub versions: Vec<String>,
    /// Functions whose source file changed (see `storage::functions`).
    pub functions: Vec<String>,
}

/// Applies pending migrations and returns the versions it applied. Blocks: not for async tasks.
pub fn run_pending(database_url: &str) -> Result<Vec<String>, MigrationError> {
    apply(database_url).map(|applied| applied.versions)
}

/// Applies pending migrations, then the function sources that changed, in one run under the
/// migration lock. Blocks: not for async tasks.
pub fn apply(database_url: &str) -> Result<Applied, MigrationError> {
    let mut conn = BlockingConnection::connect(&Secret::new(database_url))
        .map_err(|e| MigrationError(format!("cannot connect to the database: {e}")))?;
    let conn = &mut *conn;
    take_migration_lock(conn)?;
    let result = conn
        .run_pending_migrations(MIGRATIONS)
        .map(|versions| versions.iter().map(|v| v.to_string()).collect())
        .map_err(|e| MigrationError(format!("migration failed: {e}")))
        .and_then(|versions| {
            let functions = super::functions::apply_changed(conn).map_err(|failed| {
                MigrationError(format!(
                    "function {} could not be applied: {}",
                    failed.name, failed.error
                ))
            })?;
            Ok(Applied {
                versions,
                functions,
            })
        });
    // Closing the connection releases the lock too; unlocking explicitly keeps that visible.
    let _ = diesel::sql_query("SELECT pg_advisory_unlock($1)")
        .bind::<BigInt, _>(MIGRATION_LOCK_KEY)
        .execute(conn);
    result
}

#[derive(diesel::QueryableByName)]
struct Taken {
    #[diesel(sql_type = diesel::sql_types::Bool)]
    taken: bool,
}

/// Waits for the migration lock by asking again every 200 ms, not inside `pg_advisory_lock`:
/// a session waiting in a statement is a transaction that `CREATE INDEX CONCURRENTLY` (in the
/// other session's migration) waits for in turn, and PostgreSQL ends that as a deadlock.
fn take_migration_lock<C>(conn: &mut C) -> Result<(), MigrationError>
where
    C: diesel::Connection<Backend = diesel::pg::Pg> + diesel::connection::LoadConnection,
{
    loop {
        let row: Taken = diesel::sql_query("SELECT pg_try_advisory_lock($1) AS taken")
            .bind::<BigInt, _>(MIGRATION_LOCK_KEY)
            .get_result(conn)
            .map_err(|e| MigrationError(format!("cannot take the migration lock: {e}")))?;
        if row.taken {
            return Ok(());
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

#[derive(diesel::QueryableByName)]
struct AppliedVersion {
    #[diesel(sql_type = diesel::sql_types::Text)]
    version: String,
}

/// The embedded migrations the database has not applied; `serve` and `check-config` refuse to run
/// with any.
pub async fn pending_on(conn: &mut super::Conn) -> Result<Vec<String>, super::StorageError> {
    use diesel_async::RunQueryDsl;
    let applied: Vec<AppliedVersion> =
        if super::catalog::table_exists(conn, "__diesel_schema_migrations").await? {
            super::sql::sql("SELECT version::text AS version FROM __diesel_schema_migrations")
                .load(conn)
                .await?
        } else {
            Vec::new()
        };
    let embedded = MigrationSource::<diesel::pg::Pg>::migrations(&MIGRATIONS)
        .map_err(|e| super::StorageError::Query(diesel::result::Error::QueryBuilderError(e)))?;
    Ok(embedded
        .iter()
        .map(|m| m.name().version().to_string())
        .filter(|version| !applied.iter().any(|a| &a.version == version))
        .collect())
}
