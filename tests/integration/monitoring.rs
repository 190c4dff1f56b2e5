//! contrib/monitoring as an operator loads it: the alert rules through promtool (syntax and the
//! rule unit tests: when each alert fires and when not), and every dashboard and alert query run
//! by Debian's Prometheus against a live service, so that none names a metric or label the
//! service does not export.

use std::process::Command;

use serde_json::Value;

use crate::common::prometheus::{self, ScrapedApp, PROMTOOL};
use crate::common::send;

const MONITORING: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/contrib/monitoring");

fn promtool(args: &[&str]) -> String {
    let output = Command::new(PROMTOOL)
        .args(args)
        .current_dir(MONITORING)
        .output()
        .expect("run promtool");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "promtool {args:?}: {text}");
    text
}

#[test]
fn alert_rules_pass_promtool_and_their_unit_tests() {
    if !prometheus::available() {
        return;
    }
    let checked = promtool(&["check", "rules", "foreman-dlm-alerts.yml"]);
    assert!(checked.contains("SUCCESS: 8 rules found"), "{checked}");
    let tested = promtool(&["test", "rules", "foreman-dlm-alerts.test.yml"]);
    assert!(tested.contains("SUCCESS"), "{tested}");
}

/// The `expr` of every alert rule (the YAML parser the service itself uses).
fn alert_expressions() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(format!("{MONITORING}/foreman-dlm-alerts.yml"))
        .expect("alert rules");
    let docs = yaml_rust2::YamlLoader::load_from_str(&text).expect("YAML");
    docs[0]["groups"][0]["rules"]
        .as_vec()
        .expect("rules")
        .iter()
        .map(|rule| {
            (
                rule["alert"].as_str().expect("alert").to_string(),
                rule["expr"].as_str().expect("expr").to_string(),
            )
        })
        .collect()
}

/// The dashboard's queries, with its variables as Grafana fills them for "All".
fn dashboard_expressions() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(format!("{MONITORING}/foreman-dlm-dashboard.json"))
        .expect("dashboard");
    let dashboard: Value = serde_json::from_str(&text).expect("dashboard JSON");
    let mut exprs = vec![];
    for panel in dashboard["panels"].as_array().expect("panels") {
        for target in panel["targets"].as_array().expect("targets") {
            let expr = target["expr"]
                .as_str()
                .expect("expr")
                .replace("$instance", ".*")
                .replace("$__rate_interval", "1m");
            exprs.push((panel["title"].as_str().expect("title").to_string(), expr));
        }
    }
    exprs
}

/// Metric names an expression reads, as the exposition names them.
fn metric_names(expr: &str) -> Vec<String> {
    expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|word| word.starts_with("foreman_dlm_"))
        .map(str::to_string)
        .collect()
}

#[actix_web::test]
async fn every_dashboard_panel_and_alert_query_has_data_from_a_live_service() {
    if !prometheus::available() {
        return;
    }
    let ScrapedApp {
        app,
        web1,
        web2,
        prometheus,
    } = ScrapedApp::spawn();
    let metrics_url = app.server.metrics_url("/metrics");
    prometheus
        .value(r#"up{job="foreman-dlm"}"#, |v| v == 1.0)
        .await;

    // Traffic in two rounds with a scrape between: a series born in the first has an increase
    // to show in the second, for every rate().
    let lock = app.url("/api/dlmlocks/web/lock");
    for round in 0..2 {
        for _ in 0..3 {
            assert_eq!(send("PUT", &lock, &web1).await.status, 200);
            assert_eq!(send("PUT", &lock, &web2).await.status, 412);
            assert_eq!(send("DELETE", &lock, &web1).await.status, 200);
        }
        if round == 0 {
            let scraped = "sum(foreman_dlm_http_request_duration_seconds_count)";
            prometheus.value(scraped, |v| v >= 9.0).await;
        }
    }
    // A holder at the end, for the holders panel.
    assert_eq!(send("PUT", &lock, &web1).await.status, 200);

    // The gauges are refreshed at most every few seconds: wait for the holder to show.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let mut missing: Vec<String>;
    loop {
        let exposition = send("GET", &metrics_url, &[]).await.raw;
        missing = dashboard_expressions()
            .into_iter()
            .chain(alert_expressions())
            .flat_map(|(name, expr)| {
                metric_names(&expr)
                    .into_iter()
                    .map(move |metric| format!("{name}: {metric}"))
            })
            .filter(|item| {
                let metric = item.rsplit(": ").next().unwrap_or_default();
                !exposition.contains(&format!("\n{metric}"))
            })
            .collect();
        if missing.is_empty() || std::time::Instant::now() > deadline {
            break;
        }
        actix_web::rt::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    assert!(missing.is_empty(), "not in the exposition: {missing:?}");
    for (panel, expr) in dashboard_expressions() {
        let value = prometheus.value(&expr, |v| !v.is_nan()).await;
        eprintln!("{panel}: {expr} = {value}");
    }
    // Alert expressions: valid PromQL on the real series, and quiet on a healthy service.
    for (alert, expr) in alert_expressions() {
        let encoded =
            percent_encoding::utf8_percent_encode(&expr, percent_encoding::NON_ALPHANUMERIC);
        let answer = prometheus
            .api(&format!("/api/v1/query?query={encoded}"))
            .await;
        assert_eq!(answer["status"], "success", "{alert}: {answer}");
        assert_eq!(answer["data"]["result"], serde_json::json!([]), "{alert}");
    }
}
