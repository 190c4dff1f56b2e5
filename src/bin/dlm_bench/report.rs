//! Figures of a scenario, and the printed and JSON report.

use serde_json::json;

use super::cpu::Comparison;
use super::{Args, Measured};

/// Latencies (µs) and outcomes of one scenario.
#[derive(Default)]
pub struct Figures {
    pub latencies: Vec<u32>,
    pub errors: usize,
    pub elapsed: f64,
    pub cycles: usize,
}

impl Figures {
    pub fn percentile(&self, p: f64) -> f64 {
        if self.latencies.is_empty() {
            return 0.0;
        }
        let mut sorted = self.latencies.clone();
        sorted.sort_unstable();
        let index = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
        f64::from(sorted[index]) / 1000.0
    }

    pub fn requests_per_second(&self) -> f64 {
        self.latencies.len() as f64 / self.elapsed.max(1e-9)
    }

    pub fn json(&self) -> serde_json::Value {
        json!({
            "requests_per_s": round(self.requests_per_second()),
            "p50_ms": round(self.percentile(0.50)),
            "p95_ms": round(self.percentile(0.95)),
            "p99_ms": round(self.percentile(0.99)),
            "errors": self.errors,
        })
    }

    pub fn merge(&mut self, other: Figures) {
        self.latencies.extend(other.latencies);
        self.errors += other.errors;
        self.cycles += other.cycles;
    }
}

pub fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(|a, b| a.total_cmp(b));
    sorted.get(sorted.len() / 2).copied().unwrap_or(0.0)
}

pub fn round(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// Everything a run measured, ready to print, write and judge.
pub struct Report<'a> {
    args: &'a Args,
    measured: Measured,
    contended_hosts: usize,
    /// Locks whose history shows more holders than allowed: (one-slot, semaphore).
    over_capacity: (usize, usize),
    rss: (f64, f64),
}

impl<'a> Report<'a> {
    pub fn new(
        args: &'a Args,
        measured: Measured,
        contended_hosts: usize,
        over_capacity: (usize, usize),
        rss: (f64, f64),
    ) -> Report<'a> {
        Report {
            args,
            measured,
            contended_hosts,
            over_capacity,
            rss,
        }
    }

    fn cycles_per_second(&self) -> f64 {
        let u = &self.measured.uncontended;
        u.cycles as f64 / u.elapsed.max(1e-9)
    }

    fn round_ratios(&self) -> Vec<f64> {
        self.measured
            .comparisons
            .iter()
            .map(Comparison::ratio)
            .collect()
    }

    fn pgbench_tps(&self) -> f64 {
        median(
            &self
                .measured
                .comparisons
                .iter()
                .map(|c| c.pgbench_tps)
                .collect::<Vec<_>>(),
        )
    }

    /// The round whose ratio is the median, for its CPU breakdown.
    fn typical(&self) -> Option<&Comparison> {
        let ratio = median(&self.round_ratios());
        self.measured.comparisons.iter().min_by(|a, b| {
            (a.ratio() - ratio)
                .abs()
                .total_cmp(&(b.ratio() - ratio).abs())
        })
    }

    /// New over baseline cycles/s, as the median of the rounds' quotients.
    fn speedup(&self) -> Option<f64> {
        let baseline = &self.measured.baseline_cycles;
        if baseline.is_empty() {
            return None;
        }
        let quotients: Vec<f64> = self
            .measured
            .comparisons
            .iter()
            .zip(baseline)
            .map(|(c, b)| c.http_cycles_per_s / b.max(1e-9))
            .collect();
        Some(median(&quotients))
    }

    pub fn print(&self) {
        let (args, m) = (self.args, &self.measured);
        println!();
        println!(
            "foreman-dlm fleet benchmark: {} hosts in the database, {}s per scenario, {} clients \
             (pool {})",
            args.hosts, args.seconds, args.concurrency, args.pool_size
        );
        println!(
            "{:<14} {:>10} {:>9} {:>9} {:>9} {:>7}",
            "scenario", "req/s", "p50 ms", "p95 ms", "p99 ms", "errors"
        );
        for (name, figures) in [
            ("uncontended", &m.uncontended),
            ("contended", &m.contended),
            ("semaphore", &m.semaphore),
            ("poll", &m.poll),
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
        let ratios = self.round_ratios();
        println!(
            "acquire+release cycles/s over HTTP: {:.0}; pgbench (same SQL, {} clients): {:.0} tps \
             (median); ratio {:.2} (median of rounds: {})",
            self.cycles_per_second(),
            args.concurrency,
            self.pgbench_tps(),
            median(&ratios),
            ratios
                .iter()
                .map(|r| format!("{r:.2}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        if let Some(speedup) = self.speedup() {
            println!(
                "baseline {}: {:.0} cycles/s (median); this build {speedup:.2}x of it",
                args.baseline
                    .as_ref()
                    .map_or(String::new(), |p| p.display().to_string()),
                median(&m.baseline_cycles)
            );
        }
        if let Some(c) = self.typical() {
            let (h, p) = (c.http_cost, c.pgbench_cost);
            println!(
                "CPU per cycle (ms, a round near the median): over HTTP {:.2} = foreman-dlm {:.2} \
                 + load generator {:.2} + PostgreSQL and the rest {:.2}; pgbench {:.2} = pgbench \
                 {:.2} + PostgreSQL and the rest {:.2}",
                h.total(),
                h.server,
                h.client,
                h.rest,
                p.total(),
                p.client,
                p.rest
            );
        }
        for (concurrency, ratio) in &m.sweep {
            println!("ratio with {concurrency:>3} clients on each side: {ratio:.2}");
        }
        println!(
            "contended: {} full update cycles by {} hosts on {} locks; locks ever held by two \
             hosts: {}",
            m.contended.cycles,
            self.contended_hosts,
            self.contended_hosts / 10,
            self.over_capacity.0
        );
        println!(
            "semaphore: {} full update cycles ({:.0}/s) by {} hosts on {} locks of {} slots; \
             more than {} holders: {}",
            m.semaphore.cycles,
            m.semaphore.cycles as f64 / m.semaphore.elapsed.max(1e-9),
            self.contended_hosts,
            self.contended_hosts / 10,
            super::SEMAPHORE_SLOTS,
            super::SEMAPHORE_SLOTS,
            self.over_capacity.1
        );
        println!(
            "server memory: peak RSS {:.1} MB, RSS at end {:.1} MB",
            self.rss.0, self.rss.1
        );
    }

    pub fn json(&self) -> serde_json::Value {
        let m = &self.measured;
        json!({
            "scenarios": {
                "uncontended": m.uncontended.json(),
                "contended": m.contended.json(),
                "semaphore": m.semaphore.json(),
                "poll": m.poll.json(),
            },
            "semaphore": {
                "hosts": self.contended_hosts,
                "locks": self.contended_hosts / 10,
                "max_holders": super::SEMAPHORE_SLOTS,
                "cycles": m.semaphore.cycles,
                "cycles_per_s": round(m.semaphore.cycles as f64 / m.semaphore.elapsed.max(1e-9)),
                "more_than_max_holders": self.over_capacity.1,
            },
            "pgbench_tps": round(self.pgbench_tps()),
            "ratio": round(median(&self.round_ratios())),
            "ratio_rounds": self.round_ratios().iter().map(|r| round(*r)).collect::<Vec<_>>(),
            "cycles_per_s_rounds":
                m.comparisons.iter().map(|c| round(c.http_cycles_per_s)).collect::<Vec<_>>(),
            "baseline_cycles_per_s":
                m.baseline_cycles.iter().map(|c| round(*c)).collect::<Vec<_>>(),
            "speedup_over_baseline": self.speedup().map(round),
            "double_holders": self.over_capacity.0,
            "cycles_per_s": round(self.cycles_per_second()),
            "contended_cycles": m.contended.cycles,
            "server_peak_rss_mb": round(self.rss.0),
            "hosts": self.args.hosts,
            "concurrency": self.args.concurrency,
            "cpu_ms_per_cycle": self.typical().map(|c| json!({
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
            "ratio_by_concurrency": m.sweep
                .iter()
                .map(|(c, r)| (c.to_string(), json!(round(*r))))
                .collect::<serde_json::Map<_, _>>(),
        })
    }

    /// Fails the run on two holders, or on any request that got a wrong answer: then the figures
    /// mean nothing.
    pub fn verdict(&self) -> Result<(), Box<dyn std::error::Error>> {
        let (single, semaphore) = self.over_capacity;
        if single + semaphore > 0 {
            return Err(format!(
                "{single} lock(s) had two holders, {semaphore} semaphore(s) more than {}",
                super::SEMAPHORE_SLOTS
            )
            .into());
        }
        let m = &self.measured;
        let errors = m.uncontended.errors + m.contended.errors + m.semaphore.errors + m.poll.errors;
        if errors > 0 {
            return Err(format!("{errors} request(s) failed").into());
        }
        Ok(())
    }
}
