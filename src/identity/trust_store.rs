//! The verifier in use, replaced whole when the CA or CRL files change on disk.

use std::path::Path;
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

use super::trust::{CertificateVerifier, TrustFileError, TrustFiles};

/// What a file looked like when it was last read: a change to any of these means re-read.
#[derive(Debug, Clone, PartialEq, Eq)]
struct FileStamp(Option<(SystemTime, u64, u64)>);

impl FileStamp {
    fn of(path: &Path) -> FileStamp {
        use std::os::unix::fs::MetadataExt;
        FileStamp(
            std::fs::metadata(path)
                .ok()
                .and_then(|m| Some((m.modified().ok()?, m.len(), m.ino()))),
        )
    }
}

/// The verifier in use, replaced whole when the CA or CRL files change. Puppet's CA rewrites its
/// CRL when a certificate is revoked (`puppetserver ca clean`); this is how that reaches a running
/// service without a restart.
pub struct TrustStore {
    files: TrustFiles,
    current: RwLock<(Arc<CertificateVerifier>, Vec<FileStamp>)>,
}

/// What a reload check did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reload {
    Unchanged,
    Reloaded,
    /// The files changed but cannot be used; the previous verifier stays.
    Failed(TrustFileError),
}

impl TrustStore {
    pub fn load(files: TrustFiles) -> Result<TrustStore, TrustFileError> {
        let stamps = files.all().map(|p| FileStamp::of(p)).collect();
        let verifier = CertificateVerifier::load(&files)?;
        Ok(TrustStore {
            files,
            current: RwLock::new((Arc::new(verifier), stamps)),
        })
    }

    pub fn current(&self) -> Arc<CertificateVerifier> {
        match self.current.read() {
            Ok(guard) => guard.0.clone(),
            Err(poisoned) => poisoned.into_inner().0.clone(),
        }
    }

    /// Re-reads the files when any of them changed (always, with `force`: SIGHUP).
    pub fn reload_if_changed(&self, force: bool) -> Reload {
        let stamps: Vec<FileStamp> = self.files.all().map(|p| FileStamp::of(p)).collect();
        let unchanged = match self.current.read() {
            Ok(guard) => guard.1 == stamps,
            Err(_) => false,
        };
        if unchanged && !force {
            return Reload::Unchanged;
        }
        let outcome = CertificateVerifier::load(&self.files);
        let Ok(mut guard) = self.current.write() else {
            return Reload::Failed(TrustFileError("the trust store lock is poisoned".into()));
        };
        // Remember what was seen either way, so that a broken file is reported once, not on
        // every check, and fixing it is seen as a change.
        guard.1 = stamps;
        match outcome {
            Ok(verifier) => {
                guard.0 = Arc::new(verifier);
                Reload::Reloaded
            }
            Err(e) => Reload::Failed(e),
        }
    }
}
