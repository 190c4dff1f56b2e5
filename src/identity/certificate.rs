//! Client certificates as they arrive: decoding what Apache forwards, and reading the subject.
//! Verification against the CAs is `trust.rs`.

use std::fmt;

use openssl::nid::Nid;
use openssl::x509::{X509Ref, X509};

/// A forwarded certificate that cannot be used. The text goes to the log, never to the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateRejected(pub String);

impl fmt::Display for CertificateRejected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

const PEM_BEGIN: &str = "-----BEGIN CERTIFICATE-----";
const PEM_END: &str = "-----END CERTIFICATE-----";

/// Decodes the certificate header as Foreman's Apache vhost sends it.
///
/// mod_headers replaces the PEM's newlines with spaces and renders an absent certificate as the
/// literal `(null)`; other proxies send real newlines or a URL-escaped PEM. Only the first
/// certificate counts: `SSL_CLIENT_CERT` is the leaf, and intermediates must be in `ca_files`.
pub fn decode_forwarded_pem(value: &str) -> Result<Option<X509>, CertificateRejected> {
    let value = value.trim();
    if value.is_empty() || value == "(null)" {
        return Ok(None);
    }
    let decoded;
    let text = if value.contains('%') {
        decoded = percent_encoding::percent_decode_str(value)
            .decode_utf8()
            .map_err(|_| CertificateRejected("URL-escaped certificate is not UTF-8".into()))?;
        decoded.as_ref()
    } else {
        value
    };
    let start = text
        .find(PEM_BEGIN)
        .ok_or_else(|| CertificateRejected("no PEM certificate in the header".into()))?
        + PEM_BEGIN.len();
    let end = text[start..]
        .find(PEM_END)
        .ok_or_else(|| CertificateRejected("the PEM certificate is truncated".into()))?
        + start;
    // The header carries the client's own certificate only (mod_ssl's SSL_CLIENT_CERT); a bundle
    // there is not something a proxy produces, so it is refused rather than guessed at.
    if text[end..].contains(PEM_BEGIN) {
        return Err(CertificateRejected(
            "the header holds more than one certificate".into(),
        ));
    }
    let base64: String = text[start..end]
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    let der = openssl::base64::decode_block(&base64)
        .map_err(|_| CertificateRejected("the PEM certificate is not valid base64".into()))?;
    X509::from_der(&der)
        .map(Some)
        .map_err(|_| CertificateRejected("the PEM data is not an X.509 certificate".into()))
}

/// The subject's first CN, lower-cased as the plugin does. A CN with a NUL byte is refused: C
/// string handling elsewhere would see a shorter name than the one that was signed.
pub fn common_name(cert: &X509Ref) -> Result<String, CertificateRejected> {
    let entry = cert
        .subject_name()
        .entries_by_nid(Nid::COMMONNAME)
        .next()
        .ok_or_else(|| CertificateRejected("the certificate subject has no CN".into()))?;
    let text = entry
        .data()
        .to_string()
        .map_err(|_| CertificateRejected("the certificate CN is not valid text".into()))?;
    if text.contains('\0') {
        return Err(CertificateRejected(
            "the certificate CN contains a NUL byte".into(),
        ));
    }
    // OpenSSL's conversion replaces bytes that are not UTF-8; such a CN names no Foreman host.
    if text.contains('\u{FFFD}') {
        return Err(CertificateRejected(
            "the certificate CN is not valid UTF-8".into(),
        ));
    }
    if text.is_empty() || text.chars().any(char::is_control) {
        return Err(CertificateRejected(
            "the certificate CN is empty or has control characters".into(),
        ));
    }
    Ok(text.to_lowercase())
}

/// The CN out of a forwarded subject DN, with Foreman's own rule (`CN=([^\s/,]+)`, any case),
/// lower-cased. Works for both the RFC 2253 and the legacy `/CN=…/O=…` formats.
pub fn common_name_from_dn(dn: &str) -> Option<String> {
    let lower = dn.to_ascii_lowercase();
    let at = lower.find("cn=")? + 3;
    let cn: String = dn[at..]
        .chars()
        .take_while(|c| !c.is_whitespace() && *c != '/' && *c != ',')
        .collect();
    (!cn.is_empty() && !cn.chars().any(char::is_control)).then(|| cn.to_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absent_certificate_forms() {
        assert_eq!(decode_forwarded_pem("").expect("empty"), None);
        assert_eq!(decode_forwarded_pem("(null)").expect("null"), None);
        assert_eq!(decode_forwarded_pem("  (null) ").expect("null"), None);
    }

    #[test]
    fn forwarded_forms_of_one_certificate_decode_alike() {
        let ca = crate::demo::pki::Authority::new("test CA").expect("CA");
        let issued = ca
            .issue("Web1.Example.com", crate::demo::pki::Validity::default())
            .expect("cert");
        let pem = issued.cert_pem();
        let escaped =
            percent_encoding::utf8_percent_encode(&pem, percent_encoding::NON_ALPHANUMERIC)
                .to_string();
        for form in [
            pem.clone(),
            issued.apache_header(),
            escaped,
            pem.replace('\n', "\r\n"),
        ] {
            let cert = decode_forwarded_pem(&form)
                .expect("decodes")
                .expect("present");
            assert_eq!(
                cert.to_der().expect("der"),
                issued.cert.to_der().expect("der")
            );
            assert_eq!(common_name(&cert).as_deref(), Ok("web1.example.com"));
        }
    }

    #[test]
    fn malformed_certificates_are_rejected() {
        for bad in [
            "garbage",
            "-----BEGIN CERTIFICATE----- AAAA",
            "-----BEGIN CERTIFICATE----- !!!! -----END CERTIFICATE-----",
            "-----BEGIN CERTIFICATE----- AAAA -----END CERTIFICATE-----",
            "%FF%FE-----BEGIN CERTIFICATE-----",
        ] {
            assert!(decode_forwarded_pem(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn dn_common_name_follows_foremans_rule() {
        assert_eq!(
            common_name_from_dn("CN=Host1.Example.COM,OU=x,O=y").as_deref(),
            Some("host1.example.com")
        );
        assert_eq!(
            common_name_from_dn("/O=y/cn=host2.example.com/OU=z").as_deref(),
            Some("host2.example.com")
        );
        assert_eq!(common_name_from_dn("O=y,OU=z"), None);
        assert_eq!(common_name_from_dn("CN=,O=y"), None);
    }
}
