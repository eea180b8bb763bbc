//! The packed ledger. Every stage names its output after its input, so a crash between writing
//! an output and deleting its input only repeats the same write. That is not enough across
//! packer: once a piper object is packed and deleted, writing it again (the proxy resending a
//! batch whose 201 it never saw, piper transforming an intake object a second time after a
//! crash) would make a new input, and its rows would be packed twice. So before deleting its
//! inputs, packer leaves an empty marker per input under `_bytefreezer/packed/` in its bucket,
//! and an input whose marker exists is dropped instead of packed. Markers expire after
//! `packed_marker_retention_hours`; a copy arriving later than that would be packed again.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use bytefreezer_api::metrics::PACKER_PACKED_MARKERS_EXPIRED_TOTAL;
use bytefreezer_layout::{
    HourPartition, Stage, lease_object, packed_marker_object, packed_marker_prefix,
};
use bytefreezer_storage::{Bucket, LeaseKeeper, StorageError};
use bytefreezer_telemetry::Registry;
use bytes::Bytes;
use chrono::{DateTime, Utc};

/// Markers written at once when a plan finishes.
const MARKER_WRITES_IN_FLIGHT: usize = 16;

/// How often one instance sweeps expired markers.
const EXPIRY_INTERVAL: Duration = Duration::from_secs(3600);

/// Records that every input of a finished plan is in its Parquet file. Called after the file
/// is durable and before any input is deleted, and again by a plan's recovery.
pub(crate) async fn record_packed(bucket: &Bucket, inputs: &[String]) -> Result<(), StorageError> {
    for chunk in inputs.chunks(MARKER_WRITES_IN_FLIGHT) {
        let keys: Vec<String> = chunk
            .iter()
            .map(|input| packed_marker_object(input))
            .collect();
        futures::future::try_join_all(keys.iter().map(|key| bucket.put(key, Bytes::new()))).await?;
    }
    Ok(())
}

/// Whether an object named `input` was packed before. Asked under the partition's lease, the
/// only place markers of that partition are written, so the answer cannot change meanwhile.
pub(crate) async fn was_packed(bucket: &Bucket, input: &str) -> Result<bool, StorageError> {
    bucket.exists(&packed_marker_object(input)).await
}

/// Deletes markers older than the retention, at most once an hour across all instances.
pub(crate) struct MarkerExpiry {
    retention: Duration,
    last_sweep: Mutex<Option<Instant>>,
}

impl MarkerExpiry {
    pub(crate) fn new(retention: Duration) -> MarkerExpiry {
        MarkerExpiry {
            retention,
            last_sweep: Mutex::new(None),
        }
    }

    pub(crate) async fn sweep_if_due(
        &self,
        bucket: &Bucket,
        leases: &LeaseKeeper,
        registry: &Registry,
    ) -> anyhow::Result<()> {
        {
            let mut last = self.last_sweep.lock().unwrap_or_else(|e| e.into_inner());
            if last.is_some_and(|at| at.elapsed() < EXPIRY_INTERVAL) {
                return Ok(());
            }
            *last = Some(Instant::now());
        }
        // One sweeper at a time; the others skip this hour.
        let lease_key = lease_object(Stage::Packer, "packed-marker-expiry");
        let Some(lease) = leases.try_acquire(&lease_key).await? else {
            return Ok(());
        };
        let cutoff = Utc::now() - chrono::Duration::from_std(self.retention)?;
        let result = sweep(bucket, cutoff).await;
        leases.release(lease).await?;
        let expired = result?;
        if expired > 0 {
            registry
                .counter(
                    PACKER_PACKED_MARKERS_EXPIRED_TOTAL.name,
                    PACKER_PACKED_MARKERS_EXPIRED_TOTAL.help,
                    &[],
                )
                .increment(expired as u64);
            tracing::info!("packer: {expired} packed markers older than {cutoff} deleted");
        }
        Ok(())
    }
}

/// Markers sit under their piper object's event hour, so only hour folders that ended before
/// the cutoff are listed; in those, only markers written before the cutoff go (late events
/// write fresh markers into old hours).
async fn sweep(bucket: &Bucket, cutoff: DateTime<Utc>) -> Result<usize, StorageError> {
    let mut expired = 0;
    for tenant in bucket.list_folders(&packed_marker_prefix()).await? {
        for dataset in bucket.list_folders(&tenant).await? {
            for hour_folder in hour_folders(bucket, &dataset).await? {
                let Some(start) = folder_hour(&dataset, &hour_folder).and_then(|h| h.start())
                else {
                    continue;
                };
                if start + chrono::Duration::hours(1) > cutoff {
                    continue;
                }
                let old: Vec<String> = bucket
                    .list(&hour_folder)
                    .await?
                    .into_iter()
                    .filter(|marker| marker.last_modified < cutoff)
                    .map(|marker| marker.key)
                    .collect();
                if !old.is_empty() {
                    expired += bucket.delete_many(old).await?;
                }
            }
        }
    }
    Ok(expired)
}

/// `year=…/month=…/day=…/hour=…/` folders under a dataset's markers.
async fn hour_folders(bucket: &Bucket, dataset: &str) -> Result<Vec<String>, StorageError> {
    let mut level = vec![dataset.to_owned()];
    for _ in 0..4 {
        let mut next = Vec::new();
        for folder in &level {
            next.extend(bucket.list_folders(folder).await?);
        }
        level = next;
    }
    Ok(level)
}

fn folder_hour(dataset: &str, hour_folder: &str) -> Option<HourPartition> {
    let segments: Vec<&str> = hour_folder
        .strip_prefix(dataset)?
        .trim_end_matches('/')
        .split('/')
        .collect();
    HourPartition::parse_path_segments(&segments)
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn marker_keys(bucket: &Bucket) -> Vec<String> {
        let mut keys: Vec<String> = bucket
            .list(&packed_marker_prefix())
            .await
            .unwrap()
            .into_iter()
            .map(|object| object.key)
            .collect();
        keys.sort();
        keys
    }

    #[tokio::test]
    async fn markers_are_recorded_found_and_expire_only_in_old_hours_when_old() {
        let dir = tempfile::tempdir().unwrap();
        let bucket = Bucket::local("packer", dir.path().to_owned()).unwrap();
        let old = "t/d/year=2020/month=01/day=02/hour=03/b1.arrows".to_owned();
        let recent_hour = HourPartition::from_unix_micros(Utc::now().timestamp_micros()).unwrap();
        let recent = format!("t/d/{}/b2.arrows", recent_hour.path_segment());
        record_packed(&bucket, &[old.clone(), recent.clone()])
            .await
            .unwrap();
        assert!(was_packed(&bucket, &old).await.unwrap());
        assert!(was_packed(&bucket, &recent).await.unwrap());
        assert!(
            !was_packed(&bucket, "t/d/year=2020/month=01/day=02/hour=03/b9.arrows")
                .await
                .unwrap()
        );

        // Written just now: an old hour's marker stays until it is itself old.
        assert_eq!(
            sweep(&bucket, Utc::now() - chrono::Duration::hours(1))
                .await
                .unwrap(),
            0
        );
        assert_eq!(marker_keys(&bucket).await.len(), 2);
        // With a cutoff in the future both are old enough, but the current hour is not over.
        let expired = sweep(&bucket, Utc::now() + chrono::Duration::seconds(5))
            .await
            .unwrap();
        assert_eq!(expired, 1);
        assert_eq!(marker_keys(&bucket).await, [packed_marker_object(&recent)]);
        assert!(!was_packed(&bucket, &old).await.unwrap());
    }
}
