//! What the lock domain talks about: locks, their events, and an admin's changes. Storage maps its
//! rows into these; `http` renders them.

use chrono::NaiveDateTime;

use super::policy::{Policy, PolicyChanges};

/// The lock type the plugin gives auto-created locks (its only type in practice).
pub const UPDATE_LOCK_TYPE: &str = "ForemanDlm::Dlmlock::Update";

/// A row of `dlmlocks` with the policy in force and the hosts that hold it now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lock {
    pub id: i32,
    pub name: String,
    pub lock_type: Option<String>,
    pub enabled: bool,
    pub created_at: Option<NaiveDateTime>,
    pub updated_at: Option<NaiveDateTime>,
    pub policy: Policy,
    /// Oldest first; holders whose lease has run out are not here.
    pub holders: Vec<Holder>,
    /// Set while the lock gives out no new slot until an admin resumes it.
    pub halt: Option<Halt>,
}

/// Why a lock takes no new holder: its own halt, or the fleet's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Halt {
    pub halted_at: NaiveDateTime,
    pub reason: String,
    /// The host whose lease lapsed.
    pub host_id: Option<i32>,
    /// The admin who halted it.
    pub user_id: Option<i32>,
    /// Every lock is halted (`foreman-dlm halt --all`), not this one alone: resuming this lock
    /// alone does not lift it.
    pub fleet: bool,
}

impl Lock {
    /// The holder the plugin shows (its `host_id`): the oldest one.
    pub fn holder(&self) -> Option<&Holder> {
        self.holders.first()
    }

    pub fn is_full(&self) -> bool {
        self.holders.len() >= usize::try_from(self.policy.max_holders).unwrap_or(usize::MAX)
    }
}

/// A host holding a lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    pub host_id: i32,
    pub name: String,
    pub acquired_at: NaiveDateTime,
    /// The holder's last acquire; its lease runs from here.
    pub refreshed_at: NaiveDateTime,
    /// `None` without a lease.
    pub expires_at: Option<NaiveDateTime>,
}

/// A row of `dlmlock_events`, with the names of its host and user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockEvent {
    pub id: i64,
    pub event_type: Option<String>,
    pub host_id: Option<i32>,
    pub user_id: Option<i32>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub host_name: Option<String>,
    pub user_login: Option<String>,
}

/// A new lock from `POST /api/dlmlocks`, as sent.
#[derive(Debug, Clone, Default)]
pub struct NewLock {
    pub name: Option<String>,
    pub lock_type: Option<String>,
    pub enabled: Option<bool>,
    pub policy: PolicyChanges,
    /// `halted: true`: the lock is born halted (with this reason), so that no host takes it
    /// before an admin resumes it.
    pub halt_reason: Option<String>,
}

/// Fields an admin changes; `None` leaves a field as it is, `Some(None)` clears it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LockChanges {
    pub name: Option<String>,
    pub lock_type: Option<Option<String>>,
    /// `Some(None)` is a force release.
    pub host_id: Option<Option<i32>>,
    pub enabled: Option<bool>,
    pub policy: PolicyChanges,
    pub halt: Option<HaltChange>,
}

/// An admin halting or resuming one lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HaltChange {
    Halt {
        reason: String,
    },
    /// Lifts the lock's own halt; a fleet-wide one stays until the fleet is resumed.
    Resume,
}

/// The longest halt reason kept: a sentence for the status page, not a report.
pub const MAX_HALT_REASON_CHARS: usize = 500;

/// Why a halt reason is refused, if it is.
pub fn halt_reason_problem(reason: &str) -> Option<String> {
    if reason.trim().is_empty() {
        Some("can't be blank".into())
    } else if reason.chars().count() > MAX_HALT_REASON_CHARS {
        Some(format!(
            "is too long (maximum is {MAX_HALT_REASON_CHARS} characters)"
        ))
    } else if reason.chars().any(char::is_control) {
        Some("must not contain control characters".into())
    } else {
        None
    }
}

/// A page of results and how many there are in all.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub total: i64,
    pub items: Vec<T>,
}

/// Why a host's acquire or release was refused (the 412's `error.reason`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Another host holds the only slot.
    Held,
    /// Every slot is taken.
    Full,
    Disabled,
    /// No window is open; `next_window_at` (UTC) is when the next one opens.
    OutsideWindow {
        next_window_at: Option<NaiveDateTime>,
    },
    /// The host's `can_acquire_update_locks` parameter says no.
    OptedOut,
    /// The host holds `limits.locks_held_per_host` locks already.
    TooManyHeld,
    /// The lock (or the fleet) is halted until an admin resumes it.
    Halted {
        halt_reason: String,
    },
    /// A slot was freed less than the lock's `cooldown_seconds` ago; `retry_at` (UTC) is when
    /// the next holder may start.
    CoolingDown {
        retry_at: Option<NaiveDateTime>,
    },
    /// The lock's alert gate: the alerts its expression returned, or why Prometheus could not
    /// be asked.
    Blocked {
        blocked_by: Vec<String>,
    },
}

impl Refusal {
    pub fn reason(&self) -> &'static str {
        match self {
            Refusal::Held => "held",
            Refusal::Full => "full",
            Refusal::Disabled => "disabled",
            Refusal::OutsideWindow { .. } => "outside_window",
            Refusal::OptedOut => "opted_out",
            Refusal::TooManyHeld => "too_many_held",
            Refusal::Halted { .. } => "halted",
            Refusal::CoolingDown { .. } => "cooling_down",
            Refusal::Blocked { .. } => "blocked",
        }
    }

    /// The refusal a statement's outcome names, with what the request saw; `None` for an
    /// outcome that is not one.
    pub fn from_outcome(outcome: Option<&str>, seen: RefusalDetails) -> Option<Refusal> {
        Some(match outcome? {
            "held" => Refusal::Held,
            "full" => Refusal::Full,
            "disabled" => Refusal::Disabled,
            "outside_window" => Refusal::OutsideWindow {
                next_window_at: seen.next_window_at,
            },
            "opted_out" => Refusal::OptedOut,
            "too_many_held" => Refusal::TooManyHeld,
            "halted" => Refusal::Halted {
                halt_reason: seen.halt_reason.unwrap_or_default(),
            },
            "cooling_down" => Refusal::CoolingDown {
                retry_at: seen.retry_at,
            },
            "blocked" => Refusal::Blocked {
                blocked_by: seen.blocked_by,
            },
            _ => return None,
        })
    }
}

/// What a refused request saw, for the refusal's details.
#[derive(Debug, Clone, Default)]
pub struct RefusalDetails {
    pub next_window_at: Option<NaiveDateTime>,
    pub retry_at: Option<NaiveDateTime>,
    pub halt_reason: Option<String>,
    /// The alert gate's answer.
    pub blocked_by: Vec<String>,
}
