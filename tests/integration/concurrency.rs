//! Many hosts at once: one holder, one row per name, one event per holder change.

use futures_util::future::join_all;
use serde_json::json;

use crate::common::{cert_header, pki, send, TestApp};

#[actix_web::test]
async fn fifty_hosts_acquire_one_lock_at_once() {
    let TestApp { db, server, .. } = TestApp::spawn();
    let pki = pki::shared();
    let hosts: Vec<(i64, Vec<(&str, String)>)> = (0..50)
        .map(|i| {
            let name = format!("node{i:02}.example.com");
            (db.add_host(&name), cert_header(&pki.host(&name)))
        })
        .collect();
    let url = server.url("/api/dlmlocks/patch-window/lock");

    let answers = join_all(hosts.iter().map(|(_, headers)| send("PUT", &url, headers))).await;

    let mut statuses: Vec<u16> = answers.iter().map(|a| a.status).collect();
    statuses.sort_unstable();
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 412).count(),
        49,
        "{statuses:?}"
    );
    let winner = answers
        .iter()
        .find(|a| a.status == 200)
        .expect("one winner")
        .body["host_id"]
        .clone();
    assert_eq!(
        db.rows("SELECT host_id FROM dlmlocks"),
        json!([{"host_id": winner}]),
        "one row"
    );
    assert_eq!(
        db.rows("SELECT event_type, count(*) AS n FROM dlmlock_events GROUP BY event_type ORDER BY event_type"),
        json!([{"event_type": "acquire", "n": 1}, {"event_type": "fail", "n": 49}])
    );
    assert_eq!(
        db.rows("SELECT host_id FROM dlmlock_events WHERE event_type = 'acquire'"),
        json!([{"host_id": winner}])
    );
}

#[actix_web::test]
async fn concurrent_first_acquires_of_new_names_create_one_row_each() {
    let TestApp { db, server, .. } = TestApp::spawn();
    let pki = pki::shared();
    let a = cert_header(&pki.host("a.example.com"));
    let b = cert_header(&pki.host("b.example.com"));
    db.add_host("a.example.com");
    db.add_host("b.example.com");

    for round in 0..20 {
        let url = server.url(&format!("/api/dlmlocks/new-{round}/lock"));
        let (first, second) = futures_util::join!(send("PUT", &url, &a), send("PUT", &url, &b));
        let mut statuses = [first.status, second.status];
        statuses.sort_unstable();
        assert_eq!(statuses, [200, 412], "round {round}");
    }
    assert_eq!(
        db.rows("SELECT count(*) AS names, count(DISTINCT name) AS distinct_names FROM dlmlocks"),
        json!([{"names": 20, "distinct_names": 20}])
    );
    assert_eq!(
        db.scalar("SELECT count(*) AS n FROM dlmlock_events WHERE event_type = 'acquire'"),
        json!(20)
    );
}

#[actix_web::test]
async fn holders_alternate_under_churn() {
    let TestApp { db, server, .. } = TestApp::spawn();
    let pki = pki::shared();
    let hosts: Vec<Vec<(&str, String)>> = (0..6)
        .map(|i| {
            let name = format!("churn{i}.example.com");
            db.add_host(&name);
            cert_header(&pki.host(&name))
        })
        .collect();
    let url = server.url("/api/dlmlocks/churn/lock");

    // Each host tries acquire-then-release several times, all hosts at once.
    let cycles = hosts.iter().map(|headers| {
        let url = url.clone();
        async move {
            for _ in 0..8 {
                if send("PUT", &url, headers).await.status == 200 {
                    assert_eq!(send("DELETE", &url, headers).await.status, 200);
                }
            }
        }
    });
    join_all(cycles).await;

    let history = db.rows(
        "SELECT event_type, host_id FROM dlmlock_events WHERE event_type IN ('acquire', 'release') ORDER BY id",
    );
    let history = history.as_array().expect("events");
    assert!(!history.is_empty());
    for pair in history.chunks(2) {
        assert_eq!(pair.len(), 2, "every acquire is followed by its release");
        assert_eq!(pair[0]["event_type"], "acquire");
        assert_eq!(pair[1]["event_type"], "release");
        assert_eq!(
            pair[0]["host_id"], pair[1]["host_id"],
            "released by the holder"
        );
    }
    assert_eq!(
        db.rows("SELECT host_id FROM dlmlocks"),
        json!([{"host_id": null}])
    );
}
