//! Floods an intruder can send without any credentials, while hosts keep taking turns (issue 9,
//! items 4 and 5). The host requests must keep getting their right answers; how fast they come
//! is printed, never asserted.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::join_all;

use crate::common::users::{basic, Scheme};
use crate::common::{cert_header, curl, curl_cert_args, pki, send, TestApp};

/// Hosts that take turns on five cluster locks until `until`; every latency (ms) and every status
/// that was not a right answer (200, or 412 while another holds the lock).
async fn hosts_cycling(app: &TestApp, count: usize, until: Instant) -> (Vec<f64>, Vec<u16>) {
    let hosts: Vec<_> = (0..count)
        .map(|i| {
            let (_, cert) = app.host(&format!("cycler{i:02}.example.com"));
            (i, cert_header(&cert))
        })
        .collect();
    let outcomes = join_all(hosts.into_iter().map(|(i, headers)| {
        let url = app.url(&format!("/api/dlmlocks/cluster-{}/lock", i % 5));
        async move {
            let mut latencies = Vec::new();
            let mut wrong = Vec::new();
            while Instant::now() < until {
                for method in ["PUT", "DELETE"] {
                    let started = Instant::now();
                    let answer = send(method, &url, &headers).await;
                    latencies.push(started.elapsed().as_secs_f64() * 1000.0);
                    if !matches!(answer.status, 200 | 412) {
                        wrong.push(answer.status);
                    }
                }
                actix_web::rt::time::sleep(Duration::from_millis(20)).await;
            }
            (latencies, wrong)
        }
    }))
    .await;
    let mut latencies = Vec::new();
    let mut wrong = Vec::new();
    for (l, w) in outcomes {
        latencies.extend(l);
        wrong.extend(w);
    }
    (latencies, wrong)
}

fn percentile(values: &[f64], p: f64) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(|a, b| a.total_cmp(b));
    let index = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len().max(1)) - 1;
    sorted.get(index).copied().unwrap_or(0.0)
}

/// A client that opens a connection, sends a request head announcing a body (or a head that never
/// ends), then one byte every two seconds; when the server closes it, it comes back a second
/// later. `tls`: over the TLS listener, without a client certificate.
fn trickle(addr: SocketAddr, head: &'static str, tls: bool, until: Instant, cut: Arc<AtomicUsize>) {
    while Instant::now() < until {
        let Ok(tcp) = TcpStream::connect(addr) else {
            std::thread::sleep(Duration::from_secs(1));
            continue;
        };
        let _ = tcp.set_read_timeout(Some(Duration::from_millis(10)));
        let mut stream: Box<dyn ReadWrite> = if tls {
            let mut connector =
                openssl::ssl::SslConnector::builder(openssl::ssl::SslMethod::tls()).expect("tls");
            connector.set_verify(openssl::ssl::SslVerifyMode::NONE);
            match connector.build().connect("localhost", tcp) {
                Ok(stream) => Box::new(stream),
                Err(_) => {
                    cut.fetch_add(1, Ordering::Relaxed);
                    std::thread::sleep(Duration::from_secs(1));
                    continue;
                }
            }
        } else {
            Box::new(tcp)
        };
        // Whatever the server answers, keep trickling: only the server closing ends it.
        let mut alive = stream.write_all(head.as_bytes()).is_ok();
        while alive && Instant::now() < until {
            std::thread::sleep(Duration::from_secs(2));
            let mut buffer = [0u8; 512];
            match stream.read(&mut buffer) {
                Ok(0) => alive = false,
                Ok(_) => {}
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(_) => alive = false,
            }
            alive = alive && stream.write_all(b"x").is_ok();
        }
        if Instant::now() < until {
            cut.fetch_add(1, Ordering::Relaxed);
            std::thread::sleep(Duration::from_secs(1));
        }
    }
}

/// Whether the server has closed `stream` (a read without waiting sees the end, or an error).
fn is_closed(mut stream: &TcpStream) -> bool {
    let _ = stream.set_nonblocking(true);
    match stream.read(&mut [0u8; 1]) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => e.kind() != ErrorKind::WouldBlock,
    }
}

trait ReadWrite: Read + Write + Send {}
impl<T: Read + Write + Send> ReadWrite for T {}

/// Item 4: a client that announces a body and sends one byte every few seconds held its
/// connection indefinitely, on HTTP and on the TLS listener without a certificate; 250 of them
/// starved every host for a minute.
#[actix_web::test]
async fn trickling_clients_do_not_starve_hosts() {
    // The 20 cyclers queue on 5 locks' rows while 300 threads trickle on the same two cores: on
    // a busy CI machine a request waited longer than the harness's 2 s for a database connection
    // and got the documented 503. Tricklers hold HTTP connections, never database ones, so that
    // wait says nothing about starvation by them; the queue gets time, the assertions stay.
    let app = TestApp::spawn_with(|o| {
        o.tls = true;
        o.env = vec![(
            "FOREMAN_DLM__DATABASE__CONNECT_TIMEOUT_SECONDS".into(),
            "10".into(),
        )];
    });
    let tls_addr = app.server.tls_addr.expect("tls");
    let until = Instant::now() + Duration::from_secs(30);
    let cut = Arc::new(AtomicUsize::new(0));
    const LOCK: &str =
        "PUT /api/dlmlocks/t/lock HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n";
    const ADMIN: &str = "POST /api/dlmlocks HTTP/1.1\r\nHost: x\r\n\
                         Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n";
    const HEADERS: &str = "GET /api/dlmlocks HTTP/1.1\r\nHost: x\r\nX-Slow: ";
    let mut threads = Vec::new();
    for (count, head, tls) in [
        (100, LOCK, false),
        (50, ADMIN, false),
        (50, HEADERS, false),
        (100, LOCK, true),
    ] {
        for _ in 0..count {
            let addr = if tls { tls_addr } else { app.server.addr };
            let cut = cut.clone();
            threads.push(std::thread::spawn(move || {
                trickle(addr, head, tls, until, cut)
            }));
        }
    }
    actix_web::rt::time::sleep(Duration::from_secs(3)).await;

    // A host over the TLS listener from another address, while the tricklers fill theirs.
    let (_, tls_host) = app.host("tls-host.example.com");
    let (cert, key) = pki::shared().write_client("tls-host", &tls_host);
    let mut tls_args = curl_cert_args(&cert, &key);
    tls_args.extend(["--interface".to_string(), "127.0.0.2".to_string()]);
    let tls_url = app.tls_url("/api/dlmlocks/tls-lock/lock");
    let tls_statuses = std::thread::spawn(move || {
        let args: Vec<&str> = tls_args.iter().map(String::as_str).collect();
        let mut statuses = Vec::new();
        while Instant::now() < until {
            statuses.push(curl("PUT", &tls_url, &args).status);
            statuses.push(curl("DELETE", &tls_url, &args).status);
            std::thread::sleep(Duration::from_millis(500));
        }
        statuses
    });
    let (latencies, wrong) = hosts_cycling(&app, 20, until).await;
    for thread in threads {
        let _ = thread.join();
    }
    let tls_statuses = tls_statuses.join().expect("tls host");

    eprintln!(
        "300 trickling clients for 30 s: {} host requests, p50 {:.1} ms, p99 {:.1} ms; \
         trickling connections the server ended: {}; TLS host: {} requests",
        latencies.len(),
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        cut.load(Ordering::Relaxed),
        tls_statuses.len()
    );
    assert!(latencies.len() > 200, "hosts kept being answered");
    assert!(
        wrong.is_empty(),
        "every host request got its answer: {wrong:?}"
    );
    assert!(
        !tls_statuses.is_empty() && tls_statuses.iter().all(|s| *s == 200),
        "{tls_statuses:?}"
    );
    assert!(
        cut.load(Ordering::Relaxed) > 300,
        "the server ends trickling connections instead of waiting for them"
    );
}

/// Item 5: about 80 bogus Basic logins a second pushed the host lock p50 from 2 ms to over a
/// second, because hashing ran where lock requests run. Now it has threads of its own, and
/// failed logins are rate-limited; a flood from many addresses (each new, so never limited)
/// meets a bounded queue instead.
#[actix_web::test]
async fn a_login_flood_does_not_slow_lock_requests() {
    let app = TestApp::spawn();
    app.db.add_user("alice", "secret", Scheme::Bcrypt);
    let until = Instant::now() + Duration::from_secs(10);
    let (quiet, quiet_wrong) = hosts_cycling(&app, 10, until).await;
    assert!(quiet_wrong.is_empty(), "{quiet_wrong:?}");

    let until = Instant::now() + Duration::from_secs(15);
    let flood_url = app.url("/api/dlmlocks");
    let attempts = Arc::new(AtomicUsize::new(0));
    let flood = (0..16).map(|worker| {
        let flood_url = flood_url.clone();
        let attempts = attempts.clone();
        async move {
            let mut statuses = std::collections::BTreeMap::new();
            let mut n = 0u32;
            while Instant::now() < until {
                n += 1;
                let address = format!("10.{}.{}.{}", worker, n / 250 % 250, n % 250 + 1);
                let login = if n % 2 == 0 {
                    "alice".to_string()
                } else {
                    format!("nobody{n}")
                };
                let answer = send(
                    "GET",
                    &flood_url,
                    &[basic(&login, "guess"), ("X-Forwarded-For", address)],
                )
                .await;
                attempts.fetch_add(1, Ordering::Relaxed);
                *statuses.entry(answer.status).or_insert(0usize) += 1;
            }
            statuses
        }
    });
    let (flood_statuses, (busy, busy_wrong)) =
        futures_util::join!(join_all(flood), hosts_cycling(&app, 10, until));

    let mut totals = std::collections::BTreeMap::new();
    for statuses in flood_statuses {
        for (status, n) in statuses {
            *totals.entry(status).or_insert(0usize) += n;
        }
    }
    eprintln!(
        "host requests without a login flood: p50 {:.1} ms, p99 {:.1} ms; during {} bogus \
         logins in 15 s ({:.0}/s, answers {totals:?}): p50 {:.1} ms, p99 {:.1} ms",
        percentile(&quiet, 0.5),
        percentile(&quiet, 0.99),
        attempts.load(Ordering::Relaxed),
        attempts.load(Ordering::Relaxed) as f64 / 15.0,
        percentile(&busy, 0.5),
        percentile(&busy, 0.99),
    );
    assert!(
        busy_wrong.is_empty(),
        "hosts got their answers: {busy_wrong:?}"
    );
    assert!(busy.len() > 100, "hosts kept being answered");
    assert!(
        totals.keys().all(|s| matches!(s, 401 | 429 | 503)),
        "bogus logins get 401, or 429/503 when too many: {totals:?}"
    );
}

/// Item 5: an unknown login costs what verifying a password hashed the way Foreman hashes new
/// passwords costs (its `password_hash` setting and cost), so timing tells neither apart. The
/// figures are printed; a user whose hash predates a change of scheme or cost remains
/// distinguishable (README, Security).
#[actix_web::test]
async fn unknown_logins_cost_what_a_new_password_costs() {
    let app = TestApp::spawn_with(|o| {
        o.extra_toml = "[logins]\nfailures_per_address_per_minute = 1000\n\
                        failures_per_login_per_minute = 1000\n"
            .into()
    });
    app.db.add_user("bcrypt-user", "pw", Scheme::Bcrypt);
    app.db.add_user("pbkdf2-user", "pw", Scheme::Pbkdf2);
    let time = |login: &'static str| {
        let app = &app;
        async move {
            let mut total = 0.0;
            for _ in 0..10 {
                let started = Instant::now();
                let answer = app
                    .send("GET", "/api/dlmlocks", &[basic(login, "wrong")])
                    .await;
                assert_eq!(answer.status, 401);
                total += started.elapsed().as_secs_f64() * 100.0;
            }
            total
        }
    };
    // Warm up: the first requests also open database connections.
    time("nobody-at-all").await;
    for scheme in ["bcrypt", "pbkdf2sha1"] {
        app.db.exec(&format!(
            "DELETE FROM settings WHERE name = 'password_hash';
             INSERT INTO settings (name, value, created_at, updated_at)
             VALUES ('password_hash', '--- {scheme}', now(), now())"
        ));
        let unknown = time("nobody-at-all").await;
        let bcrypt = time("bcrypt-user").await;
        let pbkdf2 = time("pbkdf2-user").await;
        eprintln!(
            "password_hash = {scheme}: mean 401 time unknown login {unknown:.1} ms, bcrypt user \
             {bcrypt:.1} ms, PBKDF2 user {pbkdf2:.1} ms"
        );
    }
}

/// Sends `head` (and nothing more) and waits up to `wait` for the status line; 0 if none came.
fn status_without_body(addr: SocketAddr, head: &str, trickle: bool, wait: Duration) -> (u16, f64) {
    let started = Instant::now();
    let Ok(mut stream) = TcpStream::connect(addr) else {
        return (0, 0.0);
    };
    let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
    let _ = stream.write_all(head.as_bytes());
    let mut response = Vec::new();
    while started.elapsed() < wait {
        let mut buffer = [0u8; 1024];
        match stream.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => {
                response.extend_from_slice(&buffer[..n]);
                if response.windows(4).any(|w| w == b"\r\n\r\n") {
                    break;
                }
            }
            Err(_) => {
                if trickle && stream.write_all(b"{").is_err() {
                    break;
                }
            }
        }
    }
    let status = String::from_utf8_lossy(&response)
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    (status, started.elapsed().as_secs_f64())
}

/// Item 4, each bound on its own: admin bodies are read only after authentication and only for
/// `http.body_timeout_seconds`; the lock routes never wait for a body and refuse a large one; one
/// address cannot hold more than its share of TLS connections.
#[actix_web::test]
async fn slow_bodies_are_never_waited_for_unbounded() {
    let app = TestApp::spawn_with(|o| {
        o.tls = true;
        o.env = vec![("FOREMAN_DLM__HTTP__BODY_TIMEOUT_SECONDS".into(), "3".into())];
    });
    let admin = app.db.add_user("admin", "pw", Scheme::Bcrypt);
    app.db.make_admin(admin);
    let addr = app.server.addr;
    let (_, login) = basic("admin", "pw");

    let anonymous = status_without_body(
        addr,
        "POST /api/dlmlocks HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
         Content-Length: 1000\r\n\r\n",
        false,
        Duration::from_secs(5),
    );
    assert_eq!(
        anonymous.0, 401,
        "answered before the body arrives: {anonymous:?}"
    );

    let trickled = status_without_body(
        addr,
        &format!(
            "POST /api/dlmlocks HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
             Authorization: {login}\r\nContent-Length: 1000\r\n\r\n"
        ),
        true,
        Duration::from_secs(15),
    );
    assert_eq!(trickled.0, 408, "{trickled:?}");
    assert!(trickled.1 < 8.0, "cut after about 3 s: {trickled:?}");

    let large = status_without_body(
        addr,
        "PUT /api/dlmlocks/x/lock HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n",
        false,
        Duration::from_secs(5),
    );
    assert_eq!(large.0, 413, "{large:?}");
    let small = status_without_body(
        addr,
        "PUT /api/dlmlocks/x/lock HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n",
        false,
        Duration::from_secs(5),
    );
    assert_eq!(
        small.0, 401,
        "the lock route never waits for its body: {small:?}"
    );
    assert_eq!(
        app.db.scalar("SELECT count(*) AS n FROM dlmlocks"),
        serde_json::json!(0)
    );

    let tls_addr = app.server.tls_addr.expect("tls");
    let mut connector =
        openssl::ssl::SslConnector::builder(openssl::ssl::SslMethod::tls()).expect("tls");
    connector.set_verify(openssl::ssl::SslVerifyMode::NONE);
    let connector = connector.build();
    let mut open = Vec::new();
    // Connections over the limit are closed before their handshake.
    let mut closed = 0;
    for _ in 0..80 {
        let tcp = TcpStream::connect(tls_addr).expect("connect");
        let _ = tcp.set_read_timeout(Some(Duration::from_millis(300)));
        match connector.connect("localhost", tcp) {
            Ok(stream) => open.push(stream),
            Err(_) => closed += 1,
        }
    }
    std::thread::sleep(Duration::from_millis(500));
    for stream in &mut open {
        let _ = stream.write_all(b"GET /api/dlmlocks/x/lock HTTP/1.1\r\nHost: x\r\n\r\n");
        let mut buffer = [0u8; 16];
        let answered = (0..5).any(|_| matches!(stream.read(&mut buffer), Ok(n) if n > 0));
        if !answered {
            closed += 1;
        }
    }
    eprintln!("80 TLS connections from one address: {closed} closed by the server");
    assert!(
        closed >= 16,
        "connections over the per-address limit (64) are closed"
    );
}

/// 520 TCP connections from one address that never start their TLS handshake used to take every
/// handshake slot of the TLS listener (actix allows 256 a worker), and every other host waited
/// for them to time out, about 10 s. Now a connection counts against its address when it is
/// accepted: past `tls.max_connections_per_address` (64) the address's connections are closed at
/// once, the others get 3 s to finish their handshake, and a host from another address is
/// answered while they wait.
#[actix_web::test]
async fn stalled_tls_handshakes_do_not_block_other_hosts() {
    let app = TestApp::spawn_with(|o| o.tls = true);
    let tls_addr = app.server.tls_addr.expect("tls");
    let (_, host) = app.host("tls-host.example.com");
    let (cert, key) = pki::shared().write_client("tls-host", &host);

    let idle: Vec<TcpStream> = (0..520)
        .filter_map(|_| TcpStream::connect(tls_addr).ok())
        .collect();
    assert_eq!(idle.len(), 520);
    std::thread::sleep(Duration::from_millis(500));
    let closed = |streams: &[TcpStream]| streams.iter().filter(|s| is_closed(s)).count();
    assert_eq!(
        closed(&idle),
        520 - 64,
        "all but the address's 64 are closed when they are accepted"
    );

    // A host from another address, while the 64 hold their handshakes.
    let mut args = curl_cert_args(&cert, &key);
    args.extend(["--interface".into(), "127.0.0.2".into()]);
    args.extend(["--max-time".into(), "2".into()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let url = app.tls_url("/api/dlmlocks/tls-lock/lock");
    for method in ["PUT", "DELETE", "PUT", "DELETE"] {
        let answer = curl(method, &url, &args);
        assert_eq!(answer.status, 200, "{method}: {}", answer.error);
    }

    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(
        closed(&idle),
        520,
        "the stalled handshakes timed out after 3 s"
    );
    assert_eq!(
        app.db
            .scalar("SELECT count(*) FROM dlmlock_events WHERE event_type = 'release'"),
        serde_json::json!(2)
    );
}
