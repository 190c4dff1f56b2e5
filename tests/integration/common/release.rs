//! The release packages, built once per test run by `contrib/packaging/build-release` (as a
//! release is built), and the binary unpacked from each.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

pub struct Release {
    pub rpm: PathBuf,
    pub deb: PathBuf,
    /// `/usr/bin/foreman-dlm` as the .rpm and the .deb carry it.
    pub binaries: Vec<(&'static str, PathBuf)>,
    _unpacked: tempfile::TempDir,
}

/// The release build takes minutes (a second, zig-linked build of everything with LTO), so it
/// runs under CI and when asked for (FOREMAN_DLM_TEST_RELEASE=1); otherwise the packaging tests
/// are skipped with a notice.
pub fn wanted() -> bool {
    if std::env::var("CI").is_ok() || std::env::var("FOREMAN_DLM_TEST_RELEASE").is_ok() {
        return true;
    }
    eprintln!(
        "NOTICE: skipping a release-package test (it builds the release: \
         FOREMAN_DLM_TEST_RELEASE=1 cargo test packaging)"
    );
    false
}

pub fn shared() -> &'static Release {
    static RELEASE: OnceLock<Release> = OnceLock::new();
    RELEASE.get_or_init(build)
}

fn build() -> Release {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let outdir = root.join("target/release-packages");
    let output = Command::new(root.join("contrib/packaging/build-release"))
        .arg(&outdir)
        .output()
        .expect("run build-release");
    assert!(
        output.status.success(),
        "build-release failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let printed: Vec<PathBuf> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(PathBuf::from)
        .collect();
    let find = |suffix: &str| {
        printed
            .iter()
            .find(|path| path.to_string_lossy().ends_with(suffix))
            .unwrap_or_else(|| panic!("build-release printed no {suffix}: {printed:?}"))
            .clone()
    };
    let (rpm, deb) = (find(".rpm"), find(".deb"));
    for package in [&rpm, &deb] {
        assert!(package.is_absolute() && package.is_file(), "{package:?}");
    }

    let unpacked = tempfile::tempdir().unwrap();
    let from_rpm = unpacked.path().join("rpm");
    std::fs::create_dir(&from_rpm).unwrap();
    shell(
        &format!("rpm2cpio '{}' | cpio -idm --quiet", rpm.display()),
        &from_rpm,
    );
    let from_deb = unpacked.path().join("deb");
    shell(
        &format!("dpkg-deb -x '{}' '{}'", deb.display(), from_deb.display()),
        unpacked.path(),
    );
    Release {
        binaries: vec![
            ("rpm", from_rpm.join("usr/bin/foreman-dlm")),
            ("deb", from_deb.join("usr/bin/foreman-dlm")),
        ],
        rpm,
        deb,
        _unpacked: unpacked,
    }
}

/// Runs `script` with sh in `dir`; panics with its output when it fails.
pub fn shell(script: &str, dir: &Path) -> String {
    let output = Command::new("sh")
        .arg("-c")
        .arg(script)
        .current_dir(dir)
        .output()
        .expect("run sh");
    assert!(
        output.status.success(),
        "{script} failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}
