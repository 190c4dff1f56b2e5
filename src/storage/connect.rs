//! Connecting to PostgreSQL the way libpq does, so that a connection string from Foreman's
//! database.yml means the same here as it does to Foreman.
//!
//! tokio-postgres understands most of libpq's keywords but only `disable`, `prefer` and `require`
//! as `sslmode`, and none of `sslrootcert`, `sslcert`, `sslkey`, `sslcrl`. This module takes
//! those out of the connection string, hands the rest to tokio-postgres, and implements the six
//! modes with openssl as libpq documents them ("SSL Support" in the PostgreSQL manual):
//!
//! | sslmode | TLS | certificate checked |
//! | --- | --- | --- |
//! | disable | never | – |
//! | allow | only if a plain connection fails | no |
//! | prefer (default) | first; plain if TLS fails | no |
//! | require | always | only if a root certificate file exists (then as verify-ca) |
//! | verify-ca | always | chain against `sslrootcert` |
//! | verify-full | always | chain, and the host name against the certificate |
//!
//! Unix-socket connections never use TLS, as in libpq.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Arc, OnceLock};

use diesel_async::AsyncPgConnection;
use openssl::ssl::{SslConnector, SslFiletype, SslMethod, SslMode as OpenSslMode, SslVerifyMode};
use openssl::x509::store::X509Lookup;
use openssl::x509::verify::X509VerifyFlags;
use postgres_openssl::MakeTlsConnector;
use tokio_postgres::config::{Host, SslMode as DriverSslMode};
use tokio_postgres::{Config, NoTls};

use super::conninfo::{split_keywords, split_url};

/// Run on every new session of the service. Each statement is prepared once per connection and
/// has a fixed shape built for index lookups by key, so re-planning it on every execution only
/// costs: PostgreSQL keeps custom plans for a statement whose generic plan it estimates dearer
/// than a plan for the actual values (a NULL lock id or test clock folds away), and the host
/// statements then spent more time in the planner than in running. A `SET` after connecting
/// rather than `options` in the startup packet, which connection poolers such as PgBouncer
/// refuse. `query_plans` checks the generic plans.
pub const SESSION_SETUP: &str = "SET plan_cache_mode = force_generic_plan";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    Disable,
    Allow,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl FromStr for SslMode {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Ok(match text {
            "disable" => SslMode::Disable,
            "allow" => SslMode::Allow,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            other => {
                return Err(format!(
                    "invalid sslmode {other:?}: use disable, allow, prefer, require, verify-ca or \
                     verify-full"
                ))
            }
        })
    }
}

/// Where the root certificates come from.
#[derive(Debug, Clone, PartialEq, Eq)]
enum RootCerts {
    File(PathBuf),
    /// `sslrootcert=system`: the system's trusted CAs (PostgreSQL 16's libpq).
    System,
}

/// A parsed connection string: the driver's settings plus libpq's TLS settings.
#[derive(Clone)]
pub struct ConnectOptions {
    driver: Config,
    mode: SslMode,
    root: Option<RootCerts>,
    client_cert: Option<(PathBuf, PathBuf)>,
    crl: Option<PathBuf>,
    /// Built on first use and shared: building one reads the CA files (and openssl's default CA
    /// store), which costs more than a handshake.
    connector: Arc<OnceLock<MakeTlsConnector>>,
    /// `statement_timeout` of the sessions, in milliseconds; `None`: the server's.
    statement_timeout_ms: Option<u64>,
}

impl ConnectOptions {
    /// Parses a libpq URL (`postgres://…?sslmode=verify-full`) or `key=value` string.
    pub fn parse(conninfo: &str) -> Result<ConnectOptions, String> {
        let conninfo = conninfo.trim();
        let (rest, tls) =
            if conninfo.starts_with("postgres://") || conninfo.starts_with("postgresql://") {
                split_url(conninfo)?
            } else {
                split_keywords(conninfo)?
            };
        let mut driver = Config::from_str(&rest)
            .map_err(|e| format!("the database connection string is invalid: {e}"))?;
        if driver.get_hosts().is_empty() {
            // libpq's compiled-in default: the local server's Unix socket.
            driver.host(default_socket_dir());
        }
        let value = |key: &str| {
            tls.iter()
                .rev()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.clone())
        };
        let root = match value("sslrootcert").as_deref() {
            Some("system") => Some(RootCerts::System),
            Some(path) => Some(RootCerts::File(PathBuf::from(path))),
            None => libpq_default_file("root.crt").map(RootCerts::File),
        };
        let mode = match value("sslmode") {
            Some(text) => text.parse()?,
            // libpq: with sslrootcert=system the default becomes verify-full.
            None if root == Some(RootCerts::System) => SslMode::VerifyFull,
            None => SslMode::Prefer,
        };
        if root == Some(RootCerts::System) && mode != SslMode::VerifyFull {
            return Err(format!(
                "weak sslmode {mode:?} may not be used with sslrootcert=system (use verify-full)"
            ));
        }
        let cert = value("sslcert")
            .map(PathBuf::from)
            .or_else(|| libpq_default_file("postgresql.crt"));
        let key = value("sslkey")
            .map(PathBuf::from)
            .or_else(|| libpq_default_file("postgresql.key"));
        let client_cert = match (cert, key) {
            (Some(cert), Some(key)) => Some((cert, key)),
            (Some(cert), None) => {
                return Err(format!(
                    "sslcert {} is set but no sslkey for it",
                    cert.display()
                ))
            }
            _ => None,
        };
        Ok(ConnectOptions {
            driver,
            mode,
            root,
            client_cert,
            crl: value("sslcrl").map(PathBuf::from),
            connector: Arc::new(OnceLock::new()),
            statement_timeout_ms: None,
        })
    }

    /// The same options for sessions that stop any statement after `timeout`.
    pub fn with_statement_timeout(&self, timeout: std::time::Duration) -> ConnectOptions {
        let mut options = self.clone();
        options.statement_timeout_ms = Some(u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX));
        options
    }

    /// Asks the server to cancel what runs on the connection `token` came from, over the same
    /// transport (TLS when the connection used it).
    pub async fn cancel(&self, token: &tokio_postgres::CancelToken) -> Result<(), String> {
        let cancelled = match self.connector.get() {
            Some(connector) => token.cancel_query(connector.clone()).await,
            None => token.cancel_query(NoTls).await,
        };
        cancelled.map_err(describe)
    }

    pub fn ssl_mode(&self) -> SslMode {
        self.mode
    }

    /// Opens one connection, with or without TLS as the mode says, falling back as libpq does,
    /// and sets the session up ([`SESSION_SETUP`]).
    pub async fn connect(&self) -> Result<AsyncPgConnection, String> {
        use diesel_async::SimpleAsyncConnection;
        let mut conn = self.open().await?;
        let setup = match self.statement_timeout_ms {
            Some(ms) => format!("{SESSION_SETUP}; SET statement_timeout = {ms}"),
            None => SESSION_SETUP.to_string(),
        };
        conn.batch_execute(&setup)
            .await
            .map_err(|e| format!("the new database session could not be set up: {e}"))?;
        Ok(conn)
    }

    async fn open(&self) -> Result<AsyncPgConnection, String> {
        let only_unix_sockets = self
            .driver
            .get_hosts()
            .iter()
            .all(|host| matches!(host, Host::Unix(_)));
        if only_unix_sockets {
            return self.attempt(false).await;
        }
        match self.mode {
            SslMode::Disable => self.attempt(false).await,
            SslMode::Allow => match self.attempt(false).await {
                Ok(conn) => Ok(conn),
                Err(plain) => self
                    .attempt(true)
                    .await
                    .map_err(|tls| format!("{plain}; then, with TLS: {tls}")),
            },
            SslMode::Prefer => match self.attempt(true).await {
                Ok(conn) => Ok(conn),
                Err(tls) => self
                    .attempt(false)
                    .await
                    .map_err(|plain| format!("{tls}; then, without TLS: {plain}")),
            },
            SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => self.attempt(true).await,
        }
    }

    async fn attempt(&self, tls: bool) -> Result<AsyncPgConnection, String> {
        let mut config = self.driver.clone();
        if tls {
            config.ssl_mode(DriverSslMode::Require);
            let connector = match self.connector.get() {
                Some(connector) => connector.clone(),
                None => {
                    let built = self.tls_connector()?;
                    self.connector.get_or_init(|| built).clone()
                }
            };
            let (client, connection) = config.connect(connector).await.map_err(describe)?;
            AsyncPgConnection::try_from_client_and_connection(client, connection)
                .await
                .map_err(|e| e.to_string())
        } else {
            config.ssl_mode(DriverSslMode::Disable);
            let (client, connection) = config.connect(NoTls).await.map_err(describe)?;
            AsyncPgConnection::try_from_client_and_connection(client, connection)
                .await
                .map_err(|e| e.to_string())
        }
    }

    fn tls_connector(&self) -> Result<MakeTlsConnector, String> {
        let failed = |what: &str, path: &Path| format!("{what} {} cannot be used", path.display());
        let mut builder = SslConnector::builder(SslMethod::tls_client())
            .map_err(|_| "cannot set up TLS for the database connection".to_string())?;
        // The connector's default frees both 17 KB record buffers whenever a connection goes idle,
        // that is after every query of a pooled connection, and allocates them again for the
        // next: a pool of a dozen connections keeps them instead (about 0.4 MB).
        clear_mode(&builder, OpenSslMode::RELEASE_BUFFERS);
        let verify = match (&self.root, self.mode) {
            (_, SslMode::VerifyCa | SslMode::VerifyFull) => true,
            // libpq: require with a root certificate file behaves like verify-ca.
            (Some(RootCerts::File(path)), SslMode::Require) => path.exists(),
            _ => false,
        };
        if verify {
            match &self.root {
                Some(RootCerts::System) => builder
                    .set_default_verify_paths()
                    .map_err(|_| "the system's CA certificates cannot be loaded".to_string())?,
                Some(RootCerts::File(path)) if path.exists() => builder
                    .set_ca_file(path)
                    .map_err(|_| failed("sslrootcert", path))?,
                _ => {
                    return Err(
                        "sslmode verify-ca/verify-full needs a root certificate: set sslrootcert \
                         (~/.postgresql/root.crt does not exist)"
                            .to_string(),
                    )
                }
            }
            if let Some(crl) = &self.crl {
                builder
                    .cert_store_mut()
                    .add_lookup(X509Lookup::file())
                    .and_then(|lookup| lookup.load_crl_file(crl, SslFiletype::PEM))
                    .map_err(|_| failed("sslcrl", crl))?;
                builder
                    .verify_param_mut()
                    .set_flags(X509VerifyFlags::CRL_CHECK)
                    .map_err(|_| failed("sslcrl", crl))?;
            }
            builder.set_verify(SslVerifyMode::PEER);
        } else {
            builder.set_verify(SslVerifyMode::NONE);
        }
        if let Some((cert, key)) = &self.client_cert {
            builder
                .set_certificate_chain_file(cert)
                .map_err(|_| failed("sslcert", cert))?;
            builder
                .set_private_key_file(key, SslFiletype::PEM)
                .map_err(|_| failed("sslkey", key))?;
        }
        let mut connector = MakeTlsConnector::new(builder.build());
        let check_host_name = self.mode == SslMode::VerifyFull;
        connector.set_callback(move |config, _| {
            config.set_verify_hostname(check_host_name);
            Ok(())
        });
        Ok(connector)
    }
}

/// OpenSSL's SSL_CTX_clear_mode, which the openssl crate does not wrap (its `set_mode` only adds).
fn clear_mode(builder: &openssl::ssl::SslContextBuilder, mode: OpenSslMode) {
    /// SSL_CTRL_CLEAR_MODE in OpenSSL's ssl.h (SSL_CTX_clear_mode is a macro over SSL_CTX_ctrl).
    const SSL_CTRL_CLEAR_MODE: std::ffi::c_int = 78;
    // SAFETY: the pointer is the builder's live SSL_CTX, borrowed for the call; this control
    // only clears bits of the context's mode and takes no pointer argument.
    unsafe {
        openssl_sys::SSL_CTX_ctrl(
            builder.as_ptr(),
            SSL_CTRL_CLEAR_MODE,
            mode.bits() as std::ffi::c_long,
            std::ptr::null_mut(),
        );
    }
}

/// The driver's error with its cause: "db error: FATAL: …" or the TLS reason.
fn describe(error: tokio_postgres::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

fn default_socket_dir() -> &'static str {
    if Path::new("/var/run/postgresql").is_dir() {
        "/var/run/postgresql"
    } else {
        "/tmp"
    }
}

/// libpq's per-user default files under `~/.postgresql/`, when they exist.
fn libpq_default_file(name: &str) -> Option<PathBuf> {
    let path = PathBuf::from(std::env::var_os("HOME")?)
        .join(".postgresql")
        .join(name);
    path.exists().then_some(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_keywords_are_taken_out_of_both_forms() {
        let options = ConnectOptions::parse(
            "host=db.example.com dbname=foreman sslmode=verify-full sslrootcert=/etc/ca.pem",
        )
        .expect("parsed");
        assert_eq!(options.ssl_mode(), SslMode::VerifyFull);
        assert_eq!(options.root, Some(RootCerts::File("/etc/ca.pem".into())));
        let options = ConnectOptions::parse(
            "postgres://foreman@db/foreman?sslmode=verify-ca&sslrootcert=%2Fetc%2Fca.pem\
             &application_name=x",
        )
        .expect("parsed");
        assert_eq!(options.ssl_mode(), SslMode::VerifyCa);
        assert_eq!(options.root, Some(RootCerts::File("/etc/ca.pem".into())));
        assert_eq!(options.driver.get_application_name(), Some("x"));
    }

    #[test]
    fn libpq_defaults_and_refusals() {
        let options = ConnectOptions::parse("host=db dbname=foreman").expect("parsed");
        assert_eq!(options.ssl_mode(), SslMode::Prefer);
        let options = ConnectOptions::parse("dbname=foreman").expect("parsed");
        assert!(matches!(options.driver.get_hosts(), [Host::Unix(_)]));
        assert!(ConnectOptions::parse("host=db sslmode=sometimes").is_err());
        assert!(ConnectOptions::parse("host=db sslrootcert=system sslmode=require").is_err());
        assert_eq!(
            ConnectOptions::parse("host=db sslrootcert=system")
                .expect("parsed")
                .ssl_mode(),
            SslMode::VerifyFull
        );
        assert!(ConnectOptions::parse("host=db sslcert=/x.pem").is_err());
        assert!(ConnectOptions::parse("host=db bogus=1").is_err());
    }
}
