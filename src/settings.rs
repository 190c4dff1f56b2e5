//! Configuration: built-in defaults, then a TOML file, then `FOREMAN_DLM__SECTION__KEY` variables.
//!
//! Every key here is a public interface documented in README.md and `contrib/settings.toml`.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use config::{Config, Environment, File, FileFormat};
use ipnet::IpNet;
use serde::Deserialize;

/// Where operators put the settings file; a missing file at this default path is not an error.
pub const DEFAULT_SETTINGS_PATH: &str = "/etc/foreman-dlm/settings.toml";

#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    pub database: DatabaseSettings,
    pub http: HttpSettings,
    pub client_cert: ClientCertSettings,
    pub locks: LockSettings,
    pub foreman: ForemanSettings,
    /// Optional direct TLS listener, beside the plain-HTTP one Apache uses.
    #[serde(default)]
    pub tls: Option<TlsSettings>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct DatabaseSettings {
    /// A libpq URL or `key=value` string. Empty means: read Foreman's own database.yml,
    /// so the database password lives in exactly one file.
    #[serde(default)]
    pub url: Option<String>,
    pub foreman_database_yml: PathBuf,
    pub pool_size: u32,
    /// How long a request waits for a database connection before it is answered 503.
    pub connect_timeout_seconds: u64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct HttpSettings {
    pub listen: String,
    /// 0 = one worker per CPU core.
    pub workers: usize,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ClientCertSettings {
    pub ca_files: Vec<PathBuf>,
    pub crl_files: Vec<PathBuf>,
    pub trusted_proxies: Vec<IpNet>,
    pub cert_header: String,
    pub verify_header: String,
    pub dn_header: String,
    pub trust_proxy_verification: bool,
}

/// Where Foreman's own configuration lives.
#[derive(Debug, Clone, Deserialize)]
pub struct ForemanSettings {
    /// Foreman's settings.yaml: `bcrypt_cost`/`pbkdf2_cost` set there win over the settings table,
    /// as in Foreman (they shape how personal access tokens are hashed).
    pub settings_yml: PathBuf,
}

/// A TLS listener that hosts reach without Apache: the TLS peer certificate identifies the host.
#[derive(Debug, Clone, Deserialize)]
pub struct TlsSettings {
    pub listen: String,
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
    /// Intermediate certificates sent after `cert_file`, if `cert_file` holds only the leaf.
    #[serde(default)]
    pub chain_file: Option<PathBuf>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct LockSettings {
    pub stale_time_hours: u32,
}

#[derive(Debug)]
pub enum SettingsError {
    /// The file, an environment variable or a value could not be read; the text says which.
    Invalid(String),
    /// No `database.url` and Foreman's database.yml did not give a usable connection.
    ForemanDatabaseYml { path: PathBuf, problem: String },
}

impl fmt::Display for SettingsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SettingsError::Invalid(text) => write!(f, "{text}"),
            SettingsError::ForemanDatabaseYml { path, problem } => write!(
                f,
                "database.url is not set and Foreman's database settings in {} cannot be used: {problem}",
                path.display()
            ),
        }
    }
}

impl std::error::Error for SettingsError {}

impl Settings {
    /// Loads the layered configuration. `explicit_path` is the `--config` argument: a file the
    /// operator named must exist, while the default path may be absent.
    pub fn load(explicit_path: Option<&Path>) -> Result<Settings, SettingsError> {
        let (path, required) = match explicit_path {
            Some(path) => (path.to_path_buf(), true),
            None => (PathBuf::from(DEFAULT_SETTINGS_PATH), false),
        };
        if required && !path.exists() {
            return Err(SettingsError::Invalid(format!(
                "the settings file {} does not exist",
                path.display()
            )));
        }
        let builder = defaults()?
            .add_source(
                File::from(path.as_path())
                    .format(FileFormat::Toml)
                    .required(required),
            )
            .add_source(environment());
        Self::from_config(builder.build())
    }

    /// Defaults plus environment only; tests and the demo build settings this way.
    pub fn from_defaults_and_env() -> Result<Settings, SettingsError> {
        Self::from_config(defaults()?.add_source(environment()).build())
    }

    fn from_config(built: Result<Config, config::ConfigError>) -> Result<Settings, SettingsError> {
        let settings: Settings = built
            .and_then(|c| c.try_deserialize())
            .map_err(|e| SettingsError::Invalid(format!("invalid configuration: {e}")))?;
        settings.validate()?;
        Ok(settings)
    }

    fn validate(&self) -> Result<(), SettingsError> {
        let invalid = |text: String| Err(SettingsError::Invalid(text));
        if self.database.pool_size == 0 {
            return invalid("database.pool_size must be at least 1".into());
        }
        if self.locks.stale_time_hours == 0 {
            return invalid("locks.stale_time_hours must be at least 1".into());
        }
        if let Some(tls) = &self.tls {
            if tls.listen.parse::<SocketAddr>().is_err() {
                return invalid(format!(
                    "tls.listen = {:?} is not an address:port such as 0.0.0.0:8443",
                    tls.listen
                ));
            }
        }
        if self.listen_addr().is_err() {
            return invalid(format!(
                "http.listen = {:?} is not an address:port such as 127.0.0.1:8090",
                self.http.listen
            ));
        }
        for (key, value) in [
            ("client_cert.cert_header", &self.client_cert.cert_header),
            ("client_cert.verify_header", &self.client_cert.verify_header),
            ("client_cert.dn_header", &self.client_cert.dn_header),
        ] {
            if actix_web::http::header::HeaderName::try_from(value.as_str()).is_err() {
                return invalid(format!("{key} = {value:?} is not a valid HTTP header name"));
            }
        }
        Ok(())
    }

    pub fn listen_addr(&self) -> Result<SocketAddr, std::net::AddrParseError> {
        self.http.listen.parse()
    }

    /// The connection string to use: `database.url`, or one built from Foreman's database.yml.
    pub fn database_url(&self) -> Result<String, SettingsError> {
        match self.database.url.as_deref().map(str::trim) {
            Some(url) if !url.is_empty() => Ok(url.to_string()),
            _ => conninfo_from_foreman_yml(&self.database.foreman_database_yml),
        }
    }
}

fn defaults() -> Result<config::ConfigBuilder<config::builder::DefaultState>, SettingsError> {
    let set = |b: config::ConfigBuilder<_>, key: &str, value: config::Value| {
        b.set_default(key, value)
            .map_err(|e| SettingsError::Invalid(format!("internal default {key}: {e}")))
    };
    let mut b = Config::builder();
    b = set(
        b,
        "database.foreman_database_yml",
        "/etc/foreman/database.yml".into(),
    )?;
    b = set(b, "database.pool_size", 10.into())?;
    b = set(b, "database.connect_timeout_seconds", 5.into())?;
    b = set(b, "http.listen", "127.0.0.1:8090".into())?;
    b = set(b, "http.workers", 0.into())?;
    b = set(b, "client_cert.ca_files", Vec::<String>::new().into())?;
    b = set(b, "client_cert.crl_files", Vec::<String>::new().into())?;
    b = set(
        b,
        "client_cert.trusted_proxies",
        vec!["127.0.0.0/8".to_string(), "::1/128".to_string()].into(),
    )?;
    b = set(b, "client_cert.cert_header", "SSL-CLIENT-CERT".into())?;
    b = set(b, "client_cert.verify_header", "SSL-CLIENT-VERIFY".into())?;
    b = set(b, "client_cert.dn_header", "SSL-CLIENT-S-DN".into())?;
    b = set(b, "client_cert.trust_proxy_verification", false.into())?;
    b = set(b, "locks.stale_time_hours", 4.into())?;
    b = set(
        b,
        "foreman.settings_yml",
        "/etc/foreman/settings.yaml".into(),
    )?;
    Ok(b)
}

fn environment() -> Environment {
    Environment::with_prefix("FOREMAN_DLM")
        .prefix_separator("__")
        .separator("__")
        .try_parsing(true)
        .list_separator(",")
        .with_list_parse_key("client_cert.ca_files")
        .with_list_parse_key("client_cert.crl_files")
        .with_list_parse_key("client_cert.trusted_proxies")
}

/// Builds a libpq `key=value` connection string from the `production` section of Foreman's
/// database.yml. A key/value string (rather than a URL) needs no percent-encoding of passwords.
pub fn conninfo_from_foreman_yml(path: &Path) -> Result<String, SettingsError> {
    let problem = |problem: String| SettingsError::ForemanDatabaseYml {
        path: path.to_path_buf(),
        problem,
    };
    let text =
        std::fs::read_to_string(path).map_err(|e| problem(format!("cannot read it ({e})")))?;
    let docs = yaml_rust2::YamlLoader::load_from_str(&text)
        .map_err(|e| problem(format!("it is not valid YAML ({e})")))?;
    let production = docs
        .first()
        .map(|doc| &doc["production"])
        .filter(|p| p.as_hash().is_some())
        .ok_or_else(|| problem("it has no production section".into()))?;
    let field = |key: &str| -> Option<String> {
        let value = &production[key];
        value
            .as_str()
            .map(str::to_string)
            .or_else(|| value.as_i64().map(|n| n.to_string()))
    };
    match field("adapter").as_deref() {
        Some("postgresql") | Some("postgres") | Some("postgis") => {}
        other => {
            return Err(problem(format!(
                "its adapter is {:?}; foreman-dlm needs PostgreSQL",
                other.unwrap_or("(missing)")
            )))
        }
    }
    let mut parts = Vec::new();
    for (yml_key, libpq_key) in [
        ("host", "host"),
        ("port", "port"),
        ("database", "dbname"),
        ("username", "user"),
        ("password", "password"),
        ("sslmode", "sslmode"),
        ("sslrootcert", "sslrootcert"),
    ] {
        if let Some(value) = field(yml_key) {
            parts.push(format!("{libpq_key}={}", quote_conninfo_value(&value)));
        }
    }
    if field("database").is_none() {
        return Err(problem("its production section names no database".into()));
    }
    Ok(parts.join(" "))
}

fn quote_conninfo_value(value: &str) -> String {
    let escaped = value.replace('\\', "\\\\").replace('\'', "\\'");
    format!("'{escaped}'")
}

/// The connection string with its password replaced, for logs and `check-config`.
pub fn redact_database_url(url: &str) -> String {
    if let Some(scheme_end) = url.find("://") {
        let rest = &url[scheme_end + 3..];
        let authority_end = rest.find('/').unwrap_or(rest.len());
        let authority = &rest[..authority_end];
        let mut redacted = match authority.rfind('@') {
            Some(at) => match authority[..at].find(':') {
                Some(colon) => format!(
                    "{}://{}:********{}",
                    &url[..scheme_end],
                    &authority[..colon],
                    &rest[at..]
                ),
                None => url.to_string(),
            },
            None => url.to_string(),
        };
        if let Some(pos) = redacted.find("password=") {
            let end = redacted[pos..]
                .find('&')
                .map_or(redacted.len(), |e| pos + e);
            redacted.replace_range(pos..end, "password=********");
        }
        return redacted;
    }
    // key=value form: values may be quoted and contain spaces.
    let mut out = String::new();
    let mut rest = url;
    while let Some(pos) = rest.find("password") {
        let after = rest[pos + "password".len()..].trim_start();
        if !after.starts_with('=') {
            out.push_str(&rest[..pos + "password".len()]);
            rest = &rest[pos + "password".len()..];
            continue;
        }
        out.push_str(&rest[..pos]);
        out.push_str("password=********");
        let value = after[1..].trim_start();
        rest = skip_conninfo_value(value);
    }
    out.push_str(rest);
    out
}

fn skip_conninfo_value(value: &str) -> &str {
    if let Some(quoted) = value.strip_prefix('\'') {
        let mut escaped = false;
        for (i, c) in quoted.char_indices() {
            match c {
                '\\' if !escaped => escaped = true,
                '\'' if !escaped => return &quoted[i + 1..],
                _ => escaped = false,
            }
        }
        ""
    } else {
        value
            .find(char::is_whitespace)
            .map_or("", |end| &value[end..])
    }
}

impl Settings {
    /// The effective configuration as TOML, secrets redacted: what `check-config` prints.
    pub fn describe(&self) -> String {
        let list = |items: &[PathBuf]| {
            let quoted: Vec<String> = items
                .iter()
                .map(|p| format!("{:?}", p.display().to_string()))
                .collect();
            format!("[{}]", quoted.join(", "))
        };
        let proxies: Vec<String> = self
            .client_cert
            .trusted_proxies
            .iter()
            .map(|n| format!("\"{n}\""))
            .collect();
        let url = match self.database.url.as_deref().map(str::trim) {
            Some(url) if !url.is_empty() => format!("{:?}", redact_database_url(url)),
            _ => "\"\"  # unset: Foreman's database.yml is used".to_string(),
        };
        format!(
            "[database]\nurl = {url}\nforeman_database_yml = {:?}\npool_size = {}\nconnect_timeout_seconds = {}\n\n\
             [http]\nlisten = {:?}\nworkers = {}\n\n\
             [client_cert]\nca_files = {}\ncrl_files = {}\ntrusted_proxies = [{}]\ncert_header = {:?}\nverify_header = {:?}\ndn_header = {:?}\ntrust_proxy_verification = {}\n\n\
             [locks]\nstale_time_hours = {}\n\n\
             [foreman]\nsettings_yml = {:?}\n",
            self.database.foreman_database_yml.display().to_string(),
            self.database.pool_size,
            self.database.connect_timeout_seconds,
            self.http.listen,
            self.http.workers,
            list(&self.client_cert.ca_files),
            list(&self.client_cert.crl_files),
            proxies.join(", "),
            self.client_cert.cert_header,
            self.client_cert.verify_header,
            self.client_cert.dn_header,
            self.client_cert.trust_proxy_verification,
            self.locks.stale_time_hours,
            self.foreman.settings_yml.display().to_string(),
        ) + &self.describe_tls()
    }

    fn describe_tls(&self) -> String {
        match &self.tls {
            None => "\n# [tls] not configured: no direct TLS listener\n".to_string(),
            Some(tls) => {
                format!(
                "\n[tls]\nlisten = {:?}\ncert_file = {:?}\nkey_file = {:?}\nchain_file = {:?}\n",
                tls.listen,
                tls.cert_file.display().to_string(),
                tls.key_file.display().to_string(),
                tls.chain_file.as_ref().map_or(String::new(), |p| p.display().to_string()),
            )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_url_passwords() {
        assert_eq!(
            redact_database_url("postgres://foreman:s3cret@db:5432/foreman"),
            "postgres://foreman:********@db:5432/foreman"
        );
        assert_eq!(
            redact_database_url("postgres://db/foreman?user=x&password=s3cret&sslmode=require"),
            "postgres://db/foreman?user=x&password=********&sslmode=require"
        );
        assert_eq!(
            redact_database_url("host='db' password='it\\'s secret' dbname='foreman'"),
            "host='db' password=******** dbname='foreman'"
        );
        assert_eq!(
            redact_database_url("host=db password=plain dbname=foreman"),
            "host=db password=******** dbname=foreman"
        );
        assert_eq!(
            redact_database_url("postgres://db/foreman"),
            "postgres://db/foreman"
        );
    }

    #[test]
    fn contrib_settings_file_documents_the_defaults() {
        let path = Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/contrib/settings.toml"
        ));
        let documented = Settings::load(Some(path)).expect("contrib/settings.toml loads");
        let defaults = Settings::from_defaults_and_env().expect("defaults");
        assert_eq!(documented.describe(), defaults.describe());
    }

    #[test]
    fn reads_foreman_database_yml() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("database.yml");
        std::fs::write(
            &path,
            "development:\n  adapter: sqlite3\nproduction:\n  adapter: postgresql\n  host: localhost\n  port: 5432\n  database: foreman\n  username: foreman\n  password: \"it's s3cret\"\n  pool: 5\n",
        )
        .expect("write");
        assert_eq!(
            conninfo_from_foreman_yml(&path).expect("conninfo"),
            "host='localhost' port='5432' dbname='foreman' user='foreman' password='it\\'s s3cret'"
        );
        std::fs::write(
            &path,
            "production:\n  adapter: mysql2\n  database: foreman\n",
        )
        .expect("write");
        let err = conninfo_from_foreman_yml(&path)
            .expect_err("mysql refused")
            .to_string();
        assert!(err.contains("needs PostgreSQL"), "{err}");
        let err = conninfo_from_foreman_yml(&dir.path().join("missing.yml"))
            .expect_err("missing file")
            .to_string();
        assert!(err.contains("cannot read it"), "{err}");
    }
}
