//! updatelock on a bad day: Foreman answering 503 while a host waits, a release that fails once,
//! a lease outlasting a long update, and EL's reboot check. The real script against the real
//! server; `dnf`, `rpm` and `uname` are stubs on PATH where a test needs another system's answer.

use std::path::Path;
use std::time::Duration;

use serde_json::{json, Value};

use crate::client::{holder, out, write_executable, Node};
use crate::common::gate::Gate;
use crate::common::{Server, ServerOptions, TestDb};

/// A server whose database connection goes through `gate`.
fn server_behind(db: &TestDb, gate: &Gate, extra_toml: &str) -> Server {
    let mut options = ServerOptions::for_db(db);
    options.database_url = gate.url_for(db);
    options.tls = true;
    options.extra_toml = extra_toml.to_string();
    Server::spawn(&options)
}

const PATIENT: [(&str, &str); 4] = [
    ("RETRY_MIN", "1"),
    ("RETRY_MAX", "2"),
    ("TRANSIENT_MIN", "1"),
    ("WAIT_TIMEOUT", "90"),
];

#[test]
fn a_503_in_the_middle_of_a_wait_is_waited_out() {
    let db = TestDb::new();
    let gate = Gate::opened();
    let server = server_behind(&db, &gate, "");
    db.add_host("web1.example.com");
    let web2 = db.add_host("web2.example.com");
    let (node1, node2) = (Node::new("web1.example.com"), Node::new("web2.example.com"));
    assert!(node1.run(&server, &["lock"], &[]).status.success());

    let waiting = node2.spawn(&server, &["lock", "--wait"], &PATIENT);
    std::thread::sleep(Duration::from_millis(2500));
    gate.shut_now(&db);
    std::thread::sleep(Duration::from_secs(4));
    gate.open();
    let released = node1.run(&server, &["release"], &PATIENT);
    assert!(released.status.success(), "{}", out(&released));

    let waited = waiting.wait_with_output().unwrap();
    let said = out(&waited);
    assert!(waited.status.success(), "{said}");
    assert!(said.contains("answered 503; retrying PUT"), "{said}");
    assert!(said.contains("is busy; retrying"), "{said}");
    assert_eq!(holder(&db), json!(web2));
}

#[test]
fn a_release_that_fails_once_is_retried() {
    let db = TestDb::new();
    let gate = Gate::opened();
    let server = server_behind(&db, &gate, "");
    db.add_host("web1.example.com");
    let node = Node::new("web1.example.com");
    assert!(node.run(&server, &["lock"], &[]).status.success());

    gate.shut_now(&db);
    let releasing = node.spawn(&server, &["release"], &PATIENT);
    std::thread::sleep(Duration::from_secs(2));
    gate.open();
    let released = releasing.wait_with_output().unwrap();
    let said = out(&released);
    assert!(released.status.success(), "{said}");
    assert!(said.contains("retrying DELETE"), "{said}");
    assert_eq!(holder(&db), Value::Null);

    // Given up: the log says the cluster is blocked, and the marker stays for the next boot.
    assert!(node.run(&server, &["lock"], &[]).status.success());
    gate.shut_now(&db);
    let rebooted = node.marker();
    std::fs::write(&rebooted, "").unwrap();
    let short = [("TRANSIENT_MIN", "1"), ("WAIT_TIMEOUT", "3")];
    let given_up = node.run(&server, &["release-after-reboot"], &short);
    let said = out(&given_up);
    assert_eq!(given_up.status.code(), Some(1), "{said}");
    assert!(
        said.contains("The cluster stays blocked until it is released"),
        "{said}"
    );
    assert!(rebooted.exists(), "tried again at the next boot");
}

#[test]
fn a_lease_is_refreshed_while_the_update_runs() {
    let db = TestDb::new();
    let gate = Gate::opened();
    let server = server_behind(
        &db,
        &gate,
        "[[locks.policies]]\nmatch = \"web cluster\"\nlease_seconds = 6\n",
    );
    db.add_host("web1.example.com");
    let node = Node::new("web1.example.com");
    let update = node.run(
        &server,
        &["update"],
        &[
            ("UPDATE_COMMAND", "sleep 5"),
            ("REBOOT_CHECK", "true"),
            ("REBOOT_COMMAND", "true"),
        ],
    );
    let said = out(&update);
    assert!(update.status.success(), "{said}");
    assert!(
        said.contains("has a lease of 6s; refreshing it every 2s"),
        "{said}"
    );
    let refreshed = db.scalar(
        "SELECT extract(epoch FROM refreshed_at - acquired_at)::int AS s \
         FROM foreman_dlm_lock_holders",
    );
    assert!(
        refreshed.as_i64().unwrap() >= 2,
        "refreshed after {refreshed}s"
    );
}

/// What a host's own commands answer, as stubs on PATH.
enum Stub {
    /// `dnf` with the needs-restarting plugin, answering `-r` with this exit code.
    Dnf(u8),
    /// `rpm` knowing this installed kernel, `uname -r` naming this running one.
    Kernel(&'static str, &'static str),
}

impl Stub {
    fn write(&self, dir: &Path) {
        match self {
            Stub::Dnf(exit) => dnf_stub(dir, *exit),
            Stub::Kernel(installed, running) => kernel_stubs(dir, installed, running),
        }
    }
}

fn dnf_stub(dir: &Path, exit: u8) {
    write_executable(
        &dir.join("dnf"),
        &format!(
            "#!/bin/sh\n[ \"$1\" = needs-restarting ] || exit 2\n\
             [ \"$2\" = --help ] && exit 0\nexit {exit}\n"
        ),
    );
}

fn kernel_stubs(dir: &Path, installed: &str, running: &str) {
    // As `rpm -q --last` prints it: newest installed first, with the date.
    write_executable(
        &dir.join("rpm"),
        &format!("#!/bin/sh\necho 'kernel-core-{installed}  Tue 01 Oct 2024 10:00:00 AM UTC'\n"),
    );
    write_executable(
        &dir.join("uname"),
        &format!("#!/bin/sh\n[ \"$1\" = -r ] && echo {running}\n"),
    );
}

#[test]
fn el_reboot_detection_both_ways() {
    let db = TestDb::new();
    let gate = Gate::opened();
    let server = server_behind(&db, &gate, "");
    let web1 = db.add_host("web1.example.com");
    let node = Node::new("web1.example.com");
    let rebooted = node.state.path().join("rebooted");
    let reboot = format!("touch {}", rebooted.display());
    let path = |stubs: &Path| format!("{}:{}", stubs.display(), std::env::var("PATH").unwrap());

    let cases = [
        ("dnf needs-restarting: 1", Stub::Dnf(1), true),
        ("dnf needs-restarting: 0", Stub::Dnf(0), false),
        (
            "a newer kernel",
            Stub::Kernel("5.14.0-427.el9.x86_64", "5.14.0-362.el9.x86_64"),
            true,
        ),
        (
            "the newest kernel runs",
            Stub::Kernel("5.14.0-427.el9.x86_64", "5.14.0-427.el9.x86_64+debug"),
            false,
        ),
    ];
    for (case, stub, reboots) in cases {
        let stubs = tempfile::tempdir().unwrap();
        stub.write(stubs.path());
        let _ = std::fs::remove_file(&rebooted);
        let search = path(stubs.path());
        let update = node.run(
            &server,
            &["update"],
            &[
                ("UPDATE_COMMAND", "true"),
                ("REBOOT_COMMAND", reboot.as_str()),
                ("PATH", search.as_str()),
            ],
        );
        let said = out(&update);
        assert!(update.status.success(), "{case}: {said}");
        assert_eq!(rebooted.exists(), reboots, "{case}: {said}");
        if reboots {
            assert_eq!(holder(&db), json!(web1), "{case}: kept across the reboot");
            let after = node.run(&server, &["release-after-reboot"], &[]);
            assert!(after.status.success(), "{case}: {}", out(&after));
        }
        assert_eq!(holder(&db), Value::Null, "{case}");
    }
}

#[test]
fn a_lock_lost_during_the_reboot_is_not_taken_again() {
    let db = TestDb::new();
    let gate = Gate::opened();
    let server = server_behind(&db, &gate, "");
    db.add_host("web1.example.com");
    let node = Node::new("web1.example.com");
    let rebooting = [
        ("UPDATE_COMMAND", "true"),
        ("REBOOT_CHECK", "true"),
        ("REBOOT_COMMAND", "true"),
    ];
    let update = node.run(&server, &["update"], &rebooting);
    assert!(update.status.success(), "{}", out(&update));
    assert!(node.marker().exists());

    // While a release is pending, no new update starts.
    let again = node.run(&server, &["update"], &rebooting);
    assert_eq!(again.status.code(), Some(1), "{}", out(&again));
    assert!(out(&again).contains("still pending"), "{}", out(&again));

    // An admin force-released the lock during the reboot.
    db.exec("DELETE FROM foreman_dlm_lock_holders; UPDATE dlmlocks SET host_id = NULL");
    let after = node.run(&server, &["release-after-reboot"], &[]);
    let said = out(&after);
    assert!(after.status.success(), "{said}");
    assert!(said.contains("no longer held by this host"), "{said}");
    assert!(!node.marker().exists());
    assert_eq!(holder(&db), Value::Null);
    assert_eq!(
        db.scalar("SELECT count(*) FROM dlmlock_events WHERE event_type = 'acquire'"),
        json!(1),
        "not taken again"
    );
}

#[test]
fn a_certificate_problem_is_reported_at_once_not_retried() {
    let db = TestDb::new();
    let gate = Gate::opened();
    let server = server_behind(&db, &gate, "");
    db.add_host("web1.example.com");
    let node = Node::new("web1.example.com");
    // A CA that did not sign the server's certificate: curl's exit code 60, which no retry mends.
    let wrong_ca = crate::common::pki::shared()
        .katello_ca_file
        .display()
        .to_string();
    let mut env = PATIENT.to_vec();
    env.push(("CA_CERT", wrong_ca.as_str()));
    let started = std::time::Instant::now();
    let output = node.run(&server, &["lock", "--wait"], &env);
    let said = out(&output);
    assert_eq!(output.status.code(), Some(1), "{said}");
    assert!(started.elapsed() < Duration::from_secs(20), "{said}");
    assert!(
        said.contains("Cannot reach") && said.contains("certificate"),
        "{said}"
    );
    assert!(!said.contains("retrying"), "{said}");
    assert_eq!(holder(&db), Value::Null);
}
