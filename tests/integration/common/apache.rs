//! Debian's Apache httpd in front of the service, configured like Foreman's `foreman-ssl` vhost
//! (puppet-foreman's apache.pp) and including `contrib/apache/foreman-dlm.conf` unchanged.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use super::pki;

const APACHE: &str = "/usr/sbin/apache2";
const MODULES: &str = "/usr/lib/apache2/modules";

/// Whether the Apache tests can run here. Without apache2 they are skipped with a notice, except
/// under CI (CI=true), where `.ci/run` installs it and a missing binary is a failure.
pub fn available() -> bool {
    if Path::new(APACHE).exists() {
        return true;
    }
    assert!(
        std::env::var("CI").is_err(),
        "apache2 is not installed; .ci/run installs Debian's apache2"
    );
    eprintln!(
        "NOTICE: {APACHE} not found; skipping the Apache end-to-end test (apt-get install apache2)"
    );
    false
}

pub struct Apache {
    pub port: u16,
    child: Child,
    dir: tempfile::TempDir,
}

/// Where Apache sends the lock API.
pub enum Backend {
    Tcp(SocketAddr),
    /// foreman-dlm's Unix socket, the packaged default.
    Unix(PathBuf),
}

impl Backend {
    fn define(&self) -> String {
        match self {
            Backend::Tcp(addr) => format!("http://{addr}"),
            Backend::Unix(path) => format!("unix:{}|http://localhost", path.display()),
        }
    }
}

/// How the vhost forwards mod_ssl's values: puppet-foreman 26.2 and later use dashed header
/// names; older installers used underscores and passed a client's own dashed headers through.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Vhost {
    Current,
    BeforeInstaller26_2,
}

impl Apache {
    /// Starts Apache on a free loopback port, proxying the lock API to `backend`, with a vhost
    /// like today's Foreman installer writes.
    pub fn start(backend: SocketAddr) -> Apache {
        Self::start_with(Backend::Tcp(backend), Vhost::Current)
    }

    /// Starts Apache on a free loopback port, proxying the lock API to `backend`. It trusts
    /// Foreman's CA and Katello's CA for client certificates, and has no CRL (as on a Katello
    /// server), so revocation is foreman-dlm's to check.
    pub fn start_with(backend: Backend, vhost: Vhost) -> Apache {
        let dir = tempfile::tempdir().expect("tempdir");
        let port = free_port();
        let pki = pki::shared();
        // FOREMAN_DLM_TEST_APACHE_INCLUDE: another version of the include, e.g. an older
        // release's, to show what a regression test defends against.
        let contrib = std::env::var("FOREMAN_DLM_TEST_APACHE_INCLUDE").unwrap_or_else(|_| {
            concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/contrib/apache/foreman-dlm.conf"
            )
            .to_string()
        });
        let include_text = std::fs::read_to_string(&contrib).unwrap_or_default();
        // Releases before the Unix socket defined the backend as a bare address:port.
        let backend_define = match &backend {
            Backend::Tcp(addr) if include_text.contains("http://${FOREMAN_DLM_BACKEND}") => {
                addr.to_string()
            }
            other => other.define(),
        };
        let run_as = if is_root() {
            "User www-data\nGroup www-data\n"
        } else {
            ""
        };
        let config = format!(
            r#"ServerRoot "{dir}"
DefaultRuntimeDir "{dir}"
PidFile "{dir}/httpd.pid"
ErrorLog "{dir}/error.log"
LogLevel warn
{run_as}ServerName localhost
LoadModule mpm_event_module {MODULES}/mod_mpm_event.so
LoadModule authz_core_module {MODULES}/mod_authz_core.so
LoadModule headers_module {MODULES}/mod_headers.so
LoadModule proxy_module {MODULES}/mod_proxy.so
LoadModule proxy_http_module {MODULES}/mod_proxy_http.so
LoadModule socache_shmcb_module {MODULES}/mod_socache_shmcb.so
LoadModule ssl_module {MODULES}/mod_ssl.so
Listen 127.0.0.1:{port}
SSLSessionCache "shmcb:{dir}/ssl_scache(512000)"
Define FOREMAN_DLM_BACKEND "{backend}"

<VirtualHost 127.0.0.1:{port}>
    ServerName localhost
    SSLEngine on
    SSLCertificateFile "{server_cert}"
    SSLCertificateKeyFile "{server_key}"
    SSLCACertificateFile "{ca_bundle}"
    SSLVerifyClient optional
    SSLVerifyDepth 3
    SSLOptions +StdEnvVars +ExportCertData

    RequestHeader set X-FORWARDED-PROTO "https"
    RequestHeader set SSL{sep}CLIENT{sep}S{sep}DN "%{{SSL_CLIENT_S_DN}}s"
    RequestHeader set SSL{sep}CLIENT{sep}CERT "%{{SSL_CLIENT_CERT}}s"
    RequestHeader set SSL{sep}CLIENT{sep}VERIFY "%{{SSL_CLIENT_VERIFY}}s"
    RequestHeader unset REMOTE-USER

    # 05-foreman-ssl.d/*.conf
    Include "{contrib}"

    # Foreman itself (nothing listens here in the test).
    ProxyPreserveHost On
    ProxyAddHeaders On
    ProxyPass / http://127.0.0.1:9/ retry=0
</VirtualHost>
"#,
            dir = dir.path().display(),
            backend = backend_define,
            sep = if vhost == Vhost::Current { "-" } else { "_" },
            server_cert = pki.server_cert_file.display(),
            server_key = pki.server_key_file.display(),
            ca_bundle = pki.ca_bundle_file.display(),
        );
        let config_file = dir.path().join("httpd.conf");
        std::fs::write(&config_file, config).expect("write httpd.conf");
        let child = Command::new(APACHE)
            .args(["-f", &config_file.display().to_string(), "-DFOREGROUND"])
            .spawn()
            .expect("start apache2");
        let apache = Apache { port, child, dir };
        apache.wait_until_listening();
        apache
    }

    fn wait_until_listening(&self) {
        let deadline = Instant::now() + Duration::from_secs(15);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "apache2 did not start: {}",
                self.error_log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("error.log")).unwrap_or_default()
    }

    pub fn url(&self, path: &str) -> String {
        format!("https://localhost:{}{path}", self.port)
    }

    pub fn dir(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }
}

impl Drop for Apache {
    fn drop(&mut self) {
        let _ = Command::new(APACHE)
            .args([
                "-f",
                &self.dir.path().join("httpd.conf").display().to_string(),
                "-k",
                "stop",
            ])
            .output();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}
