//! Backoff of failing inputs with the attempt counts persisted in the input's bucket
//! (`_bytefreezer/attempts/{stage}/{input}.json`), so a restart or a crash loop keeps counting
//! toward `max_attempts` instead of starting over. Failures are rare: a record is read and
//! written only when an input fails, and deleted only when an input that failed succeeds, is
//! dead-lettered or disappears, so an input that never fails costs no request.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bytefreezer_layout::{Stage, attempts_object, attempts_prefix, parse_attempts_object};
use bytefreezer_storage::Bucket;
use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::retry::{Attempt, RetryTracker};

/// How a stage spaces attempts at a failing input and how many it remembers.
#[derive(Debug, Clone, Copy)]
pub struct RetrySettings {
    pub first_wait: Duration,
    pub longest_wait: Duration,
    /// Inputs whose failures are kept in memory; past it the longest-waiting one is forgotten
    /// (its persisted count is read back if it fails again).
    pub capacity: usize,
}

/// What is persisted per failing input.
#[derive(Debug, Serialize, Deserialize)]
struct AttemptRecord {
    attempts: u32,
    /// RFC 3339 UTC of the last failure.
    time: String,
    message: String,
}

/// The failures of one stage's inputs, remembered in memory and in the inputs' bucket.
pub struct Attempts {
    tracker: RetryTracker,
    bucket: Bucket,
    stage: Stage,
    loaded: AtomicBool,
}

impl Attempts {
    pub fn new(bucket: Bucket, stage: Stage, settings: RetrySettings) -> Attempts {
        Attempts {
            tracker: RetryTracker::new(
                settings.capacity,
                settings.first_wait,
                settings.longest_wait,
            ),
            bucket,
            stage,
            loaded: AtomicBool::new(false),
        }
    }

    /// Once per process (called every pass, it lists only until it worked): the counts an
    /// earlier run left, so those inputs wait out their backoff and keep their count.
    pub async fn load(&self) {
        if self.loaded.load(Ordering::Relaxed) {
            return;
        }
        let listed = match self.bucket.list(&attempts_prefix(self.stage)).await {
            Ok(listed) => listed,
            Err(error) => {
                tracing::warn!(
                    "{}: cannot read the attempt counts of failing inputs: {error}",
                    self.stage.as_str()
                );
                return;
            }
        };
        let now = Instant::now();
        for info in listed {
            let Some(input) = parse_attempts_object(self.stage, &info.key) else {
                continue;
            };
            let Some(record) = self.read(&info.key).await else {
                continue;
            };
            if !self.tracker.seed(&input, record.attempts, now) {
                break;
            }
        }
        self.loaded.store(true, Ordering::Relaxed);
    }

    /// Whether `key` may be tried now: it never failed, or its wait is over.
    pub fn is_due(&self, key: &str) -> bool {
        self.tracker.is_due(key, Instant::now())
    }

    /// Failed attempts remembered for `key`, if any.
    pub fn attempts(&self, key: &str) -> Option<u32> {
        self.tracker.attempts(key)
    }

    async fn read(&self, record_key: &str) -> Option<AttemptRecord> {
        let bytes = self.bucket.get(record_key).await.ok()??;
        serde_json::from_slice(&bytes).ok()
    }

    /// Counts one more failure of `key` and persists the count. A storage problem costs the
    /// persistence (logged), never the count in memory.
    pub async fn record_failure(&self, key: &str, message: &str) -> Attempt {
        let record_key = attempts_object(self.stage, key);
        // Not remembered here: another instance, or this one before a restart or an
        // eviction, may have counted failures already.
        let known = match self.tracker.attempts(key) {
            Some(_) => 0,
            None => self
                .read(&record_key)
                .await
                .map_or(0, |record| record.attempts),
        };
        let attempt = self.tracker.record_failure(key, known, Instant::now());
        let record = AttemptRecord {
            attempts: attempt.attempts,
            time: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            message: message.chars().take(1024).collect(),
        };
        match serde_json::to_vec(&record) {
            Ok(json) => {
                if let Err(error) = self.bucket.put(&record_key, Bytes::from(json)).await {
                    tracing::warn!("cannot persist the attempt count of {key}: {error}");
                }
            }
            Err(error) => tracing::warn!("cannot encode the attempt count of {key}: {error}"),
        }
        attempt
    }

    /// `key` succeeded or was dead-lettered: its count goes, in memory and in the bucket.
    pub async fn forget(&self, key: &str) {
        if self.tracker.forget(key) {
            self.delete(key).await;
        }
    }

    /// Forgets inputs no longer listed (finished elsewhere, or moved), with their records.
    pub async fn retain_listed(&self, listed: &HashSet<&str>) {
        for key in self.tracker.retain_listed(listed) {
            self.delete(&key).await;
        }
    }

    async fn delete(&self, key: &str) {
        if let Err(error) = self.bucket.delete(&attempts_object(self.stage, key)).await {
            tracing::warn!("cannot delete the attempt count of {key}: {error}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> RetrySettings {
        RetrySettings {
            first_wait: Duration::ZERO,
            longest_wait: Duration::ZERO,
            capacity: 100,
        }
    }

    #[tokio::test]
    async fn counts_survive_a_new_instance_and_success_removes_them() {
        let dir = tempfile::tempdir().unwrap();
        let bucket = Bucket::local("intake", dir.path().to_path_buf()).unwrap();
        let first = Attempts::new(bucket.clone(), Stage::Piper, settings());
        assert_eq!(
            first.record_failure("t/d/b.arrows", "boom").await.attempts,
            1
        );
        assert_eq!(
            first.record_failure("t/d/b.arrows", "boom").await.attempts,
            2
        );
        let record = attempts_object(Stage::Piper, "t/d/b.arrows");
        assert!(bucket.exists(&record).await.unwrap());

        let second = Attempts::new(bucket.clone(), Stage::Piper, settings());
        assert_eq!(
            second.record_failure("t/d/b.arrows", "boom").await.attempts,
            3
        );
        let third = Attempts::new(bucket.clone(), Stage::Piper, settings());
        third.load().await;
        assert_eq!(third.attempts("t/d/b.arrows"), Some(3));
        third.forget("t/d/b.arrows").await;
        assert!(!bucket.exists(&record).await.unwrap());
    }

    #[tokio::test]
    async fn inputs_that_never_failed_cost_no_request() {
        let dir = tempfile::tempdir().unwrap();
        let bucket = Bucket::local("intake", dir.path().to_path_buf()).unwrap();
        let attempts = Attempts::new(bucket.clone(), Stage::Packer, settings());
        assert!(attempts.is_due("t/d/b.arrows"));
        attempts.forget("t/d/b.arrows").await;
        attempts.record_failure("t/d/c.arrows", "boom").await;
        attempts.retain_listed(&HashSet::new()).await;
        assert!(bucket.list("").await.unwrap().is_empty());
    }
}
