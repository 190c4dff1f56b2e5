//! Host identification from forwarded client certificates: what identifies, what never does.

use serde_json::{json, Value};

use crate::common::{cert_header, pki, send, Server, ServerOptions, TestApp, TestDb};
use foreman_dlm::demo::pki::Validity;

const PATH: &str = "/api/dlmlocks/cluster/lock";

fn unauthenticated(login: &str) -> Value {
    json!({"error": {"message": format!("Unable to authenticate user {login}")}})
}

/// Sends an acquire with the given headers and returns (status, body, number of lock rows).
async fn acquire(db: &TestDb, server: &Server, headers: &[(&str, String)]) -> (u16, Value, Value) {
    let answer = send("PUT", &server.url(PATH), headers).await;
    (
        answer.status,
        answer.body,
        db.scalar("SELECT count(*) AS n FROM dlmlocks"),
    )
}

#[actix_web::test]
async fn certificates_that_must_not_identify() {
    let db = TestDb::new();
    let mut options = ServerOptions::for_db(&db);
    options.crl_files = vec![pki::shared().crl_file.clone()];
    let server = Server::spawn(&options);
    let pki = pki::shared();
    for name in [
        "web1.example.com",
        "revoked.example.com",
        "stranger.example.com",
        "late.example.com",
    ] {
        db.add_host(name);
    }
    let expired = pki.host_with(
        "web1.example.com",
        Validity {
            from_days: -30,
            until_days: -1,
        },
    );
    let not_yet = pki.host_with(
        "web1.example.com",
        Validity {
            from_days: 2,
            until_days: 30,
        },
    );
    let foreign = pki.foreign("web1.example.com");

    let cases = [
        ("expired", cert_header(&expired)),
        ("not yet valid", cert_header(&not_yet)),
        ("from another CA", cert_header(&foreign)),
        ("revoked", cert_header(&pki.revoked)),
        (
            "no certificate",
            vec![
                ("SSL-CLIENT-CERT", "(null)".to_string()),
                ("SSL-CLIENT-VERIFY", "NONE".to_string()),
            ],
        ),
        (
            "garbage",
            vec![(
                "SSL-CLIENT-CERT",
                "-----BEGIN CERTIFICATE----- AAAA -----END CERTIFICATE-----".to_string(),
            )],
        ),
        (
            "truncated",
            vec![(
                "SSL-CLIENT-CERT",
                cert_header(&pki.host("web1.example.com"))[0].1[..300].to_string(),
            )],
        ),
        (
            "proxy says verification failed",
            vec![
                (
                    "SSL-CLIENT-CERT",
                    pki.host("web1.example.com").apache_header(),
                ),
                (
                    "SSL-CLIENT-VERIFY",
                    "FAILED:certificate revoked".to_string(),
                ),
            ],
        ),
        (
            "certificate header sent twice",
            vec![
                (
                    "SSL-CLIENT-CERT",
                    pki.host("web1.example.com").apache_header(),
                ),
                (
                    "SSL-CLIENT-CERT",
                    pki.host("stranger.example.com").apache_header(),
                ),
            ],
        ),
    ];
    for (case, headers) in cases {
        let (status, body, locks) = acquire(&db, &server, &headers).await;
        assert_eq!(status, 401, "{case}");
        assert_eq!(body, unauthenticated(""), "{case}");
        assert_eq!(locks, json!(0), "{case}: no lock may be created");
    }
    // The same CA's unrevoked certificate works with the CRL loaded.
    let (status, _, _) = acquire(&db, &server, &cert_header(&pki.host("late.example.com"))).await;
    assert_eq!(status, 200);
}

#[actix_web::test]
async fn verified_certificate_of_unknown_host_is_401_naming_it() {
    let TestApp { db, server, .. } = TestApp::spawn();
    let cert = pki::shared().host("ghost.example.com");

    let (status, body, locks) = acquire(&db, &server, &cert_header(&cert)).await;

    assert_eq!(status, 401);
    assert_eq!(body, unauthenticated("ghost.example.com"));
    assert_eq!(locks, json!(0));
    assert_eq!(db.scalar("SELECT count(*) AS n FROM dlm_facets"), json!(0));
}

#[actix_web::test]
async fn certname_first_then_name_and_cn_is_lowercased() {
    let TestApp { db, server, .. } = TestApp::spawn();
    // A host whose Puppet certname differs from its name, and another host named like that certname.
    let by_certname =
        db.add_host_with_certname("app1.example.com", Some("puppet-app1.example.com"));
    db.add_host("puppet-app1.example.com");
    let by_name = db.add_host("db1.example.com");
    let pki = pki::shared();

    let first = send(
        "PUT",
        &server.url("/api/dlmlocks/a/lock"),
        &cert_header(&pki.host("puppet-app1.example.com")),
    )
    .await;
    let second = send(
        "PUT",
        &server.url("/api/dlmlocks/b/lock"),
        &cert_header(&pki.host("DB1.Example.COM")),
    )
    .await;

    assert_eq!(first.body["host_id"], json!(by_certname));
    assert_eq!(first.body["host"]["name"], "app1.example.com");
    assert_eq!(second.status, 200);
    assert_eq!(second.body["host_id"], json!(by_name));
}

#[actix_web::test]
async fn forwarded_pem_forms_apache_spaces_and_url_escaped() {
    let TestApp { db, server, .. } = TestApp::spawn();
    let host = db.add_host("web1.example.com");
    let cert = pki::shared().host("web1.example.com");
    let escaped: String = cert
        .cert_pem()
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' => (b as char).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect();

    for (form, value) in [("apache", cert.apache_header()), ("url-escaped", escaped)] {
        let answer = send(
            "GET",
            &server.url("/api/dlmlocks/x/lock"),
            &[("SSL-CLIENT-CERT", value)],
        )
        .await;
        assert_eq!(
            answer.status, 404,
            "{form}: identified, and the lock does not exist"
        );
    }
    assert_eq!(
        db.scalar(&format!(
            "SELECT count(*) AS n FROM dlm_facets WHERE host_id = {host}"
        )),
        json!(1)
    );
}

#[actix_web::test]
async fn headers_from_an_untrusted_peer_are_ignored() {
    let db = TestDb::new();
    let mut options = ServerOptions::for_db(&db);
    // The test client connects from 127.0.0.1, which is now not a proxy.
    options.trusted_proxies = Some(vec!["192.0.2.10/32".into()]);
    options.trust_proxy_verification = true;
    let server = Server::spawn(&options);
    let web1 = db.add_host("web1.example.com");
    let lock = db.add_lock("cluster", Some(web1), true);
    let cert = pki::shared().host("web1.example.com");
    let mut forged = cert_header(&cert);
    forged.push(("SSL-CLIENT-S-DN", "CN=web1.example.com".to_string()));

    let answer = send("DELETE", &server.url(PATH), &forged).await;

    assert_eq!(answer.status, 401);
    assert_eq!(
        db.scalar(&format!("SELECT host_id FROM dlmlocks WHERE id = {lock}")),
        json!(web1)
    );
    assert_eq!(db.events(), json!([]));
}

#[actix_web::test]
async fn dn_without_certificate_only_when_proxy_verification_is_trusted() {
    let db = TestDb::new();
    let web1 = db.add_host("web1.example.com");
    let headers = vec![
        ("SSL-CLIENT-CERT", "(null)".to_string()),
        ("SSL-CLIENT-VERIFY", "SUCCESS".to_string()),
        (
            "SSL-CLIENT-S-DN",
            "CN=Web1.example.com,OU=hosts,O=acme".to_string(),
        ),
    ];

    let strict = Server::spawn(&ServerOptions::for_db(&db));
    let refused = send("PUT", &strict.url(PATH), &headers).await;
    assert_eq!(refused.status, 401);
    drop(strict);

    let mut options = ServerOptions::for_db(&db);
    options.trust_proxy_verification = true;
    let trusting = Server::spawn(&options);
    let accepted = send("PUT", &trusting.url(PATH), &headers).await;
    let not_verified = send(
        "PUT",
        &trusting.url("/api/dlmlocks/other/lock"),
        &[
            headers[0].clone(),
            ("SSL-CLIENT-VERIFY", "NONE".to_string()),
            headers[2].clone(),
        ],
    )
    .await;

    assert_eq!(accepted.status, 200);
    assert_eq!(accepted.body["host_id"], json!(web1));
    assert_eq!(not_verified.status, 401);
}
