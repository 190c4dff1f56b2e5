//! Test harness: a real PostgreSQL database per test (copied from a template), a real server on
//! a loopback port, real certificates, and an HTTP client that speaks to it like Apache would.

#![allow(dead_code)]

pub mod apache;
pub mod load;
pub mod pki;
pub mod users;

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;

use diesel::connection::SimpleConnection;
use diesel::pg::PgConnection;
use diesel::sql_types::{BigInt, Text};
use diesel::{Connection, QueryableByName, RunQueryDsl};
use serde_json::Value;

use foreman_dlm::demo::FOREMAN_SCHEMA_SQL;
use foreman_dlm::http::{self, AppState};
use foreman_dlm::settings::Settings;
use foreman_dlm::storage::migrations;

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
                migrations::run_pending(&url).expect("migrations on the template");
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

/// How a test server is configured beyond the defaults.
#[derive(Clone)]
pub struct ServerOptions {
    pub database_url: String,
    pub ca_files: Vec<PathBuf>,
    pub crl_files: Vec<PathBuf>,
    pub trusted_proxies: Vec<String>,
    pub trust_proxy_verification: bool,
    /// Also listen with TLS on a loopback port, with the test PKI's `localhost` certificate.
    pub tls: bool,
}

impl ServerOptions {
    pub fn for_db(db: &TestDb) -> ServerOptions {
        let pki = pki::shared();
        ServerOptions {
            database_url: db.url.clone(),
            ca_files: vec![pki.ca_file.clone()],
            crl_files: vec![],
            trusted_proxies: vec!["127.0.0.0/8".into(), "::1/128".into()],
            trust_proxy_verification: false,
            tls: false,
        }
    }
}

/// The real server on a loopback port, in its own thread and actix system.
pub struct TestServer {
    pub addr: SocketAddr,
    pub tls_addr: Option<SocketAddr>,
    handle: actix_web::dev::ServerHandle,
}

impl TestServer {
    pub fn start(db: &TestDb) -> TestServer {
        Self::start_with(ServerOptions::for_db(db))
    }

    pub fn start_with(options: ServerOptions) -> TestServer {
        let mut settings = Settings::from_defaults_and_env().expect("default settings");
        settings.database.url = Some(options.database_url);
        settings.database.connect_timeout_seconds = 2;
        settings.client_cert.ca_files = options.ca_files;
        settings.client_cert.crl_files = options.crl_files;
        settings.client_cert.trusted_proxies = options
            .trusted_proxies
            .iter()
            .map(|n| n.parse().expect("CIDR"))
            .collect();
        settings.client_cert.trust_proxy_verification = options.trust_proxy_verification;
        settings.http.listen = "127.0.0.1:0".into();
        settings.http.workers = 2;
        if options.tls {
            let pki = pki::shared();
            settings.tls = Some(foreman_dlm::settings::TlsSettings {
                listen: "127.0.0.1:0".into(),
                cert_file: pki.server_cert_file.clone(),
                key_file: pki.server_key_file.clone(),
                chain_file: None,
            });
        }
        let state = AppState::from_settings(&settings).expect("server state");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                let (server, listening) = http::start(&settings, state).expect("bind test server");
                tx.send((listening, server.handle()))
                    .expect("report address");
                let _ = server.await;
            })
        });
        let (listening, handle) = rx.recv().expect("server started");
        TestServer {
            addr: listening.http[0],
            tls_addr: listening.tls.first().copied(),
            handle,
        }
    }

    /// `https://localhost:PORT/...` on the TLS listener.
    pub fn tls_url(&self, path: &str) -> String {
        let port = self.tls_addr.expect("server started with tls").port();
        format!("https://localhost:{port}{path}")
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        // The stop command is sent synchronously; the returned future only waits for completion.
        drop(self.handle.stop(false));
    }
}

/// An HTTP answer: status, parsed JSON body, and the Content-Type it came with.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
    pub raw: String,
    pub content_type: String,
}

/// Sends a request as Foreman's Apache would forward it: `headers` are the SSL-CLIENT-* headers.
pub async fn send(method: &str, url: &str, headers: &[(&str, String)]) -> Answer {
    send_json(method, url, headers, None).await
}

/// Like `send`, with an optional JSON body (sent as `application/json`).
pub async fn send_json(
    method: &str,
    url: &str,
    headers: &[(&str, String)],
    body: Option<Value>,
) -> Answer {
    let client = awc::Client::builder()
        .timeout(std::time::Duration::from_secs(30))
        .finish();
    let method = awc::http::Method::from_bytes(method.as_bytes()).expect("method");
    let mut request = client.request(method, url);
    for (name, value) in headers {
        request = request.append_header((*name, value.as_str()));
    }
    let mut response = match body {
        Some(body) => request.send_json(&body).await.expect("request sent"),
        None => request.send().await.expect("request sent"),
    };
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let bytes = response.body().limit(1 << 20).await.expect("response body");
    let body = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| panic!("not JSON ({status}): {}", String::from_utf8_lossy(&bytes)));
    Answer {
        status,
        body,
        raw: String::from_utf8_lossy(&bytes).into_owned(),
        content_type,
    }
}

/// The cert header Apache sends for `cert` (PEM, newlines turned into spaces).
pub fn cert_header(cert: &foreman_dlm::demo::pki::Issued) -> Vec<(&'static str, String)> {
    vec![
        ("SSL-CLIENT-CERT", cert.apache_header()),
        ("SSL-CLIENT-VERIFY", "SUCCESS".to_string()),
    ]
}

/// What curl saw: the HTTP status (0 when the connection or handshake failed), the body, and
/// curl's own error text.
#[derive(Debug)]
pub struct CurlAnswer {
    pub status: u16,
    pub body: Value,
    pub error: String,
}

/// Runs the real curl, as a host's update client does. `args` come before the URL.
pub fn curl(method: &str, url: &str, args: &[&str]) -> CurlAnswer {
    let output = std::process::Command::new("curl")
        .args([
            "-sS",
            "--max-time",
            "20",
            "-X",
            method,
            "-H",
            "Content-Type: application/json",
        ])
        .args(["-w", "\n%{http_code}"])
        .args(args)
        .arg(url)
        .output()
        .expect("curl is installed");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let (body, status) = stdout.rsplit_once('\n').unwrap_or(("", stdout.as_ref()));
    CurlAnswer {
        status: status.trim().parse().unwrap_or(0),
        body: serde_json::from_str(body).unwrap_or(Value::Null),
        error: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// curl arguments for a host presenting `cert` and trusting the test CA for the server.
pub fn curl_cert_args(cert_file: &std::path::Path, key_file: &std::path::Path) -> Vec<String> {
    vec![
        "--cert".into(),
        cert_file.display().to_string(),
        "--key".into(),
        key_file.display().to_string(),
        "--cacert".into(),
        pki::shared().ca_file.display().to_string(),
    ]
}
