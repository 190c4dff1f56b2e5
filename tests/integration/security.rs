//! Regressions of the holes a hostile probe found (issue 9), one test per hole, each named after
//! what it defends. Every one of them fails against release 0fa601c: run the suite with
//! `FOREMAN_DLM_TEST_BINARY=<old build>/foreman-dlm` to see it.

use serde_json::{json, Value};

use crate::common::apache::{self, Apache, Backend, Vhost};
use crate::common::users::{basic, Scheme};
use crate::common::{cert_header, curl, curl_cert_args, pki, send, TestApp};

const KATELLO_SCHEMA_SQL: &str = include_str!("../fixtures/katello_schema.sql");

fn lock_rows(app: &TestApp) -> Value {
    app.db
        .rows("SELECT name, host_id FROM dlmlocks ORDER BY id")
}

/// A directory Apache's user may enter, for the service's Unix socket.
fn socket_dir() -> tempfile::TempDir {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    dir
}

/// Item 1: behind a vhost written by an installer before puppet-foreman 26.2 (mod_ssl's values in
/// underscore headers), a client's own dashed header used to reach the service unchanged.
#[actix_web::test]
async fn older_installer_vhost_cannot_forward_a_forged_certificate_header() {
    if !apache::available() {
        return;
    }
    let app = TestApp::spawn();
    let (_, mallory_cert) = app.host("mallory.example.com");
    app.db.add_host("victim.example.com");
    let victim = pki::shared().host("victim.example.com");
    let apache = Apache::start_with(Backend::Tcp(app.server.addr), Vhost::BeforeInstaller26_2);
    let url = apache.url("/api/dlmlocks/cluster/lock");
    let forged = [
        "-H".to_string(),
        format!("SSL-CLIENT-CERT: {}", victim.apache_header()),
        "-H".to_string(),
        "SSL-CLIENT-VERIFY: SUCCESS".to_string(),
    ];
    let anonymous = [
        "--cacert".to_string(),
        pki::shared().ca_file.display().to_string(),
    ];

    let args: Vec<&str> = anonymous
        .iter()
        .chain(&forged)
        .map(String::as_str)
        .collect();
    let without_certificate = curl("PUT", &url, &args);
    assert_eq!(without_certificate.status, 401, "{without_certificate:?}");
    assert_eq!(lock_rows(&app), json!([]), "nothing changed");

    let (cert_file, key_file) = pki::shared().write_client("mallory", &mallory_cert);
    let own = curl_cert_args(&cert_file, &key_file);
    let args: Vec<&str> = own.iter().chain(&forged).map(String::as_str).collect();
    let with_own_certificate = curl("PUT", &url, &args);
    assert_eq!(with_own_certificate.status, 200, "{with_own_certificate:?}");
    assert_eq!(
        with_own_certificate.body["host"]["name"], "mallory.example.com",
        "the client is who its own certificate says, never who its header says"
    );
}

/// Item 2: any local process could forward a host's certificate over TCP from anywhere in
/// 127.0.0.0/8; now only 127.0.0.1 and ::1 by default, and the packaged default is a Unix socket
/// whose mode and group decide who may speak for Apache.
#[actix_web::test]
async fn only_apache_may_speak_for_apache() {
    let app = TestApp::spawn();
    app.db.add_host("web1.example.com");
    let forged = pki::shared().host("web1.example.com").apache_header();
    let from_other_loopback = curl(
        "PUT",
        &app.url("/api/dlmlocks/cluster/lock"),
        &[
            "--interface",
            "127.0.0.2",
            "-H",
            &format!("SSL-CLIENT-CERT: {forged}"),
            "-H",
            "SSL-CLIENT-VERIFY: SUCCESS",
        ],
    );
    assert_eq!(from_other_loopback.status, 401, "{from_other_loopback:?}");
    assert_eq!(lock_rows(&app), json!([]));

    let dir = socket_dir();
    let socket = dir.path().join("http.sock");
    let over_socket = TestApp::spawn_with(|o| o.unix_socket = Some(socket.clone()));
    over_socket.db.add_host("web1.example.com");
    let meta = std::fs::metadata(&socket).expect("the socket exists");
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    assert_eq!(meta.permissions().mode() & 0o777, 0o660, "http.socket_mode");
    let www_data = nix::unistd::Group::from_name("www-data")
        .ok()
        .flatten()
        .or_else(|| nix::unistd::Group::from_name("apache").ok().flatten());
    if let Some(group) = www_data {
        assert_eq!(meta.gid(), group.gid.as_raw(), "Apache's group by default");
    }
    let through_socket = curl(
        "PUT",
        "http://localhost/api/dlmlocks/cluster/lock",
        &[
            "--unix-socket",
            &socket.display().to_string(),
            "-H",
            &format!("SSL-CLIENT-CERT: {forged}"),
            "-H",
            "SSL-CLIENT-VERIFY: SUCCESS",
        ],
    );
    assert_eq!(through_socket.status, 200, "{through_socket:?}");
    assert_eq!(through_socket.body["host"]["name"], "web1.example.com");
}

/// Item 3: a Puppet-CA certificate (with autosign, anyone can get one) whose CN is a Katello
/// consumer uuid used to identify that Katello host.
#[actix_web::test]
async fn a_puppet_certificate_cannot_name_a_katello_host() {
    const UUID: &str = "0f3b1c6e-94d2-4b8e-a1f4-7c2d5e9a0b13";
    let app = TestApp::spawn_with(|o| {
        o.katello_ca_files = vec![pki::shared().katello_ca_file.clone()];
    });
    app.db.exec(KATELLO_SCHEMA_SQL);
    let rhel1 = app.db.add_host("rhel1.example.com");
    app.db.exec(&format!(
        "INSERT INTO katello_subscription_facets (host_id, uuid) VALUES ({rhel1}, '{UUID}')"
    ));
    let pki = pki::shared();

    let impostor = app
        .as_host("PUT", "/api/dlmlocks/rhel/lock", Some(&pki.host(UUID)))
        .await;
    assert_eq!(impostor.status, 401, "{}", impostor.body);
    assert_eq!(lock_rows(&app), json!([]));

    let consumer = app
        .as_host("PUT", "/api/dlmlocks/rhel/lock", Some(&pki.consumer(UUID)))
        .await;
    assert_eq!(
        consumer.status,
        200,
        "{} {}",
        consumer.body,
        app.server.logs()
    );
    assert_eq!(consumer.body["host"]["name"], "rhel1.example.com");

    // And the other way round: a consumer certificate whose CN is a Puppet certname.
    app.db.add_host("web1.example.com");
    let reversed = app
        .as_host(
            "PUT",
            "/api/dlmlocks/web/lock",
            Some(&pki.consumer("web1.example.com")),
        )
        .await;
    assert_eq!(reversed.status, 401, "{}", reversed.body);
}

/// Item 6: NUL bytes reached PostgreSQL and came back as 500s.
#[actix_web::test]
async fn nul_bytes_are_refused_before_sql() {
    let app = TestApp::spawn();
    let admin = app.db.add_user("admin", "pw", Scheme::Bcrypt);
    app.db.make_admin(admin);
    let nul_login = basic("ad\0min", "pw");
    let login = app.send("GET", "/api/dlmlocks", &[nul_login]).await;
    let search = app
        .send("GET", "/api/dlmlocks?search=%00", &[basic("admin", "pw")])
        .await;
    let named = app
        .send_json(
            "POST",
            "/api/dlmlocks",
            &[basic("admin", "pw")],
            Some(json!({"name": "a\u{0}b"})),
        )
        .await;

    assert_eq!(login.status, 400, "{}", login.body);
    assert!(login.body["error"]["message"].is_string());
    assert_eq!(search.status, 400, "{}", search.body);
    assert!(search.body["error"]["message"].is_string());
    assert_eq!(named.status, 422, "{}", named.body);
    assert_eq!(lock_rows(&app), json!([]));
    assert!(
        !app.server.logs().contains("database query failed"),
        "no database error was logged:\n{}",
        app.server.logs()
    );
}

/// Item 8: blank names and names with bidi or other invisible format characters were stored,
/// then shown as something they are not.
#[actix_web::test]
async fn names_that_display_as_something_else_are_refused() {
    let app = TestApp::spawn();
    let (_, cert) = app.host("web1.example.com");
    let admin = app.db.add_user("admin", "pw", Scheme::Bcrypt);
    app.db.make_admin(admin);
    for path in [
        "%20",
        "%20%20%09",
        "web%E2%80%AE1",
        "%E2%80%8Bweb",
        "a%E2%81%A6b%E2%81%A9",
    ] {
        let answer = app
            .as_host("PUT", &format!("/api/dlmlocks/{path}/lock"), Some(&cert))
            .await;
        assert_eq!(answer.status, 400, "{path}: {}", answer.body);
        assert!(answer.body["error"]["message"].is_string());
    }
    let created = app
        .send_json(
            "POST",
            "/api/dlmlocks",
            &[basic("admin", "pw")],
            Some(json!({"dlmlock": {"name": "db\u{202E}prod"}})),
        )
        .await;
    assert_eq!(created.status, 422, "{}", created.body);
    assert_eq!(lock_rows(&app), json!([]));
}

/// Item 9: where actix itself answers, the answer is the JSON envelope whenever the request got
/// as far as the application; what the HTTP/1 parser refuses (a request head over 128 KiB, a
/// broken request line) is documented in README as actix's own bodiless answer.
#[actix_web::test]
async fn framework_errors_are_json_where_the_framework_allows() {
    let app = TestApp::spawn();
    let admin = app.db.add_user("admin", "pw", Scheme::Bcrypt);
    app.db.make_admin(admin);
    for (method, path) in [
        ("GET", "/api/dlmlocks?page=%FF%FE"),
        ("GET", "/api/dlmlocks?per_page=%00"),
        ("OPTIONS", "/api/dlmlocks"),
        ("GET", "/api/dlmlocks/%FF/lock"),
    ] {
        let answer = app.send(method, path, &[basic("admin", "pw")]).await;
        assert!(
            (400..500).contains(&answer.status),
            "{method} {path}: {}",
            answer.status
        );
        assert!(
            answer.content_type.starts_with("application/json")
                && answer.body["error"]["message"].is_string(),
            "{method} {path}: {} {:?}",
            answer.status,
            answer.raw
        );
    }
    let huge = raw_status(
        &app,
        &format!(
            "GET /api/dlmlocks HTTP/1.1\r\nHost: x\r\nX-Junk: {}\r\n\r\n",
            "a".repeat(200_000)
        ),
    );
    assert!(matches!(huge, 0 | 431), "{huge}");
}

fn raw_status(app: &TestApp, request: &str) -> u16 {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(app.server.addr).expect("connect");
    let _ = stream.set_read_timeout(Some(std::time::Duration::from_secs(10)));
    let _ = stream.write_all(request.as_bytes());
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    String::from_utf8_lossy(&response)
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0)
}

/// Item 5 (answers): failed logins are counted per client address and per login; over the limit
/// the answer is 429 with Retry-After and JSON, before any hashing, and other clients go on.
#[actix_web::test]
async fn failed_logins_are_rate_limited_per_address_and_per_login() {
    let app = TestApp::spawn_with(|o| {
        o.extra_toml = "[logins]\nfailures_per_address_per_minute = 5\n\
                        failures_per_login_per_minute = 3\n"
            .into()
    });
    let admin = app.db.add_user("admin", "pw", Scheme::Bcrypt);
    app.db.make_admin(admin);
    let from = |address: &str| ("X-Forwarded-For", format!("198.51.100.7, {address}"));

    let mut statuses = Vec::new();
    for _ in 0..4 {
        let answer = app
            .send(
                "GET",
                "/api/dlmlocks",
                &[basic("admin", "wrong"), from("192.0.2.1")],
            )
            .await;
        statuses.push(answer.status);
    }
    assert_eq!(
        statuses,
        [401, 401, 401, 429],
        "the login is blocked after 3 failures"
    );
    let blocked = app
        .send(
            "GET",
            "/api/dlmlocks",
            &[basic("admin", "pw"), from("192.0.2.9")],
        )
        .await;
    assert_eq!(
        blocked.status, 429,
        "even the right password waits: {}",
        blocked.body
    );
    assert!(blocked.body["error"]["message"].is_string());
    let retry_after: u64 = blocked
        .header("retry-after")
        .and_then(|v| v.parse().ok())
        .expect("Retry-After in seconds");
    assert!((1..=60).contains(&retry_after), "{retry_after}");

    for n in 0..5 {
        let _ = app
            .send(
                "GET",
                "/api/dlmlocks",
                &[basic(&format!("guess{n}"), "x"), from("192.0.2.2")],
            )
            .await;
    }
    let address_blocked = app
        .send(
            "GET",
            "/api/dlmlocks",
            &[basic("someone", "x"), from("192.0.2.2")],
        )
        .await;
    assert_eq!(address_blocked.status, 429, "{}", address_blocked.body);
    let other_address = app
        .send(
            "GET",
            "/api/dlmlocks",
            &[basic("someone", "x"), from("192.0.2.3")],
        )
        .await;
    assert_eq!(other_address.status, 401, "another address is not blocked");
    let host = app.host("web1.example.com").1;
    let lock = send(
        "PUT",
        &app.url("/api/dlmlocks/cluster/lock"),
        &cert_header(&host),
    )
    .await;
    assert_eq!(lock.status, 200, "hosts are never rate-limited");
}

/// Item 7: Puppet's CA rewrites its CRL when a certificate is revoked (`puppetserver ca clean`);
/// a revoked host kept getting 200 until a restart. Now the files are re-read when they change,
/// cached verifications are dropped, and a file that becomes unusable keeps the last good set.
#[actix_web::test]
async fn revoked_certificates_are_refused_without_a_restart() {
    let pki = pki::shared();
    let dir = tempfile::tempdir().expect("tempdir");
    let crl = dir.path().join("crl.pem");
    pki.write_crl(&crl, &[]);
    let app = TestApp::spawn_with(|o| {
        o.crl_files = vec![crl.clone()];
        o.tls = true;
    });
    let (_, victim) = app.host("victim.example.com");
    let (_, bystander) = app.host("bystander.example.com");
    let (victim_cert, victim_key) = pki.write_client("victim", &victim);
    let victim_tls = curl_cert_args(&victim_cert, &victim_key);
    let tls = |args: &[String]| {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        curl("GET", &app.tls_url("/api/dlmlocks/cluster/lock"), &args).status
    };
    let acquired = app
        .as_host("PUT", "/api/dlmlocks/cluster/lock", Some(&victim))
        .await;
    assert_eq!(acquired.status, 200, "{}", acquired.body);
    assert_eq!(tls(&victim_tls), 200, "the TLS listener knows the host too");

    pki.write_crl(&crl, &[&victim]);
    let revoked_at = std::time::Instant::now();
    let mut header_status = 0;
    while revoked_at.elapsed() < std::time::Duration::from_secs(10) {
        header_status = app
            .as_host("GET", "/api/dlmlocks/cluster/lock", Some(&victim))
            .await
            .status;
        if header_status == 401 {
            break;
        }
        actix_web::rt::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    eprintln!("revocation seen after {:?}", revoked_at.elapsed());
    assert_eq!(
        header_status, 401,
        "the header path refuses the revoked host"
    );
    assert_eq!(tls(&victim_tls), 401, "the TLS listener refuses it too");
    let released = app
        .as_host("DELETE", "/api/dlmlocks/cluster/lock", Some(&victim))
        .await;
    assert_eq!(released.status, 401, "a revoked host changes nothing");
    assert!(
        app.server.logs().contains("CA and CRL files re-read"),
        "{}",
        app.server.logs()
    );

    std::fs::remove_file(&crl).expect("remove the CRL");
    actix_web::rt::time::sleep(std::time::Duration::from_secs(3)).await;
    assert!(
        app.server.logs().contains("keeping the previous ones"),
        "an unusable file is logged: {}",
        app.server.logs()
    );
    let victim_again = app
        .as_host("GET", "/api/dlmlocks/cluster/lock", Some(&victim))
        .await;
    let bystander_answer = app
        .as_host("GET", "/api/dlmlocks/cluster/lock", Some(&bystander))
        .await;
    assert_eq!(victim_again.status, 401, "the last good CRL still applies");
    assert_eq!(bystander_answer.status, 200, "{}", bystander_answer.body);
}
