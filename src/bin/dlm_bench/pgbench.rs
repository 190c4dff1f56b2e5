//! The limit: the statements the server runs for one acquire and one release, under pgbench.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use foreman_dlm::storage::connect::SESSION_SETUP;
use foreman_dlm::storage::locks::statements::{HostLookup, HostOperation};
use foreman_dlm::storage::locks::LockStatements;

use super::cpu::process_cpu_seconds;

/// The statements one host's acquire and release run in the server — the very texts the server
/// prepares — as a pgbench script. Each request is ONE statement: host lookup, check-in, (for
/// acquire) the opt-out parameter, the policy, the change of holders and its events.
///
/// Each client sets its session up as the server does and prepares them, once (`-D prepared=0`
/// starts every client at 0), and EXECUTEs them with the values the server binds: the subject,
/// and NULL for the lock id, the opt-out verdict, the test clock and the alert gate's verdict
/// and expression. Bound NULLs, not NULL literals in the text: a literal would let the planner
/// fold what the server's plan has to keep.
pub(crate) fn pgbench_script(statements: &LockStatements, hosts: usize) -> String {
    let subject = "('bench-' || lpad(:h::text, 6, '0') || '.example.com')";
    let lock_name = "('own-' || lpad(:h::text, 6, '0'))";
    let acquire = statements.host_request(
        HostOperation::Acquire {
            opt_out_verdict: None,
            gate_verdict: None,
        },
        HostLookup::Certname,
    );
    let release = statements.host_request(HostOperation::Release, HostLookup::Certname);
    // The types the server binds (see `storage::locks::host_requests::run`).
    let types = "(text, integer, text, boolean, timestamp, boolean, text)";
    let arguments = format!("({subject}, NULL, {lock_name}, NULL, NULL, NULL, NULL)");
    [
        format!("\\set h random(1, {hosts})"),
        "\\if :prepared = 0".to_string(),
        format!("{SESSION_SETUP};"),
        format!("PREPARE host_acquire {types} AS {acquire};"),
        format!("PREPARE host_release {types} AS {release};"),
        "\\set prepared 1".to_string(),
        "\\endif".to_string(),
        format!("EXECUTE host_acquire{arguments};"),
        format!("EXECUTE host_release{arguments};\n"),
    ]
    .join("\n")
}

/// pgbench with the script of [`pgbench_script`], written once.
pub(crate) struct Pgbench {
    database_url: String,
    script: PathBuf,
}

impl Pgbench {
    pub(crate) fn new(
        database_url: &str,
        statements: &LockStatements,
        used_hosts: usize,
        dir: &Path,
    ) -> Result<Pgbench, Box<dyn std::error::Error>> {
        let script = dir.join("acquire-release.sql");
        std::fs::File::create(&script)?
            .write_all(pgbench_script(statements, used_hosts).as_bytes())?;
        Ok(Pgbench {
            database_url: database_url.to_string(),
            script,
        })
    }

    /// Transactions (= acquire+release cycles) per second, and pgbench's own CPU seconds.
    pub(crate) fn run(
        &self,
        concurrency: usize,
        seconds: u64,
    ) -> Result<(f64, f64), Box<dyn std::error::Error>> {
        let mut child = Command::new("pgbench")
            .args(["-n", "-M", "simple", "-D", "prepared=0", "-j", "2"])
            .args(["-c", &concurrency.to_string(), "-T", &seconds.to_string()])
            .arg("-f")
            .arg(&self.script)
            .arg(&self.database_url)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot run pgbench ({e}); install PostgreSQL's client tools"))?;
        // Its CPU time is only readable while it lives: sample it until it exits.
        let mut cpu = 0.0;
        while child.try_wait()?.is_none() {
            cpu = process_cpu_seconds(child.id()).unwrap_or(cpu);
            std::thread::sleep(Duration::from_millis(20));
        }
        let output = child.wait_with_output()?;
        let stdout = String::from_utf8_lossy(&output.stdout);
        if !output.status.success() {
            return Err(format!(
                "pgbench failed: {}{}",
                stdout,
                String::from_utf8_lossy(&output.stderr)
            )
            .into());
        }
        let tps = stdout
            .lines()
            .find(|l| l.starts_with("tps = "))
            .and_then(|l| l.split_whitespace().nth(2))
            .and_then(|tps| tps.parse::<f64>().ok())
            .ok_or_else(|| format!("no tps in pgbench output: {stdout}"))?;
        Ok((tps, cpu))
    }
}
