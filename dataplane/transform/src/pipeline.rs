use arrow::record_batch::RecordBatch;

use crate::spec::PipelineSpec;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PipelineError {
    #[error("filter {index} ({kind:?}): {problem}")]
    Filter {
        index: usize,
        kind: String,
        problem: String,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum TransformError {
    #[error("column {column:?}: {problem}")]
    Column { column: String, problem: String },
    #[error(transparent)]
    Arrow(#[from] arrow::error::ArrowError),
}

/// A validated, ready-to-run pipeline.
#[derive(Debug, Clone)]
pub struct Pipeline {
    enabled_filters: usize,
}

impl Pipeline {
    /// Validates a pipeline. No filter type is available yet, so only pipelines whose filters
    /// are all disabled compile; the error names the filter so the user knows which one.
    pub fn compile(spec: &PipelineSpec) -> Result<Pipeline, PipelineError> {
        for (index, filter) in spec.filters.iter().enumerate() {
            if filter.enabled {
                return Err(PipelineError::Filter {
                    index,
                    kind: filter.kind.clone(),
                    problem: "filter type not supported yet".into(),
                });
            }
        }
        Ok(Pipeline { enabled_filters: 0 })
    }

    pub fn is_identity(&self) -> bool {
        self.enabled_filters == 0
    }

    pub fn run(&self, batch: RecordBatch) -> Result<RecordBatch, TransformError> {
        Ok(batch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_and_disabled_pipelines_compile_enabled_filters_are_named() {
        assert!(
            Pipeline::compile(&PipelineSpec::default())
                .unwrap()
                .is_identity()
        );
        let spec: PipelineSpec = serde_json::from_str(
            r#"{"filters":[{"type":"rename_field","config":{"from":"a","to":"b"},"enabled":false},{"type":"drop","config":{"condition":"action == 'deny'"}}]}"#,
        )
        .unwrap();
        let error = Pipeline::compile(&spec).unwrap_err();
        assert_eq!(
            error.to_string(),
            "filter 1 (\"drop\"): filter type not supported yet"
        );
    }
}
