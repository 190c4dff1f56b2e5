//! Who is calling: a host, identified by its client certificate.
//!
//! The certificate reaches us through Foreman's Apache vhost as request headers. Headers are only
//! believed from a trusted proxy address, and even then the certificate is verified here against
//! Foreman's CA files; Apache's verdict header alone identifies nobody unless the operator opts in.

pub mod certificate;
pub mod passwords;
pub mod users;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use actix_web::http::header::{HeaderMap, HeaderName};
use diesel::pg::PgConnection;
use ipnet::IpNet;
use openssl::x509::X509Ref;

use crate::settings::ClientCertSettings;
use crate::storage::{hosts, locks, StorageError};
use certificate::{
    common_name, common_name_from_dn, decode_forwarded_pem, CertificateVerifier, TrustFileError,
};

/// A Foreman host, as identified by its certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    pub id: i32,
    pub name: String,
}

/// The outcome of looking at a request's certificate headers, before any database lookup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// A certificate (or, if allowed, a proxy-verified DN) vouches for this lower-cased CN.
    Verified { subject: String },
    /// Nothing identifies the caller; `reason` is for the log only.
    Missing { reason: String },
}

/// Reads and verifies host certificates from trusted proxies' headers.
pub struct ClientCertAuthenticator {
    verifier: CertificateVerifier,
    trusted_proxies: Vec<IpNet>,
    cert_header: HeaderName,
    verify_header: HeaderName,
    dn_header: HeaderName,
    trust_proxy_verification: bool,
    /// Whether Foreman's database has Katello's subscription facets; asked once.
    katello_facets: OnceLock<bool>,
    verified: VerifiedCache,
}

/// Recently verified certificates: parsing and verifying a certificate is the largest CPU cost
/// of a lock request. Keyed by the SHA-256 of the exact bytes presented (a collision would have to
/// be found to borrow another host's entry), kept `VERIFIED_TTL` at most and never past the
/// certificate's notAfter, bounded in size. Only successes are kept; the CRLs are loaded at
/// start-up, so a fresh verification could not see a newer revocation either.
#[derive(Default)]
struct VerifiedCache {
    entries: Mutex<HashMap<[u8; 32], (String, Instant)>>,
}

const VERIFIED_TTL: Duration = Duration::from_secs(60);
const VERIFIED_MAX_ENTRIES: usize = 10_000;

impl VerifiedCache {
    fn get(&self, key: &[u8; 32]) -> Option<String> {
        let entries = self.entries.lock().ok()?;
        let (subject, valid_until) = entries.get(key)?;
        (Instant::now() < *valid_until).then(|| subject.clone())
    }

    fn insert(&self, key: [u8; 32], subject: &str, cert: &X509Ref) {
        let now = Instant::now();
        let valid_until = now + VERIFIED_TTL.min(time_left(cert));
        if let Ok(mut entries) = self.entries.lock() {
            if entries.len() >= VERIFIED_MAX_ENTRIES {
                entries.retain(|_, (_, until)| *until > now);
                if entries.len() >= VERIFIED_MAX_ENTRIES {
                    entries.clear();
                }
            }
            entries.insert(key, (subject.to_string(), valid_until));
        }
    }
}

/// How long until the certificate's notAfter (zero if unknown or past).
fn time_left(cert: &X509Ref) -> Duration {
    let Ok(now) = openssl::asn1::Asn1Time::from_unix(
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64),
    ) else {
        return Duration::ZERO;
    };
    now.diff(cert.not_after())
        .map(|diff| {
            let seconds = i64::from(diff.days) * 86_400 + i64::from(diff.secs);
            Duration::from_secs(u64::try_from(seconds).unwrap_or(0))
        })
        .unwrap_or(Duration::ZERO)
}

impl ClientCertAuthenticator {
    pub fn from_settings(
        settings: &ClientCertSettings,
    ) -> Result<ClientCertAuthenticator, TrustFileError> {
        let header = |key: &str, value: &str| {
            HeaderName::try_from(value)
                .map_err(|_| TrustFileError(format!("{key} is not a valid header name")))
        };
        Ok(ClientCertAuthenticator {
            verifier: CertificateVerifier::load(&settings.ca_files, &settings.crl_files)?,
            trusted_proxies: settings.trusted_proxies.clone(),
            cert_header: header("client_cert.cert_header", &settings.cert_header)?,
            verify_header: header("client_cert.verify_header", &settings.verify_header)?,
            dn_header: header("client_cert.dn_header", &settings.dn_header)?,
            trust_proxy_verification: settings.trust_proxy_verification,
            katello_facets: OnceLock::new(),
            verified: VerifiedCache::default(),
        })
    }

    pub fn is_trusted_proxy(&self, peer: IpAddr) -> bool {
        let peer = match peer {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(peer, IpAddr::V4),
            v4 => v4,
        };
        self.trusted_proxies.iter().any(|net| net.contains(&peer))
    }

    /// Looks at the certificate headers of a request that arrived from `peer`.
    pub fn credential_from_headers(&self, peer: Option<IpAddr>, headers: &HeaderMap) -> Credential {
        let missing = |reason: String| Credential::Missing { reason };
        let sent_any = [&self.cert_header, &self.verify_header, &self.dn_header]
            .iter()
            .any(|name| headers.contains_key(*name));
        let trusted = peer.is_some_and(|p| self.is_trusted_proxy(p));
        if !trusted {
            if sent_any {
                log::warn!(
                    "ignoring client certificate headers from {}, which is not a trusted proxy",
                    peer.map_or_else(|| "an unknown peer".to_string(), |p| p.to_string())
                );
                return missing("certificate headers from an untrusted peer".into());
            }
            return missing("no client certificate".into());
        }
        let verdict = match single_header(headers, &self.verify_header) {
            Ok(value) => value,
            Err(reason) => return missing(reason),
        };
        if let Some(verdict) = verdict.as_deref() {
            if verdict != "SUCCESS"
                && verdict != "(null)"
                && !verdict.is_empty()
                && verdict != "NONE"
            {
                return missing(format!(
                    "the proxy reports certificate verification {verdict:?}"
                ));
            }
        }
        match single_header(headers, &self.cert_header) {
            Err(reason) => missing(reason),
            Ok(Some(pem)) => match self.verified_subject(&pem) {
                Ok(Some(subject)) => Credential::Verified { subject },
                Ok(None) => self.credential_from_dn(headers, verdict.as_deref()),
                Err(reason) => missing(reason),
            },
            Ok(None) => self.credential_from_dn(headers, verdict.as_deref()),
        }
    }

    /// The credential of a direct TLS connection: only the certificate the client presented in the
    /// handshake counts, verified like a forwarded one; certificate headers are ignored there.
    pub fn credential_from_peer_certificate(&self, cert: Option<&X509Ref>) -> Credential {
        let Some(cert) = cert else {
            return Credential::Missing {
                reason: "no client certificate in the TLS handshake".into(),
            };
        };
        let key = cert
            .to_der()
            .map(|der| openssl::sha::sha256(&der))
            .unwrap_or_default();
        if let Some(subject) = self.verified.get(&key) {
            return Credential::Verified { subject };
        }
        match self.verifier.verify(cert).and_then(|()| common_name(cert)) {
            Ok(subject) => {
                self.verified.insert(key, &subject, cert);
                Credential::Verified { subject }
            }
            Err(rejected) => Credential::Missing { reason: rejected.0 },
        }
    }

    /// Maps a verified certificate subject to a Foreman host — `hosts.certname`, then `hosts.name`
    /// (Puppet certificates), then Katello's subscription facet uuid (subscription-manager
    /// consumer certificates) where Katello's table exists — and records the host's check-in, as
    /// the plugin does on every host request. The common case is one statement.
    pub fn find_host_checking_in(
        &self,
        conn: &mut PgConnection,
        subject: &str,
    ) -> Result<Option<Host>, StorageError> {
        let (host, checked_in) = match hosts::find_and_check_in(conn, subject)? {
            Some(found) => (
                Host {
                    id: found.id,
                    name: found.name,
                },
                found.checked_in,
            ),
            None => {
                if !self.has_katello_facets(conn)? {
                    return Ok(None);
                }
                match hosts::find_by_subscription_uuid(conn, subject)? {
                    Some(row) => (
                        Host {
                            id: row.id,
                            name: row.name,
                        },
                        false,
                    ),
                    None => return Ok(None),
                }
            }
        };
        if !checked_in {
            locks::record_checkin(conn, host.id)?;
        }
        Ok(Some(host))
    }

    fn has_katello_facets(&self, conn: &mut PgConnection) -> Result<bool, StorageError> {
        if let Some(present) = self.katello_facets.get() {
            return Ok(*present);
        }
        let present = hosts::table_exists(conn, "katello_subscription_facets")?;
        Ok(*self.katello_facets.get_or_init(|| present))
    }

    fn verified_subject(&self, pem: &str) -> Result<Option<String>, String> {
        let key = openssl::sha::sha256(pem.as_bytes());
        if let Some(subject) = self.verified.get(&key) {
            return Ok(Some(subject));
        }
        let Some(cert) = decode_forwarded_pem(pem).map_err(|e| e.0)? else {
            return Ok(None);
        };
        self.verifier.verify(&cert).map_err(|e| e.0)?;
        let subject = common_name(&cert).map_err(|e| e.0)?;
        self.verified.insert(key, &subject, &cert);
        Ok(Some(subject))
    }

    /// The DN-only path: only when the operator trusts the proxy's own verification.
    fn credential_from_dn(&self, headers: &HeaderMap, verdict: Option<&str>) -> Credential {
        if !self.trust_proxy_verification {
            return Credential::Missing {
                reason: "no client certificate".into(),
            };
        }
        if verdict != Some("SUCCESS") {
            return Credential::Missing {
                reason: "no certificate and the proxy did not report a verified one".into(),
            };
        }
        match single_header(headers, &self.dn_header) {
            Ok(Some(dn)) => match common_name_from_dn(&dn) {
                Some(subject) => Credential::Verified { subject },
                None => Credential::Missing {
                    reason: "the forwarded DN has no CN".into(),
                },
            },
            Ok(None) => Credential::Missing {
                reason: "the proxy reported a verified certificate but sent no DN".into(),
            },
            Err(reason) => Credential::Missing { reason },
        }
    }
}

/// One header value as text. A header sent twice is refused: a trusted proxy sets it exactly once,
/// so a second copy means something upstream let a client's own header through.
fn single_header(headers: &HeaderMap, name: &HeaderName) -> Result<Option<String>, String> {
    let mut values = headers.get_all(name);
    let Some(first) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(format!("header {name} was sent more than once"));
    }
    first
        .to_str()
        .map(|v| Some(v.to_string()))
        .map_err(|_| format!("header {name} is not printable ASCII"))
}
