//! The database down for half a minute, then back: the log says so in a few lines, not in one
//! per connection attempt, sweep and host request.

use std::time::{Duration, Instant};

use crate::common::gate::Gate;
use crate::common::{cert_header, pki, send, Server, ServerOptions, TestDb};

fn count(logs: &str, text: &str) -> usize {
    logs.lines().filter(|line| line.contains(text)).count()
}

#[actix_web::test]
async fn a_database_outage_is_logged_once_then_counted_then_ended() {
    let db = TestDb::new();
    db.add_host("web1.example.com");
    let gate = Gate::shut();
    let mut options = ServerOptions::for_db(&db);
    options.database_url = gate.url_for(&db);
    options.ca_files = vec![pki::shared().ca_file.clone()];
    let server = Server::spawn(&options);
    let host = cert_header(&pki::shared().host("web1.example.com"));
    let lock = server.url("/api/dlmlocks/outage/lock");

    // 33 s of a host asking every 200 ms, all answered 503.
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(33) {
        assert_eq!(send("PUT", &lock, &host).await.status, 503);
        actix_web::rt::time::sleep(Duration::from_millis(200)).await;
    }
    gate.open();
    let deadline = Instant::now() + Duration::from_secs(15);
    while send("PUT", &lock, &host).await.status != 200 {
        assert!(Instant::now() < deadline, "{}", server.logs());
        actix_web::rt::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        db.scalar("SELECT count(*) FROM dlmlocks WHERE name = 'outage'"),
        serde_json::json!(1)
    );

    let logs = server.logs();
    // About 160 refused requests and as many connection attempts: the first of each, one count
    // after 30 s, and the end.
    let failed = count(&logs, "cannot connect to the database:");
    assert!((2..=3).contains(&failed), "{failed} lines:\n{logs}");
    assert!(
        logs.lines()
            .any(|line| line.contains("cannot connect to the database:")
                && line.contains("times in the last 30 s")),
        "{logs}"
    );
    assert_eq!(
        count(&logs, "connected to the database again ("),
        1,
        "{logs}"
    );
    let refused = count(&logs, "answering 503:");
    assert!((1..=2).contains(&refused), "{refused} lines:\n{logs}");
    assert_eq!(count(&logs, "lease sweep skipped"), 0, "{logs}");
    assert!(logs.lines().count() < 60, "{logs}");
}
