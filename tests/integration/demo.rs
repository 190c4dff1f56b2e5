//! `foreman-dlm demo` as a newcomer runs it: every command it prints, pasted into a shell, gives
//! the answer its comment promises.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use crate::common::admin_url;

struct Demo {
    child: Child,
    database: String,
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = Command::new("psql")
            .arg(admin_url())
            .arg("-qc")
            .arg(format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.database
            ))
            .output();
    }
}

fn demo(database: &str, cert_dir: &std::path::Path, metrics_listen: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_foreman-dlm"));
    command
        .args(["demo", "--admin-url", &admin_url(), "--database", database])
        .args([
            "--listen",
            "127.0.0.1:0",
            "--metrics-listen",
            metrics_listen,
        ])
        .arg("--cert-dir")
        .arg(cert_dir)
        .env_remove("FOREMAN_DLM__METRICS__LISTEN");
    command
}

#[test]
fn every_command_the_demo_prints_does_what_it_says() {
    let certs = tempfile::tempdir().unwrap();
    let database = format!("fdlm_demo_{}", std::process::id());
    let child = demo(&database, certs.path(), "127.0.0.1:0")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut demo = Demo { child, database };
    let mut printed = Vec::new();
    let mut lines = BufReader::new(demo.child.stdout.take().unwrap()).lines();
    while let Some(Ok(line)) = lines.next() {
        let done = printed
            .last()
            .is_some_and(|last: &String| last.starts_with("The locks in a terminal"));
        printed.push(line);
        if done {
            break;
        }
    }
    let text = printed.join("\n");
    let commands: Vec<&String> = printed
        .iter()
        .filter(|l| l.starts_with("  curl "))
        .collect();
    assert_eq!(commands.len(), 10, "{text}");
    for line in commands {
        let (command, comment) = line.split_once(" # ").expect("a comment");
        let expected = comment.trim().rsplit(' ').next().unwrap();
        let output = Command::new("sh")
            .arg("-c")
            .arg(format!("{command} -o /dev/null -w '%{{http_code}}'"))
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&output.stdout),
            expected,
            "{line}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    for prefix in ["Metrics: ", "Health: "] {
        let line = printed
            .iter()
            .find(|l| l.starts_with(prefix))
            .expect(prefix);
        let output = Command::new("sh")
            .arg("-c")
            .arg(format!("{} -f -o /dev/null", &line[prefix.len()..]))
            .output()
            .unwrap();
        assert!(output.status.success(), "{line}");
    }
    // The status command, as printed: the whole database URL and this binary's path.
    let status = printed.last().unwrap();
    assert!(
        status.contains(env!("CARGO_BIN_EXE_foreman-dlm")),
        "{status}"
    );
    let output = Command::new("sh").arg("-c").arg(status).output().unwrap();
    let said = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && said.contains("cluster-a"),
        "{status}: {said}"
    );
}

#[test]
fn the_demo_binds_its_listeners_before_it_prints_anything() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let certs = tempfile::tempdir().unwrap();
    let database = format!("fdlm_demo_taken_{}", std::process::id());
    let output = demo(
        &database,
        certs.path(),
        &taken.local_addr().unwrap().to_string(),
    )
    .output()
    .unwrap();
    let _cleanup = Demo {
        child: Command::new("true").spawn().unwrap(),
        database,
    };
    assert!(!output.status.success());
    assert_eq!(String::from_utf8_lossy(&output.stdout), "");
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(said.contains("metrics.listen"), "{said}");
}
