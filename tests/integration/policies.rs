//! Lock policies over HTTP: N holders at once (also across two instances), leases that run out
//! (in a request and in the sweep), settings patterns for auto-created locks, every refusal
//! reason, and the admin API for policies and holders.

use std::time::{Duration, Instant};

use futures_util::future::join_all;
use serde_json::{json, Value};

use crate::common::load::assert_consistent_history_with;
use crate::common::users::{basic, Scheme};
use crate::common::{cert_header, pki, send, send_json, Answer, Server, TestApp};

/// A site whose `[[locks.policies]]` give `web-*` three slots, `lease-*` a 2 s lease (that only
/// frees the slot when it lapses: halting is `safety`'s) and `db-*`
/// a window that is never open on these test days (1 minute on 1 January).
fn site() -> TestApp {
    TestApp::spawn_with(|options| {
        options.extra_toml = POLICIES.into();
    })
}

const POLICIES: &str = r#"
[locks]
sweep_interval_seconds = 1

[[locks.policies]]
match = "web-*"
max_holders = 3

[[locks.policies]]
match = "lease-*"
lease_seconds = 2
on_lease_expiry = "release"

[[locks.policies]]
match = "db-*"
max_holders = 2
lease_seconds = 7200
windows = [{ days = ["fri"], start = "00:00", end = "00:01", time_zone = "Europe/Berlin" }]

[[locks.policies]]
match = "web-db-*"
max_holders = 9
"#;

fn hosts(app: &TestApp, count: usize) -> Vec<(i64, Vec<(&'static str, String)>)> {
    (0..count)
        .map(|i| {
            let name = format!("node{i:02}.example.com");
            (
                app.db.add_host(&name),
                cert_header(&pki::shared().host(&name)),
            )
        })
        .collect()
}

fn admin(app: &TestApp) -> Vec<(&'static str, String)> {
    let id = app.db.add_user("admin", "admin-pw", Scheme::Bcrypt);
    app.db.make_admin(id);
    vec![basic("admin", "admin-pw")]
}

fn holder_ids(answer: &Answer) -> Vec<i64> {
    answer.body["holders"]
        .as_array()
        .map(|list| list.iter().filter_map(|h| h["host_id"].as_i64()).collect())
        .unwrap_or_default()
}

fn count_200(answers: &[Answer]) -> usize {
    answers.iter().filter(|a| a.status == 200).count()
}

#[actix_web::test]
async fn fifty_hosts_get_exactly_three_slots_on_one_instance_and_on_two() {
    let app = site();
    let second = app.second_instance();
    let nodes = hosts(&app, 50);
    for (lock, servers) in [
        ("web-one", vec![&app.server]),
        ("web-two", vec![&app.server, &second]),
    ] {
        let answers = join_all(nodes.iter().enumerate().map(|(i, (_, headers))| {
            let server: &Server = servers[i % servers.len()];
            let url = server.url(&format!("/api/dlmlocks/{lock}/lock"));
            async move { send("PUT", &url, headers).await }
        }))
        .await;

        assert_eq!(count_200(&answers), 3, "{lock}");
        let refused: Vec<&Value> = answers
            .iter()
            .filter(|a| a.status == 412)
            .map(|a| &a.body["error"]["reason"])
            .collect();
        assert_eq!(refused.len(), 47, "{lock}");
        assert!(refused.iter().all(|r| *r == "full"), "{refused:?}");
        let rows = app.db.rows(&format!(
            "SELECT count(*) AS holders, min(h.acquired_at) = min(h.acquired_at) AS ok \
               FROM foreman_dlm_lock_holders h JOIN dlmlocks l ON l.id = h.dlmlock_id \
              WHERE l.name = '{lock}'"
        ));
        assert_eq!(rows[0]["holders"], 3, "{lock}");
        assert_eq!(
            app.db.rows(&format!(
                "SELECT e.event_type, count(*) AS n FROM dlmlock_events e \
                   JOIN dlmlocks l ON l.id = e.dlmlock_id WHERE l.name = '{lock}' \
                  GROUP BY 1 ORDER BY 1"
            )),
            json!([{"event_type": "acquire", "n": 3}, {"event_type": "fail", "n": 47}])
        );
    }
    // The plugin's column shows the oldest holder; every lock's holders match its events.
    let oldest = app.db.rows(
        "SELECT l.host_id = (SELECT h.host_id FROM foreman_dlm_lock_holders h \
                              WHERE h.dlmlock_id = l.id ORDER BY acquired_at, host_id LIMIT 1) AS ok \
           FROM dlmlocks l",
    );
    assert_eq!(oldest, json!([{"ok": true}, {"ok": true}]));
    assert_consistent_history_with(&app.db, |_| 3);
}

#[actix_web::test]
async fn churn_on_three_slots_never_shows_a_fourth_holder() {
    let app = site();
    let second = app.second_instance();
    let nodes = hosts(&app, 12);
    let until = Instant::now() + Duration::from_secs(5);
    let cycles = join_all(nodes.iter().enumerate().map(|(i, (_, headers))| {
        let server = if i % 2 == 0 { &app.server } else { &second };
        let url = server.url("/api/dlmlocks/web-churn/lock");
        async move {
            let mut cycles = 0;
            while Instant::now() < until {
                if send("PUT", &url, headers).await.status == 200 {
                    actix_web::rt::time::sleep(Duration::from_millis(3)).await;
                    assert_eq!(send("DELETE", &url, headers).await.status, 200);
                    cycles += 1;
                } else {
                    actix_web::rt::time::sleep(Duration::from_millis(2)).await;
                }
            }
            cycles
        }
    }))
    .await;

    let total: usize = cycles.iter().sum();
    assert!(total > 30, "the churn made progress: {cycles:?}");
    let changes = assert_consistent_history_with(&app.db, |_| 3);
    assert_eq!(
        changes,
        total * 2,
        "an acquire and a release event per cycle"
    );
}

#[actix_web::test]
async fn a_lapsed_lease_frees_the_slot_for_the_next_host_and_the_sweep_for_nobody() {
    let app = site();
    let nodes = hosts(&app, 3);
    let (a, b) = (&nodes[0], &nodes[1]);
    let put = |lock: &str, headers: &Vec<(&'static str, String)>| {
        let url = app.url(&format!("/api/dlmlocks/{lock}/lock"));
        let headers = headers.clone();
        async move { send("PUT", &url, &headers).await }
    };

    let first = put("lease-asked", &a.1).await;
    assert_eq!(
        (first.status, first.body["lease_seconds"].clone()),
        (200, json!(2))
    );
    assert!(
        first.body["holders"][0]["expires_at"].is_string(),
        "{}",
        first.body
    );
    let refused = put("lease-asked", &b.1).await;
    assert_eq!(refused.body["error"]["reason"], "held");
    // A refresh moves the lease on: after 1.5 s + 1.5 s the holder still holds.
    actix_web::rt::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(put("lease-asked", &a.1).await.status, 200);
    actix_web::rt::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        put("lease-asked", &b.1).await.status,
        412,
        "refreshed 1.5 s ago"
    );
    // Then the holder goes quiet, and the next acquire takes the slot in its own statement.
    let _ = put("lease-quiet", &a.1).await;
    actix_web::rt::time::sleep(Duration::from_millis(2300)).await;
    let taken = put("lease-asked", &b.1).await;
    assert_eq!(taken.status, 200, "{}", taken.body);
    assert_eq!(holder_ids(&taken), vec![b.0]);

    // Nobody asks for `lease-quiet`: the sweep (every second here) frees it by itself.
    let deadline = Instant::now() + Duration::from_secs(5);
    while app
        .db
        .scalar("SELECT host_id FROM dlmlocks WHERE name = 'lease-quiet'")
        != Value::Null
    {
        assert!(Instant::now() < deadline, "the sweep freed the lock");
        actix_web::rt::time::sleep(Duration::from_millis(200)).await;
    }
    let events = |lock: &str| {
        app.db.rows(&format!(
            "SELECT e.event_type, e.host_id, e.user_id FROM dlmlock_events e \
               JOIN dlmlocks l ON l.id = e.dlmlock_id WHERE l.name = '{lock}' ORDER BY e.id"
        ))
    };
    let api = app.db.api_admin_id();
    assert_eq!(
        events("lease-asked"),
        json!([
            {"event_type": "acquire", "host_id": a.0, "user_id": api},
            {"event_type": "fail", "host_id": a.0, "user_id": api},
            {"event_type": "fail", "host_id": a.0, "user_id": api},
            {"event_type": "expire", "host_id": a.0, "user_id": null},
            {"event_type": "acquire", "host_id": b.0, "user_id": api}
        ]),
        "an expiry is its own event, with no user"
    );
    assert_eq!(
        events("lease-quiet"),
        json!([
            {"event_type": "acquire", "host_id": a.0, "user_id": api},
            {"event_type": "expire", "host_id": a.0, "user_id": null}
        ])
    );
    assert_eq!(
        app.db.scalar(
            "SELECT count(*) FROM foreman_dlm_lock_holders h JOIN dlmlocks l ON l.id = h.dlmlock_id \
             WHERE l.name = 'lease-quiet'"
        ),
        json!(0)
    );
    // The event log API reads expiries like any other event.
    let user = admin(&app);
    let log = send_json(
        "GET",
        &app.url("/api/dlmlocks/lease-quiet/dlmlock_events"),
        &user,
        None,
    )
    .await;
    assert_eq!(log.status, 200);
    assert_eq!(log.body["results"][1]["event_type"], "expire");
    assert_consistent_history_with(&app.db, |_| 1);
}

#[actix_web::test]
async fn settings_patterns_give_auto_created_locks_their_policy_and_the_api_wins() {
    let app = site();
    let nodes = hosts(&app, 1);
    let put = |lock: &str| {
        let url = app.url(&format!("/api/dlmlocks/{lock}/lock"));
        let headers = nodes[0].1.clone();
        async move { send("PUT", &url, &headers).await }
    };
    let policy = |a: &Answer| {
        json!([
            a.body["max_holders"],
            a.body["lease_seconds"],
            a.body["windows"].clone()
        ])
    };

    assert_eq!(policy(&put("web-frontend").await), json!([3, null, []]));
    assert_eq!(policy(&put("lease-x").await), json!([1, 2, []]));
    assert_eq!(policy(&put("plain").await), json!([1, null, []]));
    let db = put("db-main").await;
    assert_eq!(db.body["error"]["reason"], "outside_window");
    // The first matching entry wins: `web-db-*` comes after `web-*`.
    let user = admin(&app);
    let show = |lock: &str| {
        let url = app.url(&format!("/api/dlmlocks/{lock}"));
        let user = user.clone();
        async move { send_json("GET", &url, &user, None).await }
    };
    assert_eq!(
        policy(&show("db-main").await),
        json!([2, 7200, [
        {"days": ["fri"], "start": "00:00", "end": "00:01", "time_zone": "Europe/Berlin"}]])
    );
    assert_eq!(put("web-db-1").await.body["max_holders"], 3);

    // Values set through the API win over the pattern, including "no lease" and "no window".
    let edit = send_json(
        "PUT",
        &app.url("/api/dlmlocks/db-main"),
        &user,
        Some(json!({"dlmlock": {"max_holders": 5, "lease_seconds": null, "windows": []}})),
    )
    .await;
    assert_eq!(edit.status, 200, "{}", edit.body);
    assert_eq!(policy(&edit), json!([5, null, []]));
    assert_eq!(
        put("db-main").await.status,
        200,
        "the window no longer applies"
    );
    assert_eq!(
        app.db.rows(
            "SELECT p.max_holders, p.lease_seconds, p.windows::text AS windows \
               FROM foreman_dlm_lock_policies p JOIN dlmlocks l ON l.id = p.dlmlock_id"
        ),
        json!([{"max_holders": 5, "lease_seconds": 0, "windows": "[]"}])
    );
}

/// The common requests take a shorter path in the database (in `foreman_dlm_host_request`, the
/// migration `host_request_function`): an acquire of a free lock and a release by the plugin's
/// holder without a lease. It must leave the same rows as the full one, also where another writer (the
/// plugin's UI) freed the lock and left holder rows behind, and where other holders remain.
#[actix_web::test]
async fn the_short_path_leaves_the_rows_the_full_one_would() {
    let app = site();
    let nodes = hosts(&app, 3);
    let ids: Vec<i64> = nodes.iter().map(|(id, _)| *id).collect();
    let url = |name: &str| app.server.url(&format!("/api/dlmlocks/{name}/lock"));
    let holder_rows = |name: &str| {
        app.db.rows(&format!(
            "SELECT h.host_id FROM foreman_dlm_lock_holders h JOIN dlmlocks l ON l.id = h.dlmlock_id \
             WHERE l.name = '{name}' ORDER BY h.acquired_at, h.host_id"
        ))
    };
    let plugin_holder = |name: &str| {
        app.db.scalar(&format!(
            "SELECT host_id FROM dlmlocks WHERE name = '{name}'"
        ))
    };
    let last_event = |name: &str| {
        app.db.rows(&format!(
            "SELECT e.event_type, e.host_id FROM dlmlock_events e JOIN dlmlocks l ON l.id = e.dlmlock_id \
             WHERE l.name = '{name}' ORDER BY e.id DESC LIMIT 1"
        ))[0]
            .clone()
    };

    // The plugin's UI releases a lock with two holders: host_id goes NULL, their rows stay.
    for (_, headers) in &nodes[..2] {
        assert_eq!(send("PUT", &url("web-left"), headers).await.status, 200);
    }
    app.db
        .exec("UPDATE dlmlocks SET host_id = NULL WHERE name = 'web-left'");
    let granted = send("PUT", &url("web-left"), &nodes[2].1).await;
    assert_eq!(granted.status, 200, "{}", granted.raw);
    assert_eq!(holder_ids(&granted), vec![ids[2]]);
    assert_eq!(
        granted.body["holders"][0]["host"]["name"],
        "node02.example.com"
    );
    assert_eq!(holder_rows("web-left"), json!([{ "host_id": ids[2] }]));
    assert_eq!(plugin_holder("web-left"), json!(ids[2]));
    assert_eq!(
        last_event("web-left"),
        json!({ "event_type": "acquire", "host_id": ids[2] })
    );

    // The oldest of two holders releases: the other becomes the plugin's holder.
    for (_, headers) in &nodes[..2] {
        assert_eq!(send("PUT", &url("web-two"), headers).await.status, 200);
    }
    let released = send("DELETE", &url("web-two"), &nodes[0].1).await;
    assert_eq!(released.status, 200, "{}", released.raw);
    assert_eq!(holder_ids(&released), vec![ids[1]]);
    assert_eq!(holder_rows("web-two"), json!([{ "host_id": ids[1] }]));
    assert_eq!(plugin_holder("web-two"), json!(ids[1]));
    assert_eq!(
        last_event("web-two"),
        json!({ "event_type": "release", "host_id": ids[0] })
    );
    let released = send("DELETE", &url("web-two"), &nodes[1].1).await;
    assert_eq!(released.status, 200, "{}", released.raw);
    assert_eq!(holder_ids(&released), Vec::<i64>::new());
    assert_eq!(holder_rows("web-two"), json!([]));
    assert_eq!(plugin_holder("web-two"), Value::Null);

    // A refusal on a disabled free lock: no holder, a fail event naming nobody, a waiting row.
    assert_eq!(send("PUT", &url("plain"), &nodes[0].1).await.status, 200);
    assert_eq!(send("DELETE", &url("plain"), &nodes[0].1).await.status, 200);
    app.db
        .exec("UPDATE dlmlocks SET enabled = false WHERE name = 'plain'");
    let refused = send("PUT", &url("plain"), &nodes[1].1).await;
    assert_eq!(refused.status, 412, "{}", refused.raw);
    assert_eq!(holder_rows("plain"), json!([]));
    assert_eq!(
        last_event("plain"),
        json!({ "event_type": "fail", "host_id": null })
    );
    assert_eq!(
        app.db.rows(
            "SELECT w.host_id, w.reason FROM foreman_dlm_waiting w \
             JOIN dlmlocks l ON l.id = w.dlmlock_id WHERE l.name = 'plain'"
        ),
        json!([{ "host_id": ids[1], "reason": "disabled" }])
    );
}
