//! `foreman-dlm halt` and `foreman-dlm resume`: stop new updates (one lock, or the whole fleet)
//! during an incident, and let them go on afterwards, from the Foreman server's shell. They act
//! on the database, so every instance of an HA pair honours them at once.

use std::path::Path;
use std::process::ExitCode;

use super::{block_on, command_lock_manager};
use crate::locks::{LockManager, LockRef};
use crate::settings::Settings;

#[derive(clap::Args)]
#[command(group(clap::ArgGroup::new("which").required(true).args(["name", "all"])))]
pub struct HaltArgs {
    /// The lock (its name, or its id).
    pub name: Option<String>,
    /// Every lock, including locks created while the halt lasts.
    #[arg(long)]
    pub all: bool,
    /// Why: shown with the lock and in the hosts' refusals.
    #[arg(long)]
    pub reason: String,
}

#[derive(clap::Args)]
#[command(group(clap::ArgGroup::new("which").required(true).args(["name", "all"])))]
pub struct ResumeArgs {
    /// The lock (its name, or its id).
    pub name: Option<String>,
    /// Lifts the fleet-wide halt (`halt --all`); locks halted on their own stay halted.
    #[arg(long)]
    pub all: bool,
}

fn manager(config: Option<&Path>) -> Result<LockManager, String> {
    let settings = Settings::load(config).map_err(|e| e.to_string())?;
    command_lock_manager(&settings)
}

/// The lock a command line names, as typed: a `%` in it is a `%`, not an escape as in a URL.
fn lock_ref(name: &str) -> Result<LockRef, String> {
    let segment =
        percent_encoding::utf8_percent_encode(name, percent_encoding::NON_ALPHANUMERIC).to_string();
    LockRef::parse(&segment).map_err(|e| format!("{name:?} is not a lock name: {}", e.0))
}

fn finish(result: Result<String, String>) -> ExitCode {
    match result {
        Ok(said) => {
            println!("{said}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

pub fn halt(config: Option<&Path>, args: &HaltArgs) -> ExitCode {
    finish(manager(config).and_then(|manager| {
        block_on(async {
            match &args.name {
                None => match manager.halt_all(&args.reason, None).await {
                    Ok(true) => Ok(format!("halted every lock: {}", args.reason)),
                    Ok(false) => Ok("every lock was halted already; its reason stays".into()),
                    Err(e) => Err(e.to_string()),
                },
                Some(name) => {
                    let lock = manager
                        .halt_lock(&lock_ref(name)?, &args.reason, None)
                        .await
                        .map_err(|e| e.to_string())?;
                    let reason = lock.halt.map(|h| h.reason).unwrap_or_default();
                    Ok(format!("halted {}: {reason}", lock.name))
                }
            }
        })
    }))
}

pub fn resume(config: Option<&Path>, args: &ResumeArgs) -> ExitCode {
    finish(manager(config).and_then(|manager| {
        block_on(async {
            match &args.name {
                None => {
                    let lifted = manager.resume_all(None).await.map_err(|e| e.to_string())?;
                    let own = manager
                        .locks_halted_on_their_own()
                        .await
                        .map_err(|e| e.to_string())?;
                    let said = if lifted {
                        "lifted the halt of every lock"
                    } else {
                        "there was no halt of every lock"
                    };
                    Ok(match own {
                        0 => said.to_string(),
                        n => format!(
                            "{said}; {n} lock{} stay{} halted on {}: `foreman-dlm status` \
                             names them, `foreman-dlm resume NAME` lifts each",
                            plural(n),
                            if n == 1 { "s" } else { "" },
                            if n == 1 { "its own" } else { "their own" }
                        ),
                    })
                }
                Some(name) => {
                    let lock = manager
                        .resume_lock(&lock_ref(name)?, None)
                        .await
                        .map_err(|e| e.to_string())?;
                    Ok(match lock.halt {
                        Some(halt) if halt.fleet => format!(
                            "{} stays halted: every lock is ({}); `resume --all` lifts that",
                            lock.name, halt.reason
                        ),
                        _ => format!("resumed {}", lock.name),
                    })
                }
            }
        })
    }))
}

fn plural(n: i64) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}
