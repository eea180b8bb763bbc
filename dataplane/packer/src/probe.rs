//! Test output: packer proves, every half minute, that it can write to each bucket it writes
//! Parquet into, by writing and deleting a small object; the result goes into its report.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytefreezer_api::DestinationStatus;
use bytefreezer_layout::probe_object;
use bytefreezer_storage::Bucket;
use bytes::Bytes;
use chrono::{SecondsFormat, Utc};

/// How often buckets are probed; reports carry the last result.
pub const PROBE_INTERVAL: Duration = Duration::from_secs(30);

/// The last probe of every destination, shared with the reporter.
pub type DestinationProbes = Arc<Mutex<Vec<DestinationStatus>>>;

pub(crate) struct Prober {
    results: DestinationProbes,
    last: Mutex<Option<Instant>>,
    holder: String,
}

impl Prober {
    pub(crate) fn new(holder: String) -> Prober {
        Prober {
            results: DestinationProbes::default(),
            last: Mutex::new(None),
            holder,
        }
    }

    pub(crate) fn results(&self) -> DestinationProbes {
        self.results.clone()
    }

    fn due(&self) -> bool {
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        let due = last.is_none_or(|at| at.elapsed() >= PROBE_INTERVAL);
        if due {
            *last = Some(Instant::now());
        }
        due
    }

    /// Probes `(name, bucket)` pairs if the interval has passed.
    pub(crate) async fn probe_if_due(&self, buckets: Vec<(String, anyhow::Result<Bucket>)>) {
        if !self.due() {
            return;
        }
        let key = probe_object(&self.holder);
        let mut statuses = Vec::with_capacity(buckets.len());
        for (name, bucket) in buckets {
            let outcome = match bucket {
                Ok(bucket) => write_and_delete(&bucket, &key).await,
                Err(error) => Err(error),
            };
            if let Err(error) = &outcome {
                tracing::warn!("packer: cannot write to bucket {name}: {error:#}");
            }
            statuses.push(DestinationStatus {
                bucket: name,
                writable: outcome.is_ok(),
                error: outcome.err().map(|e| format!("{e:#}")).unwrap_or_default(),
                checked_at: Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true),
            });
        }
        *self.results.lock().unwrap_or_else(|e| e.into_inner()) = statuses;
    }
}

async fn write_and_delete(bucket: &Bucket, key: &str) -> anyhow::Result<()> {
    bucket
        .put(key, Bytes::from_static(b"bytefreezer packer write probe\n"))
        .await?;
    bucket.delete(key).await?;
    Ok(())
}
