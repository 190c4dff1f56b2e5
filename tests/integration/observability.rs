//! Metrics as Prometheus reads them (Debian's Prometheus scraping the metrics listener), and the
//! health checks on both listeners, readiness following the database.

use std::time::Duration;

use serde_json::json;

use crate::common::prometheus::{self, ScrapedApp};
use crate::common::{send, TestApp};

#[actix_web::test]
async fn prometheus_reads_every_metric_with_its_type_and_labels_and_counters_move() {
    if !prometheus::available() {
        return;
    }
    let ScrapedApp {
        app,
        web1,
        web2,
        prometheus,
    } = ScrapedApp::spawn();

    let lock = app.url("/api/dlmlocks/web/lock");
    assert_eq!(send("PUT", &lock, &web1).await.status, 200);
    assert_eq!(send("PUT", &lock, &web1).await.status, 200);
    assert_eq!(send("PUT", &lock, &web2).await.status, 412);
    assert_eq!(send("GET", &lock, &web2).await.status, 200);
    assert_eq!(send("PUT", &lock, &[]).await.status, 401);
    app.db.add_lock("off", None, false);

    let expected = [
        ("foreman_dlm_locks", "gauge"),
        ("foreman_dlm_lock_holders", "gauge"),
        ("foreman_dlm_lock_requests", "counter"),
        ("foreman_dlm_http_request_duration_seconds", "histogram"),
        ("foreman_dlm_db_connections", "gauge"),
        ("foreman_dlm_notifications", "gauge"),
        ("foreman_dlm_certificate_verifications", "counter"),
        ("foreman_dlm_build_info", "gauge"),
    ];
    let names: Vec<&str> = expected.iter().map(|(n, _)| *n).collect();
    let types = prometheus.metadata(&names).await;
    for (name, kind) in expected {
        assert_eq!(
            types.get(name).map(String::as_str),
            Some(kind),
            "{name}: {types:?}"
        );
    }
    // (expression, expected value); NaN: any value.
    let exactly = |n: f64| n;
    let at_least = |_: f64| f64::NAN;
    let q = |expr: &str| expr.to_string();
    for (expr, check) in [
        (
            q(r#"foreman_dlm_lock_requests_total{operation="acquire",outcome="granted"}"#),
            exactly(1.0),
        ),
        (
            q(r#"foreman_dlm_lock_requests_total{operation="acquire",outcome="refreshed"}"#),
            exactly(1.0),
        ),
        (
            q(r#"foreman_dlm_lock_requests_total{operation="acquire",outcome="held"}"#),
            exactly(1.0),
        ),
        (
            q(r#"foreman_dlm_lock_requests_total{operation="show",outcome="granted"}"#),
            exactly(1.0),
        ),
        (
            q(r#"foreman_dlm_lock_requests_total{operation="acquire",outcome="unauthenticated"}"#),
            exactly(1.0),
        ),
        (
            q(r#"foreman_dlm_lock_requests_total{operation="release",outcome="outside_window"}"#),
            exactly(0.0),
        ),
        (q(r#"foreman_dlm_locks{state="held"}"#), exactly(1.0)),
        (q(r#"foreman_dlm_locks{state="full"}"#), exactly(1.0)),
        (q(r#"foreman_dlm_locks{state="disabled"}"#), exactly(1.0)),
        (q(r#"foreman_dlm_locks{state="free"}"#), exactly(0.0)),
        (q(r#"foreman_dlm_locks{state="stale"}"#), exactly(0.0)),
        (q(r#"foreman_dlm_lock_holders{lock="web"}"#), exactly(1.0)),
        (
            q(r#"foreman_dlm_notifications{state="pending"}"#),
            exactly(0.0),
        ),
        (
            q(r#"foreman_dlm_notifications{state="failed"}"#),
            exactly(0.0),
        ),
        (
            q(r#"foreman_dlm_db_connections{state="idle"}"#),
            at_least(0.0),
        ),
        (
            q(r#"foreman_dlm_db_connections{state="in_use"}"#),
            at_least(0.0),
        ),
        (
            q(r#"foreman_dlm_certificate_verifications_total{result="verified"}"#),
            exactly(2.0),
        ),
        (
            q(r#"foreman_dlm_certificate_verifications_total{result="cache_hit"}"#),
            exactly(2.0),
        ),
        (
            q(r#"foreman_dlm_certificate_verifications_total{result="refused"}"#),
            exactly(0.0),
        ),
        (
            format!(
                r#"foreman_dlm_build_info{{version="{}"}}"#,
                env!("CARGO_PKG_VERSION")
            ),
            exactly(1.0),
        ),
        (
            q(
                r#"sum(foreman_dlm_http_request_duration_seconds_count{route="/api/dlmlocks/{id}/lock",status="412"})"#,
            ),
            exactly(1.0),
        ),
    ] {
        prometheus
            .value(&expr, |v| {
                check.is_nan() || (v - check).abs() < f64::EPSILON
            })
            .await;
    }

    // Counters move; gauges follow the table (a few seconds' cache).
    assert_eq!(send("DELETE", &lock, &web1).await.status, 200);
    let is = |n: f64| move |v: f64| (v - n).abs() < f64::EPSILON;
    prometheus
        .value(
            r#"foreman_dlm_lock_requests_total{operation="release",outcome="released"}"#,
            is(1.0),
        )
        .await;
    prometheus
        .value(r#"foreman_dlm_locks{state="free"}"#, is(1.0))
        .await;
    prometheus
        .value(r#"count(foreman_dlm_lock_holders) or vector(0)"#, is(0.0))
        .await;
}

#[actix_web::test]
async fn health_checks_answer_on_both_listeners_and_readiness_follows_the_database() {
    let app = TestApp::spawn();
    let urls = |path: &str| [app.url(path), app.server.metrics_url(path)];
    for url in urls("/health/live") {
        let answer = send("GET", &url, &[]).await;
        assert_eq!(
            (answer.status, answer.body.clone()),
            (200, json!({"status": "ok"})),
            "{url}"
        );
    }
    for url in urls("/health/ready") {
        let answer = send("GET", &url, &[]).await;
        assert_eq!(
            (answer.status, answer.body.clone()),
            (
                200,
                json!({"status": "ready", "database": "ok", "migrations": "current"})
            ),
            "{url}"
        );
    }
    let metrics = send("GET", &app.url("/metrics"), &[]).await;
    assert_eq!(
        metrics.status, 404,
        "the main listener does not serve metrics"
    );

    // The database refuses connections and drops the ones it has: not ready, and back.
    let name = app.db.name.clone();
    let admin = crate::common::TestDb::admin_exec;
    admin(&format!(
        "ALTER DATABASE {name} ALLOW_CONNECTIONS false; \
         SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"
    ));
    for url in urls("/health/ready") {
        let answer = send("GET", &url, &[]).await;
        assert_eq!(answer.status, 503, "{url}: {}", answer.body);
        assert_eq!(answer.body["status"], "unavailable");
        assert!(
            !answer.body.to_string().contains("FATAL"),
            "no internal text: {}",
            answer.body
        );
    }
    assert_eq!(
        send("GET", &app.url("/health/live"), &[]).await.status,
        200,
        "still alive"
    );
    admin(&format!("ALTER DATABASE {name} ALLOW_CONNECTIONS true"));
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        let answer = send("GET", &app.url("/health/ready"), &[]).await;
        if answer.status == 200 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "ready again: {}",
            answer.body
        );
        actix_web::rt::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Lock names are hostile input: a host named its lock `x",state="disabled`, and the plugin's UI
/// or SQL may write quotes, backslashes, newlines and control characters. Each stays inside its
/// label value: promtool parses the exposition, Prometheus keeps the target up and reads each
/// name back as it was written (control characters as their escapes).
#[actix_web::test]
async fn hostile_lock_names_keep_the_exposition_valid() {
    if !prometheus::available() {
        return;
    }
    let ScrapedApp {
        app,
        web1,
        prometheus,
        ..
    } = ScrapedApp::spawn();
    let (web3, _) = app.host("web3.example.com");
    for name in ["x%22,state=%22disabled", "a%5C%22b", "c%5Cd"] {
        let path = format!("/api/dlmlocks/{name}/lock");
        assert_eq!(app.send("PUT", &path, &web1).await.status, 200, "{name}");
    }
    app.db.exec(&format!(
        "INSERT INTO dlmlocks (name, type, enabled, host_id, created_at, updated_at) VALUES \
         (E'evil\\nforeman_dlm_locks{{state=\"free\"}} 99', 'ForemanDlm::Dlmlock::Update', \
          true, {web3}, now(), now()), \
         (E'bell\\x07 esc\\x1b[2J', 'ForemanDlm::Dlmlock::Update', true, {web3}, now(), now())"
    ));

    let text = send("GET", &app.server.metrics_url("/metrics"), &[])
        .await
        .raw;
    let mut promtool = std::process::Command::new(prometheus::PROMTOOL)
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("promtool");
    use std::io::Write;
    promtool
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("write");
    let checked = promtool.wait_with_output().expect("promtool ran");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&checked.stdout),
        String::from_utf8_lossy(&checked.stderr)
    );
    // promtool reads the classic text format, where the counters' `_total` samples have no
    // HELP of their own: that lint is all it may say; a parse error fails it.
    let problems: Vec<&str> = said
        .lines()
        .filter(|l| !l.ends_with(" no help text"))
        .collect();
    assert!(
        problems.is_empty() && checked.status.code() != Some(1),
        "promtool: {said}\n{text}"
    );
    let holder_lines = text
        .lines()
        .filter(|l| l.starts_with("foreman_dlm_lock_holders{"))
        .count();
    assert_eq!(holder_lines, 5, "one line per lock:\n{text}");

    let is_one = |v: f64| (v - 1.0).abs() < f64::EPSILON;
    prometheus.value(r#"up{job="foreman-dlm"}"#, is_one).await;
    for name in [
        r#"x\",state=\"disabled"#,
        r#"a\\\"b"#,
        r#"c\\d"#,
        r#"evil\\u{a}foreman_dlm_locks{state=\"free\"} 99"#,
        r#"bell\\u{7} esc\\u{1b}[2J"#,
    ] {
        prometheus
            .value(
                &format!("foreman_dlm_lock_holders{{lock=\"{name}\"}}"),
                is_one,
            )
            .await;
    }
    prometheus
        .value(
            r#"count(foreman_dlm_lock_holders{state!=""}) or vector(0)"#,
            |v| v == 0.0,
        )
        .await;
    prometheus
        .value(r#"foreman_dlm_locks{state="free"}"#, |v| v == 0.0)
        .await;
}
