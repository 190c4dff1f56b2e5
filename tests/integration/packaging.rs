//! The release as an admin installs it: the binary on the oldest supported glibc, the RPM in a
//! fresh root with its scriptlets, the SELinux module linked into a full policy.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::release::{self, shell};

/// A server the release binary must run on: its glibc, its OpenSSL, and the libraries every
/// installation of it has (its base packages: glibc, libgcc, openssl-libs or libssl3).
struct Target {
    name: &'static str,
    glibc: (u32, u32),
    openssl: (u32, u32),
    libraries: &'static [&'static str],
}

/// glibc's libraries, libgcc's and OpenSSL 3's: in the base of each supported release.
const BASE: [&str; 10] = [
    "libc.so.6",
    "libm.so.6",
    "libpthread.so.0",
    "libdl.so.2",
    "librt.so.1",
    "libutil.so.1",
    "ld-linux-x86-64.so.2",
    "libgcc_s.so.1",
    "libssl.so.3",
    "libcrypto.so.3",
];

/// The supported servers. EL8 is not among them: Foreman 3.13 and Katello 4.15 dropped it.
const TARGETS: [Target; 5] = [
    Target {
        name: "EL9",
        glibc: (2, 34),
        openssl: (3, 0),
        libraries: &BASE,
    },
    Target {
        name: "EL10",
        glibc: (2, 39),
        openssl: (3, 2),
        libraries: &BASE,
    },
    Target {
        name: "Debian 12",
        glibc: (2, 36),
        openssl: (3, 0),
        libraries: &BASE,
    },
    Target {
        name: "Ubuntu 22.04",
        glibc: (2, 35),
        openssl: (3, 0),
        libraries: &BASE,
    },
    Target {
        name: "Ubuntu 24.04",
        glibc: (2, 39),
        openssl: (3, 0),
        libraries: &BASE,
    },
];

fn run(program: &str, args: &[&str]) -> String {
    let output = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    assert!(
        output.status.success(),
        "{program} {args:?} failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The highest version of the symbol versions `PREFIX_x.y[.z]` in `objdump -T` output.
fn highest_version(dynamic_symbols: &str, prefix: &str) -> Option<(u32, u32)> {
    dynamic_symbols
        .split(|c: char| c.is_whitespace() || c == '(' || c == ')')
        .filter_map(|word| word.strip_prefix(prefix))
        .filter_map(|version| {
            let mut parts = version.split('.').map(|part| part.parse::<u32>().ok());
            Some((parts.next()??, parts.next()??))
        })
        .max()
}

#[test]
fn release_binaries_run_on_the_oldest_supported_glibc() {
    if !release::wanted() {
        return;
    }
    let release = release::shared();
    for (package, binary) in &release.binaries {
        let symbols = run("objdump", &["-T", binary.to_str().unwrap()]);
        let glibc = highest_version(&symbols, "GLIBC_").expect("glibc symbol versions");
        let openssl = highest_version(&symbols, "OPENSSL_").expect("OpenSSL symbol versions");
        let dynamic = run("readelf", &["-d", binary.to_str().unwrap()]);
        let needed: Vec<&str> = dynamic
            .lines()
            .filter(|line| line.contains("(NEEDED)"))
            .filter_map(|line| line.split('[').nth(1)?.strip_suffix(']'))
            .collect();
        assert!(needed.contains(&"libssl.so.3"), "{package}: {needed:?}");
        for target in &TARGETS {
            assert!(
                glibc <= target.glibc,
                "{package}'s binary needs GLIBC_{}.{}; {} has {}.{}",
                glibc.0,
                glibc.1,
                target.name,
                target.glibc.0,
                target.glibc.1
            );
            assert!(
                openssl <= target.openssl,
                "{package}'s binary needs OPENSSL_{}.{}; {} has {}.{}",
                openssl.0,
                openssl.1,
                target.name,
                target.openssl.0,
                target.openssl.1
            );
            for library in &needed {
                assert!(
                    target.libraries.contains(library),
                    "{package}'s binary needs {library}, not in {}'s base",
                    target.name
                );
            }
        }
        let version = run(binary.to_str().unwrap(), &["--version"]);
        assert_eq!(
            version.trim(),
            format!("foreman-dlm {}", env!("CARGO_PKG_VERSION")),
            "{package}"
        );
    }
}

/// A fresh EL-like root for `rpm --root`: merged /usr, the `foreman` user, EL's "disable
/// everything" preset, /dev/null, and the two programs the scriptlets run there (sh and
/// systemctl, copied from this machine with their libraries), so that they run for real.
fn fresh_root() -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path();
    for sub in [
        "usr/bin",
        "usr/sbin",
        "usr/lib",
        "usr/lib64",
        "etc",
        "run",
        "tmp",
    ] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
    }
    for (link, to) in [
        ("bin", "usr/bin"),
        ("sbin", "usr/sbin"),
        ("lib", "usr/lib"),
        ("lib64", "usr/lib64"),
    ] {
        std::os::unix::fs::symlink(to, dir.join(link)).unwrap();
    }
    std::fs::write(
        dir.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nforeman:x:987:983::/usr/share/foreman:/sbin/nologin\n",
    )
    .unwrap();
    std::fs::write(dir.join("etc/group"), "root:x:0:\nforeman:x:983:\n").unwrap();
    let presets = dir.join("usr/lib/systemd/system-preset");
    std::fs::create_dir_all(&presets).unwrap();
    std::fs::write(presets.join("99-default-disable.preset"), "disable *\n").unwrap();
    // The scriptlets send output to /dev/null: a shell cannot run a command whose redirection
    // fails.
    std::fs::create_dir(dir.join("dev")).unwrap();
    shell("mknod -m 666 dev/null c 1 3", dir);
    for program in ["/bin/sh", "/usr/bin/systemctl"] {
        copy_with_libraries(Path::new(program), dir);
    }
    root
}

/// Debian's SELinux policy store in the root, with semodule and what the scriptlets call around
/// it: the %post and %postun then install and remove the module in a real, full policy (SELinux
/// itself is not enabled here, so they do not relabel).
fn add_selinux_store(dir: &Path) {
    assert!(
        Path::new("/var/lib/selinux/default").is_dir(),
        "Debian's policy store is missing: apt-get install selinux-policy-default"
    );
    for program in [
        "/usr/sbin/semodule",
        "/usr/sbin/sefcontext_compile",
        "/usr/libexec/selinux/hll/pp",
        "/usr/sbin/selinuxenabled",
        "/usr/sbin/setfiles",
        "/usr/bin/sed",
    ] {
        copy_with_libraries(Path::new(program), dir);
    }
    std::os::unix::fs::symlink("setfiles", dir.join("usr/sbin/restorecon")).unwrap();
    std::fs::create_dir_all(dir.join("etc/selinux")).unwrap();
    std::fs::create_dir_all(dir.join("var/lib/selinux")).unwrap();
    shell(
        "cp -a /etc/selinux/default /etc/selinux/semanage.conf etc/selinux/ && \
         cp -a /var/lib/selinux/default var/lib/selinux/",
        dir,
    );
    std::fs::write(
        dir.join("etc/selinux/config"),
        "SELINUX=enforcing\nSELINUXTYPE=default\n",
    )
    .unwrap();
}

fn copy_with_libraries(program: &Path, root: &Path) {
    let libraries = run("ldd", &[program.to_str().unwrap()]);
    let mut files = vec![program.to_path_buf()];
    files.extend(
        libraries
            .split_whitespace()
            .filter(|word| word.starts_with('/'))
            .map(PathBuf::from),
    );
    for file in files {
        // Through the symlinks (/bin/sh → dash, /lib → usr/lib): each file where it really is,
        // and the program also under the name the scriptlets call.
        let real = std::fs::canonicalize(&file).unwrap();
        for path in [&real, &file] {
            let dest = root.join(path.strip_prefix("/").unwrap());
            if dest.exists() {
                continue;
            }
            std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
            std::fs::copy(&real, &dest).unwrap();
        }
    }
}

fn rpm_in(root: &Path, args: &[&str]) -> String {
    let mut all = vec!["--root", root.to_str().unwrap()];
    all.extend_from_slice(args);
    let output = Command::new("rpm").args(&all).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(
        output.status.success() && !stderr.contains("scriptlet failed"),
        "rpm {args:?}: {}\n{stderr}",
        output.status
    );
    stderr
}

#[test]
fn the_rpm_installs_into_a_fresh_root_with_its_scriptlets() {
    if !release::wanted() {
        return;
    }
    let release = release::shared();
    let rpm = release.rpm.to_str().unwrap();

    // The scriptlets, as `rpm -q --scripts` shows them to an admin.
    let scripts = run("rpm", &["-qp", "--scripts", rpm]);
    // Each scriptlet starts with a line "NAME scriptlet (using /bin/sh):".
    let section = |name: &str| {
        let header = format!("{name} scriptlet (using");
        let start = scripts
            .find(&header)
            .unwrap_or_else(|| panic!("no {name} scriptlet in:\n{scripts}"));
        let body = &scripts[start + header.len()..];
        let end = body.find(" scriptlet (using").unwrap_or(body.len());
        body[..end].to_string()
    };
    let post = section("postinstall");
    for expected in [
        "semodule -s \"${selinuxtype:-targeted}\" -X 200",
        "restorecon -R /usr/bin/foreman-dlm /etc/foreman-dlm /run/foreman-dlm",
        "systemctl daemon-reload",
        "systemctl --no-reload preset foreman-dlm.service",
        "systemctl --no-reload enable foreman-dlm-expire-events.timer",
        "systemctl start foreman-dlm-expire-events.timer",
    ] {
        assert!(post.contains(expected), "%post lacks {expected}:\n{post}");
    }
    let preun = section("preuninstall");
    assert!(preun.contains("disable --now foreman-dlm.service foreman-dlm-expire-events.timer"));
    let postun = section("postuninstall");
    for expected in [
        "systemctl try-restart foreman-dlm.service",
        "-r foreman_dlm",
        "systemctl daemon-reload",
    ] {
        assert!(
            postun.contains(expected),
            "%postun lacks {expected}:\n{postun}"
        );
    }

    // Files, modes, owners and the kept configuration, as rpm records them.
    let files = run(
        "rpm",
        &[
            "-qp",
            "--qf",
            "[%{FILEMODES:perms} %{FILEUSERNAME} %{FILEGROUPNAME} %{FILEFLAGS:fflags} \
             %{FILENAMES}\\n]",
            rpm,
        ],
    );
    for expected in [
        "-rwxr-xr-x root root  /usr/bin/foreman-dlm",
        "-rw-r----- root foreman cn /etc/foreman-dlm/settings.toml",
        "-rw-r--r-- root root  /usr/lib/systemd/system/foreman-dlm.service",
        "-rw-r--r-- root root  /usr/lib/systemd/system/foreman-dlm-expire-events.timer",
        "-rw-r--r-- root root  /usr/share/selinux/packages/foreman-dlm/foreman_dlm.pp.bz2",
        "-rw-r--r-- root root  /usr/share/foreman-dlm/apache/foreman-dlm.conf",
        "-rwxr-xr-x root root  /usr/share/foreman-dlm/client/updatelock",
    ] {
        assert!(
            files.lines().any(|line| line.trim_end() == expected),
            "{expected} not in:\n{files}"
        );
    }
    let requires = run("rpm", &["-qp", "--requires", rpm]);
    for expected in ["foreman", "policycoreutils", "libssl.so.3()(64bit)"] {
        assert!(
            requires.lines().any(|line| line.trim() == expected),
            "{requires}"
        );
    }

    // Installed into a fresh root, its scriptlets run there.
    let root = fresh_root();
    let dir = root.path();
    add_selinux_store(dir);
    let module = dir.join("var/lib/selinux/default/active/modules/200/foreman_dlm");
    assert!(!module.exists());
    rpm_in(dir, &["--initdb"]);
    let installed = rpm_in(dir, &["-i", "--nodeps", rpm]);
    assert!(
        module.join("cil").exists(),
        "%post installs the SELinux module:\n{installed}"
    );
    let contexts =
        std::fs::read_to_string(dir.join("etc/selinux/default/contexts/files/file_contexts"))
            .unwrap();
    assert!(
        contexts.contains("/run/foreman-dlm(/.*)?"),
        "the module's file contexts"
    );
    let settings = dir.join("etc/foreman-dlm/settings.toml");
    let meta = std::fs::metadata(&settings).unwrap();
    assert_eq!(meta.permissions().mode() & 0o7777, 0o640);
    assert_eq!((meta.uid(), meta.gid()), (0, 983), "root:foreman");
    let binary = std::fs::metadata(dir.join("usr/bin/foreman-dlm")).unwrap();
    assert_eq!(binary.permissions().mode() & 0o7777, 0o755);
    let timer = dir.join("etc/systemd/system/timers.target.wants/foreman-dlm-expire-events.timer");
    assert!(timer.is_symlink(), "the expiry timer is enabled on install");
    let service = dir.join("etc/systemd/system/multi-user.target.wants/foreman-dlm.service");
    assert!(!service.exists(), "the service waits for its settings");

    // An upgrade (the same package again) keeps the site's settings.
    let mut edited = std::fs::read_to_string(&settings).unwrap();
    edited.push_str("\n[client_cert]\nca_files = [\"/etc/puppetlabs/puppet/ssl/certs/ca.pem\"]\n");
    std::fs::write(&settings, &edited).unwrap();
    rpm_in(dir, &["-U", "--replacepkgs", "--nodeps", rpm]);
    assert_eq!(std::fs::read_to_string(&settings).unwrap(), edited);
    assert!(timer.is_symlink());
    assert!(module.exists(), "an upgrade keeps the module");

    // Erased: disabled, files gone, the edited settings kept aside.
    rpm_in(dir, &["-e", "foreman-dlm"]);
    assert!(
        !timer.exists() && !timer.is_symlink(),
        "the timer is disabled on erase"
    );
    assert!(!dir.join("usr/bin/foreman-dlm").exists());
    assert!(!module.exists(), "%postun removes the SELinux module");
    assert_eq!(
        std::fs::read_to_string(dir.join("etc/foreman-dlm/settings.toml.rpmsave")).unwrap(),
        edited
    );

    // rpmlint, with the findings the package means (each filter says why).
    let rules =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("contrib/packaging/rpm/foreman-dlm.rpmlintrc");
    let lint = Command::new("rpmlint")
        .arg("-r")
        .arg(&rules)
        .arg(rpm)
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&lint.stdout);
    assert!(report.contains(" 0 errors"), "rpmlint:\n{report}");
}

#[test]
fn the_deb_names_its_libraries_and_starts_the_expiry_timer() {
    if !release::wanted() {
        return;
    }
    let release = release::shared();
    let deb = release.deb.to_str().unwrap();
    let control = run("dpkg-deb", &["-f", deb, "Depends"]);
    for expected in ["libc6 (>= 2.34)", "libssl3 (>= 3.0.0)", "adduser"] {
        assert!(control.contains(expected), "Depends: {control}");
    }
    let scripts = tempfile::tempdir().unwrap();
    run("dpkg-deb", &["-e", deb, scripts.path().to_str().unwrap()]);
    let postinst = std::fs::read_to_string(scripts.path().join("postinst")).unwrap();
    for expected in [
        "adduser --system --group",
        "chmod 0640 /etc/foreman-dlm/settings.toml",
        "deb-systemd-helper enable foreman-dlm-expire-events.timer",
        "systemctl start foreman-dlm-expire-events.timer",
        "deb-systemd-invoke try-restart foreman-dlm.service",
    ] {
        assert!(
            postinst.contains(expected),
            "postinst lacks {expected}:\n{postinst}"
        );
    }
    let prerm = std::fs::read_to_string(scripts.path().join("prerm")).unwrap();
    assert!(
        prerm.contains("deb-systemd-invoke stop foreman-dlm.service"),
        "{prerm}"
    );
    let conffiles = std::fs::read_to_string(scripts.path().join("conffiles")).unwrap();
    assert_eq!(conffiles.trim(), "/etc/foreman-dlm/settings.toml");
}

const SELINUX_MAKEFILE: &str = "/usr/share/selinux/devel/Makefile";
const SELINUX_POLICY: &str = "/usr/share/selinux/default";

/// What the module may require outside its optional blocks: types, attributes and roles that
/// EL9's targeted policy declares (checked by hand against selinux-policy's c9s branch) and
/// Debian's refpolicy too. The module is compiled here, where interfaces expand to Debian's
/// names; a required name EL9 lacks would stop the module from loading there. A rule that needs
/// a new name goes in an optional block, or the name is checked against EL9's policy and added.
const EL9_DECLARES: [&str; 29] = [
    "cert_t",
    "configfile",
    "daemon",
    "device_t",
    "domain",
    "entry_type",
    "etc_t",
    "exec_type",
    "file_type",
    "fs_t",
    "http_port_t",
    "init_t",
    "initrc_t",
    "locale_t",
    "node_t",
    "non_auth_file_type",
    "non_security_file_type",
    "nsswitch_domain",
    "port_type",
    "postgresql_port_t",
    "proc_net_t",
    "proc_t",
    "random_device_t",
    "sysfs_t",
    "system_r",
    "unreserved_port_type",
    "urandom_device_t",
    "usr_t",
    "var_run_t",
];

/// The classes and permissions the module may require: EL9's (policy/flask in selinux-policy's
/// c9s branch), as far as the module uses them. Debian's policy has them too.
const EL9_CLASSES: [(&str, &str); 16] = [
    ("capability", "net_bind_service"),
    ("chr_file", "getattr ioctl lock open read"),
    (
        "dir",
        "add_name create getattr ioctl link lock open read remove_name rename reparent rmdir \
         search setattr unlink write",
    ),
    ("fd", "use"),
    ("fifo_file", "append getattr ioctl lock open read write"),
    (
        "file",
        "entrypoint execute getattr ioctl lock map open read",
    ),
    ("filesystem", "getattr"),
    ("lnk_file", "getattr read"),
    (
        "netlink_route_socket",
        "append bind connect create getattr getopt ioctl nlmsg_read read setattr setopt \
         shutdown write",
    ),
    (
        "process",
        "getsched noatsecure rlimitinh setsched sigchld siginh signal signull transition",
    ),
    ("process2", "nnp_transition nosuid_transition"),
    (
        "sock_file",
        "append create getattr ioctl link lock open read rename setattr unlink write",
    ),
    (
        "tcp_socket",
        "accept append bind connect create getattr getopt ioctl listen name_bind name_connect \
         node_bind read setattr setopt shutdown write",
    ),
    (
        "udp_socket",
        "append bind connect create getattr getopt ioctl read setattr setopt shutdown write",
    ),
    (
        "unix_dgram_socket",
        "append bind connect create getattr getopt ioctl read sendto setattr setopt shutdown \
         write",
    ),
    (
        "unix_stream_socket",
        "accept append bind connect connectto create getattr getopt ioctl listen read setattr \
         setopt shutdown write",
    ),
];

/// Whether the SELinux tools are here: skipped with a notice, except under CI.
fn selinux_tools_available() -> bool {
    if Path::new(SELINUX_MAKEFILE).exists() && Path::new("/usr/bin/sesearch").exists() {
        return true;
    }
    assert!(
        std::env::var("CI").is_err(),
        "selinux-policy-dev or setools is missing; .ci/run installs them"
    );
    eprintln!(
        "NOTICE: skipping the SELinux module test \
         (apt-get install selinux-policy-dev selinux-policy-default setools)"
    );
    false
}

/// The names a compiled module's `require` blocks ask for outside `optional` blocks (types,
/// attributes, roles, and classes' permissions as `class:permission`), from the policy source
/// after macro expansion (tmp/NAME.tmp of the policy Makefile).
fn mandatory_requirements(expanded: &str) -> std::collections::BTreeSet<String> {
    let text: String = expanded
        .lines()
        .map(|line| line.split('#').next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n");
    let mut names = std::collections::BTreeSet::new();
    // One entry per open brace: whether it opened an optional block.
    let mut blocks: Vec<bool> = Vec::new();
    let mut rest = text.as_str();
    while let Some(at) = rest.find(['{', '}']) {
        let before = rest[..at].trim_end();
        if rest.as_bytes()[at] == b'}' {
            blocks.pop();
            rest = &rest[at + 1..];
            continue;
        }
        if before.ends_with("require") {
            let body_end = rest[at..].find('}').map_or(rest.len(), |i| at + i);
            if !blocks.contains(&true) {
                for statement in rest[at + 1..body_end].split(';') {
                    let mut words = statement
                        .split([' ', '\t', '\n', ',', '{', '}'])
                        .filter(|w| !w.is_empty());
                    match words.next() {
                        Some("type" | "attribute" | "role") => {
                            names.extend(words.map(str::to_string));
                        }
                        Some("class") => {
                            let class = words.next().unwrap_or_default();
                            names.extend(words.map(|permission| format!("{class}:{permission}")));
                        }
                        _ => {}
                    }
                }
            }
            rest = &rest[body_end + 1..];
            continue;
        }
        blocks.push(before.ends_with("optional"));
        rest = &rest[at + 1..];
    }
    names
}

/// The format version of the module inside a policy package (.pp). The package's header is
/// magic, version, section count and the sections' offsets; the first section, the module,
/// starts with magic, "SE Linux Module" (length-prefixed), kind and format version.
fn module_format(package: &[u8]) -> Option<u32> {
    let word = |at: usize| -> Option<u32> {
        Some(u32::from_le_bytes(
            package.get(at..at + 4)?.try_into().ok()?,
        ))
    };
    let module = word(12)? as usize;
    let name_len = word(module + 4)? as usize;
    word(module + 8 + name_len + 4)
}

fn sesearch(policy: &Path, args: &[&str]) -> String {
    let mut all: Vec<&str> = args.to_vec();
    all.push(policy.to_str().unwrap());
    run("sesearch", &all)
}

#[test]
fn the_selinux_module_compiles_and_links_into_a_full_policy() {
    if !selinux_tools_available() {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    let build = Command::new(Path::new(env!("CARGO_MANIFEST_DIR")).join("contrib/selinux/build"))
        .arg(dir)
        .output()
        .unwrap();
    assert!(
        build.status.success(),
        "the module does not compile:\n{}",
        String::from_utf8_lossy(&build.stderr)
    );
    // Readable by EL9.0's libsepol (3.3): module format 19 at most.
    let module = std::fs::read(dir.join("foreman_dlm.pp")).unwrap();
    assert_eq!(module_format(&module), Some(19));

    // Loadable on EL9: nothing outside an optional block that EL9's policy lacks.
    let expanded = std::fs::read_to_string(dir.join("tmp/foreman_dlm.tmp")).unwrap();
    let required = mandatory_requirements(&expanded);
    assert!(
        required.contains("init_t") && required.contains("var_run_t"),
        "{required:?}"
    );
    let el9_has = |name: &str| match name.split_once(':') {
        Some((class, permission)) => EL9_CLASSES.iter().any(|(known, permissions)| {
            *known == class && permissions.split_whitespace().any(|p| p == permission)
        }),
        None => name.starts_with("foreman_dlm") || EL9_DECLARES.contains(&name),
    };
    let unknown: Vec<&String> = required.iter().filter(|name| !el9_has(name)).collect();
    assert!(
        unknown.is_empty(),
        "not known to be in EL9's policy: {unknown:?}"
    );

    // Linked with Debian's full policy: the base, and the modules whose types it names.
    let modules = ["base", "apache", "postgresql", "puppet"];
    for module in modules {
        shell(
            &format!("bzip2 -dc {SELINUX_POLICY}/{module}.pp.bz2 > {module}.pp"),
            dir,
        );
    }
    let link = |name: &str, with: &[&str]| -> PathBuf {
        let mut packages = vec!["base.pp", "foreman_dlm.pp"];
        packages.extend_from_slice(with);
        shell(
            &format!(
                "semodule_link -o {name}.lpp {} 2>&1 && semodule_expand {name}.lpp {name}.bin",
                packages.join(" ")
            ),
            dir,
        );
        dir.join(format!("{name}.bin"))
    };
    let policy = link("full", &["apache.pp", "postgresql.pp", "puppet.pp"]);
    let rules = [
        (
            vec![
                "-A",
                "-s",
                "httpd_t",
                "-t",
                "foreman_dlm_t",
                "-c",
                "unix_stream_socket",
            ],
            "allow httpd_t foreman_dlm_t:unix_stream_socket connectto;",
        ),
        (
            vec![
                "-A",
                "-s",
                "httpd_t",
                "-t",
                "foreman_dlm_runtime_t",
                "-c",
                "sock_file",
            ],
            "allow httpd_t foreman_dlm_runtime_t:sock_file",
        ),
        (
            vec!["-T", "-s", "init_t", "-t", "foreman_dlm_exec_t"],
            "type_transition init_t foreman_dlm_exec_t:process foreman_dlm_t;",
        ),
        (
            vec![
                "-A",
                "-s",
                "init_t",
                "-t",
                "foreman_dlm_t",
                "-c",
                "process2",
            ],
            "nnp_transition",
        ),
        (
            vec![
                "-A",
                "-s",
                "foreman_dlm_t",
                "-t",
                "postgresql_t",
                "-c",
                "unix_stream_socket",
            ],
            "connectto",
        ),
        (
            vec![
                "-A",
                "-s",
                "foreman_dlm_t",
                "-t",
                "postgresql_port_t",
                "-c",
                "tcp_socket",
            ],
            "name_connect",
        ),
        (
            vec![
                "-A",
                "-s",
                "foreman_dlm_t",
                "-t",
                "puppet_etc_t",
                "-c",
                "file",
            ],
            "read",
        ),
        (
            vec![
                "-A",
                "-s",
                "foreman_dlm_t",
                "-t",
                "http_port_t",
                "-c",
                "tcp_socket",
            ],
            "name_bind",
        ),
        (
            vec![
                "-A",
                "-s",
                "foreman_dlm_t",
                "-t",
                "foreman_dlm_runtime_t",
                "-c",
                "sock_file",
            ],
            "create",
        ),
    ];
    for (query, expected) in &rules {
        let found = sesearch(&policy, query);
        assert!(found.contains(expected), "sesearch {query:?}: {found}");
    }

    // The file contexts name types the linked policy has.
    shell(
        "semodule_unpackage foreman_dlm.pp foreman_dlm.mod foreman_dlm.fc.out",
        dir,
    );
    let contexts = std::fs::read_to_string(dir.join("foreman_dlm.fc.out")).unwrap();
    for path in [
        "/usr/bin/foreman-dlm",
        "/run/foreman-dlm(/.*)?",
        "/var/run/foreman-dlm(/.*)?",
    ] {
        assert!(contexts.contains(path), "{contexts}");
    }
    shell("setfiles -c full.bin foreman_dlm.fc.out", dir);

    // Where Apache's module is absent (as foreman-selinux may be), the module still links, and
    // only the rules that name httpd_t are left out.
    let without_apache = link("no_apache", &["postgresql.pp", "puppet.pp"]);
    assert!(sesearch(&without_apache, &["-A", "-t", "foreman_dlm_t"]).contains("init_t"));
    assert!(!sesearch(&without_apache, &["-A", "-t", "foreman_dlm_t"]).contains("httpd_t"));
}
