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
    let headers: Vec<String> = (1..=used_hosts)
        .map(|i| {
            ca.issue(&host_name(i), Validity::default())
                .map(|c| c.apache_header())
        })
        .collect::<Result<_, _>>()?;

    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let mut server = Server::start(&database_url, port, &ca_file, args.pool_size)?;
    let url = format!("http://127.0.0.1:{port}");

    let system = actix_web::rt::System::new();
    let rounds = args.rounds.max(1);
    let (uncontended, round_ratios, pgbench_rates, contended, poll) = system.block_on(async {
        let mut uncontended_total = Figures::default();
        let mut ratios = Vec::new();
        let mut pgbench_rates = Vec::new();
        for _ in 0..rounds {
            let round = uncontended(&url, &headers, args).await;
            let tps = pgbench(&database_url, args, used_hosts, &dir)?;
            let cycles = round.cycles as f64 / round.elapsed.max(1e-9);
            ratios.push(if tps > 0.0 { cycles / tps } else { 0.0 });
            pgbench_rates.push(tps);
            uncontended_total.elapsed += round.elapsed;
            uncontended_total.merge(round);
        }
        let contended = contended(
            &url,
            &headers[..contended_hosts.max(10).min(headers.len())],
            args,
        )
        .await;
        let poll = poll(
            &url,
            &headers[..contended_hosts.max(10).min(headers.len())],
            args,
        )
        .await;
        Ok::<_, Box<dyn std::error::Error>>((
            uncontended_total,
            ratios,
            pgbench_rates,
            contended,
            poll,
        ))
    })?;
    let rss = server.memory();
    server.stop();

    let double_holders = count_double_holders(&database_url)?;
    let cycles_per_second = uncontended.cycles as f64 / uncontended.elapsed.max(1e-9);
    let pgbench_tps = median(&pgbench_rates);
    let ratio = median(&round_ratios);

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
        });
        std::fs::write(path, serde_json::to_vec_pretty(&report)?)?;
    }
    let _ = std::fs::remove_dir_all(&dir);
    if double_holders > 0 {
        return Err(format!("{double_holders} lock(s) had two holders").into());
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

fn client() -> awc::Client {
    awc::Client::builder()
        .connector(awc::Connector::new().limit(2048))
        .timeout(Duration::from_secs(30))
        .finish()
}

/// One request; returns (status, µs).
async fn call(
    client: &awc::Client,
    method: awc::http::Method,
    url: &str,
    cert: &str,
) -> (u16, u32) {
    let started = Instant::now();
    let status = match client
        .request(method, url)
        .insert_header(("SSL-CLIENT-CERT", cert))
        .send()
        .await
    {
        Ok(mut response) => {
            let _ = response.body().await;
            response.status().as_u16()
        }
        Err(_) => 0,
    };
    (
        status,
        started.elapsed().as_micros().min(u32::MAX as u128) as u32,
    )
}

async fn uncontended(url: &str, headers: &[String], args: &Args) -> Figures {
    let until = Instant::now() + Duration::from_secs(args.seconds);
    let started = Instant::now();
    let workers = (0..args.concurrency).map(|worker| async move {
        let client = client();
        let mut figures = Figures::default();
        let mut index = worker;
        while Instant::now() < until {
            let lock = format!("{url}/api/dlmlocks/own-{:06}/lock", index + 1);
            let cert = &headers[index];
            let (acquired, t1) = call(&client, awc::http::Method::PUT, &lock, cert).await;
            let (released, t2) = call(&client, awc::http::Method::DELETE, &lock, cert).await;
            figures.latencies.extend([t1, t2]);
            figures.errors += usize::from(acquired != 200) + usize::from(released != 200);
            figures.cycles += usize::from(acquired == 200 && released == 200);
            index = (index + args.concurrency) % headers.len();
        }
        figures
    });
    let mut total = Figures::default();
    for figures in futures_util::future::join_all(workers).await {
        total.merge(figures);
    }
    total.elapsed = started.elapsed().as_secs_f64();
    total
}

/// Hosts in clusters of 10 (`cluster-NNNN`): acquire with retry on 412, hold briefly, release.
async fn contended(url: &str, headers: &[String], args: &Args) -> Figures {
    let until = Instant::now() + Duration::from_secs(args.seconds);
    let started = Instant::now();
    let client = client();
    let hosts = headers.iter().enumerate().map(|(i, cert)| {
        let client = client.clone();
        async move {
            let lock = format!("{url}/api/dlmlocks/cluster-{:04}/lock", i / 10);
            let mut figures = Figures::default();
            let mut backoff = 5u64 + (i as u64 % 7);
            while Instant::now() < until {
                let (acquired, t) = call(&client, awc::http::Method::PUT, &lock, cert).await;
                figures.latencies.push(t);
                match acquired {
                    200 => {
                        actix_web::rt::time::sleep(Duration::from_millis(2)).await;
                        let (released, t) =
                            call(&client, awc::http::Method::DELETE, &lock, cert).await;
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
            let _ = call(&client, awc::http::Method::DELETE, &lock, cert).await;
            figures
        }
    });
    let mut total = Figures::default();
    for figures in futures_util::future::join_all(hosts).await {
        total.merge(figures);
    }
    total.elapsed = started.elapsed().as_secs_f64();
    total
}

/// GET show at a fixed rate, as idle clients poll.
async fn poll(url: &str, headers: &[String], args: &Args) -> Figures {
    let interval = Duration::from_secs_f64(1.0 / args.poll_rate.max(1) as f64);
    let total_requests = args.poll_rate * args.seconds;
    let client = client();
    let started = Instant::now();
    let mut pending = Vec::with_capacity(total_requests as usize);
    for n in 0..total_requests {
        let due = started + interval.mul_f64(n as f64);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            actix_web::rt::time::sleep(wait).await;
        }
        let cert = headers[n as usize % headers.len()].clone();
        let lock = format!(
            "{url}/api/dlmlocks/cluster-{:04}/lock",
            (n as usize % headers.len()) / 10
        );
        let client = client.clone();
        pending.push(actix_web::rt::spawn(async move {
            call(&client, awc::http::Method::GET, &lock, &cert).await
        }));
    }
    let mut figures = Figures::default();
    for handle in pending {
        match handle.await {
            Ok((status, t)) => {
                figures.latencies.push(t);
                figures.errors += usize::from(status != 200);
            }
            Err(_) => figures.errors += 1,
        }
    }
    figures.elapsed = started.elapsed().as_secs_f64();
    figures
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

fn pgbench(
    database_url: &str,
    args: &Args,
    used_hosts: usize,
    dir: &std::path::Path,
) -> Result<f64, Box<dyn std::error::Error>> {
    let script = dir.join("acquire-release.sql");
    std::fs::File::create(&script)?.write_all(pgbench_script(used_hosts).as_bytes())?;
    let output = Command::new("pgbench")
        .args(["-n", "-M", "prepared", "-j", "2"])
        .args([
            "-c",
            &args.concurrency.to_string(),
            "-T",
            &args.seconds.to_string(),
        ])
        .arg("-f")
        .arg(&script)
        .arg(database_url)
        .output()
        .map_err(|e| format!("cannot run pgbench ({e}); install PostgreSQL's client tools"))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        return Err(format!(
            "pgbench failed: {}{}",
            stdout,
            String::from_utf8_lossy(&output.stderr)
        )
        .into());
    }
    stdout
        .lines()
        .find(|l| l.starts_with("tps = "))
        .and_then(|l| l.split_whitespace().nth(2))
        .and_then(|tps| tps.parse::<f64>().ok())
        .ok_or_else(|| format!("no tps in pgbench output: {stdout}").into())
}
