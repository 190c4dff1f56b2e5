//! The CLI subcommands. Each prints plain-words errors and returns the process exit code.

pub mod check_config;
pub mod demo;
pub mod halt;
pub mod host_status;
pub mod status;

use std::path::Path;
use std::process::ExitCode;

use crate::http::{self, Listening};
use crate::services::Services;
use crate::settings::Settings;
use crate::storage::notifications as outbox;
use crate::storage::{batches, locks::events, migrations, Conn, Database};

fn fail(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::FAILURE
}

/// One connection for a command's few statements; the error in plain words.
async fn connect_once(url: &crate::settings::Secret) -> Result<Conn, String> {
    Database::connect_once(url)
        .await
        .map_err(|e| format!("cannot connect to the database: {e}"))
}

/// Runs `work` on a fresh single-threaded runtime (the commands other than `serve`).
fn block_on<T>(work: impl std::future::Future<Output = T>) -> T {
    actix_web::rt::System::new().block_on(work)
}

/// The lock manager a command uses: the service's settings, one database connection.
fn command_lock_manager(settings: &Settings) -> Result<crate::locks::LockManager, String> {
    let url = settings.database_url().map_err(|e| e.to_string())?;
    let timeout = std::time::Duration::from_secs(settings.database.connect_timeout_seconds);
    let db = Database::new(&url, 1, timeout)?;
    Ok(crate::locks::LockManager::new(
        db,
        settings.locks.stale_time_hours,
        &settings.locks.policies,
    ))
}

pub fn serve(config: Option<&Path>) -> ExitCode {
    let settings = match Settings::load(config) {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    run_server(&settings)
}

/// Runs the server until it is stopped (SIGTERM/SIGINT stop it gracefully).
pub fn run_server(settings: &Settings) -> ExitCode {
    run_server_then(settings, |_| {})
}

/// `on_listening` runs once every listener is bound, before anything is served: the demo prints
/// its commands then, with the addresses it got, and never before a listener could fail.
pub fn run_server_then(settings: &Settings, on_listening: impl FnOnce(&Listening)) -> ExitCode {
    let result = block_on(async move {
        let services = Services::from_settings(settings)?;
        if let Some(problem) = schema_problem(settings).await {
            return Err(problem);
        }
        match services.locks.unknown_policy_time_zone().await {
            Ok(Some(problem)) => return Err(problem),
            Ok(None) => {}
            Err(e) => log::warn!("could not check the policies' time zones now: {e}"),
        }
        let (server, listening) = http::start(settings, services)?;
        for addr in &listening.http {
            log::info!("foreman-dlm listening on {addr}");
        }
        for addr in &listening.tls {
            log::info!("foreman-dlm listening on https://{addr} (client certificates)");
        }
        if let Some(addr) = listening.metrics {
            log::info!("metrics and health checks on http://{addr}/metrics");
        }
        on_listening(&listening);
        server.await.map_err(|e| e.to_string())
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(e),
    }
}

/// Refuses to serve on a database with pending migrations. A database that is down is not a
/// reason to refuse: the service answers 503 until it is back.
async fn schema_problem(settings: &Settings) -> Option<String> {
    let url = settings.database_url().ok()?;
    let mut conn = match Database::connect_once(&url).await {
        Ok(conn) => conn,
        Err(e) => {
            log::warn!("database not reachable at start-up ({e}); serving 503 until it is");
            return None;
        }
    };
    match migrations::pending_on(&mut conn).await {
        Ok(pending) if pending.is_empty() => None,
        Ok(pending) => Some(format!(
            "the database has {} pending migration(s) ({}); run `foreman-dlm migrate` first",
            pending.len(),
            pending.join(", ")
        )),
        Err(e) => Some(format!(
            "cannot read the applied migrations ({e}); run `foreman-dlm migrate` first"
        )),
    }
}

pub fn migrate(config: Option<&Path>) -> ExitCode {
    let url = match Settings::load(config).and_then(|s| s.database_url()) {
        Ok(url) => url,
        Err(e) => return fail(e),
    };
    match migrations::apply(url.expose()) {
        Ok(applied) => {
            if applied.versions.is_empty() && applied.functions.is_empty() {
                println!("database is up to date; nothing to migrate");
            }
            if !applied.versions.is_empty() {
                println!("applied migrations: {}", applied.versions.join(", "));
            }
            if !applied.functions.is_empty() {
                println!("replaced functions: {}", applied.functions.join(", "));
            }
            ExitCode::SUCCESS
        }
        Err(e) => fail(e),
    }
}

#[derive(clap::Args)]
pub struct ExpireArgs {
    /// Keep events of the last N days. (The plugin's task said 14 in its help but used 7; 7 it is.)
    #[arg(long, default_value_t = 7, value_parser = clap::value_parser!(u32).range(1..))]
    pub days: u32,
    /// Events deleted per statement: short transactions on a busy table.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(i64).range(1..=100_000))]
    pub batch_size: i64,
    /// Pause between batches, in seconds.
    #[arg(long = "sleep", default_value_t = 0.2)]
    pub sleep_seconds: f64,
}

/// Deletes old lock events, then the outbox rows past their retention (the service does the
/// latter hourly too; running both is safe).
pub fn expire_events(config: Option<&Path>, args: &ExpireArgs) -> ExitCode {
    if !(0.0..=3600.0).contains(&args.sleep_seconds) {
        return fail("--sleep must be between 0 and 3600 seconds");
    }
    let settings = match Settings::load(config) {
        Ok(settings) => settings,
        Err(e) => return fail(e),
    };
    let url = match settings.database_url() {
        Ok(url) => url,
        Err(e) => return fail(e),
    };
    let pause = std::time::Duration::from_secs_f64(args.sleep_seconds);
    let retention = &settings.notifications;
    block_on(async {
        let mut conn = match connect_once(&url).await {
            Ok(conn) => conn,
            Err(e) => return fail(e),
        };
        let started = std::time::Instant::now();
        let expired = async {
            let cutoff = batches::days_ago(&mut conn, args.days).await?;
            batches::delete_all(
                &mut conn,
                events::EXPIRE_SQL,
                cutoff,
                args.batch_size,
                pause,
            )
            .await
        };
        let (total, batches) = match expired.await {
            Ok(done) => done,
            Err(e) => return fail(format!("expiring events failed: {e}")),
        };
        println!(
            "removed {total} lock event(s) older than {} day(s) in {batches} batch(es), {:.1}s",
            args.days,
            started.elapsed().as_secs_f64()
        );
        let keep = (retention.keep_delivered_days, retention.keep_failed_days);
        match outbox::prune(&mut conn, keep.0, keep.1, args.batch_size, pause).await {
            Ok(pruned) => println!(
                "removed {pruned} notification(s) delivered more than {} day(s) or failed more \
                 than {} day(s) ago",
                keep.0, keep.1
            ),
            Err(e) => return fail(format!("pruning the notifications failed: {e}")),
        }
        ExitCode::SUCCESS
    })
}
