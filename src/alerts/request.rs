//! The instant query itself: where it goes, with which credentials, within which time.

use std::path::{Path, PathBuf};
use std::time::Duration;

use awc::error::{ConnectError, SendRequestError};
use awc::http::header;
use openssl::ssl::{SslConnector, SslMethod};
use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

use super::answer::parse_answer;
use super::Verdict;
use crate::settings::PrometheusSettings;

/// Everything but RFC 3986's unreserved characters: PromQL is full of `{}"=~+&#`.
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// The most of an answer read; more than any list of alerts worth showing.
const MOST_BYTES: usize = 4 * 1024 * 1024;

pub struct Target {
    /// `…/api/v1/query`, without the URL's credentials.
    endpoint: String,
    basic: Option<(String, String)>,
    bearer_token_file: Option<PathBuf>,
    /// Kept rather than a client: awc's client belongs to one thread, and the gate is shared by
    /// the HTTP workers.
    tls: SslConnector,
    timeout: Duration,
}

impl Target {
    pub fn new(settings: &PrometheusSettings) -> Result<Target, String> {
        let (url, basic) = split_credentials(&settings.url);
        let mut tls = SslConnector::builder(SslMethod::tls_client())
            .map_err(|e| format!("cannot set up TLS: {e}"))?;
        if let Some(ca_file) = &settings.ca_file {
            tls.set_ca_file(ca_file).map_err(|e| {
                format!("cannot read prometheus.ca_file {}: {e}", ca_file.display())
            })?;
        }
        Ok(Target {
            endpoint: format!("{}/api/v1/query", url.trim_end_matches('/')),
            basic,
            bearer_token_file: settings.bearer_token_file.clone(),
            tls: tls.build(),
            timeout: Duration::from_secs(settings.timeout_seconds),
        })
    }

    /// Asks Prometheus for `expression`'s instant vector; the error says why it could not be
    /// asked, in words fit for a host (no URL, no credentials).
    pub async fn ask(&self, expression: &str) -> Result<Verdict, String> {
        let token = match &self.bearer_token_file {
            Some(path) => Some(read_token(path)?),
            None => None,
        };
        // A client per query: queries are few (the cache), and awc's cannot cross threads.
        let connector = awc::Connector::new()
            .openssl(self.tls.clone())
            .timeout(self.timeout);
        let client = awc::Client::builder()
            .connector(connector)
            .timeout(self.timeout)
            .disable_redirects()
            .finish();
        let url = format!(
            "{}?query={}",
            self.endpoint,
            utf8_percent_encode(expression, QUERY_VALUE)
        );
        let mut request = client
            .get(url)
            .insert_header((header::ACCEPT, "application/json"));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        } else if let Some((user, password)) = &self.basic {
            request = request.basic_auth(user, password);
        }
        let timed_out = || format!("timed out after {} s", self.timeout.as_secs());
        let exchange = async {
            let mut response = request.send().await.map_err(|e| match e {
                SendRequestError::Timeout | SendRequestError::Connect(ConnectError::Timeout) => {
                    timed_out()
                }
                e => e.to_string(),
            })?;
            let body = response
                .body()
                .limit(MOST_BYTES)
                .await
                .map_err(|e| format!("cannot read the answer: {e}"))?;
            Ok::<_, String>((response.status().as_u16(), body))
        };
        // awc's own timeouts leave the body's reading unbounded.
        let (status, body) = tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| timed_out())??;
        parse_answer(status, &body)
    }
}

/// The URL without `user:password@`, and those credentials (percent-decoded), if any.
fn split_credentials(url: &str) -> (String, Option<(String, String)>) {
    let Some((scheme, rest)) = url.split_once("://") else {
        return (url.to_owned(), None);
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(end);
    let Some((userinfo, host)) = authority.rsplit_once('@') else {
        return (url.to_owned(), None);
    };
    let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
    let decode = |text: &str| percent_decode_str(text).decode_utf8_lossy().into_owned();
    (
        format!("{scheme}://{host}{path}"),
        Some((decode(user), decode(password))),
    )
}

/// The token, read again each time so that a rotated one is used. Its text is never part of an
/// error.
fn read_token(path: &Path) -> Result<String, String> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        format!(
            "cannot read prometheus.bearer_token_file {}: {e}",
            path.display()
        )
    })?;
    let token = text.trim();
    if token.is_empty() {
        return Err(format!(
            "prometheus.bearer_token_file {} is empty",
            path.display()
        ));
    }
    if !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(format!(
            "prometheus.bearer_token_file {} holds characters a token cannot have",
            path.display()
        ));
    }
    Ok(token.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_leave_the_url() {
        assert_eq!(
            split_credentials("https://u%40x:p%3Aw@prom:9090/prefix/"),
            (
                "https://prom:9090/prefix/".to_owned(),
                Some(("u@x".to_owned(), "p:w".to_owned()))
            )
        );
        assert_eq!(
            split_credentials("http://user@prom"),
            (
                "http://prom".to_owned(),
                Some(("user".to_owned(), String::new()))
            )
        );
        assert_eq!(
            split_credentials("http://prom/a@b"),
            ("http://prom/a@b".to_owned(), None)
        );
    }

    #[test]
    fn tokens_are_trimmed_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, "  s3cr3t.token\n").unwrap();
        assert_eq!(read_token(&path).unwrap(), "s3cr3t.token");
        std::fs::write(&path, "two words").unwrap();
        let why = read_token(&path).unwrap_err();
        assert!(!why.contains("two") && why.contains("cannot have"), "{why}");
        std::fs::write(&path, "\n").unwrap();
        assert!(read_token(&path).unwrap_err().contains("empty"));
        assert!(read_token(&dir.path().join("missing"))
            .unwrap_err()
            .contains("cannot read"));
    }

    #[test]
    fn queries_are_encoded_whole() {
        let encoded = utf8_percent_encode(r#"ALERTS{lock="a&b #ü"}"#, QUERY_VALUE).to_string();
        assert_eq!(encoded, "ALERTS%7Block%3D%22a%26b%20%23%C3%BC%22%7D");
    }
}
