//! Attempts at objects that failed, so a failing object is retried with exponential backoff
//! instead of every poll, and dead-lettered after `max_attempts`. In memory and bounded: a
//! restart forgets the count (the object then gets `max_attempts` more tries).

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub(crate) struct RetryTracker {
    entries: Mutex<HashMap<String, Entry>>,
    capacity: usize,
    first_wait: Duration,
    longest_wait: Duration,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    attempts: u32,
    next_at: Instant,
}

/// What a failure did to an object's record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Attempt {
    /// Failed attempts so far, this one included.
    pub attempts: u32,
    /// How long until the next attempt.
    pub retry_in: Duration,
    /// Whether another object's record was forgotten to make room.
    pub evicted: bool,
}

impl RetryTracker {
    pub(crate) fn new(capacity: usize, first_wait: Duration, longest_wait: Duration) -> Self {
        RetryTracker {
            entries: Mutex::new(HashMap::new()),
            capacity: capacity.max(1),
            first_wait,
            longest_wait: longest_wait.max(first_wait),
        }
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether `key` may be tried now: it never failed, or its wait is over.
    pub(crate) fn is_due(&self, key: &str, now: Instant) -> bool {
        self.entries()
            .get(key)
            .is_none_or(|entry| entry.next_at <= now)
    }

    pub(crate) fn record_failure(&self, key: &str, now: Instant) -> Attempt {
        let mut entries = self.entries();
        let mut evicted = false;
        if !entries.contains_key(key) && entries.len() >= self.capacity {
            // Forget the object that would wait longest: it is the one retried least soon.
            if let Some(victim) = entries
                .iter()
                .max_by_key(|(_, entry)| entry.next_at)
                .map(|(key, _)| key.clone())
            {
                entries.remove(&victim);
                evicted = true;
            }
        }
        let attempts = entries.get(key).map_or(0, |entry| entry.attempts) + 1;
        let doublings = attempts.saturating_sub(1).min(31);
        let retry_in = self
            .first_wait
            .saturating_mul(1u32 << doublings)
            .min(self.longest_wait);
        entries.insert(
            key.to_owned(),
            Entry {
                attempts,
                next_at: now + retry_in,
            },
        );
        Attempt {
            attempts,
            retry_in,
            evicted,
        }
    }

    pub(crate) fn forget(&self, key: &str) {
        self.entries().remove(key);
    }

    /// Drops the records of objects no longer listed (finished elsewhere, or dead-lettered).
    pub(crate) fn retain_listed(&self, listed: &HashSet<&str>) {
        self.entries()
            .retain(|key, _| listed.contains(key.as_str()));
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_double_up_to_the_longest_and_success_forgets() {
        let tracker = RetryTracker::new(10, Duration::from_secs(1), Duration::from_secs(5));
        let now = Instant::now();
        let waits: Vec<u64> = (0..5)
            .map(|_| tracker.record_failure("a", now).retry_in.as_secs())
            .collect();
        assert_eq!(waits, [1, 2, 4, 5, 5]);
        assert!(!tracker.is_due("a", now));
        assert!(tracker.is_due("a", now + Duration::from_secs(5)));
        assert!(tracker.is_due("b", now));
        tracker.forget("a");
        assert_eq!(tracker.record_failure("a", now).attempts, 1);
    }

    #[test]
    fn bounded_and_pruned_to_what_is_listed() {
        let tracker = RetryTracker::new(2, Duration::from_secs(1), Duration::from_secs(60));
        let now = Instant::now();
        tracker.record_failure("a", now);
        tracker.record_failure("a", now);
        tracker.record_failure("b", now);
        let third = tracker.record_failure("c", now);
        assert!(third.evicted);
        assert_eq!(tracker.len(), 2);
        assert!(
            tracker.is_due("a", now),
            "a waited longest and was forgotten"
        );
        tracker.retain_listed(&HashSet::from(["c"]));
        assert_eq!(tracker.len(), 1);
    }
}
