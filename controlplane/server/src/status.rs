use std::collections::HashMap;

use bytefreezer_api::Role;
use bytefreezer_api::metrics::{
    PACKER_FILES_TOTAL, PACKER_ROWS_TOTAL, PIPER_ROWS_OUT_TOTAL, PIPER_UNPARSED_TOTAL,
    PROXY_ROWS_ACKED_TOTAL, PROXY_ROWS_DROPPED_TOTAL, PROXY_ROWS_DURABLE_TOTAL,
    RECEIVER_ROWS_TOTAL,
};
use bytefreezer_control_store::{DatasetRecord, ServiceRecord};
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

/// A service as the status page and `/api/v1/services` show it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ServiceStatus {
    pub role: Role,
    pub instance_id: String,
    pub host: String,
    pub version: String,
    /// `Starting`, `Healthy`, `Degraded` or `Unhealthy`.
    pub health: &'static str,
    /// Why it is not Healthy; empty when it is.
    pub reason: String,
    pub cpu_percent: f64,
    pub memory_bytes: u64,
    pub disk_free_bytes: u64,
    pub disk_total_bytes: u64,
    pub uptime_secs: u64,
    /// Every role reporting from the same process on the same host, this one included, when
    /// there is more than one (`bytefreezer up`): CPU and memory are that process's, not the
    /// role's own.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub shares_process_with: Vec<Role>,
    pub registered_at: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    /// Where browsers reach a query service; absent: the dashboard's own origin.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
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
    pub assigned_proxy: Option<String>,
}

/// Totals of the pipeline counters of this process (every stage inside `bytefreezer up`).
#[derive(Debug, Serialize)]
pub struct PipelineCounters {
    pub proxy_rows_durable: u64,
    pub proxy_rows_acked: u64,
    pub proxy_rows_dropped: u64,
    /// Syslog messages that did not parse cleanly (parsed by piper, off the edge).
    pub syslog_unparsed: u64,
    pub receiver_rows: u64,
    pub piper_rows: u64,
    pub packer_rows: u64,
    pub packer_files: u64,
}

impl PipelineCounters {
    pub fn from_registry(registry: &Registry) -> Self {
        let total = |name: &str| registry.counter_total(name);
        PipelineCounters {
            proxy_rows_durable: total(PROXY_ROWS_DURABLE_TOTAL.name),
            proxy_rows_acked: total(PROXY_ROWS_ACKED_TOTAL.name),
            proxy_rows_dropped: total(PROXY_ROWS_DROPPED_TOTAL.name),
            syslog_unparsed: total(PIPER_UNPARSED_TOTAL.name),
            receiver_rows: total(RECEIVER_ROWS_TOTAL.name),
            piper_rows: total(PIPER_ROWS_OUT_TOTAL.name),
            packer_rows: total(PACKER_ROWS_TOTAL.name),
            packer_files: total(PACKER_FILES_TOTAL.name),
        }
    }
}

/// Starting until the first ready report, Unhealthy after missed heartbeats, Degraded when the
/// last report showed errors, drops or lag (with the reason), Healthy otherwise.
pub fn health_label(service: &ServiceRecord, now: DateTime<Utc>) -> (&'static str, String) {
    let silent = (now - service.last_seen).num_seconds();
    if silent > UNHEALTHY_AFTER_SECS {
        ("Unhealthy", format!("no heartbeat for {silent} s"))
    } else if !service.ready {
        ("Starting", "waiting for its first ready report".into())
    } else if !service.healthy {
        ("Degraded", service.detail.clone())
    } else {
        ("Healthy", String::new())
    }
}

/// Every service as shown, with the roles that share one process marked on each of them.
pub fn service_statuses(services: Vec<ServiceRecord>, now: DateTime<Utc>) -> Vec<ServiceStatus> {
    let process = |s: &ServiceRecord| (s.host.clone(), s.report.system.process_id);
    let mut roles_of: HashMap<(String, u32), Vec<Role>> = HashMap::new();
    for service in services.iter().filter(|s| s.report.system.process_id != 0) {
        roles_of
            .entry(process(service))
            .or_default()
            .push(service.role);
    }
    services
        .into_iter()
        .map(|service| {
            let shared = roles_of
                .get(&process(&service))
                .filter(|roles| roles.len() > 1)
                .cloned()
                .unwrap_or_default();
            let mut status = service_status(service, now);
            status.shares_process_with = shared;
            status
        })
        .collect()
}

pub fn service_status(service: ServiceRecord, now: DateTime<Utc>) -> ServiceStatus {
    let (health, reason) = health_label(&service, now);
    let system = service.report.system;
    let endpoint = service.report.endpoint;
    ServiceStatus {
        role: service.role,
        instance_id: service.instance_id,
        host: service.host,
        version: service.version,
        health,
        reason,
        cpu_percent: system.cpu_percent,
        memory_bytes: system.memory_bytes,
        disk_free_bytes: system.disk_free_bytes,
        disk_total_bytes: system.disk_total_bytes,
        uptime_secs: system.uptime_secs,
        shares_process_with: Vec::new(),
        registered_at: service.registered_at,
        last_seen: service.last_seen,
        endpoint,
    }
}

pub fn dataset_status(record: DatasetRecord) -> DatasetStatus {
    let spec = record.spec;
    let listen = spec.source.listen();
    DatasetStatus {
        plugin: spec.source.plugin_name(),
        tenant_id: spec.tenant_id,
        dataset_id: spec.dataset_id,
        name: spec.name,
        listen,
        testing: spec.testing,
        active: spec.active,
        assigned_proxy: record.assigned_proxy,
    }
}
