//! The server under test: `foreman-dlm serve` from the same build directory (or another build, for
//! a side-by-side comparison), configured through the environment, on a port it picks itself.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub struct Server {
    pub child: Child,
    pub addr: SocketAddr,
}

/// The `foreman-dlm` binary beside this one.
pub fn sibling_binary() -> Result<PathBuf, String> {
    let binary = std::env::current_exe()
        .map_err(|e| e.to_string())?
        .parent()
        .map(|dir| dir.join("foreman-dlm"))
        .ok_or("cannot locate the build directory")?;
    if !binary.exists() {
        return Err(format!(
            "{} not found: build it first (bench/run does)",
            binary.display()
        ));
    }
    Ok(binary)
}

impl Server {
    /// Starts `binary serve` on 127.0.0.1, port 0, with the settings file `config` (the lock
    /// policies) and the rest from the environment, and waits for the address it logs.
    pub fn start(
        binary: &Path,
        config: &Path,
        database_url: &str,
        ca_file: &Path,
        pool_size: u32,
    ) -> Result<Server, String> {
        let mut child = Command::new(binary)
            .arg("--config")
            .arg(config)
            .arg("serve")
            .env("FOREMAN_DLM__DATABASE__URL", database_url)
            .env("FOREMAN_DLM__DATABASE__POOL_SIZE", pool_size.to_string())
            .env("FOREMAN_DLM__HTTP__LISTEN", "127.0.0.1:0")
            .env("FOREMAN_DLM__METRICS__LISTEN", "")
            .env("FOREMAN_DLM__CLIENT_CERT__CA_FILES", ca_file)
            // The listening line only: a log line per request would be measured too.
            .env("RUST_LOG", "warn,foreman_dlm::commands=info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", binary.display()))?;
        let stderr = child.stderr.take().ok_or("no stderr")?;
        let (found_tx, found) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(at) = line.find("listening on http://") {
                    let addr = line[at + "listening on http://".len()..].trim().to_string();
                    let _ = found_tx.send(addr);
                } else if line.contains("ERROR") || line.contains("error:") {
                    eprintln!("server: {line}");
                }
            }
        });
        match found.recv_timeout(Duration::from_secs(30)) {
            Ok(addr) => {
                let addr = addr.parse().map_err(|_| format!("bad address {addr:?}"))?;
                Ok(Server { child, addr })
            }
            Err(_) => {
                let _ = child.kill();
                Err(format!("{} serve did not start", binary.display()))
            }
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// (peak RSS, current RSS) in MB, from /proc.
    pub fn memory(&self) -> (f64, f64) {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        let field = |name: &str| {
            status
                .lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
                .map_or(0.0, |kb| kb / 1024.0)
        };
        (field("VmHWM:"), field("VmRSS:"))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
