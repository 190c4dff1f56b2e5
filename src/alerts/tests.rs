//! The gate at work over HTTP, against a stand-in that answers canned responses.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::mpsc;
use std::time::Duration;

use super::*;

const QUIET: &str = r#"{"status":"success","data":{"resultType":"vector","result":[]}}"#;
const FIRING: &str = r#"{"status":"success","data":{"resultType":"vector","result":[
    {"metric":{"__name__":"ALERTS","alertname":"NodeDown"},"value":[1700000000,"1"]}]}}"#;

fn settings(url: String) -> PrometheusSettings {
    PrometheusSettings {
        url,
        ca_file: None,
        bearer_token_file: None,
        timeout_seconds: 1,
        cache_seconds: 15,
    }
}

/// Answers one connection per body, in order, and hands over each request's head (lowercase).
fn stand_in(bodies: Vec<&'static str>) -> (u16, mpsc::Receiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (heads, received) = mpsc::channel();
    std::thread::spawn(move || {
        for body in bodies {
            let (mut stream, _) = listener.accept().unwrap();
            stream
                .set_read_timeout(Some(Duration::from_secs(2)))
                .unwrap();
            let mut head = Vec::new();
            let mut buffer = [0; 1024];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = stream.read(&mut buffer).unwrap();
                assert!(n > 0, "the client hung up");
                head.extend_from_slice(&buffer[..n]);
            }
            heads
                .send(String::from_utf8_lossy(&head).to_lowercase())
                .unwrap();
            let response = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
                 content-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            stream.write_all(response.as_bytes()).unwrap();
        }
    });
    (port, received)
}

/// A port nothing listens on.
fn closed_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn could_not_be_asked(answer: &Answer) -> String {
    match &answer.verdict {
        Verdict::Blocked(reasons) if reasons.len() == 1 => {
            assert!(
                reasons[0].starts_with("Prometheus could not be asked: "),
                "{reasons:?}"
            );
            reasons[0].clone()
        }
        other => panic!("not blocked by an error: {other:?}"),
    }
}

#[actix_web::test]
async fn the_gate_asks_with_its_prefix_and_token_and_caches() {
    let (port, heads) = stand_in(vec![QUIET, FIRING]);
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, "t0ken\n").unwrap();
    let mut settings = settings(format!("http://127.0.0.1:{port}/prometheus/"));
    settings.bearer_token_file = Some(token);
    let gate = AlertGate::new(&settings).unwrap();
    let expression = r#"ALERTS{alertstate="firing",lock={lock}}"#;

    let answer = gate.check(expression, "web").await;
    assert_eq!(answer.verdict, Verdict::Pass);
    assert_eq!(answer.result, QueryResult::Quiet);
    let head = heads.recv().unwrap();
    assert!(
        head.starts_with(
            "get /prometheus/api/v1/query?query=alerts%7balertstate%3d%22firing%22\
             %2clock%3d%22web%22%7d http/1.1\r\n"
        ),
        "{head}"
    );
    assert!(
        head.contains("\r\nauthorization: bearer t0ken\r\n"),
        "{head}"
    );

    let again = gate.check(expression, "web").await;
    assert_eq!(again.verdict, Verdict::Pass);
    assert_eq!(again.result, QueryResult::Cached);

    let other = gate.check(expression, "db").await;
    assert_eq!(other.verdict, Verdict::Blocked(vec!["NodeDown".to_owned()]));
    assert_eq!(other.result, QueryResult::Firing);
    assert!(heads.recv().unwrap().contains("%22db%22"));
}

#[actix_web::test]
async fn an_unreachable_prometheus_blocks_and_is_not_hammered() {
    let gate = AlertGate::new(&settings(format!("http://127.0.0.1:{}", closed_port()))).unwrap();
    let answer = gate.check("ALERTS", "web").await;
    assert_eq!(answer.result, QueryResult::Error);
    could_not_be_asked(&answer);
    let again = gate.check("ALERTS", "web").await;
    assert_eq!(again.result, QueryResult::Cached);
    assert_eq!(again.verdict, answer.verdict);
}

#[actix_web::test]
async fn a_silent_prometheus_times_out() {
    // The kernel accepts the connection; nobody ever answers.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let gate = AlertGate::new(&settings(url)).unwrap();
    let answer = gate.check("ALERTS", "web").await;
    assert_eq!(
        could_not_be_asked(&answer),
        "Prometheus could not be asked: timed out after 1 s"
    );
    drop(listener);
}

#[actix_web::test]
async fn credentials_stay_out_of_the_reasons() {
    let dir = tempfile::tempdir().unwrap();
    let mut with_token = settings(format!("http://127.0.0.1:{}", closed_port()));
    with_token.bearer_token_file = Some(dir.path().join("missing"));
    with_token.cache_seconds = 0;
    let gate = AlertGate::new(&with_token).unwrap();
    let why = could_not_be_asked(&gate.check("ALERTS", "web").await);
    assert!(why.contains("prometheus.bearer_token_file"), "{why}");

    // Credentials in the URL travel as Basic authentication, never in the request line, and
    // an error answer's reason does not repeat them.
    let (port, heads) = stand_in(vec![
        r#"{"status":"error","errorType":"bad_data","error":"x"}"#,
    ]);
    let url = format!("http://admin:hunter2@127.0.0.1:{port}/p");
    let gate = AlertGate::new(&settings(url)).unwrap();
    let answer = gate.check("ALERTS", "web").await;
    let head = heads.recv().unwrap();
    let request_line = head.lines().next().unwrap_or_default().to_string();
    assert!(
        request_line.starts_with("get /p/api/v1/query?query="),
        "{head}"
    );
    assert!(!request_line.contains("hunter2"), "{head}");
    // base64("admin:hunter2")
    assert!(
        head.contains("authorization: basic ywrtaw46ahvudgvymg=="),
        "{head}"
    );
    let why = could_not_be_asked(&answer);
    assert!(!why.contains("hunter2") && !why.contains("admin"), "{why}");
}

#[test]
fn unusable_settings_are_refused_in_words() {
    let mut bad_ca = settings("https://prom".to_owned());
    bad_ca.ca_file = Some(PathBuf::from("/nonexistent/ca.pem"));
    let why = AlertGate::new(&bad_ca).err().unwrap();
    assert!(
        why.contains("prometheus.ca_file /nonexistent/ca.pem"),
        "{why}"
    );
    let why = AlertGate::new(&settings("prom:9090".to_owned()))
        .err()
        .unwrap();
    assert!(why.contains("prometheus.url"), "{why}");
}

#[test]
fn the_gate_can_be_shared_by_workers() {
    fn shared<T: Send + Sync>() {}
    shared::<AlertGate>();
}

#[test]
fn labels_are_the_metrics() {
    let labels: Vec<&str> = QueryResult::ALL.iter().map(QueryResult::label).collect();
    assert_eq!(labels, ["cached", "quiet", "firing", "error"]);
}
