//! Foreman's CAs and CRLs as OpenSSL trust stores, each CA bound to the one kind of host it may
//! identify, and re-read when the files change.
//!
//! foreman-dlm does not take Apache's word for a certificate: it checks the chain, the validity
//! dates and (where configured) the CRL, as mod_ssl would. A certificate is checked only against
//! the CAs of the kind whose CA issued it, so a Puppet-CA certificate (with autosign, anyone's)
//! can never pass as a Katello consumer, and the other way round.

use std::fmt;
use std::path::{Path, PathBuf};

use openssl::ssl::SslFiletype;
use openssl::stack::Stack;
use openssl::x509::store::{X509Lookup, X509Store, X509StoreBuilder};
use openssl::x509::verify::X509VerifyFlags;
use openssl::x509::{X509Crl, X509Ref, X509StoreContext, X509VerifyResult, X509};

use super::certificate::CertificateRejected;
use super::CertificateKind;

/// A CA or CRL file that cannot be used: a start-up error in plain words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustFileError(pub String);

impl fmt::Display for TrustFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TrustFileError {}

/// The files the trust stores are built from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustFiles {
    pub puppet_cas: Vec<PathBuf>,
    pub katello_cas: Vec<PathBuf>,
    pub crls: Vec<PathBuf>,
}

impl TrustFiles {
    pub(super) fn all(&self) -> impl Iterator<Item = &PathBuf> {
        self.puppet_cas
            .iter()
            .chain(&self.katello_cas)
            .chain(&self.crls)
    }

    fn ca_files(&self) -> impl Iterator<Item = (CertificateKind, &PathBuf)> {
        let puppet = self.puppet_cas.iter().map(|p| (CertificateKind::Puppet, p));
        puppet.chain(
            self.katello_cas
                .iter()
                .map(|p| (CertificateKind::Katello, p)),
        )
    }
}

/// One loaded CA: which kind it vouches for and where it came from, for `check-config`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    pub kind: CertificateKind,
    pub subject: String,
    pub file: PathBuf,
}

/// The CAs of one kind.
struct TrustSet {
    kind: CertificateKind,
    /// DER subject names of the CAs, to pick the set by a leaf's issuer.
    subjects: Vec<Vec<u8>>,
    without_crl: X509Store,
    /// Used for leaves whose issuer has a CRL; `None` when no CRL belongs to this set.
    with_crl: Option<X509Store>,
    crl_issuers: Vec<Vec<u8>>,
}

pub struct CertificateVerifier {
    sets: Vec<TrustSet>,
    bindings: Vec<Binding>,
}

impl CertificateVerifier {
    pub fn load(files: &TrustFiles) -> Result<CertificateVerifier, TrustFileError> {
        let mut cas: Vec<(CertificateKind, X509, PathBuf)> = Vec::new();
        for (kind, path) in files.ca_files() {
            let key = match kind {
                CertificateKind::Puppet => "client_cert.ca_files",
                CertificateKind::Katello => "client_cert.katello_ca_files",
            };
            let pem = read_file(key, path)?;
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
            for cert in certs {
                let der = cert.to_der().unwrap_or_default();
                if let Some((other, _, other_path)) = cas
                    .iter()
                    .find(|(k, c, _)| *k != kind && c.to_der().unwrap_or_default() == der)
                {
                    return Err(TrustFileError(format!(
                        "the CA {} is listed for {} hosts ({}) and for {} hosts ({}); a CA may \
                         vouch for one kind of host only",
                        subject_text(&cert),
                        other.describe(),
                        other_path.display(),
                        kind.describe(),
                        path.display()
                    )));
                }
                cas.push((kind, cert, path.clone()));
            }
        }
        let crls = load_crls(files, &cas)?;
        let mut sets = Vec::new();
        for kind in [CertificateKind::Puppet, CertificateKind::Katello] {
            let members: Vec<&X509> = cas
                .iter()
                .filter(|(k, _, _)| *k == kind)
                .map(|(_, c, _)| c)
                .collect();
            if members.is_empty() {
                continue;
            }
            let subjects: Vec<Vec<u8>> = members
                .iter()
                .map(|c| c.subject_name().to_der().unwrap_or_default())
                .collect();
            let own_crls: Vec<&LoadedCrl> = crls
                .iter()
                .filter(|crl| subjects.contains(&crl.issuer))
                .collect();
            let mut crl_files: Vec<&PathBuf> = own_crls.iter().map(|crl| &crl.file).collect();
            crl_files.dedup();
            sets.push(TrustSet {
                kind,
                without_crl: build_store(&members, &[], X509VerifyFlags::empty())?,
                with_crl: if crl_files.is_empty() {
                    None
                } else {
                    Some(build_store(
                        &members,
                        &crl_files,
                        X509VerifyFlags::CRL_CHECK,
                    )?)
                },
                crl_issuers: own_crls.iter().map(|crl| crl.issuer.clone()).collect(),
                subjects,
            });
        }
        let bindings = cas
            .iter()
            .map(|(kind, cert, file)| Binding {
                kind: *kind,
                subject: subject_text(cert),
                file: file.clone(),
            })
            .collect();
        Ok(CertificateVerifier { sets, bindings })
    }

    /// What each loaded CA may identify.
    pub fn bindings(&self) -> &[Binding] {
        &self.bindings
    }

    /// Verifies chain, dates and — when the issuer has a configured CRL — revocation, against the
    /// CAs of the kind whose CA issued `cert`; that kind says how the subject names a host.
    pub fn verify(&self, cert: &X509Ref) -> Result<CertificateKind, CertificateRejected> {
        let issuer = cert.issuer_name().to_der().unwrap_or_default();
        let mut last_failure = None;
        for set in self
            .sets
            .iter()
            .filter(|set| set.subjects.contains(&issuer))
        {
            let store = match &set.with_crl {
                Some(store) if set.crl_issuers.contains(&issuer) => store,
                _ => &set.without_crl,
            };
            match verify_in(store, cert) {
                Ok(()) => return Ok(set.kind),
                Err(failure) => last_failure = Some(failure),
            }
        }
        Err(last_failure.unwrap_or_else(|| {
            CertificateRejected("the certificate's issuer is not a configured CA".into())
        }))
    }
}

fn verify_in(store: &X509Store, cert: &X509Ref) -> Result<(), CertificateRejected> {
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

struct LoadedCrl {
    file: PathBuf,
    issuer: Vec<u8>,
}

/// Every CRL in the files, each checked against the CA that signed it.
fn load_crls(
    files: &TrustFiles,
    cas: &[(CertificateKind, X509, PathBuf)],
) -> Result<Vec<LoadedCrl>, TrustFileError> {
    let mut loaded = Vec::new();
    for path in &files.crls {
        let pem = read_file("client_cert.crl_files", path)?;
        let blocks = split_pem_crls(&pem);
        if blocks.is_empty() {
            return Err(TrustFileError(format!(
                "CRL file {} contains no CRL",
                path.display()
            )));
        }
        for block in blocks {
            let crl = X509Crl::from_pem(block.as_bytes()).map_err(|_| {
                TrustFileError(format!(
                    "CRL file {} holds a CRL that cannot be parsed",
                    path.display()
                ))
            })?;
            let issuer = crl
                .issuer_name()
                .to_der()
                .map_err(|_| TrustFileError("CRL issuer name".into()))?;
            let signer = cas
                .iter()
                .find(|(_, ca, _)| ca.subject_name().to_der().ok().as_ref() == Some(&issuer));
            match signer {
                Some((_, ca, _))
                    if ca
                        .public_key()
                        .is_ok_and(|key| crl.verify(&key).unwrap_or(false)) => {}
                Some(_) => {
                    return Err(TrustFileError(format!(
                        "CRL file {} holds a CRL whose signature does not match its CA",
                        path.display()
                    )))
                }
                None => {
                    return Err(TrustFileError(format!(
                        "CRL file {} holds a CRL from an issuer that is not a configured CA",
                        path.display()
                    )))
                }
            }
            loaded.push(LoadedCrl {
                file: path.clone(),
                issuer,
            });
        }
    }
    Ok(loaded)
}

fn subject_text(cert: &X509Ref) -> String {
    cert.subject_name()
        .entries()
        .map(|entry| {
            let key = entry.object().nid().short_name().unwrap_or("?");
            let value = entry.data().to_string().unwrap_or_else(|_| "?".to_string());
            format!("{key}={value}")
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn read_file(key: &str, path: &Path) -> Result<Vec<u8>, TrustFileError> {
    std::fs::read(path)
        .map_err(|e| TrustFileError(format!("{key}: cannot read {} ({e})", path.display())))
}

fn build_store(
    cas: &[&X509],
    crl_files: &[&PathBuf],
    flags: X509VerifyFlags,
) -> Result<X509Store, TrustFileError> {
    let internal =
        |what: &str| TrustFileError(format!("cannot build the certificate trust store: {what}"));
    let mut builder = X509StoreBuilder::new().map_err(|_| internal("allocation"))?;
    for ca in cas {
        // The same CA listed in two bundles is harmless.
        let _ = builder.add_cert((*ca).clone());
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
