//! dlm-bench: a fleet of hosts against the real foreman-dlm server, and the same SQL under pgbench.
//!
//! It seeds a fresh database, starts `foreman-dlm serve` (the binary beside this one) as a separate
//! process, and drives it over HTTP from 127.0.0.1 (a trusted proxy) with each host's certificate
//! in the SSL-CLIENT-CERT header, as Foreman's Apache sends it. Scenarios: `uncontended` (each host
//! takes and gives back its own lock), `contended` (hosts in clusters of 10 share a lock: full
//! update cycles with retry on 412), `poll` (GET at a fixed rate). `pgbench` runs the statements
//! the server runs for one acquire + release, at the same concurrency: the physical limit.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::rc::Rc;
use std::time::{Duration, Instant};

use clap::Parser;
use diesel::connection::SimpleConnection;
use diesel::Connection;
use serde_json::json;

use foreman_dlm::demo::pki::{Authority, Validity};
use foreman_dlm::demo::FOREMAN_SCHEMA_SQL;
use foreman_dlm::storage::{hosts, locks, migrations};

#[derive(Parser)]
#[command(about = "Fleet benchmark for foreman-dlm")]
struct Args {
    /// Hosts seeded into the database.
    #[arg(long, default_value_t = 10_000)]
    hosts: usize,
    /// PostgreSQL URL able to create databases; the bench database is created beside it.
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
    admin_url: String,
    /// Seconds per scenario.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Concurrent clients for `uncontended` and pgbench.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// Hosts in the `contended` scenario (clusters of 10).
    #[arg(long, default_value_t = 1000)]
    contended_hosts: usize,
    /// Requests per second in the `poll` scenario.
    #[arg(long, default_value_t = 1000)]
    poll_rate: u64,
    /// Rounds of (HTTP uncontended, pgbench), alternating, for the ratio: this machine's speed
    /// drifts between runs, and alternating exposes both sides to the same drift.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Also measure the ratio at these client counts (e.g. `--sweep 1,2,4,8,16`): where the
    /// machine's cores saturate shows in how the ratio falls.
    #[arg(long, value_delimiter = ',')]
    sweep: Vec<usize>,
    /// The server's database pool size.
    #[arg(long, default_value_t = 10)]
    pool_size: u32,
    /// Write the figures as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
    /// A short run with few hosts, to check that the benchmark works (CI).
    #[arg(long)]
    smoke: bool,
}

/// Latencies (µs) and outcomes of one scenario.
#[derive(Default)]
struct Figures {
    latencies: Vec<u32>,
    errors: usize,
    elapsed: f64,
    cycles: usize,
}

impl Figures {
    fn percentile(&self, p: f64) -> f64 {
        if self.latencies.is_empty() {
            return 0.0;
        }
        let mut sorted = self.latencies.clone();
        sorted.sort_unstable();
        let index = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
        f64::from(sorted[index]) / 1000.0
    }

    fn requests_per_second(&self) -> f64 {
        self.latencies.len() as f64 / self.elapsed.max(1e-9)
    }

    fn json(&self) -> serde_json::Value {
        json!({
            "requests_per_s": round(self.requests_per_second()),
            "p50_ms": round(self.percentile(0.50)),
            "p95_ms": round(self.percentile(0.95)),
            "p99_ms": round(self.percentile(0.99)),
            "errors": self.errors,
        })
    }

    fn merge(&mut self, other: Figures) {
        self.latencies.extend(other.latencies);
        self.errors += other.errors;
        self.cycles += other.cycles;
    }
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(|a, b| a.total_cmp(b));
    sorted.get(sorted.len() / 2).copied().unwrap_or(0.0)
}

fn round(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

fn host_name(i: usize) -> String {
    format!("bench-{i:06}.example.com")
}

fn main() {
    let mut args = Args::parse();
    if args.smoke {
        args.hosts = args.hosts.min(200);
        args.seconds = args.seconds.min(2);
        args.contended_hosts = args.contended_hosts.min(100);
        args.poll_rate = args.poll_rate.min(200);
        args.rounds = 1;
        args.sweep.clear();
    }
    if let Err(e) = run(&args) {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

fn run(args: &Args) -> Result<(), Box<dyn std::error::Error>> {
    let used_hosts = args
        .hosts
        .min(args.contended_hosts.max(args.concurrency * 100))
        .max(args.concurrency);
    let contended_hosts = args.contended_hosts.min(args.hosts) / 10 * 10;
    let database = format!("fdlm_bench_{}", std::process::id());
    let base = args
        .admin_url
        .rsplit_once('/')
        .map_or(args.admin_url.as_str(), |(b, _)| b);
    let database_url = format!("{base}/{database}");
    eprintln!("seeding {} hosts into {database} …", args.hosts);
    let mut admin = diesel::pg::PgConnection::establish(&args.admin_url)?;
    admin.batch_execute(&format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)"))?;
    admin.batch_execute(&format!("CREATE DATABASE {database}"))?;
    let _cleanup = DropDatabase {
        admin_url: args.admin_url.clone(),
        database: database.clone(),
    };
    {
        let mut conn = diesel::pg::PgConnection::establish(&database_url)?;
        conn.batch_execute(FOREMAN_SCHEMA_SQL)?;
        migrations::run_pending(&database_url)?;
        // Steady state: every host has checked in before, and the locks exist.
        conn.batch_execute(&format!(
            "INSERT INTO hosts (name, managed, type, created_at, updated_at)
               SELECT 'bench-' || lpad(i::text, 6, '0') || '.example.com', true, 'Host::Managed', now(), now()
                 FROM generate_series(1, {n}) i;
             INSERT INTO dlm_facets (host_id, last_checkin_at, created_at, updated_at)
               SELECT id, now(), now(), now() FROM hosts;
             INSERT INTO dlmlocks (name, type, enabled, created_at, updated_at)
               SELECT 'own-' || lpad(i::text, 6, '0'), 'ForemanDlm::Dlmlock::Update', true, now(), now()
                 FROM generate_series(1, {used}) i;
             INSERT INTO dlmlocks (name, type, enabled, created_at, updated_at)
               SELECT 'cluster-' || lpad(i::text, 4, '0'), 'ForemanDlm::Dlmlock::Update', true, now(), now()
                 FROM generate_series(0, {clusters}) i;",
            n = args.hosts,
            used = used_hosts,
            clusters = contended_hosts / 10,
        ))?;
        // A statement of its own: VACUUM refuses to run inside the batch's implicit transaction.
        conn.batch_execute("VACUUM ANALYZE")?;
    }

    let dir = std::env::temp_dir().join(format!("dlm-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let ca = Authority::new("dlm-bench CA")?;
    let ca_file = dir.join("ca.pem");
    std::fs::write(&ca_file, ca.cert.to_pem()?)?;
    eprintln!("issuing {used_hosts} host certificates (ECDSA P-256) …");
    let hosts: Rc<[HostRequests]> = (1..=used_hosts)
        .map(|i| {
            ca.issue(&host_name(i), Validity::default())
                .map(|c| HostRequests::new(i, &c.apache_header()))
        })
        .collect::<Result<_, _>>()?;
    let cluster_hosts: Rc<[HostRequests]> =
        hosts[..contended_hosts.max(10).min(hosts.len())].into();

    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let mut server = Server::start(&database_url, port, &ca_file, args.pool_size)?;
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));

    let system = actix_web::rt::System::new();
    let rounds = args.rounds.max(1);
    let server_pid = server.child.id();
    let pgbench_run = Pgbench::new(&database_url, used_hosts, &dir)?;
    let (uncontended, comparisons, sweep, contended, poll) = system.block_on(async {
        let mut uncontended_total = Figures::default();
        let mut comparisons = Vec::new();
        for _ in 0..rounds {
            let (round, comparison) = compare(
                addr,
                hosts.clone(),
                args.concurrency,
                &pgbench_run,
                server_pid,
                args,
            )
            .await?;
            comparisons.push(comparison);
            uncontended_total.elapsed += round.elapsed;
            uncontended_total.merge(round);
        }
        let mut sweep = Vec::new();
        for &concurrency in &args.sweep {
            let mut ratios = Vec::new();
            for _ in 0..rounds {
                let (_, comparison) = compare(
                    addr,
                    hosts.clone(),
                    concurrency,
                    &pgbench_run,
                    server_pid,
                    args,
                )
                .await?;
                ratios.push(comparison.ratio());
            }
            eprintln!("sweep: {concurrency} clients, ratio {:.2}", median(&ratios));
            sweep.push((concurrency, median(&ratios)));
        }
        let contended = contended(addr, &cluster_hosts, args).await;
        let poll = poll(addr, cluster_hosts.clone(), args).await;
        Ok::<_, Box<dyn std::error::Error>>((
            uncontended_total,
            comparisons,
            sweep,
            contended,
            poll,
        ))
    })?;
    let rss = server.memory();
    server.stop();

    let double_holders = count_double_holders(&database_url)?;
    let cycles_per_second = uncontended.cycles as f64 / uncontended.elapsed.max(1e-9);
    let round_ratios: Vec<f64> = comparisons.iter().map(Comparison::ratio).collect();
    let pgbench_tps = median(
        &comparisons
            .iter()
            .map(|c| c.pgbench_tps)
            .collect::<Vec<_>>(),
    );
    let ratio = median(&round_ratios);
    // The round whose ratio is the median, for its CPU breakdown.
    let typical = comparisons.iter().min_by(|a, b| {
        (a.ratio() - ratio)
            .abs()
            .total_cmp(&(b.ratio() - ratio).abs())
    });

    println!();
    println!(
        "foreman-dlm fleet benchmark: {} hosts in the database, {}s per scenario, {} clients (pool {})",
        args.hosts, args.seconds, args.concurrency, args.pool_size
    );
    println!(
        "{:<14} {:>10} {:>9} {:>9} {:>9} {:>7}",
        "scenario", "req/s", "p50 ms", "p95 ms", "p99 ms", "errors"
    );
    for (name, figures) in [
        ("uncontended", &uncontended),
        ("contended", &contended),
        ("poll", &poll),
    ] {
        println!(
            "{:<14} {:>10.0} {:>9.2} {:>9.2} {:>9.2} {:>7}",
            name,
            figures.requests_per_second(),
            figures.percentile(0.50),
            figures.percentile(0.95),
            figures.percentile(0.99),
            figures.errors
        );
    }
    println!(
        "acquire+release cycles/s over HTTP: {cycles_per_second:.0}; pgbench (same SQL, {} clients): {pgbench_tps:.0} tps (median); \
         ratio {ratio:.2} (median of rounds: {})",
        args.concurrency,
        round_ratios.iter().map(|r| format!("{r:.2}")).collect::<Vec<_>>().join(", ")
    );
    if let Some(c) = typical {
        let (h, p) = (c.http_cost, c.pgbench_cost);
        println!(
            "CPU per cycle (ms, a round near the median): over HTTP {:.2} = foreman-dlm {:.2} + load generator {:.2} \
             + PostgreSQL and the rest {:.2}; pgbench {:.2} = pgbench {:.2} + PostgreSQL and the rest {:.2}",
            h.total(), h.server, h.client, h.rest, p.total(), p.client, p.rest
        );
    }
    for (concurrency, ratio) in &sweep {
        println!("ratio with {concurrency:>3} clients on each side: {ratio:.2}");
    }
    println!(
        "contended: {} full update cycles by {} hosts on {} locks; locks ever held by two hosts: {double_holders}",
        contended.cycles,
        contended_hosts,
        contended_hosts / 10
    );
    println!(
        "server memory: peak RSS {:.1} MB, RSS at end {:.1} MB",
        rss.0, rss.1
    );

    if let Some(path) = &args.json {
        let report = json!({
            "scenarios": {
                "uncontended": uncontended.json(),
                "contended": contended.json(),
                "poll": poll.json(),
            },
            "pgbench_tps": round(pgbench_tps),
            "ratio": round(ratio),
            "ratio_rounds": round_ratios.iter().map(|r| round(*r)).collect::<Vec<_>>(),
            "double_holders": double_holders,
            "cycles_per_s": round(cycles_per_second),
            "contended_cycles": contended.cycles,
            "server_peak_rss_mb": round(rss.0),
            "hosts": args.hosts,
            "concurrency": args.concurrency,
            "cpu_ms_per_cycle": typical.map(|c| json!({
                "http": {
                    "server": round(c.http_cost.server),
                    "load_generator": round(c.http_cost.client),
                    "postgres_and_rest": round(c.http_cost.rest),
                },
                "pgbench": {
                    "pgbench": round(c.pgbench_cost.client),
                    "postgres_and_rest": round(c.pgbench_cost.rest),
                },
            })),
            "ratio_by_concurrency": sweep
                .iter()
                .map(|(c, r)| (c.to_string(), json!(round(*r))))
                .collect::<serde_json::Map<_, _>>(),
        });
        std::fs::write(path, serde_json::to_vec_pretty(&report)?)?;
    }
    let _ = std::fs::remove_dir_all(&dir);
    if double_holders > 0 {
        return Err(format!("{double_holders} lock(s) had two holders").into());
    }
    // Every request of every scenario has one right answer (200, or 412 while contended); an
    // error means the server or the generator is broken, and the figures mean nothing.
    let errors = uncontended.errors + contended.errors + poll.errors;
    if errors > 0 {
        return Err(format!("{errors} request(s) failed").into());
    }
    Ok(())
}

struct DropDatabase {
    admin_url: String,
    database: String,
}

impl Drop for DropDatabase {
    fn drop(&mut self) {
        if let Ok(mut admin) = diesel::pg::PgConnection::establish(&self.admin_url) {
            let _ = admin.batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.database
            ));
        }
    }
}

/// `foreman-dlm serve` from the same build directory, configured through the environment.
struct Server {
    child: Child,
}

impl Server {
    fn start(
        database_url: &str,
        port: u16,
        ca_file: &std::path::Path,
        pool_size: u32,
    ) -> Result<Server, Box<dyn std::error::Error>> {
        let binary = std::env::current_exe()?
            .parent()
            .map(|dir| dir.join("foreman-dlm"))
            .ok_or("cannot locate the build directory")?;
        if !binary.exists() {
            return Err(format!(
                "{} not found: build it first (bench/run does)",
                binary.display()
            )
            .into());
        }
        let child = Command::new(binary)
            .arg("serve")
            .env("FOREMAN_DLM__DATABASE__URL", database_url)
            .env("FOREMAN_DLM__DATABASE__POOL_SIZE", pool_size.to_string())
            .env("FOREMAN_DLM__HTTP__LISTEN", format!("127.0.0.1:{port}"))
            .env("FOREMAN_DLM__CLIENT_CERT__CA_FILES", ca_file)
            .env("RUST_LOG", "error")
            .stdout(Stdio::null())
            .spawn()?;
        let deadline = Instant::now() + Duration::from_secs(15);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if Instant::now() > deadline {
                return Err("foreman-dlm serve did not start".into());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(Server { child })
    }

    /// (peak RSS, current RSS) in MB, from /proc.
    fn memory(&self) -> (f64, f64) {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        let field = |name: &str| {
            status
                .lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
                .map_or(0.0, |kb| kb / 1024.0)
        };
        (field("VmHWM:"), field("VmRSS:"))
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A minimal HTTP/1.1 keep-alive client, one connection per simulated host stream. The load
/// generator shares the two cores with the server and PostgreSQL, so it must cost as little as
/// pgbench's own client does: a request is one prebuilt buffer and one write, a response one or
/// two reads; awc's pool, header maps and body streams cost more CPU than the server's handler.
struct HttpConnection {
    addr: std::net::SocketAddr,
    stream: Option<actix_web::rt::net::TcpStream>,
    buffer: Vec<u8>,
}

impl HttpConnection {
    fn new(addr: std::net::SocketAddr) -> HttpConnection {
        HttpConnection {
            addr,
            stream: None,
            buffer: Vec::with_capacity(4096),
        }
    }

    /// Sends one request and returns (status, µs); status 0 is a transport error or a response
    /// that took over 30 s, after which the next call reconnects.
    async fn call(&mut self, request: &[u8]) -> (u16, u32) {
        let started = Instant::now();
        let exchange = self.exchange(request);
        let status = match actix_web::rt::time::timeout(Duration::from_secs(30), exchange).await {
            Ok(Ok(status)) => status,
            Ok(Err(_)) | Err(_) => {
                self.stream = None;
                0
            }
        };
        (
            status,
            started.elapsed().as_micros().min(u32::MAX as u128) as u32,
        )
    }

    async fn exchange(&mut self, request: &[u8]) -> std::io::Result<u16> {
        if self.stream.is_none() {
            let stream = actix_web::rt::net::TcpStream::connect(self.addr).await?;
            stream.set_nodelay(true)?;
            self.stream = Some(stream);
        }
        let Some(stream) = self.stream.as_ref() else {
            return Err(std::io::ErrorKind::NotConnected.into());
        };
        let mut written = 0;
        while written < request.len() {
            stream.writable().await?;
            match stream.try_write(&request[written..]) {
                Ok(n) => written += n,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
        }
        self.buffer.clear();
        loop {
            if let Some((status, length)) = parse_response(&self.buffer)? {
                if self.buffer.len() >= length {
                    return Ok(status);
                }
            }
            stream.readable().await?;
            let mut chunk = [0u8; 4096];
            match stream.try_read(&mut chunk) {
                Ok(0) => return Err(std::io::ErrorKind::UnexpectedEof.into()),
                Ok(n) => self.buffer.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
        }
    }
}

/// (status, total length of head and body) once the head is complete. The server sizes every
/// body, so a missing Content-Length means no body.
fn parse_response(buffer: &[u8]) -> std::io::Result<Option<(u16, usize)>> {
    let Some(head_end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") else {
        return Ok(None);
    };
    let invalid = || std::io::Error::new(std::io::ErrorKind::InvalidData, "bad response head");
    let head = std::str::from_utf8(&buffer[..head_end]).map_err(|_| invalid())?;
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .and_then(|code| code.parse().ok())
        .ok_or_else(invalid)?;
    let length = lines
        .filter_map(|line| line.split_once(':'))
        .find(|(name, _)| name.eq_ignore_ascii_case("content-length"))
        .map(|(_, value)| value.trim().parse::<usize>().map_err(|_| invalid()))
        .transpose()?
        .unwrap_or(0);
    Ok(Some((status, head_end + 4 + length)))
}

/// One host's requests, built before the clock starts.
#[derive(Clone)]
struct HostRequests {
    acquire_own: Vec<u8>,
    release_own: Vec<u8>,
    acquire_cluster: Vec<u8>,
    release_cluster: Vec<u8>,
    show_cluster: Vec<u8>,
}

impl HostRequests {
    /// Host `i` (1-based) owns lock `own-i` and shares `cluster-(i-1)/10` with its cluster.
    fn new(i: usize, cert_header: &str) -> HostRequests {
        let own = format!("/api/dlmlocks/own-{i:06}/lock");
        let cluster = format!("/api/dlmlocks/cluster-{:04}/lock", (i - 1) / 10);
        HostRequests {
            acquire_own: request("PUT", &own, cert_header),
            release_own: request("DELETE", &own, cert_header),
            acquire_cluster: request("PUT", &cluster, cert_header),
            release_cluster: request("DELETE", &cluster, cert_header),
            show_cluster: request("GET", &cluster, cert_header),
        }
    }
}

/// The bytes of one request as Apache would forward it.
fn request(method: &str, path: &str, cert: &str) -> Vec<u8> {
    format!(
        "{method} {path} HTTP/1.1\r\nHost: foreman.example.com\r\nSSL-CLIENT-CERT: {cert}\r\nContent-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

/// Runs every future as a task on the current (single-threaded) runtime and collects the figures.
async fn gather(
    tasks: impl IntoIterator<Item = impl std::future::Future<Output = Figures> + 'static>,
) -> Figures {
    let handles: Vec<_> = tasks.into_iter().map(actix_web::rt::spawn).collect();
    let mut total = Figures::default();
    for handle in handles {
        match handle.await {
            Ok(figures) => total.merge(figures),
            Err(_) => total.errors += 1,
        }
    }
    total
}

async fn uncontended(
    addr: std::net::SocketAddr,
    hosts: Rc<[HostRequests]>,
    concurrency: usize,
    seconds: u64,
) -> Figures {
    let until = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let stride = concurrency;
    let workers = (0..concurrency).map(|worker| {
        let hosts = hosts.clone();
        async move {
            let mut connection = HttpConnection::new(addr);
            let mut figures = Figures::default();
            let mut index = worker % hosts.len();
            while Instant::now() < until {
                let host = &hosts[index];
                let (acquired, t1) = connection.call(&host.acquire_own).await;
                let (released, t2) = connection.call(&host.release_own).await;
                figures.latencies.extend([t1, t2]);
                figures.errors += usize::from(acquired != 200) + usize::from(released != 200);
                figures.cycles += usize::from(acquired == 200 && released == 200);
                index = (index + stride) % hosts.len();
            }
            figures
        }
    });
    let mut total = gather(workers).await;
    total.elapsed = started.elapsed().as_secs_f64();
    total
}

/// Hosts in clusters of 10 (`cluster-NNNN`): acquire with retry on 412, hold briefly, release.
async fn contended(addr: std::net::SocketAddr, hosts: &[HostRequests], args: &Args) -> Figures {
    let until = Instant::now() + Duration::from_secs(args.seconds);
    let started = Instant::now();
    let tasks = hosts
        .iter()
        .cloned()
        .enumerate()
        .map(|(i, host)| async move {
            let mut connection = HttpConnection::new(addr);
            let mut figures = Figures::default();
            let mut backoff = 5u64 + (i as u64 % 7);
            while Instant::now() < until {
                let (acquired, t) = connection.call(&host.acquire_cluster).await;
                figures.latencies.push(t);
                match acquired {
                    200 => {
                        actix_web::rt::time::sleep(Duration::from_millis(2)).await;
                        let (released, t) = connection.call(&host.release_cluster).await;
                        figures.latencies.push(t);
                        figures.errors += usize::from(released != 200);
                        figures.cycles += usize::from(released == 200);
                        backoff = 5 + (i as u64 % 7);
                        actix_web::rt::time::sleep(Duration::from_millis(backoff * 4)).await;
                    }
                    412 => {
                        actix_web::rt::time::sleep(Duration::from_millis(backoff)).await;
                        backoff = (backoff * 2).min(200);
                    }
                    _ => figures.errors += 1,
                }
            }
            // Leave no lock held.
            let _ = connection.call(&host.release_cluster).await;
            figures
        });
    let mut total = gather(tasks).await;
    total.elapsed = started.elapsed().as_secs_f64();
    total
}

/// GET show at a fixed rate, as idle clients poll, spread over 64 connections. Latency counts from
/// the send: the timer wakes pollers up to a millisecond late, which is the generator's delay, not
/// the server's. A server that falls behind shows as a rate below the target instead.
async fn poll(addr: std::net::SocketAddr, hosts: Rc<[HostRequests]>, args: &Args) -> Figures {
    const POLLERS: u64 = 64;
    let interval = Duration::from_secs_f64(1.0 / args.poll_rate.max(1) as f64);
    let total_requests = args.poll_rate * args.seconds;
    let started = Instant::now();
    let pollers = (0..POLLERS).map(|poller| {
        let hosts = hosts.clone();
        async move {
            let mut connection = HttpConnection::new(addr);
            let mut figures = Figures::default();
            for n in (poller..total_requests).step_by(POLLERS as usize) {
                let due = started + interval.mul_f64(n as f64);
                if let Some(wait) = due.checked_duration_since(Instant::now()) {
                    actix_web::rt::time::sleep(wait).await;
                }
                let (status, t) = connection
                    .call(&hosts[n as usize % hosts.len()].show_cluster)
                    .await;
                figures.latencies.push(t);
                figures.errors += usize::from(status != 200);
            }
            figures
        }
    });
    let mut total = gather(pollers).await;
    total.elapsed = started.elapsed().as_secs_f64();
    total
}

/// Locks whose event history shows an acquire while held, or a release by another host.
fn count_double_holders(database_url: &str) -> Result<usize, Box<dyn std::error::Error>> {
    #[derive(diesel::QueryableByName)]
    struct Event {
        #[diesel(sql_type = diesel::sql_types::Integer)]
        dlmlock_id: i32,
        #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Varchar>)]
        event_type: Option<String>,
        #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Integer>)]
        host_id: Option<i32>,
    }
    use diesel::RunQueryDsl;
    let mut conn = diesel::pg::PgConnection::establish(database_url)?;
    let events: Vec<Event> = diesel::sql_query(
        "SELECT dlmlock_id, event_type, host_id FROM dlmlock_events \
         WHERE event_type IN ('acquire', 'release') ORDER BY id",
    )
    .load(&mut conn)?;
    let mut holders = std::collections::HashMap::new();
    let mut bad = std::collections::HashSet::new();
    for e in events {
        let holder = holders.entry(e.dlmlock_id).or_insert(None);
        match e.event_type.as_deref() {
            Some("acquire") if holder.is_none() => *holder = e.host_id,
            Some("release") if *holder == e.host_id => *holder = None,
            _ => {
                bad.insert(e.dlmlock_id);
            }
        }
    }
    Ok(bad.len())
}

/// The SQL one host's acquire and release run in the server, as a pgbench script: per request,
/// the host lookup with its check-in, (for acquire) the opt-out parameter, and the transfer.
fn pgbench_script(hosts: usize) -> String {
    let subject = "('bench-' || lpad(:h::text, 6, '0') || '.example.com')";
    let bind = |sql: &str, values: &[&str]| {
        let mut out = sql.to_string();
        for (i, value) in values.iter().enumerate().rev() {
            out = out.replace(&format!("${}", i + 1), value);
        }
        out
    };
    let identify = bind(hosts::FIND_HOST_AND_CHECK_IN_SQL, &[subject]);
    let parameter = bind(
        hosts::EFFECTIVE_PARAMETER_SQL,
        &[":id", "'can_acquire_update_locks'"],
    );
    let lock_name = "('own-' || lpad(:h::text, 6, '0'))";
    let acquire = bind(
        locks::TRANSFER_SQL,
        &["NULL::integer", lock_name, ":id", ":id::integer", "2"],
    );
    let release = bind(
        locks::TRANSFER_SQL,
        &["NULL::integer", lock_name, ":id", "NULL::integer", "2"],
    );
    format!(
        "\\set h random(1, {hosts})\n\
         {identify} \\gset\n{parameter};\n{acquire};\n\
         {identify} \\gset\n{release};\n"
    )
}

/// pgbench with the script of [`pgbench_script`], written once.
struct Pgbench {
    database_url: String,
    script: PathBuf,
}

impl Pgbench {
    fn new(
        database_url: &str,
        used_hosts: usize,
        dir: &std::path::Path,
    ) -> Result<Pgbench, Box<dyn std::error::Error>> {
        let script = dir.join("acquire-release.sql");
        std::fs::File::create(&script)?.write_all(pgbench_script(used_hosts).as_bytes())?;
        Ok(Pgbench {
            database_url: database_url.to_string(),
            script,
        })
    }

    /// Transactions (= acquire+release cycles) per second, and pgbench's own CPU seconds.
    fn run(
        &self,
        concurrency: usize,
        seconds: u64,
    ) -> Result<(f64, f64), Box<dyn std::error::Error>> {
        let mut child = Command::new("pgbench")
            .args(["-n", "-M", "prepared", "-j", "2"])
            .args(["-c", &concurrency.to_string(), "-T", &seconds.to_string()])
            .arg("-f")
            .arg(&self.script)
            .arg(&self.database_url)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot run pgbench ({e}); install PostgreSQL's client tools"))?;
        // Its CPU time is only readable while it lives: sample it until it exits.
        let mut cpu = 0.0;
        while child.try_wait()?.is_none() {
            cpu = process_cpu_seconds(child.id()).unwrap_or(cpu);
            std::thread::sleep(Duration::from_millis(20));
        }
        let output = child.wait_with_output()?;
        let stdout = String::from_utf8_lossy(&output.stdout);
        if !output.status.success() {
            return Err(format!(
                "pgbench failed: {}{}",
                stdout,
                String::from_utf8_lossy(&output.stderr)
            )
            .into());
        }
        let tps = stdout
            .lines()
            .find(|l| l.starts_with("tps = "))
            .and_then(|l| l.split_whitespace().nth(2))
            .and_then(|tps| tps.parse::<f64>().ok())
            .ok_or_else(|| format!("no tps in pgbench output: {stdout}"))?;
        Ok((tps, cpu))
    }
}

/// Linux reports process times in USER_HZ ticks, fixed at 100 per second for user space.
const TICKS_PER_SECOND: f64 = 100.0;

/// CPU seconds (user + system, all threads) a live process has used.
fn process_cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised command name; utime and stime are the 12th and 13th.
    let mut fields = stat
        .get(stat.rfind(')')? + 2..)?
        .split_whitespace()
        .skip(11);
    let user: f64 = fields.next()?.parse().ok()?;
    let system: f64 = fields.next()?.parse().ok()?;
    Some((user + system) / TICKS_PER_SECOND)
}

/// CPU seconds the whole machine has been busy (all cores, everything but idle and iowait).
fn machine_busy_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let Some(line) = stat.lines().find(|l| l.starts_with("cpu ")) else {
        return 0.0;
    };
    let ticks: Vec<f64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|t| t.parse().ok())
        .collect();
    // Columns: user nice system idle iowait irq softirq steal …; busy is all but idle and iowait.
    let busy: f64 = [0, 1, 2, 5, 6, 7]
        .iter()
        .filter_map(|&i| ticks.get(i))
        .sum();
    busy / TICKS_PER_SECOND
}

/// What one acquire+release cycle costs in CPU, in milliseconds.
#[derive(Clone, Copy, Default)]
struct CyclesCost {
    server: f64,
    client: f64,
    /// PostgreSQL and anything else busy on the machine (the bench machine should be idle).
    rest: f64,
}

impl CyclesCost {
    fn total(&self) -> f64 {
        self.server + self.client + self.rest
    }
}

/// One round of the same load over HTTP and under pgbench.
struct Comparison {
    http_cycles_per_s: f64,
    pgbench_tps: f64,
    http_cost: CyclesCost,
    pgbench_cost: CyclesCost,
}

impl Comparison {
    fn ratio(&self) -> f64 {
        if self.pgbench_tps > 0.0 {
            self.http_cycles_per_s / self.pgbench_tps
        } else {
            0.0
        }
    }
}

/// Uncontended acquire+release over HTTP, then the same SQL under pgbench, with `concurrency`
/// clients each, and what each cost in CPU per cycle.
async fn compare(
    addr: std::net::SocketAddr,
    hosts: Rc<[HostRequests]>,
    concurrency: usize,
    pgbench: &Pgbench,
    server_pid: u32,
    args: &Args,
) -> Result<(Figures, Comparison), Box<dyn std::error::Error>> {
    let own_pid = std::process::id();
    let before = (
        machine_busy_seconds(),
        process_cpu_seconds(server_pid).unwrap_or(0.0),
        process_cpu_seconds(own_pid).unwrap_or(0.0),
    );
    let http = uncontended(addr, hosts, concurrency, args.seconds).await;
    let after = (
        machine_busy_seconds(),
        process_cpu_seconds(server_pid).unwrap_or(0.0),
        process_cpu_seconds(own_pid).unwrap_or(0.0),
    );
    let http_cycles = http.cycles.max(1) as f64;
    let server = after.1 - before.1;
    let client = after.2 - before.2;
    let http_cost = CyclesCost {
        server: server * 1000.0 / http_cycles,
        client: client * 1000.0 / http_cycles,
        rest: (after.0 - before.0 - server - client).max(0.0) * 1000.0 / http_cycles,
    };

    let busy_before = machine_busy_seconds();
    let started = Instant::now();
    let (tps, pgbench_cpu) = pgbench.run(concurrency, args.seconds)?;
    let busy = machine_busy_seconds() - busy_before;
    let pgbench_cycles = (tps * started.elapsed().as_secs_f64()).max(1.0);
    let pgbench_cost = CyclesCost {
        server: 0.0,
        client: pgbench_cpu * 1000.0 / pgbench_cycles,
        rest: (busy - pgbench_cpu).max(0.0) * 1000.0 / pgbench_cycles,
    };
    let comparison = Comparison {
        http_cycles_per_s: http.cycles as f64 / http.elapsed.max(1e-9),
        pgbench_tps: tps,
        http_cost,
        pgbench_cost,
    };
    Ok((http, comparison))
}

#[cfg(test)]
mod tests {
    use super::parse_response;

    #[test]
    fn a_response_is_complete_once_head_and_body_are_in() {
        let response = b"HTTP/1.1 412 Precondition Failed\r\ncontent-length: 2\r\n\r\n{}";
        assert_eq!(
            parse_response(response).unwrap(),
            Some((412, response.len()))
        );
        // Head complete, body not yet: the length says how much is still to come.
        assert_eq!(
            parse_response(&response[..response.len() - 1]).unwrap(),
            Some((412, response.len()))
        );
        assert_eq!(
            parse_response(b"HTTP/1.1 200 OK\r\ncontent-le").unwrap(),
            None
        );
        assert_eq!(
            parse_response(b"HTTP/1.1 200 OK\r\n\r\n").unwrap(),
            Some((200, 19))
        );
        assert!(parse_response(b"garbage\r\n\r\n").is_err());
    }
}
