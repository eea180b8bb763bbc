//! The in-memory half of a stage's backoff: when each failing input may be tried again, so it
//! is retried with exponential backoff instead of every poll. Bounded; [`crate::Attempts`]
//! persists the counts so a restart or an eviction does not start them over.

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

/// What a failure did to an input's record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attempt {
    /// Failed attempts so far, this one included.
    pub attempts: u32,
    /// How long until the next attempt.
    pub retry_in: Duration,
    /// Whether another input's record was forgotten to make room.
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

    /// Failed attempts remembered for `key`, if any.
    pub(crate) fn attempts(&self, key: &str) -> Option<u32> {
        self.entries().get(key).map(|entry| entry.attempts)
    }

    fn wait_after(&self, attempts: u32) -> Duration {
        let doublings = attempts.saturating_sub(1).min(31);
        self.first_wait
            .saturating_mul(1u32 << doublings)
            .min(self.longest_wait)
    }

    /// Records one more failure of `key`, counting from at least `known` earlier ones (what
    /// another process or an earlier run persisted).
    pub(crate) fn record_failure(&self, key: &str, known: u32, now: Instant) -> Attempt {
        let mut entries = self.entries();
        let mut evicted = false;
        if !entries.contains_key(key) && entries.len() >= self.capacity {
            // Forget the input that would wait longest: it is the one retried least soon.
            if let Some(victim) = entries
                .iter()
                .max_by_key(|(_, entry)| entry.next_at)
                .map(|(key, _)| key.clone())
            {
                entries.remove(&victim);
                evicted = true;
            }
        }
        let attempts = entries
            .get(key)
            .map_or(0, |entry| entry.attempts)
            .max(known)
            .saturating_add(1);
        let retry_in = self.wait_after(attempts);
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

    /// Remembers `attempts` earlier failures of `key` (persisted by an earlier run), waiting
    /// as long as after the last of them. Returns false when full.
    pub(crate) fn seed(&self, key: &str, attempts: u32, now: Instant) -> bool {
        let mut entries = self.entries();
        if entries.len() >= self.capacity && !entries.contains_key(key) {
            return false;
        }
        let next_at = now + self.wait_after(attempts);
        entries.insert(key.to_owned(), Entry { attempts, next_at });
        true
    }

    /// Forgets `key`; whether it was remembered.
    pub(crate) fn forget(&self, key: &str) -> bool {
        self.entries().remove(key).is_some()
    }

    /// Drops the records of inputs no longer listed (finished elsewhere, or dead-lettered),
    /// returning their keys.
    pub(crate) fn retain_listed(&self, listed: &HashSet<&str>) -> Vec<String> {
        let mut entries = self.entries();
        let gone: Vec<String> = entries
            .keys()
            .filter(|key| !listed.contains(key.as_str()))
            .cloned()
            .collect();
        for key in &gone {
            entries.remove(key);
        }
        gone
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
            .map(|_| tracker.record_failure("a", 0, now).retry_in.as_secs())
            .collect();
        assert_eq!(waits, [1, 2, 4, 5, 5]);
        assert!(!tracker.is_due("a", now));
        assert!(tracker.is_due("a", now + Duration::from_secs(5)));
        assert!(tracker.is_due("b", now));
        assert!(tracker.forget("a"));
        assert!(!tracker.forget("a"));
        assert_eq!(tracker.record_failure("a", 0, now).attempts, 1);
    }

    #[test]
    fn persisted_counts_carry_on_and_seeded_inputs_wait() {
        let tracker = RetryTracker::new(10, Duration::from_secs(1), Duration::from_secs(60));
        let now = Instant::now();
        assert_eq!(tracker.record_failure("a", 3, now).attempts, 4);
        assert!(tracker.seed("b", 2, now));
        assert!(!tracker.is_due("b", now));
        assert_eq!(tracker.attempts("b"), Some(2));
        assert_eq!(tracker.record_failure("b", 0, now).attempts, 3);
    }

    #[test]
    fn bounded_and_pruned_to_what_is_listed() {
        let tracker = RetryTracker::new(2, Duration::from_secs(1), Duration::from_secs(60));
        let now = Instant::now();
        tracker.record_failure("a", 0, now);
        tracker.record_failure("a", 0, now);
        tracker.record_failure("b", 0, now);
        let third = tracker.record_failure("c", 0, now);
        assert!(third.evicted);
        assert_eq!(tracker.len(), 2);
        assert!(
            tracker.is_due("a", now),
            "a waited longest and was forgotten"
        );
        assert!(!tracker.seed("d", 1, now), "full");
        assert_eq!(tracker.retain_listed(&HashSet::from(["c"])), ["b"]);
        assert_eq!(tracker.len(), 1);
    }
}
