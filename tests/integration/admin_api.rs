//! The admin API: every route × (admin, permitted user, unpermitted user, host certificate, no
//! credentials), editing with its events, search and pagination, and the event log.

use serde_json::{json, Value};

use crate::common::users::{basic, Scheme};
use crate::common::{cert_header, pki, send_json, Answer, Server, TestApp, TestDb};

struct Site {
    db: TestDb,
    server: Server,
    admin_id: i64,
    host_id: i64,
}

impl Site {
    /// An admin, one user per plugin permission (`perm-<permission>`, through a role), a user
    /// with no permission, and a host with its certificate.
    fn new() -> Site {
        let TestApp { db, server, .. } = TestApp::spawn();
        let admin_id = db.add_user("admin", "admin-pw", Scheme::Bcrypt);
        db.make_admin(admin_id);
        for permission in [
            "view_dlmlocks",
            "create_dlmlocks",
            "edit_dlmlocks",
            "destroy_dlmlocks",
            "view_dlmlock_events",
        ] {
            let user = db.add_user(&format!("perm-{permission}"), "pw", Scheme::Bcrypt);
            let role = db.add_role(&format!("only {permission}"), &[permission]);
            db.give_role(user, role);
        }
        db.add_user("nobody", "pw", Scheme::Bcrypt);
        let host_id = db.add_host("web1.example.com");
        Site {
            db,
            server,
            admin_id,
            host_id,
        }
    }

    async fn call(&self, method: &str, path: &str, caller: &Caller, body: Option<Value>) -> Answer {
        let headers = match caller {
            Caller::Admin => vec![basic("admin", "admin-pw")],
            Caller::Permitted(permission) => vec![basic(&format!("perm-{permission}"), "pw")],
            Caller::Unpermitted => vec![basic("nobody", "pw")],
            Caller::Host => cert_header(&pki::shared().host("web1.example.com")),
            Caller::Anonymous => vec![],
        };
        send_json(method, &self.server.url(path), &headers, body).await
    }
}

impl Site {
    async fn as_login(&self, login: &str, path: &str) -> Answer {
        send_json("GET", &self.server.url(path), &[basic(login, "pw")], None).await
    }

    async fn index(&self, query: &str) -> Answer {
        self.call(
            "GET",
            &format!("/api/dlmlocks?{query}"),
            &Caller::Permitted("view_dlmlocks"),
            None,
        )
        .await
    }

    async fn events(&self, query: &str) -> Answer {
        let path = format!("/api/dlmlocks/cluster/dlmlock_events?{query}");
        self.call(
            "GET",
            &path,
            &Caller::Permitted("view_dlmlock_events"),
            None,
        )
        .await
    }
}

#[derive(Debug, Clone, Copy)]
enum Caller {
    Admin,
    Permitted(&'static str),
    Unpermitted,
    Host,
    Anonymous,
}

#[actix_web::test]
async fn every_route_for_every_kind_of_caller() {
    let site = Site::new();
    // (method, path, body, permission, statuses for admin, permitted, unpermitted, host, anonymous)
    type Row = (
        &'static str,
        &'static str,
        Option<Value>,
        &'static str,
        [u16; 5],
    );
    let rows: Vec<Row> = vec![
        (
            "GET",
            "/api/dlmlocks",
            None,
            "view_dlmlocks",
            [200, 200, 403, 401, 401],
        ),
        (
            "GET",
            "/api/dlmlocks/matrix",
            None,
            "view_dlmlocks",
            [200, 200, 403, 200, 401],
        ),
        (
            "GET",
            "/api/v2/dlmlocks/matrix/lock",
            None,
            "view_dlmlocks",
            [200, 200, 403, 200, 401],
        ),
        (
            "GET",
            "/api/dlmlocks/matrix/dlmlock_events",
            None,
            "view_dlmlock_events",
            [200, 200, 403, 401, 401],
        ),
        (
            "PUT",
            "/api/dlmlocks/matrix/lock",
            None,
            "edit_dlmlocks",
            [403, 403, 403, 200, 401],
        ),
        (
            "DELETE",
            "/api/dlmlocks/matrix/lock",
            None,
            "edit_dlmlocks",
            [403, 403, 403, 200, 401],
        ),
        (
            "PUT",
            "/api/dlmlocks/matrix",
            Some(json!({"dlmlock": {"enabled": true}})),
            "edit_dlmlocks",
            [200, 200, 403, 401, 401],
        ),
        (
            "POST",
            "/api/dlmlocks",
            Some(json!({"dlmlock": {"name": "NAME"}})),
            "create_dlmlocks",
            [201, 201, 403, 401, 401],
        ),
        (
            "DELETE",
            "/api/v2/dlmlocks/doomed",
            None,
            "destroy_dlmlocks",
            [200, 200, 403, 401, 401],
        ),
    ];
    let mut created = 0;
    for (method, path, body, permission, expected) in rows {
        let callers = [
            Caller::Admin,
            Caller::Permitted(permission),
            Caller::Unpermitted,
            Caller::Host,
            Caller::Anonymous,
        ];
        for (caller, status) in callers.into_iter().zip(expected) {
            site.db
                .exec("DELETE FROM dlmlock_events; DELETE FROM dlmlocks;");
            site.db.add_lock("matrix", None, true);
            site.db.add_lock("doomed", None, true);
            let body = body.clone().map(|b| {
                created += 1;
                serde_json::from_str(&b.to_string().replace("NAME", &format!("new-{created}")))
                    .expect("json")
            });
            let answer = site.call(method, path, &caller, body).await;
            assert_eq!(
                answer.status, status,
                "{method} {path} as {caller:?}: {}",
                answer.body
            );
            assert!(
                answer.body.is_object(),
                "{method} {path} as {caller:?}: JSON"
            );
            let locks = site
                .db
                .scalar("SELECT count(*) AS n FROM dlmlocks")
                .as_i64()
                .expect("count");
            let changed = match (method, path, status) {
                ("POST", _, 201) => locks == 3,
                ("DELETE", "/api/v2/dlmlocks/doomed", 200) => locks == 1,
                _ => locks == 2,
            };
            assert!(
                changed,
                "{method} {path} as {caller:?}: {locks} locks afterwards"
            );
            if status == 403 && !matches!(caller, Caller::Admin | Caller::Permitted(_)) {
                assert_eq!(
                    answer.body["error"]["missing_permissions"],
                    json!([permission])
                );
            }
        }
    }
}

#[actix_web::test]
async fn users_cannot_take_locks_even_with_edit_permission() {
    let site = Site::new();
    site.db.add_lock("cluster", Some(site.host_id), true);

    let answer = site
        .call("DELETE", "/api/dlmlocks/cluster/lock", &Caller::Admin, None)
        .await;

    assert_eq!(answer.status, 403);
    assert_eq!(
        answer.body["error"]["details"],
        "You need to authenticate with a valid client cert. The DN has to match a known host."
    );
    assert_eq!(
        site.db.scalar("SELECT host_id FROM dlmlocks"),
        json!(site.host_id)
    );
}

#[actix_web::test]
async fn permissions_through_groups_admin_groups_and_the_default_role() {
    let site = Site::new();
    let grouped = site.db.add_user("grouped", "pw", Scheme::Sha1);
    let viewers = site.db.add_role("viewers", &["view_dlmlocks"]);
    site.db
        .add_group("lock viewers", false, grouped, Some(viewers));
    let group_admin = site.db.add_user("group-admin", "pw", Scheme::Pbkdf2);
    site.db.add_group("admins", true, group_admin, None);
    let plain = site.db.add_user("plain", "pw", Scheme::Bcrypt);
    let _ = plain;
    let limited = site.db.add_user("limited", "pw", Scheme::Bcrypt);
    let limited_role = site.db.add_role("limited viewers", &["view_dlmlocks"]);
    site.db.exec(&format!(
        "UPDATE filters SET search = 'name ~ web' WHERE role_id = {limited_role}"
    ));
    site.db.give_role(limited, limited_role);

    let index = "/api/dlmlocks";
    assert_eq!(
        site.as_login("grouped", index).await.status,
        200,
        "role through a user group"
    );
    assert_eq!(
        site.as_login("group-admin", index).await.status,
        200,
        "member of an admin group"
    );
    assert_eq!(
        site.as_login("plain", index).await.status,
        403,
        "Default role without dlm permissions"
    );
    assert_eq!(
        site.as_login("limited", index).await.status,
        403,
        "limited filters grant nothing (fail closed)"
    );

    // The builtin Default role applies to everybody.
    site.db.exec(
        "INSERT INTO filters (role_id, created_at, updated_at) VALUES (1, now(), now());
         INSERT INTO filterings (filter_id, permission_id) SELECT currval('filters_id_seq'), id FROM permissions WHERE name = 'view_dlmlocks';",
    );
    assert_eq!(
        site.as_login("plain", index).await.status,
        200,
        "granted through the Default role"
    );
}

#[actix_web::test]
async fn create_validates_like_the_plugin() {
    let site = Site::new();
    let post = |body: Value| site.call("POST", "/api/v2/dlmlocks", &Caller::Admin, Some(body));

    let created = post(json!({"dlmlock": {"name": "db-cluster", "type": "ForemanDlm::Dlmlock::Update", "enabled": false}})).await;
    let wrapped_less = post(json!({"name": "top-level"})).await;
    let duplicate = post(json!({"dlmlock": {"name": "db-cluster"}})).await;
    let blank = post(json!({"dlmlock": {"name": " "}})).await;
    let bad_type = post(json!({"dlmlock": {"name": "x", "type": "Dlmlock::Update"}})).await;
    let slash = post(json!({"dlmlock": {"name": "a/b"}})).await;

    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(created.body["name"], "db-cluster");
    assert_eq!(created.body["enabled"], false);
    assert_eq!(created.body["host"], Value::Null);
    assert_eq!(wrapped_less.status, 201, "{}", wrapped_less.body);
    assert_eq!(
        wrapped_less.body["type"],
        Value::Null,
        "no type given: the plugin's base class"
    );
    assert_eq!(duplicate.status, 422);
    assert_eq!(
        duplicate.body,
        json!({"error": {"id": null, "errors": {"name": ["has already been taken"]},
                         "full_messages": ["Name has already been taken"]}})
    );
    assert_eq!(blank.status, 422);
    assert_eq!(
        blank.body["error"]["errors"]["name"],
        json!(["can't be blank"])
    );
    assert_eq!(bad_type.status, 422);
    assert_eq!(slash.status, 422);
    assert_eq!(
        site.db.scalar("SELECT count(*) AS n FROM dlmlocks"),
        json!(2)
    );
}

#[actix_web::test]
async fn malformed_and_non_json_bodies() {
    let site = Site::new();
    let url = site.server.url("/api/dlmlocks");
    let client = awc::Client::default();
    let (header, value) = basic("admin", "admin-pw");

    let mut bad_json = client
        .post(&url)
        .insert_header((header, value.clone()))
        .insert_header(("Content-Type", "application/json"))
        .send_body("{\"dlmlock\": ")
        .await
        .expect("sent");
    let mut form = client
        .post(&url)
        .insert_header((header, value))
        .insert_header(("Content-Type", "application/x-www-form-urlencoded"))
        .send_body("dlmlock[name]=x")
        .await
        .expect("sent");

    assert_eq!(bad_json.status().as_u16(), 400);
    let body: Value = serde_json::from_slice(&bad_json.body().await.expect("body")).expect("json");
    assert_eq!(body["status"], 400);
    assert!(body["error"]
        .as_str()
        .is_some_and(|e| e.starts_with("There was a problem in the JSON you submitted")));
    assert_eq!(form.status().as_u16(), 415);
    let body: Value = serde_json::from_slice(&form.body().await.expect("body")).expect("json");
    assert!(body["error"]["message"].is_string());
    assert_eq!(
        site.db.scalar("SELECT count(*) AS n FROM dlmlocks"),
        json!(0)
    );
}

#[actix_web::test]
async fn update_force_release_reassign_disable_rename() {
    let site = Site::new();
    let other = site.db.add_host("web2.example.com");
    let lock = site.db.add_lock("cluster", Some(site.host_id), true);
    site.db.add_lock("taken-name", None, true);
    let path = format!("/api/dlmlocks/{lock}");
    let put = |body: Value| site.call("PUT", &path, &Caller::Admin, Some(body));
    let admin = site.admin_id;

    let release = put(json!({"dlmlock": {"host_id": null}})).await;
    assert_eq!(release.status, 200, "{}", release.body);
    assert_eq!(release.body["host_id"], Value::Null);
    let reassign = put(json!({"dlmlock": {"host_id": site.host_id}})).await;
    let swap = put(json!({"dlmlock": {"host_id": other.to_string()}})).await;
    assert_eq!(swap.body["host"], json!({"name": "web2.example.com"}));
    let disable = put(json!({"dlmlock": {"enabled": "false"}})).await;
    assert_eq!(disable.body["enabled"], false);
    let rename_taken = put(json!({"dlmlock": {"name": "taken-name"}})).await;
    let rename = put(json!({"dlmlock": {"name": "renamed"}})).await;
    let ghost_host = put(json!({"dlmlock": {"host_id": 999_999}})).await;

    assert_eq!(reassign.status, 200);
    assert_eq!(rename_taken.status, 422);
    assert_eq!(rename_taken.body["error"]["id"], json!(lock));
    assert_eq!(rename.body["name"], "renamed");
    assert_eq!(ghost_host.status, 422);
    assert_eq!(
        site.db.rows(&format!("SELECT event_type, host_id, user_id FROM dlmlock_events WHERE dlmlock_id = {lock} ORDER BY id")),
        json!([
            {"event_type": "release", "host_id": site.host_id, "user_id": admin},
            {"event_type": "acquire", "host_id": site.host_id, "user_id": admin},
            {"event_type": "release", "host_id": site.host_id, "user_id": admin},
            {"event_type": "acquire", "host_id": other, "user_id": admin},
            {"event_type": "disable", "host_id": other, "user_id": admin}
        ])
    );
    assert_eq!(
        site.db.rows(&format!(
            "SELECT name, enabled, host_id FROM dlmlocks WHERE id = {lock}"
        )),
        json!([{"name": "renamed", "enabled": false, "host_id": other}])
    );
    // Disabled by the admin: the host can no longer take or give back the lock.
    let host = site
        .call("DELETE", "/api/dlmlocks/renamed/lock", &Caller::Host, None)
        .await;
    assert_eq!(host.status, 412);
}

#[actix_web::test]
async fn destroy_takes_the_events_along() {
    let site = Site::new();
    let lock = site.db.add_lock("old", Some(site.host_id), true);
    let kept = site.db.add_lock("kept", None, true);
    site.db.exec(&format!(
        "INSERT INTO dlmlock_events (dlmlock_id, event_type, host_id, created_at, updated_at) VALUES
         ({lock}, 'acquire', {h}, now(), now()), ({lock}, 'fail', {h}, now(), now()), ({kept}, 'enable', NULL, now(), now())",
        h = site.host_id
    ));

    let deleted = site
        .call(
            "DELETE",
            &format!("/api/dlmlocks/{lock}"),
            &Caller::Admin,
            None,
        )
        .await;
    let again = site
        .call(
            "DELETE",
            &format!("/api/dlmlocks/{lock}"),
            &Caller::Admin,
            None,
        )
        .await;

    assert_eq!(deleted.status, 200);
    assert_eq!(deleted.body["name"], "old");
    assert_eq!(deleted.body["host"], json!({"name": "web1.example.com"}));
    assert_eq!(again.status, 404);
    assert_eq!(
        site.db.rows("SELECT name FROM dlmlocks"),
        json!([{"name": "kept"}])
    );
    assert_eq!(
        site.db.rows("SELECT dlmlock_id FROM dlmlock_events"),
        json!([{"dlmlock_id": kept}])
    );
}

#[actix_web::test]
async fn search_order_and_pagination_over_hundreds_of_locks() {
    let site = Site::new();
    let web2 = site.db.add_host("web2.example.com");
    // 300 locks: web-000…web-149 (every 3rd held by web1, stale when held longer than 4 h),
    // db-000…db-149 (every 10th disabled, every 5th held by web2).
    site.db.exec(&format!(
        "INSERT INTO dlmlocks (name, type, enabled, host_id, created_at, updated_at)
         SELECT 'web-' || lpad(i::text, 3, '0'), 'ForemanDlm::Dlmlock::Update', true,
                CASE WHEN i % 3 = 0 THEN {web1} END, now(), now() - make_interval(hours => CASE WHEN i % 2 = 0 THEN 5 ELSE 1 END)
           FROM generate_series(0, 149) i;
         INSERT INTO dlmlocks (name, type, enabled, host_id, created_at, updated_at)
         SELECT 'db-' || lpad(i::text, 3, '0'), NULL, i % 10 <> 0, CASE WHEN i % 5 = 0 THEN {web2} END, now(), now()
           FROM generate_series(0, 149) i;",
        web1 = site.host_id
    ));
    let count = |answer: &Answer| answer.body["subtotal"].as_i64().expect("subtotal");
    let names = |answer: &Answer| -> Vec<String> {
        answer.body["results"]
            .as_array()
            .expect("results")
            .iter()
            .map(|r| r["name"].as_str().expect("name").to_string())
            .collect()
    };

    let first = site.index("").await;
    assert_eq!(first.status, 200);
    assert_eq!(
        (
            first.body["total"].clone(),
            first.body["subtotal"].clone(),
            first.body["page"].clone(),
            first.body["per_page"].clone()
        ),
        (json!(300), json!(300), json!(1), json!(20))
    );
    assert_eq!(first.body["search"], Value::Null);
    assert_eq!(first.body["sort"], json!({"by": null, "order": null}));
    assert_eq!(names(&first)[0], "db-000", "default order: name");

    let cases = [
        ("search=name+~+web", 150),
        ("search=name+%3D+web-003", 1),
        ("search=host+%3D+web1.example.com", 50),
        ("search=host+~+web2", 30),
        ("search=host+!~+web1", 250),
        ("search=enabled+%3D+false", 15),
        ("search=locked+%3D+true", 80),
        ("search=locked+%3D+false+and+name+~+db", 120),
        ("search=stale+%3D+true", 25),
        ("search=type+%3D+ForemanDlm::Dlmlock::Update", 150),
        ("search=type+!%3D+ForemanDlm::Dlmlock::Update", 150),
        ("search=db-14", 10),
    ];
    for (query, expected) in cases {
        let answer = site.index(query).await;
        assert_eq!(answer.status, 200, "{query}: {}", answer.body);
        assert_eq!(count(&answer), expected, "{query}");
        assert_eq!(
            answer.body["total"], answer.body["subtotal"],
            "{query}: the plugin reports the searched count"
        );
    }

    let page = site
        .index("search=name+~+web&order=name+DESC&page=2&per_page=25")
        .await;
    assert_eq!(page.body["page"], 2);
    assert_eq!(page.body["per_page"], 25);
    assert_eq!(page.body["sort"], json!({"by": "name", "order": "DESC"}));
    assert_eq!(page.body["search"], "name ~ web");
    assert_eq!(names(&page).len(), 25);
    assert_eq!(names(&page)[0], "web-124");
    assert_eq!(names(&page)[24], "web-100");
    let all = site.index("per_page=all").await;
    assert_eq!(
        (names(&all).len(), all.body["per_page"].clone()),
        (300, json!(300))
    );
    let beyond = site.index("page=99").await;
    assert_eq!(names(&beyond).len(), 0);
    let by_host = site
        .index("search=locked+%3D+true&order=host&per_page=1")
        .await;
    assert_eq!(
        by_host.body["results"][0]["host"],
        json!({"name": "web1.example.com"})
    );

    for bad in [
        "search=owner+%3D+x",
        "search=name+%3D+a+or+name+%3D+b",
        "search=enabled+%3D+maybe",
        "search=name+%3D",
        "order=password",
        "page=0",
        "per_page=-5",
        "per_page=lots",
    ] {
        let answer = site.index(bad).await;
        assert_eq!(answer.status, 400, "{bad}: {}", answer.body);
        assert!(answer.body["error"]["message"].is_string(), "{bad}");
    }
}

#[actix_web::test]
async fn event_log_pages_in_both_directions() {
    let site = Site::new();
    let lock = site.db.add_lock("cluster", None, true);
    site.db.exec(&format!(
        "INSERT INTO dlmlock_events (dlmlock_id, event_type, host_id, user_id, created_at, updated_at)
         SELECT {lock}, CASE WHEN i % 2 = 0 THEN 'acquire' ELSE 'release' END, {h}, 2,
                now() - make_interval(mins => 100 - i), now() - make_interval(mins => 100 - i)
           FROM generate_series(1, 45) i",
        h = site.host_id
    ));

    let oldest = site.events("").await;
    let newest = site.events("order=created_at+DESC&per_page=5").await;
    let last_page = site.events("page=3").await;
    let bad = site.events("order=host").await;

    assert_eq!(oldest.status, 200);
    assert_eq!(
        (
            oldest.body["total"].clone(),
            oldest.body["per_page"].clone()
        ),
        (json!(45), json!(20))
    );
    let first = &oldest.body["results"][0];
    assert_eq!(first["event_type"], "release");
    assert!(first["created_at"]
        .as_str()
        .is_some_and(|t| t.ends_with(" UTC")));
    assert_eq!(first["host_id"], json!(site.host_id));
    let newest_ids: Vec<i64> = newest.body["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| r["id"].as_i64().expect("id"))
        .collect();
    assert_eq!(newest_ids.len(), 5);
    assert!(
        newest_ids.windows(2).all(|w| w[0] > w[1]),
        "newest first: {newest_ids:?}"
    );
    assert_eq!(last_page.body["results"].as_array().map(Vec::len), Some(5));
    assert_eq!(bad.status, 400);
    let missing = site
        .call(
            "GET",
            "/api/dlmlocks/none/dlmlock_events",
            &Caller::Admin,
            None,
        )
        .await;
    assert_eq!(missing.status, 404);
}
