//! Who is calling: a host by its client certificate, or a Foreman user by HTTP Basic (`users`).
//! This layer only identifies; what an identity may do is the lock domain's business.
//!
//! A certificate reaches us either in the TLS handshake of the direct listener, or through
//! Foreman's Apache as request headers. Headers are only believed from Apache (the Unix socket,
//! or a trusted proxy address), and even then the certificate is verified here against Foreman's
//! CA files; Apache's verdict header alone identifies nobody unless the operator opts in.

pub mod certificate;
pub mod hashing;
pub mod login_limits;
pub mod passwords;
pub mod sessions;
pub mod trust;
pub mod trust_store;
pub mod users;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use actix_web::http::header::{HeaderMap, HeaderName};
use ipnet::IpNet;
use openssl::x509::{X509Ref, X509};

use crate::settings::ClientCertSettings;
use certificate::{common_name, common_name_from_dn, decode_forwarded_pem};
use trust::{TrustFileError, TrustFiles};
use trust_store::{Reload, TrustStore};

/// Which kind of host a CA vouches for, and so how a certificate's subject names a host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CertificateKind {
    /// Puppet agent certificates: CN = certname (`hosts.certname`, then `hosts.name`).
    Puppet,
    /// subscription-manager consumer certificates: CN = consumer uuid (Katello's facet).
    Katello,
}

impl CertificateKind {
    pub fn describe(self) -> &'static str {
        match self {
            CertificateKind::Puppet => "Puppet (hosts.certname, then hosts.name)",
            CertificateKind::Katello => "Katello (subscription-manager consumer uuid)",
        }
    }
}

/// A verified certificate: the lower-cased CN and what kind of name it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostCertificate {
    pub kind: CertificateKind,
    pub subject: String,
}

/// The outcome of looking at a request's certificate, before any database lookup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    Verified(HostCertificate),
    /// Nothing identifies the caller; `reason` is for the log only.
    Missing {
        reason: String,
    },
}

impl Credential {
    fn missing(reason: impl Into<String>) -> Credential {
        Credential::Missing {
            reason: reason.into(),
        }
    }
}

/// How a request reached the service: who may have set its certificate headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// The Unix socket: only Apache (the socket's group) can connect.
    UnixSocket,
    Tcp(IpAddr),
    /// The direct TLS listener: only the handshake's certificate counts.
    Tls,
}

/// What a request presents, read synchronously; verifying a new certificate comes after.
pub enum Presented {
    Decided(Credential),
    /// A certificate not seen (verified) recently: decode and verify it off the HTTP worker.
    Unverified {
        key: [u8; 32],
        cert: Unverified,
    },
}

/// A certificate still to be checked: as the proxy forwarded it, or from the TLS handshake.
pub enum Unverified {
    Forwarded(String),
    Handshake(X509),
}

/// Reads and verifies host certificates.
pub struct ClientCertAuthenticator {
    trust: TrustStore,
    trusted_proxies: Vec<IpNet>,
    cert_header: HeaderName,
    verify_header: HeaderName,
    dn_header: HeaderName,
    trust_proxy_verification: bool,
    verified: VerifiedCache,
}

/// Recently verified certificates: parsing and verifying is the largest CPU cost of a lock
/// request. Keyed by the SHA-256 of the exact bytes presented (a collision would have to be found
/// to borrow another host's entry), kept `VERIFIED_TTL` at most and never past the certificate's
/// notAfter, bounded in size, and emptied whenever the CA or CRL files are re-read.
#[derive(Default)]
struct VerifiedCache {
    entries: Mutex<HashMap<[u8; 32], (HostCertificate, Instant)>>,
}

const VERIFIED_TTL: Duration = Duration::from_secs(60);
const VERIFIED_MAX_ENTRIES: usize = 10_000;

impl VerifiedCache {
    fn get(&self, key: &[u8; 32]) -> Option<HostCertificate> {
        let entries = self.entries.lock().ok()?;
        let (verified, valid_until) = entries.get(key)?;
        (Instant::now() < *valid_until).then(|| verified.clone())
    }

    fn insert(&self, key: [u8; 32], verified: &HostCertificate, cert: &X509Ref) {
        let now = Instant::now();
        let valid_until = now + VERIFIED_TTL.min(time_left(cert));
        if let Ok(mut entries) = self.entries.lock() {
            if entries.len() >= VERIFIED_MAX_ENTRIES {
                entries.retain(|_, (_, until)| *until > now);
                if entries.len() >= VERIFIED_MAX_ENTRIES {
                    entries.clear();
                }
            }
            entries.insert(key, (verified.clone(), valid_until));
        }
    }

    fn clear(&self) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.clear();
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
            trust: TrustStore::load(trust_files(settings))?,
            trusted_proxies: settings.trusted_proxies.clone(),
            cert_header: header("client_cert.cert_header", &settings.cert_header)?,
            verify_header: header("client_cert.verify_header", &settings.verify_header)?,
            dn_header: header("client_cert.dn_header", &settings.dn_header)?,
            trust_proxy_verification: settings.trust_proxy_verification,
            verified: VerifiedCache::default(),
        })
    }

    /// Re-reads the CA and CRL files if they changed (`force`: SIGHUP), forgetting every
    /// verification made with the old ones.
    pub fn reload_trust(&self, force: bool) -> Reload {
        let outcome = self.trust.reload_if_changed(force);
        if outcome == Reload::Reloaded {
            self.verified.clear();
        }
        outcome
    }

    /// Whether certificate headers from this transport are believed.
    pub fn trusts(&self, transport: Transport) -> bool {
        match transport {
            Transport::UnixSocket => true,
            Transport::Tcp(peer) => {
                let peer = match peer {
                    IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(peer, IpAddr::V4),
                    v4 => v4,
                };
                self.trusted_proxies.iter().any(|net| net.contains(&peer))
            }
            Transport::Tls => false,
        }
    }

    /// Looks at the certificate headers of a request that arrived over `transport`.
    pub fn present_headers(&self, transport: Transport, headers: &HeaderMap) -> Presented {
        let decided = |credential| Presented::Decided(credential);
        if !self.trusts(transport) {
            let sent_any = [&self.cert_header, &self.verify_header, &self.dn_header]
                .iter()
                .any(|name| headers.contains_key(*name));
            if sent_any {
                log::warn!(
                    "ignoring client certificate headers from {transport:?}, which is not a \
                     trusted proxy"
                );
                return decided(Credential::missing(
                    "certificate headers from an untrusted peer",
                ));
            }
            return decided(Credential::missing("no client certificate"));
        }
        let verdict = match single_header(headers, &self.verify_header) {
            Ok(value) => value,
            Err(reason) => return decided(Credential::missing(reason)),
        };
        if let Some(verdict) = verdict.as_deref() {
            if !matches!(verdict, "SUCCESS" | "(null)" | "" | "NONE") {
                return decided(Credential::missing(format!(
                    "the proxy reports certificate verification {verdict:?}"
                )));
            }
        }
        match single_header(headers, &self.cert_header) {
            Err(reason) => decided(Credential::missing(reason)),
            Ok(Some(pem)) => {
                let key = openssl::sha::sha256(pem.as_bytes());
                if let Some(verified) = self.verified.get(&key) {
                    return decided(Credential::Verified(verified));
                }
                let value = pem.trim();
                if value.is_empty() || value == "(null)" {
                    return decided(self.credential_from_dn(headers, verdict.as_deref()));
                }
                Presented::Unverified {
                    key,
                    cert: Unverified::Forwarded(pem),
                }
            }
            Ok(None) => decided(self.credential_from_dn(headers, verdict.as_deref())),
        }
    }

    /// The credential of a direct TLS connection: only the certificate the client presented in
    /// the handshake counts, verified like a forwarded one; certificate headers are ignored there.
    pub fn present_peer_certificate(&self, cert: Option<&X509Ref>) -> Presented {
        let Some(cert) = cert else {
            return Presented::Decided(Credential::missing(
                "no client certificate in the TLS handshake",
            ));
        };
        let key = cert
            .to_der()
            .map(|der| openssl::sha::sha256(&der))
            .unwrap_or_default();
        match self.verified.get(&key) {
            Some(verified) => Presented::Decided(Credential::Verified(verified)),
            None => Presented::Unverified {
                key,
                cert: Unverified::Handshake(cert.to_owned()),
            },
        }
    }

    /// Decodes and verifies a certificate the cache did not know (chain, dates, CRL, kind, CN).
    /// CPU work: callers run it off the HTTP workers.
    pub fn verify(&self, key: [u8; 32], presented: Unverified) -> Credential {
        let cert = match presented {
            Unverified::Handshake(cert) => cert,
            Unverified::Forwarded(pem) => match decode_forwarded_pem(&pem) {
                Ok(Some(cert)) => cert,
                Ok(None) => return Credential::missing("no client certificate"),
                Err(rejected) => return Credential::missing(rejected.0),
            },
        };
        let cert = cert.as_ref();
        let verifier = self.trust.current();
        let verified = verifier
            .verify(cert)
            .and_then(|kind| common_name(cert).map(|subject| HostCertificate { kind, subject }));
        match verified {
            Ok(verified) => {
                self.verified.insert(key, &verified, cert);
                Credential::Verified(verified)
            }
            Err(rejected) => Credential::missing(rejected.0),
        }
    }

    /// What each configured CA may identify, for `check-config`.
    pub fn bindings(&self) -> Vec<trust::Binding> {
        self.trust.current().bindings().to_vec()
    }

    /// The DN-only path: only when the operator trusts the proxy's own verification. The DN
    /// carries no issuer, so it can only name a Puppet host, the plugin's own kind.
    fn credential_from_dn(&self, headers: &HeaderMap, verdict: Option<&str>) -> Credential {
        if !self.trust_proxy_verification {
            return Credential::missing("no client certificate");
        }
        if verdict != Some("SUCCESS") {
            return Credential::missing(
                "no certificate and the proxy did not report a verified one",
            );
        }
        match single_header(headers, &self.dn_header) {
            Ok(Some(dn)) => match common_name_from_dn(&dn) {
                Some(subject) => Credential::Verified(HostCertificate {
                    kind: CertificateKind::Puppet,
                    subject,
                }),
                None => Credential::missing("the forwarded DN has no CN"),
            },
            Ok(None) => {
                Credential::missing("the proxy reported a verified certificate but sent no DN")
            }
            Err(reason) => Credential::missing(reason),
        }
    }
}

/// The trust files from the settings: `ca_files` vouch for Puppet hosts (the plugin's own kind),
/// `katello_ca_files` for subscription-manager consumers.
pub fn trust_files(settings: &ClientCertSettings) -> TrustFiles {
    TrustFiles {
        puppet_cas: settings.ca_files.clone(),
        katello_cas: settings.katello_ca_files.clone(),
        crls: settings.crl_files.clone(),
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

/// Shared between the HTTP workers and the reload task.
pub type SharedAuthenticator = Arc<ClientCertAuthenticator>;
