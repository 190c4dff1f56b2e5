//! The tests' certificates: Foreman's CA, a foreign CA, and a CRL made with the `openssl ca` CLI
//! (the Rust crate cannot build revocation entries).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use foreman_dlm::demo::pki::{Authority, CertSpec, Issued, Validity};

pub struct TestPki {
    pub ca: Authority,
    pub other_ca: Authority,
    pub ca_file: PathBuf,
    pub other_ca_file: PathBuf,
    pub crl_file: PathBuf,
    /// Issued by `ca` for CN revoked.example.com, listed in `crl_file`.
    pub revoked: Issued,
    /// Katello's default CA, which signs subscription-manager consumer certificates.
    pub katello_ca: Authority,
    pub katello_ca_file: PathBuf,
    /// Foreman's CA and Katello's CA in one bundle.
    pub ca_bundle_file: PathBuf,
    /// The server certificate (CN localhost, SAN localhost and 127.0.0.1) from Foreman's CA.
    pub server_cert_file: PathBuf,
    pub server_key_file: PathBuf,
    pub dir: PathBuf,
    _dir: tempfile::TempDir,
}

pub fn shared() -> &'static TestPki {
    static PKI: OnceLock<TestPki> = OnceLock::new();
    PKI.get_or_init(|| TestPki::create().expect("test PKI"))
}

impl TestPki {
    fn create() -> Result<TestPki, Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().to_path_buf();
        let ca = Authority::new("Puppet CA: foreman.example.com")?;
        let other_ca = Authority::new("Some Other CA")?;
        let ca_file = path.join("ca.pem");
        std::fs::write(&ca_file, ca.cert.to_pem()?)?;
        let other_ca_file = path.join("other-ca.pem");
        std::fs::write(&other_ca_file, other_ca.cert.to_pem()?)?;
        let revoked = ca.issue("revoked.example.com", Validity::default())?;
        let crl_file = make_crl(&path, &ca, &[&revoked])?;
        let katello_ca = Authority::new("katello-default-ca")?;
        let katello_ca_file = path.join("katello-ca.pem");
        std::fs::write(&katello_ca_file, katello_ca.cert.to_pem()?)?;
        let ca_bundle_file = path.join("ca-bundle.pem");
        std::fs::write(
            &ca_bundle_file,
            [ca.cert.to_pem()?, katello_ca.cert.to_pem()?].concat(),
        )?;
        let server = ca.issue_spec(&CertSpec {
            common_name: "localhost",
            dns_names: &["localhost"],
            ip_addresses: &["127.0.0.1"],
            ..CertSpec::default()
        })?;
        let server_cert_file = path.join("server.pem");
        let server_key_file = path.join("server.key");
        std::fs::write(&server_cert_file, server.cert_pem())?;
        std::fs::write(&server_key_file, server.key_pem())?;
        Ok(TestPki {
            katello_ca,
            katello_ca_file,
            ca_bundle_file,
            server_cert_file,
            server_key_file,
            ca,
            other_ca,
            ca_file,
            other_ca_file,
            crl_file,
            revoked,
            dir: path,
            _dir: dir,
        })
    }

    /// A valid certificate from Foreman's CA.
    pub fn host(&self, common_name: &str) -> Issued {
        self.ca
            .issue(common_name, Validity::default())
            .expect("issue")
    }

    pub fn host_with(&self, common_name: &str, validity: Validity) -> Issued {
        self.ca.issue(common_name, validity).expect("issue")
    }

    /// A subscription-manager consumer certificate: CN = consumer uuid, O = organization label.
    pub fn consumer(&self, uuid: &str) -> Issued {
        self.katello_ca
            .issue_spec(&CertSpec {
                common_name: uuid,
                organization: Some("Default_Organization"),
                ..CertSpec::default()
            })
            .expect("issue")
    }

    /// Writes `cert` and its key as files a client (curl) can present; returns (cert, key).
    pub fn write_client(&self, label: &str, cert: &Issued) -> (PathBuf, PathBuf) {
        let cert_file = self.dir.join(format!("client-{label}-{}.pem", unique()));
        let key_file = cert_file.with_extension("key");
        std::fs::write(&cert_file, cert.cert_pem()).expect("write cert");
        std::fs::write(&key_file, cert.key_pem()).expect("write key");
        (cert_file, key_file)
    }

    pub fn foreign(&self, common_name: &str) -> Issued {
        self.other_ca
            .issue(common_name, Validity::default())
            .expect("issue")
    }
}

impl TestPki {
    /// Writes, over `target`, a CRL from Foreman's CA revoking exactly `revoke`: built beside it
    /// and renamed into place, as Puppet's CA replaces its CRL.
    pub fn write_crl(&self, target: &Path, revoke: &[&Issued]) {
        let work = tempfile::tempdir().expect("tempdir");
        let crl = make_crl(work.path(), &self.ca, revoke).expect("openssl ca -gencrl");
        let staged = target.with_extension(format!("new-{}", unique()));
        std::fs::copy(&crl, &staged).expect("stage the CRL");
        std::fs::rename(&staged, target).expect("replace the CRL");
    }
}

fn make_crl(
    dir: &Path,
    ca: &Authority,
    revoke: &[&Issued],
) -> Result<PathBuf, Box<dyn std::error::Error>> {
    std::fs::write(dir.join("ca.pem"), ca.cert.to_pem()?)?;
    std::fs::write(dir.join("ca.key"), ca.key.private_key_to_pem_pkcs8()?)?;
    std::fs::write(dir.join("index.txt"), "")?;
    std::fs::write(dir.join("crlnumber"), "01\n")?;
    std::fs::write(
        dir.join("ca.cnf"),
        "[ca]\ndefault_ca = dlm\n[dlm]\ndatabase = index.txt\ncrlnumber = crlnumber\ndefault_md = sha256\ndefault_crl_days = 30\n",
    )?;
    let openssl = |args: &[&str]| -> Result<(), Box<dyn std::error::Error>> {
        let out = Command::new("openssl")
            .current_dir(dir)
            .args([
                "ca", "-config", "ca.cnf", "-keyfile", "ca.key", "-cert", "ca.pem",
            ])
            .args(args)
            .output()?;
        if !out.status.success() {
            return Err(format!(
                "openssl ca {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            )
            .into());
        }
        Ok(())
    };
    for (i, cert) in revoke.iter().enumerate() {
        let file = format!("revoke-{i}.pem");
        std::fs::write(dir.join(&file), cert.cert_pem())?;
        openssl(&["-revoke", &file])?;
    }
    openssl(&["-gencrl", "-out", "crl.pem"])?;
    Ok(dir.join("crl.pem"))
}

fn unique() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}
