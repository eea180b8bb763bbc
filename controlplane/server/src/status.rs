use bytefreezer_api::DatasetSpec;
use bytefreezer_control_store::ServiceHeartbeat;
use bytefreezer_telemetry::Registry;
use chrono::{DateTime, Utc};
use serde::Serialize;

/// Heartbeats are sent every 10 s; three missed ones make a service Unhealthy.
const UNHEALTHY_AFTER_SECS: i64 = 30;

#[derive(Debug, Serialize)]
pub struct Status {
    pub version: &'static str,
    pub parquet_location: Option<String>,
    pub services: Vec<ServiceStatus>,
    pub datasets: Vec<DatasetStatus>,
    pub pipeline: PipelineCounters,
}

#[derive(Debug, Serialize)]
pub struct ServiceStatus {
    pub role: String,
    pub instance_id: String,
    pub host: String,
    pub version: String,
    pub health: &'static str,
    pub reason: String,
    pub last_seen: DateTime<Utc>,
}

#[derive(Debug, Serialize)]
pub struct DatasetStatus {
    pub tenant_id: String,
    pub dataset_id: String,
    pub name: String,
    pub plugin: &'static str,
    pub listen: String,
    pub testing: bool,
    pub active: bool,
}

/// Totals of the pipeline counters of this process (every stage inside `bytefreezer up`).
#[derive(Debug, Serialize)]
pub struct PipelineCounters {
    pub proxy_rows_durable: u64,
    pub proxy_rows_acked: u64,
    pub proxy_rows_dropped: u64,
    pub proxy_unparsed: u64,
    pub receiver_rows: u64,
    pub piper_rows: u64,
    pub packer_rows: u64,
    pub packer_files: u64,
}

impl PipelineCounters {
    pub fn from_registry(registry: &Registry) -> Self {
        let total = |name: &str| registry.counter_total(name);
        PipelineCounters {
            proxy_rows_durable: total("bytefreezer_proxy_rows_durable_total"),
            proxy_rows_acked: total("bytefreezer_proxy_rows_acked_total"),
            proxy_rows_dropped: total("bytefreezer_proxy_rows_dropped_total"),
            proxy_unparsed: total("bytefreezer_proxy_unparsed_total"),
            receiver_rows: total("bytefreezer_receiver_rows_total"),
            piper_rows: total("bytefreezer_piper_rows_out_total"),
            packer_rows: total("bytefreezer_packer_rows_total"),
            packer_files: total("bytefreezer_packer_files_total"),
        }
    }
}

/// Healthy, Degraded (it says why) or Unhealthy (missed heartbeats), from the last report.
pub fn health_label(heartbeat: &ServiceHeartbeat, now: DateTime<Utc>) -> (&'static str, String) {
    let silent = (now - heartbeat.last_seen).num_seconds();
    if silent > UNHEALTHY_AFTER_SECS {
        ("Unhealthy", format!("no heartbeat for {silent} s"))
    } else if !heartbeat.healthy {
        ("Degraded", heartbeat.detail.clone())
    } else {
        ("Healthy", heartbeat.detail.clone())
    }
}

pub fn service_status(heartbeat: ServiceHeartbeat, now: DateTime<Utc>) -> ServiceStatus {
    let (health, reason) = health_label(&heartbeat, now);
    ServiceStatus {
        role: heartbeat.role,
        instance_id: heartbeat.instance_id,
        host: heartbeat.host,
        version: heartbeat.version,
        health,
        reason,
        last_seen: heartbeat.last_seen,
    }
}

pub fn dataset_status(spec: DatasetSpec) -> DatasetStatus {
    let listen = format!("udp://{}", spec.source.bind());
    DatasetStatus {
        plugin: spec.source.plugin_name(),
        tenant_id: spec.tenant_id,
        dataset_id: spec.dataset_id,
        name: spec.name,
        listen,
        testing: spec.testing,
        active: spec.active,
    }
}
