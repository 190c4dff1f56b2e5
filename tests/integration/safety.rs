//! Rollout safety over HTTP on the real server: a lapsed lease halts its lock (found by the
//! sweep of one instance or by an acquire on another), halts by hand and fleet-wide from the
//! command line, cooldowns, and the alert gate against Debian's Prometheus evaluating a real
//! rule.

use std::process::{Command, Output};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::common::prometheus::{self, Exporter, Prometheus, CLUSTER_RULES};
use crate::common::receivers::free_port;
use crate::common::users::{basic, Scheme};
use crate::common::{cert_header, pki, send, send_json, Answer, Server, TestApp};

type Headers = Vec<(&'static str, String)>;

const POLICIES: &str = r#"
[locks]
sweep_interval_seconds = 30

[[locks.policies]]
match = "lease-*"
lease_seconds = 1

[[locks.policies]]
match = "keep-*"
lease_seconds = 1
on_lease_expiry = "release"

[[locks.policies]]
match = "cool-*"
max_holders = 2
cooldown_seconds = 2
"#;

fn site(extra: &str) -> TestApp {
    let extra = format!("{POLICIES}{extra}");
    TestApp::spawn_with(|options| options.extra_toml = extra)
}

fn host(app: &TestApp, name: &str) -> (i64, Headers) {
    (
        app.db.add_host(name),
        cert_header(&pki::shared().host(name)),
    )
}

fn admin(app: &TestApp) -> (i64, Headers) {
    let id = app.db.add_user("admin", "admin-pw", Scheme::Bcrypt);
    app.db.make_admin(id);
    (id, vec![basic("admin", "admin-pw")])
}

async fn put(server: &Server, lock: &str, headers: &Headers) -> Answer {
    send(
        "PUT",
        &server.url(&format!("/api/dlmlocks/{lock}/lock")),
        headers,
    )
    .await
}

async fn delete(server: &Server, lock: &str, headers: &Headers) -> Answer {
    send(
        "DELETE",
        &server.url(&format!("/api/dlmlocks/{lock}/lock")),
        headers,
    )
    .await
}

/// A lock's events as (type, host, user).
fn events(app: &TestApp, lock: &str) -> Value {
    app.db.rows(&format!(
        "SELECT e.event_type, e.host_id, e.user_id FROM dlmlock_events e \
           JOIN dlmlocks l ON l.id = e.dlmlock_id WHERE l.name = '{lock}' \
          ORDER BY e.id"
    ))
}

/// A lock's `halt` and `resume` events.
fn halts_and_resumes(app: &TestApp, lock: &str) -> Vec<Value> {
    events(app, lock)
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| e["event_type"] == "halt" || e["event_type"] == "resume")
        .cloned()
        .collect()
}

fn refusal(answer: &Answer) -> (u16, Value) {
    (answer.status, answer.body["error"]["reason"].clone())
}

async fn until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(Instant::now() < deadline, "{what}");
        actix_web::rt::time::sleep(Duration::from_millis(200)).await;
    }
}

#[actix_web::test]
async fn a_lapsed_lease_halts_the_lock_until_an_admin_resumes_it() {
    // This instance never sweeps in the test's time: a lapse is found by an acquire.
    let app = site("");
    let (a_id, a) = host(&app, "web1.example.com");
    let (_, b) = host(&app, "web2.example.com");
    let (admin_id, admin) = admin(&app);

    assert_eq!(put(&app.server, "lease-one", &a).await.status, 200);
    actix_web::rt::time::sleep(Duration::from_millis(1300)).await;
    let refused = put(&app.server, "lease-one", &b).await;
    assert_eq!(refusal(&refused), (412, json!("halted")), "{}", refused.raw);
    assert_eq!(
        refused.body["error"]["halt_reason"],
        "lease of web1.example.com lapsed"
    );
    assert_eq!(
        refused.body["error"]["message"],
        "Precondition failed. Lock is in invalid state for this operation."
    );
    // The lapsed host itself may not take the lock back.
    assert_eq!(
        refusal(&put(&app.server, "lease-one", &a).await),
        (412, json!("halted"))
    );
    let api = app.db.api_admin_id();
    assert_eq!(
        events(&app, "lease-one"),
        json!([
            {"event_type": "acquire", "host_id": a_id, "user_id": api},
            {"event_type": "expire", "host_id": a_id, "user_id": null},
            {"event_type": "halt", "host_id": a_id, "user_id": null},
            {"event_type": "fail", "host_id": null, "user_id": api},
            {"event_type": "fail", "host_id": null, "user_id": api},
        ])
    );

    // The other instance of the pair sweeps every second and halts a lock nobody asks for.
    let mut options = app.options.clone();
    options.port = None;
    options.extra_toml = options
        .extra_toml
        .replace("sweep_interval_seconds = 30", "sweep_interval_seconds = 1");
    let sweeper = Server::spawn(&options);
    assert_eq!(put(&app.server, "lease-two", &a).await.status, 200);
    until("the sweep halts lease-two", || {
        app.db.scalar(
            "SELECT count(*) FROM foreman_dlm_halts h JOIN dlmlocks l ON l.id = h.dlmlock_id \
             WHERE l.name = 'lease-two'",
        ) == json!(1)
    })
    .await;
    let shown = send_json("GET", &app.url("/api/dlmlocks/lease-two"), &admin, None).await;
    assert_eq!(
        (
            &shown.body["halted"],
            &shown.body["halt_reason"],
            &shown.body["holders"]
        ),
        (
            &json!(true),
            &json!("lease of web1.example.com lapsed"),
            &json!([])
        )
    );
    assert!(shown.body["halted_at"].is_string(), "{}", shown.body);
    assert_eq!(
        refusal(&put(&app.server, "lease-two", &b).await),
        (412, json!("halted"))
    );

    // An admin resumes through either instance; each resume records who.
    let resumed = send_json(
        "PUT",
        &sweeper.url("/api/dlmlocks/lease-one"),
        &admin,
        Some(json!({"dlmlock": {"halted": false}})),
    )
    .await;
    assert_eq!(resumed.status, 200, "{}", resumed.raw);
    assert_eq!(
        (&resumed.body["halted"], &resumed.body["halt_reason"]),
        (&json!(false), &Value::Null)
    );
    assert_eq!(put(&app.server, "lease-one", &b).await.status, 200);
    assert_eq!(
        app.db.rows(
            "SELECT e.event_type, e.user_id FROM dlmlock_events e JOIN dlmlocks l \
             ON l.id = e.dlmlock_id WHERE l.name = 'lease-one' AND e.event_type = 'resume'"
        ),
        json!([{"event_type": "resume", "user_id": admin_id}])
    );
    assert_eq!(
        app.db.scalar(
            "SELECT count(*) FROM foreman_dlm_halts h JOIN dlmlocks l ON l.id = h.dlmlock_id \
             WHERE l.name = 'lease-two'"
        ),
        json!(1),
        "the other lock stays halted"
    );
}

#[actix_web::test]
async fn release_on_lease_expiry_keeps_todays_behaviour() {
    let app = site("");
    let (a_id, a) = host(&app, "web1.example.com");
    let (b_id, b) = host(&app, "web2.example.com");
    let taken = put(&app.server, "keep-one", &a).await;
    assert_eq!(
        (taken.status, &taken.body["on_lease_expiry"]),
        (200, &json!("release"))
    );
    actix_web::rt::time::sleep(Duration::from_millis(1300)).await;
    let next = put(&app.server, "keep-one", &b).await;
    assert_eq!(next.status, 200, "{}", next.raw);
    assert_eq!(
        (&next.body["halted"], &next.body["holders"][0]["host_id"]),
        (&json!(false), &json!(b_id))
    );
    let api = app.db.api_admin_id();
    assert_eq!(
        events(&app, "keep-one"),
        json!([
            {"event_type": "acquire", "host_id": a_id, "user_id": api},
            {"event_type": "expire", "host_id": a_id, "user_id": null},
            {"event_type": "acquire", "host_id": b_id, "user_id": api},
        ])
    );
    assert_eq!(
        app.db.scalar("SELECT count(*) FROM foreman_dlm_halts"),
        json!(0)
    );
}

/// The binary, run as an operator runs it on the Foreman server.
fn foreman_dlm(app: &TestApp, args: &[&str]) -> Output {
    let dir = tempfile::tempdir().expect("dir");
    let settings = dir.path().join("settings.toml");
    std::fs::write(
        &settings,
        format!("[database]\nurl = \"{}\"\n{POLICIES}", app.db.url),
    )
    .expect("settings");
    Command::new(env!("CARGO_BIN_EXE_foreman-dlm"))
        .arg("--config")
        .arg(&settings)
        .args(args)
        .env("FOREMAN_DLM__METRICS__LISTEN", "")
        .output()
        .expect("run foreman-dlm")
}

fn said(output: &Output) -> String {
    assert!(output.status.success(), "{output:?}");
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

/// An admin creates a lock halted, so that no host starts before the cluster is ready; a bad
/// reason creates nothing.
#[actix_web::test]
async fn a_lock_created_halted_refuses_hosts_until_resumed() {
    let app = site("");
    let (_, a) = host(&app, "web1.example.com");
    let (admin_id, admin) = admin(&app);
    let url = app.server.url("/api/dlmlocks");

    let refused = send_json(
        "POST",
        &url,
        &admin,
        Some(json!({"dlmlock": {"name": "born-halted", "halted": true, "halt_reason": "a\u{7}"}})),
    )
    .await;
    assert_eq!(refused.status, 422, "{}", refused.raw);
    assert_eq!(
        app.db
            .scalar("SELECT count(*) FROM dlmlocks WHERE name = 'born-halted'"),
        json!(0)
    );

    let created = send_json(
        "POST",
        &url,
        &admin,
        Some(json!({"dlmlock": {"name": "born-halted", "halted": true,
                                "halt_reason": "cluster not ready"}})),
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.raw);
    assert_eq!(
        (&created.body["halted"], &created.body["halt_reason"]),
        (&json!(true), &json!("cluster not ready"))
    );
    let first = put(&app.server, "born-halted", &a).await;
    assert_eq!(refusal(&first), (412, json!("halted")), "{}", first.raw);
    assert_eq!(
        halts_and_resumes(&app, "born-halted"),
        [json!({"event_type": "halt", "host_id": null, "user_id": admin_id})]
    );

    // `halted: false` on a new lock is what it is anyway.
    let plain = send_json(
        "POST",
        &url,
        &admin,
        Some(json!({"dlmlock": {"name": "born-free", "halted": false}})),
    )
    .await;
    assert_eq!((plain.status, &plain.body["halted"]), (201, &json!(false)));
    assert_eq!(put(&app.server, "born-free", &a).await.status, 200);
}

#[actix_web::test]
async fn a_fleet_wide_halt_refuses_new_and_existing_locks_and_resume_lifts_it() {
    let app = site("");
    let (_, a) = host(&app, "web1.example.com");
    let (_, b) = host(&app, "web2.example.com");
    assert_eq!(put(&app.server, "db-cluster", &a).await.status, 200);

    let reason = "kernel update broke NFS, see INC-4711";
    assert_eq!(
        said(&foreman_dlm(&app, &["halt", "--all", "--reason", reason])),
        format!("halted every lock: {reason}")
    );
    // The holder keeps its slot and may refresh; nobody else starts, on old and new locks.
    assert_eq!(put(&app.server, "db-cluster", &a).await.status, 200);
    for lock in ["db-cluster", "created-after-the-halt"] {
        let refused = put(&app.server, lock, &b).await;
        assert_eq!(refusal(&refused), (412, json!("halted")), "{lock}");
        assert_eq!(refused.body["error"]["halt_reason"], reason);
    }
    assert_eq!(delete(&app.server, "db-cluster", &a).await.status, 200);
    assert_eq!(
        refusal(&put(&app.server, "db-cluster", &b).await),
        (412, json!("halted"))
    );
    let status = said(&foreman_dlm(&app, &["status"]));
    assert!(status.contains("halted"), "{status}");
    assert!(status.contains(reason), "{status}");

    // Resuming one lock does not lift the fleet's halt.
    assert_eq!(
        said(&foreman_dlm(&app, &["resume", "db-cluster"])),
        format!("db-cluster stays halted: every lock is ({reason}); `resume --all` lifts that")
    );
    // A lock halted on its own stays halted when the fleet resumes: it needs its own look.
    assert_eq!(put(&app.server, "db-other", &b).await.status, 412);
    assert_eq!(
        said(&foreman_dlm(
            &app,
            &["halt", "db-other", "--reason", "web7 failed"]
        )),
        "halted db-other: web7 failed"
    );
    assert_eq!(
        said(&foreman_dlm(&app, &["resume", "--all"])),
        "lifted the halt of every lock; 1 lock stays halted on its own: `foreman-dlm status` \
         names them, `foreman-dlm resume NAME` lifts each"
    );
    for lock in ["db-cluster", "created-after-the-halt"] {
        assert_eq!(put(&app.server, lock, &b).await.status, 200, "{lock}");
    }
    assert_eq!(
        refusal(&put(&app.server, "db-other", &b).await),
        (412, json!("halted"))
    );
    assert_eq!(
        said(&foreman_dlm(&app, &["resume", "db-other"])),
        "resumed db-other"
    );
    assert_eq!(put(&app.server, "db-other", &b).await.status, 200);
    assert_eq!(
        app.db.scalar("SELECT count(*) FROM foreman_dlm_halts"),
        json!(0)
    );
    // Both commands name what they need.
    let bare = foreman_dlm(&app, &["halt", "--reason", "x"]);
    assert!(!bare.status.success());
    let blank = foreman_dlm(&app, &["halt", "--all", "--reason", " "]);
    assert!(!blank.status.success());
    assert!(
        String::from_utf8_lossy(&blank.stderr).contains("halt_reason"),
        "{blank:?}"
    );
    assert_eq!(
        app.db.scalar("SELECT count(*) FROM foreman_dlm_halts"),
        json!(0)
    );
}

#[actix_web::test]
async fn cooldown_spaces_the_next_holder() {
    let app = site("");
    let (_, a) = host(&app, "web1.example.com");
    let (_, b) = host(&app, "web2.example.com");
    let (c_id, c) = host(&app, "web3.example.com");
    // No slot was freed yet: two holders start at once.
    assert_eq!(put(&app.server, "cool-pool", &a).await.status, 200);
    let second = put(&app.server, "cool-pool", &b).await;
    assert_eq!(
        (second.status, &second.body["cooldown_seconds"]),
        (200, &json!(2))
    );
    assert_eq!(delete(&app.server, "cool-pool", &a).await.status, 200);
    let refused = put(&app.server, "cool-pool", &c).await;
    assert_eq!(refusal(&refused), (412, json!("cooling_down")));
    let retry_at = refused.body["error"]["retry_at"]
        .as_str()
        .expect("retry_at")
        .to_string();
    assert!(retry_at.ends_with('Z'), "{retry_at}");
    // The holder still refreshes meanwhile.
    assert_eq!(put(&app.server, "cool-pool", &b).await.status, 200);
    let retry = chrono::DateTime::parse_from_rfc3339(&retry_at).expect("ISO 8601");
    let wait = (retry.with_timezone(&chrono::Utc) - chrono::Utc::now())
        .to_std()
        .unwrap_or_default();
    actix_web::rt::time::sleep(wait + Duration::from_millis(300)).await;
    assert_eq!(put(&app.server, "cool-pool", &c).await.status, 200);
    let gap = app.db.scalar(&format!(
        "SELECT extract(epoch FROM (SELECT created_at FROM dlmlock_events \
                                    WHERE event_type = 'acquire' AND host_id = {c_id}) - \
                                   (SELECT created_at FROM dlmlock_events \
                                    WHERE event_type = 'release'))::float8"
    ));
    assert!(gap.as_f64().expect("gap") >= 2.0, "{gap}");
    assert_eq!(
        app.db.rows(&format!(
            "SELECT reason FROM foreman_dlm_waiting WHERE host_id = {c_id}"
        )),
        json!([]),
        "the grant ends the wait"
    );
    // A free lock cools down too (the request's short path).
    assert_eq!(delete(&app.server, "cool-pool", &b).await.status, 200);
    assert_eq!(delete(&app.server, "cool-pool", &c).await.status, 200);
    let free = put(&app.server, "cool-pool", &a).await;
    assert_eq!(refusal(&free), (412, json!("cooling_down")), "{}", free.raw);
    assert_eq!(
        app.db
            .scalar("SELECT host_id FROM dlmlocks WHERE name = 'cool-pool'"),
        Value::Null
    );
}

/// When a slot was freed is kept only where a cooldown may read it: a host's release on a lock
/// without a cooldown writes nothing, while an admin's force release and a lapsed lease are
/// always remembered, and a force release starts the cooldown like a host's release.
#[actix_web::test]
async fn a_cooldown_counts_from_force_releases_and_lapses_too() {
    let app = site("");
    let (a_id, a) = host(&app, "web1.example.com");
    let (b_id, b) = host(&app, "web2.example.com");
    let (_, admin) = admin(&app);
    let freed = |lock: &str| {
        app.db.scalar(&format!(
            "SELECT count(*) FROM foreman_dlm_last_freed f \
               JOIN dlmlocks l ON l.id = f.dlmlock_id WHERE l.name = '{lock}'"
        ))
    };

    assert_eq!(put(&app.server, "plain-lock", &a).await.status, 200);
    assert_eq!(delete(&app.server, "plain-lock", &a).await.status, 200);
    assert_eq!(
        freed("plain-lock"),
        json!(0),
        "no cooldown, nothing written"
    );

    assert_eq!(put(&app.server, "cool-forced", &a).await.status, 200);
    let url = app
        .server
        .url(&format!("/api/dlmlocks/cool-forced/holders/{a_id}"));
    let forced = send("DELETE", &url, &admin).await;
    assert_eq!(forced.status, 200, "{}", forced.raw);
    assert_eq!(freed("cool-forced"), json!(1));
    let refused = put(&app.server, "cool-forced", &b).await;
    assert_eq!(
        refusal(&refused),
        (412, json!("cooling_down")),
        "{}",
        refused.raw
    );

    // keep-*: a 1 s lease, released when it lapses, no cooldown. The lapse is found by the next
    // acquire, granted at once, and remembered all the same.
    assert_eq!(put(&app.server, "keep-lapse", &a).await.status, 200);
    actix_web::rt::time::sleep(Duration::from_millis(1300)).await;
    assert_eq!(put(&app.server, "keep-lapse", &b).await.status, 200);
    assert_eq!(freed("keep-lapse"), json!(1));
    let kinds: Vec<(Value, Value)> = events(&app, "keep-lapse")
        .as_array()
        .expect("events")
        .iter()
        .map(|e| (e["event_type"].clone(), e["host_id"].clone()))
        .collect();
    assert_eq!(
        kinds,
        [
            (json!("acquire"), json!(a_id)),
            (json!("expire"), json!(a_id)),
            (json!("acquire"), json!(b_id)),
        ]
    );
}

/// A server whose `gated-*` and `c*` locks ask `prometheus_url`, with a 1 s cache.
fn gated_site(prometheus_url: &str) -> TestApp {
    site(&format!(
        r#"
[[locks.policies]]
match = "c*"
block_on_alerts = 'ALERTS{{alertstate="firing", cluster={{lock}}}}'

[prometheus]
url = "{prometheus_url}"
timeout_seconds = 1
cache_seconds = 1
"#
    ))
}

async fn gate_queries(app: &TestApp, result: &str) -> f64 {
    let metrics = send("GET", &app.server.metrics_url("/metrics"), &[])
        .await
        .raw;
    let line = format!("foreman_dlm_alert_gate_queries_total{{result=\"{result}\"}} ");
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(&line))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("{line} in {metrics}"))
}

#[actix_web::test]
async fn firing_alerts_block_new_holders_and_resolved_ones_let_them_through() {
    if !prometheus::available() {
        return;
    }
    let exporter = Exporter::start(&["c1", "c2"]);
    let prometheus = Prometheus::scraping_with_rules(&exporter.target(), Some(CLUSTER_RULES));
    prometheus
        .value("count(cluster_unhealthy)", |v| v == 2.0)
        .await;
    let app = gated_site(&prometheus.url());
    let (_, a) = host(&app, "web1.example.com");
    let (_, b) = host(&app, "web2.example.com");

    let quiet = put(&app.server, "c1", &a).await;
    assert_eq!(quiet.status, 200, "{}", quiet.raw);
    assert_eq!(
        quiet.body["block_on_alerts"],
        r#"ALERTS{alertstate="firing", cluster={lock}}"#
    );
    assert_eq!(delete(&app.server, "c1", &a).await.status, 200);

    exporter.set_unhealthy("c1", true);
    prometheus
        .value(r#"ALERTS{alertstate="firing", cluster="c1"}"#, |v| v == 1.0)
        .await;
    actix_web::rt::time::sleep(Duration::from_millis(1100)).await;
    let blocked = put(&app.server, "c1", &b).await;
    assert_eq!(
        refusal(&blocked),
        (412, json!("blocked")),
        "{}",
        blocked.raw
    );
    assert_eq!(
        blocked.body["error"]["blocked_by"],
        json!(["ClusterUnhealthy"])
    );
    assert_eq!(
        app.db
            .scalar("SELECT host_id FROM dlmlocks WHERE name = 'c1'"),
        Value::Null
    );
    // Another cluster's lock is not held up by c1's alert.
    assert_eq!(put(&app.server, "c2", &b).await.status, 200);
    assert!(gate_queries(&app, "firing").await >= 1.0);
    assert!(gate_queries(&app, "quiet").await >= 2.0);

    exporter.set_unhealthy("c1", false);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let answer = put(&app.server, "c1", &b).await;
        if answer.status == 200 {
            break;
        }
        assert_eq!(refusal(&answer), (412, json!("blocked")));
        assert!(
            Instant::now() < deadline,
            "the resolved alert lets b through"
        );
        actix_web::rt::time::sleep(Duration::from_millis(300)).await;
    }
    assert_eq!(
        app.db.rows(
            "SELECT reason FROM foreman_dlm_waiting w JOIN dlmlocks l ON l.id = w.dlmlock_id \
             WHERE l.name = 'c1'"
        ),
        json!([]),
        "the grant ends the wait"
    );
}

#[actix_web::test]
async fn an_unreachable_prometheus_blocks_new_holders_but_not_releases() {
    let app = gated_site(&format!("http://127.0.0.1:{}", free_port()));
    let (_, a) = host(&app, "web1.example.com");
    let (_, b) = host(&app, "web2.example.com");
    let (_, admin) = admin(&app);
    // a holds `gate-one` before an admin gives it a gate.
    assert_eq!(put(&app.server, "gate-one", &a).await.status, 200);
    let gated = send_json(
        "PUT",
        &app.url("/api/dlmlocks/gate-one"),
        &admin,
        Some(json!({"dlmlock": {"block_on_alerts": "ALERTS{cluster={lock}}", "max_holders": 2}})),
    )
    .await;
    assert_eq!(gated.status, 200, "{}", gated.raw);

    let blocked = put(&app.server, "gate-one", &b).await;
    assert_eq!(refusal(&blocked), (412, json!("blocked")));
    let why = blocked.body["error"]["blocked_by"]
        .as_array()
        .expect("blocked_by")
        .clone();
    assert_eq!(why.len(), 1, "{why:?}");
    assert!(
        why[0]
            .as_str()
            .unwrap_or_default()
            .starts_with("Prometheus could not be asked"),
        "{why:?}"
    );
    // The holder refreshes and releases; a show is never refused.
    assert_eq!(put(&app.server, "gate-one", &a).await.status, 200);
    let shown = send("GET", &app.url("/api/dlmlocks/gate-one/lock"), &b).await;
    assert_eq!(shown.status, 200);
    assert_eq!(delete(&app.server, "gate-one", &a).await.status, 200);
    // Cached for a second, then asked again: still unreachable.
    actix_web::rt::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(
        refusal(&put(&app.server, "gate-one", &a).await),
        (412, json!("blocked"))
    );
    assert!(gate_queries(&app, "error").await >= 2.0);
    assert_eq!(
        app.db
            .scalar("SELECT count(*) FROM foreman_dlm_lock_holders"),
        json!(0)
    );

    // Without a gate (block_on_alerts null on the lock), no Prometheus is asked at all.
    let before = gate_queries(&app, "error").await + gate_queries(&app, "cached").await;
    let cleared = send_json(
        "PUT",
        &app.url("/api/dlmlocks/gate-one"),
        &admin,
        Some(json!({"dlmlock": {"block_on_alerts": null}})),
    )
    .await;
    assert_eq!(cleared.body["block_on_alerts"], Value::Null);
    assert_eq!(put(&app.server, "gate-one", &b).await.status, 200);
    let after = gate_queries(&app, "error").await + gate_queries(&app, "cached").await;
    assert_eq!(before, after);
}

#[actix_web::test]
async fn lock_names_cannot_change_the_alert_expression() {
    if !prometheus::available() {
        return;
    }
    let exporter = Exporter::start(&["c1"]);
    let prometheus = Prometheus::scraping_with_rules(&exporter.target(), Some(CLUSTER_RULES));
    prometheus
        .value("count(cluster_unhealthy)", |v| v == 1.0)
        .await;
    let app = gated_site(&prometheus.url());
    let (_, a) = host(&app, "web1.example.com");
    let quiet_before = gate_queries(&app, "quiet").await;
    // Each name would return a sample if it were pasted into the expression as it is.
    for name in [
        r#"cx"} or vector(1) #"#,
        r#"cx\"} or vector(1) #"#,
        "c\" or on() vector(1) or ALERTS{x=\"",
        "c`or vector(1)`",
    ] {
        let segment =
            percent_encoding::utf8_percent_encode(name, percent_encoding::NON_ALPHANUMERIC)
                .to_string();
        let answer = put(&app.server, &segment, &a).await;
        assert_eq!(answer.status, 200, "{name}: {}", answer.raw);
        assert_eq!(answer.body["name"], name);
        assert_eq!(delete(&app.server, &segment, &a).await.status, 200);
    }
    assert_eq!(
        gate_queries(&app, "quiet").await - quiet_before,
        4.0,
        "each name was asked for, and Prometheus answered nothing"
    );
    // The same gate does block on a firing alert for its cluster.
    exporter.set_unhealthy("c1", true);
    prometheus
        .value(r#"ALERTS{alertstate="firing", cluster="c1"}"#, |v| v == 1.0)
        .await;
    actix_web::rt::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(
        refusal(&put(&app.server, "c1", &a).await),
        (412, json!("blocked"))
    );
}

#[actix_web::test]
async fn holders_may_release_and_refresh_while_a_lock_is_halted_or_blocked() {
    let app = gated_site(&format!("http://127.0.0.1:{}", free_port()));
    let (admin_id, admin) = admin(&app);
    let (_, a) = host(&app, "web1.example.com");
    let (_, b) = host(&app, "web2.example.com");
    let (_, c) = host(&app, "web3.example.com");
    let created = send_json(
        "POST",
        &app.url("/api/dlmlocks"),
        &admin,
        Some(json!({"dlmlock": {"name": "pair", "max_holders": 2, "cooldown_seconds": 0}})),
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.raw);
    assert_eq!(put(&app.server, "pair", &a).await.status, 200);
    assert_eq!(put(&app.server, "pair", &b).await.status, 200);

    let halted = send_json(
        "PUT",
        &app.url("/api/dlmlocks/pair"),
        &admin,
        Some(json!({"dlmlock": {"halted": true, "halt_reason": "web1 failed its update"}})),
    )
    .await;
    assert_eq!(halted.status, 200, "{}", halted.raw);
    assert_eq!(
        (&halted.body["halted"], &halted.body["halt_reason"]),
        (&json!(true), &json!("web1 failed its update"))
    );
    assert_eq!(put(&app.server, "pair", &a).await.status, 200, "a refresh");
    assert_eq!(
        delete(&app.server, "pair", &a).await.status,
        200,
        "a release"
    );
    let refused = put(&app.server, "pair", &c).await;
    assert_eq!(refusal(&refused), (412, json!("halted")));
    assert_eq!(
        send("GET", &app.url("/api/dlmlocks/pair/lock"), &c)
            .await
            .status,
        200
    );
    // A bad halt changes nothing.
    let bad = send_json(
        "PUT",
        &app.url("/api/dlmlocks/pair"),
        &admin,
        Some(json!({"dlmlock": {"halted": false, "halt_reason": "why not"}})),
    )
    .await;
    assert_eq!(bad.status, 422, "{}", bad.raw);
    assert_eq!(
        app.db.rows("SELECT reason, user_id FROM foreman_dlm_halts"),
        json!([{"reason": "web1 failed its update", "user_id": admin_id}])
    );

    // Resumed, but gated by a Prometheus nobody can reach: b still refreshes and releases.
    let gated = send_json(
        "PUT",
        &app.url("/api/dlmlocks/pair"),
        &admin,
        Some(json!({"dlmlock": {"halted": false, "block_on_alerts": "vector(1)"}})),
    )
    .await;
    assert_eq!(
        (&gated.body["halted"], &gated.body["block_on_alerts"]),
        (&json!(false), &json!("vector(1)"))
    );
    assert_eq!(
        refusal(&put(&app.server, "pair", &c).await),
        (412, json!("blocked"))
    );
    assert_eq!(put(&app.server, "pair", &b).await.status, 200, "a refresh");
    assert_eq!(
        delete(&app.server, "pair", &b).await.status,
        200,
        "a release"
    );
    assert_eq!(
        halts_and_resumes(&app, "pair"),
        vec![
            json!({"event_type": "halt", "host_id": null, "user_id": admin_id}),
            json!({"event_type": "resume", "host_id": null, "user_id": admin_id}),
        ]
    );
}

#[actix_web::test]
async fn halting_and_resuming_from_the_status_page() {
    use crate::common::browser::{self, Browser};
    use fantoccini::Locator;
    if !browser::available() {
        return;
    }
    let app = site("");
    let (admin_id, _) = admin(&app);
    let (_, web1) = host(&app, "web1.example.com");
    let (_, web2) = host(&app, "web2.example.com");
    assert_eq!(put(&app.server, "cluster-a", &web1).await.status, 200);
    assert_eq!(delete(&app.server, "cluster-a", &web1).await.status, 200);

    let browser = Browser::start().await;
    browser.goto(&app.url("/dlm")).await;
    browser
        .fill_and_submit(&[("login", "admin"), ("password", "admin-pw")])
        .await;
    browser.wait_for("/dlm", "Halt all updates").await;
    let type_into = |css: &'static str, text: &'static str| {
        let client = browser.client.clone();
        async move {
            let input = client.find(Locator::Css(css)).await.expect(css);
            input.send_keys(text).await.expect("type");
        }
    };

    // Every lock.
    type_into("#halt-all-reason", "storage array degraded").await;
    browser.click("form[action='/dlm/halt-all'] button").await;
    let (_, text) = browser.wait_for("/dlm", "Every lock is halted").await;
    assert!(text.contains("storage array degraded"), "{text}");
    assert_eq!(
        app.db
            .rows("SELECT dlmlock_id, reason, user_id FROM foreman_dlm_halts"),
        json!([{"dlmlock_id": null, "reason": "storage array degraded", "user_id": admin_id}])
    );
    assert_eq!(
        refusal(&put(&app.server, "cluster-a", &web2).await),
        (412, json!("halted"))
    );
    browser.goto(&app.url("/dlm")).await;
    let (_, text) = browser.wait_for("/dlm", "web2.example.com (halted").await;
    assert!(
        text.contains("web2.example.com (halted"),
        "the last refusal: {text}"
    );
    browser.click("form[action='/dlm/resume-all'] button").await;
    browser.wait_for("/dlm", "Halt all updates").await;
    assert_eq!(
        app.db.scalar("SELECT count(*) FROM foreman_dlm_halts"),
        json!(0)
    );

    // One lock, from its row.
    type_into(
        "input[aria-label='Why halt cluster-a']",
        "web1 rebooted twice",
    )
    .await;
    browser.click("button[aria-label='Halt cluster-a']").await;
    let (_, text) = browser.wait_for("/dlm", "web1 rebooted twice").await;
    assert!(text.contains("halted since"), "{text}");
    let shown = send("GET", &app.url("/api/dlmlocks/cluster-a/lock"), &web2).await;
    assert_eq!(
        (&shown.body["halted"], &shown.body["halt_reason"]),
        (&json!(true), &json!("web1 rebooted twice"))
    );
    browser.click("button[aria-label='Resume cluster-a']").await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while browser.count("button[aria-label='Halt cluster-a']").await == 0 {
        assert!(Instant::now() < deadline, "the Halt form is back");
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(put(&app.server, "cluster-a", &web2).await.status, 200);
    assert_eq!(
        halts_and_resumes(&app, "cluster-a"),
        vec![
            json!({"event_type": "halt", "host_id": null, "user_id": admin_id}),
            json!({"event_type": "resume", "host_id": null, "user_id": admin_id}),
        ]
    );
    browser.close().await;
}
