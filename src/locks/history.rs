//! The invariant every lock's event log must satisfy, whatever happened: a host is given a lock
//! only when a slot is free, and only a holder gives one back. The fault tests and the benchmark
//! replay the log through [`replay`]; a violation means two hosts held what one should have.

use std::collections::{BTreeMap, BTreeSet};

/// One `acquire`, `release` or `expire` row of `dlmlock_events`, in id order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HolderChange {
    pub lock_id: i32,
    pub acquired: bool,
    pub host_id: Option<i32>,
}

/// The event types that change who holds a lock; the others (`fail`, `enable`, `disable`) do not.
pub const HOLDER_EVENT_TYPES: [&str; 3] = ["acquire", "release", "expire"];

impl HolderChange {
    /// The change an event records; `None` for an event that changes no holder.
    pub fn from_event(
        lock_id: i32,
        event_type: &str,
        host_id: Option<i32>,
    ) -> Option<HolderChange> {
        let acquired = match event_type {
            "acquire" => true,
            // A lapsed lease frees the slot like a release.
            "release" | "expire" => false,
            _ => return None,
        };
        Some(HolderChange {
            lock_id,
            acquired,
            host_id,
        })
    }
}

/// What went wrong in a lock's history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub lock_id: i32,
    pub description: String,
}

/// The holders of each lock after the replay, and every violation met on the way.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Replay {
    pub holders: BTreeMap<i32, BTreeSet<i32>>,
    pub changes: usize,
    pub violations: Vec<Violation>,
}

impl Replay {
    /// Locks that were ever held by more hosts than they allow.
    pub fn locks_with_violations(&self) -> BTreeSet<i32> {
        self.violations.iter().map(|v| v.lock_id).collect()
    }
}

/// Replays holder changes in order; `max_holders(lock)` is how many hosts a lock allows.
pub fn replay(
    changes: impl IntoIterator<Item = HolderChange>,
    max_holders: impl Fn(i32) -> usize,
) -> Replay {
    let mut replay = Replay::default();
    for change in changes {
        replay.changes += 1;
        let holders = replay.holders.entry(change.lock_id).or_default();
        let Some(host) = change.host_id else {
            replay.violations.push(Violation {
                lock_id: change.lock_id,
                description: "a holder change names no host".into(),
            });
            continue;
        };
        if change.acquired {
            if holders.contains(&host) {
                replay.violations.push(Violation {
                    lock_id: change.lock_id,
                    description: format!("host {host} acquired what it already held"),
                });
            } else if holders.len() >= max_holders(change.lock_id) {
                replay.violations.push(Violation {
                    lock_id: change.lock_id,
                    description: format!("host {host} acquired while held by {holders:?}"),
                });
            }
            holders.insert(host);
        } else if !holders.remove(&host) {
            replay.violations.push(Violation {
                lock_id: change.lock_id,
                description: format!("host {host} released while held by {holders:?}"),
            });
        }
    }
    replay
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(lock_id: i32, acquired: bool, host: i32) -> HolderChange {
        HolderChange {
            lock_id,
            acquired,
            host_id: Some(host),
        }
    }

    #[test]
    fn alternating_history_is_clean() {
        let replayed = replay(
            [change(1, true, 5), change(1, false, 5), change(1, true, 6)],
            |_| 1,
        );
        assert!(replayed.violations.is_empty());
        assert_eq!(replayed.holders[&1], BTreeSet::from([6]));
        assert_eq!(replayed.changes, 3);
    }

    #[test]
    fn two_holders_and_foreign_releases_are_violations() {
        let replayed = replay(
            [change(1, true, 5), change(1, true, 6), change(2, false, 7)],
            |_| 1,
        );
        assert_eq!(replayed.locks_with_violations(), BTreeSet::from([1, 2]));
    }

    #[test]
    fn expiries_free_slots_and_other_events_change_nothing() {
        let events = [("acquire", 5), ("fail", 5), ("expire", 5), ("acquire", 6)];
        let changes = events
            .iter()
            .filter_map(|(kind, host)| HolderChange::from_event(1, kind, Some(*host)));
        let replayed = replay(changes, |_| 1);
        assert!(replayed.violations.is_empty(), "{replayed:?}");
        assert_eq!(replayed.changes, 3);
    }

    #[test]
    fn slots_are_counted() {
        let changes = [change(1, true, 5), change(1, true, 6), change(1, true, 7)];
        assert!(replay(changes.clone(), |_| 3).violations.is_empty());
        assert_eq!(replay(changes, |_| 2).violations.len(), 1);
    }
}
