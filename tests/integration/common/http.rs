//! Talking to a server as its clients do: awc for requests shaped like Apache's, the real curl
//! for TLS with client certificates.

use serde_json::Value;

use super::pki;

/// An HTTP answer: status, parsed JSON body, and the Content-Type it came with.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
    pub raw: String,
    pub content_type: String,
    pub headers: Vec<(String, String)>,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Sends a request as Foreman's Apache would forward it: `headers` are the SSL-CLIENT-* headers.
/// One client per test thread: building one loads the system's CA bundle, which costs more CPU
/// than a request, and hundreds built at once starve the test's own runtime.
pub fn client() -> awc::Client {
    thread_local! {
        static CLIENT: awc::Client = awc::Client::builder()
            .connector(awc::Connector::new().limit(0))
            .timeout(std::time::Duration::from_secs(30))
            .finish();
    }
    CLIENT.with(Clone::clone)
}

pub async fn send(method: &str, url: &str, headers: &[(&str, String)]) -> Answer {
    send_json(method, url, headers, None).await
}

/// Like `send`, with an optional JSON body (sent as `application/json`).
pub async fn send_json(
    method: &str,
    url: &str,
    headers: &[(&str, String)],
    body: Option<Value>,
) -> Answer {
    let client = client();
    let method = awc::http::Method::from_bytes(method.as_bytes()).expect("method");
    let mut request = client.request(method, url);
    for (name, value) in headers {
        request = request.append_header((*name, value.as_str()));
    }
    let mut response = match body {
        Some(body) => request.send_json(&body).await.expect("request sent"),
        None => request.send().await.expect("request sent"),
    };
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let headers = response
        .headers()
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_str().unwrap_or_default().to_string()))
        .collect();
    let bytes = response.body().limit(1 << 20).await.expect("response body");
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Answer {
        status,
        body,
        raw: String::from_utf8_lossy(&bytes).into_owned(),
        content_type,
        headers,
    }
}

/// The cert header Apache sends for `cert` (PEM, newlines turned into spaces).
pub fn cert_header(cert: &foreman_dlm::demo::pki::Issued) -> Vec<(&'static str, String)> {
    vec![
        ("SSL-CLIENT-CERT", cert.apache_header()),
        ("SSL-CLIENT-VERIFY", "SUCCESS".to_string()),
    ]
}

/// What curl saw: the HTTP status (0 when the connection or handshake failed), the body, and
/// curl's own error text.
#[derive(Debug)]
pub struct CurlAnswer {
    pub status: u16,
    pub body: Value,
    pub error: String,
}

/// Runs the real curl, as a host's update client does. `args` come before the URL.
pub fn curl(method: &str, url: &str, args: &[&str]) -> CurlAnswer {
    let output = std::process::Command::new("curl")
        .args([
            "-sS",
            "--max-time",
            "20",
            "-X",
            method,
            "-H",
            "Content-Type: application/json",
        ])
        .args(["-w", "\n%{http_code}"])
        .args(args)
        .arg(url)
        .output()
        .expect("curl is installed");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let (body, status) = stdout.rsplit_once('\n').unwrap_or(("", stdout.as_ref()));
    CurlAnswer {
        status: status.trim().parse().unwrap_or(0),
        body: serde_json::from_str(body).unwrap_or(Value::Null),
        error: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// curl arguments for a host presenting `cert` and trusting the test CA for the server.
pub fn curl_cert_args(cert_file: &std::path::Path, key_file: &std::path::Path) -> Vec<String> {
    vec![
        "--cert".into(),
        cert_file.display().to_string(),
        "--key".into(),
        key_file.display().to_string(),
        "--cacert".into(),
        pki::shared().ca_file.display().to_string(),
    ]
}
