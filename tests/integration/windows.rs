//! Maintenance windows on a clock the test sets (the debug build's `FOREMAN_DLM_TEST_CLOCK_FILE`
//! seam): across midnight, on the named days only, across daylight-saving changes, and a holder
//! that keeps its slot when the window closes. No test sleeps for hours.

use std::path::PathBuf;

use serde_json::{json, Value};

use crate::common::{cert_header, pki, send, Answer, TestApp};

struct Clocked {
    app: TestApp,
    clock: PathBuf,
    _dir: tempfile::TempDir,
    nodes: Vec<Vec<(&'static str, String)>>,
}

impl Clocked {
    fn new(policies: &str) -> Clocked {
        let dir = tempfile::tempdir().expect("clock dir");
        let clock = dir.path().join("now");
        let policies = policies.to_string();
        let env_clock = clock.clone();
        let app = TestApp::spawn_with(move |options| {
            options.extra_toml = policies;
            options.env.push((
                "FOREMAN_DLM_TEST_CLOCK_FILE".into(),
                env_clock.display().to_string(),
            ));
        });
        let nodes = ["web1.example.com", "web2.example.com"]
            .iter()
            .map(|name| {
                app.db.add_host(name);
                cert_header(&pki::shared().host(name))
            })
            .collect();
        Clocked {
            app,
            clock,
            _dir: dir,
            nodes,
        }
    }

    fn at(&self, instant: &str) -> &Clocked {
        std::fs::write(&self.clock, instant).expect("set the clock");
        self
    }

    async fn put(&self, node: usize, lock: &str) -> Answer {
        let url = self.app.url(&format!("/api/dlmlocks/{lock}/lock"));
        send("PUT", &url, &self.nodes[node]).await
    }

    async fn delete(&self, node: usize, lock: &str) -> Answer {
        let url = self.app.url(&format!("/api/dlmlocks/{lock}/lock"));
        send("DELETE", &url, &self.nodes[node]).await
    }
}

fn verdict(answer: &Answer) -> (u16, Value, Value) {
    (
        answer.status,
        answer.body["error"]["reason"].clone(),
        answer.body["error"]["next_window_at"].clone(),
    )
}

const NIGHTS: &str = r#"
[[locks.policies]]
match = "web-*"
windows = [{ days = ["mon", "tue", "wed", "thu"], start = "22:00", end = "04:00", time_zone = "Europe/Berlin" }]
"#;

#[actix_web::test]
async fn a_window_across_midnight_opens_on_its_days_and_closes_on_the_next_morning() {
    let site = Clocked::new(NIGHTS);
    // Tuesday 1 December 2026, 22:30 in Berlin (UTC+1).
    let open = site.at("2026-12-01T21:30:00Z").put(0, "web-a").await;
    assert_eq!(open.status, 200, "{}", open.body);
    assert_eq!(
        open.body["holders"][0]["acquired_at"],
        "2026-12-01 21:30:00 UTC"
    );
    assert_eq!(site.delete(0, "web-a").await.status, 200);
    // Wednesday 03:59 in Berlin: Tuesday's window is still open.
    assert_eq!(
        site.at("2026-12-02T02:59:00Z").put(0, "web-a").await.status,
        200
    );
    site.delete(0, "web-a").await;
    // Wednesday 04:00: closed until Wednesday 22:00 (21:00 UTC).
    assert_eq!(
        verdict(&site.at("2026-12-02T03:00:00Z").put(0, "web-a").await),
        (412, json!("outside_window"), json!("2026-12-02T21:00:00Z"))
    );
    // Friday 03:00 belongs to Thursday's window; Saturday 03:00 to no window (Friday has none),
    // and the next one opens on Monday evening.
    assert_eq!(
        site.at("2026-12-04T02:00:00Z").put(0, "web-a").await.status,
        200
    );
    site.delete(0, "web-a").await;
    assert_eq!(
        verdict(&site.at("2026-12-05T02:00:00Z").put(0, "web-a").await),
        (412, json!("outside_window"), json!("2026-12-07T21:00:00Z"))
    );
}

#[actix_web::test]
async fn a_holder_keeps_its_slot_when_the_window_closes() {
    let site = Clocked::new(NIGHTS);
    assert_eq!(
        site.at("2026-12-01T21:30:00Z").put(0, "web-b").await.status,
        200
    );
    // The window closes at 04:00; the host is still mid-update and refreshes at 05:00.
    let refresh = site.at("2026-12-02T04:00:00Z").put(0, "web-b").await;
    assert_eq!(refresh.status, 200, "{}", refresh.body);
    assert_eq!(
        refresh.body["holders"][0]["acquired_at"],
        "2026-12-01 21:30:00 UTC"
    );
    assert_eq!(
        refresh.body["holders"][0]["refreshed_at"],
        "2026-12-02 04:00:00 UTC"
    );
    // A second host would be new: refused (the window, not the slot, is the reason).
    assert_eq!(
        verdict(&site.put(1, "web-b").await).1,
        json!("outside_window")
    );
    assert_eq!(
        site.delete(0, "web-b").await.status,
        200,
        "releasing is always possible"
    );
    assert_eq!(
        site.app
            .db
            .rows("SELECT event_type FROM dlmlock_events ORDER BY id"),
        json!([{"event_type": "acquire"}, {"event_type": "fail"}, {"event_type": "release"}])
    );
}

const EARLY_HOURS: &str = r#"
[[locks.policies]]
match = "batch-*"
windows = [{ start = "01:00", end = "02:00", time_zone = "Europe/Berlin" }]
"#;

#[actix_web::test]
async fn windows_follow_daylight_saving_changes() {
    let site = Clocked::new(EARLY_HOURS);
    // 29 March 2026: Berlin goes from UTC+1 to UTC+2 at 01:00 UTC.
    // 00:30 local on the 29th (UTC+1): closed; the window opens at 01:00 local = 00:00 UTC.
    assert_eq!(
        verdict(&site.at("2026-03-28T23:30:00Z").put(0, "batch-a").await),
        (412, json!("outside_window"), json!("2026-03-29T00:00:00Z"))
    );
    // 01:30 local (UTC+1) on the 29th: open.
    assert_eq!(
        site.at("2026-03-29T00:30:00Z")
            .put(0, "batch-a")
            .await
            .status,
        200
    );
    site.delete(0, "batch-a").await;
    // The next night is summer time: 23:30 UTC is 01:30 local, inside the window — a fixed
    // offset of +1 would have said 00:30, outside it.
    assert_eq!(
        site.at("2026-03-29T23:30:00Z")
            .put(0, "batch-a")
            .await
            .status,
        200
    );
    site.delete(0, "batch-a").await;
    // And in summer, 00:30 UTC is 02:30 local: closed until 23:00 UTC.
    assert_eq!(
        verdict(&site.at("2026-06-01T00:30:00Z").put(0, "batch-a").await),
        (412, json!("outside_window"), json!("2026-06-01T23:00:00Z"))
    );
    // 25 October 2026, back to UTC+1 at 01:00 UTC: 23:30 UTC on the 24th is 01:30 local
    // (UTC+2), open; 01:30 UTC is 02:30 local (UTC+1), closed until 01:00 local on the 26th.
    assert_eq!(
        site.at("2026-10-24T23:30:00Z")
            .put(0, "batch-a")
            .await
            .status,
        200
    );
    site.delete(0, "batch-a").await;
    assert_eq!(
        verdict(&site.at("2026-10-25T01:30:00Z").put(0, "batch-a").await),
        (412, json!("outside_window"), json!("2026-10-26T00:00:00Z"))
    );
}

const SUNDAY_NIGHT: &str = r#"
[[locks.policies]]
match = "gap-*"
windows = [{ days = ["sun"], start = "02:00", end = "02:59", time_zone = "Europe/Berlin" }]

[[locks.policies]]
match = "late-*"
windows = [{ days = ["sun"], start = "02:30", end = "04:00", time_zone = "Europe/Berlin" }]
"#;

/// `next_window_at` is the first instant a window is really open. On 28 March 2027 Berlin skips
/// from 02:00 to 03:00 local (01:00 UTC): a window of 02:00–02:59 does not open that Sunday at
/// all, and one of 02:30–04:00 opens when the clock jumps to 03:00. On 31 October 2027 02:00–02:59
/// happens twice, and the window first opens at the first 02:00 (00:00 UTC).
#[actix_web::test]
async fn next_window_at_is_never_inside_a_daylight_saving_gap() {
    let site = Clocked::new(SUNDAY_NIGHT);
    // Saturday 27 March 2027, 12:00 UTC.
    let saturday = "2027-03-27T12:00:00Z";
    assert_eq!(
        verdict(&site.at(saturday).put(0, "gap-a").await),
        (412, json!("outside_window"), json!("2027-04-04T00:00:00Z")),
        "not 2027-03-28T01:00:00Z, when the window is over"
    );
    assert_eq!(
        verdict(&site.at(saturday).put(0, "late-a").await),
        (412, json!("outside_window"), json!("2027-03-28T01:00:00Z")),
        "the window opens as the clock jumps to 03:00, not at 01:30 UTC"
    );
    assert_eq!(
        site.at("2027-03-28T01:00:00Z")
            .put(0, "late-a")
            .await
            .status,
        200,
        "and is open then"
    );
    assert_eq!(
        site.at("2027-03-28T01:00:00Z").put(0, "gap-a").await.status,
        412,
        "the gap window is not"
    );
    assert_eq!(
        verdict(&site.at("2027-10-30T12:00:00Z").put(0, "gap-a").await),
        (412, json!("outside_window"), json!("2027-10-31T00:00:00Z")),
        "in the overlap, the first 02:00"
    );
    assert_eq!(
        site.at("2027-10-31T00:00:00Z").put(0, "gap-a").await.status,
        200
    );
}

/// 900 windows on one lock took 17 s to check, one time-zone query each: more than 50 are
/// refused with 422 before any is looked up, and 50 in many zones are checked in one query.
#[actix_web::test]
async fn windows_are_capped_and_their_zones_checked_at_once() {
    let app = TestApp::spawn();
    let admin = app
        .db
        .add_user("admin", "pw", crate::common::users::Scheme::Bcrypt);
    app.db.make_admin(admin);
    let auth = [crate::common::users::basic("admin", "pw")];
    let zones = ["Europe/Berlin", "America/New_York", "Asia/Tokyo", "UTC"];
    let windows = |n: usize| -> Vec<Value> {
        (0..n)
            .map(|i| json!({"start": "01:00", "end": "02:00", "time_zone": zones[i % 4]}))
            .collect()
    };
    let too_many = app
        .send_json(
            "POST",
            "/api/dlmlocks",
            &auth,
            Some(json!({"dlmlock": {"name": "many", "windows": windows(900)}})),
        )
        .await;
    assert_eq!(too_many.status, 422, "{}", too_many.body);
    assert!(
        too_many.body["error"]["errors"]["windows"][0]
            .as_str()
            .is_some_and(|m| m.contains("maximum is 50")),
        "{}",
        too_many.body
    );
    assert_eq!(app.db.scalar("SELECT count(*) FROM dlmlocks"), json!(0));

    let mut fifty = windows(49);
    fifty.push(json!({"start": "01:00", "end": "02:00", "time_zone": "Mars/Olympus"}));
    let unknown = app
        .send_json(
            "POST",
            "/api/dlmlocks",
            &auth,
            Some(json!({"dlmlock": {"name": "fifty", "windows": fifty}})),
        )
        .await;
    assert_eq!(unknown.status, 422, "{}", unknown.body);
    assert_eq!(
        unknown.body["error"]["errors"]["windows"],
        json!(["has an unknown time_zone \"Mars/Olympus\""])
    );
    let created = app
        .send_json(
            "POST",
            "/api/dlmlocks",
            &auth,
            Some(json!({"dlmlock": {"name": "fifty", "windows": windows(50)}})),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(
        app.db
            .scalar("SELECT jsonb_array_length(windows) FROM foreman_dlm_lock_policies"),
        json!(50)
    );
}
