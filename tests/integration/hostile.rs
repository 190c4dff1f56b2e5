//! Hostile input: every case gets a 4xx (or, for what HTTP itself cannot carry, a closed
//! connection), changes nothing, and the service goes on serving others.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use openssl::nid::Nid;
use serde_json::json;

use crate::common::users::{basic, Scheme};
use crate::common::{cert_header, pki, send, send_json, Server, TestApp, TestDb};

/// Sends raw bytes and returns the status line's code (0 when the server closed without one).
fn raw_status(server: &Server, request: &[u8]) -> u16 {
    let mut stream = TcpStream::connect(server.addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let _ = stream.write_all(request);
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    let text = String::from_utf8_lossy(&response);
    text.split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0)
}

fn nothing_changed(db: &TestDb) {
    assert_eq!(
        db.rows("SELECT (SELECT count(*) FROM dlmlocks) AS locks, (SELECT count(*) FROM dlmlock_events) AS events"),
        json!([{"locks": 0, "events": 0}])
    );
}

/// A test's site: one host, one admin, and the host's forwarded certificate.
struct Site {
    app: TestApp,
    good: Vec<(&'static str, String)>,
}

impl Site {
    fn new() -> Site {
        let app = TestApp::spawn();
        app.db.add_host("web1.example.com");
        let admin = app.db.add_user("admin", "pw", Scheme::Bcrypt);
        app.db.make_admin(admin);
        let good = cert_header(&pki::shared().host("web1.example.com"));
        Site { app, good }
    }

    fn lock_url(&self) -> String {
        self.app.url("/api/dlmlocks/target/lock")
    }
}

fn print_seen(title: &str, seen: &[(&str, u16)]) {
    eprintln!("{title}:");
    for (case, status) in seen {
        eprintln!("  {status:>3}  {case}");
    }
}

#[actix_web::test]
async fn an_oversized_request_head_is_refused() {
    let site = Site::new();
    // A 100 KB header: actix reads request heads up to 128 KiB, so this one reaches the service
    // and is answered 401 (it identifies nobody); larger ones are cut (README, Security).
    let huge = format!(
        "PUT /api/dlmlocks/target/lock HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Junk: {}\r\n\r\n",
        "a".repeat(100_000)
    );
    let status = raw_status(&site.app.server, huge.as_bytes());
    assert!(
        status == 0 || (400..500).contains(&status),
        "oversized header: {status}"
    );
    nothing_changed(&site.app.db);
}

#[actix_web::test]
async fn oversized_bodies_are_refused() {
    let site = Site::new();
    // A declared 1 MB body on the lock route, and a 100 KB JSON body on the admin route.
    let big_body = format!(
        "PUT /api/dlmlocks/target/lock HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\
         SSL-CLIENT-CERT: {}\r\nContent-Length: 1048576\r\n\r\n{}",
        site.good[0].1,
        "x".repeat(1024)
    );
    let status = raw_status(&site.app.server, big_body.as_bytes());
    assert_eq!(status, 413, "oversized lock body");
    let padding = "p".repeat(100_000);
    let answer = send_json(
        "POST",
        &site.app.url("/api/dlmlocks"),
        &[basic("admin", "pw")],
        Some(json!({"name": "x", "padding": padding})),
    )
    .await;
    assert_eq!(answer.status, 413);
    nothing_changed(&site.app.db);
}

#[actix_web::test]
async fn malformed_certificates_identify_nobody() {
    let site = Site::new();
    let pki = pki::shared();
    // Truncated, garbage, a chain of 50, a CN with a NUL byte, SQL.
    let pem = pki.host("web1.example.com").apache_header();
    let chain = vec![pem.clone(); 50].join(" ");
    let nul_cn = {
        let mut name = openssl::x509::X509NameBuilder::new().expect("name");
        name.append_entry_by_nid(Nid::COMMONNAME, "web1.example.com\0.evil")
            .expect("cn");
        sign_with_name(pki, name.build())
    };
    let mut seen = Vec::new();
    for (case, header) in [
        ("truncated PEM", pem[..pem.len() / 2].to_string()),
        (
            "garbage PEM",
            "-----BEGIN CERTIFICATE----- ####%%%% -----END CERTIFICATE-----".to_string(),
        ),
        ("chain of 50 certificates", chain),
        ("CN with a NUL byte", nul_cn),
        (
            "SQL in the header",
            "' OR 1=1; DROP TABLE hosts; --".to_string(),
        ),
    ] {
        let answer = send(
            "PUT",
            &site.lock_url(),
            &[
                ("SSL-CLIENT-CERT", header),
                ("SSL-CLIENT-VERIFY", "SUCCESS".into()),
            ],
        )
        .await;
        assert_eq!(answer.status, 401, "{case}: {}", answer.body);
        seen.push((case, answer.status));
    }
    nothing_changed(&site.app.db);
    print_seen("malformed certificates", &seen);
}

#[actix_web::test]
async fn hostile_lock_names_are_refused() {
    let site = Site::new();
    // 10,000 characters, an encoded slash, dot-dot, control characters, bad UTF-8.
    let long = "n".repeat(10_000);
    let mut seen = Vec::new();
    for (case, path) in [
        (
            "10,000-character name",
            format!("/api/dlmlocks/{long}/lock"),
        ),
        ("%2F in the name", "/api/dlmlocks/a%2Fb/lock".to_string()),
        ("dot-dot name", "/api/dlmlocks/%2E%2E/lock".to_string()),
        ("NUL in the name", "/api/dlmlocks/a%00b/lock".to_string()),
        (
            "invalid UTF-8 name",
            "/api/dlmlocks/%C3%28/lock".to_string(),
        ),
    ] {
        let answer = send("PUT", &site.app.url(&path), &site.good).await;
        assert_eq!(answer.status, 400, "{case}: {}", answer.body);
        seen.push((case, answer.status));
    }
    nothing_changed(&site.app.db);
    print_seen("hostile names", &seen);
}

#[actix_web::test]
async fn hostile_searches_are_refused() {
    let site = Site::new();
    let mut seen = Vec::new();
    for (case, query) in [
        ("unterminated quote in search", "search=name+%3D+%27x"),
        (
            "SQL in search",
            "search=name+%3D+x%27%3B+DROP+TABLE+dlmlocks%3B--+and+or",
        ),
        ("non-numeric page", "page=1e9"),
    ] {
        let answer = send(
            "GET",
            &site.app.url(&format!("/api/dlmlocks?{query}")),
            &[basic("admin", "pw")],
        )
        .await;
        assert_eq!(answer.status, 400, "{case}: {}", answer.body);
        seen.push((case, answer.status));
    }
    nothing_changed(&site.app.db);
    print_seen("hostile searches", &seen);
}

#[actix_web::test]
async fn slow_clients_do_not_hold_up_others() {
    let site = Site::new();
    // 100 connections that never finish their request headers.
    let mut slow: Vec<TcpStream> = (0..100)
        .map(|_| {
            let mut stream = TcpStream::connect(site.app.server.addr).expect("connect");
            let _ = stream
                .write_all(b"PUT /api/dlmlocks/target/lock HTTP/1.1\r\nHost: x\r\nSSL-CLIENT-");
            stream
        })
        .collect();
    let started = std::time::Instant::now();
    let served = send("PUT", &site.lock_url(), &site.good).await;
    let elapsed = started.elapsed();
    assert_eq!(
        served.status, 200,
        "served while 100 slow clients hold connections"
    );
    assert!(
        elapsed < Duration::from_secs(5),
        "served promptly: {elapsed:?}"
    );
    for stream in &mut slow {
        let _ = stream.write_all(b"X");
    }
    drop(slow);

    let released = send("DELETE", &site.lock_url(), &site.good).await;
    assert_eq!(released.status, 200);
    assert_eq!(
        site.app
            .db
            .rows("SELECT event_type FROM dlmlock_events ORDER BY id"),
        json!([{"event_type": "acquire"}, {"event_type": "release"}]),
        "only the legitimate requests left a trace"
    );
}

/// A certificate with `name` as subject from the test CA: hostile content, valid signature.
fn sign_with_name(pki: &crate::common::pki::TestPki, name: openssl::x509::X509Name) -> String {
    use openssl::asn1::Asn1Time;
    use openssl::hash::MessageDigest;
    let key = openssl::pkey::PKey::from_ec_key(
        openssl::ec::EcKey::generate(
            &openssl::ec::EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).expect("group"),
        )
        .expect("key"),
    )
    .expect("pkey");
    let mut builder = openssl::x509::X509Builder::new().expect("builder");
    builder.set_version(2).expect("version");
    builder.set_subject_name(&name).expect("subject");
    builder
        .set_issuer_name(pki.ca.cert.subject_name())
        .expect("issuer");
    builder.set_pubkey(&key).expect("pubkey");
    builder
        .set_not_before(&Asn1Time::days_from_now(0).expect("time"))
        .expect("nb");
    builder
        .set_not_after(&Asn1Time::days_from_now(30).expect("time"))
        .expect("na");
    builder
        .sign(&pki.ca.key, MessageDigest::sha256())
        .expect("sign");
    let pem = builder.build().to_pem().expect("pem");
    String::from_utf8(pem)
        .expect("utf8")
        .trim_end()
        .replace('\n', " ")
}
