//! Reporting a failure that repeats: the first one in full, then a count at most every 30 s, and
//! one line when it ends. While the database is down, every connection attempt, sweep and host
//! request fails; a line for each would bury the one that says why.

use std::fmt::Display;
use std::sync::Mutex;
use std::time::{Duration, Instant};

const REPORT_EVERY: Duration = Duration::from_secs(30);

/// One kind of failure, such as "cannot connect to the database".
pub struct Outage {
    what: &'static str,
    ended: &'static str,
    state: Mutex<State>,
}

struct State {
    since: Option<Instant>,
    last_report: Option<Instant>,
    last_failure: Option<Instant>,
    unreported: u64,
    total: u64,
}

/// Connections to the database: failed in `storage`'s pool, recovered when one opens again.
pub static DATABASE: Outage = Outage::new(
    "cannot connect to the database",
    "connected to the database again",
);

impl Outage {
    /// `what` starts each report; `ended` is said when `recovered` is called.
    pub const fn new(what: &'static str, ended: &'static str) -> Outage {
        Outage {
            what,
            ended,
            state: Mutex::new(State {
                since: None,
                last_report: None,
                last_failure: None,
                unreported: 0,
                total: 0,
            }),
        }
    }

    /// A failure with no recovery to wait for (such as 503 answers): a quiet spell of 30 s ends it.
    pub const fn repeated(what: &'static str) -> Outage {
        Outage::new(what, "")
    }

    pub fn failed(&self, cause: impl Display) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        // Without an explicit recovery, a quiet spell as long as the reporting interval ends
        // an episode: the next failure is reported in full.
        let quiet = state
            .last_failure
            .is_some_and(|last| now.duration_since(last) >= REPORT_EVERY);
        state.last_failure = Some(now);
        let since = match state.since {
            Some(since) if !quiet => since,
            _ => {
                *state = State {
                    since: Some(now),
                    last_report: Some(now),
                    last_failure: Some(now),
                    unreported: 0,
                    total: 1,
                };
                log::warn!(
                    "{}: {cause} (repeats are counted, and reported every {} s)",
                    self.what,
                    REPORT_EVERY.as_secs()
                );
                return;
            }
        };
        state.total += 1;
        state.unreported += 1;
        if state
            .last_report
            .is_none_or(|last| now.duration_since(last) >= REPORT_EVERY)
        {
            log::warn!(
                "{}: {cause} ({} times in the last {} s; for {} s now)",
                self.what,
                state.unreported,
                REPORT_EVERY.as_secs(),
                now.duration_since(since).as_secs()
            );
            state.last_report = Some(now);
            state.unreported = 0;
        }
    }

    /// The failure has ended (for the database: a connection opened). One line if it had begun.
    pub fn recovered(&self) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(since) = state.since.take() {
            log::info!(
                "{} ({} failures over {} s)",
                self.ended,
                state.total,
                since.elapsed().as_secs()
            );
            state.unreported = 0;
            state.total = 0;
            state.last_failure = None;
        }
    }

    /// The level for a failure that follows from this one (a sweep skipped while the database
    /// is down): debug while it goes on, since this outage's own lines say why; else warn.
    pub fn consequence_level(&self) -> log::Level {
        let ongoing = self
            .state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .since
            .is_some();
        if ongoing {
            log::Level::Debug
        } else {
            log::Level::Warn
        }
    }
}
