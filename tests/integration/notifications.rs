//! What a lock change tells others, delivered from the outbox: monitoring downtimes through a
//! smart-proxy stand-in that demands Foreman's client certificate, webhooks that survive a
//! receiver outage and a crash of the service, one delivery per notification across two
//! instances, and the plugin's host status for stale locks.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde_json::{json, Value};

use crate::common::receivers::{Received, Receiver};
use crate::common::users::{basic, Scheme};
use crate::common::{cert_header, pki, send, send_json, Server, ServerOptions, TestApp, TestDb};

const SECRET: &str = "hook-s3cret";

fn webhook_toml(url: &str, events: &[&str]) -> String {
    let events: Vec<String> = events.iter().map(|e| format!("{e:?}")).collect();
    format!(
        "\n[[webhooks]]\nurl = {url:?}\nevents = [{}]\nsecret = {SECRET:?}\ntimeout_seconds = 2\n",
        events.join(", ")
    )
}

/// Fast retries, so that an outage of seconds is over in seconds.
const FAST: &str = "\n[notifications]\npoll_interval_ms = 100\nmax_retry_interval_seconds = 1\n";

fn nodes(db: &TestDb, count: usize) -> Vec<(i64, Vec<(&'static str, String)>)> {
    (0..count)
        .map(|i| {
            let name = format!("node{i}.example.com");
            (db.add_host(&name), cert_header(&pki::shared().host(&name)))
        })
        .collect()
}

async fn cycle(server: &Server, lock: &str, headers: &[(&str, String)]) {
    let url = server.url(&format!("/api/dlmlocks/{lock}/lock"));
    assert_eq!(send("PUT", &url, headers).await.status, 200);
    assert_eq!(send("DELETE", &url, headers).await.status, 200);
}

/// Every delivery is signed over its exact body with the shared secret.
fn assert_signed(received: &[Received]) {
    for r in received {
        let expected = foreman_dlm::notifications::signature(SECRET.as_bytes(), r.body.as_bytes())
            .expect("sign");
        assert_eq!(
            r.header("X-Foreman-DLM-Signature"),
            Some(expected.as_str()),
            "{}",
            r.body
        );
    }
}

/// (host id → its events in the order received); and each notification id once.
fn per_host(received: &[Received]) -> BTreeMap<i64, Vec<String>> {
    let mut hosts: BTreeMap<i64, Vec<String>> = BTreeMap::new();
    for r in received {
        let body = r.json();
        let host = body["host"]["id"].as_i64().unwrap_or(0);
        hosts
            .entry(host)
            .or_default()
            .push(body["event_name"].as_str().unwrap_or_default().to_string());
    }
    hosts
}

fn ids(received: &[Received]) -> Vec<String> {
    received
        .iter()
        .map(|r| r.json()["id"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[actix_web::test]
async fn webhooks_survive_a_receiver_outage_in_order_and_signed() {
    let receiver = Receiver::webhook(0);
    receiver.answer(503);
    let app = TestApp::spawn_with(|o| {
        o.extra_toml = format!(
            "{FAST}{}",
            webhook_toml(&receiver.url(), &["acquire", "release", "fail"])
        );
    });
    let hosts = nodes(&app.db, 3);
    for round in 0..3 {
        for (_, headers) in &hosts {
            cycle(&app.server, &format!("cluster-{round}"), headers).await;
        }
    }
    // A refusal is an event too.
    let url = app.url("/api/dlmlocks/busy/lock");
    send("PUT", &url, &hosts[0].1).await;
    send("PUT", &url, &hosts[1].1).await;
    std::thread::sleep(Duration::from_secs(2));
    assert!(receiver.received().is_empty(), "the receiver was down");
    assert_eq!(
        app.db
            .scalar("SELECT count(*) FROM foreman_dlm_notifications WHERE delivered_at IS NULL"),
        json!(20),
        "{}",
        app.db
            .rows("SELECT event, host_id, dlmlock_id FROM foreman_dlm_notifications ORDER BY id")
    );
    assert_eq!(
        app.db.scalar(
            "SELECT count(DISTINCT host_id) FROM foreman_dlm_notifications WHERE attempts > 0"
        ),
        json!(3),
        "only each host's oldest notification is tried while the receiver is down"
    );

    receiver.answer(200);
    let received = receiver.wait_for(20, |r| r.len() >= 20);
    assert_eq!(received.len(), 20, "every notification arrived");
    assert_signed(&received);
    let unique: BTreeSet<String> = ids(&received).into_iter().collect();
    assert_eq!(unique.len(), 20, "each notification once");
    for (host, events) in per_host(&received) {
        let mut expected: Vec<String> = (0..3)
            .flat_map(|_| {
                [
                    "dlmlock_acquired.event.foreman",
                    "dlmlock_released.event.foreman",
                ]
            })
            .map(str::to_string)
            .collect();
        if host == hosts[0].0 {
            expected.push("dlmlock_acquired.event.foreman".into());
            expected.push("dlmlock_failed.event.foreman".into());
        }
        assert_eq!(events, expected, "host {host}: in order");
    }
    // Across hosts the order is free; node0's first notification is its first acquire.
    let first = received
        .iter()
        .map(Received::json)
        .find(|body| body["host"]["name"] == "node0.example.com")
        .expect("node0's notifications");
    assert_eq!(first["event_name"], "dlmlock_acquired.event.foreman");
    assert_eq!(first["object"]["name"], "cluster-0");
    assert!(first["object"]["id"].is_i64() && first["host"]["id"].is_i64());
    assert_eq!(first["context"]["user_login"], "foreman_api_admin");
    assert!(first["timestamp"]
        .as_str()
        .is_some_and(|t| t.ends_with('Z')));
    assert_eq!(received[0].header("Content-Type"), Some("application/json"));
    assert_eq!(
        app.db.scalar(
            "SELECT count(*) FROM foreman_dlm_notifications WHERE delivered_at IS NOT NULL"
        ),
        json!(20)
    );
}

#[actix_web::test]
async fn notifications_written_before_a_crash_are_delivered_after_the_restart() {
    // The receiver's port stays this test's until the receiver starts: a listener that never
    // accepts (deliveries wait and fail), so that no other test's server can take the port and
    // answer the deliveries meant to wait for the restart.
    let placeholder = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
    let port = placeholder.local_addr().expect("address").port();
    let url = format!("http://127.0.0.1:{port}/hook");
    let db = TestDb::new();
    let mut options = ServerOptions::for_db(&db);
    options.extra_toml = format!("{FAST}{}", webhook_toml(&url, &["acquire", "release"]));
    let mut server = Server::spawn(&options);
    let hosts = nodes(&db, 2);
    for (_, headers) in &hosts {
        cycle(&server, "patch", headers).await;
    }
    server.kill();
    assert_eq!(
        db.scalar("SELECT count(*) FROM foreman_dlm_notifications WHERE delivered_at IS NULL"),
        json!(4),
        "the changes are in the outbox, undelivered, when the service dies"
    );

    drop(placeholder);
    let receiver = Receiver::webhook(port);
    let _restarted = Server::spawn(&options);
    let received = receiver.wait_for(45, |r| r.len() >= 4);
    assert_eq!(received.len(), 4);
    assert_signed(&received);
    assert_eq!(
        per_host(&received).values().cloned().collect::<Vec<_>>(),
        vec![
            vec![
                "dlmlock_acquired.event.foreman".to_string(),
                "dlmlock_released.event.foreman".to_string()
            ];
            2
        ]
    );
}

#[actix_web::test]
async fn two_instances_deliver_each_notification_once() {
    let receiver = Receiver::webhook(0);
    let app = TestApp::spawn_with(|o| {
        o.extra_toml = format!(
            "{FAST}{}",
            webhook_toml(&receiver.url(), &["acquire", "release"])
        );
    });
    let second = app.second_instance();
    let hosts = nodes(&app.db, 6);
    let work = hosts.iter().enumerate().map(|(i, (_, headers))| {
        let server = if i % 2 == 0 { &app.server } else { &second };
        async move {
            for round in 0..5 {
                cycle(server, &format!("lock-{i}-{round}"), headers).await;
            }
        }
    });
    futures_util::future::join_all(work).await;

    let received = receiver.wait_for(30, |r| r.len() >= 60);
    std::thread::sleep(Duration::from_secs(2));
    let received_after = receiver.received();
    assert_eq!(
        received_after.len(),
        received.len(),
        "nothing more came late"
    );
    let all = ids(&received_after);
    let unique: BTreeSet<&String> = all.iter().collect();
    assert_eq!(
        (all.len(), unique.len()),
        (60, 60),
        "60 notifications, none twice"
    );
    for events in per_host(&received_after).values() {
        assert_eq!(events.len(), 10);
        assert!(events
            .chunks(2)
            .all(|pair| pair[0].contains("acquired") && pair[1].contains("released")));
    }
}

/// A site with foreman_monitoring: its column, a smart proxy with the Monitoring feature, and
/// Foreman's client certificate in a settings.yaml.
struct MonitoredSite {
    app: TestApp,
    proxy: Receiver,
    _dir: tempfile::TempDir,
}

fn monitored_site(extra: &str) -> MonitoredSite {
    let proxy = Receiver::monitoring_proxy("foreman.example.com");
    let dir = tempfile::tempdir().expect("dir");
    let pki = pki::shared();
    let (cert, key) = pki.write_client("foreman", &pki.host("foreman.example.com"));
    let yml = dir.path().join("settings.yaml");
    std::fs::write(
        &yml,
        format!(
            "---\n:ssl_certificate: {}\n:ssl_priv_key: {}\n:ssl_ca_file: {}\n",
            cert.display(),
            key.display(),
            pki.ca_file.display()
        ),
    )
    .expect("settings.yaml");
    let db = TestDb::new();
    db.exec(&format!(
        "ALTER TABLE hosts ADD COLUMN monitoring_proxy_id integer;
         ALTER TABLE hostgroups ADD COLUMN monitoring_proxy_id integer;
         INSERT INTO smart_proxies (name, url, created_at, updated_at)
              VALUES ('proxy', '{}', now(), now());
         INSERT INTO features (name, created_at, updated_at) VALUES ('Monitoring', now(), now());
         INSERT INTO smart_proxy_features (smart_proxy_id, feature_id) VALUES (1, 1);",
        proxy.https_url()
    ));
    let mut options = ServerOptions::for_db(&db);
    options.extra_toml = format!(
        "{FAST}\n[locks]\nsweep_interval_seconds = 1\n\n[foreman]\nsettings_yml = {:?}\n{extra}",
        yml.display().to_string()
    );
    let server = Server::spawn(&options);
    MonitoredSite {
        app: TestApp {
            db,
            server,
            options,
        },
        proxy,
        _dir: dir,
    }
}

#[actix_web::test]
async fn monitoring_downtimes_follow_the_lock_through_a_proxy_that_checks_foremans_certificate() {
    let site = monitored_site("\n[[locks.policies]]\nmatch = \"leased-*\"\nlease_seconds = 1\n");
    let db = &site.app.db;
    let hosts = nodes(db, 2);
    db.exec(&format!(
        "UPDATE hosts SET monitoring_proxy_id = 1 WHERE id = {}",
        hosts[0].0
    ));
    let lock = |name: &str| site.app.url(&format!("/api/dlmlocks/{name}/lock"));

    assert_eq!(send("PUT", &lock("web"), &hosts[0].1).await.status, 200);
    assert_eq!(
        send("PUT", &lock("web"), &hosts[0].1).await.status,
        200,
        "a refresh"
    );
    assert_eq!(send("DELETE", &lock("web"), &hosts[0].1).await.status, 200);
    // The other host has no monitoring proxy: nothing is sent for it.
    cycle(&site.app.server, "web", &hosts[1].1).await;
    // An admin's force release and a lapsed lease also end the downtime.
    assert_eq!(send("PUT", &lock("web"), &hosts[0].1).await.status, 200);
    let admin = db.add_user("admin", "admin-pw", Scheme::Bcrypt);
    db.make_admin(admin);
    let forced = send_json(
        "PUT",
        &site.app.url("/api/dlmlocks/web"),
        &[basic("admin", "admin-pw")],
        Some(json!({"host_id": null})),
    )
    .await;
    assert_eq!(forced.status, 200);
    assert_eq!(
        send("PUT", &lock("leased-a"), &hosts[0].1).await.status,
        200
    );

    let received = site.proxy.wait_for(20, |r| r.len() >= 6);
    let calls: Vec<(String, String)> = received
        .iter()
        .map(|r| (r.method.clone(), r.path.clone()))
        .collect();
    let path = "/monitoring/downtime/host/node0.example.com".to_string();
    assert_eq!(
        calls,
        vec![
            ("POST".to_string(), path.clone()),
            ("DELETE".to_string(), path.clone()),
            ("POST".to_string(), path.clone()),
            ("DELETE".to_string(), path.clone()),
            ("POST".to_string(), path.clone()),
            ("DELETE".to_string(), path.clone()),
        ],
        "set on acquire; removed on release, force release and expiry; nothing on a refresh"
    );
    assert!(received
        .iter()
        .all(|r| r.client_cn.as_deref() == Some("foreman.example.com")));
    let form: BTreeMap<String, String> = Received::form(&received[0].body).into_iter().collect();
    assert_eq!(form["author"], "Foreman");
    assert_eq!(form["comment"], "Host acquired lock.");
    let start: i64 = form["start_time"].parse().expect("epoch");
    let end: i64 = form["end_time"].parse().expect("epoch");
    assert_eq!(end - start, 180 * 60);
    assert!((chrono::Utc::now().timestamp() - start).abs() < 120);
    let query: BTreeMap<String, String> = Received::form(&received[1].query).into_iter().collect();
    assert_eq!(
        (query["author"].as_str(), query["comment"].as_str()),
        ("Foreman", "Host acquired lock.")
    );
    // The proxy has answered the last call; the worker marks it delivered right after.
    let undelivered = "SELECT count(*) FROM foreman_dlm_notifications \
                       WHERE destination = 'monitoring' AND delivered_at IS NULL";
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while db.scalar(undelivered) != json!(0) && std::time::Instant::now() < deadline {
        actix_web::rt::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(db.scalar(undelivered), json!(0));
}

#[actix_web::test]
async fn the_proxy_stand_in_demands_a_trusted_client_certificate() {
    let proxy = Receiver::monitoring_proxy("someone-else.example.com");
    let pki = pki::shared();
    let (cert, key) = pki.write_client("intruder", &pki.host("foreman.example.com"));
    let curl = |args: &[&str]| {
        std::process::Command::new("curl")
            .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "--cacert"])
            .arg(&pki.ca_file)
            .args(args)
            .arg(format!(
                "{}/monitoring/downtime/host/x.example.com",
                proxy.https_url()
            ))
            .output()
            .expect("curl")
    };
    let without = curl(&["-X", "POST"]);
    assert_eq!(
        String::from_utf8_lossy(&without.stdout),
        "000",
        "no certificate, no TLS"
    );
    let cert = cert.display().to_string();
    let key = key.display().to_string();
    let untrusted = curl(&["-X", "POST", "--cert", &cert, "--key", &key]);
    assert_eq!(
        String::from_utf8_lossy(&untrusted.stdout),
        "403",
        "a CN it does not trust"
    );
}

#[actix_web::test]
async fn a_stale_lock_turns_the_host_status_red_until_it_is_released() {
    let dir = tempfile::tempdir().expect("dir");
    let clock = dir.path().join("now");
    std::fs::write(&clock, "2026-12-01T08:00:00Z").expect("clock");
    let env_clock = clock.display().to_string();
    let app = TestApp::spawn_with(|o| {
        o.extra_toml = format!(
            "{FAST}\n[locks]\nsweep_interval_seconds = 1\n\n[foreman]\nhost_status = true\n"
        );
        o.env
            .push(("FOREMAN_DLM_TEST_CLOCK_FILE".into(), env_clock));
    });
    let hosts = nodes(&app.db, 1);
    let (host, headers) = &hosts[0];
    let status = || {
        app.db.rows(&format!(
            "SELECT s.type, s.status, h.global_status \
               FROM host_status s JOIN hosts h ON h.id = s.host_id \
              WHERE s.host_id = {host}"
        ))
    };
    let wait_for = |expected: Value| {
        let deadline = std::time::Instant::now() + Duration::from_secs(15);
        while status() != expected && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(200));
        }
        status()
    };

    assert_eq!(
        send("PUT", &app.url("/api/dlmlocks/db/lock"), headers)
            .await
            .status,
        200
    );
    assert_eq!(
        wait_for(json!([{"type": "HostStatus::DlmlockStatus", "status": 0, "global_status": 0}])),
        json!([{"type": "HostStatus::DlmlockStatus", "status": 0, "global_status": 0}])
    );
    // Five hours later (stale after four), nobody asked: the sweep notices.
    std::fs::write(&clock, "2026-12-01T13:00:00Z").expect("clock");
    assert_eq!(
        wait_for(json!([{"type": "HostStatus::DlmlockStatus", "status": 1, "global_status": 2}])),
        json!([{"type": "HostStatus::DlmlockStatus", "status": 1, "global_status": 2}])
    );
    assert_eq!(
        send("DELETE", &app.url("/api/dlmlocks/db/lock"), headers)
            .await
            .status,
        200
    );
    assert_eq!(
        wait_for(json!([{"type": "HostStatus::DlmlockStatus", "status": 0, "global_status": 2}])),
        json!([{"type": "HostStatus::DlmlockStatus", "status": 0, "global_status": 2}]),
        "OK again; lowering global_status is left to Foreman's next status refresh"
    );
    assert_eq!(
        app.db
            .scalar("SELECT count(*) FROM foreman_dlm_notifications WHERE event = 'stale'"),
        json!(1),
        "reported once"
    );
}

#[actix_web::test]
async fn a_receiver_that_refuses_for_good_gets_it_marked_failed_and_logged() {
    let receiver = Receiver::webhook(0);
    receiver.answer(410);
    let mut app = TestApp::spawn_with(|o| {
        o.extra_toml = format!("{FAST}{}", webhook_toml(&receiver.url(), &["acquire"]));
    });
    let hosts = nodes(&app.db, 1);
    send("PUT", &app.url("/api/dlmlocks/gone/lock"), &hosts[0].1).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let failed = || {
        app.db.rows(
            "SELECT event, attempts, failed_at IS NOT NULL AS failed, last_error \
               FROM foreman_dlm_notifications",
        )
    };
    while failed()[0]["failed"] != json!(true) && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        failed(),
        json!([{"event": "acquire", "attempts": 1, "failed": true,
                "last_error": "the webhook receiver answered 410 Gone"}]),
        "kept, marked failed, not retried"
    );
    app.server.kill();
    let log = app.server.logs();
    assert!(log.contains("failed for good after 1 attempt(s)"), "{log}");
    assert!(!log.contains(SECRET), "the secret is never logged");
}

/// Each destination has its own delivery loop: a receiver that accepts the connection and never
/// answers (timeout 30 s) delays none of the healthy receiver's notifications. Before, one round
/// waited for every delivery of the batch, and the healthy receiver got one notification per
/// host per 30 s.
#[actix_web::test]
async fn a_hanging_receiver_does_not_delay_the_others() {
    let hanging = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
    let hanging_url = format!(
        "http://127.0.0.1:{}/hook",
        hanging.local_addr().expect("address").port()
    );
    let healthy = Receiver::webhook(0);
    let app = TestApp::spawn_with(|o| {
        o.extra_toml = format!(
            "{FAST}{}{}",
            webhook_toml(&hanging_url, &["acquire", "release"])
                .replace("timeout_seconds = 2", "timeout_seconds = 30"),
            webhook_toml(&healthy.url(), &["acquire", "release"])
        );
    });
    let hosts = nodes(&app.db, 3);
    let started = std::time::Instant::now();
    for round in 0..4 {
        for (_, headers) in &hosts {
            cycle(&app.server, &format!("cluster-{round}"), headers).await;
        }
    }
    let received = healthy.wait_for(20, |r| r.len() >= 24);
    assert_eq!(
        received.len(),
        24,
        "every notification reached the healthy receiver"
    );
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "the healthy receiver did not wait for the hanging one's 30 s timeouts"
    );
    for events in per_host(&received).values() {
        assert_eq!(events.len(), 8);
        assert!(
            events.chunks(2).all(|pair| pair
                == [
                    "dlmlock_acquired.event.foreman",
                    "dlmlock_released.event.foreman"
                ]),
            "in order per host: {events:?}"
        );
    }
    assert_eq!(
        app.db.scalar(
            "SELECT count(*) FROM foreman_dlm_notifications \
              WHERE destination NOT IN (SELECT name FROM foreman_dlm_destinations)"
        ),
        json!(0)
    );
    drop(hanging);
}

/// Delivered rows go after `keep_delivered_days`, failed ones after `keep_failed_days`; pending
/// rows stay whatever their age. The service prunes when it starts and hourly after that.
#[actix_web::test]
async fn delivered_and_failed_rows_are_pruned_after_their_retention() {
    let db = TestDb::new();
    let row = |label: &str, delivered_days: Option<i32>, failed_days: Option<i32>| {
        let ago = |days: Option<i32>| {
            days.map_or("NULL".to_string(), |d| {
                format!("now() AT TIME ZONE 'UTC' - interval '{d} days'")
            })
        };
        format!(
            "('host_status', 'acquire', '{label}', now() AT TIME ZONE 'UTC' - interval '60 days', \
              now() AT TIME ZONE 'UTC', {}, {})",
            ago(delivered_days),
            ago(failed_days)
        )
    };
    let rows = [
        row("delivered-8d", Some(8), None),
        row("delivered-6d", Some(6), None),
        row("failed-31d", None, Some(31)),
        row("failed-29d", None, Some(29)),
        row("pending-60d", None, None),
    ];
    db.exec(&format!(
        "INSERT INTO foreman_dlm_notifications (destination, event, lock_name, occurred_at, \
         next_attempt_at, delivered_at, failed_at) VALUES {}; \
         INSERT INTO foreman_dlm_notifications (destination, event, lock_name, occurred_at, \
         next_attempt_at, delivered_at) \
         SELECT 'host_status', 'release', 'bulk', now(), now(), \
                now() AT TIME ZONE 'UTC' - interval '10 days' + make_interval(secs => i) \
           FROM generate_series(1, 2500) i",
        rows.join(", ")
    ));
    let mut options = ServerOptions::for_db(&db);
    options.extra_toml =
        "\n[notifications]\nkeep_delivered_days = 7\nkeep_failed_days = 30\n".into();
    let server = Server::spawn(&options);
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let left = loop {
        let left = db.rows("SELECT lock_name FROM foreman_dlm_notifications ORDER BY lock_name");
        if left.as_array().map_or(0, Vec::len) == 3 || std::time::Instant::now() > deadline {
            break left;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(
        left,
        json!([
            {"lock_name": "delivered-6d"},
            {"lock_name": "failed-29d"},
            {"lock_name": "pending-60d"}
        ]),
        "{}",
        server.logs()
    );
    assert!(
        server.logs().contains("deleted 2502 past their retention"),
        "{}",
        server.logs()
    );
}

/// A destination removed from (or renamed in) the settings leaves undelivered rows that nobody
/// would ever claim: at the next start they are marked failed with the reason, one log line per
/// destination, and the failed gauge counts them.
#[actix_web::test]
async fn rows_of_a_removed_destination_are_failed_and_logged() {
    let gone = Receiver::webhook(0);
    gone.answer(503);
    let kept = Receiver::webhook(0);
    let db = TestDb::new();
    let mut options = ServerOptions::for_db(&db);
    options.extra_toml = format!(
        "{FAST}{}{}",
        webhook_toml(&gone.url(), &["acquire", "release"]),
        webhook_toml(&kept.url(), &["acquire", "release"])
    );
    let mut server = Server::spawn(&options);
    let hosts = nodes(&db, 2);
    for (_, headers) in &hosts {
        cycle(&server, "patch", headers).await;
    }
    assert_eq!(kept.wait_for(20, |r| r.len() >= 4).len(), 4);
    server.kill();
    let pending = "SELECT count(*) FROM foreman_dlm_notifications \
                   WHERE delivered_at IS NULL AND failed_at IS NULL";
    assert_eq!(
        db.scalar(pending),
        json!(4),
        "the receiver that is down has 4 waiting"
    );

    options.extra_toml = format!(
        "{FAST}{}",
        webhook_toml(&kept.url(), &["acquire", "release"])
    );
    let restarted = Server::spawn(&options);
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while db.scalar(pending) != json!(0) {
        assert!(std::time::Instant::now() < deadline, "{}", restarted.logs());
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        db.rows(
            "SELECT count(*) AS n, min(last_error) AS error FROM foreman_dlm_notifications \
              WHERE failed_at IS NOT NULL"
        ),
        json!([{"n": 4, "error": "its destination is no longer in the settings (removed or renamed)"}])
    );
    let logs = restarted.logs();
    let lines: Vec<&str> = logs
        .lines()
        .filter(|l| l.contains("marked failed"))
        .collect();
    assert_eq!(lines.len(), 1, "one line per destination:\n{logs}");
    assert!(
        lines[0].contains("4 undelivered notification(s) for webhook:"),
        "{logs}"
    );
    let metrics = send("GET", &restarted.metrics_url("/metrics"), &[])
        .await
        .raw;
    assert!(
        metrics.contains("foreman_dlm_notifications{state=\"failed\"} 4"),
        "{metrics}"
    );
    assert!(
        metrics.contains("foreman_dlm_notifications{state=\"pending\"} 0"),
        "{metrics}"
    );
}
