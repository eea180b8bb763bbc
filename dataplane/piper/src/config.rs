use bytefreezer_transform::{GeoIpSettings, TransformLimits};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PiperConfig {
    /// How often the intake bucket is listed when nobody pokes piper. Default 1000.
    pub poll_interval_ms: u64,
    /// Seconds after which another instance may take over an object this one leased. Default 60.
    pub lease_ttl_secs: u64,
    /// Intake objects transformed at once. Default 4.
    pub concurrency: usize,
    /// MaxMind databases for `geoip` filters. Default: none (pipelines with geoip are refused).
    pub geoip: GeoIpSettings,
    /// Attempts at an object whose transformation fails (a filter error, an output limit, a
    /// panic) before it moves to the dataset's dead-letter prefix. Storage errors and a
    /// pipeline this node cannot compile are retried without end, as they are not the
    /// object's fault. Default 5.
    pub max_attempts: u32,
    /// Wait before the second attempt at a failed object; each further attempt waits twice as
    /// long. Default 1000.
    pub retry_backoff_ms: u64,
    /// The longest wait between attempts. Default 300000 (5 minutes).
    pub retry_backoff_max_ms: u64,
    /// Failed objects whose attempts are remembered (in memory); past it the longest-waiting
    /// entry is forgotten and counted. Default 10000.
    pub max_tracked_failures: usize,
    /// Filter count and output size limits of every pipeline run here.
    pub transform_limits: TransformLimits,
}

impl Default for PiperConfig {
    fn default() -> Self {
        PiperConfig {
            poll_interval_ms: 1000,
            lease_ttl_secs: 60,
            concurrency: 4,
            geoip: GeoIpSettings::default(),
            max_attempts: 5,
            retry_backoff_ms: 1000,
            retry_backoff_max_ms: 300_000,
            max_tracked_failures: 10_000,
            transform_limits: TransformLimits::default(),
        }
    }
}
