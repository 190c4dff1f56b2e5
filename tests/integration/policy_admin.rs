//! Every refusal reason a host can meet, and what an admin does with policies and holders:
//! setting them (and invalid values, which change nothing), releasing one holder or all, and
//! searching by holders.

use serde_json::{json, Value};

use crate::common::users::{basic, Scheme};
use crate::common::{cert_header, pki, send, send_json, Answer, TestApp};

struct Site {
    app: TestApp,
    admin: Vec<(&'static str, String)>,
    admin_id: i64,
    nodes: Vec<(i64, Vec<(&'static str, String)>)>,
}

impl Site {
    fn new() -> Site {
        let app = TestApp::spawn();
        let admin_id = app.db.add_user("admin", "admin-pw", Scheme::Bcrypt);
        app.db.make_admin(admin_id);
        let nodes = (0..4)
            .map(|i| {
                let name = format!("node{i}.example.com");
                (
                    app.db.add_host(&name),
                    cert_header(&pki::shared().host(&name)),
                )
            })
            .collect();
        Site {
            app,
            admin: vec![basic("admin", "admin-pw")],
            admin_id,
            nodes,
        }
    }

    async fn host(&self, node: usize, method: &str, lock: &str) -> Answer {
        let url = self.app.url(&format!("/api/dlmlocks/{lock}/lock"));
        send(method, &url, &self.nodes[node].1).await
    }

    async fn admin(&self, method: &str, path: &str, body: Option<Value>) -> Answer {
        send_json(method, &self.app.url(path), &self.admin, body).await
    }

    fn lock_state(&self, lock: &str) -> Value {
        self.app.db.rows(&format!(
            "SELECT l.host_id, l.enabled, \
                    (SELECT coalesce(json_agg(h.host_id ORDER BY h.host_id), '[]') \
                       FROM foreman_dlm_lock_holders h WHERE h.dlmlock_id = l.id) AS holders, \
                    (SELECT row_to_json(p) FROM (SELECT max_holders, lease_seconds, windows \
                       FROM foreman_dlm_lock_policies WHERE dlmlock_id = l.id) p) AS policy, \
                    (SELECT count(*) FROM dlmlock_events e WHERE e.dlmlock_id = l.id) AS events \
               FROM dlmlocks l WHERE l.name = '{lock}'"
        ))[0]
            .clone()
    }
}

fn reason(answer: &Answer) -> (u16, Value) {
    (answer.status, answer.body["error"]["reason"].clone())
}

#[actix_web::test]
async fn every_refusal_reason_keeps_the_plugins_envelope() {
    let site = Site::new();
    let created = site
        .admin(
            "POST",
            "/api/dlmlocks",
            Some(json!({"name": "pair", "max_holders": 2})),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);

    // held: one slot, someone else in it.
    assert_eq!(site.host(0, "PUT", "single").await.status, 200);
    let held = site.host(1, "PUT", "single").await;
    assert_eq!(reason(&held), (412, json!("held")));
    assert_eq!(
        held.body["error"]["message"],
        "Precondition failed. Lock is in invalid state for this operation."
    );
    assert_eq!(
        reason(&site.host(1, "DELETE", "single").await),
        (412, json!("held"))
    );
    // full: every slot taken.
    assert_eq!(site.host(0, "PUT", "pair").await.status, 200);
    assert_eq!(site.host(1, "PUT", "pair").await.status, 200);
    assert_eq!(
        reason(&site.host(2, "PUT", "pair").await),
        (412, json!("full"))
    );
    // With more than one slot, a release by a host without one is answered 200 and changes
    // nothing.
    let before = site.lock_state("pair");
    assert_eq!(site.host(2, "DELETE", "pair").await.status, 200);
    assert_eq!(site.lock_state("pair"), before);
    // A holder's release frees its slot only.
    let released = site.host(0, "DELETE", "pair").await;
    assert_eq!(released.status, 200);
    assert_eq!(released.body["holders"][0]["host_id"], site.nodes[1].0);
    // disabled: nobody takes or gives back.
    site.admin("PUT", "/api/dlmlocks/pair", Some(json!({"enabled": false})))
        .await;
    assert_eq!(
        reason(&site.host(2, "PUT", "pair").await),
        (412, json!("disabled"))
    );
    assert_eq!(
        reason(&site.host(1, "DELETE", "pair").await),
        (412, json!("disabled"))
    );
    // outside_window: a window that is not open now (the hour before "now" in UTC).
    let now: chrono::DateTime<chrono::Utc> = chrono::Utc::now();
    let start = (now - chrono::Duration::hours(2))
        .format("%H:%M")
        .to_string();
    let end = (now - chrono::Duration::hours(1))
        .format("%H:%M")
        .to_string();
    let windowed = site
        .admin(
            "POST",
            "/api/dlmlocks",
            Some(json!({"dlmlock": {"name": "windowed",
                        "windows": [{"start": start, "end": end}]}})),
        )
        .await;
    assert_eq!(windowed.status, 201, "{}", windowed.body);
    let outside = site.host(3, "PUT", "windowed").await;
    assert_eq!(reason(&outside), (412, json!("outside_window")));
    let next = outside.body["error"]["next_window_at"]
        .as_str()
        .unwrap_or_default();
    let next = chrono::DateTime::parse_from_rfc3339(next).expect("ISO 8601 in UTC");
    let wait = next.with_timezone(&chrono::Utc) - now;
    assert!(
        wait > chrono::Duration::hours(21) && wait <= chrono::Duration::hours(22),
        "the window opens again in 22 hours: {next}"
    );
    // opted_out: the host parameter says no; no event, as with the plugin.
    site.app.db.exec(&format!(
        "INSERT INTO parameters (name, value, type, reference_id, created_at, updated_at) \
         VALUES ('can_acquire_update_locks', E'--- false\\n', 'HostParameter', {}, now(), now())",
        site.nodes[3].0
    ));
    let events = site.lock_state("single")["events"].clone();
    assert_eq!(
        reason(&site.host(3, "PUT", "single").await),
        (412, json!("opted_out"))
    );
    assert_eq!(site.lock_state("single")["events"], events);
}

#[actix_web::test]
async fn invalid_policy_values_get_foremans_422_and_change_nothing() {
    let site = Site::new();
    site.host(0, "PUT", "cluster").await;
    let before = site.lock_state("cluster");
    for (body, field) in [
        (json!({"max_holders": 0}), "max_holders"),
        (json!({"max_holders": null}), "max_holders"),
        (json!({"max_holders": "three"}), "max_holders"),
        (json!({"max_holders": 2.5}), "max_holders"),
        (json!({"lease_seconds": 0}), "lease_seconds"),
        (json!({"lease_seconds": -5}), "lease_seconds"),
        (
            json!({"lease_seconds": 99_999_999_999_i64}),
            "lease_seconds",
        ),
        (json!({"windows": "always"}), "windows"),
        (
            json!({"windows": [{"days": ["someday"], "start": "22:00", "end": "04:00"}]}),
            "windows",
        ),
        (
            json!({"windows": [{"start": "25:00", "end": "04:00"}]}),
            "windows",
        ),
        (
            json!({"windows": [{"start": "22:00", "end": "04:00", "time_zone": "Mars/Olympus"}]}),
            "windows",
        ),
        (
            json!({"max_holders": 3, "lease_seconds": 0}),
            "lease_seconds",
        ),
    ] {
        let answer = site
            .admin("PUT", "/api/dlmlocks/cluster", Some(body.clone()))
            .await;
        assert_eq!(answer.status, 422, "{body}: {}", answer.body);
        assert!(
            answer.body["error"]["errors"][field].is_array(),
            "{body}: {}",
            answer.body
        );
        assert!(answer.body["error"]["full_messages"].is_array());
        assert_eq!(site.lock_state("cluster"), before, "{body} changed nothing");
    }
    let created = site
        .admin(
            "POST",
            "/api/dlmlocks",
            Some(json!({"name": "new", "windows": [{"start": "1:00", "end": "2:00"}]})),
        )
        .await;
    assert_eq!(created.status, 422);
    assert_eq!(
        site.app
            .db
            .scalar("SELECT count(*) FROM dlmlocks WHERE name = 'new'"),
        json!(0)
    );
}

#[actix_web::test]
async fn admins_release_one_holder_or_all_and_search_by_holders() {
    let site = Site::new();
    site.admin(
        "POST",
        "/api/dlmlocks",
        Some(json!({"name": "trio", "max_holders": "3", "lease_seconds": "3600"})),
    )
    .await;
    for node in 0..3 {
        assert_eq!(site.host(node, "PUT", "trio").await.status, 200);
    }
    site.host(0, "PUT", "solo").await;
    let (first, second, third) = (site.nodes[0].0, site.nodes[1].0, site.nodes[2].0);

    let site = &site;
    let search = |query: &'static str| async move {
        let answer = site
            .admin("GET", &format!("/api/dlmlocks?search={query}"), None)
            .await;
        assert_eq!(answer.status, 200, "{query}: {}", answer.body);
        let names: Vec<Value> = answer.body["results"]
            .as_array()
            .map(|r| r.iter().map(|l| l["name"].clone()).collect())
            .unwrap_or_default();
        json!(names)
    };
    assert_eq!(search("holders+%3E+1").await, json!(["trio"]));
    assert_eq!(search("holders+%3D+1").await, json!(["solo"]));
    assert_eq!(search("full+%3D+true").await, json!(["solo", "trio"]));
    assert_eq!(
        search("holders+%3C+3+and+full+%3D+true").await,
        json!(["solo"])
    );

    // One holder: a `release` event naming the admin; the plugin's host_id moves to the next.
    let one = site
        .admin(
            "DELETE",
            &format!("/api/dlmlocks/trio/holders/{first}"),
            None,
        )
        .await;
    assert_eq!(one.status, 200, "{}", one.body);
    assert_eq!(one.body["host_id"], second);
    assert_eq!(site.lock_state("trio")["holders"], json!([second, third]));
    assert_eq!(site.lock_state("trio")["host_id"], second);
    let again = site
        .admin(
            "DELETE",
            &format!("/api/dlmlocks/trio/holders/{first}"),
            None,
        )
        .await;
    assert_eq!(again.status, 404, "not a holder any more");
    let bad = site
        .admin("DELETE", "/api/dlmlocks/trio/holders/x1", None)
        .await;
    assert_eq!(bad.status, 400);
    assert_eq!(search("full+%3D+false").await, json!(["trio"]));

    // All holders: host_id null, one release event per holder.
    let all = site
        .admin("PUT", "/api/dlmlocks/trio", Some(json!({"host_id": null})))
        .await;
    assert_eq!(all.status, 200, "{}", all.body);
    assert_eq!(all.body["holders"], json!([]));
    assert_eq!(site.lock_state("trio")["holders"], json!([]));
    let released = site.app.db.rows(
        "SELECT e.event_type, e.host_id, e.user_id FROM dlmlock_events e \
           JOIN dlmlocks l ON l.id = e.dlmlock_id WHERE l.name = 'trio' \
            AND e.event_type = 'release' ORDER BY e.id",
    );
    let admin = site.admin_id;
    assert_eq!(
        released,
        json!([
            {"event_type": "release", "host_id": first, "user_id": admin},
            {"event_type": "release", "host_id": second, "user_id": admin},
            {"event_type": "release", "host_id": third, "user_id": admin}
        ])
    );
    // Without edit permission: 403 and nothing changes.
    let viewer = site.app.db.add_user("viewer", "pw", Scheme::Bcrypt);
    let role = site.app.db.add_role("viewer", &["view_dlmlocks"]);
    site.app.db.give_role(viewer, role);
    let state = site.lock_state("solo");
    let forbidden = send_json(
        "DELETE",
        &site.app.url(&format!("/api/dlmlocks/solo/holders/{first}")),
        &[basic("viewer", "pw")],
        None,
    )
    .await;
    assert_eq!(forbidden.status, 403);
    assert_eq!(site.lock_state("solo"), state);
}
