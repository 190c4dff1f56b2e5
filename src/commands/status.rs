//! `foreman-dlm status`: the locks as an admin on the Foreman server sees them in a terminal,
//! read with the service's own configuration: holders, how long each has held, stale, policy.
//! `--json` gives the same data; `--stale` lists only stale locks and exits 1 when there are any,
//! for cron or Nagios-style checks (2: the check itself failed).

use std::path::Path;
use std::process::ExitCode;

use chrono::{NaiveDateTime, Utc};
use serde_json::{json, Value};

use super::{block_on, command_lock_manager};
use crate::clock;
use crate::locks::admin::{ListRequest, PerPage};
use crate::locks::model::{Holder, Lock};
use crate::locks::name::printable;
use crate::locks::policy::LeaseExpiry;
use crate::settings::Settings;

#[derive(clap::Args)]
pub struct StatusArgs {
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Only stale locks; exit 1 when there are any.
    #[arg(long)]
    pub stale: bool,
}

fn broken(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::from(2)
}

pub fn run(config: Option<&Path>, args: &StatusArgs) -> ExitCode {
    let settings = match Settings::load(config) {
        Ok(settings) => settings,
        Err(e) => return broken(e),
    };
    let manager = match command_lock_manager(&settings) {
        Ok(manager) => manager,
        Err(e) => return broken(e),
    };
    let stale_hours = settings.locks.stale_time_hours;
    block_on(async {
        let request = ListRequest {
            search: args.stale.then(|| "stale = true".to_string()),
            order: Some("name".into()),
            page: 1,
            per_page: PerPage::All,
        };
        let locks = match manager.list(&request).await {
            Ok(listed) => listed.page.items,
            Err(e) => return broken(format!("cannot read the locks: {e}")),
        };
        let now = clock::test_now().unwrap_or_else(|| Utc::now().naive_utc());
        let stale_after = chrono::Duration::hours(i64::from(stale_hours));
        let view = View { now, stale_after };
        if args.json {
            let all: Vec<Value> = locks.iter().map(|lock| view.json(lock)).collect();
            println!("{}", serde_json::to_string_pretty(&all).unwrap_or_default());
        } else {
            print!("{}", view.table(&locks));
        }
        if args.stale && !locks.is_empty() {
            ExitCode::from(1)
        } else {
            ExitCode::SUCCESS
        }
    })
}

struct View {
    now: NaiveDateTime,
    stale_after: chrono::Duration,
}

impl View {
    fn stale(&self, holder: &Holder) -> bool {
        holder.refreshed_at < self.now - self.stale_after
    }

    fn held_for(&self, holder: &Holder) -> String {
        let minutes = (self.now - holder.acquired_at).num_minutes().max(0);
        match (minutes / (24 * 60), minutes / 60 % 24, minutes % 60) {
            (0, 0, m) => format!("{m}m"),
            (0, h, m) => format!("{h}h {m:02}m"),
            (d, h, _) => format!("{d}d {h}h"),
        }
    }

    fn json(&self, lock: &Lock) -> Value {
        let time = |t: NaiveDateTime| {
            t.and_utc()
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        };
        let holders: Vec<Value> = lock
            .holders
            .iter()
            .map(|h| {
                json!({
                    "host_id": h.host_id, "host": h.name,
                    "acquired_at": time(h.acquired_at), "refreshed_at": time(h.refreshed_at),
                    "expires_at": h.expires_at.map(time),
                    "held_for_seconds": (self.now - h.acquired_at).num_seconds().max(0),
                    "stale": self.stale(h),
                })
            })
            .collect();
        json!({
            "id": lock.id, "name": lock.name, "enabled": lock.enabled,
            "stale": lock.holders.iter().any(|h| self.stale(h)),
            "max_holders": lock.policy.max_holders, "lease_seconds": lock.policy.lease_seconds,
            "windows": lock.policy.windows, "on_lease_expiry": lock.policy.on_lease_expiry,
            "cooldown_seconds": lock.policy.cooldown_seconds,
            "block_on_alerts": lock.policy.block_on_alerts, "holders": holders,
            "halted": lock.halt.is_some(),
            "halted_at": lock.halt.as_ref().map(|h| time(h.halted_at)),
            "halt_reason": lock.halt.as_ref().map(|h| h.reason.clone()),
        })
    }

    fn table(&self, locks: &[Lock]) -> String {
        let mut rows = vec![[
            "LOCK", "STATE", "SLOTS", "HOLDER", "HELD FOR", "STALE", "POLICY",
        ]
        .map(str::to_string)];
        for lock in locks {
            let state = match (&lock.halt, lock.enabled) {
                (Some(_), _) => "halted",
                (None, true) => "enabled",
                (None, false) => "disabled",
            };
            let slots = format!("{}/{}", lock.holders.len(), lock.policy.max_holders);
            let mut policy = Vec::new();
            if let Some(lease) = lock.policy.lease_seconds {
                policy.push(format!("lease {lease}s"));
            }
            for window in &lock.policy.windows {
                policy.push(window.to_string());
            }
            if lock.policy.lease_seconds.is_some()
                && lock.policy.on_lease_expiry == LeaseExpiry::Release
            {
                policy.push("a lapsed lease does not halt".into());
            }
            if lock.policy.cooldown_seconds > 0 {
                policy.push(format!("cooldown {}s", lock.policy.cooldown_seconds));
            }
            if let Some(expression) = &lock.policy.block_on_alerts {
                policy.push(format!("gate {}", printable(expression)));
            }
            let policy = if policy.is_empty() {
                "-".into()
            } else {
                policy.join("; ")
            };
            // Names written by others (the plugin's UI, SQL) may hold control characters.
            let name = printable(&lock.name);
            if lock.holders.is_empty() {
                rows.push([&name, state, &slots, "-", "-", "-", &policy].map(str::to_string));
            }
            for holder in &lock.holders {
                let stale = if self.stale(holder) { "STALE" } else { "no" };
                rows.push(
                    [
                        &name,
                        state,
                        &slots,
                        &printable(&holder.name),
                        &self.held_for(holder),
                        stale,
                        &policy,
                    ]
                    .map(str::to_string),
                );
            }
        }
        let widths: Vec<usize> = (0..7)
            .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
            .collect();
        let mut out = String::new();
        for row in &rows {
            let cells: Vec<String> = row
                .iter()
                .zip(&widths)
                .map(|(cell, width)| format!("{cell:<width$}"))
                .collect();
            out.push_str(cells.join("  ").trim_end());
            out.push('\n');
        }
        if locks.is_empty() {
            out.push_str("(no locks)\n");
        }
        out.push_str(&self.halts(locks));
        out
    }

    /// Why the halted locks are halted: the fleet's halt once, then each lock's own.
    fn halts(&self, locks: &[Lock]) -> String {
        let since = |at: NaiveDateTime| at.format("%Y-%m-%d %H:%M UTC").to_string();
        let mut out = String::new();
        if let Some(fleet) = locks
            .iter()
            .filter_map(|l| l.halt.as_ref())
            .find(|h| h.fleet)
        {
            out.push_str(&format!(
                "\nEvery lock is halted since {}: {}\n",
                since(fleet.halted_at),
                printable(&fleet.reason)
            ));
        }
        for lock in locks {
            if let Some(halt) = lock.halt.as_ref().filter(|h| !h.fleet) {
                out.push_str(&format!(
                    "\n{} is halted since {}: {}\n",
                    printable(&lock.name),
                    since(halt.halted_at),
                    printable(&halt.reason)
                ));
            }
        }
        out
    }
}
