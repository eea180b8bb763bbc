use bytefreezer_transform::GeoIpSettings;
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
}

impl Default for PiperConfig {
    fn default() -> Self {
        PiperConfig {
            poll_interval_ms: 1000,
            lease_ttl_secs: 60,
            concurrency: 4,
            geoip: GeoIpSettings::default(),
        }
    }
}
