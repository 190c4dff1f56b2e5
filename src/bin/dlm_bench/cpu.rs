//! CPU time from /proc: the server's, the load generator's, pgbench's and the machine's, so that
//! each side's cost per acquire+release cycle can be printed.

use std::rc::Rc;
use std::time::Instant;

use super::client::HostRequests;
use super::pgbench::Pgbench;
use super::report::Figures;
use super::scenarios::uncontended;
use super::seed::BenchDatabase;
use super::server::Server;
use super::Args;

/// Linux reports process times in USER_HZ ticks, fixed at 100 per second for user space.
const TICKS_PER_SECOND: f64 = 100.0;

/// CPU seconds (user + system, all threads) a live process has used.
pub(crate) fn process_cpu_seconds(pid: u32) -> Option<f64> {
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
pub(crate) fn machine_busy_seconds() -> f64 {
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
pub(crate) struct CyclesCost {
    pub(crate) server: f64,
    pub(crate) client: f64,
    /// PostgreSQL and anything else busy on the machine (the bench machine should be idle).
    pub(crate) rest: f64,
}

impl CyclesCost {
    pub(crate) fn total(&self) -> f64 {
        self.server + self.client + self.rest
    }
}

/// One round of the same load over HTTP and under pgbench.
pub(crate) struct Comparison {
    pub(crate) http_cycles_per_s: f64,
    pub(crate) pgbench_tps: f64,
    pub(crate) http_cost: CyclesCost,
    pub(crate) pgbench_cost: CyclesCost,
}

impl Comparison {
    pub(crate) fn ratio(&self) -> f64 {
        if self.pgbench_tps > 0.0 {
            self.http_cycles_per_s / self.pgbench_tps
        } else {
            0.0
        }
    }
}

/// Uncontended acquire+release over HTTP with `concurrency` clients, on vacuumed tables, and
/// what it cost in CPU per cycle.
pub(crate) async fn http_round(
    database: &BenchDatabase,
    server: &Server,
    hosts: Rc<[HostRequests]>,
    concurrency: usize,
    args: &Args,
) -> Result<(Figures, CyclesCost), Box<dyn std::error::Error>> {
    let (addr, server_pid) = (server.addr, server.pid());
    database.vacuum_lock_tables().await?;
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
    let cost = CyclesCost {
        server: server * 1000.0 / http_cycles,
        client: client * 1000.0 / http_cycles,
        rest: (after.0 - before.0 - server - client).max(0.0) * 1000.0 / http_cycles,
    };
    Ok((http, cost))
}

/// [`http_round`], then the same SQL under pgbench with as many clients, and what each cost in
/// CPU per cycle. Each side starts on vacuumed tables.
pub(crate) async fn compare(
    database: &BenchDatabase,
    server: &Server,
    hosts: Rc<[HostRequests]>,
    concurrency: usize,
    pgbench: &Pgbench,
    args: &Args,
) -> Result<(Figures, Comparison), Box<dyn std::error::Error>> {
    let (http, http_cost) = http_round(database, server, hosts, concurrency, args).await?;

    database.vacuum_lock_tables().await?;
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
