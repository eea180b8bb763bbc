use arrow::json::ArrayWriter;
use bytefreezer_api::PipelineSpec;
use serde::Serialize;

use crate::geoip::GeoIp;
use crate::pipeline::{FilterReport, Pipeline, PipelineError};

/// Test Transformation: what a pipeline makes of sample events, with no effect on running data.
#[derive(Debug, Clone, Serialize)]
pub struct TrialReport {
    pub rows_in: usize,
    pub rows_out: usize,
    pub filters: Vec<FilterReport>,
    /// A filter that failed on the sample; `filters` covers the ones that ran before it.
    pub error: Option<String>,
    pub output: Vec<serde_json::Value>,
}

#[derive(Debug, thiserror::Error)]
pub enum TrialError {
    #[error("invalid pipeline: {0}")]
    Pipeline(#[from] PipelineError),
    #[error("the sample is not JSON objects, one per line: {0}")]
    Sample(#[source] bytefreezer_schema::JsonRowsError),
    #[error("cannot render the output as JSON: {0}")]
    Output(String),
}

/// Runs `spec` over `sample` (NDJSON objects) as piper would; `now_micros` stands in for the
/// receive time of the sample events.
pub fn trial_run(
    spec: &PipelineSpec,
    geoip: &GeoIp,
    sample: &[u8],
    now_micros: i64,
) -> Result<TrialReport, TrialError> {
    let pipeline = Pipeline::compile_with(spec, geoip)?;
    let batch =
        bytefreezer_schema::json_rows_to_batch(sample, now_micros).map_err(TrialError::Sample)?;
    let rows_in = batch.num_rows();
    let (result, filters) = pipeline.run_traced(batch);
    let (output, error) = match result {
        Ok(output) => {
            let mut writer = ArrayWriter::new(Vec::new());
            writer
                .write(&output)
                .and_then(|()| writer.finish())
                .map_err(|e| TrialError::Output(e.to_string()))?;
            let bytes = writer.into_inner();
            let rows: Vec<serde_json::Value> = if bytes.is_empty() {
                Vec::new()
            } else {
                serde_json::from_slice(&bytes).map_err(|e| TrialError::Output(e.to_string()))?
            };
            (rows, None)
        }
        Err(error) => (Vec::new(), Some(error.to_string())),
    };
    Ok(TrialReport {
        rows_in,
        rows_out: output.len(),
        filters,
        error,
        output,
    })
}
