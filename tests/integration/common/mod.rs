//! Test harness: a real PostgreSQL database per test (copied from a template), the real server
//! binary on a loopback port, real certificates, and HTTP clients that speak to it like Apache or
//! a host would. [`TestApp`] puts the first three together; every test file starts from it.

#![allow(dead_code)]

pub mod apache;
pub mod browser;
mod db;
pub mod gate;
mod http;
pub mod load;
pub mod pki;
pub mod prometheus;
pub mod receivers;
pub mod release;
mod server;
pub mod users;

pub use db::{admin_url, migrate, TestDb};
pub use http::{cert_header, curl, curl_cert_args, send, send_json, Answer, CurlAnswer};
pub use server::{Server, ServerOptions};

use foreman_dlm::demo::pki::Issued;
use serde_json::Value;

/// A test's own database and a server on it.
pub struct TestApp {
    pub db: TestDb,
    pub server: Server,
    /// How the server was configured, for a second instance configured alike.
    pub options: ServerOptions,
}

impl TestApp {
    /// A fresh database (Foreman's schema, migrated) and a server with the default test options.
    pub fn spawn() -> TestApp {
        Self::spawn_with(|_| {})
    }

    /// Like `spawn`, with the server's options changed by `configure` first.
    pub fn spawn_with(configure: impl FnOnce(&mut ServerOptions)) -> TestApp {
        let db = TestDb::new();
        let mut options = ServerOptions::for_db(&db);
        configure(&mut options);
        let server = Server::spawn(&options);
        TestApp {
            db,
            server,
            options,
        }
    }

    /// Another server instance on the same database with the same settings, as in an HA pair.
    pub fn second_instance(&self) -> Server {
        let mut options = self.options.clone();
        options.port = None;
        Server::spawn(&options)
    }

    pub fn url(&self, path: &str) -> String {
        self.server.url(path)
    }

    pub fn tls_url(&self, path: &str) -> String {
        self.server.tls_url(path)
    }

    /// A Foreman host and its certificate from Foreman's (Puppet) CA.
    pub fn host(&self, name: &str) -> (i64, Issued) {
        (self.db.add_host(name), pki::shared().host(name))
    }

    pub async fn send(&self, method: &str, path: &str, headers: &[(&str, String)]) -> Answer {
        send(method, &self.url(path), headers).await
    }

    pub async fn send_json(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, String)],
        body: Option<Value>,
    ) -> Answer {
        send_json(method, &self.url(path), headers, body).await
    }

    /// A lock row as the tests check it: `fresh` = updated within the last minute.
    pub fn lock_row(&self, id: i64) -> Value {
        self.db.rows(&format!(
            "SELECT id, name, type, enabled, host_id, \
             updated_at > now() AT TIME ZONE 'UTC' - interval '1 minute' AS fresh \
             FROM dlmlocks WHERE id = {id}"
        ))[0]
            .clone()
    }

    /// A host request through "Apache": the certificate in the forwarded header, or none.
    pub async fn as_host(&self, method: &str, path: &str, cert: Option<&Issued>) -> Answer {
        let headers = cert.map(cert_header).unwrap_or_default();
        self.send(method, path, &headers).await
    }
}
