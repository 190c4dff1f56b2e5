//! Debian's Prometheus server scraping the service's metrics listener: the real parser of the
//! exposition format, and the real query engine for the alert rules and the dashboard.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::receivers::free_port;

const PROMETHEUS: &str = "/usr/bin/prometheus";
pub const PROMTOOL: &str = "/usr/bin/promtool";

/// Whether Prometheus can run here: skipped with a notice, except under CI (CI=true), where
/// `.ci/run` installs it and a missing binary is a failure.
pub fn available() -> bool {
    if Path::new(PROMETHEUS).exists() && Path::new(PROMTOOL).exists() {
        return true;
    }
    assert!(
        std::env::var("CI").is_err(),
        "prometheus is not installed; .ci/run installs Debian's prometheus"
    );
    eprintln!("NOTICE: {PROMETHEUS} not found; skipping (apt-get install prometheus)");
    false
}

/// A server with two hosts (web1, web2: their certificate headers) and a Prometheus scraping
/// its metrics listener.
pub struct ScrapedApp {
    pub app: super::TestApp,
    pub web1: Vec<(&'static str, String)>,
    pub web2: Vec<(&'static str, String)>,
    pub prometheus: Prometheus,
}

impl ScrapedApp {
    pub fn spawn() -> ScrapedApp {
        let app = super::TestApp::spawn();
        let (_, web1) = app.host("web1.example.com");
        let (_, web2) = app.host("web2.example.com");
        let prometheus = Prometheus::scraping_server(&app.server);
        ScrapedApp {
            web1: super::cert_header(&web1),
            web2: super::cert_header(&web2),
            app,
            prometheus,
        }
    }
}

pub struct Prometheus {
    port: u16,
    child: Child,
    _dir: tempfile::TempDir,
}

impl Prometheus {
    /// Scrapes the metrics listener of `server` every second as job `foreman-dlm`.
    pub fn scraping_server(server: &super::Server) -> Prometheus {
        let metrics_url = server.metrics_url("/metrics");
        let target = metrics_url
            .trim_start_matches("http://")
            .trim_end_matches("/metrics");
        Prometheus::scraping(target)
    }

    /// Scrapes `target` (host:port) every second as job `foreman-dlm`.
    pub fn scraping(target: &str) -> Prometheus {
        Prometheus::scraping_with_rules(target, None)
    }

    /// The same, evaluating `rules` (a rule file's YAML) every second.
    pub fn scraping_with_rules(target: &str, rules: Option<&str>) -> Prometheus {
        let dir = tempfile::tempdir().expect("dir");
        let config = dir.path().join("prometheus.yml");
        let rule_files = match rules {
            Some(rules) => {
                let file = dir.path().join("rules.yml");
                std::fs::write(&file, rules).expect("rules");
                format!("rule_files:\n  - {}\n", file.display())
            }
            None => String::new(),
        };
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n{rule_files}\
                 scrape_configs:\n  - job_name: foreman-dlm\n    static_configs:\n      \
                 - targets: ['{target}']\n"
            ),
        )
        .expect("config");
        let port = free_port();
        let child = Command::new(PROMETHEUS)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start prometheus");
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "prometheus did not start listening"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Prometheus {
            port,
            child,
            _dir: dir,
        }
    }

    /// Where the HTTP API listens, for the service's `[prometheus] url`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub async fn api(&self, path: &str) -> Value {
        let url = format!("http://127.0.0.1:{}{path}", self.port);
        super::send("GET", &url, &[]).await.body
    }

    /// A value of a PromQL expression that `accept`s, once there is one (waits for scrapes).
    pub async fn value(&self, expr: &str, accept: impl Fn(f64) -> bool) -> f64 {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let encoded: String =
                percent_encoding::utf8_percent_encode(expr, percent_encoding::NON_ALPHANUMERIC)
                    .to_string();
            let answer = self.api(&format!("/api/v1/query?query={encoded}")).await;
            // The first series whose value is accepted (a vector may hold NaN for some series).
            let value = answer["data"]["result"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|series| series["value"][1].as_str()?.parse::<f64>().ok())
                .find(|v| accept(*v));
            if let Some(v) = value {
                return v;
            }
            assert!(Instant::now() < deadline, "{expr}: {answer}");
            actix_web::rt::time::sleep(Duration::from_millis(300)).await;
        }
    }

    /// Metric name → type, as Prometheus read them from the scrapes, once `names` are all there.
    pub async fn metadata(&self, names: &[&str]) -> std::collections::BTreeMap<String, String> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let answer = self
                .api("/api/v1/targets/metadata?match_target=%7Bjob%3D%22foreman-dlm%22%7D")
                .await;
            let types: std::collections::BTreeMap<String, String> = answer["data"]
                .as_array()
                .map(|items| {
                    items
                        .iter()
                        .filter_map(|m| {
                            Some((
                                m["metric"].as_str()?.to_string(),
                                m["type"].as_str()?.to_string(),
                            ))
                        })
                        .collect()
                })
                .unwrap_or_default();
            if names.iter().all(|n| types.contains_key(*n)) || Instant::now() > deadline {
                return types;
            }
            actix_web::rt::time::sleep(Duration::from_millis(300)).await;
        }
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A scrape target whose one series the test switches: `cluster_unhealthy{cluster="…"}` is 1
/// for the clusters set unhealthy, 0 for the others; a rule turns 1 into a firing alert.
pub struct Exporter {
    pub port: u16,
    unhealthy: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    clusters: Vec<String>,
}

impl Exporter {
    pub fn start(clusters: &[&str]) -> Exporter {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let unhealthy = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
        let clusters: Vec<String> = clusters.iter().map(|c| c.to_string()).collect();
        let (shared, all) = (unhealthy.clone(), clusters.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut request = [0u8; 4096];
                let _ = stream.read(&mut request);
                let down = shared.lock().map(|d| d.clone()).unwrap_or_default();
                let body: String = all
                    .iter()
                    .map(|c| {
                        let value = u8::from(down.contains(c));
                        format!("cluster_unhealthy{{cluster=\"{c}\"}} {value}\n")
                    })
                    .collect();
                let _ = write!(
                    stream,
                    "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\n\
                     Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        Exporter {
            port,
            unhealthy,
            clusters,
        }
    }

    pub fn target(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Marks `cluster` unhealthy (or healthy again).
    pub fn set_unhealthy(&self, cluster: &str, unhealthy: bool) {
        assert!(self.clusters.iter().any(|c| c == cluster));
        if let Ok(mut down) = self.unhealthy.lock() {
            down.retain(|c| c != cluster);
            if unhealthy {
                down.push(cluster.to_string());
            }
        }
    }
}

/// A rule that fires `ClusterUnhealthy` (with the cluster's label) while the exporter says so.
pub const CLUSTER_RULES: &str = "groups:\n  - name: clusters\n    rules:\n      \
    - alert: ClusterUnhealthy\n        expr: cluster_unhealthy > 0\n        \
    labels:\n          severity: critical\n";
