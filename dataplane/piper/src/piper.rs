use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytefreezer_api::DataPlaneConfig;
use bytefreezer_api::metrics::PIPER_OLDEST_PENDING_UNIX_MS;
use bytefreezer_dead_letter::{
    Attempts, ReplayRunner, RetrySettings, count_dead_letters, publish_dead_letter_counts,
};
use bytefreezer_layout::{IntakeObject, Stage, parse_intake_object};
use bytefreezer_storage::{Buckets, LeaseKeeper};
use bytefreezer_telemetry::{Registry, Shutdown, run_cycles};
use bytefreezer_transform::GeoIp;
use futures::StreamExt;
use tokio::sync::{Notify, watch};

use crate::config::PiperConfig;
use crate::process::{ObjectResult, process_object};

/// What one pass over the intake bucket did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PiperCycle {
    pub objects: usize,
    pub rows_in: u64,
    pub rows_out: u64,
    pub failed: usize,
    pub skipped_unknown_dataset: usize,
    /// Objects moved to the dead-letter prefix this pass.
    pub dead_lettered: usize,
    /// Rows split out of transformed objects into the dead-letter prefix.
    pub rows_dead_lettered: u64,
    /// Objects that failed before and wait out their backoff.
    pub waiting: usize,
}

pub struct Piper {
    pub(crate) config: PiperConfig,
    pub(crate) buckets: Buckets,
    pub(crate) datasets: watch::Receiver<Arc<DataPlaneConfig>>,
    pub(crate) leases: LeaseKeeper,
    pub(crate) registry: Registry,
    pub(crate) geoip: GeoIp,
    /// Failed attempts per intake object, persisted in the intake bucket.
    pub(crate) attempts: Attempts,
    replays: ReplayRunner,
    wakeup: Arc<Notify>,
    downstream: Option<Arc<Notify>>,
    /// When each unknown dataset was last warned about, so a stray sender cannot flood the log.
    pub(crate) warned: Mutex<HashMap<String, Instant>>,
    /// The pipeline version each dataset last ran, to log when a saved change takes effect.
    versions: Mutex<HashMap<String, String>>,
}

impl Piper {
    pub fn new(
        config: PiperConfig,
        buckets: Buckets,
        datasets: watch::Receiver<Arc<DataPlaneConfig>>,
        holder_id: String,
        registry: Registry,
    ) -> anyhow::Result<Piper> {
        let geoip = config
            .geoip
            .open()
            .map_err(|e| anyhow::anyhow!("piper [geoip]: {e}"))?;
        let leases = LeaseKeeper::new(
            buckets.intake.clone(),
            holder_id,
            Duration::from_secs(config.lease_ttl_secs.max(1)),
        );
        let attempts = Attempts::new(
            buckets.intake.clone(),
            Stage::Piper,
            RetrySettings {
                first_wait: Duration::from_millis(config.retry_backoff_ms),
                longest_wait: Duration::from_millis(config.retry_backoff_max_ms),
                capacity: config.max_tracked_failures,
            },
        );
        Ok(Piper {
            attempts,
            replays: ReplayRunner::new(Stage::Piper),
            config,
            buckets,
            datasets,
            leases,
            registry,
            geoip,
            wakeup: Arc::new(Notify::new()),
            downstream: None,
            warned: Mutex::new(HashMap::new()),
            versions: Mutex::new(HashMap::new()),
        })
    }

    pub(crate) fn note_pipeline_version(&self, key: &IntakeObject, version: &str) {
        let dataset = format!("{}/{}", key.tenant_id, key.dataset_id);
        let mut versions = match self.versions.lock() {
            Ok(versions) => versions,
            Err(poisoned) => poisoned.into_inner(),
        };
        if versions.get(&dataset).map(String::as_str) != Some(version) {
            tracing::info!("piper: dataset {dataset} runs pipeline {version}");
            versions.insert(dataset, version.to_owned());
        }
    }

    /// Shares databases another part of the process already opened (`bytefreezer up`).
    pub fn with_geoip(mut self, geoip: GeoIp) -> Self {
        self.geoip = geoip;
        self
    }

    /// Poke this after writing an intake object so piper starts at once.
    pub fn wakeup(&self) -> Arc<Notify> {
        self.wakeup.clone()
    }

    /// Piper pokes `notify` (the packer's wakeup) after writing piper objects.
    pub fn with_downstream_wakeup(mut self, notify: Arc<Notify>) -> Self {
        self.downstream = Some(notify);
        self
    }

    pub async fn run(self, shutdown: Shutdown) -> anyhow::Result<()> {
        let interval = Duration::from_millis(self.config.poll_interval_ms.max(10));
        run_cycles(interval, &self.wakeup.clone(), shutdown, || async {
            match self.run_once().await {
                Ok(cycle) if cycle.objects > 0 => tracing::debug!(?cycle, "piper cycle"),
                Ok(_) => {}
                Err(error) => tracing::error!("piper: cannot list the intake bucket: {error:#}"),
            }
        })
        .await;
        Ok(())
    }

    /// One pass: every intake object present now is transformed or left for a later pass.
    pub async fn run_once(&self) -> anyhow::Result<PiperCycle> {
        let config = self.datasets.borrow().clone();
        // Before listing, so what a replay moved back is transformed in this same pass.
        self.replays
            .run(
                &config.dead_letter_replays,
                &self.buckets.intake,
                &self.leases,
                &self.registry,
            )
            .await;
        self.attempts.load().await;
        let objects = self.buckets.intake.list("").await?;
        publish_dead_letter_counts(
            &self.registry,
            Stage::Piper,
            &count_dead_letters(objects.iter().map(|info| info.key.as_str()), Stage::Piper),
        );
        let oldest = objects
            .iter()
            .filter(|info| parse_intake_object(&info.key).is_some())
            .map(|info| info.last_modified.timestamp_millis())
            .min()
            .unwrap_or(0);
        self.registry
            .gauge(
                PIPER_OLDEST_PENDING_UNIX_MS.name,
                PIPER_OLDEST_PENDING_UNIX_MS.help,
                &[],
            )
            .set(oldest);
        let work: Vec<_> = objects
            .into_iter()
            .filter_map(|info| parse_intake_object(&info.key).map(|key| (info, key)))
            .collect();
        self.attempts
            .retain_listed(
                &work
                    .iter()
                    .map(|(info, _)| info.key.as_str())
                    .collect::<HashSet<_>>(),
            )
            .await;
        let results: Vec<ObjectResult> = futures::stream::iter(work)
            .map(|(info, key)| process_object(self, &config, info, key))
            .buffer_unordered(self.config.concurrency.max(1))
            .collect()
            .await;
        let mut cycle = PiperCycle::default();
        for result in results {
            match result {
                ObjectResult::Done {
                    rows_in,
                    rows_out,
                    rows_dead_lettered,
                } => {
                    cycle.objects += 1;
                    cycle.rows_in += rows_in;
                    cycle.rows_out += rows_out;
                    cycle.rows_dead_lettered += rows_dead_lettered;
                }
                ObjectResult::UnknownDataset => cycle.skipped_unknown_dataset += 1,
                ObjectResult::Failed => cycle.failed += 1,
                ObjectResult::DeadLettered => cycle.dead_lettered += 1,
                ObjectResult::Waiting => cycle.waiting += 1,
                ObjectResult::Busy => {}
            }
        }
        if cycle.objects > 0
            && let Some(downstream) = &self.downstream
        {
            downstream.notify_one();
        }
        Ok(cycle)
    }
}
