use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use foreman_dlm::commands;

/// Distributed locks for Foreman hosts: a drop-in for the foreman_dlm plugin's lock API.
#[derive(Parser)]
#[command(name = "foreman-dlm", version, about)]
struct Cli {
    /// Settings file (TOML). Default: /etc/foreman-dlm/settings.toml, if it exists.
    #[arg(long, global = true, value_name = "PATH")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP service.
    Serve,
    /// Apply pending database migrations, then exit.
    Migrate,
    /// Print the effective configuration (secrets redacted), check the database and the CA/CRL
    /// files, and exit non-zero naming the first problem.
    CheckConfig,
    /// Delete lock events older than --days, in batches (the plugin's `dlmlocks:expire` task).
    ExpireEvents(commands::ExpireArgs),
    /// The locks: holders, how long each has held, stale, policy (--json, --stale).
    Status(commands::status::StatusArgs),
    /// Show the plugin's "Distributed Lock" host status rows; --purge removes them (for a site
    /// that drops the plugin).
    HostStatus(commands::host_status::HostStatusArgs),
    /// Stop new holders of one lock, or of every lock (--all), until `resume`: holders keep their
    /// slots, may refresh and release.
    Halt(commands::halt::HaltArgs),
    /// Lift a halt: one lock's, or the fleet-wide one (--all).
    Resume(commands::halt::ResumeArgs),
    /// Run the service against a throw-away demo database on the local PostgreSQL, with generated
    /// certificates, and print curl commands to try it.
    Demo(commands::demo::DemoArgs),
}

fn main() -> ExitCode {
    map_large_buffers_separately();
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let cli = Cli::parse();
    let config = cli.config.as_deref();
    match cli.command {
        Command::Serve => commands::serve(config),
        Command::Migrate => commands::migrate(config),
        Command::CheckConfig => commands::check_config::run(config),
        Command::ExpireEvents(args) => commands::expire_events(config, &args),
        Command::Status(args) => commands::status::run(config, &args),
        Command::HostStatus(args) => commands::host_status::run(config, &args),
        Command::Halt(args) => commands::halt::halt(config, &args),
        Command::Resume(args) => commands::halt::resume(config, &args),
        Command::Demo(args) => commands::demo::run(args),
    }
}

/// Each open HTTP connection keeps two 8 KB buffers, for as long as it is open. In glibc's heap
/// they interleave with the short-lived allocations of requests, and with 1,000 clients the heap
/// only grew (peak RSS about 60 MB in the benchmark). Mapped on their own, each costs only the
/// pages it has touched and goes back to the kernel when its connection closes: about 51 MB. It
/// is set before any thread starts, as mallopt requires.
fn map_large_buffers_separately() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        /// Allocations of at least this size get their own mapping (glibc's default starts at
        /// 128 KB and grows with the largest block freed).
        const MMAP_THRESHOLD: std::ffi::c_int = 8192;
        // SAFETY: mallopt takes two integers and changes only the allocator's tuning; it runs
        // here before any other thread exists. A refusal (0) keeps glibc's default.
        let _ = unsafe { libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD) };
    }
}
