//! The status page (/dlm): in Debian's Chromium through Apache as an admin and as a view-only
//! user, and its forms over plain HTTP for what a browser would never send: missing or foreign
//! CSRF tokens, no session, expired sessions, oversized and malformed forms. Each change is
//! checked in the database afterwards, and each refusal for changing nothing.

use std::process::Command;

use serde_json::{json, Value};

use crate::common::apache::{self, Apache};
use crate::common::browser::{self, Browser};
use crate::common::users::Scheme;
use crate::common::{cert_header, send, TestApp};

const ADMIN: (&str, &str) = ("alice", "alice-Secret-1");
const VIEWER: (&str, &str) = ("victor", "victor-Secret-1");

/// A site with web1 holding cluster-a, web2 refused (waiting), an admin and a view-only user.
struct Site {
    app: TestApp,
    lock_id: i64,
    web1: i64,
    admin: i64,
}

async fn site() -> Site {
    let app = TestApp::spawn();
    let (web1, web1_cert) = app.host("web1.example.com");
    let (_, web2_cert) = app.host("web2.example.com");
    let admin = app.db.add_user(ADMIN.0, ADMIN.1, Scheme::Bcrypt);
    app.db.make_admin(admin);
    let viewer = app.db.add_user(VIEWER.0, VIEWER.1, Scheme::Bcrypt);
    let role = app.db.add_role("DLM viewer", &["view_dlmlocks"]);
    app.db.give_role(viewer, role);
    let url = app.url("/api/dlmlocks/cluster-a/lock");
    assert_eq!(
        send("PUT", &url, &cert_header(&web1_cert)).await.status,
        200
    );
    assert_eq!(
        send("PUT", &url, &cert_header(&web2_cert)).await.status,
        412
    );
    let lock_id = app
        .db
        .scalar("SELECT id FROM dlmlocks WHERE name = 'cluster-a'");
    Site {
        lock_id: lock_id.as_i64().expect("lock id"),
        app,
        web1,
        admin,
    }
}

impl Site {
    /// What the tests compare before and after a refused form: holders, state and history.
    fn state(&self) -> Value {
        json!({
            "lock": self.app.db.rows("SELECT host_id, enabled FROM dlmlocks ORDER BY id"),
            "holders": self.app.db.rows(
                "SELECT dlmlock_id, host_id FROM foreman_dlm_lock_holders ORDER BY 1, 2"),
            "events": self.app.db.events(),
        })
    }

    fn sessions(&self) -> Value {
        self.app
            .db
            .scalar("SELECT count(*) AS n FROM foreman_dlm_sessions")
    }
}

async fn sign_in(browser: &Browser, base: &str, (login, password): (&str, &str)) {
    browser.goto(&format!("{base}/dlm")).await;
    assert_eq!(
        browser.path().await,
        "/dlm/login",
        "signed out: the login form"
    );
    browser
        .fill_and_submit(&[("login", login), ("password", password)])
        .await;
}

#[actix_web::test]
async fn an_admin_signs_in_through_apache_releases_a_holder_and_disables_the_lock() {
    if !apache::available() || !browser::available() {
        return;
    }
    let site = site().await;
    let apache = Apache::start(site.app.server.addr);
    let base = apache.url("");
    let browser = Browser::start().await;

    sign_in(&browser, &base, (ADMIN.0, "wrong-password")).await;
    let refused = "Unable to authenticate user alice";
    let (path, text) = browser.wait_for("/dlm/login", refused).await;
    assert_eq!(path, "/dlm/login");
    assert!(
        text.contains(refused),
        "the API's message on the form: {text}"
    );
    assert_eq!(site.sessions(), json!(0), "no session for a wrong password");

    browser
        .fill_and_submit(&[("login", ADMIN.0), ("password", ADMIN.1)])
        .await;
    let (path, text) = browser.wait_for("/dlm", "cluster-a").await;
    assert_eq!(path, "/dlm");
    for expected in [
        "cluster-a",
        "web1.example.com",
        "web2.example.com (held",
        "1 / 1",
    ] {
        assert!(text.contains(expected), "{expected:?} on the page: {text}");
    }
    let cookie = browser
        .client
        .get_named_cookie("foreman_dlm_session")
        .await
        .expect("the session cookie");
    assert_eq!(cookie.http_only(), Some(true));
    assert_eq!(cookie.secure(), Some(true), "HTTPS through Apache: Secure");
    assert_eq!(cookie.path(), Some("/dlm"));
    save_screenshot(&browser).await;

    browser
        .click("button[aria-label='Release web1.example.com from cluster-a']")
        .await;
    let (path, text) = browser.wait_for("/dlm", "free").await;
    assert_eq!(path, "/dlm");
    assert!(text.contains("free"), "{text}");
    assert_eq!(
        site.app.db.rows(&format!(
            "SELECT l.host_id, (SELECT count(*) FROM foreman_dlm_lock_holders h \
                                 WHERE h.dlmlock_id = l.id) AS holders, \
                    (SELECT json_build_array(e.event_type, e.host_id, e.user_id) \
                       FROM dlmlock_events e WHERE e.dlmlock_id = l.id \
                      ORDER BY e.id DESC LIMIT 1) AS last_event \
               FROM dlmlocks l WHERE l.id = {}",
            site.lock_id
        )),
        json!([{"host_id": null, "holders": 0, "last_event": ["release", site.web1, site.admin]}])
    );

    browser
        .click(&format!("a[href='/dlm/locks/{}']", site.lock_id))
        .await;
    let lock_page = format!("/dlm/locks/{}", site.lock_id);
    let (_, text) = browser.wait_for(&lock_page, "History").await;
    assert!(text.contains("History") && text.contains("alice"), "{text}");
    browser
        .click("button[aria-label='Disable cluster-a']")
        .await;
    let (path, _) = browser.wait_for(&lock_page, "Enable").await;
    assert_eq!(path, lock_page);
    assert_eq!(
        site.app.db.scalar("SELECT enabled FROM dlmlocks"),
        json!(false)
    );
    assert!(browser
        .client
        .find(fantoccini::Locator::Css(
            "button[aria-label='Enable cluster-a']"
        ))
        .await
        .is_ok());

    browser.click("header form button[type=submit]").await;
    let (path, _) = browser.wait_for("/dlm/login", "Sign in with").await;
    assert_eq!(path, "/dlm/login");
    assert_eq!(site.sessions(), json!(0), "signing out ends the session");
    let stolen = page("GET", &format!("{base}/dlm"), Some(cookie.value()), None);
    assert_eq!(
        (stolen.status, stolen.header("location")),
        (303, Some("/dlm/login".to_string())),
        "a kept cookie is worthless after signing out"
    );
    browser.close().await;
}

#[actix_web::test]
async fn a_view_only_user_sees_holders_without_buttons_and_cannot_release() {
    if !browser::available() {
        return;
    }
    let site = site().await;
    let base = site.app.url("");
    let browser = Browser::start().await;
    sign_in(&browser, &base, VIEWER).await;
    let (path, text) = browser.wait_for("/dlm", "web1.example.com").await;
    assert_eq!(path, "/dlm");
    assert!(text.contains("web1.example.com"), "{text}");
    assert_eq!(browser.count("button[aria-label^='Release']").await, 0);
    assert_eq!(browser.count("button[aria-label^='Disable']").await, 0);
    let cookie = browser
        .client
        .get_named_cookie("foreman_dlm_session")
        .await
        .expect("the session cookie");
    assert_eq!(cookie.secure(), Some(false), "plain HTTP: not Secure");
    let csrf = browser.attribute("input[name=csrf]", "value").await;

    browser
        .goto(&format!("{base}/dlm/locks/{}", site.lock_id))
        .await;
    let no_history = "needs the view_dlmlock_events permission";
    let (_, text) = browser
        .wait_for(&format!("/dlm/locks/{}", site.lock_id), no_history)
        .await;
    assert!(text.contains(no_history), "{text}");

    // The form a view-only user never gets, sent anyway with their own valid token.
    let before = site.state();
    let forged = page(
        "POST",
        &site.app.url(&format!(
            "/dlm/locks/{}/holders/{}/release",
            site.lock_id, site.web1
        )),
        Some(cookie.value()),
        Some(&format!("csrf={csrf}&back=list")),
    );
    assert_eq!(forged.status, 403);
    assert!(
        forged.body.contains("edit_dlmlocks"),
        "says what is missing: {}",
        forged.body
    );
    assert_eq!(site.state(), before, "nothing changed");
    browser.close().await;
}

/// Signs in over HTTP; the session cookie's value and the page's CSRF token.
fn http_sign_in(site: &Site, (login, password): (&str, &str)) -> (String, String) {
    let answer = page(
        "POST",
        &site.app.url("/dlm/login"),
        None,
        Some(&format!("login={login}&password={password}")),
    );
    assert_eq!(answer.status, 303, "{}", answer.body);
    let set_cookie = answer.header("set-cookie").expect("a session cookie");
    let token = set_cookie
        .split(';')
        .next()
        .and_then(|pair| pair.strip_prefix("foreman_dlm_session="))
        .expect("the cookie's value")
        .to_string();
    let list = page("GET", &site.app.url("/dlm"), Some(&token), None);
    assert_eq!(list.status, 200);
    let csrf = list
        .body
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a CSRF token in the page")
        .to_string();
    (token, csrf)
}

#[actix_web::test]
async fn forms_without_a_session_or_its_token_change_nothing() {
    let site = site().await;
    let (token, csrf) = http_sign_in(&site, ADMIN);
    let release = site.app.url(&format!(
        "/dlm/locks/{}/holders/{}/release",
        site.lock_id, site.web1
    ));
    let before = site.state();
    let other_session = http_sign_in(&site, VIEWER).1;
    let unknown = "ab".repeat(32);
    let mine = Some(token.as_str());
    for (case, cookie, form) in [
        ("no token", mine, "back=list".to_string()),
        (
            "a wrong token",
            mine,
            format!("csrf={}&back=list", "0".repeat(64)),
        ),
        (
            "another session's token",
            mine,
            format!("csrf={other_session}"),
        ),
        ("no session", None, format!("csrf={csrf}")),
        (
            "an unknown session",
            Some(unknown.as_str()),
            format!("csrf={csrf}"),
        ),
    ] {
        let answer = page("POST", &release, cookie, Some(&form));
        assert_eq!(answer.status, 403, "{case}: {}", answer.body);
        assert!(answer.content_type.starts_with("text/html"), "{case}");
        assert_eq!(site.state(), before, "{case}: nothing changed");
    }
    let disable = page(
        "POST",
        &site
            .app
            .url(&format!("/dlm/locks/{}/disable", site.lock_id)),
        Some(&token),
        Some("back=list"),
    );
    assert_eq!(disable.status, 403);
    assert_eq!(
        site.state(),
        before,
        "disable without a token: nothing changed"
    );

    // With its token the same form works, and `back` cannot send the browser elsewhere.
    let answer = page(
        "POST",
        &release,
        Some(&token),
        Some(&format!("csrf={csrf}&back=https%3A%2F%2Fevil.example%2F")),
    );
    assert_eq!(
        (answer.status, answer.header("location")),
        (303, Some("/dlm".to_string()))
    );
    assert_eq!(
        site.app.db.scalar("SELECT host_id FROM dlmlocks"),
        Value::Null
    );
}

#[actix_web::test]
async fn sign_in_refusals_and_ended_sessions() {
    let site = site().await;
    let login = site.app.url("/dlm/login");
    let nobody = site
        .app
        .db
        .add_user("nora", "nora-Secret-1", Scheme::Bcrypt);
    let cases = [
        (
            "wrong password",
            "login=alice&password=nope".to_string(),
            401,
            "Unable to authenticate user alice",
        ),
        (
            "no view_dlmlocks",
            "login=nora&password=nora-Secret-1".into(),
            403,
            "view_dlmlocks",
        ),
        (
            "NUL in the login",
            "login=al%00ice&password=x".into(),
            400,
            "control characters",
        ),
        (
            "no password field",
            "login=alice".into(),
            400,
            "the form could not be read",
        ),
        (
            "an oversized form",
            format!("login=alice&password={}", "x".repeat(9000)),
            413,
            "too large",
        ),
    ];
    for (case, form, status, message) in cases {
        let answer = page("POST", &login, None, Some(&form));
        assert_eq!(answer.status, status, "{case}: {}", answer.body);
        assert!(answer.body.contains(message), "{case}: {}", answer.body);
        assert!(answer.header("set-cookie").is_none(), "{case}: no cookie");
        assert!(!answer.body.contains("diesel") && !answer.body.contains("SQL"));
    }
    assert_eq!(site.sessions(), json!(0), "no session from any refusal");
    assert!(nobody > 0);

    // Idle past Foreman's idle_timeout: back to the login form, the row gone at the next login.
    let (token, _) = http_sign_in(&site, ADMIN);
    site.app.db.exec(
        "UPDATE foreman_dlm_sessions \
            SET expires_at = now() AT TIME ZONE 'UTC' - interval '1 minute'",
    );
    let expired = page("GET", &site.app.url("/dlm"), Some(&token), None);
    assert_eq!(expired.header("location"), Some("/dlm/login".into()));

    // A user disabled in Foreman loses their session at the next request.
    let (token, _) = http_sign_in(&site, ADMIN);
    site.app.db.exec(&format!(
        "UPDATE users SET disabled = true WHERE id = {}",
        site.admin
    ));
    let disabled = page("GET", &site.app.url("/dlm"), Some(&token), None);
    assert_eq!(disabled.header("location"), Some("/dlm/login".into()));
    assert_eq!(
        site.app.db.scalar(&format!(
            "SELECT count(*) AS n FROM foreman_dlm_sessions WHERE user_id = {}",
            site.admin
        )),
        json!(0)
    );

    let missing = page("GET", &site.app.url("/dlm/locks/999999"), None, None);
    assert_eq!(missing.status, 303, "signed out: the login form first");
}

/// An HTTP answer as a browser gets it (no redirects followed).
struct PageAnswer {
    status: u16,
    headers: Vec<(String, String)>,
    content_type: String,
    body: String,
}

impl PageAnswer {
    fn header(&self, name: &str) -> Option<String> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    }
}

/// One request with the real curl: a session cookie and a urlencoded form, as a browser sends.
fn page(method: &str, url: &str, session: Option<&str>, form: Option<&str>) -> PageAnswer {
    page_with(method, url, session, form, &[])
}

/// Like `page`, with more request headers (`Name: value`).
fn page_with(
    method: &str,
    url: &str,
    session: Option<&str>,
    form: Option<&str>,
    headers: &[&str],
) -> PageAnswer {
    let mut command = Command::new("curl");
    command.args(["-sS", "-k", "-i", "--max-time", "20", "-X", method, url]);
    for header in headers {
        command.args(["-H", header]);
    }
    if let Some(token) = session {
        command.args(["-b", &format!("foreman_dlm_session={token}")]);
    }
    if let Some(form) = form {
        command.args(["--data-raw", form]);
    }
    let output = command.output().expect("run curl");
    let text = String::from_utf8_lossy(&output.stdout).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no HTTP answer from {url}: {text}"));
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
        .collect();
    let content_type = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-type"))
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    PageAnswer {
        status,
        headers,
        content_type,
        body: body.to_string(),
    }
}

/// The README's screenshot: written to target/ always, and to docs/ with
/// FOREMAN_DLM_UPDATE_SCREENSHOT=1.
async fn save_screenshot(browser: &Browser) {
    let png = browser.client.screenshot().await.expect("screenshot");
    let root = env!("CARGO_MANIFEST_DIR");
    std::fs::write(format!("{root}/target/status-page.png"), &png).expect("write screenshot");
    if std::env::var("FOREMAN_DLM_UPDATE_SCREENSHOT").is_ok() {
        std::fs::write(format!("{root}/docs/status-page.png"), &png).expect("write screenshot");
    }
}

#[actix_web::test]
async fn the_page_is_served_on_the_tls_listener_with_a_secure_cookie() {
    let app = TestApp::spawn_with(|o| o.tls = true);
    let admin = app.db.add_user(ADMIN.0, ADMIN.1, Scheme::Bcrypt);
    app.db.make_admin(admin);
    let answer = page(
        "POST",
        &app.tls_url("/dlm/login"),
        None,
        Some(&format!("login={}&password={}", ADMIN.0, ADMIN.1)),
    );
    assert_eq!(answer.status, 303, "{}", answer.body);
    let cookie = answer.header("set-cookie").expect("a session cookie");
    for attribute in ["HttpOnly", "SameSite=Strict", "Secure", "Path=/dlm"] {
        assert!(cookie.contains(attribute), "{attribute}: {cookie}");
    }
    let token = cookie
        .split(';')
        .next()
        .and_then(|pair| pair.strip_prefix("foreman_dlm_session="))
        .expect("the cookie's value");
    let list = page("GET", &app.tls_url("/dlm/"), Some(token), None);
    assert_eq!(list.status, 200);
    assert!(list.body.contains("Signed in as"), "{}", list.body);
    let csp = list.header("content-security-policy").unwrap_or_default();
    assert!(csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"));
}

#[actix_web::test]
async fn search_stale_holders_and_history_pages() {
    let site = site().await;
    let (token, _) = http_sign_in(&site, ADMIN);
    let web2 = site
        .app
        .db
        .scalar("SELECT id FROM hosts WHERE name = 'web2.example.com'")
        .as_i64()
        .expect("web2");
    // Held since yesterday, by the plugin's rules (host_id, updated_at): stale after 4 hours.
    site.app.db.add_lock("db-cluster", Some(web2), true);
    site.app.db.add_lock("idle-lock", None, true);
    let get = |path: &str| page("GET", &site.app.url(path), Some(&token), None);

    let held = get("/dlm?search=holders+%3E+0");
    assert_eq!(held.status, 200);
    assert!(held.body.contains(">cluster-a<") && held.body.contains(">db-cluster<"));
    assert!(!held.body.contains("idle-lock"), "the search filters");
    assert_eq!(
        held.body.matches("class=\"stale\"").count(),
        1,
        "only yesterday's holder is stale"
    );
    let bad = get("/dlm?search=holders+%3E+lots");
    assert_eq!(bad.status, 400);
    assert!(bad.content_type.starts_with("text/html"));
    assert!(!bad.body.contains("SQL") && !bad.body.contains("diesel"));

    site.app.db.exec(&format!(
        "INSERT INTO dlmlock_events (dlmlock_id, event_type, host_id, user_id, created_at, \
         updated_at) SELECT {0}, 'fail', {1}, NULL, now(), now() FROM generate_series(1, 30)",
        site.lock_id, site.web1
    ));
    let lock = format!("/dlm/locks/{}", site.lock_id);
    let first = get(&lock);
    assert_eq!(first.status, 200);
    assert!(first.body.contains("32 event(s)"), "{}", first.body);
    assert!(first.body.contains("rel=\"next\"") && !first.body.contains("rel=\"prev\""));
    let second = get(&format!("{lock}?page=2"));
    assert!(second.body.contains("rel=\"prev\"") && !second.body.contains("rel=\"next\""));
    assert_eq!(
        second.body.matches("<tr><td>").count(),
        7,
        "25 on the first page, 7 on the second"
    );
    assert_eq!(get(&format!("{lock}?page=0")).status, 400);
    assert_eq!(get("/dlm/locks/999999").status, 404);
}

#[actix_web::test]
async fn forms_from_another_site_and_repeated_failures_are_refused_on_the_form() {
    let site = site().await;
    let login = site.app.url("/dlm/login");
    let form = format!("login={}&password={}", ADMIN.0, ADMIN.1);
    let (token, csrf) = http_sign_in(&site, ADMIN);
    let before = site.state();
    for (path, cookie, body) in [
        ("/dlm/login", None, form.clone()),
        (
            &*format!("/dlm/locks/{}/holders/{}/release", site.lock_id, site.web1),
            Some(token.as_str()),
            format!("csrf={csrf}"),
        ),
    ] {
        let answer = page_with(
            "POST",
            &site.app.url(path),
            cookie,
            Some(&body),
            &["Sec-Fetch-Site: cross-site"],
        );
        assert_eq!(answer.status, 403, "{path}: {}", answer.body);
        assert!(answer.body.contains("from another site"), "{}", answer.body);
    }
    assert_eq!(site.state(), before, "nothing changed");
    assert_eq!(
        site.sessions(),
        json!(1),
        "no session from the other site's sign-in"
    );
    let same_origin = page_with(
        "POST",
        &login,
        None,
        Some(&form),
        &["Sec-Fetch-Site: same-origin"],
    );
    assert_eq!(same_origin.status, 303);

    // The login limits of the API, with their Retry-After, on the form.
    let mut last = None;
    for _ in 0..12 {
        last = Some(page(
            "POST",
            &login,
            None,
            Some("login=alice&password=nope"),
        ));
    }
    let limited = last.expect("answers");
    assert_eq!(limited.status, 429, "{}", limited.body);
    assert!(limited.header("retry-after").is_some());
    assert!(limited.content_type.starts_with("text/html"));
    assert!(
        limited.body.contains("Too many failed logins"),
        "{}",
        limited.body
    );
}

#[actix_web::test]
async fn sessions_end_with_a_new_sign_in_a_password_change_or_after_a_day() {
    let site = site().await;
    let expires = |token: &str| {
        site.app.db.scalar(&format!(
            "SELECT round(extract(epoch FROM expires_at - now() AT TIME ZONE 'UTC') / 60) AS m \
               FROM foreman_dlm_sessions WHERE token_sha256 = encode(sha256('{token}'), 'hex')"
        ))
    };
    let (first, _) = http_sign_in(&site, ADMIN);
    site.app.db.exec(
        "UPDATE foreman_dlm_sessions \
            SET expires_at = now() AT TIME ZONE 'UTC' + interval '5 minutes'",
    );
    let auto = page("GET", &site.app.url("/dlm?auto=1"), Some(&first), None);
    assert_eq!(auto.status, 200);
    assert_eq!(
        expires(&first),
        json!(5),
        "the page's own reload keeps nobody signed in"
    );
    assert_eq!(
        page("GET", &site.app.url("/dlm"), Some(&first), None).status,
        200
    );
    assert_eq!(
        expires(&first),
        json!(60),
        "a person's request: Foreman's idle_timeout again"
    );

    // Signing in again from the same browser replaces its session.
    let again = page(
        "POST",
        &site.app.url("/dlm/login"),
        Some(&first),
        Some(&format!("login={}&password={}", ADMIN.0, ADMIN.1)),
    );
    assert_eq!(again.status, 303);
    assert_eq!(site.sessions(), json!(1));
    let old = page("GET", &site.app.url("/dlm"), Some(&first), None);
    assert_eq!(old.header("location"), Some("/dlm/login".into()));

    let (second, _) = http_sign_in(&site, ADMIN);
    site.app.db.exec(&format!(
        "UPDATE users SET password_hash = 'changed' WHERE id = {}",
        site.admin
    ));
    let replacement = again
        .header("set-cookie")
        .and_then(|c| {
            c.split(';')
                .next()
                .and_then(|pair| pair.strip_prefix("foreman_dlm_session="))
                .map(str::to_string)
        })
        .expect("the new session's cookie");
    for token in [&second, &replacement] {
        let changed = page("GET", &site.app.url("/dlm"), Some(token), None);
        assert_eq!(changed.header("location"), Some("/dlm/login".into()));
    }
    assert_eq!(
        site.sessions(),
        json!(0),
        "the password change ended every session"
    );

    let viewer_token = http_sign_in(&site, VIEWER).0;
    site.app.db.exec(
        "UPDATE foreman_dlm_sessions \
            SET created_at = now() AT TIME ZONE 'UTC' - interval '25 hours'",
    );
    let day_old = page("GET", &site.app.url("/dlm"), Some(&viewer_token), None);
    assert_eq!(day_old.header("location"), Some("/dlm/login".into()));
}

/// The list is paged: with 250 locks a load is 100 rows and links to the next page, whose search
/// is kept; one `/dlm` load of 200,000 locks used to be 185 MB of HTML.
#[actix_web::test]
async fn the_list_is_paged() {
    let site = site().await;
    let (token, _) = http_sign_in(&site, ADMIN);
    site.app.db.exec(
        "INSERT INTO dlmlocks (name, type, enabled, created_at, updated_at) \
         SELECT 'bulk-' || lpad(i::text, 3, '0'), 'ForemanDlm::Dlmlock::Update', true, now(), \
                now() FROM generate_series(1, 250) i",
    );
    let get = |path: &str| page("GET", &site.app.url(path), Some(&token), None);
    let rows = |body: &str| body.matches("<th scope=\"row\">").count();

    let first = get("/dlm");
    assert_eq!(first.status, 200);
    assert_eq!(rows(&first.body), 100);
    assert!(first.body.contains("locks 1–100 of 251"), "{}", first.body);
    assert!(first
        .body
        .contains("href=\"/dlm?search=&amp;page=2\" rel=\"next\""));
    assert!(!first.body.contains("rel=\"prev\""));
    let last = get("/dlm?page=3");
    assert_eq!(rows(&last.body), 51);
    assert!(last.body.contains("locks 201–251 of 251"), "{}", last.body);
    assert!(last.body.contains("rel=\"prev\"") && !last.body.contains("rel=\"next\""));

    let searched = get("/dlm?search=bulk&page=2");
    assert_eq!(rows(&searched.body), 100);
    assert!(
        searched
            .body
            .contains("href=\"/dlm?search=bulk&amp;page=3\" rel=\"next\""),
        "the search is kept"
    );
    assert_eq!(get("/dlm?page=0").status, 400);
    assert!(get("/dlm?page=9").body.contains("no locks"));
}

/// A name the plugin's UI or SQL wrote with control characters is shown escaped on the page:
/// it can neither break the markup's lines nor hide.
#[actix_web::test]
async fn control_characters_in_names_are_shown_escaped() {
    let site = site().await;
    let (token, _) = http_sign_in(&site, ADMIN);
    site.app.db.exec(
        "INSERT INTO dlmlocks (name, type, enabled, created_at, updated_at) VALUES \
         (E'two\\nlines\\x1b[2J', 'ForemanDlm::Dlmlock::Update', true, now(), now())",
    );
    let listed = page("GET", &site.app.url("/dlm"), Some(&token), None);
    assert_eq!(listed.status, 200);
    assert!(
        listed.body.contains(r">two\u{a}lines\u{1b}[2J<"),
        "{}",
        listed.body
    );
    assert!(!listed.body.contains('\u{1b}'), "no raw escape character");
}
