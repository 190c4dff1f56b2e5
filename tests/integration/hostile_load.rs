//! Regressions of the second hostile probe: searches, lock floods, logins and other surfaces
//! that a hostile client or host could use to exhaust the service. One test per defect, named
//! after what it defends.

use crate::common::users::{basic, Scheme};
use crate::common::TestApp;

/// An IPv6 client holds at least a /64: failures from 25 addresses in one /64 are one client's.
#[actix_web::test]
async fn login_failures_from_one_ipv6_64_are_counted_together() {
    let app = TestApp::spawn_with(|o| {
        o.extra_toml = "[logins]\nfailures_per_address_per_minute = 5\n\
                        failures_per_login_per_minute = 100\n"
            .into()
    });
    let admin = app.db.add_user("admin", "pw", Scheme::Bcrypt);
    app.db.make_admin(admin);
    let from = |address: String| ("X-Forwarded-For", address);
    let mut statuses = Vec::new();
    for n in 1..=25 {
        let answer = app
            .send(
                "GET",
                "/api/dlmlocks",
                &[
                    basic(&format!("guess{n}"), "x"),
                    from(format!("2001:db8:5:6::{n:x}")),
                ],
            )
            .await;
        statuses.push(answer.status);
    }
    assert_eq!(statuses[..5], [401; 5], "{statuses:?}");
    assert!(
        statuses[5..].iter().all(|s| *s == 429),
        "the /64 is blocked after 5 failures: {statuses:?}"
    );
    let neighbour = app
        .send(
            "GET",
            "/api/dlmlocks",
            &[basic("admin", "pw"), from("2001:db8:5:7::1".into())],
        )
        .await;
    assert_eq!(neighbour.status, 200, "the next /64 is another client");
}

/// Anonymous memory (kB) of this database's server processes other than the test's own: the
/// service's connections, where prepared statements and their plans live.
fn backends_memory_kb(app: &TestApp) -> u64 {
    let pids = app.db.rows(&format!(
        "SELECT pid FROM pg_stat_activity WHERE datname = '{}' AND pid <> pg_backend_pid()",
        app.db.name
    ));
    pids.as_array()
        .into_iter()
        .flatten()
        .filter_map(|row| row["pid"].as_i64())
        .filter_map(|pid| std::fs::read_to_string(format!("/proc/{pid}/status")).ok())
        .filter_map(|status| {
            status
                .lines()
                .find(|l| l.starts_with("RssAnon:"))?
                .split_whitespace()
                .nth(1)?
                .parse::<u64>()
                .ok()
        })
        .sum()
}

/// A viewer's searches used to become prepared statements on the service's connections, one per
/// distinct text, with no bound: 800 shapes grew PostgreSQL's backends from 54 to 712 MB. Now a
/// search with conditions is planned once and forgotten; 400 distinct shapes leave the backends
/// about where they were.
#[actix_web::test]
async fn search_shapes_do_not_grow_the_statement_cache() {
    let app = TestApp::spawn();
    let viewer = app.db.add_user("viewer", "pw", Scheme::Sha1);
    app.db.make_admin(viewer);
    app.db.exec(
        "INSERT INTO dlmlocks (name, type, enabled, created_at, updated_at) \
         SELECT 'lock-' || i, 'ForemanDlm::Dlmlock::Update', true, now(), now() \
           FROM generate_series(1, 50) i",
    );
    let auth = [basic("viewer", "pw")];
    let search = |conditions: &[&str]| {
        let text = conditions.join(" and ");
        format!(
            "/api/dlmlocks?search={}",
            percent_encoding::utf8_percent_encode(&text, percent_encoding::NON_ALPHANUMERIC)
        )
    };
    // Warm every connection with the plain list, then measure.
    for _ in 0..20 {
        assert_eq!(
            app.send("GET", &search(&["name ~ lock"]), &auth)
                .await
                .status,
            200
        );
    }
    let before = backends_memory_kb(&app);
    let fields = [
        "name ~ a",
        "name !~ b",
        "host ~ c",
        "host !~ d",
        "type ~ e",
        "type !~ f",
        "enabled = true",
        "locked = false",
        "stale = false",
        "full = false",
        "holders >= 0",
        "holders < 9",
        "name != x",
        "host = y",
    ];
    let mut shapes = 0;
    for n in 1..=fields.len() {
        for start in 0..fields.len() {
            let conditions: Vec<&str> = (0..n)
                .map(|k| fields[(start + k * 3) % fields.len()])
                .collect();
            for repeat in 1..=2 {
                let mut repeated = conditions.clone();
                repeated.extend(std::iter::repeat_n("name ~ lock", repeat));
                let answer = app.send("GET", &search(&repeated), &auth).await;
                assert_eq!(answer.status, 200, "{}", answer.body);
                shapes += 1;
            }
        }
    }
    let after = backends_memory_kb(&app);
    eprintln!("backends: {before} kB before, {after} kB after {shapes} search shapes");
    assert!(shapes >= 390, "{shapes} shapes");
    assert!(
        after < before + 20 * 1024,
        "{shapes} search shapes grew the backends from {before} kB to {after} kB"
    );
}
