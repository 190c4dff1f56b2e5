//! The HTTP client both receivers are called with, and how an answer is judged.

use std::path::Path;
use std::time::Duration;

use awc::http::StatusCode;
use openssl::ssl::{SslConnector, SslFiletype, SslMethod};

use super::Delivery;

/// Who the client is, over TLS: a client certificate and key (smart proxies demand Foreman's),
/// and the CA file that vouches for the receiver (else the system's CAs).
pub struct Identity<'a> {
    pub certificate: Option<&'a Path>,
    pub key: Option<&'a Path>,
    pub ca_file: Option<&'a Path>,
}

/// A client with `identity` and `timeout`. An unreadable file is an error here, reported on
/// every attempt until it is fixed.
pub fn client(identity: &Identity<'_>, timeout: Duration) -> Result<awc::Client, String> {
    let connector = awc::Connector::new()
        .openssl(tls(identity)?)
        .timeout(timeout);
    Ok(awc::Client::builder()
        .connector(connector)
        .timeout(timeout)
        .disable_redirects()
        .finish())
}

/// The TLS side of [`client`]; `check-config` loads it to test the files.
pub fn tls(identity: &Identity<'_>) -> Result<SslConnector, String> {
    let mut tls = SslConnector::builder(SslMethod::tls_client())
        .map_err(|e| format!("cannot set up TLS: {e}"))?;
    if let Some(ca_file) = identity.ca_file {
        tls.set_ca_file(ca_file)
            .map_err(|e| format!("cannot read the CA file {}: {e}", ca_file.display()))?;
    }
    if let (Some(certificate), Some(key)) = (identity.certificate, identity.key) {
        tls.set_certificate_chain_file(certificate).map_err(|e| {
            format!(
                "cannot read the client certificate {}: {e}",
                certificate.display()
            )
        })?;
        tls.set_private_key_file(key, SslFiletype::PEM)
            .map_err(|e| format!("cannot read the client key {}: {e}", key.display()))?;
        tls.check_private_key()
            .map_err(|e| format!("the client key does not match its certificate: {e}"))?;
    }
    Ok(tls.build())
}

/// 2xx is delivered; a 4xx other than 408 and 429 is refused for good (asking again cannot
/// help); anything else is worth another try.
pub fn judge(status: StatusCode, what: &str) -> Delivery {
    if status.is_success() {
        Delivery::Done
    } else if status.is_client_error()
        && status != StatusCode::REQUEST_TIMEOUT
        && status != StatusCode::TOO_MANY_REQUESTS
    {
        Delivery::Refused(format!("{what} answered {status}"))
    } else {
        Delivery::Retry(format!("{what} answered {status}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_judged() {
        assert_eq!(judge(StatusCode::OK, "x"), Delivery::Done);
        assert_eq!(judge(StatusCode::NO_CONTENT, "x"), Delivery::Done);
        assert!(matches!(
            judge(StatusCode::BAD_REQUEST, "x"),
            Delivery::Refused(_)
        ));
        assert!(matches!(
            judge(StatusCode::TOO_MANY_REQUESTS, "x"),
            Delivery::Retry(_)
        ));
        assert!(matches!(
            judge(StatusCode::BAD_GATEWAY, "x"),
            Delivery::Retry(_)
        ));
    }
}
