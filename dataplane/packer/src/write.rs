use arrow::datatypes::{DataType, Schema};
use bytefreezer_api::metrics::{
    PACKER_BYTES_TOTAL, PACKER_FILES_TOTAL, PACKER_INPUTS_TOTAL, PACKER_ROWS_TOTAL,
    PACKER_SCHEMA_WIDENINGS_TOTAL,
};
use bytefreezer_layout::{HourPartition, packer_plan_object, parquet_object_in};
use bytefreezer_schema::{conform_batch, decode_ipc, merge_schemas, read_ipc_schema};
use object_store::buffered::BufWriter;
use object_store::path::Path as ObjectPath;
use parquet::arrow::AsyncArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::errors::ParquetError;
use parquet::file::properties::{EnabledStatistics, WriterProperties};

use crate::packed::record_packed;
use crate::packer::Packer;
use crate::plan::Plan;

/// What writing one planned file produced.
#[derive(Debug, Default)]
pub struct Written {
    pub rows: u64,
    pub bytes: u64,
    pub inputs: usize,
    /// The file already existed: a crash came after it was written, only cleanup remained.
    pub already_written: bool,
}

const ROW_GROUP_BYTES: usize = 64 * 1024 * 1024;

/// Inputs per `delete_many` call (object_store sends S3 `DeleteObjects` of up to 1000 keys
/// itself); the crash point between calls lets the harness stop a large plan's deletes midway.
const INPUT_DELETES_PER_REQUEST: usize = 1000;

/// Why a plan could not be carried out, which decides what happens to its inputs.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// Storage, or a destination this packer does not have: any input would fail alike, so the
    /// plan stays and is retried, and no input is blamed.
    #[error("{0:#}")]
    Node(anyhow::Error),
    /// The inputs' content (a column Parquet cannot store, a value that cannot be converted):
    /// no Parquet file was written, the plan can be dropped and its inputs tried alone.
    #[error("{0:#}")]
    Inputs(anyhow::Error),
}

fn node(error: impl Into<anyhow::Error>) -> PlanError {
    PlanError::Node(error.into())
}

fn inputs(error: impl Into<anyhow::Error>) -> PlanError {
    PlanError::Inputs(error.into())
}

/// The Parquet writer's failures: those of its sink (the object store) are the node's, those
/// of encoding the inputs' columns are the inputs'.
fn writer_error(error: ParquetError) -> PlanError {
    match error {
        ParquetError::External(_) => node(error),
        other => inputs(other),
    }
}

/// A column type the Parquet writer panics on instead of refusing (unions, ARROW-8817), found
/// before the writer sees it.
fn unsupported_column(schema: &Schema) -> Option<String> {
    fn unsupported(data_type: &DataType) -> bool {
        match data_type {
            DataType::Union(_, _) => true,
            DataType::List(field)
            | DataType::LargeList(field)
            | DataType::ListView(field)
            | DataType::LargeListView(field)
            | DataType::FixedSizeList(field, _)
            | DataType::Map(field, _) => unsupported(field.data_type()),
            DataType::Struct(fields) => fields.iter().any(|f| unsupported(f.data_type())),
            DataType::Dictionary(_, value) => unsupported(value),
            DataType::RunEndEncoded(_, value) => unsupported(value.data_type()),
            _ => false,
        }
    }
    schema
        .fields()
        .iter()
        .find(|field| unsupported(field.data_type()))
        .map(|field| {
            format!(
                "column {:?} has type {}, which Parquet cannot store",
                field.name(),
                field.data_type()
            )
        })
}

/// Carries out a plan: writes its Parquet file unless it is already there, then deletes the
/// inputs and the plan, in that order.
pub async fn execute_plan(
    packer: &Packer,
    plan: &Plan,
    hour: &HourPartition,
) -> Result<Written, PlanError> {
    let destination = packer
        .datasets
        .borrow()
        .dataset(&plan.tenant_id, &plan.dataset_id)
        .map(|d| d.destination.clone())
        .unwrap_or_default();
    let bucket = match &destination.bucket {
        None => packer.buckets.packer.clone(),
        Some(name) => match packer.destination(name) {
            Some(opened) => opened.map_err(|e| node(anyhow::anyhow!(e)))?,
            // The plan stays, and so do its inputs: configuring the bucket lets it finish.
            None => {
                return Err(node(anyhow::anyhow!(
                    "destination bucket {name:?} of dataset {}/{} is not configured in [packer.destinations]",
                    plan.tenant_id,
                    plan.dataset_id
                )));
            }
        },
    };
    let parquet_key = parquet_object_in(
        destination.prefix.as_deref(),
        &plan.tenant_id,
        &plan.dataset_id,
        hour,
        &plan.file_id,
    );
    let labels = [
        ("tenant", plan.tenant_id.as_str()),
        ("dataset", plan.dataset_id.as_str()),
    ];
    let mut written = Written {
        inputs: plan.inputs.len(),
        ..Written::default()
    };
    if bucket.exists(&parquet_key).await.map_err(node)? {
        written.already_written = true;
    } else {
        let mut schemas = Vec::with_capacity(plan.inputs.len());
        let mut present = Vec::with_capacity(plan.inputs.len());
        for input in &plan.inputs {
            let Some(bytes) = packer.buckets.piper.get(input).await.map_err(node)? else {
                tracing::warn!(
                    "packer: input {input} of plan {} is gone; the file is written without it",
                    plan.file_id
                );
                continue;
            };
            schemas.push(
                read_ipc_schema(&bytes)
                    .map_err(|e| inputs(anyhow::anyhow!("{input}: not an Arrow stream: {e}")))?,
            );
            present.push(input);
        }
        if !present.is_empty() {
            let merge = merge_schemas(schemas.iter().map(|s| s.as_ref()));
            if let Some(problem) = unsupported_column(&merge.schema) {
                return Err(inputs(anyhow::anyhow!(problem)));
            }
            for widening in &merge.widenings {
                tracing::warn!(
                    tenant = %plan.tenant_id, dataset = %plan.dataset_id,
                    "packer: column {:?} has types {:?} in {}; stored as {}",
                    widening.field, widening.seen, hour, widening.widened_to
                );
                packer
                    .registry
                    .counter(
                        PACKER_SCHEMA_WIDENINGS_TOTAL.name,
                        PACKER_SCHEMA_WIDENINGS_TOTAL.help,
                        &labels,
                    )
                    .increment(1);
            }
            let properties = WriterProperties::builder()
                .set_compression(Compression::ZSTD(ZstdLevel::try_new(3).map_err(node)?))
                .set_statistics_enabled(EnabledStatistics::Page)
                .set_max_row_group_row_count(Some(packer.config.row_group_rows.max(1)))
                .set_max_row_group_bytes(Some(ROW_GROUP_BYTES))
                .set_created_by(format!("bytefreezer {}", env!("CARGO_PKG_VERSION")))
                .build();
            let sink = BufWriter::new(
                bucket.object_store(),
                ObjectPath::from(parquet_key.as_str()),
            );
            let mut writer =
                AsyncArrowWriter::try_new(sink, merge.schema.clone(), Some(properties))
                    .map_err(writer_error)?;
            for input in present {
                // Read again rather than hold every input: memory stays at one input plus one row group.
                let Some(bytes) = packer.buckets.piper.get(input).await.map_err(node)? else {
                    return Err(node(anyhow::anyhow!(
                        "input {input} vanished while plan {} was being written",
                        plan.file_id
                    )));
                };
                let (_, batches) = decode_ipc(&bytes)
                    .map_err(|e| inputs(anyhow::anyhow!("{input}: not an Arrow stream: {e}")))?;
                for batch in batches {
                    written.rows += batch.num_rows() as u64;
                    let conformed = conform_batch(&batch, &merge.schema)
                        .map_err(|e| inputs(anyhow::anyhow!("{input}: {e}")))?;
                    writer.write(&conformed).await.map_err(writer_error)?;
                }
            }
            // Parts of a large file are uploaded by now, the upload not yet completed.
            bytefreezer_telemetry::crash_point("packer.parquet_partial");
            writer.close().await.map_err(writer_error)?;
            bucket.make_durable(&parquet_key).await.map_err(node)?;
            written.bytes = bucket.size(&parquet_key).await.map_err(node)?.unwrap_or(0);
        }
    }
    bytefreezer_telemetry::crash_point("packer.parquet_written");
    record_packed(&packer.buckets.packer, &plan.inputs)
        .await
        .map_err(node)?;
    // In bulk (S3: one request per 1000); a crash part way leaves the rest to the recovery.
    for (n, chunk) in plan.inputs.chunks(INPUT_DELETES_PER_REQUEST).enumerate() {
        packer
            .buckets
            .piper
            .delete_many(chunk.to_vec())
            .await
            .map_err(node)?;
        if n == 0 {
            bytefreezer_telemetry::crash_point("packer.input_deleted");
        }
    }
    let plan_key = packer_plan_object(&plan.tenant_id, &plan.dataset_id, hour, &plan.file_id);
    packer
        .buckets
        .packer
        .delete(&plan_key)
        .await
        .map_err(node)?;
    if !written.already_written && written.rows > 0 {
        packer
            .registry
            .counter(PACKER_FILES_TOTAL.name, PACKER_FILES_TOTAL.help, &labels)
            .increment(1);
        packer
            .registry
            .counter(PACKER_ROWS_TOTAL.name, PACKER_ROWS_TOTAL.help, &labels)
            .increment(written.rows);
        packer
            .registry
            .counter(PACKER_BYTES_TOTAL.name, PACKER_BYTES_TOTAL.help, &labels)
            .increment(written.bytes);
        packer
            .registry
            .counter(PACKER_INPUTS_TOTAL.name, PACKER_INPUTS_TOTAL.help, &labels)
            .increment(written.inputs as u64);
        tracing::debug!(tenant = %plan.tenant_id, dataset = %plan.dataset_id, rows = written.rows, bytes = written.bytes, "packer: wrote {parquet_key}");
    }
    Ok(written)
}
