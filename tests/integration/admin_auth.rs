//! Logging in with Foreman accounts: passwords of each hash scheme, personal access tokens,
//! disabled, LDAP and hidden users, and unknown users answered like wrong passwords.

use serde_json::{json, Value};

use crate::common::users::{basic, Scheme};
use crate::common::{send, Server, TestApp};

const INDEX: &str = "/api/v2/dlmlocks";

async fn index_as(server: &Server, login: &str, secret: &str) -> (u16, Value) {
    let answer = send("GET", &server.url(INDEX), &[basic(login, secret)]).await;
    (answer.status, answer.body)
}

fn unable(login: &str) -> Value {
    json!({"error": {"message": format!("Unable to authenticate user {login}")}})
}

#[actix_web::test]
async fn passwords_of_every_foreman_hash_scheme() {
    let TestApp { db, server, .. } = TestApp::spawn();
    for (login, scheme) in [
        ("bcrypt-user", Scheme::Bcrypt),
        ("pbkdf2-user", Scheme::Pbkdf2),
        ("sha1-user", Scheme::Sha1),
    ] {
        let id = db.add_user(login, "correct horse", scheme);
        db.make_admin(id);

        let (ok, body) = index_as(&server, login, "correct horse").await;
        let (upper, _) = index_as(&server, &login.to_uppercase(), "correct horse").await;
        let (wrong, wrong_body) = index_as(&server, login, "correct horsE").await;
        let (empty, _) = index_as(&server, login, "").await;

        assert_eq!(ok, 200, "{login}: {body}");
        assert_eq!(
            upper, 200,
            "{login}: logins are case-insensitive (lower_login)"
        );
        assert_eq!((wrong, wrong_body), (401, unable(login)), "{login}");
        assert_eq!(empty, 401, "{login}: an empty password never logs in");
    }
}

#[actix_web::test]
async fn unknown_users_get_the_same_answer_as_wrong_passwords() {
    // Forty failed logins from one address in a minute: above the default rate limits.
    let TestApp { db, server, .. } = TestApp::spawn_with(|options| {
        options.extra_toml = "[logins]\nfailures_per_address_per_minute = 1000\n\
                              failures_per_login_per_minute = 1000\n"
            .into()
    });
    db.add_user("alice", "secret", Scheme::Bcrypt);

    let (wrong_status, wrong_body) = index_as(&server, "alice", "not-it").await;
    let (unknown_status, unknown_body) = index_as(&server, "mallory", "not-it").await;

    assert_eq!((wrong_status, unknown_status), (401, 401));
    assert_eq!(wrong_body, unable("alice"));
    assert_eq!(
        unknown_body,
        unable("mallory"),
        "same shape, only the login echoed back differs"
    );

    // Figures, not assertions: both paths do the same hashing work.
    let mut millis = [0f64; 2];
    for round in 0..20 {
        for (slot, login) in [(0, "alice"), (1, "mallory")] {
            let started = std::time::Instant::now();
            assert_eq!(
                index_as(&server, login, &format!("wrong-{round}")).await.0,
                401
            );
            millis[slot] += started.elapsed().as_secs_f64() * 1000.0 / 20.0;
        }
    }
    eprintln!(
        "mean 401 time: wrong password {:.2} ms, unknown user {:.2} ms",
        millis[0], millis[1]
    );
}

#[actix_web::test]
async fn personal_access_tokens() {
    let TestApp { db, server, .. } = TestApp::spawn();
    let alice = db.add_user("alice", "password", Scheme::Bcrypt);
    db.make_admin(alice);
    let bob = db.add_user("bob", "password", Scheme::Bcrypt);
    db.make_admin(bob);
    let valid: Vec<(Scheme, &str, i64)> = [
        (Scheme::Pbkdf2, "tok-pbkdf2"),
        (Scheme::Bcrypt, "tok-bcrypt"),
        (Scheme::Sha1, "tok-sha1"),
    ]
    .into_iter()
    .map(|(scheme, token)| {
        (
            scheme,
            token,
            db.add_token(alice, token, scheme, "false", "NULL"),
        )
    })
    .collect();
    let future = db.add_token(
        alice,
        "tok-future",
        Scheme::Pbkdf2,
        "false",
        "now() + interval '1 day'",
    );
    let revoked = db.add_token(alice, "tok-revoked", Scheme::Pbkdf2, "true", "NULL");
    let expired = db.add_token(
        alice,
        "tok-expired",
        Scheme::Pbkdf2,
        "false",
        "now() - interval '1 day'",
    );
    let null_revoked = db.add_token(alice, "tok-null", Scheme::Pbkdf2, "NULL", "NULL");

    for (scheme, token, id) in &valid {
        let (status, body) = index_as(&server, "alice", token).await;
        assert_eq!(status, 200, "{scheme:?}: {body}");
        assert_eq!(
            db.scalar(&format!("SELECT last_used_at IS NOT NULL AS used FROM personal_access_tokens WHERE id = {id}")),
            json!(true),
            "{scheme:?}: last_used_at recorded"
        );
    }
    assert_eq!(index_as(&server, "alice", "tok-future").await.0, 200);
    for (token, id) in [
        ("tok-revoked", revoked),
        ("tok-expired", expired),
        ("tok-null", null_revoked),
    ] {
        assert_eq!(
            index_as(&server, "alice", token).await,
            (401, unable("alice")),
            "{token}"
        );
        assert_eq!(
            db.scalar(&format!(
                "SELECT last_used_at IS NULL AS unused FROM personal_access_tokens WHERE id = {id}"
            )),
            json!(true),
            "{token} not recorded as used"
        );
    }
    assert_eq!(
        index_as(&server, "bob", "tok-sha1").await.0,
        401,
        "another user's token"
    );
    let _ = future;
}

#[actix_web::test]
async fn disabled_ldap_and_hidden_users() {
    let TestApp { db, server, .. } = TestApp::spawn();
    let carol = db.add_user("carol", "password", Scheme::Bcrypt);
    db.make_admin(carol);
    db.exec(&format!(
        "UPDATE users SET disabled = true WHERE id = {carol}"
    ));
    let ldap_source = db.insert_returning_id(
        "INSERT INTO auth_sources (type, name, host, port) VALUES ('AuthSourceLdap', 'corp', 'ldap.example.com', 636) RETURNING id",
    );
    let dave = db.add_user("dave", "password", Scheme::Bcrypt);
    db.exec(&format!("UPDATE users SET auth_source_id = {ldap_source}, password_hash = NULL, password_salt = NULL WHERE id = {dave}"));

    let (disabled, disabled_body) = index_as(&server, "carol", "password").await;
    let (disabled_wrong, _) = index_as(&server, "carol", "wrong").await;
    let (ldap, ldap_body) = index_as(&server, "dave", "password").await;
    let (hidden, hidden_body) = index_as(&server, "foreman_api_admin", "anything").await;

    assert_eq!(disabled, 401);
    assert_eq!(
        disabled_body,
        json!({"error": {"message": "User account is disabled, please contact your administrator"}})
    );
    assert_eq!(disabled_wrong, 401);
    // A password is not checked for a directory user, and the answer does not say the login
    // exists (issue 9): the same 401 as a wrong password.
    assert_eq!((ldap, ldap_body), (401, unable("dave")));
    // Only a caller who proves to be that user, with one of their tokens, learns why.
    db.add_token(dave, "d4v3-t0k3n-value", Scheme::Sha1, "false", "NULL");
    let (ldap_token, ldap_token_body) = index_as(&server, "dave", "d4v3-t0k3n-value").await;
    assert_eq!(ldap_token, 401);
    let message = ldap_token_body["error"]["message"]
        .as_str()
        .expect("message");
    assert!(
        message.contains("AuthSourceLdap") && message.contains("cannot verify"),
        "{message}"
    );
    assert_eq!((hidden, hidden_body), (401, unable("foreman_api_admin")));
}

#[actix_web::test]
async fn host_certificates_do_not_authenticate_users() {
    let TestApp { db, server, .. } = TestApp::spawn();
    db.add_host("web1.example.com");
    let cert = crate::common::pki::shared().host("web1.example.com");

    let answer = send(
        "GET",
        &server.url(INDEX),
        &crate::common::cert_header(&cert),
    )
    .await;

    assert_eq!(answer.status, 401);
    assert_eq!(answer.body, unable(""));
}
