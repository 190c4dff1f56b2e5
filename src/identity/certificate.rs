//! Client certificates: decoding what Apache forwards, and verifying it ourselves.
//!
//! foreman-dlm does not take Apache's word for a certificate: it checks the chain, the validity
//! dates and (where configured) the CRL against Foreman's CA files, as mod_ssl would.

use std::fmt;
use std::path::{Path, PathBuf};

use openssl::stack::Stack;
use openssl::x509::store::{X509Lookup, X509Store, X509StoreBuilder};
use openssl::x509::verify::X509VerifyFlags;
use openssl::x509::{X509Crl, X509NameRef, X509Ref, X509StoreContext, X509VerifyResult, X509};
use openssl::{nid::Nid, ssl::SslFiletype};

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

/// Foreman's CA files turned into OpenSSL trust stores.
pub struct CertificateVerifier {
    without_crl: X509Store,
    /// Used for leaves whose issuer has a CRL; `None` when no CRL files are configured.
    with_crl: Option<X509Store>,
    crl_issuers: Vec<Vec<u8>>,
}

/// A CA or CRL file that cannot be used: a start-up error in plain words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustFileError(pub String);

impl fmt::Display for TrustFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TrustFileError {}

impl CertificateVerifier {
    pub fn load(
        ca_files: &[PathBuf],
        crl_files: &[PathBuf],
    ) -> Result<CertificateVerifier, TrustFileError> {
        let mut cas = Vec::new();
        for path in ca_files {
            let pem = read_file("client_cert.ca_files", path)?;
            let certs = X509::stack_from_pem(&pem).map_err(|_| {
                TrustFileError(format!(
                    "CA file {} is not a PEM certificate bundle",
                    path.display()
                ))
            })?;
            if certs.is_empty() {
                return Err(TrustFileError(format!(
                    "CA file {} contains no certificate",
                    path.display()
                )));
            }
            cas.extend(certs);
        }
        let mut crl_issuers = Vec::new();
        for path in crl_files {
            let pem = read_file("client_cert.crl_files", path)?;
            let crls = split_pem_crls(&pem);
            if crls.is_empty() {
                return Err(TrustFileError(format!(
                    "CRL file {} contains no CRL",
                    path.display()
                )));
            }
            for crl in crls {
                let crl = X509Crl::from_pem(crl.as_bytes()).map_err(|_| {
                    TrustFileError(format!(
                        "CRL file {} holds a CRL that cannot be parsed",
                        path.display()
                    ))
                })?;
                let issuer = crl.issuer_name();
                let signer = cas.iter().find(|ca| names_equal(ca.subject_name(), issuer));
                match signer {
                    Some(ca) if ca.public_key().is_ok_and(|key| crl.verify(&key).unwrap_or(false)) => {}
                    Some(_) => {
                        return Err(TrustFileError(format!(
                            "CRL file {} holds a CRL whose signature does not match its CA",
                            path.display()
                        )))
                    }
                    None => {
                        return Err(TrustFileError(format!(
                            "CRL file {} holds a CRL from an issuer that is not in client_cert.ca_files",
                            path.display()
                        )))
                    }
                }
                crl_issuers.push(
                    issuer
                        .to_der()
                        .map_err(|_| TrustFileError("CRL issuer name".into()))?,
                );
            }
        }
        let without_crl = build_store(&cas, &[], X509VerifyFlags::empty())?;
        let with_crl = if crl_files.is_empty() {
            None
        } else {
            Some(build_store(&cas, crl_files, X509VerifyFlags::CRL_CHECK)?)
        };
        Ok(CertificateVerifier {
            without_crl,
            with_crl,
            crl_issuers,
        })
    }

    /// Verifies chain, dates and, when the issuer has a configured CRL, revocation.
    pub fn verify(&self, cert: &X509Ref) -> Result<(), CertificateRejected> {
        let issuer_der = cert.issuer_name().to_der().unwrap_or_default();
        let store = match &self.with_crl {
            Some(store) if self.crl_issuers.contains(&issuer_der) => store,
            _ => &self.without_crl,
        };
        let failure = |_| CertificateRejected("certificate verification could not run".into());
        let untrusted = Stack::new().map_err(failure)?;
        let mut context = X509StoreContext::new().map_err(failure)?;
        let result = context
            .init(store, cert, &untrusted, |ctx| {
                let ok = ctx.verify_cert()?;
                Ok(if ok {
                    X509VerifyResult::OK
                } else {
                    ctx.error()
                })
            })
            .map_err(failure)?;
        if result == X509VerifyResult::OK {
            Ok(())
        } else {
            Err(CertificateRejected(format!(
                "certificate verification failed: {}",
                result.error_string()
            )))
        }
    }
}

fn read_file(key: &str, path: &Path) -> Result<Vec<u8>, TrustFileError> {
    std::fs::read(path)
        .map_err(|e| TrustFileError(format!("{key}: cannot read {} ({e})", path.display())))
}

fn build_store(
    cas: &[X509],
    crl_files: &[PathBuf],
    flags: X509VerifyFlags,
) -> Result<X509Store, TrustFileError> {
    let internal =
        |what: &str| TrustFileError(format!("cannot build the certificate trust store: {what}"));
    let mut builder = X509StoreBuilder::new().map_err(|_| internal("allocation"))?;
    for ca in cas {
        // The same CA listed in two bundles is harmless.
        let _ = builder.add_cert(ca.clone());
    }
    if !crl_files.is_empty() {
        let lookup = builder
            .add_lookup(X509Lookup::file())
            .map_err(|_| internal("CRL lookup"))?;
        for path in crl_files {
            lookup.load_crl_file(path, SslFiletype::PEM).map_err(|_| {
                TrustFileError(format!("CRL file {} cannot be loaded", path.display()))
            })?;
        }
    }
    builder
        .set_purpose(openssl::x509::X509PurposeId::SSL_CLIENT)
        .map_err(|_| internal("purpose"))?;
    builder.set_flags(flags).map_err(|_| internal("flags"))?;
    Ok(builder.build())
}

fn split_pem_crls(pem: &[u8]) -> Vec<String> {
    const BEGIN: &str = "-----BEGIN X509 CRL-----";
    const END: &str = "-----END X509 CRL-----";
    let text = String::from_utf8_lossy(pem);
    let mut found = Vec::new();
    let mut rest = text.as_ref();
    while let Some(start) = rest.find(BEGIN) {
        let Some(end) = rest[start..].find(END) else {
            break;
        };
        let end = start + end + END.len();
        found.push(rest[start..end].to_string());
        rest = &rest[end..];
    }
    found
}

fn names_equal(a: &X509NameRef, b: &X509NameRef) -> bool {
    match (a.to_der(), b.to_der()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
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
        let verifier = CertificateVerifier {
            without_crl: build_store(
                std::slice::from_ref(&ca.cert),
                &[],
                X509VerifyFlags::empty(),
            )
            .expect("store"),
            with_crl: None,
            crl_issuers: vec![],
        };
        assert_eq!(verifier.verify(&issued.cert), Ok(()));
        let stranger = crate::demo::pki::Authority::new("other").expect("CA");
        let foreign = stranger
            .issue("web1", crate::demo::pki::Validity::default())
            .expect("cert");
        assert!(verifier.verify(&foreign.cert).is_err());
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
