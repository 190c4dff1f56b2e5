//! The one spawner: the real `foreman-dlm serve` binary as a child process, configured by a
//! settings file, listening on port 0 (or a Unix socket) and killed when dropped.
//!
//! `FOREMAN_DLM_TEST_BINARY` runs the tests against another build (an older release, to show that
//! a regression test fails there).

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::{pki, TestDb};

/// How a test server is configured beyond the defaults.
#[derive(Clone, Debug)]
pub struct ServerOptions {
    pub database_url: String,
    /// CAs whose certificates name hosts by Puppet certname.
    pub ca_files: Vec<PathBuf>,
    /// CAs whose certificates name Katello consumers.
    pub katello_ca_files: Vec<PathBuf>,
    pub crl_files: Vec<PathBuf>,
    /// `None`: the service's default (the loopback addresses 127.0.0.1 and ::1).
    pub trusted_proxies: Option<Vec<String>>,
    pub trust_proxy_verification: bool,
    /// Also listen with TLS on a loopback port, with the test PKI's `localhost` certificate.
    pub tls: bool,
    /// Listen on this Unix socket instead of a loopback TCP port.
    pub unix_socket: Option<PathBuf>,
    /// This loopback port instead of one the system picks (to restart a killed server on it).
    pub port: Option<u16>,
    /// RUST_LOG for the server (default `info`).
    pub log_level: Option<String>,
    /// More settings, appended to the settings file as they are (TOML).
    pub extra_toml: String,
    pub env: Vec<(String, String)>,
}

impl ServerOptions {
    pub fn for_db(db: &TestDb) -> ServerOptions {
        ServerOptions {
            database_url: db.url.clone(),
            ca_files: vec![pki::shared().ca_file.clone()],
            katello_ca_files: vec![],
            crl_files: vec![],
            trusted_proxies: None,
            trust_proxy_verification: false,
            tls: false,
            unix_socket: None,
            port: None,
            log_level: None,
            extra_toml: String::new(),
            env: vec![],
        }
    }

    fn settings_toml(&self) -> String {
        let list = |paths: &[PathBuf]| {
            let quoted: Vec<String> = paths
                .iter()
                .map(|p| format!("{:?}", p.display().to_string()))
                .collect();
            format!("[{}]", quoted.join(", "))
        };
        let listen = match &self.unix_socket {
            Some(path) => format!("unix:{}", path.display()),
            None => format!("127.0.0.1:{}", self.port.unwrap_or(0)),
        };
        let proxies = match &self.trusted_proxies {
            Some(proxies) => {
                let quoted: Vec<String> = proxies.iter().map(|p| format!("{p:?}")).collect();
                format!("trusted_proxies = [{}]\n", quoted.join(", "))
            }
            None => String::new(),
        };
        let mut text = format!(
            "[database]\nurl = {:?}\nconnect_timeout_seconds = 2\n\n\
             [http]\nlisten = {listen:?}\nworkers = 2\n\n[metrics]\nlisten = \"127.0.0.1:0\"\n\n\
             [client_cert]\nca_files = {}\nkatello_ca_files = {}\ncrl_files = {}\n\
             {proxies}trust_proxy_verification = {}\nreload_interval_seconds = 1\n\n",
            self.database_url,
            list(&self.ca_files),
            list(&self.katello_ca_files),
            list(&self.crl_files),
            self.trust_proxy_verification,
        );
        if self.tls {
            let pki = pki::shared();
            text.push_str(&format!(
                "[tls]\nlisten = \"127.0.0.1:0\"\ncert_file = {:?}\nkey_file = {:?}\n\n",
                pki.server_cert_file.display().to_string(),
                pki.server_key_file.display().to_string(),
            ));
        }
        text.push_str(&self.extra_toml);
        text
    }
}

/// A running `foreman-dlm serve`.
pub struct Server {
    pub addr: SocketAddr,
    pub tls_addr: Option<SocketAddr>,
    pub unix_socket: Option<PathBuf>,
    child: Child,
    logs: Arc<Mutex<String>>,
    metrics_addr: Arc<Mutex<Option<SocketAddr>>>,
    _config: tempfile::TempDir,
}

fn binary() -> String {
    std::env::var("FOREMAN_DLM_TEST_BINARY")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_foreman-dlm").to_string())
}

impl Server {
    pub fn spawn(options: &ServerOptions) -> Server {
        let config = tempfile::tempdir().expect("config dir");
        let settings = config.path().join("settings.toml");
        std::fs::write(&settings, options.settings_toml()).expect("write settings");
        let mut command = Command::new(binary());
        command
            .arg("--config")
            .arg(&settings)
            .arg("serve")
            .env("RUST_LOG", options.log_level.as_deref().unwrap_or("info"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (key, value) in &options.env {
            command.env(key, value);
        }
        let mut child = command.spawn().expect("start foreman-dlm");
        let stderr = child.stderr.take().expect("stderr");
        let logs = Arc::new(Mutex::new(String::new()));
        let (found_tx, found) = std::sync::mpsc::channel::<String>();
        let sink = logs.clone();
        let metrics_addr = Arc::new(Mutex::new(None));
        let metrics_sink = metrics_addr.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(at) = line.find("listening on ") {
                    let _ = found_tx.send(line[at + "listening on ".len()..].to_string());
                }
                if let Some(at) = line.find("health checks on http://") {
                    let addr = line[at + "health checks on http://".len()..]
                        .trim_end_matches("/metrics")
                        .parse()
                        .ok();
                    if let Ok(mut slot) = metrics_sink.lock() {
                        *slot = addr;
                    }
                }
                if let Ok(mut logs) = sink.lock() {
                    logs.push_str(&line);
                    logs.push('\n');
                }
            }
        });
        let expected = 1 + usize::from(options.tls);
        let deadline = Instant::now() + Duration::from_secs(30);
        let (mut addr, mut tls_addr, mut unix_socket) = (None, None, None);
        for _ in 0..expected {
            let wait = deadline.saturating_duration_since(Instant::now());
            let Ok(listening) = found.recv_timeout(wait) else {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "foreman-dlm did not start:\n{}",
                    logs.lock().map(|l| l.clone()).unwrap_or_default()
                );
            };
            let listening = listening.split_whitespace().next().unwrap_or_default();
            if let Some(rest) = listening.strip_prefix("http://") {
                addr = rest.parse().ok();
            } else if let Some(rest) = listening.strip_prefix("https://") {
                tls_addr = rest.parse().ok();
            } else if let Some(rest) = listening.strip_prefix("unix:") {
                unix_socket = Some(PathBuf::from(rest));
            }
        }
        Server {
            // A Unix-socket server has no TCP address; requests to it go through the socket.
            addr: addr.unwrap_or_else(|| "127.0.0.1:9".parse().expect("addr")),
            tls_addr,
            unix_socket,
            child,
            logs,
            metrics_addr,
            _config: config,
        }
    }

    /// `http://127.0.0.1:PORT{path}` on the metrics listener (waits for its log line).
    pub fn metrics_url(&self, path: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(addr) = self.metrics_addr.lock().ok().and_then(|a| *a) {
                return format!("http://{addr}{path}");
            }
            assert!(
                Instant::now() < deadline,
                "no metrics listener:\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// `https://localhost:PORT/...` on the TLS listener.
    pub fn tls_url(&self, path: &str) -> String {
        let port = self.tls_addr.expect("server started with tls").port();
        format!("https://localhost:{port}{path}")
    }

    /// Everything the server logged so far.
    pub fn logs(&self) -> String {
        self.logs.lock().map(|l| l.clone()).unwrap_or_default()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL, as a crash would end it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
        // A failing test shows what the server said, which is usually why.
        if std::thread::panicking() {
            eprintln!("--- foreman-dlm log ---\n{}--- end of log ---", self.logs());
        }
    }
}
