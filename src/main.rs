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
    /// Run the service against a throw-away demo database on the local PostgreSQL, with generated
    /// certificates, and print curl commands to try it.
    Demo(commands::demo::DemoArgs),
}

fn main() -> ExitCode {
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
        Command::Demo(args) => commands::demo::run(args),
    }
}
