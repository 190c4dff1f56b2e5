//! dlm-bench: a fleet of hosts against the real foreman-dlm server, and the same SQL under pgbench.
//!
//! It seeds a fresh database (`seed`), starts `foreman-dlm serve` as a separate process
//! (`server`), and drives it over HTTP from 127.0.0.1 with each host's certificate in the
//! SSL-CLIENT-CERT header, as Foreman's Apache sends it (`client`). The scenarios are in
//! `scenarios`; `pgbench` runs the statements the server runs, at the same concurrency (the
//! physical limit); `cpu` reads what each side cost; `report` prints it all.

mod client;
mod cpu;
mod pgbench;
mod report;
mod scenarios;
mod seed;
mod server;

use std::path::PathBuf;
use std::rc::Rc;

use clap::Parser;
use diesel::RunQueryDsl;

use foreman_dlm::demo::pki::{Authority, Validity};
use foreman_dlm::locks::history::{replay, HolderChange};
use foreman_dlm::locks::policy::PolicyPattern;
use foreman_dlm::settings::Secret;
use foreman_dlm::storage::blocking::BlockingConnection;
use foreman_dlm::storage::locks::LockStatements;

use client::HostRequests;
use cpu::{compare, http_round, Comparison};
use report::{median, Figures, Report};
use scenarios::Shared;
use seed::{host_name, BenchDatabase, Seed};
use server::Server;

#[derive(Parser)]
#[command(about = "Fleet benchmark for foreman-dlm")]
pub struct Args {
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
    /// The `foreman-dlm` to measure; by default the one built beside dlm-bench. A release
    /// binary (contrib/packaging/build-release) is measured as it is shipped.
    #[arg(long)]
    server: Option<PathBuf>,
    /// Another build's `foreman-dlm` (e.g. the previous release, built in a git worktree): its
    /// uncontended cycles/s are measured in the same rounds, on a database seeded alike and
    /// migrated by its own `migrate`, so that its own database functions run.
    #[arg(long)]
    baseline: Option<PathBuf>,
    /// The server's database pool size.
    #[arg(long, default_value_t = 10)]
    pool_size: u32,
    /// Write the figures as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
    /// A short run with few hosts, to check that the benchmark works (CI).
    #[arg(long)]
    smoke: bool,
    /// Print the pgbench script (the server's statements for --hosts hosts) and exit: for
    /// profiling the SQL alone against a database seeded like the benchmark's.
    #[arg(long)]
    print_pgbench_script: bool,
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
    let result = if args.print_pgbench_script {
        bench_statements().map(|statements| {
            print!("{}", pgbench::pgbench_script(&statements, args.hosts));
        })
    } else {
        run(&args)
    };
    if let Err(e) = result {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

/// The lock policies of the benchmark's server: the `semaphore` scenario's locks have 3 slots. The
/// pgbench script is built from the same, so that it runs the server's statements exactly.
const BENCH_POLICIES: &str = "[[locks.policies]]\nmatch = \"sem-*\"\nmax_holders = 3\n";

/// Slots of the semaphore locks.
const SEMAPHORE_SLOTS: usize = 3;

fn bench_policies() -> Result<Vec<PolicyPattern>, Box<dyn std::error::Error>> {
    #[derive(serde::Deserialize)]
    struct Locks {
        policies: Vec<PolicyPattern>,
    }
    #[derive(serde::Deserialize)]
    struct File {
        locks: Locks,
    }
    Ok(toml::from_str::<File>(BENCH_POLICIES)?.locks.policies)
}

/// The server's lock statements under the benchmark's policies, as the server builds them.
fn bench_statements() -> Result<LockStatements, Box<dyn std::error::Error>> {
    Ok(foreman_dlm::locks::lock_statements(&bench_policies()?))
}

/// What the measuring part of a run produced.
struct Measured {
    uncontended: Figures,
    comparisons: Vec<Comparison>,
    baseline_cycles: Vec<f64>,
    sweep: Vec<(usize, f64)>,
    contended: Figures,
    semaphore: Figures,
    poll: Figures,
}

fn run(args: &Args) -> Result<(), Box<dyn std::error::Error>> {
    let used_hosts = args
        .hosts
        .min(args.contended_hosts.max(args.concurrency * 100))
        .max(args.concurrency);
    let contended_hosts = args.contended_hosts.min(args.hosts) / 10 * 10;
    eprintln!("seeding {} hosts …", args.hosts);
    let seed = Seed {
        hosts: args.hosts,
        own_locks: used_hosts,
        cluster_locks: contended_hosts / 10,
    };
    let database = BenchDatabase::create(&args.admin_url, &seed, None, "")?;
    // The baseline runs on a database of its own, migrated by its own build: a change of the
    // database functions is measured too, not only the server's.
    let baseline_database = match &args.baseline {
        Some(binary) => {
            eprintln!(
                "seeding the baseline's database ({} migrate) …",
                binary.display()
            );
            Some(BenchDatabase::create(
                &args.admin_url,
                &seed,
                Some(binary),
                "_baseline",
            )?)
        }
        None => None,
    };

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

    let config = dir.join("settings.toml");
    std::fs::write(&config, BENCH_POLICIES)?;
    let server_binary = match &args.server {
        Some(binary) => binary.clone(),
        None => server::sibling_binary()?,
    };
    let server = Server::start(
        &server_binary,
        &config,
        &database.url,
        &ca_file,
        args.pool_size,
    )?;
    let baseline = match (&args.baseline, &baseline_database) {
        (Some(binary), Some(baseline_database)) => Some((
            Server::start(
                binary,
                &config,
                &baseline_database.url,
                &ca_file,
                args.pool_size,
            )?,
            baseline_database,
        )),
        _ => None,
    };
    let statements = bench_statements()?;
    let pgbench = pgbench::Pgbench::new(&database.url, &statements, used_hosts, &dir)?;

    let measured = actix_web::rt::System::new().block_on(async {
        let rounds = args.rounds.max(1);
        let mut uncontended = Figures::default();
        let mut comparisons = Vec::new();
        let mut baseline_cycles = Vec::new();
        for number in 0..rounds {
            // The baseline goes first in every other round: neither build always runs on the
            // machine the other one just warmed (or loaded).
            let baseline_first = number % 2 == 1;
            let mut measure_baseline = async || -> Result<(), Box<dyn std::error::Error>> {
                if let Some((baseline, baseline_database)) = &baseline {
                    let (round, _) = http_round(
                        baseline_database,
                        baseline,
                        hosts.clone(),
                        args.concurrency,
                        args,
                    )
                    .await?;
                    baseline_cycles.push(round.cycles as f64 / round.elapsed.max(1e-9));
                }
                Ok(())
            };
            if baseline_first {
                measure_baseline().await?;
            }
            let (round, comparison) = compare(
                &database,
                &server,
                hosts.clone(),
                args.concurrency,
                &pgbench,
                args,
            )
            .await?;
            comparisons.push(comparison);
            uncontended.elapsed += round.elapsed;
            uncontended.merge(round);
            if !baseline_first {
                measure_baseline().await?;
            }
        }
        let mut sweep = Vec::new();
        for &concurrency in &args.sweep {
            let mut ratios = Vec::new();
            for _ in 0..rounds {
                let (_, comparison) = compare(
                    &database,
                    &server,
                    hosts.clone(),
                    concurrency,
                    &pgbench,
                    args,
                )
                .await?;
                ratios.push(comparison.ratio());
            }
            eprintln!("sweep: {concurrency} clients, ratio {:.2}", median(&ratios));
            sweep.push((concurrency, median(&ratios)));
        }
        let contended =
            scenarios::take_turns(server.addr, &cluster_hosts, Shared::Cluster, args).await;
        let semaphore =
            scenarios::take_turns(server.addr, &cluster_hosts, Shared::Semaphore, args).await;
        let poll = scenarios::poll(server.addr, cluster_hosts.clone(), args).await;
        Ok::<_, Box<dyn std::error::Error>>(Measured {
            uncontended,
            comparisons,
            baseline_cycles,
            sweep,
            contended,
            semaphore,
            poll,
        })
    })?;
    let rss = server.memory();
    drop(server);
    drop(baseline);

    let over_capacity = locks_over_capacity(&database.url)?;
    let report = Report::new(args, measured, contended_hosts, over_capacity, rss);
    report.print();
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_vec_pretty(&report.json())?)?;
    }
    let _ = std::fs::remove_dir_all(&dir);
    report.verdict()
}

/// Locks whose event history shows more holders than they allow (one; three for `sem-*`), or a
/// release by a host that held nothing: (one-slot locks, semaphore locks).
fn locks_over_capacity(database_url: &str) -> Result<(usize, usize), Box<dyn std::error::Error>> {
    #[derive(diesel::QueryableByName)]
    struct Event {
        #[diesel(sql_type = diesel::sql_types::Integer)]
        dlmlock_id: i32,
        #[diesel(sql_type = diesel::sql_types::Text)]
        event_type: String,
        #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Integer>)]
        host_id: Option<i32>,
    }
    #[derive(diesel::QueryableByName)]
    struct Semaphore {
        #[diesel(sql_type = diesel::sql_types::Integer)]
        id: i32,
    }
    let mut conn = BlockingConnection::connect(&Secret::new(database_url))?;
    let events: Vec<Event> = diesel::sql_query(
        "SELECT dlmlock_id, event_type, host_id FROM dlmlock_events \
         WHERE event_type IN ('acquire', 'release', 'expire') ORDER BY id",
    )
    .load(&mut *conn)?;
    let semaphores: std::collections::BTreeSet<i32> =
        diesel::sql_query("SELECT id FROM dlmlocks WHERE name LIKE 'sem-%'")
            .load::<Semaphore>(&mut *conn)?
            .into_iter()
            .map(|s| s.id)
            .collect();
    let changes = events
        .into_iter()
        .filter_map(|e| HolderChange::from_event(e.dlmlock_id, &e.event_type, e.host_id));
    let slots = |lock| {
        if semaphores.contains(&lock) {
            SEMAPHORE_SLOTS
        } else {
            1
        }
    };
    let over = replay(changes, slots).locks_with_violations();
    let in_semaphores = over.iter().filter(|l| semaphores.contains(l)).count();
    Ok((over.len() - in_semaphores, in_semaphores))
}
