use std::time::{Duration, Instant};

use arrow::array::{Array, AsArray};
use arrow::record_batch::RecordBatch;
use bytefreezer_api::Role;
use bytefreezer_api::metrics::{
    PIPER_ERRORS_TOTAL, PIPER_OBJECTS_SKIPPED_TOTAL, PIPER_OBJECTS_TOTAL,
    PIPER_OBJECTS_WRITTEN_TOTAL, PIPER_RETRY_RECORDS_EVICTED_TOTAL, PIPER_ROWS_IN_TOTAL,
    PIPER_ROWS_OUT_TOTAL, PIPER_SYSLOG_REPAIRED_TOTAL, PIPER_SYSLOG_ROWS_TOTAL,
    PIPER_UNPARSED_TOTAL,
};
use bytefreezer_api::{DataPlaneConfig, DatasetSpec, NestedJson, SourceSpec};
use bytefreezer_decode_syslog::SyslogCounts;
use bytefreezer_layout::{DeadLetterKind, IntakeObject, Stage, lease_object, piper_object};
use bytefreezer_schema::{
    DEAD_LETTER_REASON, EdgeError, EventHour, decode_ipc, encode_ipc, split_by_event_hour,
    split_reserved_rows,
};
use bytefreezer_storage::ObjectInfo;
use bytefreezer_transform::{Pipeline, TransformError, lift_message_fields, pipeline_version};
use bytes::Bytes;

use crate::dead_letter::{DeadLetter, DeadLetterMoveError};
use crate::ebpf_table::ebpf_typed;
use crate::piper::Piper;
use crate::table_rows::table_rows_with;

pub enum ObjectResult {
    Done {
        rows_in: u64,
        rows_out: u64,
        rows_dead_lettered: u64,
    },
    UnknownDataset,
    Failed,
    /// Moved to the dataset's dead-letter prefix.
    DeadLettered,
    /// Failed before and still waiting out its backoff.
    Waiting,
    /// Leased by another instance, or already gone.
    Busy,
}

const WARN_EVERY: Duration = Duration::from_secs(60);

/// Whose fault a failure is, which decides what happens to the object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Blame {
    /// Storage, or a pipeline this node cannot compile: retried with backoff, never
    /// dead-lettered, since any object would fail the same way.
    Node,
    /// This object's content with this pipeline: retried with backoff, then dead-lettered.
    Object,
    /// Not an Arrow stream at all: dead-lettered at once, no retry can read it.
    Unreadable,
}

struct Failure {
    stage: &'static str,
    blame: Blame,
    message: String,
}

fn failure(stage: &'static str, blame: Blame, message: impl std::fmt::Display) -> Failure {
    Failure {
        stage,
        blame,
        message: message.to_string(),
    }
}

fn skipped(piper: &Piper, reason: &'static str) {
    piper
        .registry
        .counter(
            PIPER_OBJECTS_SKIPPED_TOTAL.name,
            PIPER_OBJECTS_SKIPPED_TOTAL.help,
            &[("reason", reason)],
        )
        .increment(1);
}

pub async fn process_object(
    piper: &Piper,
    config: &DataPlaneConfig,
    info: ObjectInfo,
    key: IntakeObject,
) -> ObjectResult {
    let Some(dataset) = config.dataset(&key.tenant_id, &key.dataset_id) else {
        skipped(piper, "unknown_dataset");
        warn_unknown(piper, &key);
        return ObjectResult::UnknownDataset;
    };
    if !piper.attempts.is_due(&info.key) {
        skipped(piper, "backoff");
        return ObjectResult::Waiting;
    }
    let mut lease = match piper
        .leases
        .try_acquire(&lease_object(Stage::Piper, &info.key))
        .await
    {
        Ok(Some(lease)) => lease,
        Ok(None) => return ObjectResult::Busy,
        Err(error) => {
            tracing::error!("piper: cannot lease {}: {error}", info.key);
            piper
                .attempts
                .record_failure(&info.key, &error.to_string())
                .await;
            return ObjectResult::Failed;
        }
    };
    let version = pipeline_version(&dataset.pipeline);
    let leased_work = async {
        let started = Instant::now();
        let result = transform_object(piper, dataset, &version, &info, &key).await;
        let duration_ms = started.elapsed().as_millis() as u64;
        match result {
            Ok(Some(done)) => {
                piper.attempts.forget(&info.key).await;
                report_done(piper, &info, &key, &version, duration_ms, &done);
                ObjectResult::Done {
                    rows_in: done.rows_in,
                    rows_out: done.rows_out,
                    rows_dead_lettered: done.rows_dead_lettered,
                }
            }
            Ok(None) => ObjectResult::Busy,
            // Handled while the lease is held, so no other instance works on a half-moved object.
            Err(failure) => {
                handle_failure(piper, &info, &key, &version, duration_ms, failure).await
            }
        }
    };
    // Lost: another instance took the object over and does it again under the same names.
    let outcome = piper
        .leases
        .hold(&mut lease, leased_work)
        .await
        .unwrap_or(ObjectResult::Busy);
    if let Err(error) = piper.leases.release(lease).await {
        tracing::warn!("piper: cannot release the lease on {}: {error}", info.key);
    }
    outcome
}

fn report_done(
    piper: &Piper,
    info: &ObjectInfo,
    key: &IntakeObject,
    version: &str,
    duration_ms: u64,
    done: &Transformed,
) {
    let labels = [
        ("tenant", key.tenant_id.as_str()),
        ("dataset", key.dataset_id.as_str()),
    ];
    piper
        .registry
        .counter(PIPER_OBJECTS_TOTAL.name, PIPER_OBJECTS_TOTAL.help, &labels)
        .increment(1);
    piper
        .registry
        .counter(PIPER_ROWS_IN_TOTAL.name, PIPER_ROWS_IN_TOTAL.help, &labels)
        .increment(done.rows_in);
    piper
        .registry
        .counter(
            PIPER_ROWS_OUT_TOTAL.name,
            PIPER_ROWS_OUT_TOTAL.help,
            &labels,
        )
        .increment(done.rows_out);
    piper
        .registry
        .counter(
            PIPER_UNPARSED_TOTAL.name,
            PIPER_UNPARSED_TOTAL.help,
            &labels,
        )
        .increment(done.syslog.unparsed);
    for (format, rows) in done.syslog.formats() {
        let labels = [
            ("tenant", key.tenant_id.as_str()),
            ("dataset", key.dataset_id.as_str()),
            ("format", format.as_str()),
        ];
        piper
            .registry
            .counter(
                PIPER_SYSLOG_ROWS_TOTAL.name,
                PIPER_SYSLOG_ROWS_TOTAL.help,
                &labels,
            )
            .increment(rows);
    }
    piper
        .registry
        .counter(
            PIPER_SYSLOG_REPAIRED_TOTAL.name,
            PIPER_SYSLOG_REPAIRED_TOTAL.help,
            &labels,
        )
        .increment(done.syslog.rows_with_warnings);
    let (rows_in, rows_out) = (done.rows_in, done.rows_out);
    piper.registry.activity().record(
        Role::Piper.as_str(),
        (key.tenant_id.as_str(), key.dataset_id.as_str()),
        true,
        format!("transformed {rows_in} rows into {rows_out} with pipeline {version}"),
        serde_json::json!({
            "object": info.key,
            "rows_in": rows_in,
            "rows_out": rows_out,
            "rows_dead_lettered": done.rows_dead_lettered,
            "unparsed": done.syslog.unparsed,
            "syslog_repaired": done.syslog.rows_with_warnings,
            "pipeline_version": version,
            "duration_ms": duration_ms,
        }),
    );
}

async fn handle_failure(
    piper: &Piper,
    info: &ObjectInfo,
    key: &IntakeObject,
    version: &str,
    duration_ms: u64,
    failure: Failure,
) -> ObjectResult {
    piper
        .registry
        .counter(
            PIPER_ERRORS_TOTAL.name,
            PIPER_ERRORS_TOTAL.help,
            &[
                ("tenant", key.tenant_id.as_str()),
                ("dataset", key.dataset_id.as_str()),
                ("stage", failure.stage),
            ],
        )
        .increment(1);
    let attempt = piper
        .attempts
        .record_failure(&info.key, &failure.message)
        .await;
    if attempt.evicted {
        piper
            .registry
            .counter(
                PIPER_RETRY_RECORDS_EVICTED_TOTAL.name,
                PIPER_RETRY_RECORDS_EVICTED_TOTAL.help,
                &[],
            )
            .increment(1);
    }
    let give_up = match failure.blame {
        Blame::Unreadable => true,
        Blame::Object => attempt.attempts >= piper.config.max_attempts.max(1),
        Blame::Node => false,
    };
    if give_up {
        match dead_letter_object(piper, info, key, version, &failure, attempt.attempts).await {
            Ok(()) => {
                piper.attempts.forget(&info.key).await;
                return ObjectResult::DeadLettered;
            }
            Err(error) => {
                tracing::error!(tenant = %key.tenant_id, dataset = %key.dataset_id, "piper: {}: {}; and it cannot be dead-lettered: {error}", info.key, failure.message);
                return ObjectResult::Failed;
            }
        }
    }
    let retry_in_ms = attempt.retry_in.as_millis() as u64;
    tracing::error!(tenant = %key.tenant_id, dataset = %key.dataset_id, "piper: {}: {} (attempt {}, next in {retry_in_ms} ms)", info.key, failure.message, attempt.attempts);
    piper.registry.activity().record(
        Role::Piper.as_str(),
        (key.tenant_id.as_str(), key.dataset_id.as_str()),
        false,
        failure.message,
        serde_json::json!({
            "object": info.key,
            "failed_step": failure.stage,
            "pipeline_version": version,
            "duration_ms": duration_ms,
            "retried": true,
            "attempts": attempt.attempts,
            "retry_in_ms": retry_in_ms,
        }),
    );
    ObjectResult::Failed
}

async fn dead_letter_object(
    piper: &Piper,
    info: &ObjectInfo,
    key: &IntakeObject,
    version: &str,
    failure: &Failure,
    attempts: u32,
) -> Result<(), DeadLetterMoveError> {
    let Some(bytes) = piper
        .buckets
        .intake
        .get(&info.key)
        .await
        .map_err(DeadLetterMoveError::Read)?
    else {
        return Ok(());
    };
    let letter = DeadLetter {
        key,
        input: &info.key,
        kind: DeadLetterKind::Object,
        reason: failure.stage,
        message: failure.message.clone(),
        attempts,
        rows: None,
        pipeline_version: version,
    };
    let target = letter.write(piper, bytes).await?;
    piper
        .buckets
        .intake
        .delete(&info.key)
        .await
        .map_err(DeadLetterMoveError::Delete)?;
    letter.emit(piper, &target);
    Ok(())
}

struct Transformed {
    rows_in: u64,
    rows_out: u64,
    rows_dead_lettered: u64,
    syslog: SyslogCounts,
}

/// What the CPU-bound part made of one object, ready to write.
struct Shaped {
    rows_in: u64,
    rows_out: u64,
    /// How the syslog rows parsed.
    syslog: SyslogCounts,
    outputs: Vec<(EventHour, Vec<u8>)>,
    /// Encoded rows whose reserved columns could not be read, their count and first reason.
    rejected: Option<(Vec<u8>, u64, String)>,
}

/// `Ok(None)`: the object vanished (another instance finished it).
async fn transform_object(
    piper: &Piper,
    dataset: &DatasetSpec,
    version: &str,
    info: &ObjectInfo,
    key: &IntakeObject,
) -> Result<Option<Transformed>, Failure> {
    let pipeline = Pipeline::compile_with_limits(
        &dataset.pipeline,
        &piper.geoip,
        &piper.config.transform_limits,
    )
    .map_err(|e| {
        failure(
            "pipeline",
            Blame::Node,
            format!("invalid pipeline {version}, object kept: {e}"),
        )
    })?;
    piper.note_pipeline_version(key, version);
    let Some(bytes) = piper
        .buckets
        .intake
        .get(&info.key)
        .await
        .map_err(|e| failure("read", Blame::Node, e))?
    else {
        return Ok(None);
    };
    let (lift_message, nested) = match &dataset.source {
        SourceSpec::Syslog(settings) => (settings.lift_message_fields, NestedJson::default()),
        SourceSpec::Http(settings) => (false, settings.nested),
        SourceSpec::Nats(settings) => (false, settings.nested),
        SourceSpec::Sqs(settings) => (false, settings.nested),
        SourceSpec::Kafka(settings) => (false, settings.nested),
        SourceSpec::Ebpf(settings) => (false, settings.nested),
        SourceSpec::Netflow(_) | SourceSpec::Ipfix(_) | SourceSpec::Sflow(_) => {
            (false, NestedJson::default())
        }
    };
    let shaping = Shaping {
        lift_message,
        nested,
        ebpf: matches!(dataset.source, SourceSpec::Ebpf(_)),
    };
    let fallback_micros = info.last_modified.timestamp_micros();
    let owned_version = version.to_owned();
    // Off the async workers, and a panic in a filter or a decoder fails this object only.
    let shaped = tokio::task::spawn_blocking(move || {
        shape(&pipeline, &owned_version, &bytes, shaping, fallback_micros)
    })
    .await
    .map_err(|join| {
        let problem = match join.try_into_panic() {
            Ok(panic) => panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic".to_owned()),
            Err(join) => join.to_string(),
        };
        failure(
            "panic",
            Blame::Object,
            format!("transforming the object panicked, object kept for retry: {problem}"),
        )
    })??;
    let mut rows_dead_lettered = 0;
    if let Some((encoded, rows, first_reason)) = shaped.rejected {
        let letter = DeadLetter {
            key,
            input: &info.key,
            kind: DeadLetterKind::Rows,
            reason: "reserved_column",
            message: if rows > 1 {
                format!("{first_reason} (and {} more rows)", rows - 1)
            } else {
                first_reason
            },
            attempts: 1,
            rows: Some(rows),
            pipeline_version: version,
        };
        let target = letter
            .write(piper, Bytes::from(encoded))
            .await
            .map_err(|e| failure("dead_letter", Blame::Node, e))?;
        letter.emit(piper, &target);
        rows_dead_lettered = rows;
    }
    for (hour, encoded) in shaped.outputs {
        let output = piper_object(&key.tenant_id, &key.dataset_id, &hour, &key.batch_id);
        piper
            .buckets
            .piper
            .put(&output, Bytes::from(encoded))
            .await
            .map_err(|e| failure("write", Blame::Node, e))?;
        bytefreezer_telemetry::crash_point("piper.output_written");
        piper
            .registry
            .counter(
                PIPER_OBJECTS_WRITTEN_TOTAL.name,
                PIPER_OBJECTS_WRITTEN_TOTAL.help,
                &[("tenant", &key.tenant_id), ("dataset", &key.dataset_id)],
            )
            .increment(1);
    }
    piper
        .buckets
        .intake
        .delete(&info.key)
        .await
        .map_err(|e| failure("delete", Blame::Node, e))?;
    Ok(Some(Transformed {
        rows_in: shaped.rows_in,
        rows_out: shaped.rows_out,
        rows_dead_lettered,
        syslog: shaped.syslog,
    }))
}

/// What a dataset's source asks of the rows before its pipeline.
#[derive(Debug, Clone, Copy)]
struct Shaping {
    /// Lift a JSON object or `key=value` pairs in `message` into columns (syslog).
    lift_message: bool,
    /// Objects nested in JSON events (`events/1`): flattened or JSON text.
    nested: NestedJson,
    /// The agents' records in the typed layout of an `ebpf` dataset (docs/ebpf.md).
    ebpf: bool,
}

/// Decode, lift, transform, split off unreadable rows, split by hour, encode: everything
/// between reading the object and writing its outputs, with no I/O.
fn shape(
    pipeline: &Pipeline,
    version: &str,
    bytes: &[u8],
    shaping: Shaping,
    fallback_micros: i64,
) -> Result<Shaped, Failure> {
    let batches = match decode_ipc(bytes) {
        Ok((_, batches)) => batches,
        Err(error) => {
            return Err(failure(
                "unreadable",
                Blame::Unreadable,
                format!("not a readable Arrow stream: {error}"),
            ));
        }
    };
    let mut by_hour: Vec<(EventHour, Vec<RecordBatch>)> = Vec::new();
    let mut rejected: Vec<RecordBatch> = Vec::new();
    let (mut rows_in, mut rows_out) = (0u64, 0u64);
    let mut syslog = SyslogCounts::default();
    for batch in batches {
        // Proxies ship edge batches; the table rows users query are built here, before the
        // pipeline, so every transformation sees the table schema (syslog is parsed here).
        let batch = match table_rows_with(batch, shaping.nested) {
            Ok(table) => {
                syslog.add(&table.syslog);
                table.batch
            }
            Err(error @ EdgeError::UnknownFormat { .. }) => {
                return Err(failure(
                    "edge_version",
                    Blame::Node,
                    format!("object kept until this piper is upgraded: {error}"),
                ));
            }
            Err(error) => {
                return Err(failure(
                    "unreadable",
                    Blame::Unreadable,
                    format!("edge batch cannot become table rows: {error}"),
                ));
            }
        };
        rows_in += batch.num_rows() as u64;
        let batch = if shaping.ebpf {
            ebpf_typed(&batch).map_err(|e| failure("ebpf", Blame::Object, e))?
        } else {
            batch
        };
        let batch = if shaping.lift_message {
            lift_message_fields(&batch, "message")
                .map_err(|e| failure("lift", Blame::Object, e))?
                .batch
        } else {
            batch
        };
        let batch = pipeline.run(batch).map_err(|e| {
            let stage = match e {
                TransformError::Limit { .. } => "limit",
                _ => "transform",
            };
            failure(
                stage,
                Blame::Object,
                format!("pipeline {version} failed, object kept for retry: {e}"),
            )
        })?;
        let split =
            split_reserved_rows(&batch).map_err(|e| failure("partition", Blame::Object, e))?;
        rejected.extend(split.rejected);
        for (hour, part) in split_by_event_hour(&split.accepted, fallback_micros)
            .map_err(|e| failure("partition", Blame::Object, e))?
        {
            rows_out += part.num_rows() as u64;
            match by_hour.iter_mut().find(|(h, _)| *h == hour) {
                Some((_, parts)) => parts.push(part),
                None => by_hour.push((hour, vec![part])),
            }
        }
    }
    let mut outputs = Vec::with_capacity(by_hour.len());
    for (hour, parts) in &by_hour {
        outputs.push((*hour, encode_merged(parts)?));
    }
    let rejected = if rejected.is_empty() {
        None
    } else {
        let rows = rejected.iter().map(|b| b.num_rows() as u64).sum();
        let first_reason = rejected
            .iter()
            .find_map(|batch| {
                let reasons = batch.column_by_name(DEAD_LETTER_REASON)?;
                let reasons = reasons.as_string_opt::<i32>()?;
                (!reasons.is_empty()).then(|| reasons.value(0).to_owned())
            })
            .unwrap_or_default();
        Some((encode_merged(&rejected)?, rows, first_reason))
    };
    Ok(Shaped {
        rows_in,
        rows_out,
        syslog,
        outputs,
        rejected,
    })
}

/// One stream from batches whose columns differ (lifted fields vary between batches).
fn encode_merged(parts: &[RecordBatch]) -> Result<Vec<u8>, Failure> {
    let merged = bytefreezer_schema::merge_schemas(parts.iter().map(|p| p.schema_ref().as_ref()));
    let conformed = parts
        .iter()
        .map(|p| bytefreezer_schema::conform_batch(p, &merged.schema))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| failure("encode", Blame::Object, e))?;
    encode_ipc(&conformed).map_err(|e| failure("encode", Blame::Object, e))
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
