//! Heartbeats: every role reports to the control plane who it is, how its host is doing, its
//! per-dataset counters and its new activity. Counters and names only, never event data.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use bytefreezer_api::metrics::{
    self, Metric, PACKER_BYTES_TOTAL, PACKER_ERRORS_TOTAL, PACKER_FILES_TOTAL, PACKER_ROWS_TOTAL,
    PIPER_ERRORS_TOTAL, PIPER_ROWS_IN_TOTAL, PIPER_ROWS_OUT_TOTAL, PROXY_DATAGRAMS_DROPPED_TOTAL,
    PROXY_DECODE_ERRORS_TOTAL, PROXY_INPUT_ERRORS_TOTAL, PROXY_INPUT_UP, PROXY_ROWS_DROPPED_TOTAL,
    PROXY_ROWS_DURABLE_TOTAL, RECEIVER_REJECTED_TOTAL,
};
use bytefreezer_api::{
    ActivityReport, DatasetCounters, DeadLetterCount, InputStatus, Role, ServiceReport,
    SystemMetrics,
};
use bytefreezer_control_store::ControlStore;
use bytefreezer_layout::Stage;
use bytefreezer_packer::{DestinationProbes, OpenPartitions};
use bytefreezer_piper::dead_letters::dead_letters_waiting_gauge;
use bytefreezer_telemetry::{Readiness, Registry, Shutdown, SystemSampler};

use crate::config_source::DatasetSourceConfig;

/// How often services report; the control plane calls a service Unhealthy after 30 s of silence.
pub const REPORT_INTERVAL: Duration = Duration::from_secs(10);

/// Which counters of a role feed which dataset statistic, and which make it Degraded.
struct RoleCounters {
    /// `(statistic, counter)`
    datasets: &'static [(&'static str, Metric)],
    errors: &'static [Metric],
    drops: &'static [Metric],
}

fn role_counters(role: Role) -> RoleCounters {
    match role {
        Role::Proxy => RoleCounters {
            datasets: &[
                ("events_received", PROXY_ROWS_DURABLE_TOTAL),
                ("events_dropped", PROXY_ROWS_DROPPED_TOTAL),
                ("events_dropped", PROXY_DATAGRAMS_DROPPED_TOTAL),
            ],
            errors: &[PROXY_INPUT_ERRORS_TOTAL],
            drops: &[
                PROXY_ROWS_DROPPED_TOTAL,
                PROXY_DATAGRAMS_DROPPED_TOTAL,
                PROXY_DECODE_ERRORS_TOTAL,
            ],
        },
        Role::Receiver => RoleCounters {
            datasets: &[],
            errors: &[RECEIVER_REJECTED_TOTAL],
            drops: &[],
        },
        Role::Piper => RoleCounters {
            datasets: &[("records_processed", PIPER_ROWS_IN_TOTAL)],
            errors: &[PIPER_ERRORS_TOTAL],
            drops: &[],
        },
        Role::Packer => RoleCounters {
            datasets: &[
                ("parquet_files", PACKER_FILES_TOTAL),
                ("parquet_rows", PACKER_ROWS_TOTAL),
                ("parquet_bytes", PACKER_BYTES_TOTAL),
            ],
            errors: &[PACKER_ERRORS_TOTAL],
            drops: &[],
        },
        Role::Control | Role::Query => RoleCounters {
            datasets: &[],
            errors: &[],
            drops: &[],
        },
    }
}

/// Builds one role's reports from its process's registry.
pub struct Reporter {
    role: Role,
    instance_id: String,
    host: String,
    started_at: String,
    registry: Registry,
    readiness: Readiness,
    data_dir: PathBuf,
    sampler: SystemSampler,
    activity_seq: u64,
    open_partitions: Option<OpenPartitions>,
    destination_probes: Option<DestinationProbes>,
    endpoint: Option<String>,
}

impl Reporter {
    pub fn new(
        role: Role,
        instance_id: String,
        registry: Registry,
        readiness: Readiness,
        data_dir: PathBuf,
    ) -> Reporter {
        Reporter {
            role,
            instance_id,
            host: hostname(),
            started_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            registry,
            readiness,
            data_dir,
            sampler: SystemSampler::default(),
            activity_seq: 0,
            open_partitions: None,
            destination_probes: None,
            endpoint: None,
        }
    }

    pub fn role(&self) -> Role {
        self.role
    }

    /// A packer also reports the partitions it is still accumulating.
    pub fn with_open_partitions(mut self, open: OpenPartitions) -> Reporter {
        self.open_partitions = Some(open);
        self
    }

    /// A packer also reports whether it can write to each of its buckets (Test output).
    pub fn with_destination_probes(mut self, probes: DestinationProbes) -> Reporter {
        self.destination_probes = Some(probes);
        self
    }

    /// A query service says where browsers reach it.
    pub fn with_endpoint(mut self, endpoint: Option<String>) -> Reporter {
        self.endpoint = endpoint;
        self
    }

    /// The state of each input, from the proxy's `PROXY_INPUT_UP` gauge (Test input).
    fn inputs(&self) -> Vec<InputStatus> {
        self.registry
            .series(PROXY_INPUT_UP.name)
            .into_iter()
            .filter_map(|(labels, value)| {
                let label = |key: &str| label_value(&labels, key);
                Some(InputStatus {
                    tenant_id: label("tenant")?,
                    dataset_id: label("dataset")?,
                    listen: label("listen")?,
                    listening: value > 0,
                })
            })
            .collect()
    }

    /// Piper and packer: the dead letters waiting per dataset, from the gauge the stage keeps.
    fn dead_letters(&self) -> Vec<DeadLetterCount> {
        let Some(stage) = Stage::parse(self.role.as_str()) else {
            return Vec::new();
        };
        self.registry
            .series(dead_letters_waiting_gauge(stage).name)
            .into_iter()
            .filter_map(|(labels, value)| {
                let label = |key: &str| label_value(&labels, key);
                Some(DeadLetterCount {
                    tenant_id: label("tenant")?,
                    dataset_id: label("dataset")?,
                    stage: self.role.to_string(),
                    objects: u64::try_from(value).unwrap_or(0),
                })
            })
            .collect()
    }

    /// The next report and the activity position to [`Reporter::sent`] once it arrived.
    pub fn report(&mut self) -> (ServiceReport, u64) {
        let counters = role_counters(self.role);
        let mut datasets: BTreeMap<(String, String), BTreeMap<String, u64>> = BTreeMap::new();
        for (statistic, counter) in counters.datasets {
            for (key, value) in self.registry.counter_by_dataset(counter.name) {
                // Several counters may feed one statistic (rows and datagrams dropped).
                *datasets
                    .entry(key)
                    .or_default()
                    .entry((*statistic).to_owned())
                    .or_default() += value;
            }
        }
        if self.role == Role::Piper {
            // Rows a pipeline removed (drop filters): in minus out.
            let out = self.registry.counter_by_dataset(PIPER_ROWS_OUT_TOTAL.name);
            for (key, rows_in) in self.registry.counter_by_dataset(PIPER_ROWS_IN_TOTAL.name) {
                let dropped = rows_in.saturating_sub(out.get(&key).copied().unwrap_or(0));
                datasets
                    .entry(key)
                    .or_default()
                    .insert("records_dropped".into(), dropped);
            }
        }
        let total = |metrics: &[Metric]| {
            metrics
                .iter()
                .map(|m| self.registry.counter_total(m.name))
                .sum()
        };
        let (events, next_seq) = self.registry.activity().since(self.activity_seq);
        let system = self.sampler.sample(&self.data_dir);
        let report = ServiceReport {
            instance_id: self.instance_id.clone(),
            role: self.role.to_string(),
            host: self.host.clone(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            started_at: self.started_at.clone(),
            ready: self.readiness.not_ready().is_empty(),
            system: SystemMetrics {
                cpu_percent: system.cpu_percent,
                memory_bytes: system.memory_bytes,
                disk_free_bytes: system.disk_free_bytes,
                disk_total_bytes: system.disk_total_bytes,
                uptime_secs: system.uptime_secs,
                process_id: std::process::id(),
            },
            errors_total: total(counters.errors),
            drops_total: total(counters.drops),
            lag_seconds: self.lag_seconds(),
            datasets: datasets
                .into_iter()
                .map(|((tenant_id, dataset_id), counters)| DatasetCounters {
                    tenant_id,
                    dataset_id,
                    counters,
                })
                .collect(),
            activity: events
                .into_iter()
                .filter(|e| e.stage == self.role.as_str())
                .map(|e| ActivityReport {
                    time: e.time,
                    stage: e.stage,
                    tenant_id: e.tenant,
                    dataset_id: e.dataset,
                    outcome: e.outcome,
                    message: e.message,
                    details: e.details,
                })
                .collect(),
            open_partitions: self
                .open_partitions
                .as_ref()
                .map(|open| open.lock().unwrap_or_else(|e| e.into_inner()).clone())
                .unwrap_or_default(),
            inputs: if self.role == Role::Proxy {
                self.inputs()
            } else {
                Vec::new()
            },
            destinations: self
                .destination_probes
                .as_ref()
                .map(|probes| probes.lock().unwrap_or_else(|e| e.into_inner()).clone())
                .unwrap_or_default(),
            dead_letters: self.dead_letters(),
            endpoint: self.endpoint.clone(),
        };
        (report, next_seq)
    }

    /// How old the oldest data still waiting in this role is (spool for a proxy, intake objects
    /// for piper), from the gauge the stage keeps.
    fn lag_seconds(&self) -> f64 {
        let oldest = metrics::oldest_pending(self.role)
            .map_or(0, |gauge| self.registry.counter_total(gauge.name));
        if oldest == 0 {
            return 0.0;
        }
        let now = chrono::Utc::now().timestamp_millis().max(0) as u64;
        now.saturating_sub(oldest) as f64 / 1000.0
    }

    /// The report built with [`Reporter::report`] arrived; its activity is not sent again.
    pub fn sent(&mut self, seq: u64) {
        self.activity_seq = seq;
    }
}

/// Where reports go: the store of this process (`bytefreezer up`, `bytefreezer control`), or
/// the control plane over HTTP.
#[derive(Clone)]
pub enum ReportSink {
    Store {
        store: ControlStore,
        account_id: Option<String>,
    },
    Http {
        client: reqwest::Client,
        endpoint: String,
        api_key: String,
    },
}

impl ReportSink {
    /// The control plane a role's `[datasets]` points at; `None` for datasets from a file,
    /// where no control plane exists to report to.
    pub fn for_datasets(config: &DatasetSourceConfig) -> Result<Option<ReportSink>> {
        match config {
            DatasetSourceConfig::File { .. } => Ok(None),
            DatasetSourceConfig::Control { url, api_key, .. } => Ok(Some(ReportSink::Http {
                client: reqwest::Client::builder()
                    .timeout(Duration::from_secs(10))
                    .build()
                    .context("cannot build the HTTP client")?,
                endpoint: format!("{}/api/v1/services/report", url.trim_end_matches('/')),
                api_key: api_key.clone(),
            })),
        }
    }

    async fn send(&self, report: &ServiceReport) -> Result<()> {
        match self {
            ReportSink::Store { store, account_id } => {
                store
                    .record_report(account_id.as_deref(), None, report)
                    .await?;
                Ok(())
            }
            ReportSink::Http {
                client,
                endpoint,
                api_key,
            } => {
                let response = client
                    .post(endpoint)
                    .bearer_auth(api_key)
                    .json(report)
                    .send()
                    .await
                    .with_context(|| format!("cannot reach the control plane at {endpoint}"))?;
                if !response.status().is_success() {
                    let status = response.status();
                    let body = response.text().await.unwrap_or_default();
                    bail!("control plane {endpoint} answered {status}: {body}");
                }
                Ok(())
            }
        }
    }
}

/// Reports now and then every [`REPORT_INTERVAL`] until shutdown, with a last report on the way
/// out. A failed report is logged and its activity goes with the next one.
pub async fn run(mut reporter: Reporter, sink: ReportSink, mut shutdown: Shutdown) {
    let mut failing = false;
    loop {
        let (report, seq) = reporter.report();
        match sink.send(&report).await {
            Ok(()) => {
                reporter.sent(seq);
                if failing {
                    tracing::info!(role = %reporter.role, "reporting to the control plane again");
                }
                failing = false;
            }
            Err(error) if !failing => {
                tracing::warn!(role = %reporter.role, "cannot report: {error:#}");
                failing = true;
            }
            Err(_) => {}
        }
        tokio::select! {
            _ = shutdown.wait() => break,
            _ = tokio::time::sleep(REPORT_INTERVAL) => {}
        }
    }
    let (report, _) = reporter.report();
    let _ = sink.send(&report).await;
}

pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|name| name.trim().to_owned())
        .unwrap_or_else(|_| "localhost".into())
}

/// The value of one label of a metric series.
fn label_value(labels: &[(String, String)], key: &str) -> Option<String> {
    labels
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.clone())
}

#[cfg(test)]
mod tests {
    use bytefreezer_api::metrics::PIPER_OLDEST_PENDING_UNIX_MS;

    use super::*;

    #[test]
    fn a_piper_report_maps_counters_lag_and_activity_once() {
        let registry = Registry::new();
        let labels = [("tenant", "acme"), ("dataset", "fw")];
        registry
            .counter(PIPER_ROWS_IN_TOTAL.name, PIPER_ROWS_IN_TOTAL.help, &labels)
            .increment(100);
        registry
            .counter(
                PIPER_ROWS_OUT_TOTAL.name,
                PIPER_ROWS_OUT_TOTAL.help,
                &labels,
            )
            .increment(70);
        registry
            .counter(PIPER_ERRORS_TOTAL.name, PIPER_ERRORS_TOTAL.help, &labels)
            .increment(2);
        registry
            .counter(PACKER_ROWS_TOTAL.name, PACKER_ROWS_TOTAL.help, &labels)
            .increment(5);
        let ninety_seconds_ago = chrono::Utc::now().timestamp_millis() - 90_000;
        registry
            .gauge(
                PIPER_OLDEST_PENDING_UNIX_MS.name,
                PIPER_OLDEST_PENDING_UNIX_MS.help,
                &[],
            )
            .set(ninety_seconds_ago);
        registry.activity().record(
            Role::Piper.as_str(),
            ("acme", "fw"),
            true,
            "job",
            serde_json::json!({}),
        );
        registry.activity().record(
            Role::Packer.as_str(),
            ("acme", "fw"),
            true,
            "file",
            serde_json::json!({}),
        );
        let dir = tempfile::tempdir().unwrap();
        let mut reporter = Reporter::new(
            Role::Piper,
            "piper-1".into(),
            registry.clone(),
            Readiness::default(),
            dir.path().to_owned(),
        );
        let (report, seq) = reporter.report();
        assert_eq!(report.datasets.len(), 1);
        let counters = &report.datasets[0].counters;
        assert_eq!(counters.get("records_processed"), Some(&100));
        assert_eq!(counters.get("records_dropped"), Some(&30));
        assert_eq!(
            counters.get("parquet_rows"),
            None,
            "only the role's own counters"
        );
        assert_eq!(report.errors_total, 2);
        assert!(
            (89.0..120.0).contains(&report.lag_seconds),
            "{}",
            report.lag_seconds
        );
        assert_eq!(report.activity.len(), 1, "only the role's own activity");
        assert!(report.ready);
        assert!(report.system.memory_bytes > 0);
        let (again, _) = reporter.report();
        assert_eq!(
            again.activity.len(),
            1,
            "unsent activity goes with the next report"
        );
        reporter.sent(seq);
        assert!(reporter.report().0.activity.is_empty());
    }
}
