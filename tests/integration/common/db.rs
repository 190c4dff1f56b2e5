//! A real PostgreSQL database per test: a template (Foreman's fixture schema plus foreman-dlm's
//! migrations) built once per content hash, copied for each test, dropped when the test ends.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;

use diesel::connection::SimpleConnection;
use diesel::pg::PgConnection;
use diesel::sql_types::{BigInt, Text};
use diesel::{Connection, QueryableByName, RunQueryDsl};
use serde_json::Value;

use foreman_dlm::demo::FOREMAN_SCHEMA_SQL;
use foreman_dlm::storage::migrations;

/// Runs foreman-dlm's migrations on `url` from a thread of its own: `run_pending` blocks, and
/// many tests run inside an async runtime.
pub fn migrate(url: &str) -> Result<Vec<String>, migrations::MigrationError> {
    let url = url.to_string();
    std::thread::spawn(move || migrations::run_pending(&url))
        .join()
        .unwrap_or_else(|_| {
            Err(migrations::MigrationError(
                "the migration thread panicked".into(),
            ))
        })
}

/// The PostgreSQL server the tests use, as a superuser able to create databases.
pub fn admin_url() -> String {
    std::env::var("FOREMAN_DLM_TEST_ADMIN_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_string())
}

fn database_url(name: &str) -> String {
    let admin = admin_url();
    let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b);
    format!("{base}/{name}")
}

fn admin_conn() -> PgConnection {
    PgConnection::establish(&admin_url()).expect("the test PostgreSQL server is not reachable")
}

/// Everything that shapes the template: a changed fixture or migration makes a new template.
fn template_fingerprint() -> String {
    let mut hasher = DefaultHasher::new();
    FOREMAN_SCHEMA_SQL.hash(&mut hasher);
    for entry in std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations"))
        .expect("migrations dir")
    {
        let dir = entry.expect("entry").path();
        for file in ["up.sql", "down.sql"] {
            std::fs::read_to_string(dir.join(file))
                .unwrap_or_default()
                .hash(&mut hasher);
        }
    }
    for (name, source) in foreman_dlm::storage::functions::FUNCTIONS {
        (name, source).hash(&mut hasher);
    }
    format!("{:016x}", hasher.finish())
}

/// Creates (once per fingerprint, safely across parallel test processes) the template database:
/// Foreman's fixture schema plus foreman-dlm's migrations.
fn template() -> &'static str {
    static TEMPLATE: OnceLock<String> = OnceLock::new();
    TEMPLATE.get_or_init(|| {
        let name = format!("fdlm_tpl_{}", template_fingerprint());
        let mut admin = admin_conn();
        admin
            .batch_execute("SELECT pg_advisory_lock(4242424242)")
            .expect("template lock");
        let exists: Vec<Count> =
            diesel::sql_query("SELECT count(*) AS n FROM pg_database WHERE datname = $1")
                .bind::<Text, _>(&name)
                .load(&mut admin)
                .expect("pg_database");
        if exists[0].n == 0 {
            let building = format!("{name}_building");
            admin
                .batch_execute(&format!("DROP DATABASE IF EXISTS {building} WITH (FORCE)"))
                .expect("drop stale template");
            admin
                .batch_execute(&format!("CREATE DATABASE {building}"))
                .expect("create template");
            {
                let url = database_url(&building);
                let mut conn = PgConnection::establish(&url).expect("template connection");
                conn.batch_execute(FOREMAN_SCHEMA_SQL)
                    .expect("Foreman fixture schema");
                drop(conn);
                migrate(&url).expect("migrations on the template");
            }
            admin
                .batch_execute(&format!("ALTER DATABASE {building} RENAME TO {name}"))
                .expect("publish template");
        }
        admin
            .batch_execute("SELECT pg_advisory_unlock(4242424242)")
            .expect("template unlock");
        name
    })
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[derive(QueryableByName)]
struct JsonRows {
    #[diesel(sql_type = Text)]
    rows: String,
}

static NEXT_DB: AtomicU32 = AtomicU32::new(0);

/// A database of the test's own, dropped when the test ends.
pub struct TestDb {
    pub name: String,
    pub url: String,
}

impl TestDb {
    /// Foreman's schema with foreman-dlm migrated: the usual starting point.
    pub fn new() -> TestDb {
        let template = template();
        Self::create(&format!("TEMPLATE {template}"))
    }

    /// An empty database (no Foreman schema), for migration tests that build their own.
    pub fn empty() -> TestDb {
        Self::create("")
    }

    fn create(options: &str) -> TestDb {
        let name = format!(
            "fdlm_t_{}_{}",
            std::process::id(),
            NEXT_DB.fetch_add(1, Ordering::Relaxed)
        );
        admin_conn()
            .batch_execute(&format!("CREATE DATABASE {name} {options}"))
            .expect("create test database");
        let url = database_url(&name);
        TestDb { name, url }
    }

    pub fn conn(&self) -> PgConnection {
        PgConnection::establish(&self.url).expect("test database connection")
    }

    /// Runs SQL as the administrator, on the server's `postgres` database (for statements about
    /// a test database itself, such as refusing its connections).
    pub fn admin_exec(sql: &str) {
        admin_conn()
            .batch_execute(sql)
            .unwrap_or_else(|e| panic!("{e}\n{sql}"));
    }

    pub fn exec(&self, sql: &str) {
        self.conn()
            .batch_execute(sql)
            .unwrap_or_else(|e| panic!("{e}\n{sql}"));
    }

    /// Runs a SELECT and returns its rows as a JSON array, for assertions on database state.
    pub fn rows(&self, select: &str) -> Value {
        let wrapped = format!("SELECT COALESCE(json_agg(t), '[]')::text AS rows FROM ({select}) t");
        let result: JsonRows = diesel::sql_query(&wrapped)
            .get_result(&mut self.conn())
            .unwrap_or_else(|e| panic!("{e}\n{select}"));
        serde_json::from_str(&result.rows).expect("json rows")
    }

    /// The text plan of `EXPLAIN <statement>`.
    pub fn plan(&self, statement: &str) -> String {
        #[derive(QueryableByName)]
        struct PlanLine {
            #[diesel(sql_type = Text, column_name = "QUERY PLAN")]
            line: String,
        }
        let lines: Vec<PlanLine> = diesel::sql_query(format!("EXPLAIN {statement}"))
            .load(&mut self.conn())
            .unwrap_or_else(|e| panic!("{e}\n{statement}"));
        lines
            .into_iter()
            .map(|l| l.line)
            .collect::<Vec<_>>()
            .join("\n")
    }

    pub fn scalar(&self, select: &str) -> Value {
        let rows = self.rows(select);
        let row = rows[0].as_object().expect("one row").clone();
        row.into_iter().next().expect("one column").1
    }

    /// Adds a managed host the way Foreman stores one (lower-case name) and returns its id.
    pub fn add_host(&self, name: &str) -> i64 {
        self.add_host_with_certname(name, None)
    }

    pub fn add_host_with_certname(&self, name: &str, certname: Option<&str>) -> i64 {
        let certname = certname.map_or("NULL".to_string(), |c| format!("'{c}'"));
        self.insert_returning_id(&format!(
            "INSERT INTO hosts (name, certname, managed, type, created_at, updated_at) \
             VALUES ('{name}', {certname}, true, 'Host::Managed', now(), now()) RETURNING id"
        ))
    }

    /// Adds a lock row as the plugin would have stored it and returns its id.
    pub fn add_lock(&self, name: &str, holder: Option<i64>, enabled: bool) -> i64 {
        let holder = holder.map_or("NULL".to_string(), |h| h.to_string());
        self.insert_returning_id(&format!(
            "INSERT INTO dlmlocks (name, type, enabled, host_id, created_at, updated_at) \
             VALUES ('{name}', 'ForemanDlm::Dlmlock::Update', {enabled}, {holder}, \
             now() AT TIME ZONE 'UTC' - interval '1 day', now() AT TIME ZONE 'UTC' - interval '1 day') RETURNING id"
        ))
    }

    /// Runs an `INSERT … RETURNING id` and returns the id.
    pub fn insert_returning_id(&self, insert: &str) -> i64 {
        #[derive(QueryableByName)]
        struct Id {
            #[diesel(sql_type = diesel::sql_types::Integer)]
            id: i32,
        }
        let row: Id = diesel::sql_query(insert)
            .get_result(&mut self.conn())
            .unwrap_or_else(|e| panic!("{e}\n{insert}"));
        i64::from(row.id)
    }

    pub fn events(&self) -> Value {
        self.rows("SELECT dlmlock_id, event_type, host_id, user_id FROM dlmlock_events ORDER BY id")
    }

    pub fn api_admin_id(&self) -> i64 {
        self.scalar("SELECT id FROM users WHERE login = 'foreman_api_admin'")
            .as_i64()
            .expect("foreman_api_admin")
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Ok(mut admin) = PgConnection::establish(&admin_url()) {
            let _ = admin.batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ));
        }
    }
}
