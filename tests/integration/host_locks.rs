//! The plugin's lock behaviour, case by case, over real HTTP against a real database.

use serde_json::{json, Value};

use crate::common::{cert_header, pki, send, Server, ServerOptions, TestApp, TestDb};

const UNIQUE_NAMES_MIGRATION: &str =
    include_str!("../../migrations/2026-11-25-000000_unique_lock_names_and_facets/up.sql");

const PRECONDITION: &str = "Precondition failed. Lock is in invalid state for this operation.";

#[actix_web::test]
async fn acquire_free_lock() {
    let env = TestApp::spawn();
    let (web1, cert) = env.host("web1.example.com");
    let lock = env.db.add_lock("cluster-a", None, true);

    let answer = env
        .as_host("PUT", "/api/dlmlocks/cluster-a/lock", Some(&cert))
        .await;

    assert_eq!(answer.status, 200, "{:?}", answer.body);
    assert!(answer.content_type.starts_with("application/json"));
    assert_eq!(answer.body["id"], json!(lock));
    assert_eq!(answer.body["host_id"], json!(web1));
    assert_eq!(answer.body["name"], "cluster-a");
    assert_eq!(answer.body["enabled"], true);
    assert_eq!(answer.body["type"], "ForemanDlm::Dlmlock::Update");
    assert_eq!(answer.body["host"], json!({"name": "web1.example.com"}));
    let updated = answer.body["updated_at"].as_str().expect("timestamp");
    assert!(
        updated.ends_with(" UTC") && updated.len() == 23,
        "{updated}"
    );
    assert_eq!(env.lock_row(lock)["host_id"], json!(web1));
    assert_eq!(env.lock_row(lock)["fresh"], true);
    assert_eq!(
        env.db.events(),
        json!([{"dlmlock_id": lock, "event_type": "acquire", "host_id": web1, "user_id": env.db.api_admin_id()}])
    );
}

#[actix_web::test]
async fn reacquire_by_holder_refreshes_updated_at_without_event() {
    let env = TestApp::spawn();
    let (web1, cert) = env.host("web1.example.com");
    let lock = env.db.add_lock("cluster-a", Some(web1), true);
    assert_eq!(env.lock_row(lock)["fresh"], false);

    let answer = env
        .as_host("PUT", "/api/dlmlocks/cluster-a/lock", Some(&cert))
        .await;

    assert_eq!(answer.status, 200);
    assert_eq!(env.lock_row(lock)["host_id"], json!(web1));
    assert_eq!(
        env.lock_row(lock)["fresh"],
        true,
        "heartbeat must refresh updated_at"
    );
    assert_eq!(env.db.events(), json!([]));
}

#[actix_web::test]
async fn acquire_of_foreign_lock_is_412_and_logs_fail() {
    let env = TestApp::spawn();
    let (web1, _) = env.host("web1.example.com");
    let (_, cert2) = env.host("web2.example.com");
    let lock = env.db.add_lock("cluster-a", Some(web1), true);

    let answer = env
        .as_host("PUT", "/api/dlmlocks/cluster-a/lock", Some(&cert2))
        .await;

    assert_eq!(answer.status, 412);
    assert_eq!(
        answer.body,
        json!({"error": {"id": lock, "message": PRECONDITION, "reason": "held"}})
    );
    assert_eq!(env.lock_row(lock)["host_id"], json!(web1));
    assert_eq!(env.lock_row(lock)["fresh"], false);
    assert_eq!(
        env.db.events(),
        json!([{"dlmlock_id": lock, "event_type": "fail", "host_id": web1, "user_id": env.db.api_admin_id()}])
    );
}

#[actix_web::test]
async fn acquire_creates_a_missing_lock() {
    let env = TestApp::spawn();
    let (web1, cert) = env.host("web1.example.com");

    let answer = env
        .as_host("PUT", "/api/v2/dlmlocks/Test%20Lock/lock", Some(&cert))
        .await;

    assert_eq!(answer.status, 200, "{:?}", answer.body);
    assert_eq!(answer.body["name"], "Test Lock");
    let rows = env.db.rows(
        "SELECT name, type, enabled, host_id, created_at IS NOT NULL AS stamped FROM dlmlocks",
    );
    assert_eq!(
        rows,
        json!([{"name": "Test Lock", "type": "ForemanDlm::Dlmlock::Update", "enabled": true, "host_id": web1, "stamped": true}])
    );
    assert_eq!(env.db.events()[0]["event_type"], "acquire");
}

#[actix_web::test]
async fn release_own_lock() {
    let env = TestApp::spawn();
    let (web1, cert) = env.host("web1.example.com");
    let lock = env.db.add_lock("cluster-a", Some(web1), true);

    let answer = env
        .as_host("DELETE", "/api/dlmlocks/cluster-a/lock", Some(&cert))
        .await;

    assert_eq!(answer.status, 200);
    assert_eq!(answer.body["host_id"], Value::Null);
    assert_eq!(answer.body["host"], Value::Null);
    assert_eq!(env.lock_row(lock)["host_id"], Value::Null);
    assert_eq!(
        env.db.events(),
        json!([{"dlmlock_id": lock, "event_type": "release", "host_id": web1, "user_id": env.db.api_admin_id()}])
    );
}

#[actix_web::test]
async fn release_of_free_lock_succeeds_without_event() {
    let env = TestApp::spawn();
    let (_, cert) = env.host("web1.example.com");
    let lock = env.db.add_lock("cluster-a", None, true);

    let answer = env
        .as_host("DELETE", "/api/dlmlocks/cluster-a/lock", Some(&cert))
        .await;

    assert_eq!(answer.status, 200);
    assert_eq!(env.lock_row(lock)["host_id"], Value::Null);
    assert_eq!(env.db.events(), json!([]));
}

#[actix_web::test]
async fn release_of_foreign_lock_is_412() {
    let env = TestApp::spawn();
    let (web1, _) = env.host("web1.example.com");
    let (_, cert2) = env.host("web2.example.com");
    let lock = env.db.add_lock("cluster-a", Some(web1), true);

    let answer = env
        .as_host("DELETE", "/api/dlmlocks/cluster-a/lock", Some(&cert2))
        .await;

    assert_eq!(answer.status, 412);
    assert_eq!(answer.body["error"]["id"], json!(lock));
    assert_eq!(env.lock_row(lock)["host_id"], json!(web1));
    assert_eq!(
        env.db.events(),
        json!([{"dlmlock_id": lock, "event_type": "fail", "host_id": web1, "user_id": env.db.api_admin_id()}])
    );
}

#[actix_web::test]
async fn release_creates_a_missing_lock_free() {
    let env = TestApp::spawn();
    let (_, cert) = env.host("web1.example.com");

    let answer = env
        .as_host("DELETE", "/api/dlmlocks/new-lock/lock", Some(&cert))
        .await;

    assert_eq!(answer.status, 200);
    assert_eq!(
        env.db.rows("SELECT name, enabled, host_id FROM dlmlocks"),
        json!([{"name": "new-lock", "enabled": true, "host_id": null}])
    );
    assert_eq!(env.db.events(), json!([]));
}

#[actix_web::test]
async fn disabled_lock_can_be_neither_acquired_nor_released() {
    let env = TestApp::spawn();
    let (web1, cert) = env.host("web1.example.com");
    let free = env.db.add_lock("disabled-free", None, false);
    let held = env.db.add_lock("disabled-held", Some(web1), false);

    let acquire = env
        .as_host("PUT", "/api/dlmlocks/disabled-free/lock", Some(&cert))
        .await;
    let release = env
        .as_host("DELETE", "/api/dlmlocks/disabled-held/lock", Some(&cert))
        .await;

    assert_eq!((acquire.status, release.status), (412, 412));
    assert_eq!(env.lock_row(free)["host_id"], Value::Null);
    assert_eq!(env.lock_row(held)["host_id"], json!(web1));
    let events = env
        .db
        .rows("SELECT dlmlock_id, event_type, host_id FROM dlmlock_events ORDER BY id");
    assert_eq!(
        events,
        json!([
            {"dlmlock_id": free, "event_type": "fail", "host_id": null},
            {"dlmlock_id": held, "event_type": "fail", "host_id": web1}
        ])
    );
}

#[actix_web::test]
async fn show_by_name_and_id_with_self() {
    let env = TestApp::spawn();
    let (web1, cert1) = env.host("web1.example.com");
    let (_, cert2) = env.host("web2.example.com");
    let lock = env.db.add_lock("cluster-a", Some(web1), true);
    let free = env.db.add_lock("free-lock", None, true);

    let mine = env
        .as_host("GET", "/api/dlmlocks/cluster-a/lock", Some(&cert1))
        .await;
    let theirs = env
        .as_host(
            "GET",
            &format!("/api/v2/dlmlocks/{lock}/lock"),
            Some(&cert2),
        )
        .await;
    let plain_show = env
        .as_host("GET", &format!("/api/dlmlocks/{lock}"), Some(&cert2))
        .await;
    let free_show = env
        .as_host("GET", "/api/dlmlocks/free-lock/lock", Some(&cert1))
        .await;

    assert_eq!(mine.status, 200);
    assert_eq!(
        mine.body["host"],
        json!({"name": "web1.example.com", "self": true})
    );
    assert_eq!(
        theirs.body["host"],
        json!({"name": "web1.example.com", "self": false})
    );
    assert_eq!(theirs.body["id"], json!(lock));
    assert_eq!(plain_show.status, 200);
    assert_eq!(plain_show.body["name"], "cluster-a");
    assert_eq!(free_show.body["id"], json!(free));
    assert_eq!(free_show.body["host_id"], Value::Null);
    assert_eq!(free_show.body["host"], Value::Null);
    let positions: Vec<usize> = [
        "id",
        "host_id",
        "name",
        "enabled",
        "type",
        "created_at",
        "updated_at",
        "host",
    ]
    .iter()
    .map(|key| mine.raw.find(&format!("\"{key}\":")).expect("key present"))
    .collect();
    assert!(
        positions.windows(2).all(|w| w[0] < w[1]),
        "plugin's field order: {}",
        mine.raw
    );
    assert_eq!(env.db.events(), json!([]), "show writes no events");
}

#[actix_web::test]
async fn show_of_missing_lock_is_404_and_creates_nothing() {
    let env = TestApp::spawn();
    let (_, cert) = env.host("web1.example.com");

    let answer = env
        .as_host("GET", "/api/dlmlocks/nope/lock", Some(&cert))
        .await;

    assert_eq!(answer.status, 404);
    assert_eq!(
        answer.body,
        json!({"error": {"message": "Resource dlmlock not found by id 'nope'"}})
    );
    assert_eq!(
        env.db.scalar("SELECT count(*) AS n FROM dlmlocks"),
        json!(0)
    );
}

#[actix_web::test]
async fn checkin_is_recorded_on_every_host_request() {
    let env = TestApp::spawn();
    let (web1, cert) = env.host("web1.example.com");
    env.db.add_lock("cluster-a", None, true);

    env.as_host("GET", "/api/dlmlocks/cluster-a/lock", Some(&cert))
        .await;
    let first = env.db.rows(&format!(
        "SELECT last_checkin_at FROM dlm_facets WHERE host_id = {web1}"
    ));
    env.as_host("GET", "/api/dlmlocks/missing/lock", Some(&cert))
        .await;
    env.as_host("PUT", "/api/dlmlocks/cluster-a/lock", Some(&cert))
        .await;
    env.as_host("DELETE", "/api/dlmlocks/cluster-a/lock", Some(&cert))
        .await;

    assert_eq!(
        first.as_array().map(Vec::len),
        Some(1),
        "facet created on first contact"
    );
    let facets = env.db.rows(&format!(
        "SELECT last_checkin_at > '{}'::timestamp AS later, updated_at = last_checkin_at AS touched FROM dlm_facets WHERE host_id = {web1}",
        first[0]["last_checkin_at"].as_str().expect("checkin time")
    ));
    assert_eq!(
        facets,
        json!([{"later": true, "touched": true}]),
        "one facet, touched again"
    );
}

#[actix_web::test]
async fn doubled_and_trailing_slashes_work_like_rails() {
    let env = TestApp::spawn();
    let (web1, cert) = env.host("web1.example.com");

    // The plugin's own updatelock script builds `…/api/dlmlocks//NAME/lock`.
    let acquire = env
        .as_host("PUT", "/api/dlmlocks//updatelock_test/lock", Some(&cert))
        .await;
    let show = env
        .as_host("GET", "/api/v2/dlmlocks/updatelock_test/lock/", Some(&cert))
        .await;

    assert_eq!(acquire.status, 200, "{:?}", acquire.body);
    assert_eq!(show.status, 200);
    assert_eq!(show.body["host_id"], json!(web1));
}

#[actix_web::test]
async fn only_all_digit_ids_are_ids() {
    let env = TestApp::spawn();
    let (_, cert) = env.host("web1.example.com");
    let first = env.db.add_lock("alpha", None, true);
    let dashed = env.db.add_lock(&format!("{first}-web"), None, true);
    let numeric_name = env.db.add_lock("987654", None, true);

    let by_id = env
        .as_host("GET", &format!("/api/dlmlocks/{first}/lock"), Some(&cert))
        .await;
    let by_dashed = env
        .as_host(
            "GET",
            &format!("/api/dlmlocks/{first}-web/lock"),
            Some(&cert),
        )
        .await;
    let by_numeric_name = env
        .as_host("GET", "/api/dlmlocks/987654/lock", Some(&cert))
        .await;

    assert_eq!(by_id.body["name"], "alpha");
    assert_eq!(
        by_dashed.body["id"],
        json!(dashed),
        "the plugin would have returned lock {first}"
    );
    assert_eq!(by_numeric_name.body["id"], json!(numeric_name));
}

#[actix_web::test]
async fn names_with_any_character_but_slash() {
    let env = TestApp::spawn();
    let (_, cert) = env.host("web1.example.com");

    for (path, stored) in [
        ("%C3%A4rger%20%E2%9C%93", "\u{e4}rger \u{2713}"),
        ("100%25+x", "100%+x"),
        ("db.example.com", "db.example.com"),
        (
            "it's%3B%20DROP%20TABLE%20dlmlocks%3B--",
            "it's; DROP TABLE dlmlocks;--",
        ),
    ] {
        let answer = env
            .as_host("PUT", &format!("/api/dlmlocks/{path}/lock"), Some(&cert))
            .await;
        assert_eq!(answer.status, 200, "{path}: {:?}", answer.body);
        assert_eq!(answer.body["name"], stored);
    }
    assert_eq!(
        env.db.scalar("SELECT count(*) AS n FROM dlmlocks"),
        json!(4)
    );
}

#[actix_web::test]
async fn names_that_cannot_be_locks_are_400_and_change_nothing() {
    let env = TestApp::spawn();
    let (_, cert) = env.host("web1.example.com");
    let long = "x".repeat(10_000);

    for path in ["a%2Fb", "%2E%2E", "bad%00name", "%FF%FE", long.as_str()] {
        let answer = env
            .as_host("PUT", &format!("/api/dlmlocks/{path}/lock"), Some(&cert))
            .await;
        assert_eq!(
            answer.status,
            400,
            "{}: {:?}",
            &path[..path.len().min(20)],
            answer.body
        );
        assert!(answer.body["error"]["message"].is_string());
    }
    assert_eq!(
        env.db.scalar("SELECT count(*) AS n FROM dlmlocks"),
        json!(0)
    );
    assert_eq!(env.db.events(), json!([]));
}

#[actix_web::test]
async fn duplicate_names_resolve_to_the_oldest_row() {
    let env = TestApp::spawn();
    let (web1, cert) = env.host("web1.example.com");
    // Duplicates the plugin left behind, before foreman-dlm's migration made names unique.
    env.db.exec(
        "DROP INDEX foreman_dlm_unique_lock_names; DROP INDEX foreman_dlm_unique_facet_hosts",
    );
    let oldest = env.db.add_lock("twin", None, true);
    let younger = env.db.add_lock("twin", None, true);
    env.db.exec(UNIQUE_NAMES_MIGRATION);
    assert!(
        env.db
            .rows(
                "SELECT indexdef FROM pg_indexes WHERE indexname = 'foreman_dlm_unique_lock_names'"
            )
            .to_string()
            .contains("twin"),
        "the index leaves out the duplicated name"
    );

    let acquire = env
        .as_host("PUT", "/api/dlmlocks/twin/lock", Some(&cert))
        .await;
    let show = env
        .as_host("GET", "/api/dlmlocks/twin/lock", Some(&cert))
        .await;

    assert_eq!(acquire.body["id"], json!(oldest));
    assert_eq!(show.body["id"], json!(oldest));
    assert_eq!(env.lock_row(oldest)["host_id"], json!(web1));
    assert_eq!(env.lock_row(younger)["host_id"], Value::Null);
    assert_eq!(
        env.lock_row(younger)["fresh"],
        false,
        "the duplicate is left untouched"
    );
}

#[actix_web::test]
async fn every_answer_is_json() {
    let env = TestApp::spawn();
    let (_, cert) = env.host("web1.example.com");

    let cases = [
        ("GET", "/no/such/route", 404),
        ("POST", "/api/dlmlocks/x/lock", 405),
        ("PATCH", "/api/v2/dlmlocks/x/lock", 405),
        ("POST", "/api/dlmlocks/x", 405),
        ("GET", "/api/dlmlocks", 401),
        // Without a JSON body: Foreman's media-type check answers first.
        ("POST", "/api/dlmlocks", 415),
        ("PUT", "/api/dlmlocks/x", 415),
        ("DELETE", "/api/v2/dlmlocks/x", 401),
        ("GET", "/api/dlmlocks/x/dlmlock_events", 401),
        ("GET", "/api/v1/dlmlocks/x/lock", 404),
    ];
    for (method, path, status) in cases {
        let answer = env.as_host(method, path, Some(&cert)).await;
        assert_eq!(answer.status, status, "{method} {path}");
        assert!(
            answer.content_type.starts_with("application/json"),
            "{method} {path}"
        );
        assert!(
            answer.body["error"]["message"].is_string(),
            "{method} {path}"
        );
    }
    assert_eq!(
        env.db.scalar("SELECT count(*) AS n FROM dlmlocks"),
        json!(0)
    );
}

#[actix_web::test]
async fn database_down_is_503_with_json() {
    let mut options = ServerOptions::for_db(&TestDb::new());
    options.database_url = "postgres://postgres@127.0.0.1:1/nothing".into();
    let server = Server::spawn(&options);
    let cert = pki::shared().host("web1.example.com");

    let answer = send(
        "PUT",
        &server.url("/api/dlmlocks/a/lock"),
        &cert_header(&cert),
    )
    .await;

    assert_eq!(answer.status, 503);
    let message = answer.body["error"]["message"].as_str().expect("message");
    assert!(
        !message.contains("127.0.0.1") && !message.contains("postgres"),
        "{message}"
    );
}
