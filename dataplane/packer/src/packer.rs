use bytefreezer_api::Role;
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use bytefreezer_api::metrics::{
    PACKER_ERRORS_TOTAL, PACKER_INPUTS_REDELIVERED_TOTAL, PACKER_INPUTS_SKIPPED_TOTAL,
};
use bytefreezer_api::{DataPlaneConfig, DatasetSpec, OpenPartition};
use bytefreezer_dead_letter::{
    Attempts, ReplayRunner, RetrySettings, count_dead_letters, publish_dead_letter_counts,
};
use bytefreezer_layout::{
    HourPartition, PiperObject, Stage, lease_object, packer_plan_object, packer_plan_prefix,
    parse_packer_plan_object, parse_piper_object,
};
use bytefreezer_schema::decode_ipc;
use bytefreezer_storage::{Bucket, Buckets, LeaseKeeper, ObjectInfo};
use bytefreezer_telemetry::{Registry, Shutdown, run_cycles};
use bytes::Bytes;
use chrono::Utc;
use futures::StreamExt;
use tokio::sync::{Notify, watch};

use crate::config::PackerConfig;
use crate::dead_letter::DeadLetterReason;
use crate::packed::{MarkerExpiry, was_packed};
use crate::plan::{Plan, file_id};
use crate::probe::{DestinationProbes, Prober};
use crate::write::{PlanError, execute_plan};

/// Inputs of a chunk whose marker and bytes are fetched at once.
const INPUT_CHECKS_IN_FLIGHT: usize = 8;

/// What a chunk's input turned out to be, under the partition's lease.
enum InputCheck {
    /// A marker says it is in a Parquet file already: a second copy.
    Packed,
    Gone,
    Present(Bytes),
}

/// What one pass did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PackerCycle {
    pub files_written: usize,
    pub rows_written: u64,
    pub bytes_written: u64,
    pub inputs_packed: usize,
    pub plans_recovered: usize,
    /// Inputs moved to the dead-letter prefix this pass.
    pub dead_lettered: usize,
    /// Plans whose Parquet file could not be written because of their inputs.
    pub plans_failed: usize,
    /// Inputs that failed before and wait out their backoff.
    pub waiting: usize,
    /// Inputs dropped because an object of the same name was packed before.
    pub redelivered: usize,
}

pub struct Packer {
    pub(crate) config: PackerConfig,
    pub(crate) buckets: Buckets,
    pub(crate) datasets: watch::Receiver<Arc<DataPlaneConfig>>,
    leases: LeaseKeeper,
    pub(crate) registry: Registry,
    /// Failed attempts per piper object, persisted in the piper bucket.
    pub(crate) attempts: Attempts,
    replays: ReplayRunner,
    wakeup: Arc<Notify>,
    open_partitions: OpenPartitions,
    prober: Prober,
    marker_expiry: MarkerExpiry,
    /// `[packer.destinations]`, opened once (an S3 client keeps its connections).
    destinations: BTreeMap<String, Result<Bucket, String>>,
}

/// The partitions still accumulating after the last pass, for the control plane's Activity.
pub type OpenPartitions = Arc<std::sync::Mutex<Vec<OpenPartition>>>;

type PartitionKey = (String, String, HourPartition);

impl Packer {
    pub fn new(
        config: PackerConfig,
        buckets: Buckets,
        datasets: watch::Receiver<Arc<DataPlaneConfig>>,
        holder_id: String,
        registry: Registry,
    ) -> Packer {
        let prober = Prober::new(holder_id.clone());
        let leases = LeaseKeeper::new(
            buckets.piper.clone(),
            holder_id,
            Duration::from_secs(config.lease_ttl_secs.max(1)),
        );
        let attempts = Attempts::new(
            buckets.piper.clone(),
            Stage::Packer,
            RetrySettings {
                first_wait: Duration::from_millis(config.retry_backoff_ms),
                longest_wait: Duration::from_millis(config.retry_backoff_max_ms),
                capacity: config.max_tracked_failures,
            },
        );
        let destinations = config
            .destinations
            .iter()
            .map(|(name, destination)| {
                let opened = destination.open(name).map_err(|e| format!("{e:#}"));
                (name.clone(), opened)
            })
            .collect();
        let marker_expiry = MarkerExpiry::new(Duration::from_secs(
            config.packed_marker_retention_hours.saturating_mul(3600),
        ));
        Packer {
            attempts,
            replays: ReplayRunner::new(Stage::Packer),
            config,
            buckets,
            datasets,
            leases,
            registry,
            wakeup: Arc::new(Notify::new()),
            open_partitions: OpenPartitions::default(),
            prober,
            marker_expiry,
            destinations,
        }
    }

    /// The bucket `[packer.destinations]` names `name`: `None` when none does.
    pub(crate) fn destination(&self, name: &str) -> Option<Result<Bucket, String>> {
        self.destinations.get(name).cloned()
    }

    /// Shared view of the last write probe of every bucket this packer writes Parquet into.
    pub fn destination_probes(&self) -> DestinationProbes {
        self.prober.results()
    }

    /// Its own bucket and every configured destination, probed at most every 30 s.
    async fn probe_destinations(&self) {
        let mut buckets = vec![("packer".to_owned(), Ok(self.buckets.packer.clone()))];
        for (name, opened) in &self.destinations {
            buckets.push((name.clone(), opened.clone().map_err(|e| anyhow::anyhow!(e))));
        }
        self.prober.probe_if_due(buckets).await;
    }

    /// Shared view of the partitions still accumulating, refreshed every pass.
    pub fn open_partitions(&self) -> OpenPartitions {
        self.open_partitions.clone()
    }

    /// Poke this after writing piper objects so packer looks at once.
    pub fn wakeup(&self) -> Arc<Notify> {
        self.wakeup.clone()
    }

    pub async fn run(self, shutdown: Shutdown) -> anyhow::Result<()> {
        let interval = Duration::from_millis(self.config.poll_interval_ms.max(10));
        run_cycles(interval, &self.wakeup.clone(), shutdown, || async {
            if let Err(error) = self.run_once().await {
                tracing::error!("packer: {error:#}");
            }
        })
        .await;
        Ok(())
    }

    pub async fn run_once(&self) -> anyhow::Result<PackerCycle> {
        let mut cycle = PackerCycle::default();
        self.probe_destinations().await;
        let config = self.datasets.borrow().clone();
        // Before listing, so what a replay moved back is packed in this same pass.
        self.replays
            .run(
                &config.dead_letter_replays,
                &self.buckets.piper,
                &self.leases,
                &self.registry,
            )
            .await;
        self.attempts.load().await;
        if let Err(error) = self
            .marker_expiry
            .sweep_if_due(&self.buckets.packer, &self.leases, &self.registry)
            .await
        {
            tracing::warn!("packer: expiring packed markers: {error:#}");
        }
        let planned_elsewhere = self.recover_plans(&mut cycle).await?;
        let listed = self.buckets.piper.list("").await?;
        publish_dead_letter_counts(
            &self.registry,
            Stage::Packer,
            &count_dead_letters(listed.iter().map(|info| info.key.as_str()), Stage::Packer),
        );
        let mut partitions: BTreeMap<PartitionKey, Vec<(ObjectInfo, PiperObject)>> =
            BTreeMap::new();
        let mut inputs_listed = HashSet::new();
        for info in listed {
            let Some(parsed) = parse_piper_object(&info.key) else {
                continue;
            };
            inputs_listed.insert(info.key.clone());
            if !planned_elsewhere.contains(&info.key) {
                let key = (
                    parsed.tenant_id.clone(),
                    parsed.dataset_id.clone(),
                    parsed.hour,
                );
                partitions.entry(key).or_default().push((info, parsed));
            }
        }
        self.attempts
            .retain_listed(&inputs_listed.iter().map(String::as_str).collect())
            .await;
        let mut open = Vec::new();
        for ((tenant, dataset, hour), mut inputs) in partitions {
            let spec = config.dataset(&tenant, &dataset);
            if !self.is_due(spec, &inputs) {
                open.push(self.open_partition(spec, (&tenant, &dataset), &hour, &inputs));
                continue;
            }
            inputs.sort_by(|a, b| a.0.key.cmp(&b.0.key));
            if let Err(error) = self
                .flush_partition(&tenant, &dataset, &hour, inputs, &mut cycle)
                .await
            {
                self.registry
                    .counter(
                        PACKER_ERRORS_TOTAL.name,
                        PACKER_ERRORS_TOTAL.help,
                        &[("tenant", &tenant), ("dataset", &dataset)],
                    )
                    .increment(1);
                tracing::error!(%tenant, %dataset, "packer: partition {hour}: {error:#}");
            }
        }
        *self
            .open_partitions
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = open;
        Ok(cycle)
    }

    fn open_partition(
        &self,
        spec: Option<&DatasetSpec>,
        (tenant, dataset): (&str, &str),
        hour: &HourPartition,
        inputs: &[(ObjectInfo, PiperObject)],
    ) -> OpenPartition {
        let (max_bytes, max_age_secs) = self.thresholds(spec);
        let oldest = inputs.iter().map(|(info, _)| info.last_modified).min();
        let age_secs = oldest.map_or(0, |oldest| {
            (Utc::now() - oldest).num_seconds().max(0) as u64
        });
        OpenPartition {
            tenant_id: tenant.to_owned(),
            dataset_id: dataset.to_owned(),
            partition: hour.path_segment(),
            objects: inputs.len() as u64,
            bytes: inputs.iter().map(|(info, _)| info.size).sum(),
            age_secs,
            flush_in_secs: max_age_secs.saturating_sub(age_secs),
            flush_at_bytes: max_bytes,
        }
    }

    /// This dataset's thresholds: its own overrides, else the packer's configuration.
    fn thresholds(&self, dataset: Option<&DatasetSpec>) -> (u64, u64) {
        let overrides = dataset.map(|d| d.packer).unwrap_or_default();
        (
            overrides
                .max_file_bytes
                .unwrap_or(self.config.max_file_bytes),
            overrides.max_age_secs.unwrap_or(self.config.max_age_secs),
        )
    }

    fn is_due(&self, dataset: Option<&DatasetSpec>, inputs: &[(ObjectInfo, PiperObject)]) -> bool {
        let (max_bytes, max_age_secs) = self.thresholds(dataset);
        let total: u64 = inputs.iter().map(|(info, _)| info.size).sum();
        let oldest = inputs.iter().map(|(info, _)| info.last_modified).min();
        let max_age = chrono::Duration::seconds(max_age_secs as i64);
        dataset.is_some_and(|d| d.testing)
            || total >= max_bytes
            || oldest.is_some_and(|oldest| Utc::now() - oldest >= max_age)
    }

    /// Finishes plans left by a crash. Returns the inputs of plans another live instance holds.
    async fn recover_plans(&self, cycle: &mut PackerCycle) -> anyhow::Result<HashSet<String>> {
        let mut planned_elsewhere = HashSet::new();
        for object in self.buckets.packer.list(&packer_plan_prefix()).await? {
            let Some(parsed) = parse_packer_plan_object(&object.key) else {
                continue;
            };
            let Some(bytes) = self.buckets.packer.get(&object.key).await? else {
                continue;
            };
            let plan: Plan = match serde_json::from_slice(&bytes) {
                Ok(plan) => plan,
                Err(error) => {
                    tracing::error!(
                        "packer: plan {} is unreadable ({error}); its inputs stay until it is repaired",
                        object.key
                    );
                    continue;
                }
            };
            let lease_key = partition_lease(&parsed.tenant_id, &parsed.dataset_id, &parsed.hour);
            let Some(mut lease) = self.leases.try_acquire(&lease_key).await? else {
                planned_elsewhere.extend(plan.inputs.iter().cloned());
                continue;
            };
            let held = self
                .leases
                .hold(&mut lease, execute_plan(self, &plan, &parsed.hour))
                .await;
            let Ok(result) = held else {
                tracing::warn!("packer: lost the lease while recovering {}", object.key);
                continue;
            };
            let written = match result {
                Ok(written) => written,
                Err(PlanError::Inputs(error)) => {
                    let handled = self.plan_failed(&plan, &parsed.hour, &error).await;
                    self.leases.release(lease).await?;
                    cycle.dead_lettered += usize::from(handled?);
                    cycle.plans_failed += 1;
                    continue;
                }
                Err(PlanError::Node(error)) => {
                    self.leases.release(lease).await?;
                    // The plan stays for the next pass; the other plans and partitions go on.
                    tracing::error!(
                        "packer: cannot finish plan {}: {error:#}; retried next pass",
                        object.key
                    );
                    continue;
                }
            };
            self.leases.release(lease).await?;
            cycle.plans_recovered += 1;
            if !written.already_written && written.rows > 0 {
                cycle.files_written += 1;
                cycle.rows_written += written.rows;
                cycle.bytes_written += written.bytes;
            }
            cycle.inputs_packed += written.inputs;
            tracing::info!(
                "packer: recovered plan {} ({} inputs)",
                object.key,
                written.inputs
            );
        }
        Ok(planned_elsewhere)
    }

    async fn flush_partition(
        &self,
        tenant: &str,
        dataset: &str,
        hour: &HourPartition,
        inputs: Vec<(ObjectInfo, PiperObject)>,
        cycle: &mut PackerCycle,
    ) -> anyhow::Result<()> {
        let Some(mut lease) = self
            .leases
            .try_acquire(&partition_lease(tenant, dataset, hour))
            .await?
        else {
            return Ok(());
        };
        let held = self
            .leases
            .hold(
                &mut lease,
                self.flush_leased(tenant, dataset, hour, inputs, cycle),
            )
            .await;
        self.leases.release(lease).await?;
        // Another instance has the partition now and finishes what this one planned.
        held.unwrap_or_else(|lost| {
            tracing::warn!(%tenant, %dataset, "packer: partition {hour}: {lost}");
            Ok(())
        })
    }

    async fn flush_leased(
        &self,
        tenant: &str,
        dataset: &str,
        hour: &HourPartition,
        inputs: Vec<(ObjectInfo, PiperObject)>,
        cycle: &mut PackerCycle,
    ) -> anyhow::Result<()> {
        let config = self.datasets.borrow().clone();
        let (max_bytes, _) = self.thresholds(config.dataset(tenant, dataset));
        // An input that failed before waits out its backoff, then goes alone, so one bad
        // input never again holds back the rest of its partition.
        let mut together = Vec::with_capacity(inputs.len());
        let mut alone = Vec::new();
        for input in inputs {
            if !self.attempts.is_due(&input.0.key) {
                cycle.waiting += 1;
                self.registry
                    .counter(
                        PACKER_INPUTS_SKIPPED_TOTAL.name,
                        PACKER_INPUTS_SKIPPED_TOTAL.help,
                        &[("reason", "backoff")],
                    )
                    .increment(1);
            } else if self.attempts.attempts(&input.0.key).is_some() {
                alone.push(vec![input]);
            } else {
                together.push(input);
            }
        }
        for chunk in chunk_by_size(together, max_bytes).into_iter().chain(alone) {
            self.pack_chunk((tenant, dataset), hour, chunk, cycle)
                .await?;
        }
        Ok(())
    }

    /// An input named like one already packed is a second copy of the same rows: deleted.
    async fn drop_redelivered(&self, key: &str, parsed: &PiperObject) -> anyhow::Result<()> {
        self.buckets.piper.delete(key).await?;
        self.registry
            .counter(
                PACKER_INPUTS_REDELIVERED_TOTAL.name,
                PACKER_INPUTS_REDELIVERED_TOTAL.help,
                &[
                    ("tenant", &parsed.tenant_id),
                    ("dataset", &parsed.dataset_id),
                ],
            )
            .increment(1);
        tracing::info!(
            tenant = %parsed.tenant_id, dataset = %parsed.dataset_id,
            "packer: {key} was packed before (a resent or retransformed batch); dropped"
        );
        Ok(())
    }

    /// Whether `key` was packed before (its marker), gone since the listing, or here to pack.
    async fn check_input(&self, key: &str) -> anyhow::Result<InputCheck> {
        if was_packed(&self.buckets.packer, key).await? {
            return Ok(InputCheck::Packed);
        }
        Ok(match self.buckets.piper.get(key).await? {
            Some(bytes) => InputCheck::Present(bytes),
            None => InputCheck::Gone,
        })
    }

    /// Plans and writes one Parquet file from `chunk`, dead-lettering unreadable inputs first.
    async fn pack_chunk(
        &self,
        (tenant, dataset): (&str, &str),
        hour: &HourPartition,
        chunk: Vec<(ObjectInfo, PiperObject)>,
        cycle: &mut PackerCycle,
    ) -> anyhow::Result<()> {
        let mut good = Vec::with_capacity(chunk.len());
        // Each input's marker and bytes are fetched INPUT_CHECKS_IN_FLIGHT at a time (a
        // partition's backlog is thousands of small objects: one request after another made a
        // pass outlast the kills of the soak), and handled in order as they arrive.
        let checks = futures::stream::iter(chunk)
            .map(|(info, parsed)| async move {
                let check = self.check_input(&info.key).await;
                (info, parsed, check)
            })
            .buffered(INPUT_CHECKS_IN_FLIGHT);
        tokio::pin!(checks);
        while let Some((info, parsed, check)) = checks.next().await {
            let bytes = match check? {
                InputCheck::Packed => {
                    self.drop_redelivered(&info.key, &parsed).await?;
                    cycle.redelivered += 1;
                    continue;
                }
                // Another instance may have packed it since the listing.
                InputCheck::Gone => continue,
                InputCheck::Present(bytes) => bytes,
            };
            match decode_ipc(&bytes) {
                Ok(_) => good.push((info.key, parsed.batch_id)),
                Err(error) => {
                    let message = format!("not a readable Arrow stream: {error}");
                    self.dead_letter(
                        &parsed,
                        &info.key,
                        Some(bytes),
                        (DeadLetterReason::Unreadable, &message),
                        1,
                    )
                    .await?;
                    cycle.dead_lettered += 1;
                }
            }
        }
        let Some((_, first_batch)) = good.first() else {
            return Ok(());
        };
        let input_keys: Vec<String> = good.iter().map(|(key, _)| key.clone()).collect();
        let plan = Plan {
            tenant_id: tenant.into(),
            dataset_id: dataset.into(),
            hour: hour.path_segment(),
            file_id: file_id(first_batch, &input_keys),
            inputs: input_keys,
        };
        let plan_key = packer_plan_object(tenant, dataset, hour, &plan.file_id);
        if !self
            .buckets
            .packer
            .put_if_absent(&plan_key, Bytes::from(serde_json::to_vec(&plan)?))
            .await?
        {
            return Ok(());
        }
        bytefreezer_telemetry::crash_point("packer.plan_written");
        let started = std::time::Instant::now();
        let outcome = execute_plan(self, &plan, hour).await;
        let duration_ms = started.elapsed().as_millis() as u64;
        let written = match outcome {
            Ok(written) => written,
            Err(PlanError::Inputs(error)) => {
                cycle.plans_failed += 1;
                if self.plan_failed(&plan, hour, &error).await? {
                    cycle.dead_lettered += 1;
                }
                return Ok(());
            }
            Err(PlanError::Node(error)) => {
                self.registry.activity().record(
                    Role::Packer.as_str(),
                    (tenant, dataset),
                    false,
                    format!("cannot write Parquet {}: {error:#}", plan.file_id),
                    serde_json::json!({ "partition": plan.hour, "inputs": plan.inputs.len(), "duration_ms": duration_ms, "retried": true }),
                );
                return Err(error);
            }
        };
        for input in &plan.inputs {
            self.attempts.forget(input).await;
        }
        if written.rows > 0 {
            self.registry.activity().record(
                Role::Packer.as_str(),
                (tenant, dataset),
                true,
                format!(
                    "wrote Parquet {}.parquet: {} rows, {} bytes from {} inputs",
                    plan.file_id, written.rows, written.bytes, written.inputs
                ),
                serde_json::json!({
                    "file": plan.file_id,
                    "partition": plan.hour,
                    "rows": written.rows,
                    "bytes": written.bytes,
                    "duration_ms": duration_ms,
                    "inputs": written.inputs,
                }),
            );
        }
        cycle.files_written += usize::from(written.rows > 0);
        cycle.rows_written += written.rows;
        cycle.bytes_written += written.bytes;
        cycle.inputs_packed += written.inputs;
        Ok(())
    }
}

fn partition_lease(tenant: &str, dataset: &str, hour: &HourPartition) -> String {
    lease_object(
        Stage::Packer,
        &format!("{tenant}/{dataset}/{}", hour.path_segment()),
    )
}

/// Consecutive inputs grouped so each group stays within `max_bytes`; a bigger input goes alone.
fn chunk_by_size<T>(inputs: Vec<(ObjectInfo, T)>, max_bytes: u64) -> Vec<Vec<(ObjectInfo, T)>> {
    let mut chunks: Vec<Vec<(ObjectInfo, T)>> = Vec::new();
    let mut size = 0u64;
    for input in inputs {
        let fits = chunks
            .last()
            .is_some_and(|chunk| !chunk.is_empty() && size + input.0.size <= max_bytes);
        if !fits {
            chunks.push(Vec::new());
            size = 0;
        }
        size += input.0.size;
        if let Some(chunk) = chunks.last_mut() {
            chunk.push(input);
        }
    }
    chunks
}
