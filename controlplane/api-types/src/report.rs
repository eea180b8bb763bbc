use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::dead_letters::DeadLetterCount;
use crate::role::{Role, UnknownRole};

/// What a service sends the control plane every heartbeat: who it is, how the host is doing,
/// its counters and what it did since the last report. Counters only: never event data.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceReport {
    pub instance_id: String,
    /// A [`Role`] name (`proxy`, `receiver`, `piper`, `packer`, `query` or `control`). Text on
    /// the wire so a report naming a role this build does not know gets the store's refusal
    /// naming the field; [`ServiceReport::known_role`] reads it.
    pub role: String,
    pub host: String,
    pub version: String,
    /// RFC 3339 UTC.
    pub started_at: String,
    /// False while the service is still starting (its readiness checks have not passed).
    pub ready: bool,
    #[serde(default)]
    pub system: SystemMetrics,
    /// Cumulative since the service started, summed over datasets.
    #[serde(default)]
    pub errors_total: u64,
    #[serde(default)]
    pub drops_total: u64,
    /// How far behind the service is (oldest unshipped or unprocessed data), in seconds.
    #[serde(default)]
    pub lag_seconds: f64,
    /// Cumulative counters per dataset since the service started; see [`DatasetCounters`].
    #[serde(default)]
    pub datasets: Vec<DatasetCounters>,
    /// Activity since the previous report.
    #[serde(default)]
    pub activity: Vec<ActivityReport>,
    /// Packer partitions still accumulating.
    #[serde(default)]
    pub open_partitions: Vec<OpenPartition>,
    /// Proxy: the state of each dataset's input.
    #[serde(default)]
    pub inputs: Vec<InputStatus>,
    /// Packer: whether it could write to each bucket it writes Parquet into.
    #[serde(default)]
    pub destinations: Vec<DestinationStatus>,
    /// Piper, packer: dead letters waiting in each dataset's prefix of this stage.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dead_letters: Vec<DeadLetterCount>,
    /// Query: the address browsers reach it at; absent means the dashboard's own origin.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
}

impl ServiceReport {
    /// The reporting role, or the name this build does not know.
    pub fn known_role(&self) -> Result<Role, UnknownRole> {
        self.role.parse()
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputStatus {
    pub tenant_id: String,
    pub dataset_id: String,
    /// `udp://ADDRESS` as configured.
    pub listen: String,
    /// False while the socket could not be opened (address in use, permission).
    pub listening: bool,
}

/// The result of packer writing and deleting a small probe object in one of its buckets.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DestinationStatus {
    /// `packer` for its own bucket, else the name under `[packer.destinations]`.
    pub bucket: String,
    pub writable: bool,
    /// Why the probe failed; empty when it worked.
    #[serde(default)]
    pub error: String,
    /// RFC 3339 UTC.
    pub checked_at: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SystemMetrics {
    /// Share of one core used since the previous report, in percent (200 = two cores).
    pub cpu_percent: f64,
    pub memory_bytes: u64,
    pub disk_free_bytes: u64,
    pub disk_total_bytes: u64,
    pub uptime_secs: u64,
    /// The reporting process; roles of one process (`bytefreezer up`) share its CPU and memory.
    #[serde(default)]
    pub process_id: u32,
}

/// Counter names: `events_received`, `events_dropped` (proxy); `records_processed`,
/// `records_dropped` (piper); `parquet_files`, `parquet_rows`, `parquet_bytes` (packer).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatasetCounters {
    pub tenant_id: String,
    pub dataset_id: String,
    pub counters: BTreeMap<String, u64>,
}

/// The statistics the control plane keeps per dataset, and the stage that reports each.
pub const DATASET_METRICS: &[(&str, Role)] = &[
    ("events_received", Role::Proxy),
    ("events_dropped", Role::Proxy),
    ("records_processed", Role::Piper),
    ("records_dropped", Role::Piper),
    ("parquet_files", Role::Packer),
    ("parquet_rows", Role::Packer),
    ("parquet_bytes", Role::Packer),
];

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActivityReport {
    /// RFC 3339 UTC.
    pub time: String,
    pub stage: String,
    pub tenant_id: String,
    pub dataset_id: String,
    /// `ok` or `error`.
    pub outcome: String,
    pub message: String,
    /// Counts, durations, file names: never event values.
    #[serde(default)]
    pub details: serde_json::Value,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpenPartition {
    pub tenant_id: String,
    pub dataset_id: String,
    /// `year=YYYY/month=MM/day=DD/hour=HH`.
    pub partition: String,
    /// Piper objects waiting to be packed, and their size.
    pub objects: u64,
    pub bytes: u64,
    /// Age of the oldest waiting object.
    pub age_secs: u64,
    /// Seconds until the age threshold flushes it (it flushes earlier once big enough).
    pub flush_in_secs: u64,
    /// Size at which it flushes at once.
    pub flush_at_bytes: u64,
}
