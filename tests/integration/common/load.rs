//! Load for the fault suite: hosts taking turns on cluster locks, and the invariant every history
//! must satisfy afterwards whatever happened in between.

use std::time::{Duration, Instant};

use foreman_dlm::locks::history::{replay, HolderChange};

use serde_json::Value;

use super::TestDb;

/// What one request saw: an HTTP status, or 0 when the connection itself failed.
#[derive(Debug, Clone)]
pub struct Seen {
    pub status: u16,
    pub body: Value,
}

async fn request(
    client: &awc::Client,
    method: &str,
    url: &str,
    headers: &[(&str, String)],
) -> Seen {
    let method = awc::http::Method::from_bytes(method.as_bytes()).expect("method");
    let mut req = client.request(method, url);
    for (name, value) in headers {
        req = req.append_header((*name, value.as_str()));
    }
    match req.send().await {
        Ok(mut response) => {
            let status = response.status().as_u16();
            let body = match response.body().limit(1 << 20).await {
                Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or(Value::Null),
                Err(_) => Value::Null,
            };
            Seen { status, body }
        }
        Err(_) => Seen {
            status: 0,
            body: Value::Null,
        },
    }
}

/// One host's update cycles on `lock_url` until `until`: acquire (retrying 412/503/errors), hold
/// briefly, release (retrying until the server answers 200 or 412). Returns everything it saw.
pub async fn update_cycles(
    base: Vec<String>,
    lock_path: String,
    headers: Vec<(&'static str, String)>,
    until: Instant,
) -> Vec<Seen> {
    let client = awc::Client::builder()
        .timeout(Duration::from_secs(10))
        .finish();
    let mut seen = Vec::new();
    let mut turn = 0usize;
    while Instant::now() < until {
        turn += 1;
        let url = format!("{}{lock_path}", base[turn % base.len()]);
        let acquired = request(&client, "PUT", &url, &headers).await;
        let got_it = acquired.status == 200;
        seen.push(acquired);
        if !got_it {
            actix_web::rt::time::sleep(Duration::from_millis(5)).await;
            continue;
        }
        actix_web::rt::time::sleep(Duration::from_millis(2)).await;
        loop {
            let url = format!("{}{lock_path}", base[turn % base.len()]);
            let released = request(&client, "DELETE", &url, &headers).await;
            let done = matches!(released.status, 200 | 412);
            seen.push(released);
            if done || Instant::now() > until + Duration::from_secs(20) {
                break;
            }
            turn += 1;
            actix_web::rt::time::sleep(Duration::from_millis(20)).await;
        }
    }
    seen
}

/// Per lock: `acquire`, `release` and `expire` events replay cleanly (a host acquires only a free
/// slot and only a holder releases), and the lock's holders are those the events leave (its
/// `host_id` among them). `max_holders` gives each lock's slots. Returns the number of holder
/// changes checked.
pub fn assert_consistent_history_with(db: &TestDb, max_holders: impl Fn(i32) -> usize) -> usize {
    let events = db.rows(
        "SELECT dlmlock_id, event_type, host_id FROM dlmlock_events \
         WHERE event_type IN ('acquire', 'release', 'expire') ORDER BY id",
    );
    let changes = events
        .as_array()
        .expect("events")
        .iter()
        .filter_map(|event| {
            HolderChange::from_event(
                event["dlmlock_id"].as_i64().expect("lock") as i32,
                event["event_type"].as_str().expect("type"),
                event["host_id"].as_i64().map(|h| h as i32),
            )
        });
    let replayed = replay(changes, max_holders);
    assert!(
        replayed.violations.is_empty(),
        "inconsistent history: {:?}",
        replayed.violations
    );
    let rows = db.rows(
        "SELECT l.id, l.host_id, \
                (SELECT coalesce(json_agg(h.host_id ORDER BY h.host_id), '[]') \
                   FROM foreman_dlm_holders(l.id, l.host_id, l.updated_at, NULL) h) AS holders \
           FROM dlmlocks l",
    );
    for row in rows.as_array().expect("locks") {
        let lock = row["id"].as_i64().expect("id") as i32;
        let expected: Vec<i64> = replayed
            .holders
            .get(&lock)
            .map(|holders| holders.iter().map(|h| i64::from(*h)).collect())
            .unwrap_or_default();
        assert_eq!(
            row["holders"],
            serde_json::json!(expected),
            "lock {lock}: holders disagree with its events"
        );
        let host_id = row["host_id"].as_i64();
        assert!(
            host_id.is_none_or(|h| expected.contains(&h))
                && host_id.is_some() != expected.is_empty(),
            "lock {lock}: host_id {host_id:?} is not one of its holders {expected:?}"
        );
    }
    replayed.changes
}

/// [`assert_consistent_history_with`] for locks of one holder each.
pub fn assert_consistent_history(db: &TestDb) -> usize {
    assert_consistent_history_with(db, |_| 1)
}
