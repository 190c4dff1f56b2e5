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
