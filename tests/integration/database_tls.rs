//! TLS to PostgreSQL as libpq does it (issue 10): every sslmode against a throw-away cluster that
//! the test starts itself (`initdb` in a temporary directory, its own port, `ssl = on` with a
//! certificate from the test CA), whose pg_hba.conf accepts one role only over TLS, one only
//! without, and one only with a client certificate.

use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use diesel::sql_types::Bool;
use diesel::QueryableByName;
use diesel_async::RunQueryDsl;

use crate::common::pki;
use foreman_dlm::demo::pki::CertSpec;
use foreman_dlm::settings::Secret;
use foreman_dlm::storage::Database;

/// A PostgreSQL cluster of the test's own, stopped and deleted when dropped.
struct Cluster {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
    as_postgres: bool,
}

fn postgres_bin() -> Option<PathBuf> {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|bin| bin.join("initdb").exists())
        .collect();
    versions.sort();
    versions.pop()
}

fn is_root() -> bool {
    nix::unistd::Uid::effective().is_root()
}

impl Cluster {
    fn start() -> Cluster {
        let bin = postgres_bin().expect("PostgreSQL's server binaries (initdb) are installed");
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
            .expect("chmod");
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("free port");
        let cluster = Cluster {
            dir,
            bin,
            port,
            // initdb refuses to run as root; CI runs as root.
            as_postgres: is_root(),
        };
        let data = cluster.data();
        std::fs::create_dir(&data).expect("data directory");
        cluster.owned(Path::new(&data), 0o700);
        cluster.run(
            "initdb",
            &["-D", &data, "-U", "postgres", "--auth=trust", "-E", "UTF8"],
        );
        let pki = pki::shared();
        let server = pki
            .ca
            .issue_spec(&CertSpec {
                common_name: "localhost",
                dns_names: &["localhost"],
                ..CertSpec::default()
            })
            .expect("server certificate");
        cluster.write_owned("server.crt", &server.cert_pem(), 0o644);
        cluster.write_owned("server.key", &server.key_pem(), 0o600);
        cluster.write_owned(
            "root.crt",
            &std::fs::read_to_string(&pki.ca_file).expect("ca"),
            0o644,
        );
        let conf = format!(
            "port = {port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{data}'\n\
             ssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n\
             ssl_ca_file = 'root.crt'\nfsync = off\n"
        );
        cluster.append_owned("postgresql.conf", &conf);
        cluster.write_owned(
            "pg_hba.conf",
            "local all all trust\n\
             hostssl all tls_only 127.0.0.1/32 trust\n\
             hostnossl all plain_only 127.0.0.1/32 trust\n\
             hostssl all cert_user 127.0.0.1/32 cert\n",
            0o600,
        );
        let log = format!("{data}/server.log");
        cluster.run("pg_ctl", &["-D", &data, "-l", &log, "-w", "start"]);
        cluster.run(
            "psql",
            &[
                "-h",
                &data,
                "-p",
                &port.to_string(),
                "-U",
                "postgres",
                "-d",
                "postgres",
                "-c",
                "CREATE ROLE tls_only LOGIN; CREATE ROLE plain_only LOGIN; CREATE ROLE cert_user LOGIN;",
            ],
        );
        cluster
    }

    fn data(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    fn run(&self, program: &str, args: &[&str]) {
        let path = self.bin.join(program);
        let output = if self.as_postgres {
            Command::new("runuser")
                .args(["-u", "postgres", "--"])
                .arg(&path)
                .args(args)
                .current_dir("/")
                .output()
        } else {
            Command::new(&path).args(args).output()
        }
        .expect("run a PostgreSQL program");
        assert!(
            output.status.success(),
            "{program} {args:?}: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }

    fn owned(&self, path: &Path, mode: u32) {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
        if self.as_postgres {
            let user = nix::unistd::User::from_name("postgres")
                .ok()
                .flatten()
                .expect("the postgres user");
            std::os::unix::fs::chown(path, Some(user.uid.as_raw()), Some(user.gid.as_raw()))
                .expect("chown");
        }
    }

    fn write_owned(&self, name: &str, text: &str, mode: u32) {
        let path = Path::new(&self.data()).join(name);
        std::fs::write(&path, text).expect("write");
        self.owned(&path, mode);
    }

    fn append_owned(&self, name: &str, text: &str) {
        let path = Path::new(&self.data()).join(name);
        let mut content = std::fs::read_to_string(&path).expect("read");
        content.push_str(text);
        std::fs::write(&path, content).expect("write");
    }

    fn url(&self, host: &str, user: &str, params: &str) -> Secret {
        Secret::new(format!(
            "host={host} port={} user={user} dbname=postgres {params}",
            self.port
        ))
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let data = self.data();
        let path = self.bin.join("pg_ctl");
        let _ = if self.as_postgres {
            Command::new("runuser")
                .args(["-u", "postgres", "--"])
                .arg(path)
                .args(["-D", &data, "-m", "immediate", "stop"])
                .current_dir("/")
                .output()
        } else {
            Command::new(path)
                .args(["-D", &data, "-m", "immediate", "stop"])
                .output()
        };
    }
}

#[derive(QueryableByName)]
struct TlsState {
    #[diesel(sql_type = Bool)]
    ssl: bool,
}

/// Connects the way the service does; `Ok(true)` when the session is encrypted.
async fn connect(url: &Secret) -> Result<bool, String> {
    let mut conn = Database::connect_once(url).await?;
    let state: TlsState =
        diesel::sql_query("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
            .get_result(&mut conn)
            .await
            .map_err(|e| e.to_string())?;
    Ok(state.ssl)
}

fn client_files(label: &str) -> (PathBuf, PathBuf) {
    let pki = pki::shared();
    pki.write_client(label, &pki.host("cert_user"))
}

#[actix_web::test]
async fn every_sslmode_behaves_as_libpq_documents() {
    let cluster = Cluster::start();
    let pki = pki::shared();
    let right_ca = format!("sslrootcert={}", pki.ca_file.display());
    let wrong_ca = format!("sslrootcert={}", pki.other_ca_file.display());
    let url = |host: &str, user: &str, params: &str| cluster.url(host, user, params);
    let mut seen = Vec::new();
    let mut check = |case: &str, outcome: Result<bool, String>, expected: Option<bool>| {
        seen.push(format!("{case}: {outcome:?}"));
        match expected {
            Some(tls) => assert_eq!(outcome, Ok(tls), "{case}"),
            None => assert!(outcome.is_err(), "{case} must not connect: {outcome:?}"),
        }
    };

    check(
        "disable, a role that needs TLS",
        connect(&url("127.0.0.1", "tls_only", "sslmode=disable")).await,
        None,
    );
    check(
        "disable, a plain role",
        connect(&url("127.0.0.1", "plain_only", "sslmode=disable")).await,
        Some(false),
    );
    check(
        "allow, a plain role",
        connect(&url("127.0.0.1", "plain_only", "sslmode=allow")).await,
        Some(false),
    );
    check(
        "allow, a role that needs TLS",
        connect(&url("127.0.0.1", "tls_only", "sslmode=allow")).await,
        Some(true),
    );
    check(
        "prefer, a role that needs TLS",
        connect(&url("127.0.0.1", "tls_only", "sslmode=prefer")).await,
        Some(true),
    );
    check(
        "prefer, a plain role",
        connect(&url("127.0.0.1", "plain_only", "sslmode=prefer")).await,
        Some(false),
    );
    check(
        "no sslmode (prefer)",
        connect(&url("127.0.0.1", "tls_only", "")).await,
        Some(true),
    );
    check(
        "require, no root certificate",
        connect(&url("127.0.0.1", "tls_only", "sslmode=require")).await,
        Some(true),
    );
    check(
        "require, a plain role",
        connect(&url("127.0.0.1", "plain_only", "sslmode=require")).await,
        None,
    );
    check(
        "require with the wrong CA file (verify-ca)",
        connect(&url(
            "127.0.0.1",
            "tls_only",
            &format!("sslmode=require {wrong_ca}"),
        ))
        .await,
        None,
    );
    check(
        "verify-ca",
        connect(&url(
            "127.0.0.1",
            "tls_only",
            &format!("sslmode=verify-ca {right_ca}"),
        ))
        .await,
        Some(true),
    );
    check(
        "verify-ca, the wrong CA",
        connect(&url(
            "localhost",
            "tls_only",
            &format!("sslmode=verify-ca {wrong_ca}"),
        ))
        .await,
        None,
    );
    check(
        "verify-full",
        connect(&url(
            "localhost",
            "tls_only",
            &format!("sslmode=verify-full {right_ca}"),
        ))
        .await,
        Some(true),
    );
    check(
        "verify-full, a name the certificate lacks",
        connect(&url(
            "127.0.0.1",
            "tls_only",
            &format!("sslmode=verify-full {right_ca}"),
        ))
        .await,
        None,
    );
    check(
        "verify-full, the wrong CA",
        connect(&url(
            "localhost",
            "tls_only",
            &format!("sslmode=verify-full {wrong_ca}"),
        ))
        .await,
        None,
    );

    let (cert, key) = client_files("cert-user");
    let client = format!("sslcert={} sslkey={}", cert.display(), key.display());
    check(
        "a client certificate (pg_hba cert)",
        connect(&url(
            "localhost",
            "cert_user",
            &format!("sslmode=verify-full {right_ca} {client}"),
        ))
        .await,
        Some(true),
    );
    check(
        "pg_hba cert without a client certificate",
        connect(&url(
            "localhost",
            "cert_user",
            &format!("sslmode=verify-full {right_ca}"),
        ))
        .await,
        None,
    );
    let url_form = Secret::new(format!(
        "postgresql://tls_only@localhost:{}/postgres?sslmode=verify-full&sslrootcert={}",
        cluster.port,
        pki.ca_file.display()
    ));
    check("the URL form", connect(&url_form).await, Some(true));
    eprintln!("{}", seen.join("\n"));
}

/// A refused connection is a clear error in `check-config`, and nothing connects.
#[test]
fn verify_full_failures_are_plain_words_in_check_config() {
    let cluster = Cluster::start();
    let pki = pki::shared();
    let dir = tempfile::tempdir().expect("tempdir");
    for (host, ca, expected) in [
        ("localhost", &pki.other_ca_file, "certificate verify failed"),
        ("127.0.0.1", &pki.ca_file, "certificate verify failed"),
    ] {
        let settings = dir.path().join("settings.toml");
        std::fs::write(
            &settings,
            format!(
                "[database]\nurl = \"host={host} port={} user=tls_only password=Sup3rSecret \
                 dbname=postgres sslmode=verify-full sslrootcert={}\"\n\n\
                 [client_cert]\nca_files = [{:?}]\n",
                cluster.port,
                ca.display(),
                pki.ca_file.display().to_string()
            ),
        )
        .expect("settings");
        let output = Command::new(env!("CARGO_BIN_EXE_foreman-dlm"))
            .arg("--config")
            .arg(&settings)
            .arg("check-config")
            .output()
            .expect("check-config");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(!output.status.success(), "{text}");
        assert!(text.contains("cannot connect to the database"), "{text}");
        assert!(text.contains(expected), "{host}: {text}");
        assert!(!text.contains("Sup3rSecret"), "{text}");
    }
}
