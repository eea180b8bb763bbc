use bytefreezer_layout::{HourPartition, packer_plan_object, parquet_object_in};
use bytefreezer_schema::{conform_batch, decode_ipc, merge_schemas, read_ipc_schema};
use bytefreezer_storage::Bucket;
use object_store::buffered::BufWriter;
use object_store::path::Path as ObjectPath;
use parquet::arrow::AsyncArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::{EnabledStatistics, WriterProperties};

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

/// Carries out a plan: writes its Parquet file unless it is already there, then deletes the
/// inputs and the plan, in that order.
pub async fn execute_plan(
    packer: &Packer,
    plan: &Plan,
    hour: &HourPartition,
) -> anyhow::Result<Written> {
    let destination = packer
        .datasets
        .borrow()
        .dataset(&plan.tenant_id, &plan.dataset_id)
        .map(|d| d.destination.clone())
        .unwrap_or_default();
    let bucket = match &destination.bucket {
        None => packer.buckets.packer.clone(),
        Some(name) => match packer.config.destinations.get(name) {
            Some(root) => Bucket::local(name, root.clone())?,
            // The plan stays, and so do its inputs: configuring the bucket lets it finish.
            None => anyhow::bail!(
                "destination bucket {name:?} of dataset {}/{} is not configured in [packer.destinations]",
                plan.tenant_id,
                plan.dataset_id
            ),
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
    if bucket.exists(&parquet_key).await? {
        written.already_written = true;
    } else {
        let mut schemas = Vec::with_capacity(plan.inputs.len());
        let mut present = Vec::with_capacity(plan.inputs.len());
        for input in &plan.inputs {
            let Some(bytes) = packer.buckets.piper.get(input).await? else {
                tracing::warn!(
                    "packer: input {input} of plan {} is gone; the file is written without it",
                    plan.file_id
                );
                continue;
            };
            schemas.push(read_ipc_schema(&bytes)?);
            present.push(input);
        }
        if !present.is_empty() {
            let merge = merge_schemas(schemas.iter().map(|s| s.as_ref()));
            for widening in &merge.widenings {
                tracing::warn!(
                    tenant = %plan.tenant_id, dataset = %plan.dataset_id,
                    "packer: column {:?} has types {:?} in {}; stored as {}",
                    widening.field, widening.seen, hour, widening.widened_to
                );
                packer
                    .registry
                    .counter(
                        "bytefreezer_packer_schema_widenings_total",
                        "Columns widened because inputs disagreed on their type.",
                        &labels,
                    )
                    .increment(1);
            }
            let properties = WriterProperties::builder()
                .set_compression(Compression::ZSTD(ZstdLevel::try_new(3)?))
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
                AsyncArrowWriter::try_new(sink, merge.schema.clone(), Some(properties))?;
            for input in present {
                // Read again rather than hold every input: memory stays at one input plus one row group.
                let Some(bytes) = packer.buckets.piper.get(input).await? else {
                    anyhow::bail!(
                        "input {input} vanished while plan {} was being written",
                        plan.file_id
                    );
                };
                let (_, batches) = decode_ipc(&bytes)?;
                for batch in batches {
                    written.rows += batch.num_rows() as u64;
                    writer.write(&conform_batch(&batch, &merge.schema)?).await?;
                }
            }
            writer.close().await?;
            bucket.make_durable(&parquet_key).await?;
            written.bytes = bucket.size(&parquet_key).await?.unwrap_or(0);
        }
    }
    for input in &plan.inputs {
        packer.buckets.piper.delete(input).await?;
    }
    let plan_key = packer_plan_object(&plan.tenant_id, &plan.dataset_id, hour, &plan.file_id);
    packer.buckets.packer.delete(&plan_key).await?;
    if !written.already_written && written.rows > 0 {
        packer
            .registry
            .counter(
                "bytefreezer_packer_files_total",
                "Parquet files written.",
                &labels,
            )
            .increment(1);
        packer
            .registry
            .counter(
                "bytefreezer_packer_rows_total",
                "Rows written to Parquet.",
                &labels,
            )
            .increment(written.rows);
        packer
            .registry
            .counter(
                "bytefreezer_packer_bytes_total",
                "Bytes of Parquet written.",
                &labels,
            )
            .increment(written.bytes);
        packer
            .registry
            .counter(
                "bytefreezer_packer_inputs_total",
                "Piper objects packed.",
                &labels,
            )
            .increment(written.inputs as u64);
        tracing::debug!(tenant = %plan.tenant_id, dataset = %plan.dataset_id, rows = written.rows, bytes = written.bytes, "packer: wrote {parquet_key}");
    }
    Ok(written)
}
