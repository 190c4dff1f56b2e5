//! The database down for half a minute, then back: the log says so in a few lines, not in one
//! per connection attempt, sweep and host request.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::common::{cert_header, pki, send, Server, ServerOptions, TestDb};

/// A TCP port in front of PostgreSQL that forwards connections while open and closes them at
/// once while shut, as a database host that went away would.
fn gate(open: Arc<AtomicBool>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            if !open.load(Ordering::SeqCst) {
                drop(client);
                continue;
            }
            let Ok(server) = TcpStream::connect("127.0.0.1:5432") else {
                continue;
            };
            for (mut from, mut to) in [
                (client.try_clone().unwrap(), server.try_clone().unwrap()),
                (server, client),
            ] {
                std::thread::spawn(move || {
                    let mut buffer = [0u8; 16384];
                    while let Ok(n) = from.read(&mut buffer) {
                        if n == 0 || to.write_all(&buffer[..n]).is_err() {
                            break;
                        }
                    }
                    let _ = to.shutdown(std::net::Shutdown::Both);
                });
            }
        }
    });
    port
}

fn count(logs: &str, text: &str) -> usize {
    logs.lines().filter(|line| line.contains(text)).count()
}

#[actix_web::test]
async fn a_database_outage_is_logged_once_then_counted_then_ended() {
    let db = TestDb::new();
    db.add_host("web1.example.com");
    let open = Arc::new(AtomicBool::new(false));
    let port = gate(open.clone());
    let mut options = ServerOptions::for_db(&db);
    options.database_url = db.url.replace(":5432/", &format!(":{port}/"));
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
    open.store(true, Ordering::SeqCst);
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
