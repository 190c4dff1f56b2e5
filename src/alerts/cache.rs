//! Answers kept per expanded expression, and one query in flight per expression.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::OnceCell;

/// Expressions remembered at once. Each lock name makes an expression of its own, and hosts
/// choose lock names, so without a bound they could grow the cache without end.
pub const CAPACITY: usize = 1024;

/// An expression's answer, or the query that will give it: those who come while it runs wait
/// for it instead of asking too.
struct Slot<V> {
    created: Instant,
    answer: OnceCell<(V, Instant)>,
}

impl<V> Slot<V> {
    /// A slot whose query is still running is not stale: replacing it would start a second one.
    fn stale(&self, now: Instant, ttl: Duration) -> bool {
        self.answer
            .get()
            .is_some_and(|(_, at)| now.saturating_duration_since(*at) >= ttl)
    }
}

pub struct Cache<V> {
    ttl: Duration,
    capacity: usize,
    slots: Mutex<HashMap<String, Arc<Slot<V>>>>,
}

impl<V: Clone> Cache<V> {
    pub fn new(ttl: Duration, capacity: usize) -> Cache<V> {
        Cache {
            ttl,
            capacity: capacity.max(1),
            slots: Mutex::new(HashMap::new()),
        }
    }

    /// The answer for `key`, from the cache or from `ask`; `true` when this call asked.
    pub async fn get_or_ask<F, Fut>(&self, key: &str, ask: F) -> (V, bool)
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = V>,
    {
        let slot = self.slot(key, Instant::now());
        let mut asked = false;
        let flag = &mut asked;
        let (value, _) = slot
            .answer
            .get_or_init(move || async move {
                *flag = true;
                (ask().await, Instant::now())
            })
            .await;
        (value.clone(), asked)
    }

    /// The slot that answers `key` at `now`: the current one while it is fresh or its query
    /// runs, else a new, empty one.
    fn slot(&self, key: &str, now: Instant) -> Arc<Slot<V>> {
        // A panic elsewhere cannot leave the map half-changed: every change is one call.
        let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(slot) = slots.get(key) {
            if !slot.stale(now, self.ttl) {
                return Arc::clone(slot);
            }
        } else if slots.len() >= self.capacity {
            self.make_room(&mut slots, now);
        }
        let slot = Arc::new(Slot {
            created: now,
            answer: OnceCell::new(),
        });
        slots.insert(key.to_owned(), Arc::clone(&slot));
        slot
    }

    /// Drops the stale answers, then (if that freed nothing) the oldest slot. A query still
    /// running in a dropped slot finishes for those already waiting on it.
    fn make_room(&self, slots: &mut HashMap<String, Arc<Slot<V>>>, now: Instant) {
        slots.retain(|_, slot| !slot.stale(now, self.ttl));
        if slots.len() < self.capacity {
            return;
        }
        let oldest = slots
            .iter()
            .min_by_key(|(_, slot)| slot.created)
            .map(|(key, _)| key.clone());
        if let Some(oldest) = oldest {
            slots.remove(&oldest);
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.slots
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;

    const TTL: Duration = Duration::from_secs(15);

    /// Fills `key`'s slot as if its query had answered at `at`.
    fn answer(cache: &Cache<u32>, key: &str, value: u32, at: Instant) -> Arc<Slot<u32>> {
        let slot = cache.slot(key, at);
        slot.answer.set((value, at)).unwrap();
        slot
    }

    #[test]
    fn answers_stand_until_they_expire() {
        let cache = Cache::new(TTL, 8);
        let t0 = Instant::now();
        let first = answer(&cache, "a", 1, t0);
        let later = cache.slot("a", t0 + TTL - Duration::from_millis(1));
        assert!(Arc::ptr_eq(&first, &later));
        let expired = cache.slot("a", t0 + TTL);
        assert!(!Arc::ptr_eq(&first, &expired));
        assert!(expired.answer.get().is_none());
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn a_running_query_is_never_stale() {
        let cache: Cache<u32> = Cache::new(TTL, 8);
        let t0 = Instant::now();
        let running = cache.slot("a", t0);
        let much_later = cache.slot("a", t0 + TTL * 100);
        assert!(Arc::ptr_eq(&running, &much_later));
    }

    #[test]
    fn the_cache_is_bounded_stale_answers_first() {
        let cache = Cache::new(TTL, 3);
        let t0 = Instant::now();
        let second = Duration::from_secs(1);
        answer(&cache, "a", 1, t0);
        answer(&cache, "b", 2, t0 + second);
        answer(&cache, "c", 3, t0 + 2 * second);
        // Nothing is stale yet: the oldest goes.
        answer(&cache, "d", 4, t0 + 3 * second);
        assert_eq!(cache.len(), 3);
        let b = cache.slot("b", t0 + 3 * second);
        assert_eq!(b.answer.get().map(|(v, _)| *v), Some(2));
        assert!(cache.slot("a", t0 + 3 * second).answer.get().is_none());
        // "a" came back (its query running) and pushed out "b".
        assert_eq!(cache.len(), 3);
        // A period later "c" and "d" are stale, while "a" still waits for its answer.
        let late = t0 + 3 * second + TTL;
        let slot = cache.slot("e", late);
        assert!(slot.answer.get().is_none());
        // The stale ones go, the running one stays.
        assert_eq!(cache.len(), 2);
        assert!(cache.slots.lock().unwrap().contains_key("a"));
    }

    #[test]
    fn a_key_already_present_takes_no_room() {
        let cache = Cache::new(TTL, 2);
        let t0 = Instant::now();
        answer(&cache, "a", 1, t0);
        answer(&cache, "b", 2, t0);
        answer(&cache, "b", 3, t0 + TTL);
        assert_eq!(cache.len(), 2);
        assert!(cache.slots.lock().unwrap().contains_key("a"));
    }

    #[actix_web::test]
    async fn one_query_answers_everyone_waiting() {
        let cache = Cache::new(TTL, 8);
        let count = Cell::new(0);
        let asked = &count;
        let ask = move || async move {
            asked.set(asked.get() + 1);
            tokio::time::sleep(Duration::from_millis(20)).await;
            7
        };
        let answers =
            futures_util::future::join_all((0..10).map(|_| cache.get_or_ask("x", ask))).await;
        assert_eq!(asked.get(), 1);
        assert!(answers.iter().all(|(value, _)| *value == 7));
        assert_eq!(answers.iter().filter(|(_, asked)| *asked).count(), 1);
        assert_eq!(cache.get_or_ask("x", ask).await, (7, false));
        assert_eq!(cache.get_or_ask("y", ask).await, (7, true));
        assert_eq!(asked.get(), 2);
    }
}
