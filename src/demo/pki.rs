//! A throw-away certificate authority, shaped like Puppet's: a self-signed CA that issues host
//! certificates whose CN is the host's certname.

use openssl::asn1::{Asn1Integer, Asn1Time};
use openssl::bn::BigNum;
use openssl::ec::{EcGroup, EcKey};
use openssl::error::ErrorStack;
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::x509::extension::{
    AuthorityKeyIdentifier, BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectAlternativeName,
    SubjectKeyIdentifier,
};
use openssl::x509::{X509Builder, X509NameBuilder, X509};

const DAY: i64 = 86_400;

pub struct Authority {
    pub cert: X509,
    pub key: PKey<Private>,
    next_serial: std::sync::atomic::AtomicU32,
}

/// What to put into an issued certificate beyond the CN.
#[derive(Debug, Clone, Copy, Default)]
pub struct CertSpec<'a> {
    pub common_name: &'a str,
    /// `O=`, e.g. the organization label in a Katello consumer certificate.
    pub organization: Option<&'a str>,
    pub dns_names: &'a [&'a str],
    pub ip_addresses: &'a [&'a str],
    pub validity: Validity,
}

/// A certificate with its private key.
pub struct Issued {
    pub cert: X509,
    pub key: PKey<Private>,
}

/// Validity of an issued certificate, in days relative to now (negative = in the past).
#[derive(Debug, Clone, Copy)]
pub struct Validity {
    pub from_days: i64,
    pub until_days: i64,
}

impl Default for Validity {
    fn default() -> Self {
        Validity {
            from_days: -1,
            until_days: 365,
        }
    }
}

fn new_key() -> Result<PKey<Private>, ErrorStack> {
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1)?;
    PKey::from_ec_key(EcKey::generate(&group)?)
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

impl Authority {
    pub fn new(common_name: &str) -> Result<Authority, ErrorStack> {
        let key = new_key()?;
        let mut name = X509NameBuilder::new()?;
        name.append_entry_by_nid(Nid::COMMONNAME, common_name)?;
        let name = name.build();
        let mut builder = X509Builder::new()?;
        builder.set_version(2)?;
        let serial = Asn1Integer::from_bn(&*BigNum::from_u32(1)?)?;
        builder.set_serial_number(&serial)?;
        builder.set_subject_name(&name)?;
        builder.set_issuer_name(&name)?;
        builder.set_pubkey(&key)?;
        let not_before = Asn1Time::from_unix(now() - DAY)?;
        let not_after = Asn1Time::from_unix(now() + 3650 * DAY)?;
        builder.set_not_before(&not_before)?;
        builder.set_not_after(&not_after)?;
        builder.append_extension(BasicConstraints::new().critical().ca().build()?)?;
        builder.append_extension(
            KeyUsage::new()
                .critical()
                .key_cert_sign()
                .crl_sign()
                .build()?,
        )?;
        let ski = SubjectKeyIdentifier::new().build(&builder.x509v3_context(None, None))?;
        builder.append_extension(ski)?;
        builder.sign(&key, MessageDigest::sha256())?;
        Ok(Authority {
            cert: builder.build(),
            key,
            next_serial: std::sync::atomic::AtomicU32::new(2),
        })
    }

    /// Issues a client/server certificate for `common_name`, as Puppet issues host certificates.
    pub fn issue(&self, common_name: &str, validity: Validity) -> Result<Issued, ErrorStack> {
        self.issue_spec(&CertSpec {
            common_name,
            validity,
            ..CertSpec::default()
        })
    }

    pub fn issue_spec(&self, spec: &CertSpec) -> Result<Issued, ErrorStack> {
        let (common_name, validity) = (spec.common_name, spec.validity);
        let key = new_key()?;
        let mut name = X509NameBuilder::new()?;
        name.append_entry_by_nid(Nid::COMMONNAME, common_name)?;
        if let Some(organization) = spec.organization {
            name.append_entry_by_nid(Nid::ORGANIZATIONNAME, organization)?;
        }
        let name = name.build();
        let serial = self
            .next_serial
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut builder = X509Builder::new()?;
        builder.set_version(2)?;
        let serial = Asn1Integer::from_bn(&*BigNum::from_u32(serial)?)?;
        builder.set_serial_number(&serial)?;
        builder.set_subject_name(&name)?;
        builder.set_issuer_name(self.cert.subject_name())?;
        builder.set_pubkey(&key)?;
        let not_before = Asn1Time::from_unix(now() + validity.from_days * DAY)?;
        let not_after = Asn1Time::from_unix(now() + validity.until_days * DAY)?;
        builder.set_not_before(&not_before)?;
        builder.set_not_after(&not_after)?;
        builder.append_extension(BasicConstraints::new().critical().build()?)?;
        builder.append_extension(
            KeyUsage::new()
                .critical()
                .digital_signature()
                .key_encipherment()
                .build()?,
        )?;
        builder.append_extension(
            ExtendedKeyUsage::new()
                .client_auth()
                .server_auth()
                .build()?,
        )?;
        if !spec.dns_names.is_empty() || !spec.ip_addresses.is_empty() {
            let mut san = SubjectAlternativeName::new();
            for dns in spec.dns_names {
                san.dns(dns);
            }
            for ip in spec.ip_addresses {
                san.ip(ip);
            }
            let san = san.build(&builder.x509v3_context(Some(&self.cert), None))?;
            builder.append_extension(san)?;
        }
        let aki = AuthorityKeyIdentifier::new()
            .keyid(false)
            .build(&builder.x509v3_context(Some(&self.cert), None))?;
        builder.append_extension(aki)?;
        builder.sign(&self.key, MessageDigest::sha256())?;
        Ok(Issued {
            cert: builder.build(),
            key,
        })
    }
}

impl Issued {
    pub fn cert_pem(&self) -> String {
        String::from_utf8(self.cert.to_pem().unwrap_or_default()).unwrap_or_default()
    }

    pub fn key_pem(&self) -> String {
        String::from_utf8(self.key.private_key_to_pem_pkcs8().unwrap_or_default())
            .unwrap_or_default()
    }

    /// The certificate as mod_headers forwards it: newlines turned into spaces.
    pub fn apache_header(&self) -> String {
        self.cert_pem().trim_end().replace('\n', " ")
    }
}
