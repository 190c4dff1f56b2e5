//! End to end with the real pieces: curl with client certificates → Apache (configured like
//! Foreman's SSL vhost, with contrib/apache/foreman-dlm.conf) → foreman-dlm → PostgreSQL; and the
//! same cases against foreman-dlm's own TLS listener.

use std::path::PathBuf;
use std::process::{Command, Stdio};

use serde_json::{json, Value};

use crate::common::apache::{self, Apache, Backend, Vhost};
use crate::common::{curl, pki, Server, ServerOptions, TestDb};

const KATELLO_SCHEMA_SQL: &str = include_str!("../fixtures/katello_schema.sql");
const CONSUMER_UUID: &str = "0f3b1c6e-94d2-4b8e-a1f4-7c2d5e9a0b13";

/// A Katello-flavoured Foreman: Puppet hosts, a subscription-manager host, CRL in foreman-dlm.
struct Site {
    db: TestDb,
    server: Server,
    web1: i64,
    rhel1: i64,
    clients: Clients,
}

/// Client certificate files, as they sit on the hosts.
struct Clients {
    web1: Vec<String>,
    web2: Vec<String>,
    revoked: Vec<String>,
    foreign: Vec<String>,
    consumer: Vec<String>,
    anonymous: Vec<String>,
}

fn client_args(label: &str, cert: &foreman_dlm::demo::pki::Issued) -> Vec<String> {
    let (cert_file, key_file) = pki::shared().write_client(label, cert);
    crate::common::curl_cert_args(&cert_file, &key_file)
}

impl Site {
    fn new() -> Site {
        Self::listening(None)
    }

    /// `unix_socket`: the service listens there for Apache (the packaged default), not on TCP.
    fn listening(unix_socket: Option<PathBuf>) -> Site {
        let db = TestDb::new();
        db.exec(KATELLO_SCHEMA_SQL);
        let web1 = db.add_host("web1.example.com");
        db.add_host("web2.example.com");
        db.add_host("revoked.example.com");
        let rhel1 = db.add_host("rhel1.example.com");
        db.exec(&format!(
            "INSERT INTO katello_subscription_facets (host_id, uuid) VALUES ({rhel1}, '{CONSUMER_UUID}')"
        ));
        let pki = pki::shared();
        let mut options = ServerOptions::for_db(&db);
        options.ca_files = vec![pki.ca_file.clone()];
        options.katello_ca_files = vec![pki.katello_ca_file.clone()];
        options.crl_files = vec![pki.crl_file.clone()];
        options.trusted_proxies = Some(vec!["127.0.0.1/32".into()]);
        options.tls = true;
        options.unix_socket = unix_socket;
        let server = Server::spawn(&options);
        let clients = Clients {
            web1: client_args("web1", &pki.host("web1.example.com")),
            web2: client_args("web2", &pki.host("web2.example.com")),
            revoked: client_args("revoked", &pki.revoked),
            foreign: client_args("foreign", &pki.foreign("web1.example.com")),
            consumer: client_args("consumer", &pki.consumer(CONSUMER_UUID)),
            anonymous: vec!["--cacert".into(), pki.ca_file.display().to_string()],
        };
        Site {
            db,
            server,
            web1,
            rhel1,
            clients,
        }
    }

    fn holder(&self, name: &str) -> Value {
        self.db
            .rows(&format!(
                "SELECT host_id FROM dlmlocks WHERE name = '{name}'"
            ))
            .get(0)
            .map_or(Value::Null, |row| row["host_id"].clone())
    }
}

fn call(method: &str, url: &str, client: &[String]) -> crate::common::CurlAnswer {
    let args: Vec<&str> = client.iter().map(String::as_str).collect();
    curl(method, url, &args)
}

/// Runs the shared cases against `base` (Apache or the TLS listener) and returns what each saw.
fn lock_cycle_cases(
    site: &Site,
    base: &dyn Fn(&str) -> String,
    foreign_refused_at_tls: bool,
) -> Vec<(String, u16)> {
    let c = &site.clients;
    let mut seen = Vec::new();
    let mut record = |case: &str, status: u16| seen.push((case.to_string(), status));

    let acquire = call("PUT", &base("/api/dlmlocks/cluster-a/lock"), &c.web1);
    assert_eq!(acquire.status, 200, "{acquire:?}");
    assert_eq!(acquire.body["host"]["name"], "web1.example.com");
    record("acquire by web1", acquire.status);

    let show = call("GET", &base("/api/v2/dlmlocks/cluster-a/lock"), &c.web2);
    assert_eq!(show.status, 200);
    assert_eq!(
        show.body["host"],
        json!({"name": "web1.example.com", "self": false})
    );
    record("show by web2", show.status);

    let contended = call("PUT", &base("/api/dlmlocks/cluster-a/lock"), &c.web2);
    assert_eq!(contended.status, 412);
    assert_eq!(site.holder("cluster-a"), json!(site.web1));
    record("acquire by web2 while web1 holds it", contended.status);

    let release = call("DELETE", &base("/api/dlmlocks//cluster-a/lock"), &c.web1);
    assert_eq!(release.status, 200);
    assert_eq!(site.holder("cluster-a"), Value::Null);
    record(
        "release by web1 (doubled slash, as updatelock sends it)",
        release.status,
    );

    let revoked = call("PUT", &base("/api/dlmlocks/cluster-b/lock"), &c.revoked);
    assert_eq!(revoked.status, 401, "{revoked:?}");
    assert_eq!(site.holder("cluster-b"), Value::Null);
    record("acquire with a revoked certificate", revoked.status);

    let foreign = call("PUT", &base("/api/dlmlocks/cluster-b/lock"), &c.foreign);
    if foreign_refused_at_tls {
        assert_eq!(
            foreign.status, 0,
            "Apache must refuse the handshake: {foreign:?}"
        );
    } else {
        assert_eq!(foreign.status, 401, "{foreign:?}");
    }
    assert_eq!(site.holder("cluster-b"), Value::Null);
    record(
        "acquire with a certificate from another CA (0 = TLS handshake refused)",
        foreign.status,
    );

    let consumer = call("PUT", &base("/api/dlmlocks/rhel-cluster/lock"), &c.consumer);
    assert_eq!(consumer.status, 200, "{consumer:?}");
    assert_eq!(consumer.body["host"]["name"], "rhel1.example.com");
    assert_eq!(site.holder("rhel-cluster"), json!(site.rhel1));
    record(
        "acquire with a Katello consumer certificate",
        consumer.status,
    );
    let consumer_release = call(
        "DELETE",
        &base("/api/dlmlocks/rhel-cluster/lock"),
        &c.consumer,
    );
    assert_eq!(consumer_release.status, 200);
    record(
        "release with the Katello consumer certificate",
        consumer_release.status,
    );

    let anonymous = call("PUT", &base("/api/dlmlocks/cluster-b/lock"), &c.anonymous);
    assert_eq!(anonymous.status, 401);
    record("acquire without a client certificate", anonymous.status);

    // Katello's capsules forward certificates as X-RHSM-SSL-CLIENT-CERT; that header never counts.
    let mut rhsm = c.anonymous.clone();
    rhsm.extend([
        "-H".to_string(),
        format!(
            "X-RHSM-SSL-CLIENT-CERT: {}",
            pki::shared().consumer(CONSUMER_UUID).apache_header()
        ),
    ]);
    let rhsm = call("PUT", &base("/api/dlmlocks/cluster-b/lock"), &rhsm);
    assert_eq!(rhsm.status, 401);
    record(
        "acquire with only an X-RHSM-SSL-CLIENT-CERT header",
        rhsm.status,
    );

    let unicode = call(
        "PUT",
        &base("/api/dlmlocks/Test%20Lock%20%C3%A4/lock"),
        &c.web2,
    );
    assert_eq!(unicode.status, 200, "{unicode:?}");
    assert_eq!(unicode.body["name"], "Test Lock \u{e4}");
    record("acquire of an escaped Unicode name", unicode.status);

    assert_eq!(
        site.holder("cluster-b"),
        Value::Null,
        "no refused request created a holder"
    );
    seen
}

fn print_cases(title: &str, seen: &[(String, u16)]) {
    eprintln!("{title}:");
    for (case, status) in seen {
        eprintln!("  {status:>3}  {case}");
    }
}

#[actix_web::test]
async fn through_apache_like_foremans_vhost() {
    if !apache::available() {
        return;
    }
    let site = Site::new();
    let apache = Apache::start(site.server.addr);
    let base = |path: &str| apache.url(path);

    let mut seen = lock_cycle_cases(&site, &base, true);

    // Straight to the service, bypassing Apache, from a loopback address that is not the proxy,
    // with a forged certificate header: ignored.
    let forged = pki::shared().host("web1.example.com").apache_header();
    let direct = curl(
        "PUT",
        &site.server.url("/api/dlmlocks/cluster-c/lock"),
        &[
            "--interface",
            "127.0.0.2",
            "-H",
            &format!("SSL-CLIENT-CERT: {forged}"),
            "-H",
            "SSL-CLIENT-VERIFY: SUCCESS",
        ],
    );
    assert_eq!(direct.status, 401, "{direct:?}");
    assert_eq!(site.holder("cluster-c"), Value::Null);
    seen.push((
        "forged cert header sent straight to the service from 127.0.0.2".into(),
        direct.status,
    ));

    let events = site
        .db
        .rows("SELECT event_type, count(*) AS n FROM dlmlock_events GROUP BY 1 ORDER BY 1");
    assert_eq!(
        events,
        json!([{"event_type": "acquire", "n": 3}, {"event_type": "fail", "n": 1}, {"event_type": "release", "n": 2}])
    );
    print_cases("through Apache", &seen);
    assert!(
        !apache.error_log().contains("AH01144"),
        "no proxy errors: {}",
        apache.error_log()
    );
}

/// The packaged default: Apache reaches the service over its Unix socket
/// (`ProxyPass … unix:/run/foreman-dlm/http.sock|http://localhost/…`).
#[actix_web::test]
async fn through_apache_over_the_unix_socket() {
    if !apache::available() {
        return;
    }
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let socket = dir.path().join("http.sock");
    let site = Site::listening(Some(socket.clone()));
    let apache = Apache::start_with(Backend::Unix(socket), Vhost::Current);
    let base = |path: &str| apache.url(path);

    let seen = lock_cycle_cases(&site, &base, true);

    print_cases("through Apache over the Unix socket", &seen);
    assert!(
        !apache.error_log().contains("AH01144") && !apache.error_log().contains("AH02454"),
        "no proxy errors: {}",
        apache.error_log()
    );
}

#[actix_web::test]
async fn through_the_direct_tls_listener() {
    let site = Site::new();
    let base = |path: &str| site.server.tls_url(path);

    let mut seen = lock_cycle_cases(&site, &base, false);

    // On the TLS listener certificate headers are ignored, even from loopback.
    let forged = pki::shared().host("web1.example.com").apache_header();
    let mut args = site.clients.anonymous.clone();
    args.extend(["-H".to_string(), format!("SSL-CLIENT-CERT: {forged}")]);
    let header_only = call("PUT", &base("/api/dlmlocks/cluster-c/lock"), &args);
    assert_eq!(header_only.status, 401);
    seen.push((
        "forged cert header over TLS without a client certificate".into(),
        header_only.status,
    ));
    print_cases("direct TLS", &seen);
}

#[actix_web::test]
async fn tls12_sessions_resume_and_keep_the_client_identity() {
    let site = Site::new();
    let port = site.server.tls_addr.expect("tls").port();
    let pki = pki::shared();
    let (cert, key) = pki.write_client("resume", &pki.host("web1.example.com"));
    site.db.add_lock("resumed", Some(site.web1), true);
    let session = pki.dir.join(format!("session-{port}.pem"));

    let first = s_client(port, &cert, &key, &session, false);
    let second = s_client(port, &cert, &key, &session, true);

    assert!(first.contains("HTTP/1.1 200"), "{first}");
    assert!(
        second.contains("Reused, TLSv1.2"),
        "session not resumed: {second}"
    );
    assert!(second.contains("HTTP/1.1 200"), "{second}");
    assert!(
        second.contains(r#""self":true"#),
        "identity lost on resumption: {second}"
    );
}

/// One HTTP request over `openssl s_client -tls1_2`, saving or resuming the session.
fn s_client(port: u16, cert: &PathBuf, key: &PathBuf, session: &PathBuf, resume: bool) -> String {
    let mut command = Command::new("openssl");
    command
        .args([
            "s_client",
            "-tls1_2",
            "-ign_eof",
            "-connect",
            &format!("127.0.0.1:{port}"),
        ])
        .args([
            "-servername",
            "localhost",
            "-CAfile",
            &pki::shared().ca_file.display().to_string(),
        ])
        .arg("-cert")
        .arg(cert)
        .arg("-key")
        .arg(key)
        .arg(if resume { "-sess_in" } else { "-sess_out" })
        .arg(session)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().expect("openssl s_client");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin");
        let _ = stdin.write_all(b"GET /api/dlmlocks/resumed/lock HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    }
    let output = child.wait_with_output().expect("s_client output");
    String::from_utf8_lossy(&output.stdout).into_owned()
}
