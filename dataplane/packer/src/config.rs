use std::collections::BTreeMap;

use bytefreezer_storage::DestinationConfig;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PackerConfig {
    /// How often the piper bucket is listed when nobody pokes packer. Default 1000.
    pub poll_interval_ms: u64,
    /// Flush a partition once its inputs reach this many bytes; also the input budget of one
    /// Parquet file. Default 128 MiB.
    pub max_file_bytes: u64,
    /// Flush a partition once its oldest input is this old. Default 1200 (20 minutes).
    pub max_age_secs: u64,
    /// Rows per row group at most. Row groups are also cut at 64 MiB of buffered data, which
    /// bounds the writer's memory whatever the row width. Default 1,048,576.
    pub row_group_rows: usize,
    /// Seconds after which another instance may take over a partition this one leased. Default 300.
    pub lease_ttl_secs: u64,
    /// Hours a record of each packed piper object is kept, so a copy of it written again (a
    /// batch resent after a lost acknowledgement, an object transformed twice around a crash)
    /// is dropped instead of packed twice. Default 72.
    pub packed_marker_retention_hours: u64,
    /// Named buckets a dataset's `destination.bucket` may choose: local folders
    /// (`archive = "/mnt/archive"`) or S3 buckets (`cold = { bucket = "bf-cold", endpoint =
    /// "…" }`). Default none: every dataset goes to the packer bucket.
    pub destinations: BTreeMap<String, DestinationConfig>,
    /// Attempts at a piper object whose Parquet file cannot be written (a column type Parquet
    /// cannot store, values that cannot be converted) before it moves to the dataset's
    /// dead-letter prefix in the piper bucket. An input that failed is packed alone from then
    /// on, so only the culprit of a failing file is dead-lettered. Storage errors and an
    /// unconfigured destination are retried without end. Default 5.
    pub max_attempts: u32,
    /// Wait before the second attempt at a failing input; each further attempt waits twice as
    /// long. Default 1000.
    pub retry_backoff_ms: u64,
    /// The longest wait between attempts. Default 300000 (5 minutes).
    pub retry_backoff_max_ms: u64,
    /// Failing inputs whose attempts are kept in memory (the counts are also persisted under
    /// `_bytefreezer/attempts/packer/` in the piper bucket). Default 10000.
    pub max_tracked_failures: usize,
}

impl Default for PackerConfig {
    fn default() -> Self {
        PackerConfig {
            poll_interval_ms: 1000,
            max_file_bytes: 128 * 1024 * 1024,
            max_age_secs: 1200,
            row_group_rows: 1024 * 1024,
            lease_ttl_secs: 300,
            packed_marker_retention_hours: 72,
            destinations: BTreeMap::new(),
            max_attempts: 5,
            retry_backoff_ms: 1000,
            retry_backoff_max_ms: 300_000,
            max_tracked_failures: 10_000,
        }
    }
}
