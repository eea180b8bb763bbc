use std::time::{Duration, Instant};

use arrow::record_batch::RecordBatch;
use bytefreezer_api::{DataPlaneConfig, DatasetSpec, SourceSpec};
use bytefreezer_layout::{INTERNAL_PREFIX, IntakeObject, Stage, lease_object, piper_object};
use bytefreezer_schema::{
    EdgeError, EventHour, decode_ipc, encode_ipc, split_by_event_hour, to_table,
};
use bytefreezer_storage::ObjectInfo;
use bytefreezer_transform::{Pipeline, lift_message_fields, pipeline_version};
use bytes::Bytes;

use crate::piper::Piper;

pub enum ObjectResult {
    Done {
        rows_in: u64,
        rows_out: u64,
    },
    UnknownDataset,
    Failed,
    /// Leased by another instance, or already gone.
    Busy,
}

const WARN_EVERY: Duration = Duration::from_secs(60);

pub async fn process_object(
    piper: &Piper,
    config: &DataPlaneConfig,
    info: ObjectInfo,
    key: IntakeObject,
) -> ObjectResult {
    let labels = [
        ("tenant", key.tenant_id.as_str()),
        ("dataset", key.dataset_id.as_str()),
    ];
    let Some(dataset) = config.dataset(&key.tenant_id, &key.dataset_id) else {
        piper
            .registry
            .counter(
                "bytefreezer_piper_objects_skipped_total",
                "Intake objects left in place.",
                &[("reason", "unknown_dataset")],
            )
            .increment(1);
        warn_unknown(piper, &key);
        return ObjectResult::UnknownDataset;
    };
    let lease = match piper
        .leases
        .try_acquire(&lease_object(Stage::Piper, &info.key))
        .await
    {
        Ok(Some(lease)) => lease,
        Ok(None) => return ObjectResult::Busy,
        Err(error) => {
            tracing::error!("piper: cannot lease {}: {error}", info.key);
            return ObjectResult::Failed;
        }
    };
    let version = pipeline_version(&dataset.pipeline);
    let started = std::time::Instant::now();
    let result = transform_object(piper, dataset, &version, &info, &key).await;
    let duration_ms = started.elapsed().as_millis() as u64;
    let activity_dataset = (key.tenant_id.as_str(), key.dataset_id.as_str());
    if let Err(error) = piper.leases.release(lease).await {
        tracing::warn!("piper: cannot release the lease on {}: {error}", info.key);
    }
    match result {
        Ok(Some((rows_in, rows_out))) => {
            piper
                .registry
                .counter(
                    "bytefreezer_piper_objects_total",
                    "Intake objects transformed.",
                    &labels,
                )
                .increment(1);
            piper
                .registry
                .counter(
                    "bytefreezer_piper_rows_in_total",
                    "Rows read from intake objects.",
                    &labels,
                )
                .increment(rows_in);
            piper
                .registry
                .counter(
                    "bytefreezer_piper_rows_out_total",
                    "Rows written to piper objects.",
                    &labels,
                )
                .increment(rows_out);
            piper.registry.activity().record(
                "piper",
                activity_dataset,
                true,
                format!("transformed {rows_in} rows into {rows_out} with pipeline {version}"),
                serde_json::json!({
                    "object": info.key,
                    "rows_in": rows_in,
                    "rows_out": rows_out,
                    "pipeline_version": version,
                    "duration_ms": duration_ms,
                }),
            );
            ObjectResult::Done { rows_in, rows_out }
        }
        Ok(None) => ObjectResult::Busy,
        Err(failure) => {
            piper
                .registry
                .counter(
                    "bytefreezer_piper_errors_total",
                    "Intake objects that could not be transformed.",
                    &[labels[0], labels[1], ("stage", failure.stage)],
                )
                .increment(1);
            tracing::error!(tenant = %key.tenant_id, dataset = %key.dataset_id, "piper: {}: {}", info.key, failure.message);
            piper.registry.activity().record(
                "piper",
                activity_dataset,
                false,
                failure.message.clone(),
                serde_json::json!({
                    "object": info.key,
                    "failed_step": failure.stage,
                    "pipeline_version": version,
                    "duration_ms": duration_ms,
                    "retried": failure.stage != "decode",
                }),
            );
            ObjectResult::Failed
        }
    }
}

struct Failure {
    stage: &'static str,
    message: String,
}

fn failure(stage: &'static str, message: impl std::fmt::Display) -> Failure {
    Failure {
        stage,
        message: message.to_string(),
    }
}

/// `Ok(None)`: the object vanished (another instance finished it).
async fn transform_object(
    piper: &Piper,
    dataset: &DatasetSpec,
    version: &str,
    info: &ObjectInfo,
    key: &IntakeObject,
) -> Result<Option<(u64, u64)>, Failure> {
    let pipeline = Pipeline::compile_with(&dataset.pipeline, &piper.geoip).map_err(|e| {
        failure(
            "pipeline",
            format!("invalid pipeline {version}, object kept: {e}"),
        )
    })?;
    piper.note_pipeline_version(key, version);
    let Some(bytes) = piper
        .buckets
        .intake
        .get(&info.key)
        .await
        .map_err(|e| failure("read", e))?
    else {
        return Ok(None);
    };
    let batches = match decode_ipc(&bytes) {
        Ok((_, batches)) => batches,
        Err(error) => {
            quarantine(piper, &info.key, bytes).await?;
            return Err(failure(
                "decode",
                format!("not a readable Arrow stream, moved to quarantine: {error}"),
            ));
        }
    };
    // Proxies ship edge batches; the table rows users query are built here, before the
    // pipeline, so every transformation sees the flow table schema.
    let mut tables = Vec::with_capacity(batches.len());
    for batch in batches {
        match to_table(batch) {
            Ok(table) => tables.push(table),
            Err(error @ EdgeError::UnknownFormat { .. }) => {
                return Err(failure(
                    "edge_version",
                    format!("object kept until this piper is upgraded: {error}"),
                ));
            }
            Err(error) => {
                quarantine(piper, &info.key, bytes).await?;
                return Err(failure(
                    "decode",
                    format!("edge batch cannot become table rows, moved to quarantine: {error}"),
                ));
            }
        }
    }
    let batches = tables;
    let lift = match &dataset.source {
        SourceSpec::Syslog(settings) => settings.lift_message_fields,
        SourceSpec::Netflow(_) | SourceSpec::Ipfix(_) | SourceSpec::Sflow(_) => false,
    };
    let fallback_micros = info.last_modified.timestamp_micros();
    let mut by_hour: Vec<(EventHour, Vec<RecordBatch>)> = Vec::new();
    let (mut rows_in, mut rows_out) = (0u64, 0u64);
    for batch in batches {
        rows_in += batch.num_rows() as u64;
        let batch = if lift {
            lift_message_fields(&batch, "message")
                .map_err(|e| failure("lift", e))?
                .batch
        } else {
            batch
        };
        let batch = pipeline.run(batch).map_err(|e| {
            failure(
                "pipeline",
                format!("pipeline {version} failed, object kept for retry: {e}"),
            )
        })?;
        for (hour, part) in
            split_by_event_hour(&batch, fallback_micros).map_err(|e| failure("partition", e))?
        {
            rows_out += part.num_rows() as u64;
            match by_hour.iter_mut().find(|(h, _)| *h == hour) {
                Some((_, parts)) => parts.push(part),
                None => by_hour.push((hour, vec![part])),
            }
        }
    }
    for (hour, parts) in &by_hour {
        // Lifted columns differ between batches of one object; one stream needs one schema.
        let merged =
            bytefreezer_schema::merge_schemas(parts.iter().map(|p| p.schema_ref().as_ref()));
        let conformed = parts
            .iter()
            .map(|p| bytefreezer_schema::conform_batch(p, &merged.schema))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| failure("encode", e))?;
        let encoded = encode_ipc(&conformed).map_err(|e| failure("encode", e))?;
        let output = piper_object(&key.tenant_id, &key.dataset_id, hour, &key.batch_id);
        piper
            .buckets
            .piper
            .put(&output, Bytes::from(encoded))
            .await
            .map_err(|e| failure("write", e))?;
        piper
            .registry
            .counter(
                "bytefreezer_piper_objects_written_total",
                "Piper objects written.",
                &[("tenant", &key.tenant_id), ("dataset", &key.dataset_id)],
            )
            .increment(1);
    }
    piper
        .buckets
        .intake
        .delete(&info.key)
        .await
        .map_err(|e| failure("delete", e))?;
    Ok(Some((rows_in, rows_out)))
}

async fn quarantine(piper: &Piper, key: &str, bytes: Bytes) -> Result<(), Failure> {
    let target = format!("{INTERNAL_PREFIX}/quarantine/piper/{key}");
    piper
        .buckets
        .intake
        .put(&target, bytes)
        .await
        .map_err(|e| failure("quarantine", e))?;
    piper
        .buckets
        .intake
        .delete(key)
        .await
        .map_err(|e| failure("quarantine", e))?;
    piper
        .registry
        .counter(
            "bytefreezer_piper_objects_quarantined_total",
            "Unreadable intake objects moved aside.",
            &[],
        )
        .increment(1);
    Ok(())
}

fn warn_unknown(piper: &Piper, key: &IntakeObject) {
    let dataset = format!("{}/{}", key.tenant_id, key.dataset_id);
    let mut warned = piper.warned.lock().unwrap_or_else(|e| e.into_inner());
    let due = warned
        .get(&dataset)
        .is_none_or(|last| last.elapsed() >= WARN_EVERY);
    if due {
        warned.insert(dataset.clone(), Instant::now());
        tracing::warn!(
            "piper: dataset {dataset} is not configured here (or paused); its intake objects wait until it is"
        );
    }
}
