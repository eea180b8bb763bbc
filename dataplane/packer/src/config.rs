use std::collections::BTreeMap;
use std::path::PathBuf;

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
    /// Named buckets a dataset's `destination.bucket` may choose, as local folders
    /// (`archive = "/mnt/archive"`). Default none: every dataset goes to the packer bucket.
    pub destinations: BTreeMap<String, PathBuf>,
}

impl Default for PackerConfig {
    fn default() -> Self {
        PackerConfig {
            poll_interval_ms: 1000,
            max_file_bytes: 128 * 1024 * 1024,
            max_age_secs: 1200,
            row_group_rows: 1024 * 1024,
            lease_ttl_secs: 300,
            destinations: BTreeMap::new(),
        }
    }
}
