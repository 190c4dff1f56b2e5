//! contrib/client/updatelock, the host-side script, run for real against the TLS listener.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use serde_json::{json, Value};

use crate::common::{pki, Server, ServerOptions, TestDb};

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/contrib/client/updatelock");

pub(crate) struct Node {
    cert: PathBuf,
    key: PathBuf,
    pub(crate) state: tempfile::TempDir,
}

impl Node {
    pub(crate) fn new(name: &str) -> Node {
        let pki = pki::shared();
        let (cert, key) = pki.write_client(name, &pki.host(name));
        Node {
            cert,
            key,
            state: tempfile::tempdir().expect("state dir"),
        }
    }

    pub(crate) fn run(&self, server: &Server, args: &[&str], extra: &[(&str, &str)]) -> Output {
        self.command(server, args, extra)
            .output()
            .expect("run updatelock")
    }

    /// The script in the background, its output kept for `wait_with_output`.
    pub(crate) fn spawn(&self, server: &Server, args: &[&str], extra: &[(&str, &str)]) -> Child {
        self.command(server, args, extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start updatelock")
    }

    fn command(&self, server: &Server, args: &[&str], extra: &[(&str, &str)]) -> Command {
        let port = server.tls_addr.expect("tls").port();
        let mut command = Command::new("bash");
        command
            .arg(SCRIPT)
            .args(args)
            .env("UPDATELOCK_CONFIG", "/nonexistent")
            .env("FOREMAN_URL", format!("https://localhost:{port}"))
            .env("LOCKNAME", "web cluster")
            .env("HOST_CERT", &self.cert)
            .env("HOST_KEY", &self.key)
            .env("CA_CERT", &pki::shared().ca_file)
            .env("STATE_DIR", self.state.path())
            .env("HOOK_DIR", self.state.path())
            .env(
                "REBOOT_REQUIRED_FILE",
                self.state.path().join("reboot-required"),
            );
        for (key, value) in extra {
            command.env(key, value);
        }
        command
    }

    pub(crate) fn marker(&self) -> PathBuf {
        self.state.path().join("rebooting-for-web cluster")
    }
}

pub(crate) fn out(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

pub(crate) fn holder(db: &TestDb) -> Value {
    db.rows("SELECT host_id FROM dlmlocks WHERE name = 'web cluster'")
        .get(0)
        .map_or(Value::Null, |row| row["host_id"].clone())
}

fn server(db: &TestDb) -> Server {
    let mut options = ServerOptions::for_db(db);
    options.tls = true;
    Server::spawn(&options)
}

#[test]
fn lock_status_release_like_the_plugins_script() {
    let db = TestDb::new();
    let server = server(&db);
    let web1 = db.add_host("web1.example.com");
    db.add_host("web2.example.com");
    let (node1, node2) = (Node::new("web1.example.com"), Node::new("web2.example.com"));

    let free = node1.run(&server, &["status"], &[]);
    let lock = node1.run(&server, &["lock"], &[]);
    let mine = node1.run(&server, &["status"], &[]);
    let theirs = node2.run(&server, &["status"], &[]);
    let busy = node2.run(&server, &["lock"], &[]);
    let not_mine = node2.run(&server, &["release"], &[]);
    assert_eq!(holder(&db), json!(web1));
    let release = node1.run(&server, &["release"], &[]);

    assert!(
        out(&free).contains("does not exist; so it is free"),
        "{}",
        out(&free)
    );
    assert!(lock.status.success(), "{}", out(&lock));
    assert!(out(&mine).contains("acquired by me"), "{}", out(&mine));
    assert!(
        out(&theirs).contains("locked by web1.example.com"),
        "{}",
        out(&theirs)
    );
    assert_eq!(busy.status.code(), Some(1), "{}", out(&busy));
    assert_eq!(not_mine.status.code(), Some(1), "{}", out(&not_mine));
    assert!(release.status.success(), "{}", out(&release));
    assert_eq!(holder(&db), Value::Null);
}

#[test]
fn waiting_node_gets_the_lock_when_it_is_released() {
    let db = TestDb::new();
    let server = server(&db);
    db.add_host("web1.example.com");
    let web2 = db.add_host("web2.example.com");
    let (node1, node2) = (Node::new("web1.example.com"), Node::new("web2.example.com"));
    assert!(node1.run(&server, &["lock"], &[]).status.success());

    let waiter = std::thread::scope(|scope| {
        let waiter = scope.spawn(|| {
            node2.run(
                &server,
                &["lock", "--wait"],
                &[
                    ("RETRY_MIN", "1"),
                    ("RETRY_MAX", "1"),
                    ("WAIT_TIMEOUT", "30"),
                ],
            )
        });
        std::thread::sleep(Duration::from_millis(2500));
        assert!(node1.run(&server, &["release"], &[]).status.success());
        waiter.join().expect("waiter")
    });

    assert!(waiter.status.success(), "{}", out(&waiter));
    assert!(
        out(&waiter).contains("busy; retrying in 1s"),
        "{}",
        out(&waiter)
    );
    assert_eq!(holder(&db), json!(web2));
}

#[test]
fn two_nodes_share_a_two_slot_lock_and_the_third_waits() {
    let db = TestDb::new();
    let mut options = ServerOptions::for_db(&db);
    options.tls = true;
    options.extra_toml = "[[locks.policies]]\nmatch = \"web*\"\nmax_holders = 2\n".into();
    let server = Server::spawn(&options);
    let ids: Vec<i64> = (1..=3)
        .map(|i| db.add_host(&format!("web{i}.example.com")))
        .collect();
    let nodes: Vec<Node> = (1..=3)
        .map(|i| Node::new(&format!("web{i}.example.com")))
        .collect();

    let first = nodes[0].run(&server, &["lock"], &[]);
    let second = nodes[1].run(&server, &["lock"], &[]);
    let second_status = nodes[1].run(&server, &["status"], &[]);
    let third = nodes[2].run(&server, &["lock"], &[]);
    let third_status = nodes[2].run(&server, &["status"], &[]);
    let not_holding = nodes[2].run(&server, &["release"], &[]);

    assert!(first.status.success(), "{}", out(&first));
    assert!(second.status.success(), "{}", out(&second));
    assert!(
        out(&second_status).contains("acquired by me"),
        "{}",
        out(&second_status)
    );
    assert_eq!(third.status.code(), Some(1), "{}", out(&third));
    assert!(out(&third).contains("(full)"), "{}", out(&third));
    assert_eq!(
        out(&third_status).trim(),
        "[updatelock]: Lock is locked by web1.example.com, web2.example.com",
        "each holder once"
    );
    assert!(
        not_holding.status.success(),
        "a node without a slot has nothing to give back"
    );
    assert_eq!(
        db.rows(
            "SELECT h.host_id FROM foreman_dlm_lock_holders h ORDER BY h.acquired_at, h.host_id"
        ),
        json!([{"host_id": ids[0]}, {"host_id": ids[1]}])
    );
    assert_eq!(
        holder(&db),
        json!(ids[0]),
        "the plugin's column shows the oldest holder"
    );

    assert!(nodes[0].run(&server, &["release"], &[]).status.success());
    let third_again = nodes[2].run(&server, &["lock"], &[]);
    assert!(third_again.status.success(), "{}", out(&third_again));
    assert_eq!(holder(&db), json!(ids[1]));
}

#[test]
fn update_cycle_with_and_without_reboot() {
    let db = TestDb::new();
    let server = server(&db);
    let web1 = db.add_host("web1.example.com");
    let node = Node::new("web1.example.com");
    let updated = node.state.path().join("updated");
    let update_command = format!("touch '{}'", updated.display());
    let no_reboot = [
        ("UPDATE_COMMAND", update_command.as_str()),
        ("REBOOT_CHECK", "false"),
    ];

    let plain = node.run(&server, &["update"], &no_reboot);

    assert!(plain.status.success(), "{}", out(&plain));
    assert!(updated.exists(), "the update command ran");
    assert_eq!(
        holder(&db),
        Value::Null,
        "released when no reboot is needed"
    );

    let rebooting = [
        ("UPDATE_COMMAND", update_command.as_str()),
        ("REBOOT_CHECK", "true"),
        ("REBOOT_COMMAND", "true"),
    ];
    let with_reboot = node.run(&server, &["update"], &rebooting);
    assert!(with_reboot.status.success(), "{}", out(&with_reboot));
    assert_eq!(holder(&db), json!(web1), "held across the reboot");
    assert!(node.marker().exists());

    let after_boot = node.run(&server, &["release-after-reboot"], &[]);
    assert!(after_boot.status.success(), "{}", out(&after_boot));
    assert_eq!(holder(&db), Value::Null);
    assert!(!node.marker().exists());
    let nothing_to_do = node.run(&server, &["release-after-reboot"], &[]);
    assert!(nothing_to_do.status.success());
    assert_eq!(
        db.rows("SELECT event_type FROM dlmlock_events ORDER BY id"),
        json!([{"event_type": "acquire"}, {"event_type": "release"}, {"event_type": "acquire"}, {"event_type": "release"}])
    );
}

#[test]
fn failing_pre_update_hook_stops_before_the_lock() {
    let db = TestDb::new();
    let server = server(&db);
    db.add_host("web1.example.com");
    let node = Node::new("web1.example.com");
    let hooks = node.state.path().join("pre-update.d");
    std::fs::create_dir_all(&hooks).expect("hook dir");
    write_executable(&hooks.join("10-check"), "#!/bin/sh\nexit 3\n");

    let output = node.run(
        &server,
        &["update"],
        &[("UPDATE_COMMAND", "true"), ("REBOOT_CHECK", "false")],
    );

    assert_eq!(output.status.code(), Some(1), "{}", out(&output));
    assert_eq!(
        db.scalar("SELECT count(*) AS n FROM dlmlocks"),
        json!(0),
        "no lock was even requested"
    );
}

pub(crate) fn write_executable(path: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text).expect("write hook");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}
