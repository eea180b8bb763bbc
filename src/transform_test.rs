//! `bytefreezer transform test`: runs a pipeline over sample events, with no effect on running
//! data, and prints the output rows with what each filter did.

use anyhow::{Context, Result};
use arrow::json::ArrayWriter;
use bytefreezer_transform::{Pipeline, PipelineSpec};

use crate::cli::TransformTestArgs;

pub fn run(args: TransformTestArgs) -> Result<()> {
    let pipeline_text = std::fs::read_to_string(&args.pipeline)
        .with_context(|| format!("cannot read pipeline {}", args.pipeline.display()))?;
    let spec: PipelineSpec = serde_json::from_str(&pipeline_text).with_context(|| {
        format!(
            "{} is not a pipeline ({{\"filters\": [...]}})",
            args.pipeline.display()
        )
    })?;
    let pipeline = Pipeline::compile(&spec)
        .with_context(|| format!("invalid pipeline {}", args.pipeline.display()))?;
    let input = std::fs::read(&args.input)
        .with_context(|| format!("cannot read sample {}", args.input.display()))?;
    let now = chrono::Utc::now().timestamp_micros();
    let batch = bytefreezer_schema::json_rows_to_batch(&input, now)
        .map_err(anyhow::Error::msg)
        .with_context(|| format!("sample {} is not NDJSON objects", args.input.display()))?;
    let rows_in = batch.num_rows();
    let (result, filters) = pipeline.run_traced(batch);
    let (output, error) = match result {
        Ok(output) => {
            let mut writer = ArrayWriter::new(Vec::new());
            writer.write(&output)?;
            writer.finish()?;
            let rows: serde_json::Value = serde_json::from_slice(&writer.into_inner())?;
            (rows, None)
        }
        Err(error) => (
            serde_json::Value::Array(Vec::new()),
            Some(error.to_string()),
        ),
    };
    let report = serde_json::json!({
        "rows_in": rows_in,
        "rows_out": output.as_array().map_or(0, Vec::len),
        "filters": filters,
        "error": error,
        "output": output,
    });
    println!("{}", serde_json::to_string_pretty(&report)?);
    if let Some(error) = error {
        anyhow::bail!("the pipeline failed on the sample: {error}");
    }
    Ok(())
}
